"""Develop a real camera RAW file of any size with a trained ISPNet + DiffRAW run, and write it as photographers
expect (8-bit PNG/JPEG, or 16-bit PNG/TIFF).

Pipeline (DiffRAW, Yi et al. AAAI-24: ISPNet gives the colour condition ``c``, the DTDM refines from
``y_s = sqrt(abar_s) c + ...`` in K steps): :func:`rawdiff.camera.rawfile.read_raw_file` -> packed RGGB in [0, 1]
-> :func:`rawdiff.camera.rawfile.to_reference_camera` (the file's white balance and colour matrix, re-expressed
in the camera the nets were trained on) -> overlapping tiles (:mod:`rawdiff.tiling`, blended seams, ISPNet sees
full-frame coordinates) -> orientation of the file applied to the result.  Peak memory is the input, one batch of
tiles and the output accumulators: O(image) floats, independent of the network's activations on the full frame.
"""
from __future__ import annotations

import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from rawdiff.camera.rawfile import RawInfo, orient, read_raw_file, to_reference_camera
from rawdiff.errors import DataError
from rawdiff.nn.ispnet import coord_grid
from rawdiff.tiling import Stitcher, TileGrid, extract
from rawdiff.utils import make_generator

__all__ = ["OUTPUT_FORMATS", "Developed", "develop_file", "develop_packed", "develop_read", "encode_image", "tile_grid",
           "write_image"]

#: output suffix -> (format, allowed bit depths)
OUTPUT_FORMATS = {".png": ("PNG", (8, 16)), ".jpg": ("JPEG", (8,)), ".jpeg": ("JPEG", (8,)),
                  ".tif": ("TIFF", (8, 16)), ".tiff": ("TIFF", (8, 16))}


@dataclass(frozen=True)
class Developed:
    """A developed file: ``image`` 1 x 3 x H x W in [0, 1] (oriented), what was read (``info``), tiles used."""

    image: torch.Tensor
    info: RawInfo
    tiles: int
    colour: str = "network"   # where the low-frequency colour came from: "network" or "metadata" (colour_guide)


def tile_grid(unet, h: int, w: int, tile: int = 128, overlap: int = 16) -> TileGrid:
    """The tiles :func:`develop_packed` uses for an ``h x w`` packed RAW (sizes a multiple the UNet accepts)."""
    down = getattr(unet, "downsample_factor", 4)
    return TileGrid(h, w, tile=tile, overlap=overlap, multiple=max(1, down // 2) * 2)


@torch.no_grad()
def develop_packed(isp, unet, cfg, packed: torch.Tensor, *, steps: int | None = None, tile: int = 128,
                   overlap: int = 16, seed: int = 0, condition: str = "raw+c", batch: int = 4,
                   progress: bool = False) -> torch.Tensor:
    """Develop a packed RGGB RAW (``1 x 4 x h x w`` in [0, 1], reference-camera space) -> ``1 x 3 x 2h x 2w``.

    ``tile``/``overlap`` in packed pixels; ``batch`` tiles go through the nets together (same seed and batch
    -> same output).  ``progress`` shows a tqdm bar over tiles.
    """
    from rawdiff.diffraw.sample import develop_dtdm

    if packed.ndim != 4 or packed.shape[:2] != (1, 4):
        raise DataError(f"develop: expected a 1 x 4 x h x w packed RAW, got {tuple(packed.shape)}")
    dev = next(unet.parameters()).device
    _, _, h, w = packed.shape
    grid = tile_grid(unet, h, w, tile, overlap)
    size = grid.size
    stitch = Stitcher(grid, 3, scale=2)
    gen = make_generator(seed, dev)
    tiles = list(grid)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(tiles), desc="develop", unit="tile", leave=False)
    for i in range(0, len(tiles), max(1, batch)):
        chunk = tiles[i:i + max(1, batch)]
        win = torch.cat([extract(packed, t, size) for t in chunk]).to(dev)
        coords = torch.cat([coord_grid(1, *size, top=t.top, left=t.left, full=(h, w), device=dev) for t in chunk])
        c = isp.develop(win, coords)
        y = develop_dtdm(unet, win, c, cfg, steps, condition=condition, generator=gen).float().cpu()
        for k, t in enumerate(chunk):
            stitch.add(y[k:k + 1], t)
        if bar is not None:
            bar.update(len(chunk))
    if bar is not None:
        bar.close()
    return stitch.result().clamp_(0, 1)


def develop_file(path: str | os.PathLike, isp, unet, cfg, *, canonical: bool = True, colour: str = "auto",
                 **kw) -> Developed:
    """Read any RAW file, bring it to the reference camera (``canonical=False``: the old behaviour, raw levels
    fed as they are), develop it by tiles (``kw``: :func:`develop_packed`) and apply the file's orientation.

    ``colour`` (rawdiff.camera.colour_guide): ``"metadata"`` keeps the networks' luminance and fine colour detail
    and takes the low-frequency chromaticity from the file's own white balance and colour matrix; ``"network"``
    keeps the networks' colours; ``"auto"`` (default) = ``"metadata"`` when the file has an as-shot or daylight
    white balance and a colour matrix, else ``"network"`` (ZRR PNGs, grey-world fallback).
    """
    packed, info = read_raw_file(path)
    return develop_read(packed, info, isp, unet, cfg, canonical=canonical, colour=colour, **kw)


def develop_read(packed: torch.Tensor, info: RawInfo, isp, unet, cfg, *, canonical: bool = True,
                 colour: str = "auto", **kw) -> Developed:
    """:func:`develop_file` on a RAW already read (``read_raw_file``'s ``(packed, info)``; the CLI reads first to
    report the file before loading the networks)."""
    from rawdiff.camera.colour_guide import guide_colour, uses_metadata_colour

    use_meta = uses_metadata_colour(colour, info)
    if canonical:
        packed = to_reference_camera(packed, info)
    img = develop_packed(isp, unet, cfg, packed, **kw)
    if use_meta:
        img = guide_colour(img, packed)
    grid = tile_grid(unet, packed.shape[-2], packed.shape[-1], kw.get("tile", 128), kw.get("overlap", 16))
    return Developed(orient(img, info.flip), info, len(grid), "metadata" if use_meta else "network")


# --------------------------------------------------------------------------------------------- output files
def _png16(arr: np.ndarray) -> bytes:
    """16-bit RGB PNG (PIL writes 16-bit greyscale only): IHDR, one zlib IDAT of unfiltered rows, IEND."""
    h, w, _ = arr.shape

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    rows = np.concatenate([np.zeros((h, 1), np.uint8),
                           np.ascontiguousarray(arr, dtype=">u2").view(np.uint8).reshape(h, 6 * w)], axis=1)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows.tobytes(), 6)) + chunk(b"IEND", b""))


def _tiff16(arr: np.ndarray) -> bytes:
    """Baseline uncompressed 16-bit RGB TIFF (little endian, one strip)."""
    h, w, _ = arr.shape
    data = np.ascontiguousarray(arr, dtype="<u2").tobytes()
    n_tags = 10
    ifd_off = 8
    extra = ifd_off + 2 + 12 * n_tags + 4          # BitsPerSample values follow the IFD, then the pixels
    pix = extra + 6
    tags = [(256, 4, 1, w), (257, 4, 1, h), (258, 3, 3, extra), (259, 3, 1, 1), (262, 3, 1, 2), (273, 4, 1, pix),
            (277, 3, 1, 3), (278, 4, 1, h), (279, 4, 1, len(data)), (284, 3, 1, 1)]
    out = b"II*\x00" + struct.pack("<I", ifd_off) + struct.pack("<H", n_tags)
    for tag, typ, count, value in tags:
        out += struct.pack("<HHI", tag, typ, count) + (struct.pack("<HH", value, 0) if typ == 3 and count == 1
                                                        else struct.pack("<I", value))
    return out + struct.pack("<I", 0) + struct.pack("<HHH", 16, 16, 16) + data


def encode_image(img: torch.Tensor, suffix: str, bit_depth: int = 8, quality: int = 95) -> bytes:
    """Bytes of a ``3 x H x W`` (or ``1 x 3 x H x W``) [0, 1] image: 8-bit PNG/JPEG or 16-bit PNG/TIFF."""
    suffix = suffix.lower()
    if suffix not in OUTPUT_FORMATS:
        raise DataError(f"output must end in one of {', '.join(sorted(OUTPUT_FORMATS))}, got {suffix or '(none)'!r}")
    fmt, depths = OUTPUT_FORMATS[suffix]
    if bit_depth not in depths:
        raise DataError(f"{fmt} output supports bit depth {' or '.join(map(str, depths))}, not {bit_depth} "
                        f"(16-bit: .png or .tif; 8-bit: .png or .jpg)")
    x = img[0] if img.ndim == 4 else img
    x = x.detach().float().clamp(0, 1).permute(1, 2, 0).cpu().numpy()
    if bit_depth == 16:
        a16 = np.round(x * 65535.0).astype(np.uint16)
        return _png16(a16) if fmt == "PNG" else _tiff16(a16)
    import io

    from PIL import Image

    buf = io.BytesIO()
    im = Image.fromarray(np.round(x * 255.0).astype(np.uint8))
    im.save(buf, format=fmt, **({"quality": int(quality)} if fmt == "JPEG" else {}))
    return buf.getvalue()


def write_image(img: torch.Tensor, path: str | os.PathLike, bit_depth: int = 8) -> Path:
    """Write ``img`` atomically in the format its suffix names (see :func:`encode_image`)."""
    from rawdiff.utils import atomic_write_bytes

    p = Path(path)
    return atomic_write_bytes(p, encode_image(img, p.suffix, bit_depth))
