"""Rendered text for the low-light OCR benchmark (DiD, Nguyen et al. WACV-24, §5: OCR on dark text).

DiD judges reconstructions by whether an OCR engine can read the words in them.  We have no download,
so words come from a small shipped list (``words.txt``) and glyphs from the DejaVu TrueType fonts that
matplotlib ships; PIL rasterises them (anti-aliased).  Everything random comes from an injected
``torch.Generator``, so the same seed gives the same scene, words and boxes.

Conventions (CONTRIBUTING.md): images are float32 sRGB in [0, 1], channel-first (3 x H x W here,
unbatched, because a scene is one image); boxes are ``(x0, y0, x1, y1)`` in pixels with exclusive ends.
"""
from __future__ import annotations

import functools
import math
from pathlib import Path

import numpy as np
import torch

from rawdiff.errors import DataError

__all__ = ["load_words", "available_fonts", "render_text", "text_scene"]

_WORDS_FILE = Path(__file__).with_name("words.txt")


@functools.lru_cache(maxsize=1)
def _words_cached() -> tuple[str, ...]:

    try:
        lines = _WORDS_FILE.read_text(encoding="utf-8").splitlines()
    except OSError as err:
        raise DataError(f"{_WORDS_FILE}: cannot read the word list ({err.strerror})") from None
    words = tuple(w.strip().lower() for w in lines if w.strip() and not w.startswith("#"))
    bad = [w for w in words if not (w.isascii() and w.isalnum())]
    if bad or not words:
        raise DataError(f"{_WORDS_FILE}: expected one lowercase/digit word per line, got {bad[:3] or 'nothing'}")
    return words


def load_words() -> list[str]:
    """The shipped word list: ~1000 common English words (3-10 letters) plus a few alphanumeric tokens.

    All characters are in the 36-symbol set (digits + lowercase) used by the DiD OCR protocol.
    """
    return list(_words_cached())


def available_fonts() -> list[Path]:
    """DejaVu TrueType files shipped by matplotlib (Sans, Serif, Mono and their bold/oblique variants).

    The ``*Display`` files are left out: they hold only a handful of glyphs.
    """
    import matplotlib

    ttf = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    fonts = sorted(p for p in ttf.glob("DejaVu*.ttf") if "Display" not in p.name)
    if not fonts:  # pragma: no cover - matplotlib always ships them
        from rawdiff.errors import DataError

        raise DataError(f"{ttf}: expected matplotlib's DejaVu*.ttf fonts, found none")
    return fonts


def _resolve_font(font: str | Path | None) -> Path:
    if font is None:
        fonts = available_fonts()
        return next((p for p in fonts if p.name == "DejaVuSans.ttf"), fonts[0])
    p = Path(font)
    if p.exists():
        return p
    for cand in available_fonts():  # allow "DejaVuSerif" / "DejaVuSerif.ttf"
        if cand.name == p.name or cand.stem == p.name:
            return cand

    raise DataError(f"{font}: expected a TrueType font file or one of {[f.stem for f in available_fonts()]}")


@functools.lru_cache(maxsize=256)
def _font_for_height(path: str, height: int):
    """Largest PIL font whose ascent + descent fits in ``height`` pixels."""
    from PIL import ImageFont

    size = max(1, int(height))
    f = ImageFont.truetype(path, size)
    asc, desc = f.getmetrics()
    size = max(1, int(math.floor(size * height / max(asc + desc, 1))))
    while True:
        f = ImageFont.truetype(path, size)
        asc, desc = f.getmetrics()
        if asc + desc <= height or size == 1:
            return f
        size -= 1


def _render_mask(text: str, height: int, font_path: Path, margin: int) -> np.ndarray:
    """Anti-aliased coverage mask (float32 in [0, 1]) of ``text``: shape (height + 2m, width + 2m)."""
    from PIL import Image, ImageDraw

    f = _font_for_height(str(font_path), int(height))
    if text:
        x0, _, x1, _ = f.getbbox(text, anchor="la")
        width = int(math.ceil(max(x1, f.getlength(text)))) - min(int(x0), 0)
        off = -min(int(x0), 0)
    else:
        width, off = 0, 0
    img = Image.new("L", (width + 2 * margin, height + 2 * margin), 0)
    if text:
        ImageDraw.Draw(img).text((margin + off, margin), text, fill=255, font=f, anchor="la")
    return np.asarray(img, dtype=np.float32) / 255.0


def render_text(text: str, *, height: int = 32, font: str | Path | None = None,
                fg=(0.0, 0.0, 0.0), bg=(1.0, 1.0, 1.0), margin: int = 8) -> torch.Tensor:
    """Render ``text`` as a 3 x (height + 2*margin) x W float32 sRGB image in [0, 1].

    ``height`` is the line height in pixels (font ascent + descent); W fits the text plus ``2*margin``.
    ``font`` is a TTF path or a DejaVu name (default DejaVuSans).  Colours are sRGB triples in [0, 1].
    """
    if int(height) < 4:
        raise ValueError(f"render_text: height must be >= 4 pixels, got {height}")
    if int(margin) < 0:
        raise ValueError(f"render_text: margin must be >= 0, got {margin}")
    a = torch.from_numpy(_render_mask(str(text), int(height), _resolve_font(font), int(margin)))[None]
    fg_t = torch.tensor(fg, dtype=torch.float32).view(3, 1, 1)
    bg_t = torch.tensor(bg, dtype=torch.float32).view(3, 1, 1)
    return (bg_t * (1 - a) + fg_t * a).clamp(0, 1).contiguous()


# --------------------------------------------------------------------------------------------------
# scenes with text
# --------------------------------------------------------------------------------------------------

def luma(rgb: torch.Tensor) -> torch.Tensor:
    """Rec. 709 luma of sRGB values (last dim or dim 0 = 3) — a cheap contrast proxy."""
    w = torch.tensor([0.2126, 0.7152, 0.0722], dtype=rgb.dtype, device=rgb.device)
    return (rgb * w.view(3, *([1] * (rgb.dim() - 1)))).sum(0)


def _procedural_background(size: int, g: torch.Generator) -> torch.Tensor:
    """Smooth coloured gradient + low-frequency mottling: a plain backdrop for text (3 x size x size)."""
    c = torch.rand(2, 3, 1, 1, generator=g) * 0.8 + 0.1
    ang = float(torch.rand((), generator=g)) * 2 * math.pi
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, size), torch.linspace(-1, 1, size), indexing="ij")
    t = ((math.cos(ang) * xx + math.sin(ang) * yy) * 0.5 + 0.5).clamp(0, 1)[None]
    img = c[0] * (1 - t) + c[1] * t
    blobs = torch.rand(1, 3, 5, 5, generator=g) - 0.5
    blobs = torch.nn.functional.interpolate(blobs, size=(size, size), mode="bicubic", align_corners=True)[0]
    return (img + 0.15 * blobs).clamp(0, 1)


def _contrasting_colour(bg_luma: float, g: torch.Generator) -> torch.Tensor:
    """A random sRGB colour whose luma differs from ``bg_luma`` by at least ~0.45 (readable text)."""
    dark = bg_luma > 0.5
    for _ in range(32):
        c = torch.rand(3, generator=g)
        c = c * 0.35 if dark else 0.65 + c * 0.35
        if abs(float(luma(c.view(3, 1))) - bg_luma) >= 0.45:
            return c
    return torch.zeros(3) if dark else torch.ones(3)


def text_scene(size: int, generator: torch.Generator, *, n_words: int = 3,
               background: torch.Tensor | None = None
               ) -> tuple[torch.Tensor, list[str], list[tuple[int, int, int, int]]]:
    """A 3 x size x size sRGB scene with up to ``n_words`` random words on a background.

    Each word gets a random DejaVu font, a line height between ``size/14`` and ``size/5`` (>= 10 px), and
    a colour chosen to contrast with the background under it (luma difference >= 0.45); half the time it
    sits on a contrasting "sign" plate, like text found in photos.  Words never overlap (4 px gap); a word
    that does not fit after several tries is dropped, so fewer than ``n_words`` may be returned.
    Returns ``(image, words, boxes)``; boxes are tight ink bounding boxes ``(x0, y0, x1, y1)``, exclusive.
    ``background`` (3 x size x size in [0, 1]) is used as given; default: a procedural gradient.
    """
    g = generator
    size = int(size)
    if size < 16:
        raise ValueError(f"text_scene: size must be >= 16, got {size}")
    if background is None:
        img = _procedural_background(size, g)
    else:
        if tuple(background.shape) != (3, size, size):
            raise ValueError(f"text_scene: background must be 3 x {size} x {size}, got {tuple(background.shape)}")
        img = background.detach().to("cpu", torch.float32).clone()
    words_all, fonts = _words_cached(), available_fonts()
    occupied: list[tuple[int, int, int, int]] = []
    words: list[str] = []
    boxes: list[tuple[int, int, int, int]] = []
    lo_h, hi_h = max(10, size // 14), max(11, size // 5)
    for _ in range(int(n_words)):
        word = words_all[int(torch.randint(len(words_all), (1,), generator=g))]
        font = fonts[int(torch.randint(len(fonts), (1,), generator=g))]
        h = int(torch.randint(lo_h, hi_h + 1, (1,), generator=g))
        plate = bool(torch.rand((), generator=g) < 0.5)
        pad = max(2, h // 5) if plate else 0
        mask = None
        while h >= 8:  # shrink until the word fits the width
            m = _render_mask(word, h, font, 0)
            if m.shape[1] + 2 * pad + 4 <= size:
                mask = m
                break
            h = int(h * 0.85)
        if mask is None:
            continue
        mh, mw = mask.shape
        bh, bw = mh + 2 * pad, mw + 2 * pad
        placed = None
        for _try in range(20):
            x = int(torch.randint(2, size - bw - 1, (1,), generator=g)) if size - bw - 1 > 2 else 2
            y = int(torch.randint(2, size - bh - 1, (1,), generator=g)) if size - bh - 1 > 2 else 2
            cand = (x, y, x + bw, y + bh)
            if all(cand[2] + 4 <= o[0] or o[2] + 4 <= cand[0] or cand[3] + 4 <= o[1] or o[3] + 4 <= cand[1]
                   for o in occupied):
                placed = cand
                break
        if placed is None:
            continue
        x0, y0, x1, y1 = placed
        region = img[:, y0:y1, x0:x1]
        if plate:
            plate_c = torch.rand(3, generator=g)
            region[:] = plate_c.view(3, 1, 1)
            bg_l = float(luma(plate_c.view(3, 1)))
        else:
            bg_l = float(luma(region).mean())
        colour = _contrasting_colour(bg_l, g)
        a = torch.from_numpy(mask)[None]
        sub = img[:, y0 + pad:y0 + pad + mh, x0 + pad:x0 + pad + mw]
        sub[:] = sub * (1 - a) + colour.view(3, 1, 1) * a
        ys, xs = np.nonzero(mask > 0.25)
        if len(ys) == 0:
            continue
        boxes.append((x0 + pad + int(xs.min()), y0 + pad + int(ys.min()),
                      x0 + pad + int(xs.max()) + 1, y0 + pad + int(ys.max()) + 1))
        words.append(word)
        occupied.append(placed)
    return img.clamp(0, 1).contiguous(), words, boxes
