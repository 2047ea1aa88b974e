"""DiD claim rules (notebooks 05 and 06): tail normalisation, ILVR on the first steps and OCR word accuracy, each a
set of paired comparisons per image / per word (rawdiff.stats; the rules are documented in
rawdiff.claims.scorecard, the ILVR and OCR ones fixed in issue 24).

* ILVR (rule 6) reads as the paper does: ILVR on the first few steps — the paper's 6 of 18, i.e. k* =
  round(6 x total / 18) — beats no ILVR and beats ILVR on every step; every other intermediate k (e.g. 3) is
  reported beside as ``k - k*``, not judged.  The judged k comes from the paper, never from the data.
* OCR (rule 7): one verdict per (protocol, engine) arm; the claim's verdict is the pre-registered primary arm's,
  :data:`PRIMARY_OCR_ARM` (rapidocr on the DiD darkening protocol).  Levels where every method (the clean
  reference excluded) reads < 5 % or > 85 % of the words are floor / ceiling levels: reported, excluded from
  the arms.  Per arm: **does not hold** (futility) iff the upper end of DiD minus the best other method (highest
  mean accuracy) is below :data:`OCR_FUTILITY` (+0.03); else **holds** iff DiD beats every other method (each
  interval above 0); else inconclusive.
"""
from __future__ import annotations

import math

from rawdiff.claims.common import (Outcome, FAILS, HOLDS, MissingInput, combine_verdicts, comparison, fmt_interval, mean_of,
                                   paired_values, select_rows, to_float, Unmeasurable)

__all__ = ["rule_norm", "rule_ilvr", "did_ocr_comparisons", "ocr_arms", "ocr_level_kinds", "rule_ocr",
           "PRIMARY_OCR_ARM", "OCR_FUTILITY", "OCR_FLOOR", "OCR_CEILING", "ILVR_PAPER"]

PRIMARY_OCR_ARM = ("did", "rapidocr")        # (protocol, engine), pre-registered in issue 24
OCR_FUTILITY = 0.03
OCR_FLOOR, OCR_CEILING = 0.05, 0.85
ILVR_PAPER = (6, 18)                         # ILVR on the first 6 of 18 Heun steps (Nguyen et al. 2024)
_NOT_COMPETING = ("did", "clean (reference)")


def _paired_items(rows: list[dict], col: str, a: str, b: str, metric: str, key=("image",)):
    """:func:`rawdiff.stats.paired_bootstrap` of ``metric`` for rows with ``col == a`` vs ``col == b``, paired
    on the ``key`` columns (items present for both only)."""
    def by_item(v):
        return {tuple(str(r[k]) for k in key): to_float(r[metric]) for r in rows if str(r[col]).strip() == v}
    return paired_values(by_item(a), by_item(b), f"{metric} (between {col} = {a!r} and {b!r})", drop_nonfinite=True)


def _fmt_cmp(c, unit: str = "") -> str:
    return f"{fmt_interval(c.diff, c.lo, c.hi, unit)} (n={c.n})"


def _ilvr_key(r: dict) -> str:
    v = to_float(r["ilvr_steps"])
    return str(int(v)) if math.isfinite(v) else ""


def rule_norm(rows):
    names = sorted({str(r["normalization"]).strip() for r in rows})
    if "tail" not in names:
        raise Unmeasurable("no row with normalization = 'tail'")
    others = [n for n in names if n != "tail"]
    if not others:
        raise Unmeasurable("no alternative normalisation to compare with")
    comps = [(o, _paired_items(rows, "normalization", "tail", o, "psnr")) for o in others]
    ev = "; ".join(f"PSNR tail - {o}: {_fmt_cmp(c, ' dB')}" for o, c in comps)
    return Outcome(combine_verdicts([c.verdict for _, c in comps]), ev, [
        comparison(f"tail - {o} psnr", c.diff, c.lo, c.hi, c.verdict, c.n) for o, c in comps])


def rule_ilvr(rows):
    rows = [dict(r, ilvr_steps=_ilvr_key(r)) for r in rows if _ilvr_key(r)]
    ks = sorted({int(r["ilvr_steps"]) for r in rows})
    if not ks or ks[0] != 0 or len(ks) < 2:
        raise MissingInput("needs ilvr_steps = 0 (no ILVR) and the total step count (ILVR on every step)")
    kmax = ks[-1]
    k = round(ILVR_PAPER[0] * kmax / ILVR_PAPER[1])
    if k not in ks[1:-1]:
        raise MissingInput(f"no rows with ilvr_steps = {k} (the paper's {ILVR_PAPER[0]} of {ILVR_PAPER[1]} "
                           f"steps, scaled to {kmax})")
    c0 = _paired_items(rows, "ilvr_steps", str(k), "0", "psnr")
    cm = _paired_items(rows, "ilvr_steps", str(k), str(kmax), "psnr")
    beside = [(j, _paired_items(rows, "ilvr_steps", str(j), str(k), "psnr")) for j in ks[1:-1] if j != k]
    text = (f"k = {k} (the paper's {ILVR_PAPER[0]} of {ILVR_PAPER[1]}): PSNR minus no ILVR {_fmt_cmp(c0, ' dB')}; "
            f"minus ILVR on all {kmax} steps {_fmt_cmp(cm, ' dB')}"
            + "".join(f"; beside (not judged): k = {j} minus k = {k} {_fmt_cmp(c, ' dB')}" for j, c in beside))
    comps = [comparison(f"k={k} - k=0 psnr", c0.diff, c0.lo, c0.hi, c0.verdict, c0.n),
             comparison(f"k={k} - k={kmax} psnr", cm.diff, cm.lo, cm.hi, cm.verdict, cm.n)]
    return Outcome(combine_verdicts([c0.verdict, cm.verdict]), text, comps)


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


def ocr_level_kinds(rows: list[dict]) -> dict[tuple[str, str, str], str]:
    """(protocol, engine, level) -> ``floor`` / ``ceiling`` / ``kept``: floor iff every method but the clean
    reference reads < :data:`OCR_FLOOR` of the words, ceiling iff every one reads > :data:`OCR_CEILING`."""
    acc: dict[tuple, dict[str, list[float]]] = {}
    for r in rows:
        if str(r["method"]).strip().lower() == "clean (reference)":
            continue
        acc.setdefault((r["protocol"], r["engine"], r["level"]), {}).setdefault(r["method"], []).append(
            to_float(r["correct"]))
    out = {}
    for key, by_m in acc.items():
        means = [mean_of(v) for v in by_m.values()]
        out[key] = ("floor" if all(m < OCR_FLOOR for m in means) else
                    "ceiling" if all(m > OCR_CEILING for m in means) else "kept")
    return out


def ocr_arms(rows: list[dict]) -> list[dict]:
    """One dict per (protocol, engine) arm with DiD rows: ``protocol, engine, verdict, excluded`` (floor / ceiling
    levels), ``comparisons`` (did_ocr_comparisons on the kept levels), ``best`` (the best other method's
    comparison) — or ``verdict`` = the reason when nothing is left to compare."""
    kinds = ocr_level_kinds(rows)
    out = []
    for prot, eng in sorted({(r["protocol"], r["engine"]) for r in select_rows(rows, "method", "did")}):
        excl = sorted(f"{lv} {kd}" for (p, e, lv), kd in kinds.items() if (p, e) == (prot, eng) and kd != "kept")
        sel = [r for r in rows if (r["protocol"], r["engine"]) == (prot, eng)
               and kinds.get((prot, eng, r["level"]), "kept") == "kept"]
        arm = {"protocol": prot, "engine": eng, "excluded": excl, "comparisons": [], "best": None}
        comps = did_ocr_comparisons(sel) if select_rows(sel, "method", "did") else []
        if not comps:
            out.append({**arm, "verdict": "not measurable (every level is a floor or ceiling level, or no "
                                           "competing method)"})
            continue
        best = max(comps, key=lambda c: (c["mean_b"], c["method"]))
        if best["hi"] < OCR_FUTILITY:
            v = FAILS
        elif all(c["lo"] > 0 for c in comps):
            v = HOLDS
        else:
            v = f"inconclusive (n={best['n']})"
        out.append({**arm, "comparisons": comps, "best": best, "verdict": v})
    return out


def _fmt_arm(a: dict) -> str:
    head = f"{a['protocol']}/{a['engine']}: {a['verdict']}"
    if a["excluded"]:
        head += f" (excluded: {', '.join(a['excluded'])})"
    if a["best"] is None:
        return head
    b = a["best"]
    rest = [f"{c['method']} {fmt_interval(c['diff'], c['lo'], c['hi'])}" for c in a["comparisons"] if c is not b]
    return (head + f"; DiD {b['mean_a']:.3f} - best other ({b['method']}) {b['mean_b']:.3f} = "
            f"{fmt_interval(b['diff'], b['lo'], b['hi'])} (n={b['n']}, futility bound +{OCR_FUTILITY})"
            + (f"; others: {', '.join(rest)}" if rest else ""))


def rule_ocr(rows):
    if not select_rows(rows, "method", "did"):
        raise Unmeasurable("no rows with method = 'did'")
    arms = ocr_arms(rows)
    prim = next((a for a in arms if (a["protocol"], a["engine"]) == PRIMARY_OCR_ARM), None)
    if prim is None:
        raise MissingInput(f"the pre-registered primary arm ({PRIMARY_OCR_ARM[1]} on the {PRIMARY_OCR_ARM[0]!r} "
                           f"protocol) is not in the table; arms present: "
                           + ", ".join(f"{a['protocol']}/{a['engine']}" for a in arms))
    others = [a for a in arms if a is not prim]
    text = "primary arm " + _fmt_arm(prim) + "".join(f"; other arm (reported) {_fmt_arm(a)}" for a in others)
    if prim["best"] is None:
        raise Unmeasurable(text)
    comps = [comparison(f"{a['protocol']}/{a['engine']} did - {c['method']}", c["diff"], c["lo"], c["hi"],
                        c["verdict"], c["n"]) for a in arms for c in a["comparisons"]]
    return Outcome(prim["verdict"], text, comps)
