"""DiffRAW claim rules (notebooks 03 and 04): the condition ablation, colour plug-and-play and the two DTDM rules
(per-image paired bootstrap intervals, rawdiff.stats; the rules are documented in rawdiff.claims)."""
from __future__ import annotations

import math

from rawdiff.claims.common import HOLDS, combine_verdicts, require_finite, geomean_of, mean_of, to_float, one_row, paired_values, select_rows, Unmeasurable


def _paired(row: dict, other: str | None = None):
    """The paired verdict a notebook-03 row carries (``verdict``, ``diff``, ``lo``, ``hi``, ``n``), or None for
    tables without it (then the rules fall back to comparing means)."""
    v = str(row.get("verdict") or "").strip()
    if not v or (other is not None and str(row.get("compared_with", "")).strip().lower() != other):
        return None
    return v, (f"; paired diff {to_float(row.get('diff')):+.3f} [{to_float(row.get('lo')):+.3f}, {to_float(row.get('hi')):+.3f}] "
               f"(n={int(to_float(row.get('n')))})" if math.isfinite(to_float(row.get("n"))) else "")


def rule_raw_structure(rows):
    a, b = one_row(rows, "condition", "raw"), one_row(rows, "condition", "none")
    s_a, s_b = to_float(a["ssim"]), to_float(b["ssim"])
    require_finite(s_a, s_b)
    text = f"SSIM {s_a:.3f} with RAW vs {s_b:.3f} without condition (PSNR {to_float(a['psnr']):.2f} vs {to_float(b['psnr']):.2f} dB)"
    p = _paired(a, "none")
    return (p[0], text + p[1]) if p else (s_a > s_b, text)


def rule_colour(rows):
    a, b = one_row(rows, "condition", "raw+c"), one_row(rows, "condition", "raw")
    e_a, e_b = to_float(a["color_error"]), to_float(b["color_error"])
    require_finite(e_a, e_b)
    text = f"colour error {e_a:.3f} with RAW+c vs {e_b:.3f} with RAW only (lower is better)"
    p = _paired(a, "raw")
    return (p[0], text + p[1]) if p else (e_a < e_b, text)


def rule_plug(rows):
    sw = select_rows(rows, "c_source", "swapped")
    if not sw:
        raise Unmeasurable("no rows with c_source = 'swapped'")
    to_c, to_src = mean_of(to_float(r["color_dist_to_c"]) for r in sw), mean_of(to_float(r["color_dist_to_source"]) for r in sw)
    require_finite(to_c, to_src)
    text = f"swapped c ({len(sw)} rows): output colour distance {to_c:.3f} to the new c vs {to_src:.3f} to the RAW's own scene"
    paired = [_paired(r) for r in sw]
    if all(paired):
        return combine_verdicts([p[0] for p in paired]), text + "; per style: " + ", ".join(
            f"{r.get('style', '?')} {p[0]}{p[1]}" for r, p in zip(sw, paired))
    return to_c < to_src, text


# ---------------------------------------------------------------------------------- DTDM (DiffRAW) rules
#: Per-image table the DTDM rules read (notebook 04 / benchmarks/bench_dtdm.py via rawdiff.diffraw.evaluate).
DTDM_TABLE = "04_dtdm_per_image.csv"
#: Non-inferiority margins of rule (a) ("no worse than the many-step reference"), our choice: 0.25 dB of
#: colour-corrected aligned PSNR and 0.02 decades (~5 % in power) of log-spectrum distance — differences below
#: what we would call a change in quality.
DTDM_MARGINS = {"cc_psnr": 0.25, "spectrum_distance": 0.02}
DTDM_MIN_NFE_RATIO = 20          # rule (a): the DTDM row needs >= 20x fewer NFE than the reference
DTDM_EQUAL_NFE_STEPS = (5, 10)   # rule (b): DTDM vs DDIM-from-noise at these K
#: Sanity gate: the geometric mean over images of the sharpness ratio of every judged DTDM row (no leftover
#: noise).  Geometric, not arithmetic: the per-image ratio explodes on near-flat targets (study run of f9c6161:
#: the noise-free simple ISP had an arithmetic mean of 1.29 but a median of 0.28), so an arithmetic mean
#: flagged "leftover noise" in rows whose typical image is blurrier than the target.
MAX_SHARPNESS = 1.05
_LOWER = {"spectrum_distance", "ciede2000", "sharpness_ratio"}


def _dtdm_groups(rows: list[dict]) -> dict[tuple, dict[str, dict]]:
    """(method, s, steps) -> {image: row}; ``s``/``steps`` as ints (-1 when empty)."""
    def ival(v):
        x = to_float(v)
        return int(x) if math.isfinite(x) else -1
    groups: dict[tuple, dict[str, dict]] = {}
    for r in rows:
        key = (str(r["method"]).strip().lower(), ival(r.get("s")), ival(r.get("steps")))
        groups.setdefault(key, {})[str(r["image"])] = r
    return groups


def _compare(a: dict[str, dict], b: dict[str, dict], metric: str, kind: str, margin: float = 0.0,
             seed: int = 0) -> dict:
    va, vb = ({i: to_float(r[metric]) for i, r in g.items()} for g in (a, b))
    return paired_values(va, vb, metric, higher_is_better=metric not in _LOWER, kind=kind, margin=margin,
                          seed=seed).as_row()


def _label(k: tuple) -> str:
    return k[0] + (f" s={k[1]}" if k[1] >= 0 and k[0] == "dtdm" else "") + (f" K={k[2]}" if k[2] >= 0 else "")


def _main_s(groups) -> int:
    ss = sorted({k[1] for k in groups if k[0] == "dtdm"})
    if not ss:
        raise Unmeasurable("no dtdm rows")
    main = [k[1] for k, g in groups.items()
            if k[0] == "dtdm" and any(str(r.get("main", "")).strip().lower() in ("1", "true") for r in g.values())]
    return main[0] if main else ss[0]


def dtdm_comparisons(rows: list[dict], seed: int = 0) -> list[dict]:
    """Every paired comparison behind the DTDM verdicts, as table rows (``part``, ``a``, ``b``, ``metric``,
    ``kind``, ``margin``, ``n``, ``mean_a``, ``mean_b``, ``diff``, ``lo``, ``hi``, ``verdict``) — the gates
    first (``part`` = ``gate``), then rule (a) and rule (b).  Parts that cannot be formed are left out."""
    groups = _dtdm_groups(rows)
    s = _main_s(groups)
    nfe = {k: to_float(next(iter(g.values()))["nfe"]) for k, g in groups.items()}
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
    """Raise Unmeasurable unless the sanity gates pass; return their evidence phrase."""
    gate = [c for c in comps if c["part"] == "gate"]
    if not gate:
        raise Unmeasurable("sanity gate rows missing (method dtdm_d2 = DTDM K=1 given c = D²(y), and d2 = D²(y))")
    judged = {c["a"] for c in comps if c["part"] in ("a", "b")}
    groups = _dtdm_groups(rows)
    sharp = {}
    for k, g in groups.items():
        if _label(k) in judged:
            sharp[_label(k)] = geomean_of(to_float(r["sharpness_ratio"]) for r in g.values())
    g0 = gate[0]
    text = (f"gates: DTDM K=1 on c=D²(y) vs D²(y) cc-PSNR {g0['diff']:+.2f} dB [{g0['lo']:+.2f}, {g0['hi']:+.2f}] "
            f"({g0['verdict']}); max sharpness ratio (geometric mean over images) {max(sharp.values(), default=float('nan')):.3f}")
    if g0["verdict"] != HOLDS:
        raise Unmeasurable("sanity gate failed: DTDM K=1 given c = D²(y) does not beat D²(y) — " + text)
    bad = {k: v for k, v in sharp.items() if not v <= MAX_SHARPNESS}
    if bad:
        raise Unmeasurable(f"sanity gate failed: leftover noise (geometric-mean sharpness ratio > {MAX_SHARPNESS}) in "
                            + ", ".join(f"{k} {v:.3f}" for k, v in bad.items()) + " — " + text)
    return text


def _fmt(c: dict) -> str:
    return (f"{c['a']} vs {c['b']} {c['metric']}: {c['mean_a']:.3f} vs {c['mean_b']:.3f}, diff {c['diff']:+.3f} "
            f"[{c['lo']:+.3f}, {c['hi']:+.3f}] -> {c['verdict']}")


def rule_dtdm(rows):
    comps = dtdm_comparisons(rows)
    part = [c for c in comps if c["part"] == "a"]
    if not part:
        raise Unmeasurable(f"needs a from-noise reference and a dtdm row with K <= 10 and >= {DTDM_MIN_NFE_RATIO}x "
                            f"fewer NFE")
    gates = _dtdm_gates(rows, comps)
    return combine_verdicts([c["verdict"] for c in part]), (f"n={part[0]['n']} images, NFE {part[0]['nfe_a']:g} vs "
                                                    f"{part[0]['nfe_b']:g}; " + "; ".join(map(_fmt, part)) + "; " + gates)


def rule_dtdm_equal_nfe(rows):
    comps = dtdm_comparisons(rows)
    part = [c for c in comps if c["part"] == "b"]
    if not part:
        raise Unmeasurable(f"needs dtdm and ddim rows at K in {DTDM_EQUAL_NFE_STEPS}")
    gates = _dtdm_gates(rows, comps)
    return combine_verdicts([c["verdict"] for c in part]), f"n={part[0]['n']} images; " + "; ".join(map(_fmt, part)) + "; " + gates



