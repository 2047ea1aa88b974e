"""Overlapping tiles for images of any size in bounded memory: positions, extraction and blended stitching, for
``rawdiff develop`` (one tile at a time: :class:`TileGrid`, :class:`Stitcher`) and DiD's cascade (every tile of a level
as one batch: :func:`extract_tiles`, :func:`stitch_tiles`), plus the resizing and reflect padding they need.

The idea is the usual overlap-tile / feathering scheme (e.g. Ronneberger et al.'s U-Net overlap-tile strategy,
and DiD's patch-wise inference): cut the input into ``tile`` x ``tile`` windows that overlap their neighbours
by ``overlap`` pixels, process each window on its own, and blend the outputs with weights that ramp linearly
across each shared band, so seams vanish.  One ramp formula is used everywhere (:func:`ramp`):
``w_k = (k + 0.5) / n`` over the ``n`` overlapping pixels; the two ramps of neighbouring tiles then sum to 1
inside the band, and weights are normalised by their sum anyway.

Only the current tile and the output accumulators live in memory; the output may be ``scale`` times the input
(a packed RAW ``h x w`` developing to ``2h x 2w`` RGB).
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import math
from typing import Sequence

import torch
import torch.nn.functional as F

__all__ = ["Stitcher", "Tile", "TileGrid", "extract", "ramp", "starts"]


def starts(n: int, tile: int, overlap: int) -> list[int]:
    """Start offsets of windows of size ``min(tile, n)`` covering ``[0, n)`` with >= ``overlap`` shared pixels;
    the last window ends exactly at ``n``."""
    if tile < 1 or not 0 <= overlap < tile:
        raise ValueError(f"need tile >= 1 and 0 <= overlap < tile, got tile={tile}, overlap={overlap}")
    t = min(tile, n)
    if n <= t:
        return [0]
    out = list(range(0, n - t + 1, tile - overlap))
    if out[-1] + t < n:
        out.append(n - t)
    return out


def ramp(n: int, overlap: int, lo: bool, hi: bool) -> torch.Tensor:
    """1-D blending weights of a tile ``n`` long: ``(k + 0.5) / overlap`` rising over the first ``overlap``
    pixels when ``lo`` (a neighbour before), falling over the last ``overlap`` when ``hi``, else 1."""
    r = torch.ones(n)
    ov = min(overlap, n)
    if ov > 0:
        up = (torch.arange(ov, dtype=torch.float32) + 0.5) / ov
        if lo:
            r[:ov] = torch.minimum(r[:ov], up)
        if hi:
            r[n - ov:] = torch.minimum(r[n - ov:], up.flip(0))
    return r


@dataclass(frozen=True)
class Tile:
    """One window: input rows ``top:top+h``, columns ``left:left+w`` (``h``/``w`` may be < the tile size at
    images smaller than a tile; :func:`extract` pads those)."""

    top: int
    left: int
    h: int
    w: int


@dataclass(frozen=True)
class TileGrid:
    """Tiles of an ``height`` x ``width`` input: ``tile`` x ``tile`` windows sharing ``overlap`` pixels; ``multiple``
    rounds the window size up (networks that downsample need sizes divisible by it)."""

    height: int
    width: int
    tile: int = 128
    overlap: int = 16
    multiple: int = 1

    @property
    def size(self) -> tuple[int, int]:
        """(rows, cols) of every window fed to the network (padded when the image is smaller)."""
        m = max(1, self.multiple)
        return tuple(-(-min(self.tile, n) // m) * m for n in (self.height, self.width))  # type: ignore[return-value]

    def __iter__(self) -> Iterator[Tile]:
        th, tw = self.size
        for t in starts(self.height, th, min(self.overlap, th - 1)):
            for left in starts(self.width, tw, min(self.overlap, tw - 1)):
                yield Tile(t, left, min(th, self.height - t), min(tw, self.width - left))

    def __len__(self) -> int:
        th, tw = self.size
        return len(starts(self.height, th, min(self.overlap, th - 1))) * \
            len(starts(self.width, tw, min(self.overlap, tw - 1)))


def extract(x: torch.Tensor, tile: Tile, size: tuple[int, int]) -> torch.Tensor:
    """The window ``tile`` of ``x`` (``N x C x H x W``), replicate-padded at the bottom/right to ``size``."""
    win = x[..., tile.top:tile.top + tile.h, tile.left:tile.left + tile.w]
    ph, pw = size[0] - win.shape[-2], size[1] - win.shape[-1]
    return F.pad(win, (0, pw, 0, ph), mode="replicate") if ph or pw else win


class Stitcher:
    """Accumulates blended tile outputs into an ``N x C x (scale*H) x (scale*W)`` image (on ``device``, float32)."""

    def __init__(self, grid: TileGrid, channels: int, *, batch: int = 1, scale: int = 1, device="cpu"):
        self.grid, self.scale = grid, int(scale)
        s = self.scale
        self.out = torch.zeros(batch, channels, s * grid.height, s * grid.width, device=device)
        self.wsum = torch.zeros(1, 1, s * grid.height, s * grid.width, device=device)

    def add(self, y: torch.Tensor, tile: Tile) -> None:
        """Blend one tile's output ``y`` (``N x C x scale*th x scale*tw``, padding included) in."""
        g, s = self.grid, self.scale
        hh, ww = s * tile.h, s * tile.w
        ov = s * g.overlap
        wy = ramp(hh, ov, tile.top > 0, tile.top + tile.h < g.height)
        wx = ramp(ww, ov, tile.left > 0, tile.left + tile.w < g.width)
        wt = (wy[:, None] * wx[None, :]).to(self.out.device)[None, None]
        ys, xs = slice(s * tile.top, s * tile.top + hh), slice(s * tile.left, s * tile.left + ww)
        self.out[..., ys, xs] += y[..., :hh, :ww].to(self.out) * wt
        self.wsum[..., ys, xs] += wt

    def result(self) -> torch.Tensor:
        """The blended image (divides in place: call once)."""
        return self.out.div_(self.wsum.clamp_min(1e-8))


def resize(x: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """Bilinear resize to ``size`` (antialiased when shrinking); identity when the size already matches."""
    size = (int(size[0]), int(size[1]))
    if tuple(x.shape[-2:]) == size:
        return x
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True)


def pad_reflect(x: torch.Tensor, pad_h: int, pad_w: int) -> torch.Tensor:
    """Reflect-pad at the bottom/right by ``pad_h``/``pad_w`` pixels, repeating the reflection when the pad is
    larger than the image (plain reflect padding needs ``pad < size``)."""
    while pad_h > 0 or pad_w > 0:
        h, w = x.shape[-2:]
        ph, pw = min(pad_h, h - 1), min(pad_w, w - 1)
        if (ph == 0 and pad_h > 0) or (pw == 0 and pad_w > 0):  # 1-pixel side: nothing to reflect
            x = F.pad(x, (0, pad_w, 0, pad_h), mode="replicate")
            break
        x = F.pad(x, (0, pw, 0, ph), mode="reflect")
        pad_h, pad_w = pad_h - ph, pad_w - pw
    return x


def padded_size(h: int, w: int, patch: int, levels: int) -> tuple[int, int]:
    """Smallest size >= (h, w) whose every level is a whole number of ``patch`` tiles."""
    m = patch * 2 ** (levels - 1)
    return math.ceil(h / m) * m, math.ceil(w / m) * m


def level_sizes(hp: int, wp: int, levels: int) -> list[tuple[int, int]]:
    """Working size of each level for a padded image ``hp x wp`` (coarsest first)."""
    return [(hp // 2 ** (levels - 1 - i), wp // 2 ** (levels - 1 - i)) for i in range(levels)]


def tile_positions(size: int, patch: int, overlap: int = 0) -> list[int]:
    """Tile start offsets covering ``[0, size)``: stride ``patch - overlap``, the last tile flush with the end."""
    if not 0 <= overlap < patch:
        raise ValueError(f"tile overlap must be in [0, {patch}), got {overlap}")
    if size < patch:
        raise ValueError(f"cannot tile {size} px with {patch}-px tiles")
    return starts(size, patch, overlap)


def extract_tiles(x: torch.Tensor, ys: Sequence[int], xs: Sequence[int], patch: int) -> torch.Tensor:
    """``N x C x H x W`` -> ``(N * len(ys) * len(xs)) x C x patch x patch`` (image-major, then rows, then columns)."""
    tiles = [x[:, :, y:y + patch, x0:x0 + patch] for y in ys for x0 in xs]
    return torch.stack(tiles, dim=1).flatten(0, 1)


def blend_window(patch: int, overlap: int, device=None, dtype=torch.float32) -> torch.Tensor:
    """``patch x patch`` stitching weights: all ones without overlap, else a separable trapezoid whose ramps span
    the overlap (rawdiff.tiling.ramp, the one ramp formula: ``(k + 0.5) / overlap``), so neighbours cross-fade."""
    if overlap == 0:
        return torch.ones(patch, patch, device=device, dtype=dtype)
    r = ramp(patch, overlap, lo=True, hi=True).to(device=device, dtype=dtype)
    return r[:, None] * r[None, :]


def stitch_tiles(tiles: torch.Tensor, n: int, ys: Sequence[int], xs: Sequence[int], size: tuple[int, int],
                 window: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`extract_tiles`: weighted average of the tiles (``window`` weights) on the canvas."""
    patch = tiles.shape[-1]
    t = tiles.reshape(n, len(ys) * len(xs), *tiles.shape[1:])
    out = tiles.new_zeros(n, tiles.shape[1], *size)
    wsum = tiles.new_zeros(1, 1, *size)
    k = 0
    for y in ys:
        for x0 in xs:
            out[:, :, y:y + patch, x0:x0 + patch] += t[:, k] * window
            wsum[:, :, y:y + patch, x0:x0 + patch] += window
            k += 1
    return out / wsum


def tile_edges(positions: Sequence[int], patch: int, size: int) -> list[int]:
    """Interior tile borders: every tile start > 0 and tile end < ``size`` (a border ``b`` lies between
    pixels ``b - 1`` and ``b``)."""
    return sorted({p for p in positions if p > 0} | {p + patch for p in positions if p + patch < size})
