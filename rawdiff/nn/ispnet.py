"""ISPNet: a lightweight learned ISP in the spirit of LiteISPNet (Zhang et al., ICCV-21, "Learning RAW-to-sRGB
Mappings with Inaccurately Aligned Supervision"), which DiffRAW uses to make its test-time colour-position
condition c_test = x_test = ISPNet(w) (DESIGN.md §3).

Input: the packed RAW w (N x 4 x h x w, RGGB, normalised) plus two coordinate channels (the pixel's
position in the *full* frame, in [-1, 1]; LiteISPNet feeds coordinates so the net can learn position-
dependent effects such as lens shading).  Output: sRGB at 2h x 2w through a pixel shuffle (Shi et al.,
CVPR-16).  Body: a two-level encoder/decoder of residual blocks with channel attention (RCAB, Zhang et
al., ECCV-18, as in LiteISPNet), width ``ISPNetConfig.channels``, ``num_blocks`` blocks per level.
Trained with L1 against the DSLR target (rawdiff.diffraw.train.train_ispnet).  Our own code; much
smaller than LiteISPNet (~9M parameters) at the smoke/medium presets.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from rawdiff.config import ISPNetConfig


def coord_grid(n: int, h: int, w: int, *, top: int = 0, left: int = 0, full: tuple[int, int] | None = None,
               device: torch.device | str | None = None, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """N x 2 x h x w coordinates (x, y) in [-1, 1] of a packed-RAW window at (top, left) of a ``full`` frame.

    ``full`` = (H, W) of the whole packed frame (default: the window itself).  Pixel centres map to
    (2 i + 1) / H - 1, so a crop's coordinates equal those of the same pixels in the whole frame.
    """
    H, W = full if full is not None else (h, w)
    ys = (2 * (torch.arange(h, device=device, dtype=dtype) + top) + 1) / H - 1
    xs = (2 * (torch.arange(w, device=device, dtype=dtype) + left) + 1) / W - 1
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([gx, gy]).unsqueeze(0).expand(n, 2, h, w)


class RCAB(nn.Module):
    """Residual block with channel attention (squeeze-and-excitation)."""

    def __init__(self, ch: int, reduction: int = 4):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(ch, ch, 3, padding=1), nn.LeakyReLU(0.2, inplace=True),
                                  nn.Conv2d(ch, ch, 3, padding=1))
        mid = max(ch // reduction, 4)
        self.ca = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(ch, mid, 1), nn.ReLU(inplace=True),
                                nn.Conv2d(mid, ch, 1), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.body(x)
        return x + h * self.ca(h)


class ISPNet(nn.Module):
    """Packed RAW (+ coordinates) -> sRGB at twice the packed resolution.  ``forward(raw, coords=None)``.

    Output is in [0, 1] up to small overshoot during training; :meth:`develop` clamps it.
    """

    def __init__(self, cfg: ISPNetConfig = ISPNetConfig()):
        super().__init__()
        self.cfg = cfg
        c = cfg.channels
        nb = max(1, cfg.num_blocks)
        self.head = nn.Conv2d(4 + 2, c, 3, padding=1)
        self.enc = nn.Sequential(*[RCAB(c) for _ in range(max(1, nb // 2))])
        self.down = nn.Conv2d(c, 2 * c, 3, stride=2, padding=1)
        self.mid = nn.Sequential(*[RCAB(2 * c) for _ in range(nb)])
        self.up = nn.Sequential(nn.Conv2d(2 * c, 4 * c, 3, padding=1), nn.PixelShuffle(2))
        self.fuse = nn.Conv2d(2 * c, c, 1)
        self.dec = nn.Sequential(*[RCAB(c) for _ in range(max(1, nb // 2))])
        self.tail = nn.Sequential(nn.Conv2d(c, 3 * 4, 3, padding=1), nn.PixelShuffle(2))

    def forward(self, raw: torch.Tensor, coords: torch.Tensor | None = None) -> torch.Tensor:
        n, _, h, w = raw.shape
        if coords is None:
            coords = coord_grid(n, h, w, device=raw.device, dtype=raw.dtype)
        x = torch.cat([raw, coords.to(raw)], 1)
        ph, pw = h % 2, w % 2
        if ph or pw:  # the encoder halves the size once
            x = F.pad(x, (0, pw, 0, ph), mode="replicate")
        f0 = self.enc(F.leaky_relu(self.head(x), 0.2))
        f1 = self.up(self.mid(self.down(f0)))
        f = self.dec(self.fuse(torch.cat([f0, f1], 1)))
        out = self.tail(f)
        return out[..., :2 * h, :2 * w] + 0.5

    @torch.no_grad()
    def develop(self, raw: torch.Tensor, coords: torch.Tensor | None = None) -> torch.Tensor:
        """Inference: sRGB in [0, 1]."""
        return self(raw, coords).clamp(0, 1)

