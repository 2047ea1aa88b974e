"""DiffRAW's DTDM claim rules (notebook 04), fixed in issue 24 before new data were seen:

* **sanity gates** — (i) DTDM K=1 given c = D²(y) beats D²(y) on cc-PSNR (``dtdm_d2`` vs ``d2``, as before);
  (ii) per DTDM K, the **leftover-noise gate**: on the pixels where the aligned target is locally flat
  (rawdiff.metrics.noise: lowest-quartile local variance, defined from the target alone) the output's local
  std (column :data:`FLAT_STD`) is at most :data:`NOISE_GATE` x ISPNet's, as a geometric mean over images of
  the paired ratio ``(dtdm + floor) / (ispnet + floor)`` (floor :data:`FLAT_STD_FLOOR`) with its bootstrap
  interval (rawdiff.stats.bootstrap_geomean): *passes* iff the interval's upper end <= 1.5, *fails* (leftover
  noise) iff its lower end > 1.5, else inconclusive.
* **rule (a), fewer steps without loss** — the reference is DDPM-1000 from noise (``ddpm`` rows with
  ``steps = 1000``, >= :data:`MIN_REF_IMAGES` images x 1 seed); for every K in :data:`DTDM_KS` (all four must
  be in the table; the K is never chosen from the data): arm 1 non-inferiority on ``cc_psnr`` (margin
  :data:`CC_MARGIN` dB), arm 2 superiority on the validated detail metric :data:`DETAIL`
  (rawdiff.metrics.detail.highband_ssim), paired over the images the reference has.  K's p-value is the larger
  of its arms' one-sided bootstrap p-values (an intersection-union test), and Holm's correction over the four K
  (rawdiff.stats.holm, family-wise one-sided 0.025) says which K show both arms.  **Holds** iff some K is
  rejected by Holm and passes the noise gate; **does not hold** iff for every K one arm is decided against
  DTDM (its unadjusted 95% interval below -margin, resp. below 0) or its noise gate fails; else inconclusive.
  DTDM vs the DDIM-from-noise row with the most NFE (DDIM-100) on all images is reported beside, not judged.
* **rule (b), perception–distortion frontier at equal NFE** — for every DDIM-from-noise K' in :data:`DTDM_KS`:
  DTDM's frontier over its K <= K' read at DDIM-K''s detail (rawdiff.claims.frontier, per bootstrap resample,
  paired over images), minus DDIM-K''s cc-PSNR.  **Holds** iff at every K' the interval lies above
  -:data:`CC_MARGIN` and at some K' above 0 (and every DTDM K used passes the noise gate); **does not hold**
  iff at some K' it lies below -:data:`CC_MARGIN`; else inconclusive.

Missing inputs (columns, the DDPM-1000 rows, a K) make the rule "cannot be computed" (rawdiff.claims.common.CANNOT).
"""
from __future__ import annotations

import math

import numpy as np

from rawdiff.claims.common import (Outcome, FAILS, HOLDS, MissingInput, Unmeasurable, comparison, fmt_interval,
                                   paired_values, to_float)
from rawdiff.claims.frontier import frontier_effect
from rawdiff.stats import bootstrap_geomean, bootstrap_pvalue, holm

__all__ = ["DTDM_TABLE", "DETAIL", "FLAT_STD", "DTDM_KS", "CC_MARGIN", "REFERENCE", "MIN_REF_IMAGES", "NOISE_GATE",
           "FLAT_STD_FLOOR", "NOISE_CONTROL", "dtdm_comparisons", "rule_dtdm", "rule_dtdm_equal_nfe"]

#: Per-image table the DTDM rules read (notebook 04 / benchmarks/bench_dtdm.py via rawdiff.diffraw.evaluate).
DTDM_TABLE = "04_dtdm_per_image.csv"
DETAIL = "highband_ssim"          # validated detail metric (higher is better; tests/test_detail_metric.py)
FLAT_STD = "flat_std"             # output local std on the target's flat pixels (rawdiff.metrics.noise)
DTDM_KS = (1, 2, 5, 10)
CC_MARGIN = 0.25
REFERENCE = ("ddpm", 1000)        # (method, steps) of rule (a)'s reference
MIN_REF_IMAGES = 16
NOISE_GATE = 1.5
FLAT_STD_FLOOR = 0.002            # half an 8-bit level: keeps the ratio finite where ISPNet's output is flat
NOISE_CONTROL = "ispnet_noise_control"


def _ival(v) -> int:
    x = to_float(v)
    return int(x) if math.isfinite(x) else -1


def _groups(rows: list[dict]) -> dict[tuple, dict[str, dict]]:
    """(method, s, steps) -> {image: row}."""
    groups: dict[tuple, dict[str, dict]] = {}
    for r in rows:
        groups.setdefault((str(r["method"]).strip().lower(), _ival(r.get("s")), _ival(r.get("steps"))),
                          {})[str(r["image"])] = r
    return groups


def _label(k: tuple) -> str:
    return k[0] + (f" s={k[1]}" if k[1] >= 0 and k[0] == "dtdm" else "") + (f" K={k[2]}" if k[2] >= 0 else "")


def _main_s(groups) -> int:
    ss = sorted({k[1] for k in groups if k[0] == "dtdm"})
    if not ss:
        raise MissingInput("no dtdm rows")
    main = [k[1] for k, g in groups.items()
            if k[0] == "dtdm" and any(str(r.get("main", "")).strip().lower() in ("1", "true") for r in g.values())]
    return main[0] if main else ss[0]


def _col(g: dict[str, dict], col: str) -> dict[str, float]:
    return {i: to_float(r.get(col)) for i, r in g.items()}


def _cmp_row(part, ka, kb, metric, kind, groups, margin=0.0, seed=0, **extra) -> dict:
    higher = metric != "spectrum_distance"
    c = paired_values(_col(groups[ka], metric), _col(groups[kb], metric), metric, higher_is_better=higher,
                      kind=kind, margin=margin, seed=seed).as_row()
    return {"part": part, "a": _label(ka), "b": _label(kb), "metric": metric, "kind": kind, "margin": margin,
            "nfe_a": to_float(next(iter(groups[ka].values()))["nfe"]),
            "nfe_b": to_float(next(iter(groups[kb].values()))["nfe"]), **c, **extra}


class _Setup:
    """What both rules need: groups, the judged DTDM rows per K, missing inputs."""

    def __init__(self, rows: list[dict]):
        self.groups = _groups(rows)
        cols = set(rows[0]) if rows else set()
        self.missing = [f"column {c}" for c in (DETAIL, FLAT_STD) if c not in cols or
                        all(str(r.get(c) or "").strip() == "" for r in rows)]
        s = _main_s(self.groups)
        self.dtdm = {k[2]: k for k in self.groups if k[0] == "dtdm" and k[1] == s}
        self.missing += [f"dtdm rows at K={k}" for k in DTDM_KS if k not in self.dtdm]
        self.ispnet = next((k for k in self.groups if k[0] == "ispnet"), None)
        if self.ispnet is None:
            self.missing.append("ispnet rows (the noise gate's reference)")
        self.controls = [k for k in self.groups if k[0] == NOISE_CONTROL]
        if not self.controls:
            self.missing.append(f"the detail metric's noise-injection control rows (method {NOISE_CONTROL})")

    def need(self, *extra: str) -> None:
        miss = self.missing + list(extra)
        if miss:
            raise MissingInput(f"missing in {DTDM_TABLE}: " + "; ".join(miss))


def _noise_gate(st: _Setup, kk: int, seed: int) -> dict:
    d, i = _col(st.groups[st.dtdm[kk]], FLAT_STD), _col(st.groups[st.ispnet], FLAT_STD)
    items = sorted(k for k in d.keys() & i.keys() if math.isfinite(d[k]) and math.isfinite(i[k]))
    if not items:
        raise MissingInput(f"no paired finite {FLAT_STD} values for dtdm K={kk} and ispnet")
    ratio = [(d[k] + FLAT_STD_FLOOR) / (i[k] + FLAT_STD_FLOOR) for k in items]
    iv = bootstrap_geomean(ratio, seed=seed)
    v = "passes" if iv.hi <= NOISE_GATE else "fails" if iv.lo > NOISE_GATE else f"inconclusive (n={iv.n})"
    return {"part": "gate-noise", "a": _label(st.dtdm[kk]), "b": _label(st.ispnet), "metric": f"{FLAT_STD} ratio",
            "kind": f"geometric mean <= {NOISE_GATE}", "margin": NOISE_GATE, "n": iv.n, "diff": iv.mean,
            "lo": iv.lo, "hi": iv.hi, "verdict": v}


def dtdm_comparisons(rows: list[dict], seed: int = 0) -> list[dict]:
    """Every comparison behind the DTDM verdicts, as table rows (``part``, ``a``, ``b``, ``metric``, ``kind``,
    ``margin``, ``n``, ``diff``, ``lo``, ``hi``, ``verdict``, and per part: ``mean_a``/``mean_b``, ``p_value``,
    ``holm``, ``how``): ``gate`` (D²), ``gate-noise`` (per K), ``a`` (per K and arm vs DDPM-1000), ``a-beside``
    (vs DDIM-100, reported only) and ``b`` (per K').  Parts whose inputs are missing are left out."""
    st = _Setup(rows)
    g = st.groups
    out: list[dict] = []
    d2, dd2 = ([k for k in g if k[0] == m] for m in ("d2", "dtdm_d2"))
    if d2 and dd2:
        out.append(_cmp_row("gate", dd2[0], d2[0], "cc_psnr", "superior", g, seed=seed))
    if st.ispnet is not None and f"column {FLAT_STD}" not in st.missing:
        out += [_noise_gate(st, kk, seed) for kk in DTDM_KS if kk in st.dtdm]
    have_detail = f"column {DETAIL}" not in st.missing
    if have_detail and st.ispnet is not None:
        out += [_cmp_row("gate-detail", k, st.ispnet, DETAIL, "superior", g, seed=seed) for k in st.controls]
    ref = next((k for k in g if (k[0], k[2]) == REFERENCE), None)
    if ref is not None and have_detail:
        arms = []
        for kk in DTDM_KS:
            if kk not in st.dtdm:
                continue
            a = [_cmp_row("a", st.dtdm[kk], ref, "cc_psnr", "noninferior", g, CC_MARGIN, seed),
                 _cmp_row("a", st.dtdm[kk], ref, DETAIL, "superior", g, 0.0, seed)]
            for r, bound in zip(a, (-CC_MARGIN, 0.0)):
                dv = [to_float(g[st.dtdm[kk]][i][r["metric"]]) - to_float(g[ref][i][r["metric"]])
                      for i in sorted(g[st.dtdm[kk]].keys() & g[ref].keys())]
                r["p_value"] = bootstrap_pvalue([x for x in dv if math.isfinite(x)], bound, seed=seed)
            arms.append(a)
        rej = holm([max(a[0]["p_value"], a[1]["p_value"]) for a in arms]) if arms else []
        for a, h in zip(arms, rej):
            for r in a:
                r["holm"] = "both arms shown" if h else "not shown"
            out += a
    noise = [k for k in g if k[0] == "ddim" and math.isfinite(to_float(next(iter(g[k].values()))["nfe"]))]
    if noise and have_detail:
        top = max(noise, key=lambda k: to_float(next(iter(g[k].values()))["nfe"]))
        for kk in DTDM_KS:
            if kk in st.dtdm:
                out += [_cmp_row("a-beside", st.dtdm[kk], top, m, kind, g, mg, seed)
                        for m, kind, mg in (("cc_psnr", "noninferior", CC_MARGIN), (DETAIL, "superior", 0.0))]
    if have_detail:
        out += _frontier_rows(st, seed)
    return out


def _frontier_rows(st: _Setup, seed: int) -> list[dict]:
    g, out = st.groups, []
    for kp in DTDM_KS:
        ddim = next((k for k in g if k[0] == "ddim" and k[2] == kp), None)
        ks = [st.dtdm[k] for k in DTDM_KS if k <= kp and k in st.dtdm]
        if ddim is None or not ks:
            continue
        items = sorted(set(g[ddim]).intersection(*(g[k] for k in ks)))

        def arr(k, col):
            return np.array([to_float(g[k][i][col]) for i in items])
        vals = [arr(k, c) for k in ks + [ddim] for c in (DETAIL, "cc_psnr")]
        if not items or not all(np.isfinite(v).all() for v in vals):
            raise Unmeasurable(f"non-finite {DETAIL} / cc_psnr values for the frontier at K'={kp}")
        fe = frontier_effect({k[2]: arr(k, DETAIL) for k in ks}, {k[2]: arr(k, "cc_psnr") for k in ks},
                             arr(ddim, DETAIL), arr(ddim, "cc_psnr"), seed=seed)
        v = (FAILS if fe.hi < -CC_MARGIN else "better" if fe.lo > 0 else "not worse" if fe.lo > -CC_MARGIN
             else f"inconclusive (n={fe.n})")
        out.append({"part": "b", "a": f"dtdm frontier K<={kp}", "b": _label(ddim), "metric": "cc_psnr at equal detail",
                    "kind": "frontier", "margin": CC_MARGIN, "n": fe.n, "diff": fe.diff, "lo": fe.lo, "hi": fe.hi,
                    "verdict": v, "how": fe.how, "unreachable_share": fe.unreachable_share})
    return out


def _d2_gate(comps) -> str:
    gate = [c for c in comps if c["part"] == "gate"]
    if not gate:
        raise MissingInput("sanity gate rows missing (method dtdm_d2 = DTDM K=1 given c = D²(y), and d2 = D²(y))")
    g0 = gate[0]
    text = f"gate: DTDM K=1 on c=D²(y) vs D²(y) cc-PSNR {fmt_interval(g0['diff'], g0['lo'], g0['hi'], ' dB', 2)} ({g0['verdict']})"
    if g0["verdict"] != HOLDS:
        raise Unmeasurable("sanity gate failed: DTDM K=1 given c = D²(y) does not beat D²(y) — " + text)
    return text


def _control_gate(comps) -> str:
    ctl = [c for c in comps if c["part"] == "gate-detail"]
    text = "; ".join(f"noise-injection control {c['a']} minus ispnet {DETAIL} {fmt_interval(c['diff'], c['lo'], c['hi'])} "
                     f"({'credits noise' if c['verdict'] == HOLDS else 'not credited'})" for c in ctl)
    if any(c["verdict"] == HOLDS for c in ctl):
        raise Unmeasurable(f"the detail metric {DETAIL} credits noise as detail on these data — " + text)
    return text


def _gates(comps) -> dict[str, dict]:
    return {c["a"]: c for c in comps if c["part"] == "gate-noise"}


def _fmt_gate(c: dict) -> str:
    return f"noise {c['diff']:.2f}x ISPNet [{c['lo']:.2f}, {c['hi']:.2f}] {c['verdict']}"


def _check_items(comps: list[dict]) -> list[dict]:
    return [comparison(f"{c['part']} {c['a']} vs {c['b']} {c['metric']}", c["diff"], c["lo"], c["hi"], c["verdict"],
                       c["n"]) for c in comps if c["part"] in ("gate", "gate-noise", "gate-detail", "a", "b")]


def rule_dtdm(rows):
    st = _Setup(rows)
    if not any((k[0], k[2]) == REFERENCE for k in st.groups):
        st.need(f"the reference rows (method {REFERENCE[0]}, steps {REFERENCE[1]})")
    st.need()
    comps = dtdm_comparisons(rows)
    d2 = _d2_gate(comps) + "; " + _control_gate(comps)
    gates = _gates(comps)
    a = [c for c in comps if c["part"] == "a"]
    n_ref = min(c["n"] for c in a)
    if n_ref < MIN_REF_IMAGES:
        raise MissingInput(f"the DDPM-1000 reference covers {n_ref} < {MIN_REF_IMAGES} images")
    per_k, texts = [], []
    for cc, det in zip(a[::2], a[1::2]):
        gate = gates[cc["a"]]["verdict"]
        shown = cc["holm"] == "both arms shown" and gate == "passes"
        against = FAILS in (cc["verdict"], det["verdict"]) or gate == "fails"
        per_k.append(HOLDS if shown else FAILS if against else "open")
        texts.append(f"{cc['a'].split()[-1]}: cc-PSNR {fmt_interval(cc['diff'], cc['lo'], cc['hi'], ' dB')} "
                     f"({cc['verdict']}, p={cc['p_value']:.4f}), {DETAIL} {fmt_interval(det['diff'], det['lo'], det['hi'])} "
                     f"({det['verdict']}, p={det['p_value']:.4f}), Holm: {cc['holm']}, {_fmt_gate(gates[cc['a']])}")
    verdict = HOLDS if HOLDS in per_k else FAILS if all(v == FAILS for v in per_k) else f"inconclusive (n={n_ref})"
    beside = [c for c in comps if c["part"] == "a-beside"]
    side = ("; beside, vs " + beside[0]["b"] + f" on n={beside[0]['n']}: " + ", ".join(
        f"{c['a'].split()[-1]} {c['metric']} {c['diff']:+.3f} [{c['lo']:+.3f}, {c['hi']:+.3f}]" for c in beside)) if beside else ""
    return Outcome(verdict, (f"vs {a[0]['b']} on n={n_ref} images (margin {CC_MARGIN} dB; Holm over K in {DTDM_KS}): "
                     + "; ".join(texts) + side + "; " + d2), _check_items([c for c in comps if c["part"] != "b"]))


def rule_dtdm_equal_nfe(rows):
    st = _Setup(rows)
    ddim = {k[2] for k in st.groups if k[0] == "ddim"}
    st.need(*[f"ddim rows at K={k}" for k in DTDM_KS if k not in ddim])
    comps = dtdm_comparisons(rows)
    d2 = _d2_gate(comps) + "; " + _control_gate(comps)
    gates = _gates(comps)
    b = [c for c in comps if c["part"] == "b"]
    ok_gate = all(c["verdict"] == "passes" for c in gates.values())
    if any(c["verdict"] == FAILS for c in b):
        verdict = FAILS
    elif all(c["verdict"] in ("better", "not worse") for c in b) and any(c["verdict"] == "better" for c in b):
        verdict = HOLDS
    else:
        verdict = f"inconclusive (n={min(c['n'] for c in b)})"
    text = (f"DTDM frontier read at DDIM-K' detail minus DDIM-K' cc-PSNR (margin {CC_MARGIN} dB), n={b[0]['n']}: "
            + "; ".join(f"K'={c['b'].split('=')[-1]}: {fmt_interval(c['diff'], c['lo'], c['hi'], ' dB')} ({c['how']}"
                        + (f", DTDM short of DDIM's detail in {100 * c['unreachable_share']:.0f}% of resamples"
                           if c["unreachable_share"] > 0 else "") + f") {c['verdict']}" for c in b)
            + "; " + ", ".join(f"{k.split()[-1]} {_fmt_gate(c)}" for k, c in gates.items()) + "; " + d2)
    if verdict == HOLDS and not ok_gate:
        raise Unmeasurable("the leftover-noise gate does not pass for every DTDM K — " + text)
    return Outcome(verdict, text, _check_items([c for c in comps if c["part"] in ("gate", "gate-noise", "gate-detail", "b")]))
