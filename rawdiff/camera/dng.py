"""Write Bayer DNGs of synthetic "cameras" (pidng), for tests, benchmarks and for checking a RAW pipeline end to end.

A scene in linear sRGB is seen through a camera's sensor response ``rgb2cam`` (rows sum to 1, so greys stay
grey), divided by the white-balance gains of the scene illuminant (what a sensor records), mosaicked in the
camera's CFA layout and quantised between its per-channel black level and white level.  The DNG carries what a
real camera's file carries: ``AsShotNeutral`` (1 / gains), ``ColorMatrix1`` (XYZ -> camera, D65), the black
and white levels, the CFA pattern and the EXIF orientation.  rawpy / LibRaw read these files bit-exact, so the
ingestion path (:mod:`rawdiff.camera.rawfile`) can be checked against the known scene.

:data:`CAMERAS` holds two cameras far from the training distribution's (an older GRBG sensor with a strong red
gain, a phone-like BGGR sensor under warm light); :func:`grey_chart` a scene with flat grey patches for colour
checks (CIEDE2000 of each patch's mean to the grey of the same lightness: :func:`grey_errors`).
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from rawdiff.camera.bayer import OFFSETS, mosaic, pack
from rawdiff.camera.rawfile import XYZ_FROM_SRGB, reference_camera

__all__ = ["CAMERAS", "GREYS", "camera_dng", "grey_chart", "grey_errors", "reference_recording", "smooth_field",
           "write_bayer_dng"]

#: synthetic cameras: sensor response ``rgb2cam`` (rows sum to 1), white-balance gains of the scene illuminant,
#: CFA layout, per-channel black levels (raster order of the 2x2 cell), white level.
CAMERAS = {
    "old-grbg": {"rgb2cam": [[0.55, 0.35, 0.10], [0.20, 0.65, 0.15], [0.05, 0.30, 0.65]], "wb": (2.6, 1.0, 1.3),
                 "pattern": "GRBG", "black": (150, 150, 150, 150), "white": 4095},
    "phone-bggr": {"rgb2cam": [[0.90, 0.15, -0.05], [0.10, 0.80, 0.10], [0.00, 0.25, 0.75]], "wb": (1.5, 1.0, 2.8),
                   "pattern": "BGGR", "black": (64, 70, 66, 72), "white": 16000},
}
#: linear grey levels of :func:`grey_chart`'s patches (sRGB ~ 0.25, 0.46, 0.66, 0.85)
GREYS = (0.05, 0.18, 0.4, 0.7)


def _rat(values) -> list[list[int]]:
    return [[round(float(v) * 10000), 10000] for v in np.ravel(values)]


def write_bayer_dng(path: str | Path, dn: np.ndarray, pattern: str = "RGGB", black: Sequence[int] = (64,) * 4,
                    white: int = 4000, neutral=None, color_matrix=None, orientation: int = 1) -> Path:
    """A Bayer DNG of the uint16 mosaic ``dn``: ``black`` per 2x2 cell (raster order), ``neutral`` the
    AsShotNeutral, ``color_matrix`` the XYZ -> camera ColorMatrix1 (D65), EXIF ``orientation`` (1-8)."""
    from pidng.core import RAW2DNG, DNGTags, Tag
    from pidng.defs import (
        CalibrationIlluminant,
        CFAPattern,
        DNGVersion,
        PhotometricInterpretation,
    )

    path = Path(path)
    h, w = dn.shape
    tags = [(Tag.ImageWidth, w), (Tag.ImageLength, h), (Tag.TileWidth, w), (Tag.TileLength, h),
            (Tag.Orientation, int(orientation)),
            (Tag.PhotometricInterpretation, PhotometricInterpretation.Color_Filter_Array),
            (Tag.SamplesPerPixel, 1), (Tag.BitsPerSample, 16), (Tag.CFARepeatPatternDim, [2, 2]),
            (Tag.CFAPattern, getattr(CFAPattern, pattern)), (Tag.BlackLevelRepeatDim, [2, 2]),
            (Tag.BlackLevel, [int(b) for b in black]), (Tag.WhiteLevel, int(white)), (Tag.Make, "rawdiff"),
            (Tag.Model, "synthetic"), (Tag.DNGVersion, DNGVersion.V1_4), (Tag.DNGBackwardVersion, DNGVersion.V1_2)]
    if color_matrix is not None:
        tags += [(Tag.ColorMatrix1, _rat(color_matrix)), (Tag.CalibrationIlluminant1, CalibrationIlluminant.D65)]
    if neutral is not None:
        tags += [(Tag.AsShotNeutral, _rat(neutral))]
    t = DNGTags()
    for tag, value in tags:
        t.set(tag, value)
    r = RAW2DNG()
    r.options(t, path="", compress=False)
    path.write_bytes(bytes(r.convert(np.ascontiguousarray(dn, dtype=np.uint16))))
    return path


def camera_dng(path: str | Path, lin: torch.Tensor, cam: dict, orientation: int = 1, metadata: bool = True) -> Path:
    """``lin`` (``1 x 3 x H x W`` linear sRGB in [0, 1]) as camera ``cam`` records it (see the module doc), written
    as a DNG; ``metadata=False`` leaves out AsShotNeutral and ColorMatrix1 (a file without colour metadata)."""
    m = torch.tensor(cam["rgb2cam"], dtype=torch.float64)
    raw = torch.einsum("ij,njhw->nihw", m, lin.double()) / torch.tensor(cam["wb"], dtype=torch.float64).view(1, 3, 1, 1)
    mos = mosaic(raw.clamp(0, 1), cam["pattern"])[0, 0].numpy()
    black = np.zeros(mos.shape)
    for k, (dy, dx) in enumerate(OFFSETS):
        black[dy::2, dx::2] = cam["black"][k]
    dn = np.round(mos * (cam["white"] - black) + black).astype(np.uint16)
    cm = (m @ torch.linalg.inv(XYZ_FROM_SRGB.double())).numpy() if metadata else None      # XYZ -> camera
    neutral = [1 / g for g in cam["wb"]] if metadata else None
    return write_bayer_dng(path, dn, cam["pattern"], cam["black"], cam["white"], neutral, cm, orientation)


def reference_recording(lin: torch.Tensor, crop: tuple[int, int] = (0, 0)) -> torch.Tensor:
    """``lin`` as the reference camera (:func:`rawdiff.camera.rawfile.reference_camera`, the mean training camera)
    records it: packed RGGB in [0, 1], after dropping ``crop`` (rows, cols) at the top/left and keeping an even size
    — what :func:`rawdiff.camera.rawfile.to_reference_camera` should give for a file of that scene."""

    ref = reference_camera()
    cam = torch.einsum("ij,njhw->nihw", ref.rgb2cam[0], lin) / (ref.wb_gains() * ref.rgb_gain[:, None]).view(1, 3, 1, 1)
    cy, cx = crop
    h, w = (lin.shape[-2] - cy) // 2 * 2, (lin.shape[-1] - cx) // 2 * 2
    return pack(mosaic(cam[..., cy:cy + h, cx:cx + w].clamp(0, 1), "RGGB"))


def smooth_field(h: int, w: int, seed: int = 0) -> torch.Tensor:
    """A smooth random colour field ``1 x 3 x h x w`` in linear [0.04, 0.84] (bicubic from 4 x 6 random colours)."""
    g = torch.Generator().manual_seed(seed)
    return torch.nn.functional.interpolate(torch.rand(1, 3, 4, 6, generator=g), size=(h, w), mode="bicubic",
                                           align_corners=False).clamp(0, 1) * 0.8 + 0.04


def grey_chart(h: int = 128, w: int = 192, seed: int = 0, greys: Sequence[float] = GREYS
               ) -> tuple[torch.Tensor, list[tuple[slice, slice]]]:
    """A smooth, colourful linear-sRGB scene (values in [0.04, 0.84]) with ``len(greys)`` flat grey patches in
    its top band, each ~w/5 wide; returns ``(1 x 3 x h x w scene, [(rows, cols)] of each patch's inner half)``.
    The colourful surround keeps a grey-world guess from being right by construction."""
    x = smooth_field(h, w, seed)
    n = len(greys)
    step = w // n
    side = min(int(step * 0.85), h // 3)
    top, inner = h // 16, []
    for k, v in enumerate(greys):
        left = k * step + (step - side) // 2
        x[..., top:top + side, left:left + side] = float(v)
        q = side // 4
        inner.append((slice(top + q, top + side - q), slice(left + q, left + side - q)))
    return x, inner


def grey_errors(img: torch.Tensor, patches: Sequence[tuple[slice, slice]], offset: tuple[int, int] = (0, 0)
                ) -> list[float]:
    """CIEDE2000 between each patch's mean colour in ``img`` (``1 x 3 x H x W`` sRGB in [0, 1]) and the neutral
    grey of the same lightness; ``offset`` (rows, cols) is subtracted from the patch positions (a reader's crop)."""
    from skimage.color import deltaE_ciede2000, rgb2lab

    out = []
    for ys, xs in patches:
        ys, xs = slice(ys.start - offset[0], ys.stop - offset[0]), slice(xs.start - offset[1], xs.stop - offset[1])
        lab = rgb2lab(img[0, :, ys, xs].double().mean((1, 2)).clamp(0, 1).numpy()[None, None])
        out.append(float(deltaE_ciede2000(lab, np.array([[[lab[0, 0, 0], 0.0, 0.0]]]))[0, 0]))
    return out
