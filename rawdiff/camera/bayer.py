"""Bayer mosaics: pack/unpack for the four 2x2 patterns, black/white levels, bit-depth quantisation.

Conventions (CONTRIBUTING.md): a mosaic is ``N x 1 x H x W`` in [0, 1]; a packed RAW is ``N x 4 x H/2 x W/2``
whose channels are the 2x2 cell positions in raster order ``[(0,0), (0,1), (1,0), (1,1)]``.  For RGGB that is
(R, G1, G2, B), as in ZRR (R at ``[0::2, 0::2]``) and the packing used by LiteISPNet/PyNET.
"""
from __future__ import annotations

import torch

from rawdiff.errors import DataError

PATTERNS = ("RGGB", "BGGR", "GRBG", "GBRG")
_RGB = {"R": 0, "G": 1, "B": 2}
OFFSETS = ((0, 0), (0, 1), (1, 0), (1, 1))


def _check_pattern(pattern: str) -> str:
    p = pattern.upper()
    if p not in PATTERNS:
        raise ValueError(f"unknown Bayer pattern {pattern!r}; expected one of {PATTERNS}")
    return p


def channel_colors(pattern: str = "RGGB") -> tuple[int, int, int, int]:
    """RGB index (0=R, 1=G, 2=B) of each packed channel, e.g. RGGB -> (0, 1, 1, 2)."""
    return tuple(_RGB[c] for c in _check_pattern(pattern))  # type: ignore[return-value]


def to_rggb_order(pattern: str = "RGGB") -> list[int]:
    """Indices that reorder a packed RAW of ``pattern`` into (R, G1, G2, B) channel order."""
    cols = channel_colors(pattern)
    r, b = cols.index(0), cols.index(2)
    g = [i for i, c in enumerate(cols) if c == 1]
    return [r, g[0], g[1], b]


def _check_even(x: torch.Tensor, what: str) -> None:
    if x.ndim != 4:
        raise DataError(f"{what}: expected a 4-D N x C x H x W tensor, got shape {tuple(x.shape)}")
    if x.shape[-1] % 2 or x.shape[-2] % 2:
        raise DataError(f"{what}: Bayer data needs even height and width, got {tuple(x.shape[-2:])}")


def pack(mosaic: torch.Tensor, pattern: str = "RGGB") -> torch.Tensor:
    """``N x 1 x H x W`` mosaic -> ``N x 4 x H/2 x W/2`` (cell positions in raster order; pattern only validated)."""
    _check_pattern(pattern)
    _check_even(mosaic, "pack")
    if mosaic.shape[1] != 1:
        raise DataError(f"pack: expected a single-channel mosaic, got {mosaic.shape[1]} channels")
    return torch.cat([mosaic[:, :, dy::2, dx::2] for dy, dx in OFFSETS], dim=1)


def unpack(packed: torch.Tensor, pattern: str = "RGGB") -> torch.Tensor:
    """Inverse of :func:`pack`: ``N x 4 x h x w`` -> ``N x 1 x 2h x 2w``."""
    _check_pattern(pattern)
    if packed.ndim != 4 or packed.shape[1] != 4:
        raise DataError(f"unpack: expected N x 4 x h x w, got {tuple(packed.shape)}")
    n, _, h, w = packed.shape
    out = packed.new_zeros(n, 1, 2 * h, 2 * w)
    for i, (dy, dx) in enumerate(OFFSETS):
        out[:, 0, dy::2, dx::2] = packed[:, i]
    return out


def mosaic(rgb: torch.Tensor, pattern: str = "RGGB") -> torch.Tensor:
    """Sample an ``N x 3 x H x W`` image through a colour filter array -> ``N x 1 x H x W`` mosaic."""
    _check_even(rgb, "mosaic")
    cols = channel_colors(pattern)
    out = rgb.new_zeros(rgb.shape[0], 1, *rgb.shape[-2:])
    for (dy, dx), c in zip(OFFSETS, cols):
        out[:, 0, dy::2, dx::2] = rgb[:, c, dy::2, dx::2]
    return out


def packed_to_rgb_planes(packed: torch.Tensor, pattern: str = "RGGB") -> torch.Tensor:
    """Half-resolution RGB from a packed RAW (G = mean of the two greens); a quick visualisation/ISP input."""
    p = packed[:, to_rggb_order(pattern)]
    return torch.stack([p[:, 0], 0.5 * (p[:, 1] + p[:, 2]), p[:, 3]], dim=1)


def normalize_levels(raw: torch.Tensor, black: float, white: float) -> torch.Tensor:
    """Digital numbers -> [0, 1]: ``(raw - black) / (white - black)``, clamped."""
    if white <= black:
        raise ValueError(f"white level {white} must exceed black level {black}")
    return ((raw.float() - black) / (white - black)).clamp(0.0, 1.0)


def denormalize_levels(x: torch.Tensor, black: float, white: float) -> torch.Tensor:
    """[0, 1] -> digital numbers (float): ``x * (white - black) + black``."""
    return x * (white - black) + black


def quantize(x: torch.Tensor, bits: int) -> torch.Tensor:
    """Round a [0, 1] signal to ``bits`` bits (returns float in [0, 1])."""
    levels = float(2**bits - 1)
    return torch.round(x.clamp(0, 1) * levels) / levels


def to_digital(x: torch.Tensor, black: float = 63, white: float = 1020) -> torch.Tensor:
    """[0, 1] normalised RAW -> integer digital numbers (int32) with the given black/white level (ZRR: 63/1020)."""
    return torch.round(denormalize_levels(x.clamp(0, 1), black, white)).to(torch.int32)
