"""Colour and contour metrics for developed images (DiffRAW's colour fidelity and plug-and-play checks).

* :func:`color_error` — per-image mean CIEDE2000 (Sharma, Wu & Dalal, "The CIEDE2000 colour-difference
  formula", Color Res. Appl. 30(1), 2005; computed by skimage) between Gaussian low-passed images: colour
  fidelity that ignores detail and noise.
* :func:`mean_color_distance` — CIEDE2000 between the mean Lab colours (global colour cast).
* :func:`chroma_stats` — mean chromaticity (r/(r+g+b), b/(r+g+b)).
* :func:`edge_corr` — Pearson correlation of Sobel gradient magnitudes (contour agreement).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["color_error", "mean_color_distance", "chroma_stats", "edge_corr"]


def _lab(img: torch.Tensor):
    from skimage.color import rgb2lab

    return rgb2lab(img.detach().permute(0, 2, 3, 1).cpu().double().clamp(0, 1).numpy(), channel_axis=-1)


def color_error(pred: torch.Tensor, target: torch.Tensor, sigma: float = 2.0) -> torch.Tensor:
    """Per-image mean CIEDE2000 (Sharma et al. 2005, via skimage) between Gaussian low-passed (``sigma`` px)
    prediction and target: colour fidelity that ignores detail and noise.  Lower is better.  (N,)"""
    from skimage.color import deltaE_ciede2000

    k = int(2 * round(3 * sigma) + 1)
    r = torch.arange(k, dtype=torch.float32, device=pred.device) - k // 2
    g = torch.exp(-0.5 * (r / sigma) ** 2)
    g = g / g.sum()

    def blur(z):
        z = F.pad(z, (k // 2,) * 4, mode="reflect" if k // 2 < min(z.shape[-2:]) else "replicate")
        z = F.conv2d(z, g.view(1, 1, 1, k).expand(z.shape[1], 1, 1, k), groups=z.shape[1])
        return F.conv2d(z, g.view(1, 1, k, 1).expand(z.shape[1], 1, k, 1), groups=z.shape[1])

    de = deltaE_ciede2000(_lab(blur(pred.float())), _lab(blur(target.float())), channel_axis=-1)
    return torch.from_numpy(de.reshape(de.shape[0], -1).mean(1)).float()


def mean_color_distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-image CIEDE2000 between the *mean* Lab colours of ``a`` and ``b`` (global colour cast; scenes
    may differ).  (N,)"""
    from skimage.color import deltaE_ciede2000

    la, lb = _lab(a).mean(axis=(1, 2)), _lab(b).mean(axis=(1, 2))
    return torch.from_numpy(deltaE_ciede2000(la, lb, channel_axis=-1)).float()


def chroma_stats(img: torch.Tensor) -> torch.Tensor:
    """Per-image mean chromaticity (r/(r+g+b), b/(r+g+b)) — the colour statistic used for plug-and-play (N x 2)."""
    m = img.mean(dim=(2, 3))
    s = m.sum(1, keepdim=True).clamp(min=1e-6)
    return torch.stack([m[:, 0], m[:, 2]], 1) / s



def edge_corr(a: torch.Tensor, b: torch.Tensor, per_image: bool = False) -> float | torch.Tensor:
    """Pearson correlation of the Sobel gradient magnitudes of the grey (channel-mean) images ``a`` and ``b``
    (N x C x H x W): 1 = the same contours.  Mean over images, or the (N,) values with ``per_image=True``."""
    k = torch.tensor([[-1., 0., 1.], [-2., 0., 2.], [-1., 0., 1.]], device=a.device)

    def mag(z):
        g = z.float().mean(1, keepdim=True)
        gx = F.conv2d(g, k.view(1, 1, 3, 3))
        gy = F.conv2d(g, k.t().reshape(1, 1, 3, 3))
        return (gx ** 2 + gy ** 2).sqrt().flatten(1)

    ma, mb = mag(a), mag(b.to(a.device))
    ma, mb = ma - ma.mean(1, keepdim=True), mb - mb.mean(1, keepdim=True)
    r = (ma * mb).sum(1) / (ma.norm(dim=1) * mb.norm(dim=1) + 1e-8)
    return r if per_image else float(r.mean())
