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

``04_dtdm_per_image.csv`` — notebook 04 / bench_dtdm (rawdiff.pipelines.dtdm_eval), one row per method and
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
``06_ocr_per_word.csv`` — notebook 06 (``per_word`` rows of :func:`rawdiff.textbench.evaluate`), one row per
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
  cc_psnr (holds), and every judged DTDM row has mean sharpness ratio <= :data:`MAX_SHARPNESS` (no leftover
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
    "04_dtdm_per_image.csv": ("method", "steps", "s", "nfe", "image", "aligned_psnr", "cc_psnr",
                              "spectrum_distance", "sharpness_ratio"),
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
def _paired(row: dict, other: str | None = None):
    """The paired verdict a notebook-03 row carries (``verdict``, ``diff``, ``lo``, ``hi``, ``n``), or None for
    tables without it (then the rules fall back to comparing means)."""
    v = str(row.get("verdict") or "").strip()
    if not v or (other is not None and str(row.get("compared_with", "")).strip().lower() != other):
        return None
    return v, (f"; paired diff {_num(row.get('diff')):+.3f} [{_num(row.get('lo')):+.3f}, {_num(row.get('hi')):+.3f}] "
               f"(n={int(_num(row.get('n')))})" if math.isfinite(_num(row.get("n"))) else "")


def _rule_raw_structure(rows):
    a, b = _one(rows, "condition", "raw"), _one(rows, "condition", "none")
    s_a, s_b = _num(a["ssim"]), _num(b["ssim"])
    _finite(s_a, s_b)
    text = f"SSIM {s_a:.3f} with RAW vs {s_b:.3f} without condition (PSNR {_num(a['psnr']):.2f} vs {_num(b['psnr']):.2f} dB)"
    p = _paired(a, "none")
    return (p[0], text + p[1]) if p else (s_a > s_b, text)


def _rule_colour(rows):
    a, b = _one(rows, "condition", "raw+c"), _one(rows, "condition", "raw")
    e_a, e_b = _num(a["color_error"]), _num(b["color_error"])
    _finite(e_a, e_b)
    text = f"colour error {e_a:.3f} with RAW+c vs {e_b:.3f} with RAW only (lower is better)"
    p = _paired(a, "raw")
    return (p[0], text + p[1]) if p else (e_a < e_b, text)


def _rule_plug(rows):
    sw = _rows(rows, "c_source", "swapped")
    if not sw:
        raise _Unmeasurable("no rows with c_source = 'swapped'")
    to_c, to_src = _mean(_num(r["color_dist_to_c"]) for r in sw), _mean(_num(r["color_dist_to_source"]) for r in sw)
    _finite(to_c, to_src)
    text = f"swapped c ({len(sw)} rows): output colour distance {to_c:.3f} to the new c vs {to_src:.3f} to the RAW's own scene"
    paired = [_paired(r) for r in sw]
    if all(paired):
        return _combine([p[0] for p in paired]), text + "; per style: " + ", ".join(
            f"{r.get('style', '?')} {p[0]}{p[1]}" for r, p in zip(sw, paired))
    return to_c < to_src, text


def _paired_items(rows: list[dict], col: str, a: str, b: str, metric: str, key=("image",)):
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


def _fmt_cmp(c, unit: str = "") -> str:
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
    comps = [(o, _paired_items(rows, "normalization", "tail", o, "psnr")) for o in others]
    ev = "; ".join(f"PSNR tail - {o}: {_fmt_cmp(c, ' dB')}" for o, c in comps)
    return _combine([c.verdict for _, c in comps]), ev


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
    c0 = _paired_items(rows, "ilvr_steps", str(k), "0", "psnr")
    cm = _paired_items(rows, "ilvr_steps", str(k), str(kmax), "psnr")
    return _combine([c0.verdict, cm.verdict]), (f"{why}: PSNR minus no ILVR {_fmt_cmp(c0, ' dB')}; minus ILVR on all {kmax} "
                                    f"steps {_fmt_cmp(cm, ' dB')}")


# ---------------------------------------------------------------------------------- DTDM (DiffRAW) rules
#: Per-image table the DTDM rules read (notebook 04 / benchmarks/bench_dtdm.py via rawdiff.pipelines.dtdm_eval).
DTDM_TABLE = "04_dtdm_per_image.csv"
#: Non-inferiority margins of rule (a) ("no worse than the many-step reference"), our choice: 0.25 dB of
#: colour-corrected aligned PSNR and 0.02 decades (~5 % in power) of log-spectrum distance — differences below
#: what we would call a change in quality.
DTDM_MARGINS = {"cc_psnr": 0.25, "spectrum_distance": 0.02}
DTDM_MIN_NFE_RATIO = 20          # rule (a): the DTDM row needs >= 20x fewer NFE than the reference
DTDM_EQUAL_NFE_STEPS = (5, 10)   # rule (b): DTDM vs DDIM-from-noise at these K
MAX_SHARPNESS = 1.05             # sanity gate: mean sharpness ratio of the judged DTDM rows (no leftover noise)
_LOWER = {"spectrum_distance", "ciede2000", "sharpness_ratio"}


def _dtdm_groups(rows: list[dict]) -> dict[tuple, dict[str, dict]]:
    """(method, s, steps) -> {image: row}; ``s``/``steps`` as ints (-1 when empty)."""
    def ival(v):
        x = _num(v)
        return int(x) if math.isfinite(x) else -1
    groups: dict[tuple, dict[str, dict]] = {}
    for r in rows:
        key = (str(r["method"]).strip().lower(), ival(r.get("s")), ival(r.get("steps")))
        groups.setdefault(key, {})[str(r["image"])] = r
    return groups


def _compare(a: dict[str, dict], b: dict[str, dict], metric: str, kind: str, margin: float = 0.0,
             seed: int = 0) -> dict:
    from rawdiff.stats import paired_bootstrap

    imgs = sorted(set(a) & set(b))
    va = [_num(a[i][metric]) for i in imgs]
    vb = [_num(b[i][metric]) for i in imgs]
    if not imgs or not all(math.isfinite(x) for x in va + vb):
        raise _Unmeasurable(f"no paired finite {metric} values")
    return paired_bootstrap(va, vb, higher_is_better=metric not in _LOWER, kind=kind, margin=margin,
                            seed=seed).as_row()


def _combine(verdicts: list[str]) -> str:
    """Several paired comparisons -> one verdict: all hold -> holds; any does not hold -> does not hold; else the
    inconclusive one with the smallest n."""
    if all(v == HOLDS for v in verdicts):
        return HOLDS
    if any(v == FAILS for v in verdicts):
        return FAILS
    rest = [v for v in verdicts if v not in (HOLDS, FAILS)]
    return min(rest, key=lambda v: int(v.rsplit("n=", 1)[1].rstrip(")")) if "n=" in v else math.inf)


def _label(k: tuple) -> str:
    return k[0] + (f" s={k[1]}" if k[1] >= 0 and k[0] == "dtdm" else "") + (f" K={k[2]}" if k[2] >= 0 else "")


def _main_s(groups) -> int:
    ss = sorted({k[1] for k in groups if k[0] == "dtdm"})
    if not ss:
        raise _Unmeasurable("no dtdm rows")
    main = [k[1] for k, g in groups.items()
            if k[0] == "dtdm" and any(str(r.get("main", "")).strip().lower() in ("1", "true") for r in g.values())]
    return main[0] if main else ss[0]


def dtdm_comparisons(rows: list[dict], seed: int = 0) -> list[dict]:
    """Every paired comparison behind the DTDM verdicts, as table rows (``part``, ``a``, ``b``, ``metric``,
    ``kind``, ``margin``, ``n``, ``mean_a``, ``mean_b``, ``diff``, ``lo``, ``hi``, ``verdict``) — the gates
    first (``part`` = ``gate``), then rule (a) and rule (b).  Parts that cannot be formed are left out."""
    groups = _dtdm_groups(rows)
    s = _main_s(groups)
    nfe = {k: _num(next(iter(g.values()))["nfe"]) for k, g in groups.items()}
    out: list[dict] = []

    def add(part, ka, kb, metric, kind, margin=0.0):
        out.append({"part": part, "a": _label(ka), "b": _label(kb), "metric": metric, "kind": kind, "margin": margin,
                    "nfe_a": nfe[ka], "nfe_b": nfe[kb], **_compare(groups[ka], groups[kb], metric, kind, margin, seed)})

    gate_a = [k for k in groups if k[0] == "dtdm_d2"]
    gate_b = [k for k in groups if k[0] == "d2"]
    if gate_a and gate_b:
        add("gate", gate_a[0], gate_b[0], "cc_psnr", "superior")
    noise = [k for k in groups if k[0] in ("ddpm", "ddim") and math.isfinite(nfe[k])]
    dtdm = {k[2]: k for k in groups if k[0] == "dtdm" and k[1] == s}
    if noise:
        ref = max(noise, key=lambda k: (nfe[k], k[0] == "ddpm"))
        ok = [kk for kk, k in dtdm.items() if 0 < kk <= 10 and nfe[k] * DTDM_MIN_NFE_RATIO <= nfe[ref]]
        if ok:
            k = dtdm[max(ok)]
            for metric, margin in DTDM_MARGINS.items():
                add("a", k, ref, metric, "noninferior", margin)
    for kk in DTDM_EQUAL_NFE_STEPS:
        ddim = next((k for k in groups if k[0] == "ddim" and k[2] == kk), None)
        if kk in dtdm and ddim is not None:
            for metric in ("aligned_psnr", "spectrum_distance"):
                add("b", dtdm[kk], ddim, metric, "superior")
    return out


def _dtdm_gates(rows, comps) -> str:
    """Raise _Unmeasurable unless the sanity gates pass; return their evidence phrase."""
    gate = [c for c in comps if c["part"] == "gate"]
    if not gate:
        raise _Unmeasurable("sanity gate rows missing (method dtdm_d2 = DTDM K=1 given c = D²(y), and d2 = D²(y))")
    judged = {c["a"] for c in comps if c["part"] in ("a", "b")}
    groups = _dtdm_groups(rows)
    sharp = {}
    for k, g in groups.items():
        if _label(k) in judged:
            sharp[_label(k)] = _mean(_num(r["sharpness_ratio"]) for r in g.values())
    g0 = gate[0]
    text = (f"gates: DTDM K=1 on c=D²(y) vs D²(y) cc-PSNR {g0['diff']:+.2f} dB [{g0['lo']:+.2f}, {g0['hi']:+.2f}] "
            f"({g0['verdict']}); max sharpness ratio {max(sharp.values(), default=float('nan')):.3f}")
    if g0["verdict"] != HOLDS:
        raise _Unmeasurable("sanity gate failed: DTDM K=1 given c = D²(y) does not beat D²(y) — " + text)
    bad = {k: v for k, v in sharp.items() if not v <= MAX_SHARPNESS}
    if bad:
        raise _Unmeasurable(f"sanity gate failed: leftover noise (sharpness ratio > {MAX_SHARPNESS}) in "
                            + ", ".join(f"{k} {v:.3f}" for k, v in bad.items()) + " — " + text)
    return text


def _fmt(c: dict) -> str:
    return (f"{c['a']} vs {c['b']} {c['metric']}: {c['mean_a']:.3f} vs {c['mean_b']:.3f}, diff {c['diff']:+.3f} "
            f"[{c['lo']:+.3f}, {c['hi']:+.3f}] -> {c['verdict']}")


def _rule_dtdm(rows):
    comps = dtdm_comparisons(rows)
    part = [c for c in comps if c["part"] == "a"]
    if not part:
        raise _Unmeasurable(f"needs a from-noise reference and a dtdm row with K <= 10 and >= {DTDM_MIN_NFE_RATIO}x "
                            f"fewer NFE")
    gates = _dtdm_gates(rows, comps)
    return _combine([c["verdict"] for c in part]), (f"n={part[0]['n']} images, NFE {part[0]['nfe_a']:g} vs "
                                                    f"{part[0]['nfe_b']:g}; " + "; ".join(map(_fmt, part)) + "; " + gates)


def _rule_dtdm_equal_nfe(rows):
    comps = dtdm_comparisons(rows)
    part = [c for c in comps if c["part"] == "b"]
    if not part:
        raise _Unmeasurable(f"needs dtdm and ddim rows at K in {DTDM_EQUAL_NFE_STEPS}")
    gates = _dtdm_gates(rows, comps)
    return _combine([c["verdict"] for c in part]), f"n={part[0]['n']} images; " + "; ".join(map(_fmt, part)) + "; " + gates



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
            c = _paired_items(sel, "method", d_name, m, "correct", key=("level", "item"))
            out.append({"protocol": prot, "engine": eng, "method": m, **c.as_row()})
    return out


def _rule_ocr(rows):
    if not _rows(rows, "method", "did"):
        raise _Unmeasurable("no rows with method = 'did'")
    comps = did_ocr_comparisons(rows)
    if not comps:
        raise _Unmeasurable("no competing method in the table")
    ev = "; ".join(f"{c['protocol']}/{c['engine']}: DiD {c['mean_a']:.3f} - {c['method']} {c['mean_b']:.3f} = "
                   f"{c['diff']:+.3f} [{c['lo']:+.3f}, {c['hi']:+.3f}] (n={c['n']})" for c in comps)
    return _combine([c["verdict"] for c in comps]), ev


CLAIMS: tuple[Claim, ...] = (
    Claim("dtdm_steps", "DiffRAW", "DTDM at <= 10 steps is no worse than many-step sampling from noise, at >= 20x "
          "fewer network evaluations", DTDM_TABLE, _rule_dtdm),
    Claim("dtdm_equal_nfe", "DiffRAW", "At equal network evaluations DTDM beats DDIM from noise",
          DTDM_TABLE, _rule_dtdm_equal_nfe),
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
    counts["inconclusive"] = sum(r.verdict.startswith("inconclusive") for r in results)
    lines += ["", "Summary: " + ", ".join(f"{k}: {v}" for k, v in counts.items()), ""]
    return atomic_write_text(Path(out_dir) / "claims.md", "\n".join(lines))
