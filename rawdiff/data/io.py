"""Image file I/O with validation: 16-bit single-channel Bayer PNGs (ZRR) and 8-bit RGB PNG/JPEG.

Every reader checks what it gets and raises a one-line :class:`rawdiff.errors.DataError` naming the file and
what was expected ("x.png: expected 16-bit single-channel PNG, got 8-bit RGB") instead of letting a numpy/PIL
traceback through.  The PNG bit depth and colour type are read from the IHDR chunk (PNG spec, ISO/IEC 15948
§11.2.2) because PIL silently reduces 16-bit RGB PNGs to 8 bits.

Writers produce deterministic bytes (PIL's PNG/JPEG encoders add no timestamps), so the same array always gives
the same file and the same sha256.  ``atomic=True`` writes through a temp file + rename
(:func:`rawdiff.utils.atomic_write_bytes`); the dataset writers use ``atomic=False`` inside a temp directory that
is itself renamed into place (:func:`rawdiff.utils.atomic_dir`).
"""
from __future__ import annotations

import io
import os
import struct
from pathlib import Path

import numpy as np
import torch

from rawdiff.errors import DataError

__all__ = [
    "describe_image",
    "encode_png16",
    "encode_rgb",
    "png_header",
    "read_bayer_png",
    "read_png16",
    "read_rgb",
    "rgb_to_tensor",
    "to_uint8",
    "write_png16",
    "write_rgb",
]

_PNG_SIG = b"\x89PNG\r\n\x1a\n"
# PNG colour type -> (name, samples per pixel)
_PNG_COLOUR = {0: ("single-channel", 1), 2: ("RGB", 3), 3: ("palette", 1), 4: ("grey+alpha", 2), 6: ("RGBA", 4)}
_PIL_MODES = {"1": "1-bit single-channel", "L": "8-bit single-channel", "LA": "8-bit grey+alpha", "P": "8-bit palette",
              "RGB": "8-bit RGB", "RGBA": "8-bit RGBA", "CMYK": "8-bit CMYK", "YCbCr": "8-bit YCbCr",
              "I;16": "16-bit single-channel", "I;16B": "16-bit single-channel", "I;16L": "16-bit single-channel",
              "I": "32-bit integer single-channel", "F": "32-bit float single-channel"}
_JPEG_SUFFIXES = {".jpg", ".jpeg"}


def _path(path: str | os.PathLike) -> Path:
    p = Path(path)
    if not p.exists():
        raise DataError(f"{p}: no such file")
    if not p.is_file():
        raise DataError(f"{p}: expected a file, found a directory")
    return p


def png_header(path: str | os.PathLike) -> dict | None:
    """``dict(width, height, bit_depth, colour_type, colour)`` from a PNG's IHDR chunk; ``None`` if not a PNG."""
    p = _path(path)
    with open(p, "rb") as f:
        head = f.read(33)
    if not head.startswith(_PNG_SIG):
        return None
    if len(head) < 33 or head[12:16] != b"IHDR":
        raise DataError(f"{p}: corrupt PNG (no IHDR header chunk)")
    width, height, depth, ctype = struct.unpack(">IIBB", head[16:26])
    name = _PNG_COLOUR.get(ctype, (f"colour type {ctype}", 0))[0]
    return {"width": width, "height": height, "bit_depth": depth, "colour_type": ctype, "colour": name}


def describe_image(path: str | os.PathLike) -> str:
    """Human description like ``"16-bit single-channel PNG"`` or ``"8-bit RGB JPEG"`` (for error messages)."""
    h = png_header(path)
    if h is not None:
        return f"{h['bit_depth']}-bit {h['colour']} PNG"
    from PIL import Image

    try:
        with Image.open(path) as im:
            return f"{_PIL_MODES.get(im.mode, im.mode)} {im.format or 'image'}"
    except Exception:  # noqa: BLE001 - any PIL failure means "not an image we know"
        return "a file that is not a readable image"


def _open_loaded(p: Path, expected: str):
    """Open and fully decode ``p`` with PIL; corrupt/truncated data -> one-line DataError."""
    from PIL import Image, UnidentifiedImageError

    try:
        im = Image.open(p)
    except UnidentifiedImageError:
        raise DataError(f"{p}: expected {expected}, got a file that is not a readable image") from None
    except OSError as err:
        raise DataError(f"{p}: cannot open ({err.strerror or err})") from None
    try:
        im.load()
    except Exception as err:  # noqa: BLE001 - PIL raises OSError/SyntaxError/zlib.error/ValueError on bad data
        msg = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise DataError(f"{p}: corrupt or truncated image data ({msg})") from None
    return im


def read_png16(path: str | os.PathLike) -> np.ndarray:
    """A 16-bit single-channel PNG as an ``H x W`` ``uint16`` array."""
    p = _path(path)
    expected = "16-bit single-channel PNG"
    h = png_header(p)
    if h is None:
        raise DataError(f"{p}: expected {expected}, got {describe_image(p)}")
    if h["bit_depth"] != 16 or h["colour_type"] != 0:
        raise DataError(f"{p}: expected {expected}, got {h['bit_depth']}-bit {h['colour']}")
    im = _open_loaded(p, expected)
    arr = np.asarray(im)
    if arr.ndim != 2:
        raise DataError(f"{p}: expected {expected}, decoded shape {arr.shape}")
    return arr.astype(np.uint16, copy=False)


def read_bayer_png(path: str | os.PathLike) -> np.ndarray:
    """A ZRR-style Bayer mosaic: 16-bit single-channel PNG with even height and width (``H x W`` uint16)."""
    arr = read_png16(path)
    if arr.shape[0] % 2 or arr.shape[1] % 2 or arr.size == 0:
        raise DataError(f"{Path(path)}: expected even height and width for a 2x2 Bayer mosaic, "
                        f"got {arr.shape[0]}x{arr.shape[1]}")
    return arr


def read_rgb(path: str | os.PathLike) -> np.ndarray:
    """An 8-bit RGB PNG or JPEG as an ``H x W x 3`` ``uint8`` array."""
    p = _path(path)
    expected = "8-bit RGB PNG/JPEG"
    h = png_header(p)
    if h is not None and (h["bit_depth"] != 8 or h["colour_type"] != 2):
        raise DataError(f"{p}: expected 8-bit RGB PNG, got {h['bit_depth']}-bit {h['colour']}")
    im = _open_loaded(p, expected)
    if im.mode != "RGB":
        raise DataError(f"{p}: expected {expected}, got {_PIL_MODES.get(im.mode, im.mode)} {im.format or ''}".rstrip())
    arr = np.asarray(im)
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise DataError(f"{p}: expected {expected}, decoded shape {arr.shape}")
    return arr


# --------------------------------------------------------------------------------------------- writing
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


def encode_rgb(img: torch.Tensor | np.ndarray, fmt: str = "png", quality: int = 95) -> bytes:
    """PNG or JPEG (``quality``; PIL's default chroma subsampling) bytes of an RGB image."""
    from PIL import Image

    buf = io.BytesIO()
    im = Image.fromarray(to_uint8(img))
    if fmt.lower() in ("jpg", "jpeg"):
        im.save(buf, format="JPEG", quality=int(quality))
    elif fmt.lower() == "png":
        im.save(buf, format="PNG")
    else:
        raise ValueError(f"encode_rgb: unknown format {fmt!r} (png or jpeg)")
    return buf.getvalue()


def _write(path: str | os.PathLike, data: bytes, atomic: bool) -> Path:
    p = Path(path)
    if atomic:
        from rawdiff.utils import atomic_write_bytes

        return atomic_write_bytes(p, data)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data)
    return p


def write_png16(path: str | os.PathLike, arr: np.ndarray | torch.Tensor, *, atomic: bool = True) -> Path:
    """Write an ``H x W`` integer array as a 16-bit single-channel PNG."""
    return _write(path, encode_png16(arr), atomic)


def write_rgb(path: str | os.PathLike, img: torch.Tensor | np.ndarray, *, quality: int = 95,
              atomic: bool = True) -> Path:
    """Write a ``3 x H x W`` [0, 1] image (or ``H x W x 3`` uint8) as 8-bit PNG or JPEG (chosen by suffix)."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix in _JPEG_SUFFIXES:
        data = encode_rgb(img, "jpeg", quality)
    elif suffix == ".png":
        data = encode_rgb(img, "png")
    else:
        raise DataError(f"{p}: expected a .png or .jpg output path")
    return _write(p, data, atomic)
