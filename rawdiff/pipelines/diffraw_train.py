"""DiffRAW training: ISPNet (the colour condition c = ISPNet(w)) and the DTDM UNet, and their cached runs.

DiffRAW (Yi et al., AAAI-24), DESIGN.md §3: ISPNet maps w (+ full-frame coordinates) to sRGB with an L1 loss;
the DTDM UNet is trained on c_train = x_train = D²(y) (rawdiff.camera.degrade, drawn inside ``batch_fn``) with
t ~ U{1..s} and an MSE to y on the truncated marginals (D2); ``mode="ddpm"`` trains the baseline network on
ordinary DDPM marginals (gamma = 0, t ~ U{1..T}).  Cached runs go through rawdiff.runs (one key, one format):
``cache_dir/diffraw/isp-<key>/`` and ``cache_dir/diffraw/<mode>-<condition>-<key>/``.
"""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Callable

import torch

from rawdiff.camera.degrade import DegradeConfig, degrade
from rawdiff.config import DTDMConfig, Preset
from rawdiff.diffusion import dtdm as dtdm_mod
from rawdiff.nn.ispnet import ISPNet
from rawdiff.pipelines.diffraw_data import (CONDITIONS, MODES, PhoneData, _random_crops, from_pm1, load_phone,
                                            make_cond, to_pm1)
from rawdiff.runs import cache_key, cache_path, get_or_train, train_config, weights_only
from rawdiff.utils import resolve_device, seeded_init, to_inference

_train_cfg = train_config  # the old private name (benchmarks/bench_dtdm.py)


# =============================================================================================== ISPNet
def build_ispnet(preset: Preset, seed: int = 0) -> ISPNet:
    """ISPNet of the preset, initial weights from ``seed`` only."""
    with seeded_init(seed, "ispnet"):
        return ISPNet(preset.isp_net)


def ispnet_batch_fn(data: PhoneData, batch_size: int, crop: int = 0) -> Callable[[int, torch.Generator], dict]:
    """batch_fn for rawdiff.train: random images and even-aligned crops, all drawn from the step generator."""
    def batch_fn(step: int, gen: torch.Generator) -> dict:
        idx = torch.randint(0, len(data), (batch_size,), generator=gen, device=gen.device).to(data.raw.device)
        raw, rgb, coords = _random_crops(data, idx, crop, gen)
        return {"raw": raw, "rgb": rgb, "coords": coords}
    return batch_fn


def ispnet_loss(model, batch: dict) -> torch.Tensor:
    """L1 between ISPNet(w, coords) and the DSLR target (LiteISPNet's reconstruction loss)."""
    return (model(batch["raw"], batch["coords"]) - batch["rgb"]).abs().mean()


def train_ispnet(preset: Preset, data_root_phone: str | os.PathLike | PhoneData, out_dir: str | os.PathLike | None,
                 device: str | torch.device = "auto", resume: bool = False, progress: bool = True, *,
                 seed: int | None = None, steps: int | None = None):
    """Train ISPNet on the ``train`` split of a ZRR-layout folder (or a :class:`PhoneData`); returns TrainResult."""
    from rawdiff.train import train

    dev = resolve_device(device)
    data = data_root_phone if isinstance(data_root_phone, PhoneData) else load_phone(data_root_phone, "train")
    tcfg = _train_cfg(preset.isp_train, seed, steps)
    run_config = {"kind": "isp", "isp_net": asdict(preset.isp_net), "scale": preset.name}
    return train(build_ispnet(preset, tcfg.seed), ispnet_loss, ispnet_batch_fn(data.to(dev), tcfg.batch_size,
                 preset.isp_net.train_crop), tcfg, out_dir, device=dev, resume=resume, run_config=run_config,
                 progress=progress, desc="ispnet")



# =============================================================================================== DiffRAW
def build_unet(preset: Preset, seed: int = 0):
    """DiffRAW UNet of the preset, initial weights from ``seed`` only."""
    from rawdiff.nn.unet import UNet

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
        raw, rgb, _ = _random_crops(data, idx, cfg.train_crop, gen)
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
    """Train the DiffRAW UNet (DTDM, or the gamma = 0 DDPM baseline with ``mode="ddpm"``); returns TrainResult."""
    from rawdiff.train import train

    if condition not in CONDITIONS:
        raise ValueError(f"unknown condition {condition!r}; expected one of {CONDITIONS}")
    dev = resolve_device(device)
    cfg = preset.dtdm if s is None else replace(preset.dtdm, s=int(s))
    data = data_root_phone if isinstance(data_root_phone, PhoneData) else load_phone(data_root_phone, "train")
    tcfg = _train_cfg(preset.diffraw_train, seed, steps)
    run_config = {"kind": "diffraw", "mode": mode, "condition": condition, "dtdm": asdict(cfg),
                  "unet": asdict(preset.diffraw_unet), "scale": preset.name}
    return train(build_unet(preset, tcfg.seed), diffraw_loss_fn(cfg, mode=mode, condition=condition),
                 diffraw_batch_fn(data.to(dev), tcfg.batch_size, cfg, mode=mode), tcfg, out_dir, device=dev,
                 resume=resume, run_config=run_config, progress=progress, desc=f"diffraw-{mode}-{condition}")



# =============================================================================================== cached runs
@dataclass
class Trained:
    """A trained (EMA) model with where it lives and its loss history."""

    model: torch.nn.Module
    run_dir: Path
    history: list[dict]
    reused: bool
    seconds: float


def _cached(run_dir: Path, steps: int, build: Callable[[], torch.nn.Module], train_fn: Callable, meta: dict,
            device) -> Trained:
    from rawdiff.train import load_run, read_history

    def load_fn(d: Path):
        model = build()
        load_run(d, model, ema=True, device="cpu")
        return to_inference(model, resolve_device(device)), read_history(d)

    (model, history), hit = get_or_train(run_dir, steps, train_fn, load_fn, meta)
    return Trained(model, hit.run_dir, history, hit.reused, hit.seconds)


def _data_label(fingerprint: str, data_root) -> str:
    return str(Path(data_root).resolve()) if data_root is not None else f"sha256:{fingerprint[:12]}"


def ispnet_key(preset: Preset, fingerprint: str, seed: int = 0, steps: int | None = None) -> str:
    """rawdiff.runs.cache_key of the ISPNet run for (preset, data, seed)."""
    tcfg = train_config(preset.isp_train, seed, steps)
    return cache_key("isp", model=asdict(preset.isp_net), train=tcfg, data=fingerprint, seed=tcfg.seed)


def get_or_train_ispnet(preset: Preset, data: PhoneData, fingerprint: str, *, cache_dir=None, device="auto",
                        seed: int = 0, progress: bool = True, steps: int | None = None,
                        data_root: str | os.PathLike | None = None) -> Trained:
    """ISPNet from the cache (rawdiff.runs key: config + data fingerprint + seed) or trained now."""
    tcfg = train_config(preset.isp_train, seed, steps)
    key = ispnet_key(preset, fingerprint, seed, steps)
    meta = {"kind": "isp", "scale": preset.name, "seed": tcfg.seed, "steps": tcfg.steps, "key": key,
            "data": _data_label(fingerprint, data_root), "data_digest": fingerprint}
    return _cached(cache_path(cache_dir, "isp", key, "diffraw"), tcfg.steps, lambda: build_ispnet(preset),
                   lambda d, resume: train_ispnet(preset, data, d, device, resume, progress, seed=tcfg.seed,
                                                  steps=steps), meta, device)


def diffraw_key(preset: Preset, fingerprint: str, *, condition: str = "raw+c", mode: str = "dtdm",
                s: int | None = None, seed: int = 0, steps: int | None = None) -> str:
    """rawdiff.runs.cache_key of a DiffRAW UNet run; sampler settings are left out, and for ``mode="ddpm"`` also
    s and gamma (they play no role in training the baseline network)."""
    cfg = preset.dtdm if s is None else replace(preset.dtdm, s=int(s))
    tcfg = train_config(preset.diffraw_train, seed, steps)
    dcfg = weights_only("dtdm", cfg)
    if mode == "ddpm":
        dcfg.pop("s"), dcfg.pop("gamma")
    return cache_key("diffraw", model={"unet": asdict(preset.diffraw_unet), "dtdm": dcfg}, train=tcfg,
                     data=fingerprint, seed=tcfg.seed, extra={"mode": mode, "condition": condition})


def get_or_train_diffraw(preset: Preset, data: PhoneData, fingerprint: str, *, condition: str = "raw+c",
                         mode: str = "dtdm", s: int | None = None, cache_dir=None, device="auto", seed: int = 0,
                         progress: bool = True, steps: int | None = None,
                         data_root: str | os.PathLike | None = None) -> Trained:
    """DiffRAW UNet (DTDM or DDPM baseline, any condition / s) from the cache or trained now.

    Its run.json names the ISPNet cache entry of the same (preset, data, seed) as ``isp_run``, so
    ``rawdiff develop --run`` can use a notebook's DTDM run directly.
    """
    if condition not in CONDITIONS:
        raise ValueError(f"unknown condition {condition!r}; expected one of {CONDITIONS}")
    cfg = preset.dtdm if s is None else replace(preset.dtdm, s=int(s))
    tcfg = train_config(preset.diffraw_train, seed, steps)
    key = diffraw_key(preset, fingerprint, condition=condition, mode=mode, s=s, seed=seed, steps=steps)
    name = f"{mode}-{condition.replace('+', '')}"
    meta = {"kind": "diffraw", "scale": preset.name, "seed": tcfg.seed, "steps": tcfg.steps, "key": key,
            "mode": mode, "condition": condition, "s": cfg.s, "data": _data_label(fingerprint, data_root),
            "data_digest": fingerprint, "isp_run": f"../isp-{ispnet_key(preset, fingerprint, seed)}"}
    return _cached(cache_path(cache_dir, name, key, "diffraw"), tcfg.steps, lambda: build_unet(preset),
                   lambda d, resume: train_diffraw(preset, data, d, device, resume, progress, condition=condition,
                                                   mode=mode, s=cfg.s, seed=tcfg.seed, steps=steps), meta, device)
