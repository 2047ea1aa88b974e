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

``04_dtdm_steps.csv`` — notebook 04, quality vs number of sampling steps
    ``method, steps, nfe, psnr, ssim`` (optional ``sec_per_image``, ``lpips``).  ``method`` is one of
    ``dtdm`` (ours), ``ddpm`` (ancestral from pure noise), ``ddim`` (from pure noise),
    ``truncated_no_shift`` (start at s, gamma = 0), ``ispnet``, ``simple_isp`` (``nfe`` 0 for the last two).
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
``06_ocr_per_word.csv`` — notebook 06 (``per_word`` rows of :func:`rawdiff.textbench.evaluate`), one row per
    method, engine and darkened word: ``method, protocol, level, engine, item, correct`` (``correct`` 0/1
    after DiD's 36-character normalisation; ``item`` identifies the darkened word, the same across methods).
    DiD's rows have ``method == "did"``; ``clean (reference)`` rows (OCR on undarkened crops) are the upper
    bound and are not a competing method.  The summary ``06_ocr_accuracy.csv`` (``method, protocol, level,
    engine, word_acc, one_minus_ned, cer, n``) is for reading only.

Verdict rules (explicit; "NFE" = network evaluations)
-----------------------------------------------------
* **DTDM: fewer steps and better quality than from-noise sampling** — holds iff some ``dtdm`` row with
  ``steps <= 10`` has PSNR >= the best PSNR of all ``ddpm``/``ddim`` rows *and* NFE <= 1/10 of that
  best from-noise row's NFE.  Not measurable if either family is absent.
* **RAW condition keeps structure** — holds iff SSIM(``raw``) > SSIM(``none``).
* **Colour-position condition keeps colour** — holds iff color_error(``raw+c``) < color_error(``raw``).
* **Colour plug-and-play** — holds iff, averaged over ``swapped`` rows, color_dist_to_c < color_dist_to_source.
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
from __future__ import annotations

import csv
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from rawdiff.utils import atomic_write_text

__all__ = ["CONTRACT", "CLAIMS", "Claim", "ClaimResult", "evaluate_claims", "write_scorecard", "did_ocr_comparisons",
           "HOLDS", "FAILS", "UNMEASURABLE", "NOT_RUN"]

HOLDS, FAILS, UNMEASURABLE, NOT_RUN = "holds", "does not hold", "not measurable at this scale", "not run"

CONTRACT: dict[str, tuple[str, ...]] = {
    "04_dtdm_steps.csv": ("method", "steps", "nfe", "psnr", "ssim"),
    "03_condition_ablation.csv": ("condition", "psnr", "ssim", "color_error"),
    "03_plug_and_play.csv": ("c_source", "color_dist_to_c", "color_dist_to_source"),
    "05_norm_per_image.csv": ("normalization", "image", "psnr", "ssim"),
    "05_ilvr_per_image.csv": ("ilvr_steps", "image", "psnr", "ssim"),
    "06_ocr_per_word.csv": ("method", "protocol", "level", "engine", "item", "correct"),
}


class _Unmeasurable(Exception):
    """Raised by a rule when the table lacks what the rule needs (message = the reason)."""


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


# ------------------------------------------------------------------------------------------ helpers
def _num(v) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return float("nan")


def _read_csv(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as f:
        return [dict(r) for r in csv.DictReader(f)]


def _rows(rows: list[dict], col: str, *values: str) -> list[dict]:
    vals = {v.lower() for v in values}
    return [r for r in rows if str(r.get(col, "")).strip().lower() in vals]


def _one(rows: list[dict], col: str, value: str) -> dict:
    sel = _rows(rows, col, value)
    if not sel:
        raise _Unmeasurable(f"no row with {col} = {value!r}")
    return sel[0]


def _finite(*xs: float) -> None:
    if not all(math.isfinite(x) for x in xs):
        raise _Unmeasurable("required values are missing or not finite")


def _mean(xs) -> float:
    xs = [x for x in xs if math.isfinite(x)]
    return sum(xs) / len(xs) if xs else float("nan")


# -------------------------------------------------------------------------------------------- rules
def _rule_dtdm(rows):
    noise = [r for r in _rows(rows, "method", "ddpm", "ddim") if math.isfinite(_num(r["psnr"]))]
    dtdm = [r for r in _rows(rows, "method", "dtdm") if _num(r["steps"]) <= 10 and math.isfinite(_num(r["psnr"]))]
    if not noise or not dtdm:
        raise _Unmeasurable("needs dtdm rows with <= 10 steps and ddpm/ddim from-noise rows")
    ref = max(noise, key=lambda r: _num(r["psnr"]))
    best = max(dtdm, key=lambda r: _num(r["psnr"]))
    p_d, p_r, n_d, n_r = _num(best["psnr"]), _num(ref["psnr"]), _num(best["nfe"]), _num(ref["nfe"])
    _finite(p_d, p_r, n_d, n_r)
    ok = p_d >= p_r and n_d * 10 <= n_r
    return ok, (f"DTDM {int(_num(best['steps']))} steps: {p_d:.2f} dB / SSIM {_num(best['ssim']):.3f} at {n_d:g} NFE "
                f"vs best from-noise {ref['method']} {int(_num(ref['steps']))} steps: {p_r:.2f} dB / SSIM "
                f"{_num(ref['ssim']):.3f} at {n_r:g} NFE")


def _rule_raw_structure(rows):
    a, b = _one(rows, "condition", "raw"), _one(rows, "condition", "none")
    s_a, s_b = _num(a["ssim"]), _num(b["ssim"])
    _finite(s_a, s_b)
    return s_a > s_b, (f"SSIM {s_a:.3f} with RAW vs {s_b:.3f} without condition "
                       f"(PSNR {_num(a['psnr']):.2f} vs {_num(b['psnr']):.2f} dB)")


def _rule_colour(rows):
    a, b = _one(rows, "condition", "raw+c"), _one(rows, "condition", "raw")
    e_a, e_b = _num(a["color_error"]), _num(b["color_error"])
    _finite(e_a, e_b)
    return e_a < e_b, f"colour error {e_a:.3f} with RAW+c vs {e_b:.3f} with RAW only (lower is better)"


def _rule_plug(rows):
    sw = _rows(rows, "c_source", "swapped")
    if not sw:
        raise _Unmeasurable("no rows with c_source = 'swapped'")
    to_c, to_src = _mean(_num(r["color_dist_to_c"]) for r in sw), _mean(_num(r["color_dist_to_source"]) for r in sw)
    _finite(to_c, to_src)
    return to_c < to_src, (f"swapped c ({len(sw)} images): output colour distance {to_c:.3f} to the new c "
                           f"vs {to_src:.3f} to the RAW's own scene")


def _paired(rows: list[dict], col: str, a: str, b: str, metric: str, key=("image",)):
    """:func:`rawdiff.stats.paired_bootstrap` of ``metric`` for rows with ``col == a`` vs ``col == b``, paired
    on the ``key`` columns (items present for both only)."""
    from rawdiff.stats import paired_bootstrap

    def by_item(v):
        return {tuple(str(r[k]) for k in key): _num(r[metric]) for r in rows if str(r[col]).strip() == v}
    ra, rb = by_item(a), by_item(b)
    items = sorted(k for k in ra.keys() & rb.keys() if math.isfinite(ra[k]) and math.isfinite(rb[k]))
    if not items:
        raise _Unmeasurable(f"no {metric} values paired between {col} = {a!r} and {b!r}")
    return paired_bootstrap([ra[k] for k in items], [rb[k] for k in items])


def _did_combine(comps) -> str:
    """All hold -> holds; any does not hold -> does not hold; else inconclusive (n = smallest n)."""
    verdicts = [c.verdict for c in comps]
    if verdicts and all(v == HOLDS for v in verdicts):
        return HOLDS
    if any(v == FAILS for v in verdicts):
        return FAILS
    return f"inconclusive (n={min(c.n for c in comps)})"


def _fmt(c, unit: str = "") -> str:
    return f"{c.diff:+.3f}{unit} [{c.lo:+.3f}, {c.hi:+.3f}] (n={c.n})"


def _ilvr_key(r: dict) -> str:
    v = _num(r["ilvr_steps"])
    return str(int(v)) if math.isfinite(v) else ""


def _rule_norm(rows):
    names = sorted({str(r["normalization"]).strip() for r in rows})
    if "tail" not in names:
        raise _Unmeasurable("no row with normalization = 'tail'")
    others = [n for n in names if n != "tail"]
    if not others:
        raise _Unmeasurable("no alternative normalisation to compare with")
    comps = [(o, _paired(rows, "normalization", "tail", o, "psnr")) for o in others]
    ev = "; ".join(f"PSNR tail - {o}: {_fmt(c, ' dB')}" for o, c in comps)
    return _did_combine([c for _, c in comps]), ev


def _rule_ilvr(rows):
    rows = [dict(r, ilvr_steps=_ilvr_key(r)) for r in rows if _ilvr_key(r)]
    ks = sorted({int(r["ilvr_steps"]) for r in rows})
    if not ks or ks[0] != 0 or len(ks) < 3:
        raise _Unmeasurable("needs ilvr_steps = 0, the total step count and at least one value between")
    kmax = ks[-1]
    if 6 in ks[1:-1]:
        k, why = 6, "the paper's k = 6"
    else:
        mean = {k: _mean(_num(r["psnr"]) for r in rows if int(r["ilvr_steps"]) == k) for k in ks[1:-1]}
        k = max(mean, key=mean.get)
        why = f"k = {k} (best intermediate mean; 6 not in the table)"
    c0 = _paired(rows, "ilvr_steps", str(k), "0", "psnr")
    cm = _paired(rows, "ilvr_steps", str(k), str(kmax), "psnr")
    return _did_combine([c0, cm]), (f"{why}: PSNR minus no ILVR {_fmt(c0, ' dB')}; minus ILVR on all {kmax} "
                                    f"steps {_fmt(cm, ' dB')}")


_NOT_COMPETING = ("did", "clean (reference)")


def did_ocr_comparisons(rows: list[dict]) -> list[dict]:
    """Paired word-accuracy differences ``did - method`` per (protocol, engine, method) from per-word rows
    (``method, protocol, level, engine, item, correct``); one dict per comparison with the
    :class:`rawdiff.stats.Comparison` fields.  Also used by notebook 06 for its table."""
    out = []
    did = [r for r in rows if str(r["method"]).strip().lower() == "did"]
    for prot, eng in sorted({(r["protocol"], r["engine"]) for r in did}):
        sel = [r for r in rows if r["protocol"] == prot and r["engine"] == eng]
        methods = sorted({r["method"] for r in sel if str(r["method"]).strip().lower() not in _NOT_COMPETING})
        d_name = next(r["method"] for r in did)
        for m in methods:
            c = _paired(sel, "method", d_name, m, "correct", key=("level", "item"))
            out.append({"protocol": prot, "engine": eng, "method": m, **c.as_row()})
    return out


def _rule_ocr(rows):
    if not _rows(rows, "method", "did"):
        raise _Unmeasurable("no rows with method = 'did'")
    comps = did_ocr_comparisons(rows)
    if not comps:
        raise _Unmeasurable("no competing method in the table")
    from rawdiff.stats import Comparison

    objs = [Comparison(**{k: c[k] for k in ("n", "mean_a", "mean_b", "diff", "lo", "hi", "verdict")}) for c in comps]
    ev = "; ".join(f"{c['protocol']}/{c['engine']}: DiD {c['mean_a']:.3f} - {c['method']} {c['mean_b']:.3f} = "
                   f"{c['diff']:+.3f} [{c['lo']:+.3f}, {c['hi']:+.3f}] (n={c['n']})" for c in comps)
    return _did_combine(objs), ev


CLAIMS: tuple[Claim, ...] = (
    Claim("dtdm_steps", "DiffRAW", "DTDM needs fewer steps and gives better quality than sampling from noise",
          "04_dtdm_steps.csv", _rule_dtdm),
    Claim("raw_structure", "DiffRAW", "The RAW condition keeps structure (contours, texture)",
          "03_condition_ablation.csv", _rule_raw_structure),
    Claim("colour_condition", "DiffRAW", "The colour-position condition c keeps colour",
          "03_condition_ablation.csv", _rule_colour),
    Claim("plug_and_play", "DiffRAW", "Colour plug-and-play: swapping c restyles the colour",
          "03_plug_and_play.csv", _rule_plug),
    Claim("tail_norm", "DiD", "Tail normalisation matters for right-skewed dark data",
          "05_norm_per_image.csv", _rule_norm),
    Claim("ilvr_first_steps", "DiD", "ILVR on the first steps (6 of 18) is best",
          "05_ilvr_per_image.csv", _rule_ilvr),
    Claim("did_ocr", "DiD", "DiD reconstructions give higher OCR word accuracy than other low-light methods",
          "06_ocr_per_word.csv", _rule_ocr),
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
        rows = _read_csv(path)
        missing = [col for col in CONTRACT[c.table] if not rows or col not in rows[0]]
        if not rows:
            results.append(ClaimResult(c, UNMEASURABLE, f"{c.table} has no rows", files))
            continue
        if missing:
            results.append(ClaimResult(c, UNMEASURABLE, f"{c.table} lacks required column(s) {missing}", files))
            continue
        try:
            ok, evidence = c.rule(rows)
        except _Unmeasurable as why:
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
        "Generated by `rawdiff.claims.write_scorecard` from the CSV tables in this folder.  The papers' tables "
        "are not available to us, so no paper numbers are quoted: each verdict compares our own runs, at "
        "the scale that was run, under the rule documented in `rawdiff/claims.py`.",
        "",
        "| paper | claim | evidence (measured) | shown in | verdict |",
        "|---|---|---|---|---|",
    ]
    for r in results:
        shown = ", ".join(f"`{f}`" for f in r.files) or "—"
        lines.append(f"| {r.claim.paper} | {_md_cell(r.claim.text)} | {_md_cell(r.evidence)} | {shown} | **{r.verdict}** |")
    counts = {v: sum(r.verdict == v for r in results) for v in (HOLDS, FAILS, UNMEASURABLE, NOT_RUN)}
    lines += ["", "Summary: " + ", ".join(f"{k}: {v}" for k, v in counts.items()), ""]
    return atomic_write_text(Path(out_dir) / "claims.md", "\n".join(lines))
