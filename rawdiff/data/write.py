"""Writing images: 8-bit PNG/JPEG/TIFF and 16-bit PNG/TIFF RGB (``rawdiff develop`` / ``enhance`` outputs), 16-bit
single-channel PNG (Bayer mosaics of our ZRR-layout data), atomically by default.  The 16-bit RGB PNG and TIFF
encoders are our own (PIL writes 16-bit greyscale only): PNG per the W3C PNG specification (IHDR, one zlib IDAT of
unfiltered rows, IEND), TIFF baseline uncompressed RGB (TIFF 6.0, one strip).  Reading is rawdiff.data.io.

Writers produce deterministic bytes (PIL's PNG/JPEG encoders add no timestamps), so the same array always gives
the same file and the same sha256.  ``atomic=True`` writes through a temp file + rename
(:func:`rawdiff.utils.atomic_write_bytes`); the dataset writers use ``atomic=False`` inside a temp directory that
is itself renamed into place (:func:`rawdiff.utils.atomic_dir`).
"""
from __future__ import annotations

import io
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import torch

from rawdiff.errors import DataError
from rawdiff.utils import atomic_write_bytes

__all__ = ["OUTPUT_FORMATS", "encode_image", "encode_png16", "rgb_to_tensor", "to_uint8", "write_image", "write_png16"]


def to_uint8(img: torch.Tensor | np.ndarray) -> np.ndarray:
    """``3 x H x W`` float in [0, 1] (tensor or array) or ``H x W x 3`` uint8 -> ``H x W x 3`` uint8 (rounded)."""
    if isinstance(img, torch.Tensor):
        img = img.detach().to("cpu", torch.float32)
        if img.ndim != 3 or img.shape[0] != 3:
            raise ValueError(f"to_uint8: expected a 3 x H x W image, got {tuple(img.shape)}")
        return (img.clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).contiguous().numpy()
    arr = np.asarray(img)
    if arr.dtype == np.uint8 and arr.ndim == 3 and arr.shape[2] == 3:
        return arr
    raise ValueError(f"to_uint8: expected a 3 x H x W float tensor or H x W x 3 uint8 array, got "
                     f"{arr.dtype} {arr.shape}")


def rgb_to_tensor(arr: np.ndarray) -> torch.Tensor:
    """``H x W x 3`` uint8 -> ``3 x H x W`` float32 in [0, 1]."""
    return torch.from_numpy(np.array(arr, dtype=np.float32)).permute(2, 0, 1).div_(255.0).contiguous()


def encode_png16(arr: np.ndarray | torch.Tensor) -> bytes:
    """PNG bytes of an ``H x W`` integer array in [0, 65535] (16-bit greyscale)."""
    from PIL import Image

    a = arr.detach().cpu().numpy() if isinstance(arr, torch.Tensor) else np.asarray(arr)
    if a.ndim != 2:
        raise ValueError(f"encode_png16: expected an H x W array, got shape {a.shape}")
    if a.dtype != np.uint16:
        if not np.issubdtype(a.dtype, np.integer) or (a.size and (a.min() < 0 or a.max() > 65535)):
            raise ValueError(f"encode_png16: expected integers in [0, 65535], got {a.dtype}")
        a = a.astype(np.uint16)
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(a)).save(buf, format="PNG")
    return buf.getvalue()


def _write(path: str | os.PathLike, data: bytes, atomic: bool) -> Path:
    p = Path(path)
    if atomic:
        return atomic_write_bytes(p, data)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data)
    return p


def write_png16(path: str | os.PathLike, arr: np.ndarray | torch.Tensor, *, atomic: bool = True) -> Path:
    """Write an ``H x W`` integer array as a 16-bit single-channel PNG."""
    return _write(path, encode_png16(arr), atomic)


#: output suffix -> (format, allowed bit depths): the one image writer (``rawdiff develop``, ``enhance``, data)
OUTPUT_FORMATS = {".png": ("PNG", (8, 16)), ".jpg": ("JPEG", (8,)), ".jpeg": ("JPEG", (8,)),
                  ".tif": ("TIFF", (8, 16)), ".tiff": ("TIFF", (8, 16))}


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
    x = x.detach().float().clamp(0, 1)
    if bit_depth == 16:
        a16 = np.round(x.permute(1, 2, 0).cpu().numpy() * 65535.0).astype(np.uint16)
        return _png16(a16) if fmt == "PNG" else _tiff16(a16)
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(to_uint8(x)).save(buf, format=fmt, **({"quality": int(quality)} if fmt == "JPEG" else {}))
    return buf.getvalue()


def write_image(img: torch.Tensor, path: str | os.PathLike, bit_depth: int = 8, *, quality: int = 95,
                atomic: bool = True) -> Path:
    """Write ``img`` (atomically by default) in the format its suffix names (see :func:`encode_image`)."""
    p = Path(path)
    try:
        data = encode_image(img, p.suffix, bit_depth, quality)
    except DataError as err:
        raise DataError(f"{p}: {err}") from None
    return _write(p, data, atomic)
