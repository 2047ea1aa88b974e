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
  Issue 24 replaced that gate (it cannot see grain on blurry outputs) with rawdiff.metrics.noise;
* :func:`highband_ssim` — SSIM's contrast-structure term on the luma high bands: the *validated* detail metric
  of the DTDM rules (spectrum distance rewards added noise; this one cannot, see its docstring);
* :func:`luma_ssim` — SSIM of the luma images (structure kept under a colour restyle, plug-and-play).
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F

from rawdiff.metrics.image import gaussian_window, ssim

__all__ = ["radial_log_spectrum", "spectrum_distance", "sharpness_ratio", "grey", "high_band", "highband_ssim",
           "luma_ssim", "HIGHBAND_SIGMA", "seam_visibility"]


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


# ------------------------------------------------------------------------ validated detail and structure metrics
#: High band = luma minus its Gaussian low-pass at this sigma (px): about the top octave of a 64-px crop.
HIGHBAND_SIGMA = 1.0


def _gauss_blur(g: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of N x 1 x H x W with reflect padding (same size)."""
    win = gaussian_window(int(2 * round(3 * sigma) + 1), sigma, g.device).to(g.dtype)
    k, p = win.numel(), win.numel() // 2
    z = F.pad(g, (p, p, p, p), mode="reflect" if p < min(g.shape[-2:]) else "replicate")
    return F.conv2d(F.conv2d(z, win.view(1, 1, 1, k)), win.view(1, 1, k, 1))


def high_band(x: torch.Tensor, sigma: float = HIGHBAND_SIGMA) -> torch.Tensor:
    """N x 1 x H x W high band of the luma: ``grey(x) - GaussianBlur_sigma(grey(x))`` (float64)."""
    g = grey(x.double())[:, None]
    return g - _gauss_blur(g, sigma)


def highband_ssim(pred: torch.Tensor, target: torch.Tensor, sigma: float = HIGHBAND_SIGMA, k2: float = 0.03,
                  window_size: int = 11, window_sigma: float = 1.5) -> torch.Tensor:
    """Per-image SSIM of the high bands (:func:`high_band`) of ``pred`` and ``target``: the mean over positions of
    SSIM's contrast-structure term ``(2 s_xy + C2) / (s_x^2 + s_y^2 + C2)`` (Wang et al. 2004, eq. 13 without
    the luminance factor, as MS-SSIM uses at its finer scales, Wang, Simoncelli & Bovik 2003), same 11-px
    Gaussian window (sigma 1.5) and C2 = (0.03)^2.

    Why it is the detail metric of the DTDM rules (issue 24, item 4): noise independent of the scene adds to
    ``s_x^2`` but not (in expectation) to ``s_xy``, so it can only lower the score; a blurred output has a small
    ``s_xy``.  It is 1 for the target itself, and "blurred + noise matched to a sharper output's high-band
    energy" scores below "blurred" — which the log-spectrum distance (:func:`spectrum_distance`) gets the
    wrong way round.  tests/test_detail_metric.py checks all three on skimage's photographs and on our targets.
    Higher is better.  (N,)"""
    if pred.shape != target.shape:
        raise ValueError(f"highband_ssim: shapes differ {tuple(pred.shape)} vs {tuple(target.shape)}")
    if min(pred.shape[-2:]) < window_size:
        raise ValueError(f"highband_ssim needs images >= {window_size} px on each side (got {tuple(pred.shape[-2:])})")
    x, y = high_band(pred, sigma), high_band(target.to(pred.device), sigma)
    win = gaussian_window(window_size, window_sigma, pred.device).double()

    def blur(z):   # the 'valid' Gaussian window, as rawdiff.metrics.image.ssim
        return F.conv2d(F.conv2d(z, win.view(1, 1, 1, -1)), win.view(1, 1, -1, 1))

    mx, my = blur(x), blur(y)
    sxx, syy, sxy = blur(x * x) - mx ** 2, blur(y * y) - my ** 2, blur(x * y) - mx * my
    c2 = k2 ** 2
    return ((2 * sxy + c2) / (sxx + syy + c2)).flatten(1).mean(1).float().cpu()


def luma_ssim(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-image SSIM (rawdiff.metrics.image.ssim, Wang et al. 2004) of the Rec. 601 luma of ``a`` and ``b``:
    structure regardless of colour (the plug-and-play structure check).  (N,)"""
    return ssim(grey(a.float())[:, None], grey(b.float().to(a.device))[:, None]).cpu()
