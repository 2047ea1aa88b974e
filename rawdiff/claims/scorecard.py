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
    (optional ``aligned_ssim``, ``ciede2000``, ``sec_per_image``, ``n_seeds``, ``main``).  Sampler rows are
    already averaged over >= 3 noise seeds per image.  ``method`` is one of ``dtdm`` (ours), ``ddpm``
    (ancestral from pure noise), ``ddim`` (from pure noise), ``truncated_no_shift`` (start at s, gamma = 0),
    ``ispnet``, ``simple_isp`` (``nfe`` 0), and the sanity-gate rows ``dtdm_d2`` (DTDM K=1 given
    c = x = D²(y_test)) and ``d2`` (D²(y_test) itself).  ``main = 1`` marks the DTDM s the rules judge (default:
    the smallest s).  The summary ``04_dtdm_steps.csv`` (means with intervals) and ``04_dtdm_comparisons.csv``
    (:func:`dtdm_comparisons`) are derived from it.
``03_condition_ablation.csv`` — notebook 03/04, what each DiffRAW condition contributes
    ``condition, psnr, ssim, color_error``.  ``condition`` is ``none`` (no condition), ``raw`` (packed RAW
    only) or ``raw+c`` (RAW + colour-position condition c).  ``color_error`` is lower-is-better (e.g. mean
    CIEDE2000 between low-passed prediction and target).
``03_plug_and_play.csv`` — notebook 03, colour plug-and-play
    ``c_source, color_dist_to_c, color_dist_to_source``: per row, the colour distance of the output to the
    colour of the image that supplied c, and to the scene whose RAW was used.  ``c_source`` is ``own``
    (c from the same scene) or ``swapped`` (c from another scene / restyled).
``05_norm_per_image.csv`` — notebook 05, DiD normalisation ablation, one row per normalisation and test image
    ``normalization, image, psnr, ssim`` with ``normalization`` in ``tail`` (DiD) and alternatives
    (``linear``, ...).  The summary ``05_norm_ablation.csv`` (means) is for reading only.
``05_ilvr_per_image.csv`` — notebook 05, number of first Heun steps with ILVR, one row per k and test image
    ``ilvr_steps, image, psnr, ssim`` (include 0 = no ILVR and the total step count = ILVR on every step).
``06_ocr_per_word.csv`` — notebook 06 (``per_word`` rows of :func:`rawdiff.did.textbench.evaluate`), one row per
    method, engine and darkened word: ``method, protocol, level, engine, item, correct`` (``correct`` 0/1
    after DiD's 36-character normalisation; ``item`` identifies the darkened word, the same across methods).
    DiD's rows have ``method == "did"``; ``clean (reference)`` rows (OCR on undarkened crops) are the upper
    bound and are not a competing method.  The summary ``06_ocr_accuracy.csv`` (``method, protocol, level,
    engine, word_acc, one_minus_ned, cer, n``) is for reading only.

Verdict rules (explicit; "NFE" = network evaluations)
-----------------------------------------------------
* **DTDM (DiffRAW) rules** — paired per-image comparisons with seeded bootstrap 95% intervals
  (rawdiff.stats); "holds" / "does not hold" only when the interval excludes the bound, else
  ``inconclusive (n=…)``.  Both are decided only after the **sanity gates** pass: ``dtdm_d2`` beats ``d2`` on
  cc_psnr (holds), and every judged DTDM row has a geometric-mean (over images) sharpness ratio <= :data:`MAX_SHARPNESS` (no leftover
  noise); otherwise "not measurable" with the gate that failed.

  (a) *DTDM at <= 10 steps is no worse than the many-step reference* — reference = the from-noise row
  (``ddpm``/``ddim``) with the most NFE (DDPM-1000, or DDIM-250; the smoke scale uses a cheaper DDIM and says
  so); DTDM row = the largest K <= 10 with >= :data:`DTDM_MIN_NFE_RATIO` x fewer NFE.  Non-inferiority on
  ``cc_psnr`` and ``spectrum_distance`` with the margins :data:`DTDM_MARGINS`: holds iff both intervals lie
  above -margin, does not hold iff either lies below.
  (b) *At equal NFE DTDM beats DDIM from noise* — for K in :data:`DTDM_EQUAL_NFE_STEPS`, superiority on
  ``aligned_psnr`` and ``spectrum_distance``: holds iff all four hold, does not hold iff any does not.
* **RAW condition keeps structure** — holds iff SSIM(``raw``) > SSIM(``none``).
* **Colour-position condition keeps colour** — holds iff color_error(``raw+c``) < color_error(``raw``).
* **Colour plug-and-play** — holds iff, averaged over ``swapped`` rows, color_dist_to_c < color_dist_to_source.
* For these three, when the rows carry a paired comparison (notebook 03 writes ``compared_with``, ``n``,
  ``diff``, ``lo``, ``hi``, ``verdict``: paired bootstrap over images, rawdiff.stats) that verdict is used
  instead of the comparison of means — holds / does not hold only when the interval excludes 0, else
  ``inconclusive (n=…)``; plug-and-play combines the ``swapped`` styles (all hold -> holds, any does not ->
  does not hold).
* **DiD rules** — paired comparisons (same test images / same darkened words) with seeded bootstrap 95%
  intervals of the mean difference (:func:`rawdiff.stats.paired_bootstrap`); each comparison holds / does not
  hold only when its interval excludes 0, else ``inconclusive (n=…)``; several comparisons combine as: all
  hold -> holds, any does not hold -> does not hold, else inconclusive (n = smallest n).
* **DiD: tail normalisation matters** — PSNR of ``tail`` minus PSNR of each other normalisation, per image.
* **DiD: ILVR on the first steps is best** — PSNR of the paper's k (6 when present in the table, else the
  intermediate k with the best mean, said in the evidence) minus PSNR of k = 0 (no ILVR) and of k = max
  (ILVR on every step), per image; not measurable unless the table has ``0``, the max, and a value between.
* **DiD helps OCR** — per (protocol, engine), word correctness of ``did`` minus that of each other method
  (``clean (reference)`` excluded), paired per darkened word over all levels; not measurable without
  ``did`` rows or competitors.

A missing CSV gives ``not run``; a CSV without the required columns / rows gives
``not measurable at this scale`` with the reason in the evidence column.
"""

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from rawdiff.claims.common import FAILS, HOLDS, NOT_RUN, UNMEASURABLE, read_csv, Unmeasurable
from rawdiff.claims.did import rule_ilvr, rule_norm, rule_ocr, did_ocr_comparisons
from rawdiff.claims.diffraw import (DTDM_TABLE,
                                    rule_colour, rule_dtdm, rule_dtdm_equal_nfe, rule_plug,
                                    rule_raw_structure)
from rawdiff.utils import atomic_write_text

__all__ = ["CONTRACT", "CLAIMS", "Claim", "ClaimResult", "evaluate_claims", "write_scorecard", "did_ocr_comparisons",
           "HOLDS", "FAILS", "UNMEASURABLE", "NOT_RUN"]


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
    rule: Callable[[list[dict]], tuple[bool, str]]   # -> (holds, evidence phrase)


@dataclass(frozen=True)
class ClaimResult:
    claim: Claim
    verdict: str
    evidence: str
    files: tuple[str, ...]


CLAIMS: tuple[Claim, ...] = (
    Claim("dtdm_steps", "DiffRAW", "DTDM at <= 10 steps is no worse than many-step sampling from noise, at >= 20x "
          "fewer network evaluations", DTDM_TABLE, rule_dtdm),
    Claim("dtdm_equal_nfe", "DiffRAW", "At equal network evaluations DTDM beats DDIM from noise",
          DTDM_TABLE, rule_dtdm_equal_nfe),
    Claim("raw_structure", "DiffRAW", "The RAW condition keeps structure (contours, texture)",
          "03_condition_ablation.csv", rule_raw_structure),
    Claim("colour_condition", "DiffRAW", "The colour-position condition c keeps colour",
          "03_condition_ablation.csv", rule_colour),
    Claim("plug_and_play", "DiffRAW", "Colour plug-and-play: swapping c restyles the colour",
          "03_plug_and_play.csv", rule_plug),
    Claim("tail_norm", "DiD", "Tail normalisation matters for right-skewed dark data",
          "05_norm_per_image.csv", rule_norm),
    Claim("ilvr_first_steps", "DiD", "ILVR on the first steps (6 of 18) is best",
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
        if not path.exists():
            results.append(ClaimResult(c, NOT_RUN, f"{c.table} not found", ()))
            continue
        rows = read_csv(path)
        missing = [col for col in CONTRACT[c.table] if not rows or col not in rows[0]]
        if not rows:
            results.append(ClaimResult(c, UNMEASURABLE, f"{c.table} has no rows", files))
            continue
        if missing:
            results.append(ClaimResult(c, UNMEASURABLE, f"{c.table} lacks required column(s) {missing}", files))
            continue
        try:
            ok, evidence = c.rule(rows)
        except Unmeasurable as why:
            results.append(ClaimResult(c, UNMEASURABLE, f"{why}", files))
            continue
        verdict = ok if isinstance(ok, str) else (HOLDS if ok else FAILS)   # rules may say "inconclusive (n=…)"
        results.append(ClaimResult(c, verdict, evidence + _scale_note(rows), files))
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
        "| paper | claim | evidence (measured) | shown in | verdict |",
        "|---|---|---|---|---|",
    ]
    for r in results:
        shown = ", ".join(f"`{f}`" for f in r.files) or "—"
        lines.append(f"| {r.claim.paper} | {_md_cell(r.claim.text)} | {_md_cell(r.evidence)} | {shown} | **{r.verdict}** |")
    counts = {v: sum(r.verdict == v for r in results) for v in (HOLDS, FAILS, UNMEASURABLE, NOT_RUN)}
    counts["inconclusive"] = sum(r.verdict.startswith("inconclusive") for r in results)
    lines += ["", "Summary: " + ", ".join(f"{k}: {v}" for k, v in counts.items()), ""]
    return atomic_write_text(Path(out_dir) / "claims.md", "\n".join(lines))
