"""Budget curves (issue 24, "Budget curves"): the same paired effect of a claim at three or more training
budgets, and the scorecard's "with training" column.

Table contract: any ``*_budget_effects.csv`` in the results folder, one row per (claim, comparison, budget):
``claim`` (a rawdiff.claims.scorecard.CLAIMS key), ``comparison`` (a name), ``budget`` (training steps of the
checkpoint evaluated), ``diff``, ``lo``, ``hi`` (the paired effect and its 95% interval, oriented so that
> 0 favours the paper's method, as the claim's rule computes it).

The rule (fixed before any budget data exist).  With budgets b_1 < ... < b_m (m >= 3), effects e_i, half-widths
h_i = (hi_i - lo_i) / 2, let s = sign(e_m) (+1 when e_m = 0) and g_i = s * e_i — the gap measured in the
direction it has at the largest budget.  Let d = g_m - g_1 and tol = h_1 + h_m (the two end intervals are
disjoint iff |d| > tol, for symmetric intervals).

* **growing with training** iff d > tol and every intermediate g_i lies in [g_1 - h_i, g_m + h_i];
* **shrinking with training** iff d < -tol and every intermediate g_i lies in [g_m - h_i, g_1 + h_i];
* **non-monotonic with training** iff |d| > tol but an intermediate budget lies outside that range;
* **flat with training** otherwise (no change between the smallest and largest budget beyond the intervals).

A sign change between b_1 and b_m is "growing" in the direction of the last effect (e.g. -0.3 -> +0.4 dB:
the gap in favour of the paper's method grows).  Fewer than 3 budgets, or non-finite numbers: "cannot be
computed".
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

from rawdiff.claims.common import CANNOT, read_csv, to_float

__all__ = ["BUDGET_GLOB", "MIN_BUDGETS", "budget_trend", "budget_column", "budget_effect_rows", "budget_figure"]

BUDGET_GLOB = "*_budget_effects.csv"
MIN_BUDGETS = 3


def budget_trend(points) -> str:
    """The trend label of ``points`` = [(budget, diff, lo, hi), ...] under the module's rule."""
    pts = sorted((float(b), float(d), float(lo), float(hi)) for b, d, lo, hi in points)
    if len({p[0] for p in pts}) < MIN_BUDGETS or len(pts) != len({p[0] for p in pts}):
        return f"{CANNOT} (needs >= {MIN_BUDGETS} distinct budgets, got {len(pts)} rows)"
    if not all(math.isfinite(x) for p in pts for x in p):
        return f"{CANNOT} (non-finite effect or interval)"
    s = -1.0 if pts[-1][1] < 0 else 1.0
    g = [s * p[1] for p in pts]
    h = [(p[3] - p[2]) / 2 for p in pts]
    d, tol = g[-1] - g[0], h[0] + h[-1]
    if abs(d) <= tol:
        return "flat with training"
    lo_end, hi_end = min(g[0], g[-1]), max(g[0], g[-1])
    if all(lo_end - hi_ <= gi <= hi_end + hi_ for gi, hi_ in zip(g[1:-1], h[1:-1])):
        return "growing with training" if d > 0 else "shrinking with training"
    return "non-monotonic with training"


def budget_effect_rows(claim_key: str, budget: int, outcome) -> list[dict]:
    """Rows of a ``*_budget_effects.csv`` for one checkpoint: the claim's rule applied to the per-image table
    evaluated at that checkpoint (``outcome`` = ``claim.rule(rows)``, whose ``.comparisons`` are the effects the
    verdict rests on), so the budget curve shows exactly the effects the scorecard judges."""
    return [{"claim": claim_key, "comparison": c["name"], "budget": int(budget), "diff": c["diff"], "lo": c["lo"],
             "hi": c["hi"]} for c in getattr(outcome, "comparisons", ())]


def budget_column(out_dir: str | Path, claim_key: str) -> str:
    """The scorecard cell for ``claim_key``: per comparison, its trend and the effects by budget; "—" when no
    budget table mentions the claim."""
    rows = [r for p in sorted(Path(out_dir).glob(BUDGET_GLOB)) for r in read_csv(p)
            if str(r.get("claim", "")).strip() == claim_key]
    if not rows:
        return "—"
    by: dict[str, list] = {}
    for r in rows:
        by.setdefault(str(r.get("comparison", "")).strip(), []).append(
            tuple(to_float(r.get(k)) for k in ("budget", "diff", "lo", "hi")))
    cells = []
    for name, pts in sorted(by.items()):
        effects = ", ".join(f"{b:g}: {d:+.3f}" for b, d, _, _ in sorted(pts))
        cells.append(f"{name}: {budget_trend(pts)} ({effects})")
    return "; ".join(cells)


def budget_figure(rows: Sequence[dict], ncols: int = 4):
    """The budget curves: one panel per (claim, comparison) of ``*_budget_effects.csv`` rows — the paired effect
    (> 0 favours the paper's method) against the training steps of the checkpoint, with its 95% interval; a
    budget whose effect could not be computed is marked on the panel's x axis and named in its title, and the
    trend label (:func:`budget_trend`) closes the title.  Notebooks 03-06 and the snapshot's ``budget_curves.png``."""
    import matplotlib.pyplot as plt

    panels: dict[tuple, list[dict]] = {}
    for r in rows:
        panels.setdefault((str(r["claim"]), str(r["comparison"])), []).append(r)
    n = max(1, len(panels))
    ncols = min(ncols, n)
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.3 * ncols, 2.5 * nrows), squeeze=False)
    for ax, ((claim, name), rr) in zip(axes.flat, panels.items()):
        rr = sorted(rr, key=lambda r: to_float(r["budget"]))
        ok = [r for r in rr if math.isfinite(to_float(r.get("diff")))]
        bad = [r for r in rr if r not in ok]
        if ok:
            b, d = [to_float(r["budget"]) for r in ok], [to_float(r["diff"]) for r in ok]
            err = [[x - to_float(r["lo"]) for x, r in zip(d, ok)], [to_float(r["hi"]) - x for x, r in zip(d, ok)]]
            ax.errorbar(b, d, yerr=err, fmt="o-", ms=4, capsize=3)
        for r in bad:
            ax.plot(to_float(r["budget"]), 0, "x", color="tab:red")
        ax.axhline(0, color="grey", lw=0.8)
        title = f"{claim}\n{name}" if len(name) < 60 else f"{claim}\n{name[:57]}..."
        if bad:
            title += f"\n(x: cannot be computed at {', '.join(str(r['budget']) for r in bad)})"
        elif ok:
            title += "\n" + budget_trend([tuple(to_float(r[k]) for k in ("budget", "diff", "lo", "hi")) for r in ok])
        ax.set_title(title, fontsize=6)
        ax.set_xlabel("training steps", fontsize=7)
        ax.tick_params(labelsize=6)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    fig.tight_layout()
    return fig
