"""Global shift estimation by phase correlation (Kuglin & Hines 1975) with a Hann window and a sub-pixel peak.

Used to measure the phone-vs-DSLR misalignment (rawdiff.camera.phone) and to check that degradations keep
pixel positions (rawdiff.camera.degrade).
"""
from __future__ import annotations

import torch


def estimate_shift(a: torch.Tensor, b: torch.Tensor, eps: float = 1e-3) -> torch.Tensor:
    """Translation (dx, dy) in pixels that moves the content of ``a`` onto ``b``.

    ``a``, ``b``: ``H x W`` or ``C x H x W`` (channels averaged).  The cross-power spectrum is normalised with a
    small regulariser (``eps`` x its max) to stay robust to noise, and the peak is refined by a parabola fit.
    """
    if a.ndim == 3:
        a, b = a.mean(0), b.mean(0)
    a, b = a.double(), b.double()
    h, w = a.shape
    win = torch.hann_window(h, periodic=False, dtype=a.dtype)[:, None] * torch.hann_window(w, periodic=False,
                                                                                          dtype=a.dtype)[None]
    fa = torch.fft.fft2((a - a.mean()) * win)
    fb = torch.fft.fft2((b - b.mean()) * win)
    r = fa.conj() * fb
    r = r / (r.abs() + eps * r.abs().max())
    c = torch.fft.ifft2(r).real
    i = int(c.argmax())
    py, px = divmod(i, w)

    def refine(m1: float, m0: float, p1: float) -> float:
        den = m1 - 2 * m0 + p1
        return 0.0 if abs(den) < 1e-12 else 0.5 * (m1 - p1) / den

    dx = px + refine(float(c[py, (px - 1) % w]), float(c[py, px]), float(c[py, (px + 1) % w]))
    dy = py + refine(float(c[(py - 1) % h, px]), float(c[py, px]), float(c[(py + 1) % h, px]))
    dx = dx - w if dx > w / 2 else dx
    dy = dy - h if dy > h / 2 else dy
    return torch.tensor([dx, dy])
