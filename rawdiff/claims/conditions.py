"""DiffRAW claim rules of notebook 03: the condition ablation (RAW keeps structure, c keeps colour) and colour
plug-and-play (restyled colour *and* kept structure, issue 24 rule 5), from the paired verdicts the notebook's
rows carry (rawdiff.stats; the rules are documented in rawdiff.claims.scorecard)."""
from __future__ import annotations

import math

from rawdiff.claims.common import (Outcome, FAILS, HOLDS, MissingInput, Unmeasurable, combine_verdicts, comparison,
                                   fmt_interval, mean_of, one_row, require_columns, require_finite, select_rows,
                                   to_float)
from rawdiff.stats import decide

__all__ = ["rule_raw_structure", "rule_colour", "rule_plug", "PNP_MIN_SSIM", "PNP_SSIM_COLUMNS", "PNP_BASELINE"]

#: Plug-and-play structure bound: luma SSIM(swapped-c output, own-c output) non-inferior to this, on average.
PNP_MIN_SSIM = 0.85
#: The columns of 03_plug_and_play.csv the structure arm reads (mean over images and its bootstrap interval).
PNP_SSIM_COLUMNS = ("luma_ssim_to_own", "luma_ssim_to_own_lo", "luma_ssim_to_own_hi")
#: ``c_source`` of the "output = c" baseline rows (the swapped c itself scored as if it were the output).
PNP_BASELINE = "baseline"


def _paired(row: dict, other: str | None = None):
    """The paired verdict a notebook-03 row carries (``verdict``, ``diff``, ``lo``, ``hi``, ``n``) as
    (verdict, evidence suffix, comparison), or None for tables without it (then the rules compare means)."""
    v = str(row.get("verdict") or "").strip()
    if not v or (other is not None and str(row.get("compared_with", "")).strip().lower() != other):
        return None
    d, lo, hi, n = (to_float(row.get(k)) for k in ("diff", "lo", "hi", "n"))
    if not math.isfinite(n):
        return v, "", None
    return v, f"; paired diff {fmt_interval(d, lo, hi)} (n={int(n)})", (d, lo, hi, int(n))


def _with(name: str, p) -> list[dict]:
    return [comparison(name, *p[2][:3], verdict=p[0], n=p[2][3])] if p and p[2] else []


def rule_raw_structure(rows):
    a, b = one_row(rows, "condition", "raw"), one_row(rows, "condition", "none")
    s_a, s_b = to_float(a["ssim"]), to_float(b["ssim"])
    require_finite(s_a, s_b)
    text = f"SSIM {s_a:.3f} with RAW vs {s_b:.3f} without condition (PSNR {to_float(a['psnr']):.2f} vs {to_float(b['psnr']):.2f} dB)"
    p = _paired(a, "none")
    return Outcome(p[0], text + p[1], _with("raw - none", p)) if p else Outcome(s_a > s_b, text)


def rule_colour(rows):
    a, b = one_row(rows, "condition", "raw+c"), one_row(rows, "condition", "raw")
    e_a, e_b = to_float(a["color_error"]), to_float(b["color_error"])
    require_finite(e_a, e_b)
    text = f"colour error {e_a:.3f} with RAW+c vs {e_b:.3f} with RAW only (lower is better)"
    p = _paired(a, "raw")
    return Outcome(p[0], text + p[1], _with("raw+c - raw", p)) if p else Outcome(e_a < e_b, text)


def _plug_row(r: dict) -> tuple[str, str, list[dict]]:
    """One style's (or baseline's) verdict: colour closer to the new c than to the scene (its paired verdict,
    or the means) AND mean luma SSIM to the own-c output non-inferior to :data:`PNP_MIN_SSIM`."""
    style = str(r.get("style") or r.get("c_source"))
    to_c, to_src = to_float(r["color_dist_to_c"]), to_float(r["color_dist_to_source"])
    require_finite(to_c, to_src)
    p = _paired(r)
    colour = p[0] if p else (HOLDS if to_c < to_src else FAILS)
    s, lo, hi = (to_float(r[c]) for c in PNP_SSIM_COLUMNS)
    n = int(to_float(r.get("n"))) if math.isfinite(to_float(r.get("n"))) else 0
    require_finite(s, lo, hi)
    structure = decide(lo - PNP_MIN_SSIM, hi - PNP_MIN_SSIM, n, kind="superior")
    text = (f"{style}: colour {to_c:.2f} to c vs {to_src:.2f} to the scene ({colour}{p[1] if p else ''}), luma SSIM "
            f"to the own-c output {s:.3f} [{lo:.3f}, {hi:.3f}] vs {PNP_MIN_SSIM} ({structure}) -> "
            f"{combine_verdicts([colour, structure])}")
    comps = _with(f"{style} colour", p) + [comparison(f"{style} luma SSIM - {PNP_MIN_SSIM}", s - PNP_MIN_SSIM,
                                                      lo - PNP_MIN_SSIM, hi - PNP_MIN_SSIM, structure, n)]
    return combine_verdicts([colour, structure]), text, comps


def rule_plug(rows):
    """Issue 24 rule 5: every ``swapped`` style's colour is closer to the new c than to the scene and its luma
    SSIM to the own-c output is non-inferior to :data:`PNP_MIN_SSIM` (interval above it); the styles combine
    as all hold -> holds, any does not -> does not hold.  The ``baseline`` rows ("output = c") must *not* hold,
    else the rule cannot tell restyling from copying c and the claim is not measurable."""
    sw = select_rows(rows, "c_source", "swapped")
    if not sw:
        raise Unmeasurable("no rows with c_source = 'swapped'")
    mean_to_c = mean_of(to_float(r["color_dist_to_c"]) for r in sw)
    mean_to_src = mean_of(to_float(r["color_dist_to_source"]) for r in sw)
    head = f"swapped c ({len(sw)} styles): colour distance {mean_to_c:.3f} to the new c vs {mean_to_src:.3f} to the scene"
    try:
        require_columns(rows, "03_plug_and_play.csv", *PNP_SSIM_COLUMNS)
    except MissingInput as why:
        raise MissingInput(f"{why} (the structure arm); {head}") from None
    base = select_rows(rows, "c_source", PNP_BASELINE)
    if not base:
        raise MissingInput(f"{head}; missing the 'output = c' baseline rows (c_source = {PNP_BASELINE!r}) in "
                           "03_plug_and_play.csv")
    styles = [_plug_row(r) for r in sw]
    baselines = [_plug_row(r) for r in base]
    comps = [c for _, _, cs in styles + baselines for c in cs]
    text = head + "; " + "; ".join(t for _, t, _ in styles) + "; baseline output = c: " + "; ".join(
        t for _, t, _ in baselines)
    if any(v != FAILS for v, _, _ in baselines):
        raise Unmeasurable("the 'output = c' baseline is not rejected by the rule, so it cannot tell restyling "
                           "from copying c — " + text)
    return Outcome(combine_verdicts([v for v, _, _ in styles]), text, comps)
