"""Notebook 04's figures: the perception–distortion plane (Blau & Michaeli, CVPR-18: one point per method and K,
distortion against detail) and the budget curves of issue 24 (a claim's paired effect against the training steps
of the checkpoint evaluated, rawdiff.diffraw.budget).  Plotting only; the numbers come from
rawdiff.diffraw.evaluate and rawdiff.claims."""
from __future__ import annotations

import math
from typing import Sequence

from rawdiff.claims.common import to_float

__all__ = ["plot_distortion_detail", "distortion_detail_figure", "budget_figure"]


def plot_distortion_detail(summary: Sequence[dict], ax=None, x: str = "highband_ssim", y: str = "cc_psnr"):
    """Distortion (``y``, higher is better) vs detail (``x``: the DTDM rules' high-band SSIM, higher is better;
    ``spectrum_distance`` is lower-is-better) with interval bars, one point per method and K; returns the axes."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4.5))
    fams: dict[str, list[dict]] = {}
    for r in summary:
        if isinstance(r.get(x), (int, float)) and isinstance(r.get(y), (int, float)):
            fam = r["method"] + (f" s={r['s']}" if r.get("s") not in (None, "") and r["method"] == "dtdm" else "")
            fams.setdefault(fam, []).append(r)
    for fam, rr in fams.items():
        xs, ys = [r[x] for r in rr], [r[y] for r in rr]
        xerr = [[r[x] - r.get(f"{x}_lo", r[x]) for r in rr], [r.get(f"{x}_hi", r[x]) - r[x] for r in rr]]
        yerr = [[r[y] - r.get(f"{y}_lo", r[y]) for r in rr], [r.get(f"{y}_hi", r[y]) - r[y] for r in rr]]
        ax.errorbar(xs, ys, xerr=xerr, yerr=yerr, fmt="o-" if len(rr) > 1 else "s", ms=4, lw=1, capsize=2, label=fam)
        for r in rr:
            if r.get("steps") not in (None, ""):
                ax.annotate(f"K={r['steps']}", (r[x], r[y]), fontsize=6, xytext=(3, 3), textcoords="offset points")
    better = "lower" if x == "spectrum_distance" else "higher"
    ax.set(xlabel=f"{x} ({better} = detail closer to the aligned target)", ylabel=f"{y} (dB, higher is better)")
    ax.legend(fontsize=7)
    return ax


def distortion_detail_figure(summary: Sequence[dict]):
    """Notebook 04's main figure: left, every method and K in the (high-band SSIM, cc-PSNR) plane
    (:func:`plot_distortion_detail`; the gate rows left out); right, cc-PSNR against network evaluations per
    sampler family, ISPNet and the simple ISP as horizontal lines."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    plot_distortion_detail([r for r in summary if r["method"] not in ("d2", "dtdm_d2")], ax=axes[0])
    axes[0].set_title("one point per method and K (bars: 95% intervals over images)", fontsize=9)
    for fam in dict.fromkeys((r["method"], r["s"]) for r in summary if r["nfe"]):
        rr = [r for r in summary if (r["method"], r["s"]) == fam and r["nfe"]]
        axes[1].plot([r["nfe"] for r in rr], [r["cc_psnr"] for r in rr], "o-", ms=3,
                     label=fam[0] + (f" s={fam[1]}" if fam[1] else ""))
    for r in summary:
        if r["method"] in ("ispnet", "simple_isp", "ispnet_noise_control"):
            axes[1].axhline(r["cc_psnr"], ls="--", lw=1, color={"ispnet": "k", "simple_isp": "grey"}.get(r["method"], "tab:red"),
                            label=r["method"])
    axes[1].set(xscale="log", xlabel="network evaluations (NFE)", ylabel="cc_psnr (dB)")
    axes[1].legend(fontsize=7)
    return fig


def budget_figure(rows: Sequence[dict], ncols: int = 4):
    """The budget curves: one panel per (claim, comparison) of ``*_budget_effects.csv`` rows — the paired effect
    (> 0 favours the paper's method) against the training steps of the checkpoint, with its 95% interval; a
    budget whose effect could not be computed is marked on the panel's x axis and named in its title."""
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
        ax.set_title(title, fontsize=6)
        ax.set_xlabel("training steps", fontsize=7)
        ax.tick_params(labelsize=6)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    fig.tight_layout()
    return fig
