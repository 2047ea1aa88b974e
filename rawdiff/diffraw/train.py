"""DiffRAW training: ISPNet (the colour condition c = ISPNet(w)) and the DTDM UNet, and their cached runs.

DiffRAW (Yi et al., AAAI-24), DESIGN.md §3: ISPNet maps w (+ full-frame coordinates) to sRGB with an L1 loss;
the DTDM UNet is trained on c_train = x_train = D²(y) (rawdiff.camera.degrade, drawn inside ``batch_fn``) with
t ~ U{1..s} and an MSE to y on the truncated marginals (D2); ``mode="ddpm"`` trains the baseline network on
ordinary DDPM marginals (gamma = 0, t ~ U{1..T}).  Cached runs go through rawdiff.runs.store (one key, one format):
``cache_dir/diffraw/isp-<key>/`` and ``cache_dir/diffraw/<mode>-<condition>-<key>/``.
"""
from __future__ import annotations

import os
from dataclasses import asdict, replace
from pathlib import Path
from typing import Callable

import torch

from rawdiff.camera.degrade import degrade
from rawdiff.checkpoint_io import config_errors
from rawdiff.config import (
    DegradeConfig,
    DTDMConfig,
    ISPNetConfig,
    Preset,
    TrainConfig,
    UNetConfig,
    from_dict,
)
from rawdiff.diffraw.data import (
    CONDITIONS,
    MODES,
    PhoneData,
    from_pm1,
    load_phone,
    make_cond,
    random_crops,
    to_pm1,
)
from rawdiff.diffusion import dtdm as dtdm_mod
from rawdiff.nn.ispnet import ISPNet
from rawdiff.nn.unet import UNet
from rawdiff.runs.lifecycle import ModelKind
from rawdiff.runs.store import cache_key, kind_config, train_config
from rawdiff.train import load_run, train
from rawdiff.utils import resolve_device, seeded_init, to_inference


# =============================================================================================== ISPNet
def build_ispnet(preset: Preset, seed: int = 0) -> ISPNet:
    """ISPNet of the preset, initial weights from ``seed`` only."""
    with seeded_init(seed, "ispnet"):
        return ISPNet(preset.isp_net)


def ispnet_batch_fn(data: PhoneData, batch_size: int, crop: int = 0) -> Callable[[int, torch.Generator], dict]:
    """batch_fn for rawdiff.train: random images and even-aligned crops, all drawn from the step generator."""
    def batch_fn(step: int, gen: torch.Generator) -> dict:
        idx = torch.randint(0, len(data), (batch_size,), generator=gen, device=gen.device).to(data.raw.device)
        raw, rgb, coords = random_crops(data, idx, crop, gen)
        return {"raw": raw, "rgb": rgb, "coords": coords}
    return batch_fn


def ispnet_loss(model, batch: dict) -> torch.Tensor:
    """L1 between ISPNet(w, coords) and the DSLR target (LiteISPNet's reconstruction loss)."""
    return (model(batch["raw"], batch["coords"]) - batch["rgb"]).abs().mean()


def train_ispnet(preset: Preset, data_root_phone: str | os.PathLike | PhoneData, out_dir: str | os.PathLike | None,
                 device: str | torch.device = "auto", resume: bool = False, progress: bool = True, *,
                 seed: int | None = None, steps: int | None = None):
    """Train ISPNet on the ``train`` split of a ZRR-layout folder (or a :class:`PhoneData`) -> rawdiff.runs.store.Trained."""
    dev = resolve_device(device)
    data = data_root_phone if isinstance(data_root_phone, PhoneData) else load_phone(data_root_phone, "train")
    tcfg = train_config(preset.isp_train, seed, steps)
    run_config = {"kind": "isp", "isp_net": asdict(preset.isp_net), "scale": preset.name}
    return train(build_ispnet(preset, tcfg.seed), ispnet_loss, ispnet_batch_fn(data.to(dev), tcfg.batch_size,
                 preset.isp_net.train_crop), tcfg, out_dir, device=dev, resume=resume, run_config=run_config,
                 progress=progress, desc="ispnet")



# =============================================================================================== DiffRAW
def build_unet(preset: Preset, seed: int = 0):
    """DiffRAW UNet of the preset, initial weights from ``seed`` only."""

    with seeded_init(seed, "diffraw-unet"):
        return UNet(preset.diffraw_unet)


def diffraw_batch_fn(data: PhoneData, batch_size: int, cfg: DTDMConfig, *, mode: str = "dtdm",
                     degrade_cfg: DegradeConfig = DegradeConfig()) -> Callable[[int, torch.Generator], dict]:
    """batch_fn: images, crops, x = D²(y), t and eps — all from the step generator (rawdiff.train contract).

    ``mode="dtdm"``: t ~ U{1..s}; ``"ddpm"``: t ~ U{1..T}.  Returns [-1, 1] tensors y, x, w (packed, [0, 1]).
    """
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; expected one of {MODES}")
    t_max = cfg.s if mode == "dtdm" else cfg.T

    def batch_fn(step: int, gen: torch.Generator) -> dict:
        idx = torch.randint(0, len(data), (batch_size,), generator=gen, device=gen.device).to(data.raw.device)
        raw, rgb, _ = random_crops(data, idx, cfg.train_crop, gen)
        x = degrade(rgb, gen, degrade_cfg)
        t, eps = dtdm_mod.sample_training_inputs(batch_size, t_max, gen, rgb.shape, device=rgb.device)
        return {"y": to_pm1(rgb), "x": to_pm1(x), "w": raw, "t": t, "eps": eps}
    return batch_fn


def diffraw_loss_fn(cfg: DTDMConfig, *, mode: str = "dtdm", condition: str = "raw+c") -> Callable:
    """loss_fn(model, batch): MSE of the x0 (or eps) prediction on y_t from (D2); deterministic given the batch."""
    abar, gamma = _tables(cfg, mode)

    def loss_fn(model, batch: dict):
        y, x, t, eps = batch["y"], batch["x"], batch["t"], batch["eps"]
        y_t = dtdm_mod.q_sample(y, x, t, abar, gamma, eps)
        cond = make_cond(batch["w"], from_pm1(x), condition)
        out = model(y_t, t.float(), cond)
        return dtdm_mod.training_loss(out, y, eps, cfg.prediction)
    return loss_fn


def _tables(cfg: DTDMConfig, mode: str) -> tuple[torch.Tensor, torch.Tensor]:
    abar, gamma = dtdm_mod.dtdm_tables(cfg)
    if mode == "ddpm":
        gamma = torch.zeros_like(gamma)
    return abar, gamma


def train_diffraw(preset: Preset, data_root_phone: str | os.PathLike | PhoneData, out_dir: str | os.PathLike | None,
                  device: str | torch.device = "auto", resume: bool = False, progress: bool = True, *,
                  condition: str = "raw+c", mode: str = "dtdm", s: int | None = None, seed: int | None = None,
                  steps: int | None = None):
    """Train the DiffRAW UNet (DTDM, or the gamma = 0 DDPM baseline with ``mode="ddpm"``) -> Trained."""
    if condition not in CONDITIONS:
        raise ValueError(f"unknown condition {condition!r}; expected one of {CONDITIONS}")
    dev = resolve_device(device)
    cfg = preset.dtdm if s is None else replace(preset.dtdm, s=int(s))
    data = data_root_phone if isinstance(data_root_phone, PhoneData) else load_phone(data_root_phone, "train")
    tcfg = train_config(preset.diffraw_train, seed, steps)
    run_config = {"kind": "diffraw", "mode": mode, "condition": condition, "dtdm": asdict(cfg),
                  "unet": asdict(preset.diffraw_unet), "scale": preset.name}
    return train(build_unet(preset, tcfg.seed), diffraw_loss_fn(cfg, mode=mode, condition=condition),
                 diffraw_batch_fn(data.to(dev), tcfg.batch_size, cfg, mode=mode), tcfg, out_dir, device=dev,
                 resume=resume, run_config=run_config, progress=progress, desc=f"diffraw-{mode}-{condition}")



# =============================================================================================== run kinds
def _net_config(run_dir: Path, kind: str, what: str, section: str, cls):
    """The network config a run of ``kind`` was trained with (its run.json; older runs: config.json)."""
    conf, source = kind_config(run_dir, kind, what, ("config.json",))
    with config_errors(source):
        return from_dict(cls, conf[section], source=source)


def _ema_weights(model: torch.nn.Module, run_dir: Path, device) -> torch.nn.Module:
    load_run(run_dir, model, ema=True, device="cpu")
    return to_inference(model, resolve_device(device))


def load_ispnet(run_dir: str | os.PathLike, device="auto", preset: Preset | None = None, **_opts) -> ISPNet:
    """An ISPNet run's EMA network, built from ``preset`` (a cache entry of that preset) or the run's own config."""
    cfg = preset.isp_net if preset is not None else _net_config(Path(run_dir), "isp", "ISPNet", "isp_net", ISPNetConfig)
    return _ema_weights(ISPNet(cfg), Path(run_dir), device)


def load_diffraw_unet(run_dir: str | os.PathLike, device="auto", preset: Preset | None = None,
                      **_opts) -> torch.nn.Module:
    """A DiffRAW UNet run's EMA network, built from ``preset`` or the run's own config."""
    cfg = (preset.diffraw_unet if preset is not None
           else _net_config(Path(run_dir), "diffraw", "DiffRAW UNet", "unet", UNetConfig))
    return _ema_weights(UNet(cfg), Path(run_dir), device)


def ispnet_key(preset: Preset, tcfg: TrainConfig, digest: str) -> str:
    """rawdiff.runs.store.cache_key of an ISPNet run: its config, training config (seed inside), data digest."""
    return cache_key("isp", model=asdict(preset.isp_net), train=tcfg, data=digest, seed=tcfg.seed)


def diffraw_key(preset: Preset, tcfg: TrainConfig, digest: str, *, condition: str = "raw+c", mode: str = "dtdm",
                s: int | None = None) -> str:
    """rawdiff.runs.store.cache_key of a DiffRAW UNet run; for ``mode="ddpm"`` s and gamma are left out (they play no role in training the baseline network)."""
    cfg = preset.dtdm if s is None else replace(preset.dtdm, s=int(s))
    dcfg = asdict(cfg)
    if mode == "ddpm":
        dcfg.pop("s"), dcfg.pop("gamma")
    return cache_key("diffraw", model={"unet": asdict(preset.diffraw_unet), "dtdm": dcfg}, train=tcfg,
                     data=digest, seed=tcfg.seed, extra={"mode": mode, "condition": condition})


def _diffraw_meta(preset: Preset, tcfg: TrainConfig, digest: str, *, condition: str = "raw+c", mode: str = "dtdm",
                  s: int | None = None) -> dict:
    """run.json of a DiffRAW run names the ISPNet cache entry of the same (preset, data, seed) as ``isp_run``, so
    ``rawdiff develop --run`` can use a notebook's DTDM run directly."""
    if condition not in CONDITIONS:
        raise ValueError(f"unknown condition {condition!r}; expected one of {CONDITIONS}")
    isp_key = ispnet_key(preset, train_config(preset.isp_train, tcfg.seed), digest)
    return {"mode": mode, "condition": condition, "s": preset.dtdm.s if s is None else int(s),
            "isp_run": f"../isp-{isp_key}"}


ISP = ModelKind(
    name="isp", train_cfg=lambda preset: preset.isp_train, key=ispnet_key, group="diffraw",
    train=lambda preset, data, out, *, tcfg, **kw: train_ispnet(preset, data, out, seed=tcfg.seed,
                                                                steps=tcfg.steps, **kw),
    load=load_ispnet, folder=lambda: "isp")
DIFFRAW = ModelKind(
    name="diffraw", train_cfg=lambda preset: preset.diffraw_train, key=diffraw_key, group="diffraw",
    train=lambda preset, data, out, *, tcfg, **kw: train_diffraw(preset, data, out, seed=tcfg.seed,
                                                                 steps=tcfg.steps, **kw),
    load=load_diffraw_unet,
    folder=lambda condition="raw+c", mode="dtdm", s=None: f"{mode}-{condition.replace('+', '')}",
    meta=_diffraw_meta)
