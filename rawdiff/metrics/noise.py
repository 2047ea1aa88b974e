"""Leftover noise on flat target regions: the DTDM sanity gate of rawdiff.claims (issue 24, rule 3).

A whole-image sharpness ratio (rawdiff.metrics.detail.sharpness_ratio) cannot see grain when the output is
blurrier than the target overall: the lost edge energy hides the added noise energy.  Noise is visible where
the scene is flat, so we measure it there only, with "flat" defined from the aligned target alone:

1. local variance of the target's luma in a ``window`` x ``window`` box (valid region);
2. the flat pixels are those whose target local variance is at most the image's ``quantile`` (default the
   lowest quartile) — a per-image definition, so every image contributes its flattest quarter;
3. :func:`flat_local_std` = the mean, over those pixels, of the *output's* local standard deviation (luma, the
   same box).

The gate compares it with ISPNet's (a deterministic regression net: no sampler noise) as a paired ratio per
image, averaged geometrically over images (rawdiff.stats.bootstrap_geomean); see rawdiff.claims.diffraw.
:func:`noise_matched_to` builds the detail metric's noise-injection control (issue 24, item 4).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from rawdiff.metrics.detail import grey, high_band

__all__ = ["local_variance", "flat_mask", "flat_local_std", "noise_matched_to", "FLAT_WINDOW", "FLAT_QUANTILE"]

FLAT_WINDOW = 3   # 3x3: on 64-px dead-leaves targets a 5x5 box puts edges into the "flat" quarter
FLAT_QUANTILE = 0.25


def local_variance(x: torch.Tensor, window: int = FLAT_WINDOW) -> torch.Tensor:
    """Box-window variance of the luma of N x C x H x W (valid region; N x H-w+1 x W-w+1), in float64."""
    g = grey(x.double())[:, None]
    mean = F.avg_pool2d(g, window, stride=1)
    return (F.avg_pool2d(g * g, window, stride=1) - mean ** 2).clamp_min(0)[:, 0]


def flat_mask(target: torch.Tensor, window: int = FLAT_WINDOW, quantile: float = FLAT_QUANTILE) -> torch.Tensor:
    """Boolean N x H' x W' mask of the target's locally flat pixels (local variance <= the image's quantile)."""
    if not 0 < quantile <= 1:
        raise ValueError(f"flat_mask: quantile must be in (0, 1], got {quantile}")
    v = local_variance(target, window)
    q = torch.quantile(v.flatten(1), quantile, dim=1)
    return v <= q[:, None, None]


def flat_local_std(pred: torch.Tensor, target: torch.Tensor, window: int = FLAT_WINDOW,
                   quantile: float = FLAT_QUANTILE) -> torch.Tensor:
    """Per-image mean local standard deviation of ``pred`` on the pixels where ``target`` is flat (N,)."""
    if pred.shape != target.shape:
        raise ValueError(f"flat_local_std: shapes differ {tuple(pred.shape)} vs {tuple(target.shape)}")
    if min(pred.shape[-2:]) < window:
        raise ValueError(f"flat_local_std needs images >= {window} px on each side (got {tuple(pred.shape[-2:])})")
    m = flat_mask(target.to(pred.device), window, quantile)
    s = local_variance(pred, window).sqrt()
    return ((s * m).flatten(1).sum(1) / m.flatten(1).sum(1).clamp_min(1)).float().cpu()


def noise_matched_to(base: torch.Tensor, reference: torch.Tensor, generator: torch.Generator,
                     iters: int = 40) -> torch.Tensor:
    """The noise-injection control of issue 24 (item 4): ``base`` (e.g. ISPNet's output) plus white Gaussian
    noise whose per-image sd is set (bisection on [0, 0.5]) so that the result has the luma high-band energy
    (rawdiff.metrics.detail.high_band) of ``reference`` (e.g. DTDM's output); sd 0 where ``base`` already has
    more.  A detail metric that scores this above ``base`` credits noise as detail.  Clamped to [0, 1]."""
    if base.shape != reference.shape:
        raise ValueError(f"noise_matched_to: shapes differ {tuple(base.shape)} vs {tuple(reference.shape)}")
    z = torch.randn(base.shape, generator=generator, device=generator.device).to(base)

    def energy(x):
        return high_band(x).pow(2).flatten(1).mean(1)

    want = energy(reference)
    lo = torch.zeros(base.shape[0], dtype=torch.float64, device=base.device)
    hi = torch.full_like(lo, 0.5)
    for _ in range(iters):
        mid = (lo + hi) / 2
        below = energy((base + mid.view(-1, 1, 1, 1).to(base) * z).clamp(0, 1)) < want
        lo, hi = torch.where(below, mid, lo), torch.where(below, hi, mid)
    return (base + lo.view(-1, 1, 1, 1).to(base) * z).clamp(0, 1)
