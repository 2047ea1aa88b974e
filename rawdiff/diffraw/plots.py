"""Notebook 04's figure: the perception–distortion plane (Blau & Michaeli, CVPR-18: one point per method and K,
distortion against detail).  Plotting only; the numbers come from rawdiff.diffraw.evaluate and rawdiff.claims.
(The budget curves are rawdiff.claims.budget.budget_figure.)"""
from __future__ import annotations

from typing import Sequence

__all__ = ["plot_distortion_detail", "distortion_detail_figure"]


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
