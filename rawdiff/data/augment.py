"""Seeded paired augmentation for DiD training (Nguyen et al., "Diffusion in the Dark", WACV-24; official code's
``dataset.py``, DESIGN.md §3).

The official code augments each (dark, bright) training pair with imgaug: horizontal and vertical flips of
*both* images (the pair stays aligned), and on the **bright image only** a blur or sharpen, brightness and
saturation jitter and, occasionally, greyscale.  The target side is jittered so that the model does not
memorise the few hundred LOL targets' exact colours; the dark condition is left untouched.

:func:`augment_pair` does the same on batches of ``B x 3 x H x W`` [0, 1] tensors with every random number
drawn from one ``torch.Generator`` in a fixed order and a fixed count (independent of the outcomes), so the
same generator state gives the same batch on CPU and CUDA.  The official probabilities and ranges are not
given in DESIGN.md; :class:`AugmentConfig`'s defaults are our choice, in imgaug's usual ranges:

* flips: each of horizontal / vertical with probability 0.5, the same flip for dark and bright;
* blur or sharpen (probability ``p_filter``, then each half of the time): unsharp masking with a 3x3 binomial
  low-pass ``LP``: blur ``x + a (LP(x) - x)``, sharpen ``x + a (x - LP(x))``, ``a ~ U(0, 1)``;
* brightness: multiply by ``U(1 - brightness, 1 + brightness)``;
* saturation: ``Y + s (x - Y)`` around the Rec.601 luma ``Y``, ``s ~ U(1 - saturation, 1 + saturation)``;
* greyscale: replace by ``Y`` with probability ``p_grey``;
* the bright result is clipped to [0, 1].
"""
from __future__ import annotations


import torch
import torch.nn.functional as F

from rawdiff.config import AugmentConfig

__all__ = ["AugmentConfig", "augment_pair", "binomial_lowpass"]

_LUMA = (0.299, 0.587, 0.114)




def binomial_lowpass(x: torch.Tensor) -> torch.Tensor:
    """3x3 binomial blur ``[1, 2, 1]^T [1, 2, 1] / 16`` per channel, reflect-padded (``B x C x H x W``)."""
    k1 = torch.tensor([1.0, 2.0, 1.0], device=x.device, dtype=x.dtype) / 4
    k = (k1[:, None] * k1[None, :]).expand(x.shape[1], 1, 3, 3)
    return F.conv2d(F.pad(x, (1, 1, 1, 1), mode="reflect"), k, groups=x.shape[1])


def _luma(x: torch.Tensor) -> torch.Tensor:
    w = torch.tensor(_LUMA, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    return (x * w).sum(1, keepdim=True)


def augment_pair(dark: torch.Tensor, bright: torch.Tensor, generator: torch.Generator | None,
                 cfg: AugmentConfig = AugmentConfig(), *, u: torch.Tensor | None = None
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """Augment aligned ``B x 3 x H x W`` batches: shared flips, photometric jitter on ``bright`` only.

    Draws exactly ``9 x B`` uniforms from ``generator`` (on its device) whatever the outcomes, or uses ``u``
    (``9 x B``, drawn earlier: a rank augmenting its rows of a global batch passes its columns).
    """
    if dark.shape != bright.shape or dark.ndim != 4 or dark.shape[1] != 3:
        raise ValueError(f"augment_pair needs two B x 3 x H x W batches of one shape, got {tuple(dark.shape)} "
                         f"and {tuple(bright.shape)}")
    b = dark.shape[0]
    if u is None:
        u = torch.rand((9, b), generator=generator, device=generator.device)
    u = u.to(dark.device, dark.dtype)

    def col(v):
        return v.view(b, 1, 1, 1)

    hflip, vflip = col(u[0] < cfg.p_hflip), col(u[1] < cfg.p_vflip)
    dark = torch.where(hflip, dark.flip(-1), dark)
    bright = torch.where(hflip, bright.flip(-1), bright)
    dark = torch.where(vflip, dark.flip(-2), dark)
    bright = torch.where(vflip, bright.flip(-2), bright)

    lp = binomial_lowpass(bright)
    amount = col(u[4] * (u[2] < cfg.p_filter).to(u.dtype))          # 0 = no filter
    sign = col(torch.where(u[3] < 0.5, 1.0, -1.0).to(u.dtype))        # +1 blur, -1 sharpen
    bright = bright + sign * amount * (lp - bright)
    bright = bright * col(1 - cfg.brightness + 2 * cfg.brightness * u[5])
    y = _luma(bright)
    bright = y + col(1 - cfg.saturation + 2 * cfg.saturation * u[6]) * (bright - y)
    bright = torch.where(col(u[7] < cfg.p_grey), _luma(bright).expand_as(bright), bright)
    # u[8] is reserved (kept so the draw count stays fixed if a further jitter is added)
    return dark.contiguous(), bright.clamp(0, 1).contiguous()
