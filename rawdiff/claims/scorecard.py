"""Claims scorecard: read the notebooks' CSV tables in ``figures/`` and write ``figures/claims.md``.

One row per claim of the two papers, with the evidence measured at the scale that was run, the files that
show it, and a verdict: ``holds`` / ``does not hold`` / ``not measurable at this scale`` / ``not run``.
The papers' tables are not available to us (DESIGN.md §3), so **no paper numbers are quoted**; every
verdict compares our own runs with each other.

CSV contract (notebooks write these with ``rawdiff.figures.save_table(rows, out_dir, name)``)
-------------------------------------------------------------------------------------------------
Required columns are listed; extra columns are allowed and ignored.  Numbers are plain floats.  An
optional ``scale`` column (``smoke``/``medium``/``paper``) is quoted in the evidence.  A figure that shows
a claim should be saved as ``<csv stem>*.png`` (e.g. ``04_dtdm_steps.png``) so the scorecard can link it.

``04_dtdm_per_image.csv`` — notebook 04 / bench_dtdm (rawdiff.diffraw.evaluate), one row per method and
    test image: ``method, steps, s, nfe, image, aligned_psnr, cc_psnr, spectrum_distance, sharpness_ratio``
    (optional ``aligned_ssim``, ``ciede2000``, ``sec_per_image``, ``n_seeds``, ``main``).  Issue 24's rules
    also read ``highband_ssim`` (the validated detail metric, rawdiff.metrics.detail.highband_ssim against the
    aligned target, border cropped) and ``flat_std`` (rawdiff.metrics.noise.flat_local_std against the aligned
    target) on every row, and the reference rows ``method = ddpm, steps = 1000`` (DDPM-1000 from noise, the
    from-noise net, >= 16 images x 1 seed).  Sampler rows are averaged over their noise seeds per image.
    ``method`` is one of ``dtdm`` (ours), ``ddpm`` (ancestral from pure noise), ``ddim`` (from pure noise),
    ``truncated_no_shift`` (start at s, gamma = 0), ``ispnet``, ``simple_isp`` (``nfe`` 0), and the
    sanity-gate rows ``dtdm_d2`` (DTDM K=1 given c = x = D²(y_test)) and ``d2`` (D²(y_test) itself).
    ``main = 1`` marks the DTDM s the rules judge (default: the smallest s).  ``04_dtdm_comparisons.csv``
    (:func:`rawdiff.claims.diffraw.dtdm_comparisons`) lists every comparison behind the two verdicts.
``03_condition_ablation.csv`` — notebook 03/04, what each DiffRAW condition contributes
    ``condition, psnr, ssim, color_error``.  ``condition`` is ``none`` (no condition), ``raw`` (packed RAW
    only) or ``raw+c`` (RAW + colour-position condition c).  ``color_error`` is lower-is-better.
``03_plug_and_play.csv`` — notebook 03, colour plug-and-play, one row per style:
    ``c_source, color_dist_to_c, color_dist_to_source`` (the output's mean-colour distance to the c used and to
    the scene), ``c_source`` ``own`` / ``swapped`` / ``baseline``; issue 24 adds ``luma_ssim_to_own``,
    ``luma_ssim_to_own_lo``, ``luma_ssim_to_own_hi`` (mean over images of the luma SSIM between the swapped-c
    output and the own-c output, rawdiff.metrics.detail.luma_ssim, and its bootstrap interval) and, per
    swapped style, a ``baseline`` row ("output = c": the swapped c itself scored as the output).
``05_norm_per_image.csv`` — notebook 05, DiD normalisation ablation, one row per normalisation and test image
    ``normalization, image, psnr, ssim`` with ``normalization`` in ``tail`` (DiD) and alternatives.
``05_ilvr_per_image.csv`` — notebook 05, number of first Heun steps with ILVR, one row per k and test image
    ``ilvr_steps, image, psnr, ssim`` (0 = no ILVR, the total step count = ILVR on every step, and the paper's
    6 of 18 scaled to the total; other k are reported beside).
``06_ocr_per_word.csv`` — notebook 06 (``per_word`` rows of :func:`rawdiff.did.textbench.evaluate`), one row per
    method, engine and darkened word: ``method, protocol, level, engine, item, correct`` (``correct`` 0/1
    after DiD's 36-character normalisation; ``item`` identifies the darkened word, the same across methods).
    DiD's rows have ``method == "did"``; ``clean (reference)`` rows are the upper bound, not a competitor.
``*_budget_effects.csv`` — the same paired effects at >= 3 training budgets (rawdiff.claims.budget), read for
    the "with training" column.

Verdict rules (explicit; "NFE" = network evaluations)
-----------------------------------------------------
Every comparison is paired (same images / words) with a seeded bootstrap 95% interval (rawdiff.stats);
"holds" / "does not hold" only when the interval excludes the bound, else ``inconclusive (n=…)``.

* **DTDM (a) and (b)** — rawdiff.claims.diffraw (its docstring states both rules, the D² and leftover-noise
  gates, Holm over the four K and the frontier read-off).
* **RAW condition keeps structure** — SSIM(``raw``) > SSIM(``none``); **colour-position condition keeps colour**
  — color_error(``raw+c``) < color_error(``raw``): the rows' paired verdicts when present, else the means.
* **Colour plug-and-play** — rawdiff.claims.conditions.rule_plug: per swapped style, colour closer to the new c
  than to the scene AND mean luma SSIM to the own-c output non-inferior to 0.85; the "output = c" baseline
  must fail, else not measurable.
* **DiD: tail normalisation matters** — PSNR of ``tail`` minus each other normalisation (all must hold).
* **DiD: ILVR on the first steps** — the paper's k (6 of 18) beats k = 0 and k = all (both must hold);
  other k reported beside.
* **DiD helps OCR** — rawdiff.claims.did: one verdict per (protocol, engine) arm, the claim's = the primary
  arm's (rapidocr, DiD darkening protocol); floor / ceiling levels excluded; futility bound +0.03.

A missing CSV gives ``not run``; a CSV without the base columns gives ``not measurable at this scale``; a
rule whose issue-24 inputs are absent gives ``cannot be computed`` with what is missing in the evidence.
The "with training" column: rawdiff.claims.budget.
"""

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from rawdiff.claims.budget import budget_column
from rawdiff.claims.common import CANNOT, FAILS, HOLDS, NOT_RUN, UNMEASURABLE, MissingInput, read_csv, Unmeasurable
from rawdiff.claims.conditions import rule_colour, rule_plug, rule_raw_structure
from rawdiff.claims.did import rule_ilvr, rule_norm, rule_ocr, did_ocr_comparisons
from rawdiff.claims.diffraw import DTDM_TABLE, rule_dtdm, rule_dtdm_equal_nfe
from rawdiff.utils import atomic_write_text

__all__ = ["CONTRACT", "CLAIMS", "Claim", "ClaimResult", "evaluate_claims", "write_scorecard", "did_ocr_comparisons",
           "HOLDS", "FAILS", "UNMEASURABLE", "NOT_RUN", "CANNOT"]


CONTRACT: dict[str, tuple[str, ...]] = {
    "04_dtdm_per_image.csv": ("method", "steps", "s", "nfe", "image", "aligned_psnr", "cc_psnr",
                              "spectrum_distance", "sharpness_ratio"),
    "03_condition_ablation.csv": ("condition", "psnr", "ssim", "color_error"),
    "03_plug_and_play.csv": ("c_source", "color_dist_to_c", "color_dist_to_source"),
    "05_norm_per_image.csv": ("normalization", "image", "psnr", "ssim"),
    "05_ilvr_per_image.csv": ("ilvr_steps", "image", "psnr", "ssim"),
    "06_ocr_per_word.csv": ("method", "protocol", "level", "engine", "item", "correct"),
}



@dataclass(frozen=True)
class Claim:
    key: str
    paper: str
    text: str
    table: str
    rule: Callable[[list[dict]], tuple]   # -> (verdict or bool, evidence phrase[, comparisons for --check])


@dataclass(frozen=True)
class ClaimResult:
    claim: Claim
    verdict: str
    evidence: str
    files: tuple[str, ...]
    comparisons: tuple[dict, ...] = ()    # the effects the verdict rests on (rawdiff.claims.common.comparison)
    training: str = "—"                   # the budget-curve trend (rawdiff.claims.budget.budget_column)


CLAIMS: tuple[Claim, ...] = (
    Claim("dtdm_steps", "DiffRAW", "DTDM at some K in {1, 2, 5, 10} steps is no worse in cc-PSNR and better in "
          "detail than DDPM-1000 from noise", DTDM_TABLE, rule_dtdm),
    Claim("dtdm_equal_nfe", "DiffRAW", "At equal network evaluations DTDM's perception-distortion frontier is not "
          "below DDIM from noise", DTDM_TABLE, rule_dtdm_equal_nfe),
    Claim("raw_structure", "DiffRAW", "The RAW condition keeps structure (contours, texture)",
          "03_condition_ablation.csv", rule_raw_structure),
    Claim("colour_condition", "DiffRAW", "The colour-position condition c keeps colour",
          "03_condition_ablation.csv", rule_colour),
    Claim("plug_and_play", "DiffRAW", "Colour plug-and-play: swapping c restyles the colour and keeps the structure",
          "03_plug_and_play.csv", rule_plug),
    Claim("tail_norm", "DiD", "Tail normalisation matters for right-skewed dark data",
          "05_norm_per_image.csv", rule_norm),
    Claim("ilvr_first_steps", "DiD", "ILVR on the first few steps (6 of 18) beats no ILVR and ILVR on every step",
          "05_ilvr_per_image.csv", rule_ilvr),
    Claim("did_ocr", "DiD", "DiD reconstructions give higher OCR word accuracy than other low-light methods",
          "06_ocr_per_word.csv", rule_ocr),
)


# ------------------------------------------------------------------------------------------- driver
def _scale_note(rows: list[dict]) -> str:
    scales = sorted({str(r.get("scale", "")).strip() for r in rows} - {""})
    return f" (scale: {', '.join(scales)})" if scales else ""


def evaluate_claims(out_dir: str | os.PathLike) -> list[ClaimResult]:
    """Apply every claim's rule to the CSVs in ``out_dir``."""
    out = Path(out_dir)
    results = []
    for c in CLAIMS:
        path = out / c.table
        stem = path.stem
        files = tuple([c.table] + sorted(p.name for p in out.glob(f"{stem}*.png"))) if path.exists() else ()
        training = budget_column(out, c.key)
        if not path.exists():
            results.append(ClaimResult(c, NOT_RUN, f"{c.table} not found", (), (), training))
            continue
        rows = read_csv(path)
        missing = [col for col in CONTRACT[c.table] if not rows or col not in rows[0]]
        if not rows:
            results.append(ClaimResult(c, UNMEASURABLE, f"{c.table} has no rows", files, (), training))
            continue
        if missing:
            results.append(ClaimResult(c, UNMEASURABLE, f"{c.table} lacks required column(s) {missing}", files, (),
                                       training))
            continue
        try:
            outcome = c.rule(rows)
            ok, evidence = outcome
        except MissingInput as why:
            results.append(ClaimResult(c, CANNOT, f"{why}", files, (), training))
            continue
        except Unmeasurable as why:
            results.append(ClaimResult(c, UNMEASURABLE, f"{why}", files, (), training))
            continue
        verdict = ok if isinstance(ok, str) else (HOLDS if ok else FAILS)   # rules may say "inconclusive (n=…)"
        results.append(ClaimResult(c, verdict, evidence + _scale_note(rows), files,
                                   getattr(outcome, "comparisons", ()), training))
    return results


def _md_cell(s: str) -> str:
    return str(s).replace("|", "\\|").replace("\n", " ")


def write_scorecard(out_dir: str | os.PathLike) -> Path:
    """Write ``out_dir/claims.md`` (deterministic: same CSVs -> same bytes) and return its path."""
    results = evaluate_claims(out_dir)
    lines = [
        "# Claims scorecard",
        "",
        "Generated by `rawdiff.claims.scorecard.write_scorecard` from the CSV tables in this folder.  The papers' tables "
        "are not available to us, so no paper numbers are quoted: each verdict compares our own runs, at "
        "the scale that was run, under the rule documented in `rawdiff/claims/`.",
        "",
        "| paper | claim | evidence (measured) | shown in | with training | verdict |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        shown = ", ".join(f"`{f}`" for f in r.files) or "—"
        lines.append(f"| {r.claim.paper} | {_md_cell(r.claim.text)} | {_md_cell(r.evidence)} | {shown} | "
                     f"{_md_cell(r.training)} | **{r.verdict}** |")
    counts = {v: sum(r.verdict == v for r in results) for v in (HOLDS, FAILS, UNMEASURABLE, CANNOT, NOT_RUN)}
    counts["inconclusive"] = sum(r.verdict.startswith("inconclusive") for r in results)
    lines += ["", "Summary: " + ", ".join(f"{k}: {v}" for k, v in counts.items()), ""]
    return atomic_write_text(Path(out_dir) / "claims.md", "\n".join(lines))
