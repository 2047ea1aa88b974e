"""One RAW ingestion path: any Bayer camera RAW (via LibRaw/rawpy) or a ZRR Bayer PNG -> packed RGGB + metadata,
and the map of a file's colours into the *reference camera* the networks were trained on.

Reading (:func:`read_raw_file`): the visible area only (``raw_image_visible``); per-channel black and white
levels; the CFA re-indexed to RGGB by dropping one leading row and/or column where the file's 2x2 pattern does
not start with red (GRBG: first column, GBRG: first row, BGGR: both; then one trailing row/column so the size
stays even; :attr:`RawInfo.crop`); X-Trans, Foveon and other non-2x2-Bayer sensors are refused with a one-line
:class:`~rawdiff.errors.DataError`.  White balance: the as-shot gains (DNG ``AsShotNeutral``, maker notes),
else LibRaw's daylight balance (derived from the colour matrix), else a grey-world estimate; ``wb_source`` says
which.  The orientation (LibRaw ``sizes.flip``) is returned, not applied: :func:`orient` turns developed images.

Why a canonical input (:func:`to_reference_camera`).  ISPNet and the DTDM only ever saw RAWs "unprocessed"
(Brooks et al., "Unprocessing Images for Learned Raw Denoising", CVPR 2019; :mod:`rawdiff.camera.isp`) through
random cameras near one mean camera: ``rgb2cam`` = mix of identity and a row-stochastic matrix, red gain
1.9–2.4, blue gain 1.5–1.9, RGGB.  A real camera's sensor is far outside that spread (a phone DNG's ColorMatrix,
a GRBG mosaic), and the nets then apply the white balance they learned to the wrong sensor: magenta casts.
Instead of retraining on a spread of real matrices (which needs camera data we do not ship), every RAW with
colour metadata is re-expressed in the *reference camera* = the mean of
:func:`rawdiff.camera.isp.random_camera_params`: white-balance by the file's gains (clipped at white, as
dcraw/LibRaw do), map to linear sRGB by the file's camera matrix (``rgb_cam``: the row-normalised inverse of
``ColorMatrix x xyz_rgb``, the DNG/dcraw convention), then unprocess into the reference camera (its ``rgb2cam``,
WB and mean brightness gain).  No retraining, no change to the training data; the three missing colours per
site come from bilinear demosaicking (band by band, bounded memory).  Files without metadata (ZRR PNGs) pass
through unchanged: the nets learned that camera directly.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from rawdiff.camera.bayer import OFFSETS, mosaic, pack, unpack
from rawdiff.camera.isp import (
    CameraParams,
    demosaic_bilinear,
    grey_world_gains,
    random_camera_params,
)
from rawdiff.errors import DataError

__all__ = [
    "XYZ_FROM_SRGB",
    "RawInfo",
    "crop_for",
    "orient",
    "read_raw_file",
    "reference_camera",
    "rgb_cam_from_xyz",
    "to_reference_camera",
]

#: linear sRGB (D65) -> CIE XYZ (IEC 61966-2-1), dcraw's ``xyz_rgb``.
XYZ_FROM_SRGB = torch.tensor([[0.412453, 0.357580, 0.180423],
                              [0.212671, 0.715160, 0.072169],
                              [0.019334, 0.119193, 0.950227]], dtype=torch.float64)

#: rows/columns dropped at the top/left to bring each 2x2 layout's red sample to (0, 0).
_CROP = {"RGGB": (0, 0), "GRBG": (0, 1), "GBRG": (1, 0), "BGGR": (1, 1)}

RAW_SUFFIXES = frozenset({".dng", ".nef", ".nrw", ".cr2", ".cr3", ".crw", ".arw", ".srf", ".sr2", ".orf", ".rw2",
                          ".raf", ".pef", ".srw", ".raw", ".rwl", ".3fr", ".erf", ".kdc", ".mef", ".mos", ".iiq",
                          ".x3f"})
"""Camera RAW file suffixes read through rawpy/LibRaw (the one list: ``rawdiff develop`` and ``enhance``)."""


def check_input_file(path: str | os.PathLike, expected: str) -> Path:
    """``path`` as a Path if it is an existing file, else a one-line DataError (``expected`` names what it should
    be, e.g. "a RAW file") — the one input-path check of the command line."""
    p = Path(path)
    if p.is_dir():
        raise DataError(f"{p}: is a directory, expected {expected}")
    if not p.is_file():
        raise DataError(f"{p}: no such file")
    return p


ZRR_BLACK, ZRR_WHITE = 63, 1020  # Huawei P20 RAW of the Zurich RAW-to-RGB set: black and white level (DN)


def crop_for(pattern: str) -> tuple[int, int]:
    """(rows, cols) dropped at the top/left so that a ``pattern`` mosaic becomes RGGB."""
    try:
        return _CROP[pattern.upper()]
    except KeyError:
        raise DataError(f"unsupported sensor layout {pattern!r} (expected a 2x2 Bayer pattern)") from None


@dataclass(frozen=True)
class RawInfo:
    """What :func:`read_raw_file` learned about a RAW file (all levels in the file's digital numbers).

    ``cfa``: the file's own 2x2 pattern; ``crop``: (rows, cols) dropped at the top/left to reach RGGB;
    ``black``/``white``: per packed channel (R, G1, G2, B); ``wb``: R, G, B gains (G = 1) applied before the
    colour matrix; ``wb_source``: ``"as-shot"``, ``"daylight"``, ``"grey-world"`` or ``"none"`` (ZRR PNG);
    ``rgb_cam``: white-balanced camera RGB -> linear sRGB (rows sum to 1), ``None`` when the file has none;
    ``flip``: LibRaw's orientation code (bit 2: flip rows, bit 1: flip columns, then bit 4: transpose).
    """

    path: str
    source: str
    make: str = ""
    model: str = ""
    cfa: str = "RGGB"
    crop: tuple[int, int] = (0, 0)
    visible_shape: tuple[int, int] = (0, 0)
    black: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)
    white: tuple[float, float, float, float] = (1.0, 1.0, 1.0, 1.0)
    flip: int = 0
    wb: tuple[float, float, float] = (1.0, 1.0, 1.0)
    wb_source: str = "none"
    rgb_cam: tuple[tuple[float, float, float], ...] | None = None
    matrix_source: str = "none"

    def describe(self) -> str:
        """One line for the CLI: camera, CFA, levels, white balance and its source, orientation."""
        cam = f"{self.make} {self.model}".strip() or self.source
        wb = ", ".join(f"{g:.3f}" for g in self.wb)
        crop = f" (cropped {self.crop[0]} row/{self.crop[1]} col to RGGB)" if any(self.crop) else ""
        if self.wb_source == "none":
            return (f"{cam}: {self.cfa}, black {min(self.black):g}, white {min(self.white):g}, white balance none "
                    f"(no colour metadata: used as it is, the camera the networks learned)")
        return (f"{cam}: {self.cfa}{crop}, black {min(self.black):g}-{max(self.black):g}, white "
                f"{min(self.white):g}, white balance {self.wb_source} ({wb}), colour matrix {self.matrix_source}, "
                f"flip {self.flip}")


# --------------------------------------------------------------------------------------------- reading
def _cfa_pattern(raw_pattern, color_desc: str, path: Path) -> tuple[str, list[int]]:
    cfa = None if raw_pattern is None else np.asarray(raw_pattern)
    if cfa is None or cfa.shape != (2, 2):
        shape = None if cfa is None else tuple(cfa.shape)
        raise DataError(f"{path}: unsupported sensor layout (colour filter pattern of shape {shape}; only 2x2 "
                        f"Bayer sensors are supported, not X-Trans/Foveon/linear)")
    idx = [int(cfa[dy, dx]) for dy, dx in OFFSETS]
    try:
        pattern = "".join(color_desc[i] for i in idx).upper()
    except IndexError:
        pattern = "?"
    if sorted(pattern) != sorted("RGGB") or pattern not in _CROP:
        raise DataError(f"{path}: unsupported sensor layout {pattern!r} (colours {color_desc!r}; only RGB 2x2 "
                        f"Bayer patterns RGGB/BGGR/GRBG/GBRG are supported)")
    return pattern, idx


def _gains(v, desc: str) -> list[float] | None:
    """R, G, B gains (G = 1) from LibRaw's per-colour multipliers, or None when missing/degenerate."""
    v = [float(x) for x in v]
    try:
        r, g, b = (v[desc.index(c)] for c in "RGB")
    except (ValueError, IndexError):
        return None
    if not all(np.isfinite([r, g, b])) or min(r, g, b) <= 0:
        return None
    return [r / g, 1.0, b / g]


def rgb_cam_from_xyz(cam_xyz: torch.Tensor) -> torch.Tensor:
    """Camera matrix ``XYZ -> camera`` (DNG ColorMatrix, LibRaw ``rgb_xyz_matrix``) -> ``rgb_cam``.

    dcraw/DNG convention: ``cam_rgb = cam_xyz @ xyz_rgb`` with each row normalised to sum 1 (so that sRGB
    white maps to white-balanced camera white), then inverted.
    """
    cam_rgb = cam_xyz.double() @ XYZ_FROM_SRGB
    cam_rgb = cam_rgb / cam_rgb.sum(1, keepdim=True)
    return torch.linalg.inv(cam_rgb)


def _matrix(r, desc: str) -> tuple[torch.Tensor | None, str]:
    order = [desc.index(c) for c in "RGB"]
    xyz = np.asarray(r.rgb_xyz_matrix, dtype=np.float64)
    if xyz.shape[0] >= 3 and np.abs(xyz[order]).sum() > 0:
        m = rgb_cam_from_xyz(torch.from_numpy(xyz[order][:, :3]))
        if torch.isfinite(m).all():
            return m, "rgb_xyz_matrix"
    cm = np.asarray(r.color_matrix, dtype=np.float64)
    if cm.shape[0] == 3 and cm.shape[1] >= 3 and np.abs(cm).sum() > 0:
        return torch.from_numpy(cm[:, order]), "color_matrix"
    return None, "none"


def _read_libraw(p: Path):
    try:
        import rawpy
    except ImportError:
        raise DataError(f"{p}: reading camera RAW files needs rawpy (pip install rawpy)") from None
    try:
        with rawpy.imread(str(p)) as r:
            desc = r.color_desc.decode("ascii", "replace") if isinstance(r.color_desc, bytes) else str(r.color_desc)
            raw_type = str(r.raw_type)
            if "Flat" not in raw_type or int(r.num_colors) != 3:
                raise DataError(f"{p}: unsupported sensor layout ({raw_type}, {int(r.num_colors)} colours; only "
                                f"2x2 Bayer sensors are supported, not X-Trans/Foveon/linear)")
            pattern, idx = _cfa_pattern(r.raw_pattern, desc, p)
            raw = np.array(r.raw_image_visible, dtype=np.float32, copy=True)
            black_pc = [float(b) for b in r.black_level_per_channel]
            wl = r.camera_white_level_per_channel
            white_pc = [float(w) for w in wl] if wl is not None and min(wl) > 0 else [float(r.white_level)] * 4
            meta = {"flip": int(r.sizes.flip), "as_shot": _gains(r.camera_whitebalance, desc),
                    "daylight": _gains(r.daylight_whitebalance, desc)}
            meta["rgb_cam"], meta["matrix_source"] = _matrix(r, desc)
    except DataError:
        raise
    except Exception as err:  # noqa: BLE001 - rawpy raises LibRaw* classes, OSError, ...
        msg = str(err).splitlines()[0] if str(err) else ""
        raise DataError(f"{p}: not a RAW file LibRaw can read ({type(err).__name__}{': ' + msg if msg else ''})") \
            from None
    if raw.ndim != 2:
        raise DataError(f"{p}: unsupported sensor layout (image data of shape {raw.shape}; linear DNGs are not "
                        f"supported)")
    return raw, pattern, idx, black_pc, white_pc, meta


def _make_meta(p: Path) -> tuple[str, str]:
    """Make/model (TIFF tags 271/272 of IFD0) of TIFF-based RAWs (DNG, NEF, CR2, ARW, ...); rawpy does not expose
    them.  Best effort: ``("", "")`` for anything else."""
    import struct

    try:
        with open(p, "rb") as f:
            head = f.read(8)
            end = {b"II": "<", b"MM": ">"}.get(head[:2])
            if end is None or struct.unpack(end + "H", head[2:4])[0] != 42:
                return "", ""
            f.seek(struct.unpack(end + "I", head[4:8])[0])
            (n,) = struct.unpack(end + "H", f.read(2))
            entries = [struct.unpack(end + "HHI4s", f.read(12)) for _ in range(min(n, 512))]
            out = {}
            for tag, typ, count, raw in entries:
                if tag in (271, 272) and typ == 2:
                    if count > 4:
                        f.seek(struct.unpack(end + "I", raw)[0])
                        raw = f.read(min(count, 256))
                    out[tag] = raw[:count].split(b"\0")[0].decode("ascii", "replace").strip()
            return out.get(271, ""), out.get(272, "")
    except (OSError, struct.error):
        return "", ""


def read_raw_file(path: str | os.PathLike, *, normalize: bool = True) -> tuple[torch.Tensor, RawInfo]:
    """Any Bayer RAW file -> (``1 x 4 x h x w`` packed RGGB float32 in [0, 1], :class:`RawInfo`).

    Each packed channel is ``(dn - black_c) / (white_c - black_c)`` clamped to [0, 1].  ``.png`` files are
    ZRR-style 16-bit Bayer PNGs (RGGB, black 63 / white 1020, no metadata: ``wb_source="none"``); everything
    else goes through LibRaw.  ``normalize=False`` returns the digital numbers (float32, exact below 2^24).
    """
    p = Path(path)
    if not p.exists():
        raise DataError(f"{p}: no such file")
    if not p.is_file():
        raise DataError(f"{p}: expected a RAW file, found a directory")
    if p.suffix.lower() == ".png":
        from rawdiff.data.io import read_bayer_png

        dn = read_bayer_png(p).astype(np.float32)
        packed = pack(torch.from_numpy(dn)[None, None])
        if normalize:
            packed = ((packed - ZRR_BLACK) / (ZRR_WHITE - ZRR_BLACK)).clamp(0, 1)
        return packed.contiguous(), RawInfo(path=str(p), source="zrr-png", visible_shape=tuple(dn.shape),
                                            black=(float(ZRR_BLACK),) * 4, white=(float(ZRR_WHITE),) * 4)
    raw, pattern, idx, black_pc, white_pc, meta = _read_libraw(p)
    cy, cx = crop_for(pattern)
    h, w = (raw.shape[0] - cy) // 2 * 2, (raw.shape[1] - cx) // 2 * 2
    if h < 2 or w < 2:
        raise DataError(f"{p}: RAW image is too small ({raw.shape})")
    # black/white of each packed channel (R, G1, G2, B after the crop) = those of the file's colour index there
    src = [((dy + cy) % 2, (dx + cx) % 2) for dy, dx in OFFSETS]
    ci = [idx[OFFSETS.index(s)] for s in src]
    black = tuple(black_pc[c] if c < len(black_pc) else black_pc[0] for c in ci)
    white = tuple(white_pc[c] if c < len(white_pc) else white_pc[0] for c in ci)
    if min(w_ - b for w_, b in zip(white, black)) <= 0:
        raise DataError(f"{p}: white level {white} is not above the black level {black}")
    packed = pack(torch.from_numpy(raw[cy:cy + h, cx:cx + w])[None, None])
    b = torch.tensor(black).view(1, 4, 1, 1)
    norm = ((packed - b) / (torch.tensor(white).view(1, 4, 1, 1) - b)).clamp(0, 1).contiguous()
    rgb_cam = meta["rgb_cam"]
    if meta["as_shot"] is not None:
        wb, source = meta["as_shot"], "as-shot"
    elif meta["daylight"] is not None and rgb_cam is not None and len(set(meta["daylight"])) > 1:
        wb, source = meta["daylight"], "daylight"
    else:
        wb, source = grey_world_gains(norm, "RGGB")[0].tolist(), "grey-world"
    make, model = _make_meta(p)
    info = RawInfo(path=str(p), source="libraw", make=make, model=model, cfa=pattern, crop=(cy, cx),
                   visible_shape=tuple(raw.shape), black=black, white=white, flip=meta["flip"],
                   wb=tuple(float(g) for g in wb), wb_source=source,
                   rgb_cam=None if rgb_cam is None else tuple(tuple(float(v) for v in row) for row in rgb_cam.tolist()),
                   matrix_source=meta["matrix_source"])
    return (norm if normalize else packed.contiguous()), info


def orient(img: torch.Tensor, flip: int) -> torch.Tensor:
    """Apply LibRaw's orientation code to an ``... x H x W`` image (flip rows if 2, columns if 1, then transpose
    if 4): EXIF 6 (flip 6) turns it 90° clockwise, EXIF 8 (flip 5) counter-clockwise, EXIF 3 (flip 3) 180°."""
    if flip & 2:
        img = img.flip(-2)
    if flip & 1:
        img = img.flip(-1)
    if flip & 4:
        img = img.transpose(-2, -1)
    return img.contiguous()


# --------------------------------------------------------------------------------------------- canonical input
def reference_camera(n: int = 1 << 16, seed: int = 0) -> CameraParams:
    """The mean camera of :func:`random_camera_params` (``rgb2cam`` ≈ 0.7 I + 0.1, gains ≈ 2.15 / 1.7, mean
    brightness gain), estimated from ``n`` seeded draws so it follows the training distribution's code."""
    c = random_camera_params(n, torch.Generator().manual_seed(seed), device="cpu")
    return CameraParams(rgb2cam=c.rgb2cam.double().mean(0, keepdim=True).float(),
                        red_gain=c.red_gain.mean().view(1), blue_gain=c.blue_gain.mean().view(1),
                        rgb_gain=c.rgb_gain.mean().view(1))


def canonical_matrix(info: RawInfo, ref: CameraParams | None = None) -> torch.Tensor:
    """3x3 map from white-balanced camera RGB of ``info``'s file to the reference camera's RAW RGB."""
    ref = reference_camera() if ref is None else ref
    rgb_cam = torch.eye(3, dtype=torch.float64) if info.rgb_cam is None else torch.tensor(info.rgb_cam,
                                                                                             dtype=torch.float64)
    gains = (ref.wb_gains() * ref.rgb_gain[:, None])[0].double()
    return torch.diag(1.0 / gains) @ ref.rgb2cam[0].double() @ rgb_cam


@torch.no_grad()
def to_reference_camera(packed: torch.Tensor, info: RawInfo, *, band: int = 256,
                        ref: CameraParams | None = None) -> torch.Tensor:
    """Re-express a packed RGGB RAW of ``info``'s camera as one of the reference camera (see module doc).

    Per site: bilinear demosaic -> ``clip(raw * wb / min(wb), 0, 1)`` -> :func:`canonical_matrix` -> clip ->
    RGGB sample.  Processed in bands of ``band`` packed rows (plus a one-row halo, so bands join exactly).
    ``wb_source == "none"`` (ZRR PNG) returns ``packed`` unchanged.
    """
    if info.wb_source == "none":
        return packed
    m = canonical_matrix(info, ref).to(packed.dtype).to(packed.device)
    wb = torch.tensor(info.wb, dtype=packed.dtype, device=packed.device)
    wb = (wb / wb.min()).view(1, 3, 1, 1)
    h = packed.shape[-2]
    out = torch.empty_like(packed)
    for a in range(0, h, band):
        b = min(h, a + band)
        lo, hi = max(0, a - 1), min(h, b + 1)
        rgb = demosaic_bilinear(unpack(packed[..., lo:hi, :]), "RGGB")
        rgb = torch.einsum("ij,njhw->nihw", m, (rgb * wb).clamp(0, 1)).clamp(0, 1)
        out[..., a:b, :] = pack(mosaic(rgb, "RGGB"))[..., a - lo:a - lo + (b - a), :]
    return out
