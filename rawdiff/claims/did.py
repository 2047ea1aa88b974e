"""DiD claim rules (notebooks 05 and 06): tail normalisation, ILVR on the first steps and OCR word accuracy, each a
set of paired comparisons per image / per word (rawdiff.stats; the rules are documented in rawdiff.claims)."""
from __future__ import annotations

import math

from rawdiff.claims.common import combine_verdicts, mean_of, to_float, paired_values, select_rows, Unmeasurable


def _paired_items(rows: list[dict], col: str, a: str, b: str, metric: str, key=("image",)):
    """:func:`rawdiff.stats.paired_bootstrap` of ``metric`` for rows with ``col == a`` vs ``col == b``, paired
    on the ``key`` columns (items present for both only)."""
    def by_item(v):
        return {tuple(str(r[k]) for k in key): to_float(r[metric]) for r in rows if str(r[col]).strip() == v}
    return paired_values(by_item(a), by_item(b), f"{metric} (between {col} = {a!r} and {b!r})", drop_nonfinite=True)


def _fmt_cmp(c, unit: str = "") -> str:
    return f"{c.diff:+.3f}{unit} [{c.lo:+.3f}, {c.hi:+.3f}] (n={c.n})"


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
    return combine_verdicts([c.verdict for _, c in comps]), ev


def rule_ilvr(rows):
    rows = [dict(r, ilvr_steps=_ilvr_key(r)) for r in rows if _ilvr_key(r)]
    ks = sorted({int(r["ilvr_steps"]) for r in rows})
    if not ks or ks[0] != 0 or len(ks) < 3:
        raise Unmeasurable("needs ilvr_steps = 0, the total step count and at least one value between")
    kmax = ks[-1]
    if 6 in ks[1:-1]:
        k, why = 6, "the paper's k = 6"
    else:
        mean = {k: mean_of(to_float(r["psnr"]) for r in rows if int(r["ilvr_steps"]) == k) for k in ks[1:-1]}
        k = max(mean, key=mean.get)
        why = f"k = {k} (best intermediate mean; 6 not in the table)"
    c0 = _paired_items(rows, "ilvr_steps", str(k), "0", "psnr")
    cm = _paired_items(rows, "ilvr_steps", str(k), str(kmax), "psnr")
    return combine_verdicts([c0.verdict, cm.verdict]), (f"{why}: PSNR minus no ILVR {_fmt_cmp(c0, ' dB')}; minus ILVR on all {kmax} "
                                    f"steps {_fmt_cmp(cm, ' dB')}")


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


def rule_ocr(rows):
    if not select_rows(rows, "method", "did"):
        raise Unmeasurable("no rows with method = 'did'")
    comps = did_ocr_comparisons(rows)
    if not comps:
        raise Unmeasurable("no competing method in the table")
    ev = "; ".join(f"{c['protocol']}/{c['engine']}: DiD {c['mean_a']:.3f} - {c['method']} {c['mean_b']:.3f} = "
                   f"{c['diff']:+.3f} [{c['lo']:+.3f}, {c['hi']:+.3f}] (n={c['n']})" for c in comps)
    return combine_verdicts([c["verdict"] for c in comps]), ev


