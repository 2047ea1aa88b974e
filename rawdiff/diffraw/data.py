"""DiffRAW data: phone-RAW / DSLR pairs in memory, the UNet condition, and the [0, 1] <-> [-1, 1] helpers.

DiffRAW (Yi et al., AAAI-24) trains on packed phone RAW w (N x 4 x h x w) paired with DSLR sRGB y
(N x 3 x 2h x 2w); the UNet sees [y_t, w upsampled (nearest) to 2h x 2w, c] (3 + 4 + 3 channels), DESIGN.md §3.
``condition="raw"`` zeroes c, ``"none"`` zeroes w and c (the condition ablation of the paper's Fig. 2).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import torch
import torch.nn.functional as F

from rawdiff.camera.isp import visualize_raw
from rawdiff.camera.phone import stack_meta
from rawdiff.config import Preset
from rawdiff.data.datasets import ensure_datasets
from rawdiff.data.loaders import ZRRDataset
from rawdiff.data.stream import IN_MEMORY_BYTES
from rawdiff.errors import DataError
from rawdiff.runs.store import data_digest

CONDITIONS = ("raw+c", "raw", "none")
MODES = ("dtdm", "ddpm")


class PhoneData:
    """A split of phone-RAW/DSLR pairs: raw N x 4 x h x w, rgb N x 3 x 2h x 2w, both [0, 1]; ``meta``: batched
    ground-truth warp/colour (rawdiff.camera.phone.stack_meta) or None (real ZRR).

    Either held in memory (``PhoneData(raw, rgb, names, meta)``; ``.raw``/``.rgb`` are the whole-split tensors)
    or backed lazily by a :class:`rawdiff.data.loaders.ZRRDataset` (:meth:`lazy`, what :func:`load_phone` returns
    for splits over :data:`IN_MEMORY_BYTES`): pairs are then read when needed — :meth:`chunks` gives in-memory
    pieces in order, :meth:`read_crops` the crops of a training batch — and asking for the whole-split
    ``.raw``/``.rgb`` is a one-line DataError pointing to :meth:`chunks`.
    """

    def __init__(self, raw: torch.Tensor | None, rgb: torch.Tensor | None, names: list[str],
                 meta: dict | None = None, *, source: ZRRDataset | None = None, index: list[int] | None = None,
                 device: str | torch.device | None = None):
        self._raw, self._rgb, self._names, self._meta = raw, rgb, list(names), meta
        self._source, self._device = source, device
        self._index = None
        if source is None:
            if raw is None or rgb is None:
                raise DataError("PhoneData needs raw and rgb tensors (or a ZRRDataset: PhoneData.lazy)")
            if raw.shape[0] != rgb.shape[0] or raw.shape[-2] * 2 != rgb.shape[-2]:
                raise DataError(f"raw {tuple(raw.shape)} and rgb {tuple(rgb.shape)} do not pair up")
        else:
            self._index = list(range(len(source))) if index is None else list(index)

    @classmethod
    def lazy(cls, source: ZRRDataset, index: list[int] | None = None,
             device: str | torch.device | None = None) -> "PhoneData":
        """A PhoneData reading the pairs ``index`` (default all) of ``source`` from disk when needed."""
        idx = list(range(len(source))) if index is None else list(index)
        names = source.names
        return cls(None, None, [names[i] for i in idx], source=source, index=idx, device=device)

    @property
    def is_lazy(self) -> bool:
        """True when the pairs are read from disk on demand (no whole-split tensors)."""
        return self._source is not None

    @property
    def names(self) -> list[str]:
        return self._names

    @property
    def meta(self) -> dict | None:
        if self._source is None:
            return self._meta
        recs = self._source.meta_records(self._index)
        return None if not recs else stack_meta(recs, self._device)

    @property
    def raw(self) -> torch.Tensor:
        return self._raw if self._source is None else self._whole("raw")

    @property
    def rgb(self) -> torch.Tensor:
        return self._rgb if self._source is None else self._whole("rgb")

    def _whole(self, what: str) -> torch.Tensor:
        gib = self.nbytes / 2 ** 30
        raise DataError(f"{self._source!r}: its {len(self)} pairs (~{gib:.1f} GiB as float32) are read from disk on "
                        f"demand, so there is no whole-split .{what}; iterate data.chunks(size) or take "
                        f"data.subset(n)")

    def __len__(self) -> int:
        return len(self._names)

    @property
    def nbytes(self) -> int:
        """Bytes of the whole split as float32 tensors (what the in-memory/streamed switch compares)."""
        if self._source is None:
            return self._raw.nelement() * self._raw.element_size() + self._rgb.nelement() * self._rgb.element_size()
        return len(self) * self._source.pair_nbytes()

    @property
    def device(self) -> torch.device:
        """Where the tensors are (in memory) or where pieces are put (lazy)."""
        if self._source is None:
            return self._raw.device
        return torch.device(self._device) if self._device is not None else torch.device("cpu")

    def to(self, device) -> "PhoneData":
        if self._source is not None:
            return PhoneData(None, None, self._names, source=self._source, index=self._index, device=device)
        meta = None if self._meta is None else {k: v.to(device) for k, v in self._meta.items()}
        return PhoneData(self._raw.to(device), self._rgb.to(device), self._names, meta)

    def select(self, indices) -> "PhoneData":
        """Pairs ``indices`` (in that order) as an in-memory PhoneData (read from disk when lazy)."""
        indices = [int(i) for i in indices]
        if self._source is None:
            ix = torch.as_tensor(indices, dtype=torch.long, device=self._raw.device)
            meta = None if self._meta is None else {k: v[ix.to(v.device)] for k, v in self._meta.items()}
            return PhoneData(self._raw[ix], self._rgb[ix], [self._names[i] for i in indices], meta)
        src = [self._index[i] for i in indices]
        pairs = [self._source.read_crop(i) for i in src]
        dev = self.device
        raw = torch.stack([p[0] for p in pairs]).to(dev)
        rgb = torch.stack([p[1] for p in pairs]).to(dev)
        recs = self._source.meta_records(src)
        return PhoneData(raw, rgb, [self._names[i] for i in indices], None if recs is None else stack_meta(recs, dev))

    def subset(self, n: int) -> "PhoneData":
        """The first ``n`` pairs: in memory when they fit :data:`IN_MEMORY_BYTES` (or already are), else lazy."""
        n = min(int(n), len(self))
        if self._source is None:
            meta = None if self._meta is None else {k: v[:n] for k, v in self._meta.items()}
            return PhoneData(self._raw[:n], self._rgb[:n], self._names[:n], meta)
        if n * self._source.pair_nbytes() <= IN_MEMORY_BYTES:
            return self.select(range(n))
        return PhoneData(None, None, self._names[:n], source=self._source, index=self._index[:n],
                         device=self._device)

    def chunks(self, size: int, device: str | torch.device | None = None) -> Iterator["PhoneData"]:
        """In-memory pieces of at most ``size`` pairs, in order (the last may be shorter), on ``device`` (default:
        this PhoneData's device).  Memory is bounded by ``size`` whatever ``len(self)`` is."""
        size = int(size)
        if size < 1:
            raise ValueError(f"chunk size must be >= 1, got {size}")
        for a in range(0, len(self), size):
            piece = self.select(range(a, min(a + size, len(self))))
            yield piece.to(device) if device is not None else piece

    def read_crops(self, rows, tops, lefts, crop: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``(raw, rgb)`` stacks of pairs ``rows`` cut at packed positions ``(tops, lefts)`` to ``crop`` px at DSLR
        resolution (python ints; ``crop = 0``: whole pairs); lazy: read from disk here, on the CPU."""
        if self._source is not None:
            pairs = [self._source.read_crop(self._index[k], t, l, crop) for k, t, l in zip(rows, tops, lefts)]
            return torch.stack([p[0] for p in pairs]), torch.stack([p[1] for p in pairs])
        if not crop:
            ix = torch.as_tensor(list(rows), dtype=torch.long, device=self._raw.device)
            return self._raw[ix], self._rgb[ix]
        pc = crop // 2
        return (torch.stack([self._raw[k, :, t:t + pc, l:l + pc] for k, t, l in zip(rows, tops, lefts)]),
                torch.stack([self._rgb[k, :, 2 * t:2 * t + crop, 2 * l:2 * l + crop]
                             for k, t, l in zip(rows, tops, lefts)]))

    def frame_size(self) -> tuple[int, int]:
        """``(H, W)`` of the DSLR images (lazy: from the first pair)."""
        if self._source is None:
            return tuple(self._rgb.shape[-2:])
        if not len(self):
            raise DataError(f"{self._source!r}: no pairs")
        return tuple(self._source.read_crop(self._index[0])[1].shape[-2:])

    def __repr__(self) -> str:
        where = f"lazy from {self._source!r}" if self._source is not None else f"in memory on {self.device}"
        return f"PhoneData({len(self)} pairs, {where})"


def load_phone(root: str | os.PathLike, split: str = "train", device: str | torch.device = "cpu", *,
               max_bytes: int | None = None) -> PhoneData:
    """A ZRR-layout folder (synthetic from notebook 01 or the real ZRR) through rawdiff.data.loaders: in memory on
    ``device`` when the split as float32 tensors is at most ``max_bytes`` (default :data:`IN_MEMORY_BYTES`), else
    a lazy PhoneData reading pairs from disk (its :meth:`PhoneData.chunks` put pieces on ``device``)."""

    ds = ZRRDataset(root, split)
    limit = IN_MEMORY_BYTES if max_bytes is None else int(max_bytes)
    if len(ds) * ds.pair_nbytes() > limit:
        return PhoneData.lazy(ds, device=device)
    t = ds.tensors(device)
    return PhoneData(t["raw"].float(), t["rgb"].float(), [str(n) for n in ds.names], t.get("meta"))


@dataclass
class Prepared:
    """What notebooks need to start: train/test splits, the data fingerprint (cache key) and the root."""

    train: PhoneData
    test: PhoneData
    fingerprint: str
    root: Path


def prepare_data(preset: Preset, *, seed: int = 0, data_root: str | os.PathLike | None = None, cache_dir=None,
                 device: str | torch.device = "cpu") -> Prepared:
    """The phone2dslr pairs: ``data_root`` (ZRR layout) when given, else notebook 01's synthetic set
    (rawdiff.data.datasets.ensure_datasets makes it if missing, so every notebook runs alone)."""

    phone, _ = ensure_datasets(preset.data, seed=seed, data_root=data_root, cache_dir=cache_dir)
    root = Path(phone)
    return Prepared(load_phone(root, "train", device), load_phone(root, "test", device), data_digest(root),
                    root)



def to_pm1(x: torch.Tensor) -> torch.Tensor:
    return x * 2 - 1


def from_pm1(x: torch.Tensor) -> torch.Tensor:
    return ((x + 1) / 2).clamp(0, 1)


def raw_to_output_res(w: torch.Tensor) -> torch.Tensor:
    """Packed RAW N x 4 x h x w -> N x 4 x 2h x 2w (nearest: each packed pixel covers its 2x2 cell)."""
    return F.interpolate(w, scale_factor=2, mode="nearest")


def make_cond(w: torch.Tensor, c: torch.Tensor, condition: str = "raw+c") -> torch.Tensor:
    """UNet condition [w upsampled, c] in [-1, 1] (N x 7 x H x W); missing conditions are zeros."""
    if condition not in CONDITIONS:
        raise ValueError(f"unknown condition {condition!r}; expected one of {CONDITIONS}")
    wu = to_pm1(raw_to_output_res(w.clamp(0, 1)))
    cc = to_pm1(c.clamp(0, 1))
    if condition in ("raw", "none"):
        cc = torch.zeros_like(cc)
    if condition == "none":
        wu = torch.zeros_like(wu)
    return torch.cat([wu, cc], 1)


def visualise_raw(w: torch.Tensor) -> torch.Tensor:
    """Packed RGGB RAW -> displayable RGB at output (2x) resolution: rawdiff.camera.isp.visualize_raw (the one
    RAW visualisation: R, mean G, B, 99th-percentile scaled, gamma 1/2.2) upsampled to the DSLR grid."""

    return raw_to_output_res(visualize_raw(w))
