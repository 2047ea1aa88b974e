"""DiffRAW training: ISPNet (the colour condition c = ISPNet(w)) and the DTDM UNet, and their cached runs.

DiffRAW (Yi et al., AAAI-24), DESIGN.md §3: ISPNet maps w (+ full-frame coordinates) to sRGB with an L1 loss;
the DTDM UNet is trained on c_train = x_train = D²(y) (rawdiff.camera.degrade, drawn inside ``batch_fn``) with
t ~ U{1..s} and an MSE to y on the truncated marginals (D2); ``mode="ddpm"`` trains the baseline network on
ordinary DDPM marginals (gamma = 0, t ~ U{1..T}).  Cached runs go through rawdiff.runs.store (one key, one format):
``cache_dir/diffraw/isp-<key>/`` and ``cache_dir/diffraw/<mode>-<condition>-<key>/``.

Batches (issue 23) are rawdiff.data.stream.ShardedBatches: the random numbers of the global batch are drawn on
the CPU from the step generator, and each rank reads, crops and degrades only its own rows (from memory for small
splits, from disk for large ones: rawdiff.diffraw.data.load_phone), in DataLoader workers on accelerators.
"""
from __future__ import annotations

import os
from dataclasses import asdict, replace
from pathlib import Path
from typing import Callable

import torch

from rawdiff.camera.degrade import STREAM_VERSION, degrade, draw_shared
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
    to_pm1,
)
from rawdiff.data.stream import ShardedBatches, default_workers
from rawdiff.diffusion import dtdm as dtdm_mod
from rawdiff.nn.ispnet import ISPNet, coord_grid
from rawdiff.nn.unet import UNet
from rawdiff.runs.lifecycle import ModelKind
from rawdiff.runs.store import cache_key, kind_config, train_config
from rawdiff.train import load_run, train
from rawdiff.utils import resolve_device, seeded_init, to_inference


def _host(data: PhoneData) -> PhoneData:
    """Batches are cut on the host (crop before transfer); an in-memory PhoneData on a GPU comes back once."""
    return data if data.is_lazy or data.device.type == "cpu" else data.to("cpu")


def _workers(workers: int | None, dev: torch.device) -> int:
    return default_workers(dev) if workers is None else int(workers)


# =============================================================================================== ISPNet
def build_ispnet(preset: Preset, seed: int = 0) -> ISPNet:
    """ISPNet of the preset, initial weights from ``seed`` only."""
    with seeded_init(seed, "ispnet"):
        return ISPNet(preset.isp_net)


class PhoneBatches(ShardedBatches):
    """ISPNet's batches (rawdiff.data.stream.ShardedBatches): random pairs and even-aligned crops (``crop`` px at
    DSLR resolution; 0 or >= the frame: whole pairs) with their full-frame coordinates.

    :meth:`draw` makes the image indices and crop offsets of the global batch from the step generator, in the
    order the pre-streaming code drew them (same batches on the CPU); :meth:`rows` reads only the rows asked for
    (from memory, or from disk for a lazy :class:`PhoneData`) and crops them before anything is moved.
    """

    def __init__(self, data: PhoneData, batch_size: int, crop: int = 0, workers: int = 0):
        self.data, self.batch_size, self.workers = data, int(batch_size), int(workers)
        self.H, self.W = data.frame_size()
        self.crop = int(crop) if crop and crop < min(self.H, self.W) else 0
        if self.crop % 2:
            raise ValueError(f"training crop must be even (Bayer 2x2 cells), got {crop}")

    def draw(self, step: int, gen: torch.Generator) -> dict:
        B, pc = self.batch_size, self.crop // 2
        idx = torch.randint(0, len(self.data), (B,), generator=gen, device=gen.device)
        if not self.crop:
            return {"idx": idx, "top": torch.zeros_like(idx), "left": torch.zeros_like(idx)}
        tops = torch.randint(0, self.H // 2 - pc + 1, (B,), generator=gen, device=gen.device)
        lefts = torch.randint(0, self.W // 2 - pc + 1, (B,), generator=gen, device=gen.device)
        return {"idx": idx, "top": tops, "left": lefts}

    def crops(self, draws: dict, lo: int, hi: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Rows ``lo..hi``: packed RAW crops, DSLR crops and the crops' full-frame coordinates."""
        idx, tops, lefts = (draws[k][lo:hi].tolist() for k in ("idx", "top", "left"))
        raw, rgb = self.data.read_crops(idx, tops, lefts, self.crop)
        h, w = self.H // 2, self.W // 2
        if not self.crop:
            return raw, rgb, coord_grid(len(idx), h, w, device=raw.device)
        pc = self.crop // 2
        coords = torch.stack([coord_grid(1, pc, pc, top=t, left=l, full=(h, w), device=raw.device)[0]
                              for t, l in zip(tops, lefts)])
        return raw, rgb, coords

    def rows(self, draws: dict, lo: int, hi: int) -> dict:
        raw, rgb, coords = self.crops(draws, lo, hi)
        return {"raw": raw, "rgb": rgb, "coords": coords}


def ispnet_batch_fn(data: PhoneData, batch_size: int, crop: int = 0, workers: int = 0) -> PhoneBatches:
    """batch_fn for rawdiff.train: random images and even-aligned crops, all drawn from the step generator."""
    return PhoneBatches(data, batch_size, crop, workers)


def ispnet_loss(model, batch: dict) -> torch.Tensor:
    """L1 between ISPNet(w, coords) and the DSLR target (LiteISPNet's reconstruction loss)."""
    return (model(batch["raw"], batch["coords"]) - batch["rgb"]).abs().mean()


def train_ispnet(preset: Preset, data_root_phone: str | os.PathLike | PhoneData, out_dir: str | os.PathLike | None,
                 device: str | torch.device = "auto", resume: bool = False, progress: bool = True, *,
                 seed: int | None = None, steps: int | None = None, workers: int | None = None):
    """Train ISPNet on the ``train`` split of a ZRR-layout folder (or a :class:`PhoneData`) -> rawdiff.runs.store.Trained.

    Batches are formed on the host and moved per step (large splits stream from disk: rawdiff.diffraw.data.load_phone);
    ``workers``: DataLoader worker processes (default rawdiff.data.stream.default_workers: 0 on the CPU)."""
    dev = resolve_device(device)
    data = data_root_phone if isinstance(data_root_phone, PhoneData) else load_phone(data_root_phone, "train")
    tcfg = train_config(preset.isp_train, seed, steps)
    run_config = {"kind": "isp", "isp_net": asdict(preset.isp_net), "scale": preset.name}
    batches = ispnet_batch_fn(_host(data), tcfg.batch_size, preset.isp_net.train_crop, _workers(workers, dev))
    return train(build_ispnet(preset, tcfg.seed), ispnet_loss, batches, tcfg, out_dir, device=dev, resume=resume,
                 run_config=run_config, progress=progress, desc="ispnet")



# =============================================================================================== DiffRAW
def build_unet(preset: Preset, seed: int = 0):
    """DiffRAW UNet of the preset, initial weights from ``seed`` only."""

    with seeded_init(seed, "diffraw-unet"):
        return UNet(preset.diffraw_unet)


class DiffRAWBatches(PhoneBatches):
    """DiffRAW's batches: :class:`PhoneBatches` crops, x = D²(y) (rawdiff.camera.degrade), t and eps.

    :meth:`draw`: indices and offsets, then D²'s batch-shared values and seed (rawdiff.camera.degrade.draw_shared),
    then t and eps of the global batch; :meth:`rows` reads and degrades only its rows (``offset=lo``: the
    per-image D² draws of row i depend on i, not on which rank forms it).
    """

    def __init__(self, data: PhoneData, batch_size: int, cfg: DTDMConfig, *, mode: str = "dtdm",
                 degrade_cfg: DegradeConfig = DegradeConfig(), workers: int = 0):
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; expected one of {MODES}")
        super().__init__(data, batch_size, cfg.train_crop, workers)
        self.t_max = cfg.s if mode == "dtdm" else cfg.T
        self.degrade_cfg = degrade_cfg

    def draw(self, step: int, gen: torch.Generator) -> dict:
        d = super().draw(step, gen)
        d["d2"] = draw_shared(gen)
        size = (self.crop, self.crop) if self.crop else (self.H, self.W)
        d["t"], d["eps"] = dtdm_mod.sample_training_inputs(self.batch_size, self.t_max, gen,
                                                           (self.batch_size, 3, *size), device=gen.device)
        return d

    def rows(self, draws: dict, lo: int, hi: int) -> dict:
        raw, rgb, _ = self.crops(draws, lo, hi)
        x = degrade(rgb, cfg=self.degrade_cfg, offset=lo, shared=draws["d2"])
        return {"y": to_pm1(rgb), "x": to_pm1(x), "w": raw, "t": draws["t"][lo:hi], "eps": draws["eps"][lo:hi]}


def diffraw_batch_fn(data: PhoneData, batch_size: int, cfg: DTDMConfig, *, mode: str = "dtdm",
                     degrade_cfg: DegradeConfig = DegradeConfig(), workers: int = 0) -> DiffRAWBatches:
    """batch_fn: images, crops, x = D²(y), t and eps — all from the step generator (rawdiff.train contract).

    ``mode="dtdm"``: t ~ U{1..s}; ``"ddpm"``: t ~ U{1..T}.  Returns [-1, 1] tensors y, x, w (packed, [0, 1]).
    """
    return DiffRAWBatches(data, batch_size, cfg, mode=mode, degrade_cfg=degrade_cfg, workers=workers)


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
                  steps: int | None = None, workers: int | None = None):
    """Train the DiffRAW UNet (DTDM, or the gamma = 0 DDPM baseline with ``mode="ddpm"``) -> Trained; data and
    ``workers`` as in :func:`train_ispnet`."""
    if condition not in CONDITIONS:
        raise ValueError(f"unknown condition {condition!r}; expected one of {CONDITIONS}")
    dev = resolve_device(device)
    cfg = preset.dtdm if s is None else replace(preset.dtdm, s=int(s))
    data = data_root_phone if isinstance(data_root_phone, PhoneData) else load_phone(data_root_phone, "train")
    tcfg = train_config(preset.diffraw_train, seed, steps)
    run_config = {"kind": "diffraw", "mode": mode, "condition": condition, "dtdm": asdict(cfg),
                  "unet": asdict(preset.diffraw_unet), "scale": preset.name}
    return train(build_unet(preset, tcfg.seed), diffraw_loss_fn(cfg, mode=mode, condition=condition),
                 diffraw_batch_fn(_host(data), tcfg.batch_size, cfg, mode=mode, workers=_workers(workers, dev)),
                 tcfg, out_dir, device=dev,
                 resume=resume, run_config=run_config, progress=progress, desc=f"diffraw-{mode}-{condition}")



# =============================================================================================== run kinds
def _net_config(run_dir: Path, kind: str, what: str, section: str, cls):
    """The network config a run of ``kind`` was trained with (its run.json; older runs: config.json)."""
    conf, source = kind_config(run_dir, kind, what, ("config.json",))
    with config_errors(source):
        return from_dict(cls, conf[section], source=source)


def _ema_weights(model: torch.nn.Module, run_dir: Path, device, step: int | None = None) -> torch.nn.Module:
    load_run(run_dir, model, ema=True, device="cpu", step=step)
    return to_inference(model, resolve_device(device))


def load_ispnet(run_dir: str | os.PathLike, device="auto", preset: Preset | None = None, step: int | None = None,
                **_opts) -> ISPNet:
    """An ISPNet run's EMA network (at its latest checkpoint, or at ``step``: rawdiff.train.budget_steps), built
    from ``preset`` (a cache entry of that preset) or the run's own config."""
    cfg = preset.isp_net if preset is not None else _net_config(Path(run_dir), "isp", "ISPNet", "isp_net", ISPNetConfig)
    return _ema_weights(ISPNet(cfg), Path(run_dir), device, step)


def load_diffraw_unet(run_dir: str | os.PathLike, device="auto", preset: Preset | None = None,
                      step: int | None = None, **_opts) -> torch.nn.Module:
    """A DiffRAW UNet run's EMA network (latest, or at ``step``), built from ``preset`` or the run's own config."""
    cfg = (preset.diffraw_unet if preset is not None
           else _net_config(Path(run_dir), "diffraw", "DiffRAW UNet", "unet", UNetConfig))
    return _ema_weights(UNet(cfg), Path(run_dir), device, step)


def ispnet_key(preset: Preset, tcfg: TrainConfig, digest: str) -> str:
    """rawdiff.runs.store.cache_key of an ISPNet run: its config, training config (seed inside), data digest."""
    return cache_key("isp", model=asdict(preset.isp_net), train=tcfg, data=digest, seed=tcfg.seed)


def diffraw_key(preset: Preset, tcfg: TrainConfig, digest: str, *, condition: str = "raw+c", mode: str = "dtdm",
                s: int | None = None) -> str:
    """rawdiff.runs.store.cache_key of a DiffRAW UNet run; for ``mode="ddpm"`` s and gamma are left out (they play no
    role in training the baseline network).  D²'s stream version (rawdiff.camera.degrade.STREAM_VERSION) is in it: a
    net trained on another D² stream is another net."""
    cfg = preset.dtdm if s is None else replace(preset.dtdm, s=int(s))
    dcfg = asdict(cfg)
    if mode == "ddpm":
        dcfg.pop("s"), dcfg.pop("gamma")
    return cache_key("diffraw", model={"unet": asdict(preset.diffraw_unet), "dtdm": dcfg}, train=tcfg,
                     data=digest, seed=tcfg.seed,
                     extra={"mode": mode, "condition": condition, "d2_stream": STREAM_VERSION})


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
