"""Reading image files with validation: 16-bit single-channel Bayer PNGs (ZRR) and ordinary RGB images (writing
them is rawdiff.data.write).

Every reader checks what it gets and raises a one-line :class:`rawdiff.errors.DataError` naming the file and
what was expected ("x.png: expected 16-bit single-channel PNG, got 8-bit RGB") instead of letting a numpy/PIL
traceback through.  The PNG bit depth and colour type are read from the IHDR chunk (PNG spec, ISO/IEC 15948
§11.2.2) because PIL silently reduces 16-bit RGB PNGs to 8 bits.

:func:`read_image` / :func:`read_image_tensor` is the one reader every command and loader uses for ordinary
images (PNG, JPEG, TIFF, BMP, WebP, PPM/PGM).  Its contract:

* **Errors**: every failure is a one-line :class:`DataError` "``<file>: <what was expected / what is wrong>``":
  missing, a directory, empty, a format Pillow does not recognise (text, HTML, random bytes), a known suffix
  whose content is another format (GIF bytes named ``.png``), truncated data, bad PNG CRCs, zero width or
  height, PNG bit depths the PNG spec forbids for the colour type.
* **Pixel limit** (decompression bombs): the width and height are read from the header (PNG: our own IHDR
  parse; other formats: Pillow's lazy open, which decodes nothing) and checked *before* decoding against
  ``max_pixels`` (default :data:`DEFAULT_MAX_PIXELS` = 100 MP; raise it with the ``RAWDIFF_MAX_PIXELS``
  environment variable or a ``max_pixels=`` argument; ``0`` = no limit).  Pillow's own
  ``DecompressionBombError`` never reaches the user.
* **Modes** (converted predictably to float32 in [0, 1]): RGB as is (8-bit /255); RGBA / LA / palette with
  transparency: the **alpha channel is dropped** (colours kept as stored, not composited); palette -> its RGB
  colours; L / 1-bit / 16-bit grey -> the grey value repeated in R, G, B (1-bit: 0 or 1; 16-bit: /65535);
  CMYK / YCbCr / LAB / HSV -> Pillow's conversion to RGB; 32-bit integer (``I``) -> /65535 (values must lie in
  [0, 65535]); 32-bit float TIFF (``F``) -> taken as [0, 1] intensities, clipped to [0, 1] (NaN/inf rejected).
  16-bit RGB PNGs are decoded by Pillow at 8-bit precision.  ``mode="gray"`` returns one channel (ITU-R BT.601
  luma ``0.299 R + 0.587 G + 0.114 B`` for colour images).

"""
from __future__ import annotations

import os
import struct
from pathlib import Path

import numpy as np
import torch

from rawdiff.errors import DataError

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "MAX_PIXELS_ENV",
    "describe_image",
    "max_pixels_limit",
    "png_header",
    "read_bayer_png",
    "read_image",
    "read_image_tensor",
    "read_png16",
    "read_rgb",
]

_PNG_SIG = b"\x89PNG\r\n\x1a\n"
# PNG colour type -> (name, samples per pixel)
_PNG_COLOUR = {0: ("single-channel", 1), 2: ("RGB", 3), 3: ("palette", 1), 4: ("grey+alpha", 2), 6: ("RGBA", 4)}
_PIL_MODES = {"1": "1-bit single-channel", "L": "8-bit single-channel", "LA": "8-bit grey+alpha", "P": "8-bit palette",
              "RGB": "8-bit RGB", "RGBA": "8-bit RGBA", "CMYK": "8-bit CMYK", "YCbCr": "8-bit YCbCr",
              "I;16": "16-bit single-channel", "I;16B": "16-bit single-channel", "I;16L": "16-bit single-channel",
              "I": "32-bit integer single-channel", "F": "32-bit float single-channel"}
_JPEG_SUFFIXES = {".jpg", ".jpeg"}
DEFAULT_MAX_PIXELS = 100_000_000
MAX_PIXELS_ENV = "RAWDIFF_MAX_PIXELS"
# suffix -> the Pillow format its content must have (other/unknown suffixes: the content decides)
_SUFFIX_FORMAT = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".jpe": "JPEG", ".tif": "TIFF", ".tiff": "TIFF",
                  ".bmp": "BMP", ".webp": "WEBP", ".gif": "GIF", ".ppm": "PPM", ".pgm": "PPM", ".pbm": "PPM"}
READ_FORMATS = ("PNG", "JPEG", "TIFF", "BMP", "WEBP", "PPM")
# valid PNG bit depths per colour type (PNG spec, ISO/IEC 15948 table 11.1)
_PNG_DEPTHS = {0: (1, 2, 4, 8, 16), 2: (8, 16), 3: (1, 2, 4, 8), 4: (8, 16), 6: (8, 16)}


def _path(path: str | os.PathLike) -> Path:
    p = Path(path)
    if not p.exists():
        raise DataError(f"{p}: no such file")
    if not p.is_file():
        raise DataError(f"{p}: expected a file, found a directory")
    return p


def _first_line(err: BaseException) -> str:
    msg = str(err).strip().splitlines()[0] if str(err).strip() else ""
    return msg or type(err).__name__


def max_pixels_limit(max_pixels: int | None = None) -> int:
    """The pixel limit in force: ``max_pixels`` if given, else ``$RAWDIFF_MAX_PIXELS``, else 100 MP (0 = none)."""
    if max_pixels is None:
        env = os.environ.get(MAX_PIXELS_ENV, "").strip()
        if not env:
            return DEFAULT_MAX_PIXELS
        try:
            max_pixels = int(float(env))
        except ValueError:
            raise DataError(f"{MAX_PIXELS_ENV}={env!r}: expected a whole number of pixels (0 = no limit)") from None
    if max_pixels < 0:
        raise DataError(f"--max-pixels / max_pixels must be >= 0 (0 = no limit), got {max_pixels}")
    return int(max_pixels)


def _check_pixels(p: Path, width: int, height: int, limit: int) -> None:
    if width < 1 or height < 1:
        raise DataError(f"{p}: expected an image with at least 1x1 pixels, the header says {width}x{height}")
    if limit and width * height > limit:
        raise DataError(f"{p}: {width}x{height} = {width * height} pixels exceeds the limit of {limit} pixels "
                        f"(raise it with {MAX_PIXELS_ENV}=N, or --max-pixels N in rawdiff ocr/enhance; 0 = no limit)")


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


def read_png16(path: str | os.PathLike) -> np.ndarray:
    """A 16-bit single-channel PNG as an ``H x W`` ``uint16`` array."""
    p = _path(path)
    expected = "16-bit single-channel PNG"
    h = png_header(p)
    if h is None:
        raise DataError(f"{p}: expected {expected}, got {describe_image(p)}")
    if h["bit_depth"] != 16 or h["colour_type"] != 0:
        raise DataError(f"{p}: expected {expected}, got {h['bit_depth']}-bit {h['colour']}")
    im = _open_checked(p, max_pixels_limit(), expected)
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
    im = _open_checked(p, max_pixels_limit(), expected)
    if im.mode != "RGB":
        raise DataError(f"{p}: expected {expected}, got {_PIL_MODES.get(im.mode, im.mode)} {im.format or ''}".rstrip())
    arr = np.asarray(im)
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise DataError(f"{p}: expected {expected}, decoded shape {arr.shape}")
    return arr


def _check_png_chunks(p: Path) -> None:
    """Walk a PNG's chunks (PNG spec §5.3): lengths in bounds, CRC-32 of every chunk, IEND present."""
    import zlib

    data = p.read_bytes()
    pos = len(_PNG_SIG)
    while True:
        if pos + 8 > len(data):
            raise DataError(f"{p}: corrupt or truncated PNG (file ends after {len(data)} bytes with no IEND chunk)")
        length, ctype = struct.unpack(">I4s", data[pos:pos + 8])
        name = ctype.decode("latin-1")
        end = pos + 12 + length
        if end > len(data):
            raise DataError(f"{p}: corrupt or truncated PNG (file ends inside the {name!r} chunk)")
        (crc,) = struct.unpack(">I", data[end - 4:end])
        if zlib.crc32(data[pos + 4:end - 4]) & 0xFFFFFFFF != crc:
            raise DataError(f"{p}: corrupt PNG (bad CRC in the {name!r} chunk at byte {pos})")
        if ctype == b"IEND":
            return
        pos = end


def _open_checked(p: Path, limit: int, expected: str = ""):
    """Pillow image of ``p`` opened lazily, format and size checked, then fully decoded."""
    import warnings

    from PIL import Image

    size = p.stat().st_size
    if size == 0:
        raise DataError(f"{p}: empty file (0 bytes), expected an image")
    h = png_header(p)
    if h is not None:
        if h["bit_depth"] not in _PNG_DEPTHS.get(h["colour_type"], ()):
            raise DataError(f"{p}: invalid PNG: bit depth {h['bit_depth']} is not allowed for {h['colour']} "
                            f"(PNG spec: {_PNG_DEPTHS.get(h['colour_type'], 'no such colour type')})")
        _check_pixels(p, h["width"], h["height"], limit)
        _check_png_chunks(p)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our own limit applies (above)
        try:
            im = Image.open(p)
        except Image.DecompressionBombError:
            raise DataError(f"{p}: image exceeds Pillow's pixel limit of {2 * Image.MAX_IMAGE_PIXELS / 1e6:.0f} "
                            f"MP for this format; convert it to PNG to use {MAX_PIXELS_ENV} / --max-pixels") from None
        except Exception as err:  # noqa: BLE001 - UnidentifiedImageError, SyntaxError (bad CRC), OSError, ...
            from PIL import UnidentifiedImageError

            what = ("a file that is not a readable image" if isinstance(err, UnidentifiedImageError)
                    else f"a corrupt image ({_first_line(err)})")
            expected = expected or f"an image ({'/'.join(READ_FORMATS)})"
            raise DataError(f"{p}: expected {expected}, got {what}") from None
    try:
        want = _SUFFIX_FORMAT.get(p.suffix.lower())
        if want is not None and im.format != want:
            raise DataError(f"{p}: named {p.suffix} but holds {im.format} data; rename it or convert it")
        if im.format not in READ_FORMATS:
            raise DataError(f"{p}: {im.format} images are not supported (expected {'/'.join(READ_FORMATS)})")
        _check_pixels(p, im.width, im.height, limit)
        try:
            im.load()
        except Exception as err:  # noqa: BLE001 - OSError/SyntaxError/zlib.error/ValueError on bad data
            raise DataError(f"{p}: corrupt or truncated {im.format} data ({_first_line(err)})") from None
    except BaseException:
        im.close()
        raise
    return im


def _to_float_rgb(p: Path, im) -> np.ndarray:
    """Decoded Pillow image -> ``H x W x 3`` float32 in [0, 1] (module docstring: mode conversions)."""
    mode = im.mode
    if mode == "RGB":
        return np.asarray(im, dtype=np.float32) / 255.0
    if mode in ("RGBA", "RGBX", "RGBa", "P", "PA", "CMYK", "YCbCr", "LAB", "HSV"):
        return np.asarray(im.convert("RGBA" if mode in ("P", "PA") else "RGB"), dtype=np.float32)[..., :3] / 255.0
    if mode in ("1", "L", "LA", "La"):
        grey = np.asarray(im.convert("L"), dtype=np.float32) / 255.0
        if mode == "1":
            grey = (grey > 0.5).astype(np.float32)
    elif mode.startswith("I;16") or mode == "I":
        grey = np.asarray(im, dtype=np.float32) if mode == "I" else np.asarray(im).astype(np.float32)
        if grey.size and (grey.min() < 0 or grey.max() > 65535):
            raise DataError(f"{p}: 32-bit integer image with values outside [0, 65535] is not supported")
        grey = grey / 65535.0
    elif mode == "F":
        grey = np.asarray(im, dtype=np.float32)
        if not np.isfinite(grey).all():
            raise DataError(f"{p}: float image contains NaN or infinite values")
        grey = np.clip(grey, 0.0, 1.0)
    else:
        raise DataError(f"{p}: unsupported image mode {mode!r} (expected RGB, RGBA, palette, grey, 16-bit, CMYK)")
    return np.repeat(grey[..., None], 3, axis=2)


def read_image(path: str | os.PathLike, *, mode: str = "rgb", max_pixels: int | None = None) -> np.ndarray:
    """Any supported image as ``H x W x C`` float32 in [0, 1]: ``C = 3`` (``mode="rgb"``) or 1 (``"gray"``).

    See the module docstring for the error messages, the pixel limit and the mode conversions.
    """
    if mode not in ("rgb", "gray"):
        raise ValueError(f"read_image: mode must be 'rgb' or 'gray', got {mode!r}")
    p = _path(path)
    im = _open_checked(p, max_pixels_limit(max_pixels))
    try:
        arr = _to_float_rgb(p, im)
    finally:
        im.close()
    if mode == "gray":
        arr = arr @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
        arr = arr[..., None]
    return np.ascontiguousarray(arr, dtype=np.float32)


def read_image_tensor(path: str | os.PathLike, *, mode: str = "rgb", max_pixels: int | None = None) -> torch.Tensor:
    """:func:`read_image` as a ``C x H x W`` float32 tensor."""
    return torch.from_numpy(read_image(path, mode=mode, max_pixels=max_pixels)).permute(2, 0, 1).contiguous()
