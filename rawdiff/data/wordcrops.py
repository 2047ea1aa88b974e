"""Word crops as varied as scene text, rendered offline (the word images of rawdiff.did.textbench's OCR benchmark).

DiD (Nguyen et al., WACV-24, §5) measures OCR on text photographed in the dark.  Clean rendered words on
smooth gradients are much easier than scene text, so each crop here draws, from one ``torch.Generator``:

* a word of ``rawdiff.data.text.load_words()`` in a random DejaVu font (``available_fonts()``) at a random
  line height (``height_range``, default 14-40 px on a 64-px canvas);
* a background: ``flat``, ``gradient``, ``textured`` (low-frequency mottling + grain) or ``photo`` — a band
  of a real photograph from the offline scene bank (rawdiff.data.scenes.SceneBank: photos shipped inside
  scikit-image / matplotlib), its contrast reduced by a random factor in [0.5, 1];
* a text colour whose luma differs from the local background's by >= 0.4 (readable when clean);
* **clutter** (probability ``p_clutter``): 1-3 anti-aliased line segments (wires, edges, poles) in random
  colours and widths drawn *behind* the text;
* **perspective**: a random homography moving each canvas corner by up to ``warp`` x its side;
* **blur** (probability ``p_blur``): a Gaussian of sigma U(0.4, 1.2) px (defocus / motion-free shake).

The ground-truth word is kept as the label; the canvas is ``H x W`` (default 64 x 192, a multiple of 32 so
DiD's 32-px patch cascade tiles it).  Same generator state (and the same installed photos) => same crop.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from rawdiff.data import text as T
from rawdiff.data.scenes import photo_crop
from rawdiff.data.text import luma

__all__ = ["BACKGROUNDS", "CROP_SIZE", "make_word_crop"]

BACKGROUNDS = ("flat", "gradient", "textured", "photo")
CROP_SIZE = (64, 192)


def _rand(g: torch.Generator, lo: float = 0.0, hi: float = 1.0) -> float:
    return lo + (hi - lo) * float(torch.rand((), generator=g))


def _background(kind: str, h: int, w: int, g: torch.Generator) -> torch.Tensor:
    base = torch.rand(3, generator=g) * 0.8 + 0.1
    if kind == "flat":
        return base.view(3, 1, 1).expand(3, h, w).clone()
    if kind == "gradient":
        other = (base + (torch.rand(3, generator=g) - 0.5) * 0.6).clamp(0.05, 0.95)
        ang = _rand(g, 0, 2 * math.pi)
        yy, xx = torch.meshgrid(torch.linspace(-1, 1, h), torch.linspace(-1, 1, w), indexing="ij")
        t = ((math.cos(ang) * xx + math.sin(ang) * yy) * 0.5 + 0.5).clamp(0, 1)
        return base.view(3, 1, 1) * (1 - t) + other.view(3, 1, 1) * t
    if kind == "textured":  # low-frequency mottling + fine grain (paper, fabric, concrete)
        low = F.interpolate(torch.rand(1, 3, 4, 8, generator=g) - 0.5, size=(h, w), mode="bicubic",
                            align_corners=False)[0]
        fine = torch.rand(1, h, w, generator=g) - 0.5
        return (base.view(3, 1, 1) + 0.25 * low + 0.12 * fine).clamp(0, 1)
    raise ValueError(f"unknown background {kind!r}; expected one of {BACKGROUNDS}")  # photo: _photo_band


def _text_colour(bg_luma: float, g: torch.Generator) -> torch.Tensor:
    """A colour whose luma differs from the background's by >= 0.4 (readable when clean)."""
    for _ in range(64):
        c = torch.rand(3, generator=g)
        c = c * 0.3 if bg_luma > 0.5 else 0.7 + 0.3 * c
        if abs(float(luma(c.view(3, 1))) - bg_luma) >= 0.4:
            return c
    return torch.zeros(3) if bg_luma > 0.5 else torch.ones(3)


def _homography(src: torch.Tensor, dst: torch.Tensor) -> torch.Tensor:
    """3x3 H with ``dst ~ H src`` from 4 point pairs (direct linear transform, h33 = 1)."""
    rows, rhs = [], []
    for (x, y), (u, v) in zip(src.tolist(), dst.tolist()):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y]); rhs.append(u)
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y]); rhs.append(v)
    h = torch.linalg.solve(torch.tensor(rows, dtype=torch.float64), torch.tensor(rhs, dtype=torch.float64))
    return torch.cat([h, torch.ones(1, dtype=torch.float64)]).view(3, 3)


def _warp(img: torch.Tensor, g: torch.Generator, amount: float) -> torch.Tensor:
    """Mild perspective: output corners sample input points moved by up to ``amount`` x side."""
    if amount <= 0:
        return img
    _, h, w = img.shape
    corners = torch.tensor([[-1.0, -1.0], [1.0, -1.0], [1.0, 1.0], [-1.0, 1.0]], dtype=torch.float64)
    jitter = (torch.rand(4, 2, generator=g, dtype=torch.float64) * 2 - 1) * 2 * amount
    hmat = _homography(corners, corners + jitter)  # output normalised coords -> input normalised coords
    yy, xx = torch.meshgrid(torch.linspace(-1 + 1 / h, 1 - 1 / h, h, dtype=torch.float64),
                            torch.linspace(-1 + 1 / w, 1 - 1 / w, w, dtype=torch.float64), indexing="ij")
    p = torch.stack([xx, yy, torch.ones_like(xx)], -1) @ hmat.T
    grid = (p[..., :2] / p[..., 2:]).float()[None]
    return F.grid_sample(img[None], grid, mode="bilinear", padding_mode="border", align_corners=False)[0]


def _photo_band(bank, h: int, w: int, g: torch.Generator) -> torch.Tensor:
    """An ``h x w`` band of a random bank photo (rawdiff.data.scenes.photo_crop), contrast x U(0.5, 1)."""

    sq = photo_crop(bank, w, g)
    y = int(torch.randint(0, w - h + 1, (1,), generator=g))
    band = sq[:, y:y + h]
    m = band.mean(dim=(1, 2), keepdim=True)
    return (m + _rand(g, 0.5, 1.0) * (band - m)).clamp(0, 1)


def _clutter(bg: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Draw 1-3 anti-aliased line segments (width 1-3 px, random colour, opacity 0.6-1) on ``bg``."""
    _, h, w = bg.shape
    yy, xx = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32),
                            indexing="ij")
    for _ in range(int(torch.randint(1, 4, (1,), generator=g))):
        p = torch.rand(4, generator=g) * torch.tensor([w, h, w, h], dtype=torch.float32)
        colour, width, alpha = torch.rand(3, generator=g), _rand(g, 1.0, 3.0), _rand(g, 0.6, 1.0)
        d = p[2:] - p[:2]
        t = (((xx - p[0]) * d[0] + (yy - p[1]) * d[1]) / d.pow(2).sum().clamp_min(1e-6)).clamp(0, 1)
        dist = torch.hypot(xx - p[0] - t * d[0], yy - p[1] - t * d[1])
        a = alpha * (width / 2 + 0.5 - dist).clamp(0, 1)
        bg = bg * (1 - a) + colour.view(3, 1, 1) * a
    return bg


def _gaussian_blur(img: torch.Tensor, sigma: float) -> torch.Tensor:
    r = max(1, math.ceil(3 * sigma))
    k = torch.exp(-torch.arange(-r, r + 1, dtype=torch.float32) ** 2 / (2 * sigma ** 2))
    k = (k / k.sum()).to(img.dtype)
    x = F.pad(img[None], (r, r, r, r), mode="replicate")
    x = F.conv2d(x, k.view(1, 1, 1, -1).expand(3, 1, 1, -1), groups=3)
    return F.conv2d(x, k.view(1, 1, -1, 1).expand(3, 1, -1, 1), groups=3)[0]


def make_word_crop(generator: torch.Generator, word: str | None = None, *, size: tuple[int, int] = CROP_SIZE,
                   background: str | None = None, warp: float = 0.07, height_range: tuple[int, int] = (14, 40),
                   bank=None, p_clutter: float = 0.5, p_blur: float = 0.35) -> tuple[torch.Tensor, str]:
    """One clean ``3 x H x W`` word crop and its label (module docstring).

    ``bank``: a rawdiff.data.scenes.SceneBank for ``photo`` backgrounds; without one (or an empty one) the
    random background kind is drawn from the other three (an explicit ``background="photo"`` loads the bank).
    """

    g = generator
    hh, ww = int(size[0]), int(size[1])
    if word is None:
        words = T.load_words()
        word = words[int(torch.randint(len(words), (1,), generator=g))]
    fonts = T.available_fonts()
    font = fonts[int(torch.randint(len(fonts), (1,), generator=g))]
    if background == "photo" and bank is None:
        from rawdiff.data.scenes import SceneBank

        bank = SceneBank.load()
    kinds = BACKGROUNDS if bank is not None and len(bank) else BACKGROUNDS[:3]
    kind = background or kinds[int(torch.randint(len(kinds), (1,), generator=g))]
    if kind not in BACKGROUNDS:
        raise ValueError(f"unknown background {kind!r}; expected one of {BACKGROUNDS}")
    lo, hi = height_range
    th = int(torch.randint(int(lo), int(hi) + 1, (1,), generator=g))
    th = min(th, hh - 8)
    mask = T.render_text(word, height=th, font=font, fg=(1.0, 1.0, 1.0), bg=(0.0, 0.0, 0.0), margin=0)[:1]
    mh, mw = mask.shape[-2:]
    if mw > ww - 8:  # too wide: shrink the rendered word to fit (keeps aspect)
        s = (ww - 8) / mw
        mask = F.interpolate(mask[None], size=(max(4, int(mh * s)), ww - 8), mode="bilinear",
                             align_corners=False, antialias=True)[0]
        mh, mw = mask.shape[-2:]
    if kind == "photo":
        if bank is None or not len(bank):
            raise ValueError("photo backgrounds need a scene bank with photos (rawdiff.data.scenes.SceneBank)")
        bg = _photo_band(bank, hh, ww, g)
    else:
        bg = _background(kind, hh, ww, g)
    if _rand(g) < p_clutter:
        bg = _clutter(bg, g)
    y0 = int(torch.randint(0, max(1, hh - mh - 7), (1,), generator=g)) + min(4, (hh - mh) // 2)
    x0 = int(torch.randint(0, max(1, ww - mw - 7), (1,), generator=g)) + min(4, (ww - mw) // 2)
    region = bg[:, y0:y0 + mh, x0:x0 + mw]
    colour = _text_colour(float(luma(region).mean()), g)
    region[:] = region * (1 - mask) + colour.view(3, 1, 1) * mask
    out = _warp(bg, g, _rand(g, 0.3, 1.0) * warp)
    if _rand(g) < p_blur:
        out = _gaussian_blur(out, _rand(g, 0.4, 1.2))
    return out.clamp(0, 1).contiguous(), word
