"""Dataset readers: ZRR (real or our synthetic copy), low-light pairs (ours or LOL), SID Sony, any RAW file.

Layouts (DESIGN.md §3, data/README.md):

* ZRR (Ignatov et al. 2020): ``<split>/huawei_raw/{i}.png`` — 16-bit single-channel Bayer RGGB, 10-bit, black
  63 / white 1020 (LiteISPNet's normalisation ``(x - 63) / (1020 - 63)``) — and ``<split>/canon/{i}.jpg``.
* Low light: ours ``<split>/low|high/{i}.png`` (+ ``labels.json``, ``raw_low/``), or LOL (Wei et al., BMVC 2018)
  ``our485|eval15/low|high/*.png`` (split ``"train"`` -> our485, ``"test"`` -> eval15) or its GitHub mirror's
  ``[dataset/]train|test/low|normal/*.png`` (rawdiff.data.lol finds the layout).
* SID Sony (Chen et al., CVPR 2018): ``Sony/short|long/*.ARW`` and ``Sony_{train,val,test}_list.txt`` whose
  lines are ``./Sony/short/X_00_0.1s.ARW ./Sony/long/X_00_10s.ARW ISO... F...``; the exposure ratio is
  ``min(long / short, 300)`` from the exposure times in the file names (SID's training code caps it at 300).

The readers are map-style ``torch.utils.data.Dataset`` s.  Items are dicts of float32 tensors (``C x H x W``) read
lazily (training crops them before anything else: rawdiff.data.stream); ``.tensors()`` stacks a whole split (meant
for the small synthetic sets).  Every problem is a one-line :class:`DataError` naming the file.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from rawdiff.camera.bayer import pack
from rawdiff.camera.phone import check_meta_record, stack_meta
from rawdiff.camera.rawfile import ZRR_BLACK, ZRR_WHITE, read_raw_file
from rawdiff.data.io import describe_image, png_header, read_bayer_png, read_image_tensor
from rawdiff.data.lol import LAYOUT_HELP, locate_lowlight, lowlight_pairs, natural_key
from rawdiff.errors import DataError

__all__ = [
    "LowLightDataset",
    "SIDSonyDataset",
    "ZRRDataset",
    "natural_key",
    "read_raw",
    "read_zrr_raw",
]

_SPLITS = ("train", "test")


def _check_split(split: str, allowed=_SPLITS) -> str:
    if split not in allowed:
        raise DataError(f"unknown split {split!r}; expected one of {allowed}")
    return split


def _stems(folder: Path, suffixes: tuple[str, ...]) -> dict[str, Path]:
    return {p.stem: p for p in folder.iterdir()
            if p.is_file() and p.suffix.lower() in suffixes and not p.name.startswith(".")}


def _pair_up(a_dir: Path, a_suf: tuple[str, ...], b_dir: Path, b_suf: tuple[str, ...]) -> list[tuple[str, Path, Path]]:
    """Files of ``a_dir`` and ``b_dir`` matched by stem; any unmatched file -> DataError naming it."""
    a, b = _stems(a_dir, a_suf), _stems(b_dir, b_suf)
    for stem in sorted(set(a) ^ set(b), key=natural_key):
        have, missing_dir, suf = (a[stem], b_dir, b_suf) if stem in a else (b[stem], a_dir, a_suf)
        raise DataError(f"{have}: no matching {missing_dir}/{stem}{suf[0]} (every image needs its pair)")
    return [(s, a[s], b[s]) for s in sorted(a, key=natural_key)]


def _stack(items: list[torch.Tensor], what: str, device) -> torch.Tensor:
    if not items:
        raise DataError(f"{what}: no images to stack")
    shapes = {tuple(t.shape) for t in items}
    if len(shapes) > 1:
        raise DataError(f"{what}: images have different sizes {sorted(shapes)[:3]}; crop them before stacking")
    out = torch.stack(items)
    return out.to(device) if device is not None else out


# --------------------------------------------------------------------------------------------- RAW files
def read_zrr_raw(path: str | os.PathLike) -> torch.Tensor:
    """ZRR Bayer PNG -> packed RGGB ``4 x H/2 x W/2`` float32, ``(x - 63) / (1020 - 63)`` clamped to [0, 1]."""
    dn = torch.from_numpy(read_bayer_png(path).astype(np.float32))
    return pack(((dn - ZRR_BLACK) / (ZRR_WHITE - ZRR_BLACK)).clamp(0, 1)[None, None])[0]


def read_raw(path: str | os.PathLike, *, normalize: bool = True) -> dict:
    """Any RAW file -> ``dict(packed, pattern, black, white, meta, info)`` via
    :func:`rawdiff.camera.rawfile.read_raw_file` (the one RAW ingestion path).

    ``packed``: ``4 x h x w`` float32 in [0, 1], RGGB (``pattern`` is always ``"RGGB"``: other 2x2 layouts lose
    a leading row/column, ``info.crop``), per-channel black subtracted and divided by ``white - black``;
    ``black``: the 4 per-channel black levels (RGGB order); ``white``: the (largest) white level; ``info``: the
    :class:`~rawdiff.camera.rawfile.RawInfo` (white balance, colour matrix, orientation, ...).  ZRR-style
    16-bit PNGs use black 63 / white 1020.  ``normalize=False`` returns the digital numbers instead.
    """

    packed, info = read_raw_file(path, normalize=normalize)
    meta = {"path": info.path, "format": info.source, "cfa": info.cfa, "crop": list(info.crop),
            "visible_shape": list(info.visible_shape), "flip": info.flip, "wb": list(info.wb),
            "wb_source": info.wb_source}
    return {"packed": packed[0], "pattern": "RGGB", "black": list(info.black), "white": float(max(info.white)),
            "meta": meta, "info": info}


# --------------------------------------------------------------------------------------------- ZRR
class ZRRDataset(Dataset):
    """ZRR-layout phone-RAW/DSLR pairs: items ``dict(raw = 4 x S/2 x S/2, rgb = 3 x S x S, name, meta)``.

    ``raw`` is the packed RGGB RAW normalised with black 63 / white 1020 (LiteISPNet convention); ``rgb`` the
    DSLR JPEG in [0, 1].  Reads the real ZRR and :func:`rawdiff.data.synth.synth_phone2dslr` output alike.
    ``meta`` is the pair's ground truth from ``<split>/meta.json`` (synthetic sets; warp and colour transform,
    :func:`rawdiff.camera.phone.meta_record`) or ``None`` (real ZRR: alignment must be estimated).
    """

    def __init__(self, root: str | os.PathLike, split: str = "train"):
        self.root, self.split = Path(root), _check_split(split)
        raw_dir, rgb_dir = self.root / split / "huawei_raw", self.root / split / "canon"
        if not self.root.is_dir():
            raise DataError(f"{self.root}: ZRR dataset folder does not exist")
        for d in (raw_dir, rgb_dir):
            if not d.is_dir():
                raise DataError(f"{d}: missing; expected ZRR layout {split}/huawei_raw/*.png + {split}/canon/*.jpg")
        self._pairs = _pair_up(raw_dir, (".png",), rgb_dir, (".jpg", ".jpeg"))
        self._meta = self._read_meta(self.root / split / "meta.json")

    def _read_meta(self, path: Path) -> dict | None:

        if not path.is_file():
            return None
        try:
            meta = json.loads(path.read_text())
        except (OSError, ValueError) as err:
            raise DataError(f"{path}: not valid JSON ({err})") from None
        if not isinstance(meta, dict):
            raise DataError(f"{path}: expected a JSON object index -> pair meta")
        for name in self.names:
            why = check_meta_record(meta.get(name)) if name in meta else "no entry"
            if why:
                raise DataError(f"{path}: pair {name!r}: {why}")
        return meta

    @property
    def names(self) -> list[str]:
        return [s for s, _, _ in self._pairs]

    @property
    def has_meta(self) -> bool:
        """Whether the pairs carry ground-truth meta (synthetic sets) — else alignment must be estimated."""
        return self._meta is not None

    def __len__(self) -> int:
        return len(self._pairs)

    def __getitem__(self, i: int) -> dict:
        name, raw_p, rgb_p = self._pairs[i]
        raw = read_zrr_raw(raw_p)
        rgb = read_image_tensor(rgb_p)
        if rgb.shape[-2] != 2 * raw.shape[-2] or rgb.shape[-1] != 2 * raw.shape[-1]:
            raise DataError(f"{rgb_p}: expected {2 * raw.shape[-2]}x{2 * raw.shape[-1]} to match {raw_p.name}, "
                            f"got {rgb.shape[-2]}x{rgb.shape[-1]}")
        return {"raw": raw, "rgb": rgb, "name": name, "meta": None if self._meta is None else self._meta[name]}

    def meta_records(self, indices) -> list[dict] | None:
        """The ground-truth meta records of items ``indices`` (``None`` without ground truth, e.g. real ZRR)."""
        return None if self._meta is None else [self._meta[self._pairs[i][0]] for i in indices]

    def pair_nbytes(self) -> int:
        """Bytes of one pair as float32 tensors (packed RAW + DSLR image), from the first RAW's PNG header
        (nothing decoded); 0 for an empty split.  What :func:`rawdiff.diffraw.data.load_phone` sizes by."""
        if not self._pairs:
            return 0
        h = png_header(self._pairs[0][1])
        if h is None:
            p = self._pairs[0][1]
            raise DataError(f"{p}: expected a 16-bit single-channel PNG, got {describe_image(p)}")
        return 4 * 4 * h["width"] * h["height"]   # float32: packed 4 x H/2 x W/2 + DSLR 3 x H x W = 4 H W values

    def read_crop(self, i: int, top: int = 0, left: int = 0, crop: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """``(raw, rgb)`` of pair ``i`` cut to ``crop`` px at DSLR resolution from packed position ``(top, left)``
        (the DSLR window starts at ``(2 top, 2 left)``); ``crop = 0``: whole pair.  Decoded, cut, then dropped:
        only the crop stays in memory."""
        item = self[i]
        raw, rgb = item["raw"], item["rgb"]
        if not crop:
            return raw, rgb
        pc = crop // 2
        return (raw[:, top:top + pc, left:left + pc].clone(),
                rgb[:, 2 * top:2 * top + crop, 2 * left:2 * left + crop].clone())

    def tensors(self, device=None, limit: int | None = None) -> dict:
        """``dict(raw = N x 4 x S/2 x S/2, rgb = N x 3 x S x S, meta)`` of the first ``limit`` (default all)
        items; ``meta`` is batched (:func:`rawdiff.camera.phone.stack_meta`) or ``None`` without ground truth."""

        n = len(self) if limit is None else min(int(limit), len(self))
        items = [self[i] for i in range(n)]
        meta = None if self._meta is None or n == 0 else stack_meta([it["meta"] for it in items], device)
        return {"raw": _stack([it["raw"] for it in items], f"{self.root}/{self.split}", device),
                "rgb": _stack([it["rgb"] for it in items], f"{self.root}/{self.split}", device), "meta": meta}

    def __repr__(self) -> str:
        return f"ZRRDataset({str(self.root)!r}, {self.split!r}, {len(self)} pairs)"


# --------------------------------------------------------------------------------------------- low light
class LowLightDataset(Dataset):
    """Dark/well-lit pairs: items ``dict(low, high = 3 x H x W in [0, 1], label: str, name)``.

    Reads our synthetic layout (``<split>/low|high``, words from ``labels.json`` joined by a space, ``""`` when a
    scene has none) and LOL (``our485`` or the mirror's ``train`` for ``"train"``, ``eval15`` or ``test`` for
    ``"test"``; labels are ``""``); rawdiff.data.lol.locate_lowlight tells them apart.
    """

    def __init__(self, root: str | os.PathLike, split: str = "train"):
        self.root, self.split = Path(root), _check_split(split)
        found = locate_lowlight(self.root)    # rawdiff.data.lol: the three layouts, LOL's dataset/ folder
        if found is None:
            raise DataError(f"{self.root}: not a low-light dataset; expected {LAYOUT_HELP}")
        self.layout = "lol" if found.kind == "lol" else "rawdiff-lowlight"
        base = found.folder(split)
        self._pairs = lowlight_pairs(found, split)
        self._labels = {s: "" for s, _, _ in self._pairs}
        lab = base / "labels.json"
        if lab.is_file():
            try:
                raw = json.loads(lab.read_text())
            except (OSError, ValueError) as err:
                raise DataError(f"{lab}: expected a JSON object index -> list of words ({err})") from None
            if not isinstance(raw, dict) or not all(isinstance(v, list) for v in raw.values()):
                raise DataError(f"{lab}: expected a JSON object index -> list of words")
            for k, v in raw.items():
                if k in self._labels:
                    self._labels[k] = " ".join(str(w) for w in v)

    @property
    def names(self) -> list[str]:
        return [s for s, _, _ in self._pairs]

    @property
    def labels(self) -> list[str]:
        """Per item: the rendered words joined by a space, ``""`` for no text (LOL: always ``""``)."""
        return [self._labels[s] for s in self.names]

    def __len__(self) -> int:
        return len(self._pairs)

    def __getitem__(self, i: int) -> dict:
        name, low_p, high_p = self._pairs[i]
        low, high = read_image_tensor(low_p), read_image_tensor(high_p)
        if low.shape != high.shape:
            raise DataError(f"{high_p}: expected the size of {low_p.name} ({low.shape[-2]}x{low.shape[-1]}), "
                            f"got {high.shape[-2]}x{high.shape[-1]}")
        return {"low": low, "high": high, "label": self._labels[name], "name": name}

    def read_side(self, i: int, side: str) -> torch.Tensor:
        """One image of pair ``i`` (``side`` = ``"low"`` or ``"high"``) as ``3 x H x W`` float32 in [0, 1], without
        reading its partner (streamed training reads each side where it is needed; sizes are checked in
        :meth:`__getitem__` and by ``rawdiff data check``)."""
        return read_image_tensor(self._side_path(i, side))

    def _side_path(self, i: int, side: str) -> Path:
        if side not in ("low", "high"):
            raise ValueError(f"side must be 'low' or 'high', got {side!r}")
        return self._pairs[i][1 if side == "low" else 2]

    def image_shape(self, i: int, side: str) -> tuple[int, int, int]:
        """``(3, H, W)`` of one image of pair ``i`` as :meth:`read_side` gives it, from the file's header (nothing
        decoded; a file Pillow cannot open is decoded by the reader, which says in one line what is wrong)."""
        path = self._side_path(i, side)
        try:
            from PIL import Image

            with Image.open(path) as im:
                w, h = im.size
        except Exception:  # noqa: BLE001 - the reader raises the one-line DataError
            return tuple(self.read_side(i, side).shape)
        return 3, h, w

    def pair_nbytes(self) -> int:
        """Bytes of one pair as float32 tensors, from the first low image's PNG header (nothing decoded; 0 when
        empty, or when the header is not a PNG's, then the image is decoded)."""
        if not self._pairs:
            return 0
        h = png_header(self._pairs[0][1])
        hw = h["width"] * h["height"] if h is not None else int(self.read_side(0, "low")[0].numel())
        return 2 * 3 * 4 * hw

    def tensors(self, device=None, limit: int | None = None) -> dict:
        """``dict(low, high = N x 3 x H x W)`` of the first ``limit`` (default all) items (same size needed)."""
        n = len(self) if limit is None else min(int(limit), len(self))
        items = [self[i] for i in range(n)]
        what = f"{self.root}/{self.split}"
        return {"low": _stack([it["low"] for it in items], what, device),
                "high": _stack([it["high"] for it in items], what, device)}

    def __repr__(self) -> str:
        return f"LowLightDataset({str(self.root)!r}, {self.split!r}, {self.layout}, {len(self)} pairs)"


# --------------------------------------------------------------------------------------------- SID
_EXPOSURE = re.compile(r"_(\d+(?:\.\d+)?)s$")


def _exposure(path: Path) -> float:
    m = _EXPOSURE.search(path.stem)
    if not m:
        raise DataError(f"{path}: expected an SID file name ending in _<exposure>s (e.g. 00001_00_0.1s.ARW)")
    return float(m.group(1))


class SIDSonyDataset(Dataset):
    """SID Sony pairs: items ``dict(short, long = 4 x H/2 x W/2 packed RAW in [0, 1], ratio, pattern, name)``.

    Both RAWs are normalised by their own black/white levels (:func:`read_raw`; Sony: 512 / 16383); ``ratio``
    = ``min(long exposure / short exposure, 300)`` — multiply ``short`` by it to match ``long``'s brightness.
    """

    def __init__(self, root: str | os.PathLike, split: str = "test"):
        self.root, self.split = Path(root), _check_split(split, ("train", "val", "test"))
        if not self.root.is_dir():
            raise DataError(f"{self.root}: SID dataset folder does not exist")
        lst = self.root / f"Sony_{split}_list.txt"
        if not lst.is_file():
            raise DataError(f"{lst}: missing; expected the SID Sony layout Sony/short|long/*.ARW + Sony_{split}_list.txt")
        self._pairs: list[tuple[Path, Path]] = []
        for n, line in enumerate(lst.read_text().splitlines(), 1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) < 2:
                raise DataError(f"{lst}:{n}: expected '<short.ARW> <long.ARW> ...', got {line.strip()!r}")
            self._pairs.append((self.root / parts[0], self.root / parts[1]))
        for s, lg in self._pairs[:1]:
            for f in (s, lg):
                if not f.is_file():
                    raise DataError(f"{f}: listed in {lst.name} but missing")

    @property
    def names(self) -> list[str]:
        return [s.stem for s, _ in self._pairs]

    def __len__(self) -> int:
        return len(self._pairs)

    def __getitem__(self, i: int) -> dict:
        short_p, long_p = self._pairs[i]
        ratio = min(_exposure(long_p) / _exposure(short_p), 300.0)
        s, lg = read_raw(short_p), read_raw(long_p)
        return {"short": s["packed"], "long": lg["packed"], "ratio": float(ratio), "pattern": s["pattern"],
                "name": short_p.stem}

    def __repr__(self) -> str:
        return f"SIDSonyDataset({str(self.root)!r}, {self.split!r}, {len(self)} pairs)"
