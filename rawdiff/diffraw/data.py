"""DiffRAW data: phone-RAW / DSLR pairs in memory, the UNet condition, and the [0, 1] <-> [-1, 1] helpers.

DiffRAW (Yi et al., AAAI-24) trains on packed phone RAW w (N x 4 x h x w) paired with DSLR sRGB y
(N x 3 x 2h x 2w); the UNet sees [y_t, w upsampled (nearest) to 2h x 2w, c] (3 + 4 + 3 channels), DESIGN.md §3.
``condition="raw"`` zeroes c, ``"none"`` zeroes w and c (the condition ablation of the paper's Fig. 2).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from rawdiff.camera.isp import visualize_raw
from rawdiff.config import Preset
from rawdiff.data.datasets import ensure_datasets
from rawdiff.data.loaders import ZRRDataset
from rawdiff.errors import DataError
from rawdiff.nn.ispnet import coord_grid
from rawdiff.runs.store import data_digest

CONDITIONS = ("raw+c", "raw", "none")
MODES = ("dtdm", "ddpm")


@dataclass
class PhoneData:
    """A split of phone-RAW/DSLR pairs held in memory: raw N x 4 x h x w, rgb N x 3 x 2h x 2w, both [0, 1];
    ``meta``: batched ground-truth warp/colour (rawdiff.camera.phone.stack_meta) or None (real ZRR)."""

    raw: torch.Tensor
    rgb: torch.Tensor
    names: list[str]
    meta: dict | None = None

    def __post_init__(self):
        if self.raw.shape[0] != self.rgb.shape[0] or self.raw.shape[-2] * 2 != self.rgb.shape[-2]:
            raise DataError(f"raw {tuple(self.raw.shape)} and rgb {tuple(self.rgb.shape)} do not pair up")

    def __len__(self) -> int:
        return self.raw.shape[0]

    def to(self, device) -> "PhoneData":
        meta = None if self.meta is None else {k: v.to(device) for k, v in self.meta.items()}
        return PhoneData(self.raw.to(device), self.rgb.to(device), self.names, meta)

    def subset(self, n: int) -> "PhoneData":
        meta = None if self.meta is None else {k: v[:n] for k, v in self.meta.items()}
        return PhoneData(self.raw[:n], self.rgb[:n], self.names[:n], meta)


def load_phone(root: str | os.PathLike, split: str = "train", device: str | torch.device = "cpu") -> PhoneData:
    """Load a ZRR-layout folder (synthetic from notebook 01 or the real ZRR) through rawdiff.data.loaders."""

    ds = ZRRDataset(root, split)
    t = ds.tensors(device)
    if isinstance(t, dict):
        raw, rgb, meta = t["raw"], t["rgb"], t.get("meta")
    else:
        raw, rgb, meta = t[0], t[1], None
    names = [str(n) for n in getattr(ds, "names", range(raw.shape[0]))]
    return PhoneData(raw.float(), rgb.float(), names, meta)


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


def random_crops(data: PhoneData, idx: torch.Tensor, crop: int, gen: torch.Generator):
    """Even-aligned crops (crop px at DSLR resolution) + the packed crops and their full-frame coordinates."""
    raw, rgb = data.raw[idx], data.rgb[idx]
    H, W = rgb.shape[-2:]
    if not crop or crop >= min(H, W):
        coords = coord_grid(len(idx), H // 2, W // 2, device=raw.device)
        return raw, rgb, coords
    if crop % 2:
        raise ValueError(f"training crop must be even (Bayer 2x2 cells), got {crop}")
    pc = crop // 2
    tops = torch.randint(0, H // 2 - pc + 1, (len(idx),), generator=gen, device=gen.device).tolist()
    lefts = torch.randint(0, W // 2 - pc + 1, (len(idx),), generator=gen, device=gen.device).tolist()
    rs, ys, cs = [], [], []
    for i, (t, l) in enumerate(zip(tops, lefts)):
        rs.append(raw[i, :, t:t + pc, l:l + pc])
        ys.append(rgb[i, :, 2 * t:2 * t + crop, 2 * l:2 * l + crop])
        cs.append(coord_grid(1, pc, pc, top=t, left=l, full=(H // 2, W // 2), device=raw.device)[0])
    return torch.stack(rs), torch.stack(ys), torch.stack(cs)
