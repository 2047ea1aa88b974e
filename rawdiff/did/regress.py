"""Regression baseline for DiD's OCR claim: a plain UNet trained to map a dark image to the well-lit one.

DiD (Nguyen et al., "Diffusion in the Dark", WACV-24, §5) argues that *diffusion* reconstruction keeps the
high-frequency detail text recognition needs, where direct regression (L1/L2-trained networks) averages it
away.  To test that, the competitor must differ from DiD only in being a regression: this module trains

* the **same UNet family** as ``preset.did_unet`` (rawdiff.nn.unet.UNet: same widths, depth, attention), but
  with the dark image as its only input (3 channels instead of DiD's noisy x + c_x + c_y1 + c_y2 = 12) and
  ``noise_level = 0`` (the UNet's embedding of a constant; there is no noise);
* on the **same low-light training pairs** (``load_lowlight(root, "train")``, shared with rawdiff.did.train);
* in the **same normalised space**: DiD's tail normalisation (rawdiff.norm, DESIGN.md §3) with dataset-level
  statistics fitted on the training set — dark statistics for the input, bright statistics for the target —
  saved with the checkpoint (in its ``run.json``); ``normalization="linear"`` (``2x - 1``) is the alternative;
* with an **L1 loss** (``loss="l2"``: MSE) between prediction and target in that space;
* for ``preset.regress_train`` optimiser steps through the one training loop (rawdiff.train.train), on
  random ``crop x crop`` windows (default 32 = DiD's training patch, so a step costs about what a DiD step
  costs) at full resolution.

Inference (:func:`enhance_regress`) is fully convolutional: any ``H x W`` is reflect-padded at the bottom/right
to a multiple of the UNet's down-sampling factor, run, and cropped back.

Trained models are cached like DiD's (run kind ``REGRESS``, rawdiff.runs.lifecycle.get_or_train): ``cache_dir/regress-<norm>-<key>/`` with
``key`` = rawdiff.runs.store.cache_key of every setting that changes the weights plus the training data's digest
(rawdiff.runs.store.data_digest), so notebook 06 trains once and reuses the checkpoint afterwards.
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import torch

from rawdiff.checkpoint_io import config_errors
from rawdiff.config import Preset, RegressConfig, TrainConfig, UNetConfig, from_dict
from rawdiff.data.stream import ShardedBatches, default_workers
from rawdiff.did.train import PairRows, fit_crop, fit_pair_normalizers, load_lowlight
from rawdiff.errors import DataError
from rawdiff.nn.unet import UNet
from rawdiff.norm import normalizer_from_dict
from rawdiff.presets import get_preset
from rawdiff.runs.lifecycle import ModelKind
from rawdiff.runs.store import Trained, cache_key, kind_config, run_config, train_config
from rawdiff.tiling import pad_reflect, resize
from rawdiff.train import load_run, train
from rawdiff.utils import resolve_device, seeded_init, to_inference

__all__ = [
    "RegressConfig", "RegressModel", "RandomCropBatches", "RegressLoss", "regress_unet_config", "build_regressor",
    "train_regress_tensors", "train_regress", "load_regress", "regress_key", "REGRESS",
    "enhance_regress",
]

META_FILE = "regress.json"   # where runs saved before run.json held the configs kept them




def regress_unet_config(preset: Preset) -> UNetConfig:
    """``preset.did_unet`` with 3 input channels (the dark image only) and 3 outputs."""
    return dataclasses.replace(preset.did_unet, in_channels=3, out_channels=3)


def build_regressor(unet: UNetConfig, seed: int = 0) -> torch.nn.Module:
    """A :class:`rawdiff.nn.unet.UNet` whose initial weights depend on ``seed`` only.

    The UNet initialises from torch's default generator; we fork it (the caller's global RNG state is left
    untouched) and seed the fork, so the same seed always gives the same initial weights.
    """

    with seeded_init(seed, "regress-unet"):
        return UNet(unet)


# ----------------------------------------------------------------------------------------------- model bundle
@dataclass
class RegressModel:
    """A trained regression UNet with the normalisers that map [0, 1] images into and out of its space."""

    net: torch.nn.Module
    dark_norm: Any
    bright_norm: Any
    unet: UNetConfig
    cfg: RegressConfig

    @property
    def device(self) -> torch.device:
        return next(self.net.parameters()).device

    def __call__(self, dark: torch.Tensor) -> torch.Tensor:
        return enhance_regress(self, dark)


# ----------------------------------------------------------------------------------------------- batches
class RandomCropBatches(ShardedBatches):
    """``batch_fn(step, generator)`` for rawdiff.train: random ``crop x crop`` windows of random training pairs.

    ``dark``/``bright``: lists of ``3 x H x W`` [0, 1] tensors (normalised once here and kept) or
    rawdiff.did.train.DiskImages (read and normalised when a batch needs them; the same tensors).  The
    normalisations are pointwise, so cropping after normalising equals normalising the crop.  Images smaller than
    ``crop`` are up-sampled (bilinear, antialiased) so their short side is ``crop``.  The image indices and window
    positions of the global batch come from ``generator`` (:meth:`draw`); :meth:`rows` cuts rows ``lo..hi`` on the
    CPU (rawdiff.data.stream.ShardedBatches).  ``device`` is accepted for compatibility: batches are formed on
    the host and moved by the training loop.
    """

    def __init__(self, dark: Sequence[torch.Tensor], bright: Sequence[torch.Tensor], crop: int, batch_size: int,
                 dark_norm, bright_norm, device: str | torch.device = "cpu", workers: int = 0):
        self.crop, self.batch_size, self.workers = int(crop), int(batch_size), int(workers)
        self.dark_norm, self.bright_norm = dark_norm, bright_norm
        self.pairs = PairRows(dark, bright, self._prepare)

    def _prepare(self, d: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        d, b = fit_crop(d, self.crop), fit_crop(b, self.crop)
        if d.shape != b.shape:
            raise DataError(f"dark/bright pair sizes differ: {tuple(d.shape)} vs {tuple(b.shape)}")
        return self.dark_norm.forward(d[None])[0], self.bright_norm.forward(b[None])[0]

    def draw(self, step: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
        g, B = generator, self.batch_size
        idx = torch.randint(len(self.pairs), (B,), generator=g, device=g.device)
        return {"idx": idx, "pos": torch.rand(B, 2, generator=g, device=g.device)}

    def rows(self, draws: dict, lo: int, hi: int) -> dict[str, torch.Tensor]:
        c = self.crop
        xs, ys = [], []
        for k, (u, v) in zip(draws["idx"][lo:hi].tolist(), draws["pos"][lo:hi].tolist()):   # CPU draws: no syncs
            d, b = self.pairs[k]
            h, w = d.shape[-2:]
            top, left = int(u * (h - c + 1)), int(v * (w - c + 1))
            xs.append(d[:, top:top + c, left:left + c])
            ys.append(b[:, top:top + c, left:left + c])
        return {"x": torch.stack(xs).contiguous(), "target": torch.stack(ys).contiguous()}


class RegressLoss:
    """``loss_fn(model, batch)`` for rawdiff.train: mean L1 (or L2) between ``model(x, 0)`` and ``target``."""

    def __init__(self, kind: str = "l1"):
        if kind not in ("l1", "l2"):
            raise ValueError(f"loss must be 'l1' or 'l2', got {kind!r}")
        self.kind = kind

    def __call__(self, model, batch: Mapping[str, torch.Tensor]):
        x = batch["x"]
        pred = model(x, torch.zeros(x.shape[0], device=x.device))
        diff = pred.float() - batch["target"].float()
        return diff.abs().mean() if self.kind == "l1" else diff.pow(2).mean()


# ----------------------------------------------------------------------------------------------- training
def _meta(unet: UNetConfig, cfg: RegressConfig, tcfg: TrainConfig, norms: dict, extra: Mapping | None) -> dict:
    return {"kind": "regress", "unet": dataclasses.asdict(unet), "regress": dataclasses.asdict(cfg),
            "train": dataclasses.asdict(tcfg), "norm": norms, **(extra or {})}


def train_regress_tensors(preset: Preset | str, dark: Sequence[torch.Tensor], bright: Sequence[torch.Tensor],
                          out_dir: str | os.PathLike | None, *, cfg: RegressConfig = RegressConfig(),
                          train_cfg: TrainConfig | None = None, device: str | torch.device = "auto",
                          resume: bool = False, progress: bool = True, extra_config: Mapping | None = None,
                          workers: int | None = None) -> Trained:
    """Train the regression UNet on pairs (lists of ``3 x H x W`` [0, 1] tensors, or rawdiff.did.train.DiskImages
    streamed from disk; ``workers``: DataLoader processes, default rawdiff.data.stream.default_workers).

    ``train_cfg`` overrides ``preset.regress_train`` (its ``seed`` seeds the initial weights and the batches).
    With ``out_dir``, the normaliser statistics and configs go to ``out_dir/run.json`` and checkpoints to
    ``out_dir`` (rawdiff.train); ``resume=True`` continues a partial run with its saved statistics.
    """
    preset = get_preset(preset) if isinstance(preset, str) else preset
    dev = resolve_device(device)
    tcfg = train_cfg or preset.regress_train
    unet = regress_unet_config(preset)
    out = Path(out_dir) if out_dir is not None else None
    saved = run_config(out, (META_FILE,)) if out is not None and resume else None
    if saved is not None:
        norm = saved[0]["norm"]
        dark_norm, bright_norm = normalizer_from_dict(norm["dark"]), normalizer_from_dict(norm["bright"])
    else:
        dark_norm, bright_norm = fit_pair_normalizers(dark, bright, cfg.normalization)
    norms = {"normalization": cfg.normalization, "dark": dark_norm.to_dict(), "bright": bright_norm.to_dict()}
    meta = _meta(unet, cfg, tcfg, norms, extra_config)   # kept in run.json with each checkpoint
    batches = RandomCropBatches(dark, bright, cfg.crop, tcfg.batch_size, dark_norm, bright_norm,
                                workers=default_workers(dev) if workers is None else workers)
    net = build_regressor(unet, tcfg.seed)
    res = train(net, RegressLoss(cfg.loss), batches, tcfg, out, device=dev, resume=resume, run_config=meta,
                progress=progress, desc=f"regression UNet ({cfg.loss}, {cfg.normalization})")
    bundle = RegressModel(net=to_inference(res.model, dev), dark_norm=dark_norm, bright_norm=bright_norm, unet=unet,
                          cfg=cfg)
    return dataclasses.replace(res, model=bundle)


def train_regress(preset: Preset | str, lowlight_root: str | os.PathLike, out_dir: str | os.PathLike, *,
                  cfg: RegressConfig = RegressConfig(), device: str | torch.device = "auto", resume: bool = False,
                  progress: bool = True, steps: int | None = None, seed: int | None = None,
                  workers: int | None = None) -> Trained:
    """Train on the ``train`` split of a low-light dataset (the data DiD trains on); ``steps``/``seed`` override
    ``preset.regress_train``."""
    preset = get_preset(preset) if isinstance(preset, str) else preset
    tcfg = train_config(preset.regress_train, seed, steps)
    dark, bright, _ = load_lowlight(lowlight_root, "train")
    return train_regress_tensors(preset, dark, bright, out_dir, cfg=cfg, train_cfg=tcfg, device=device,
                                 resume=resume, progress=progress, workers=workers,
                                 extra_config={"data_root": str(lowlight_root), "scale": preset.name})


def load_regress(run_dir: str | os.PathLike, device: str | torch.device = "auto", ema: bool = True,
                 step: int | None = None, **_opts) -> RegressModel:
    """Load a trained regression run (EMA weights by default; latest checkpoint, or at ``step``) with its saved
    normalisers."""

    run = Path(run_dir)
    meta, source = kind_config(run, "regress", "regression-UNet", (META_FILE,))
    with config_errors(source):
        unet = from_dict(UNetConfig, meta["unet"], source=source)
        cfg = from_dict(RegressConfig, meta["regress"], source=source)
        dark_norm, bright_norm = normalizer_from_dict(meta["norm"]["dark"]), normalizer_from_dict(meta["norm"]["bright"])
    net = UNet(unet)
    load_run(run, net, ema=ema, device="cpu", step=step)
    return RegressModel(net=to_inference(net, device), dark_norm=dark_norm, bright_norm=bright_norm, unet=unet,
                        cfg=cfg)


def regress_key(preset: Preset, tcfg: TrainConfig, digest: str, *, cfg: RegressConfig = RegressConfig()) -> str:
    """rawdiff.runs.store.cache_key: every setting that changes the weights (seed in ``tcfg``) + the data digest."""
    model = {"unet": dataclasses.asdict(regress_unet_config(preset)), "regress": dataclasses.asdict(cfg)}
    return cache_key("regress", model=model, train=tcfg, data=digest, seed=tcfg.seed)


REGRESS = ModelKind(
    name="regress", train_cfg=lambda preset: preset.regress_train, key=regress_key,
    train=lambda preset, data, out, *, tcfg, cfg=RegressConfig(), **kw: train_regress(
        preset, data, out, cfg=cfg, steps=tcfg.steps, seed=tcfg.seed, **kw),
    load=load_regress, folder=lambda cfg=RegressConfig(): f"regress-{cfg.normalization}",
    meta=lambda preset, tcfg, digest, cfg=RegressConfig(): {"normalization": cfg.normalization})
"""The regression baseline's run kind (rawdiff.runs.lifecycle): ``cache_dir/regress-<normalization>-<key>/``."""


# ----------------------------------------------------------------------------------------------- inference
@torch.no_grad()
def enhance_regress(model_or_run: RegressModel | str | os.PathLike, dark: torch.Tensor, *, max_batch: int = 64
                    ) -> torch.Tensor:
    """Enhance dark sRGB image(s) (``3 x H x W`` or ``N x 3 x H x W`` in [0, 1], any size) -> same shape in [0, 1].

    Fully convolutional: reflect-pad bottom/right to a multiple of the UNet's down-sampling factor, normalise
    (dark statistics), run the UNet with ``noise_level = 0``, invert the bright normalisation, crop back.
    Deterministic.  Runs on the model's device ``max_batch`` images per call (the chunk: memory on the device is
    bounded by it, each chunk's output goes back to ``dark``'s device at once); the result is on ``dark``'s device.
    """
    model = model_or_run if isinstance(model_or_run, RegressModel) else load_regress(model_or_run)
    x = dark[None] if dark.ndim == 3 else dark
    if x.ndim != 4 or x.shape[1] != 3:
        raise DataError(f"expected a 3 x H x W (or N x 3 x H x W) sRGB image, got shape {tuple(dark.shape)}")
    n, _, h, w = x.shape
    f = model.net.downsample_factor
    hp, wp = -(-h // f) * f, -(-w // f) * f
    dev = model.device
    outs = []
    for a in range(0, n, max(1, int(max_batch))):
        xb = pad_reflect(x[a:a + max_batch].to(dev).float().clamp(0, 1), hp - h, wp - w)
        y = model.net(model.dark_norm.forward(xb), torch.zeros(xb.shape[0], device=dev))
        outs.append(model.bright_norm.inverse(y)[:, :, :h, :w].clamp(0, 1).to(dark.device))
    out = torch.cat(outs)
    return out[0] if dark.ndim == 3 else out
