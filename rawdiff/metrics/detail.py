"""Detail measures: how much of the target's fine structure an output has, and whether it has too much.

PSNR rewards blur: a method that averages over the uncertainty scores higher than one that draws plausible
detail (the perception–distortion trade-off, Blau & Michaeli, CVPR-18).  DiffRAW's claim is about perceptual
quality, so besides distortion we measure detail against the *aligned* target (rawdiff.metrics.aligned):

* :func:`radial_log_spectrum` — radially averaged log10 power spectrum of the grey image (Hann window, DC
  removed), in ``bins`` rings of normalised frequency (0, 0.5] cycles/px: the classic natural-image statistic
  (van der Schaaf & van Hateren 1996);
* :func:`spectrum_distance` — mean absolute difference of the two log spectra over the rings (in decades):
  0 when the output has the target's amount of detail at every scale, > 0 for blur (missing energy) *and*
  for noise or ringing (extra energy).  Lower is better;
* :func:`sharpness_ratio` — gradient energy of the output over that of the target (central differences):
  < 1 blurrier, > 1 sharper or noisy.  A sampler that leaves noise in its output shows a ratio > 1, hence
  the sanity gate of rawdiff.claims: geometric mean over images of ``sharpness_ratio`` <= 1.05 (a ratio,
  so averaged in logs: near-flat targets give single-image ratios of 10+ that an arithmetic mean lets win).
"""
from __future__ import annotations

from typing import Sequence

import torch

__all__ = ["radial_log_spectrum", "spectrum_distance", "sharpness_ratio", "grey"]


def grey(x: torch.Tensor) -> torch.Tensor:
    """Rec. 601 luma of N x 3 x H x W (N x H x W); single-channel input is returned squeezed."""
    if x.shape[1] == 1:
        return x[:, 0]
    w = torch.tensor([0.299, 0.587, 0.114], device=x.device, dtype=x.dtype)
    return torch.einsum("nchw,c->nhw", x, w)


def radial_log_spectrum(x: torch.Tensor, bins: int = 16, eps: float = 1e-10) -> torch.Tensor:
    """N x ``bins`` radially averaged log10 power spectrum of the grey image (see module docstring)."""
    g = grey(x.double())
    n, h, w = g.shape
    win = torch.hann_window(h, periodic=False, dtype=g.dtype, device=g.device)[:, None] * \
        torch.hann_window(w, periodic=False, dtype=g.dtype, device=g.device)[None]
    g = (g - g.mean(dim=(1, 2), keepdim=True)) * win
    p = torch.fft.fft2(g).abs() ** 2 / (h * w)
    fy = torch.fft.fftfreq(h, device=g.device, dtype=g.dtype)[:, None]
    fx = torch.fft.fftfreq(w, device=g.device, dtype=g.dtype)[None]
    r = torch.sqrt(fy ** 2 + fx ** 2)
    idx = torch.clamp((r / 0.5 * bins).ceil().long() - 1, min=-1)   # ring k covers (k/bins, (k+1)/bins] x 0.5
    keep = (idx >= 0) & (idx < bins)
    flat_idx, pf = idx[keep], p[:, keep]
    counts = torch.bincount(flat_idx, minlength=bins).to(g.dtype).clamp_min(1)
    sums = torch.zeros(n, bins, dtype=g.dtype, device=g.device).index_add_(1, flat_idx, pf)
    return torch.log10(sums / counts + eps).float()


def spectrum_distance(pred: torch.Tensor, target: torch.Tensor, bins: int = 16) -> torch.Tensor:
    """Per-image mean |log10 spectrum difference| between ``pred`` and ``target`` (decades; lower is better)."""
    return (radial_log_spectrum(pred, bins) - radial_log_spectrum(target, bins)).abs().mean(1).cpu()


def _grad_energy(x: torch.Tensor) -> torch.Tensor:
    g = grey(x.double())
    gx = g[:, :, 2:] - g[:, :, :-2]
    gy = g[:, 2:, :] - g[:, :-2, :]
    return (gx ** 2).mean(dim=(1, 2)) + (gy ** 2).mean(dim=(1, 2))


def sharpness_ratio(pred: torch.Tensor, target: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Per-image gradient energy of ``pred`` over that of ``target`` (1 = the target's sharpness)."""
    return (_grad_energy(pred) / (_grad_energy(target) + eps)).float().cpu()


def seam_visibility(img: torch.Tensor, edges_y: Sequence[int], edges_x: Sequence[int]) -> torch.Tensor:
    """Seam metric: mean squared gradient across tile borders / mean squared gradient everywhere else.

    For each image (``N x C x H x W``) the horizontal differences ``img[..., b] - img[..., b-1]`` at the
    borders ``b`` in ``edges_x`` (and vertical ones at ``edges_y``) form the border set; all other adjacent
    pixel differences form the interior set.  ~1: no visible seams; > 1: tile borders are sharper than the
    image content.  Returns one value per image (N,).
    """
    dx = (img[..., :, 1:] - img[..., :, :-1]).pow(2).mean(1)   # N x H x (W-1); index b-1 = border b
    dy = (img[..., 1:, :] - img[..., :-1, :]).pow(2).mean(1)   # N x (H-1) x W
    mx = torch.zeros(dx.shape[-1], dtype=torch.bool, device=img.device)
    my = torch.zeros(dy.shape[-2], dtype=torch.bool, device=img.device)
    mx[[b - 1 for b in edges_x if 0 < b < img.shape[-1]]] = True
    my[[b - 1 for b in edges_y if 0 < b < img.shape[-2]]] = True
    border = torch.cat([dx[:, :, mx].flatten(1), dy[:, my, :].flatten(1)], dim=1)
    inner = torch.cat([dx[:, :, ~mx].flatten(1), dy[:, ~my, :].flatten(1)], dim=1)
    if border.shape[1] == 0:
        return torch.ones(img.shape[0], device=img.device)
    return border.mean(1) / inner.mean(1).clamp_min(1e-12)
