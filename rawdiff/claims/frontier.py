"""The perception–distortion frontier read-off of DTDM rule (b) (issue 24, rule 2; Blau & Michaeli, "The
perception–distortion tradeoff", CVPR-18): is DTDM's (detail, cc-PSNR) frontier at or above DDIM's point?

Per bootstrap resample of the images (rawdiff.stats.resample_indices, paired: the same images for every
method), the DTDM points are the per-K means of (detail, cc-PSNR); their frontier is the set of points no other
point beats on both axes, joined piecewise-linearly in order of detail.  It is read at the comparator's mean
detail ``x``:

* ``x`` within the frontier's detail range: linear interpolation between the two neighbouring frontier points;
* ``x`` below it (the comparator is less detailed than every DTDM point): the frontier point of least detail —
  the DTDM point of nearest detail that is at least as detailed, as the issue words it;
* ``x`` above it (no DTDM point is as detailed): no point qualifies, and the read-off is ``-inf`` — DTDM does
  not reach the comparator's detail, which counts against it (an interval that reaches ``-inf``).

The effect is read-off minus the comparator's mean cc-PSNR; the interval is the percentile interval of the
effect over the resamples (``-inf`` kept as such).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from rawdiff.stats import N_RESAMPLES, resample_indices

__all__ = ["pareto_front", "read_frontier", "FrontierEffect", "frontier_effect"]


def pareto_front(points: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    """The (detail, psnr) points, both higher-is-better, that no other point weakly beats on both axes and
    strictly on one; sorted by detail (ascending), duplicates once."""
    pts = sorted(set((float(d), float(p)) for d, p in points))
    return [(d, p) for d, p in pts
            if not any(d2 >= d and p2 >= p and (d2 > d or p2 > p) for d2, p2 in pts)]


def read_frontier(points: Sequence[tuple[float, float]], x: float) -> tuple[float, str]:
    """(psnr read off the frontier of ``points`` at detail ``x``, how: ``interpolated`` / ``nearest more
    detailed`` / ``unreachable``)."""
    front = pareto_front(points)
    if not front:
        raise ValueError("read_frontier: no points")
    if x < front[0][0]:
        return front[0][1], "nearest more detailed"
    if x > front[-1][0]:
        return -math.inf, "unreachable"
    for (d0, p0), (d1, p1) in zip(front, front[1:]):
        if d0 <= x <= d1:
            return (p0 if d1 == d0 else p0 + (p1 - p0) * (x - d0) / (d1 - d0)), "interpolated"
    return front[-1][1], "interpolated"      # x equals the last (or only) frontier point's detail


@dataclass(frozen=True)
class FrontierEffect:
    """Read-off minus the comparator's cc-PSNR on all images (``diff``, ``how``), its percentile interval over
    the resamples, ``n`` images and the share of resamples where DTDM did not reach the comparator's detail."""

    n: int
    diff: float
    lo: float
    hi: float
    how: str
    unreachable_share: float


def _quantile(v: np.ndarray, q: float) -> float:
    """Linear-interpolated quantile that keeps -inf where the order statistics are -inf."""
    s = np.sort(v)
    pos = q * (s.size - 1)
    i, f = int(math.floor(pos)), pos - math.floor(pos)
    a, b = s[i], s[min(i + 1, s.size - 1)]
    if not math.isfinite(a):        # sorted ascending: only the lower neighbour can be -inf
        return float(a)
    return float(a + (b - a) * f)


def frontier_effect(detail: dict[int, np.ndarray], psnr: dict[int, np.ndarray], ref_detail: np.ndarray,
                    ref_psnr: np.ndarray, *, level: float = 0.95, n_resamples: int = N_RESAMPLES,
                    seed: int = 0) -> FrontierEffect:
    """Paired bootstrap of the frontier read-off: ``detail[k]``/``psnr[k]`` are the per-image scores of DTDM at
    each K (same image order as ``ref_*``, the comparator's)."""
    n = len(ref_psnr)
    if n == 0 or any(len(v) != n for v in (*detail.values(), *psnr.values(), ref_detail)):
        raise ValueError("frontier_effect: every score array needs the same, non-zero number of images")

    ks = list(detail)
    idx = np.vstack([np.arange(n)[None], resample_indices(n, n_resamples, seed)])   # row 0: all images
    det = np.stack([detail[k][idx].mean(1) for k in ks], 1)       # (1 + resamples) x K means, vectorised
    ps = np.stack([psnr[k][idx].mean(1) for k in ks], 1)
    rd, rp = ref_detail[idx].mean(1), ref_psnr[idx].mean(1)
    reads = [read_frontier(list(zip(det[j], ps[j])), float(rd[j])) for j in range(idx.shape[0])]
    eff = np.array([y for y, _ in reads]) - rp
    diff, how, boot = float(eff[0]), reads[0][1], eff[1:]
    a = (1 - level) / 2
    return FrontierEffect(n, diff, _quantile(boot, a), _quantile(boot, 1 - a), how,
                          float(np.mean(~np.isfinite(boot))))
