"""DiffRAW end to end: train ISPNet and the DTDM UNet, cache them, develop RAW images, evaluate baselines.

What notebooks 03/04, the ``rawdiff train isp|diffraw`` / ``rawdiff develop`` commands and
benchmarks/bench_dtdm.py call.  The maths lives in rawdiff.diffusion (DTDM: dtdm.py; baselines: ddpm.py),
the networks in rawdiff.nn, the degradation in rawdiff.camera.degrade.

Data flow (DESIGN.md §3; images in [0, 1] outside the diffusion, [-1, 1] inside):

* training pair: packed phone RAW w (N x 4 x h x w) and DSLR sRGB y (N x 3 x 2h x 2w);
* ISPNet: w (+ full-frame coordinates) -> sRGB, L1 to y;
* DiffRAW training: c_train = x_train = D²(y) (degrade.degrade, drawn on the fly inside ``batch_fn``), the
  UNet input is [y_t, w upsampled (nearest) to 2h x 2w, c] (3 + 4 + 3 channels); t ~ U{1..s}; MSE to y;
* DiffRAW test: c_test = x_test = ISPNet(w); DTDM reverse from y_s = sqrt(abar_s) x + sqrt(1-abar_s) eps.
* condition ablation: ``condition="raw"`` zeroes c in the UNet input, ``"none"`` zeroes w and c (the
  UNet keeps its 10 input channels).  The DTDM start y_s still contains x in every variant — the ablation
  removes the explicit condition channels only.
* ``mode="ddpm"``: the baseline network — same UNet, same conditions and budget, trained on ordinary DDPM
  marginals (gamma = 0) with t ~ U{1..T}; used for DDPM-1000 / DDIM-K from noise and SDEdit-style
  truncation (DESIGN.md §3 baselines).

Run-directory layout (``rawdiff train``/``rawdiff develop``): ``RUN/isp/`` (ISPNet run of rawdiff.train),
``RUN/diffraw/`` (DTDM UNet run), ``RUN/run.json`` (scale, data root).  Notebook cache layout:
``cache_dir/diffraw/<kind>-<key>/`` with key = sha256 of (model config, train config, data fingerprint,
seed, code version), so notebook 04 reuses notebook 03's checkpoints and every notebook also runs alone.
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
import torch.nn.functional as F

from rawdiff.camera.degrade import DegradeConfig, degrade
from rawdiff.config import DTDMConfig, Preset, TrainConfig
from rawdiff.diffusion import ddpm as ddpm_mod
from rawdiff.diffusion import dtdm as dtdm_mod
from rawdiff.diffusion.schedules import abar_from_config, timesteps
from rawdiff.errors import DataError, RawdiffError
from rawdiff.nn.ispnet import ISPNet, coord_grid
from rawdiff.utils import Timer, default_cache_dir, make_generator, resolve_device, seeded_init, sha256_json, to_inference

CONDITIONS = ("raw+c", "raw", "none")
MODES = ("dtdm", "ddpm")
CACHE_VERSION = 1   # bump when training code changes what a cached checkpoint means


# =============================================================================================== data
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
    from rawdiff.data.loaders import ZRRDataset

    ds = ZRRDataset(root, split)
    t = ds.tensors(device)
    if isinstance(t, dict):
        raw, rgb, meta = t["raw"], t["rgb"], t.get("meta")
    else:
        raw, rgb, meta = t[0], t[1], None
    names = [str(n) for n in getattr(ds, "names", range(raw.shape[0]))]
    return PhoneData(raw.float(), rgb.float(), names, meta)


def dataset_fingerprint(root: str | os.PathLike, max_hash_files: int = 4000) -> str:
    """Stable id of a dataset folder: sha256 of its file contents (<= ``max_hash_files`` files), else of
    relative names and sizes (the real ZRR has ~96k files)."""
    import hashlib

    root = Path(root)
    files = sorted(p for p in root.rglob("*") if p.is_file() and not p.name.startswith("."))
    h = hashlib.sha256()
    full = len(files) <= max_hash_files
    for p in files:
        h.update(str(p.relative_to(root)).encode())
        h.update(p.read_bytes() if full else str(p.stat().st_size).encode())
    return h.hexdigest()


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
    (rawdiff.data.ensure_datasets makes it if missing, so every notebook runs alone)."""
    from rawdiff.data import ensure_datasets

    phone, _ = ensure_datasets(preset.data, seed=seed, data_root=data_root, cache_dir=cache_dir)
    root = Path(phone)
    return Prepared(load_phone(root, "train", device), load_phone(root, "test", device), dataset_fingerprint(root),
                    root)


# =============================================================================================== helpers
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
    """Packed RAW -> a displayable RGB at 2x (R, mean G, B; per-image max normalised, gamma 1/2.2)."""
    rgb = torch.stack([w[:, 0], (w[:, 1] + w[:, 2]) / 2, w[:, 3]], 1)
    rgb = rgb / rgb.amax(dim=(1, 2, 3), keepdim=True).clamp(min=1e-6)
    return raw_to_output_res(rgb.clamp(0, 1) ** (1 / 2.2))


def _random_crops(data: PhoneData, idx: torch.Tensor, crop: int, gen: torch.Generator):
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


def _key(*parts: Any) -> str:
    return sha256_json([CACHE_VERSION, *parts])[:16]


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


def _train_cfg(cfg: TrainConfig, seed: int | None, steps: int | None) -> TrainConfig:
    if seed is not None:
        cfg = replace(cfg, seed=int(seed))
    if steps is not None:
        cfg = replace(cfg, steps=int(steps), ckpt_every=min(cfg.ckpt_every, int(steps)))
    return cfg


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


# =============================================================================================== cache
@dataclass
class Trained:
    """A trained (EMA) model with where it lives and its loss history."""

    model: torch.nn.Module
    run_dir: Path
    history: list[dict]
    reused: bool
    seconds: float


def _get_or_train(kind: str, key: str, steps: int, build: Callable, train_fn: Callable, cache_dir,
                  device) -> Trained:
    from rawdiff.train import load_run, read_history, run_is_complete

    run_dir = Path(cache_dir or default_cache_dir()) / "diffraw" / f"{kind}-{key}"
    dev = resolve_device(device)
    if run_is_complete(run_dir, steps):
        model = build()
        load_run(run_dir, model, ema=True, device="cpu")
        return Trained(to_inference(model, dev), run_dir, read_history(run_dir), True, 0.0)
    res = train_fn(run_dir, resume=run_dir.exists())
    return Trained(to_inference(res.ema, dev), run_dir, res.history, False, res.seconds)


def get_or_train_ispnet(preset: Preset, data: PhoneData, fingerprint: str, *, cache_dir=None, device="auto",
                        seed: int = 0, progress: bool = True) -> Trained:
    """ISPNet from the cache (keyed by config + data fingerprint + seed) or trained now."""
    tcfg = _train_cfg(preset.isp_train, seed, None)
    key = _key("isp", asdict(preset.isp_net), asdict(tcfg), fingerprint)
    return _get_or_train("isp", key, tcfg.steps, lambda: build_ispnet(preset),
                         lambda d, resume: train_ispnet(preset, data, d, device, resume, progress, seed=seed),
                         cache_dir, device)


def get_or_train_diffraw(preset: Preset, data: PhoneData, fingerprint: str, *, condition: str = "raw+c",
                         mode: str = "dtdm", s: int | None = None, cache_dir=None, device="auto", seed: int = 0,
                         progress: bool = True) -> Trained:
    """DiffRAW UNet (DTDM or DDPM baseline, any condition / s) from the cache or trained now."""
    cfg = preset.dtdm if s is None else replace(preset.dtdm, s=int(s))
    tcfg = _train_cfg(preset.diffraw_train, seed, None)
    dcfg = asdict(cfg)
    if mode == "ddpm":  # s and gamma play no role in training the baseline network
        dcfg.pop("s"), dcfg.pop("gamma"), dcfg.pop("sample_steps"), dcfg.pop("eta")
    key = _key("diffraw", mode, condition, dcfg, asdict(preset.diffraw_unet), asdict(tcfg), fingerprint)
    return _get_or_train(f"{mode}-{condition.replace('+', '')}", key, tcfg.steps, lambda: build_unet(preset),
                         lambda d, resume: train_diffraw(preset, data, d, device, resume, progress,
                                                         condition=condition, mode=mode, s=cfg.s, seed=seed),
                         cache_dir, device)


# =============================================================================================== inference
@torch.no_grad()
def run_ispnet(isp: ISPNet, w: torch.Tensor, coords: torch.Tensor | None = None, batch: int = 16) -> torch.Tensor:
    """c_test = x_test = ISPNet(w) in [0, 1] (batched)."""
    dev = next(isp.parameters()).device
    outs = []
    for i in range(0, w.shape[0], batch):
        cc = None if coords is None else coords[i:i + batch].to(dev)
        outs.append(isp.develop(w[i:i + batch].to(dev), cc).to(w.device))
    return torch.cat(outs)


def _net_fn(unet) -> Callable:
    def fn(y_t, t, cond):
        return unet(y_t, t, cond)
    return fn


@torch.no_grad()
def develop_dtdm(unet, w: torch.Tensor, c: torch.Tensor, cfg: DTDMConfig, steps: int | Sequence[int] | None = None, *,
                 condition: str = "raw+c", generator: torch.Generator | None = None, eta: float | None = None,
                 x: torch.Tensor | None = None, noise: torch.Tensor | None = None) -> torch.Tensor:
    """DiffRAW inference: DTDM from y_s = sqrt(abar_s) x + sqrt(1 - abar_s) eps, x = c (default), K steps.

    ``w`` packed RAW and ``c`` colour condition in [0, 1]; returns sRGB in [0, 1].  Passing a different
    ``c`` with the same ``x`` is *not* what colour plug-and-play does: there x = c (use :func:`plug_and_play`).
    """
    abar, gamma = dtdm_mod.dtdm_tables(cfg)
    xs = to_pm1(c if x is None else x)
    step_list = timesteps(cfg.s, steps or cfg.sample_steps) if not isinstance(steps, (list, tuple)) else list(steps)
    den = dtdm_mod.make_denoiser(_net_fn(unet), x=xs, abar=abar, gamma=gamma, prediction=cfg.prediction)
    init = None if noise is None else dtdm_mod.dtdm_start(xs, step_list[0], abar, noise=noise)
    out = dtdm_mod.sample_dtdm(den, xs, step_list, abar=abar, gamma=gamma, cond=make_cond(w, c, condition),
                               generator=generator, eta=cfg.eta if eta is None else eta, init=init)
    return from_pm1(out)


@torch.no_grad()
def develop_baseline(unet, w: torch.Tensor, c: torch.Tensor, cfg: DTDMConfig, method: str, steps: int | None = None, *,
                     s: int | None = None, condition: str = "raw+c",
                     generator: torch.Generator | None = None) -> torch.Tensor:
    """Baselines on the gamma = 0 network (mode="ddpm"): ``"ddpm"`` (ancestral, T steps, from noise),
    ``"ddim"`` (K steps from noise, eta = 0), ``"truncated"`` (SDEdit-style from s, K steps, no shift)."""
    abar = abar_from_config(cfg)
    cond = make_cond(w, c, condition)
    den = dtdm_mod.make_denoiser(_net_fn(unet), x=torch.zeros_like(c), abar=abar, gamma=torch.zeros_like(abar),
                                 prediction=cfg.prediction)
    shape = (w.shape[0], 3, 2 * w.shape[-2], 2 * w.shape[-1])
    if method in ("ddpm", "ddim"):
        noise = torch.randn(shape, generator=generator, device=w.device)
        if method == "ddpm":
            out = ddpm_mod.sample_ddpm(den, noise, abar=abar, cond=cond, generator=generator)
        else:
            out = ddpm_mod.sample_ddim(den, noise, steps or cfg.sample_steps, abar=abar, cond=cond, generator=generator)
    elif method == "truncated":
        out = ddpm_mod.sample_truncated(den, to_pm1(c), steps or cfg.sample_steps, abar=abar, s=s or cfg.s,
                                        cond=cond, generator=generator)
    else:
        raise ValueError(f"unknown baseline {method!r}; expected 'ddpm', 'ddim' or 'truncated'")
    return from_pm1(out)


@torch.no_grad()
def plug_and_play(unet, w: torch.Tensor, c_new: torch.Tensor, cfg: DTDMConfig, steps: int | None = None, *,
                  generator: torch.Generator | None = None) -> torch.Tensor:
    """Colour plug-and-play: same RAW w, another colour condition c_new (used as both x and c)."""
    return develop_dtdm(unet, w, c_new, cfg, steps, generator=generator)


def recolour(img: torch.Tensor, kind: str) -> torch.Tensor:
    """Colour transforms for plug-and-play demos: ``"warm"``/``"cool"`` white balance, ``"sepia"``, ``"mono"``."""
    if kind == "warm":
        m = torch.diag(torch.tensor([1.25, 1.0, 0.75]))
    elif kind == "cool":
        m = torch.diag(torch.tensor([0.8, 1.0, 1.25]))
    elif kind == "sepia":
        m = torch.tensor([[0.393, 0.769, 0.189], [0.349, 0.686, 0.168], [0.272, 0.534, 0.131]])
    elif kind == "mono":
        m = torch.tensor([[0.299, 0.587, 0.114]] * 3)
    elif kind == "none":
        return img
    else:
        raise ValueError(f"unknown recolour kind {kind!r}")
    return torch.einsum("ij,njhw->nihw", m.to(img), img).clamp(0, 1)


def _lab(img: torch.Tensor):
    from skimage.color import rgb2lab

    return rgb2lab(img.detach().permute(0, 2, 3, 1).cpu().double().clamp(0, 1).numpy(), channel_axis=-1)


def color_error(pred: torch.Tensor, target: torch.Tensor, sigma: float = 2.0) -> torch.Tensor:
    """Per-image mean CIEDE2000 (Sharma et al. 2005, via skimage) between Gaussian low-passed (``sigma`` px)
    prediction and target: colour fidelity that ignores detail and noise.  Lower is better.  (N,)"""
    from skimage.color import deltaE_ciede2000

    k = int(2 * round(3 * sigma) + 1)
    r = torch.arange(k, dtype=torch.float32, device=pred.device) - k // 2
    g = torch.exp(-0.5 * (r / sigma) ** 2)
    g = g / g.sum()

    def blur(z):
        z = F.pad(z, (k // 2,) * 4, mode="reflect" if k // 2 < min(z.shape[-2:]) else "replicate")
        z = F.conv2d(z, g.view(1, 1, 1, k).expand(z.shape[1], 1, 1, k), groups=z.shape[1])
        return F.conv2d(z, g.view(1, 1, k, 1).expand(z.shape[1], 1, k, 1), groups=z.shape[1])

    de = deltaE_ciede2000(_lab(blur(pred.float())), _lab(blur(target.float())), channel_axis=-1)
    return torch.from_numpy(de.reshape(de.shape[0], -1).mean(1)).float()


def mean_color_distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-image CIEDE2000 between the *mean* Lab colours of ``a`` and ``b`` (global colour cast; scenes
    may differ).  (N,)"""
    from skimage.color import deltaE_ciede2000

    la, lb = _lab(a).mean(axis=(1, 2)), _lab(b).mean(axis=(1, 2))
    return torch.from_numpy(deltaE_ciede2000(la, lb, channel_axis=-1)).float()


def chroma_stats(img: torch.Tensor) -> torch.Tensor:
    """Per-image mean chromaticity (r/(r+g+b), b/(r+g+b)) — the colour statistic used for plug-and-play (N x 2)."""
    m = img.mean(dim=(2, 3))
    s = m.sum(1, keepdim=True).clamp(min=1e-6)
    return torch.stack([m[:, 0], m[:, 2]], 1) / s


# =============================================================================================== evaluation
@dataclass(frozen=True)
class Method:
    """One row of the step ablation: ``kind`` in {"dtdm", "ddpm", "ddim", "truncated", "ispnet", "simple_isp"}."""

    kind: str
    steps: int | None = None
    s: int | None = None
    label: str | None = None

    @property
    def name(self) -> str:
        """Method name in the claims CSV contract (rawdiff/claims.py): dtdm, ddpm, ddim, truncated_no_shift,
        ispnet, simple_isp."""
        return self.label or ("truncated_no_shift" if self.kind == "truncated" else self.kind)

    def nfe(self, T: int) -> int:
        if self.kind in ("ispnet", "simple_isp"):
            return 0
        if self.kind == "ddpm":
            return T
        start = T if self.kind == "ddim" else self.s
        return len(timesteps(start, self.steps)) - 1


def simple_isp_output(w: torch.Tensor) -> torch.Tensor:
    """The hand-written ISP baseline (rawdiff.camera.isp.simple_isp), at full output resolution."""
    from rawdiff.camera.isp import simple_isp

    out = simple_isp(w)
    if out.shape[-1] != 2 * w.shape[-1]:
        out = F.interpolate(out, size=(2 * w.shape[-2], 2 * w.shape[-1]), mode="bilinear", align_corners=False)
    return out.clamp(0, 1)


@torch.no_grad()
def evaluate(methods: Sequence[Method], test: PhoneData, *, c_test: torch.Tensor, nets: dict, cfg: DTDMConfig,
             seed: int = 0, metric_names: Sequence[str] = ("psnr", "ssim"), n_images: dict | None = None,
             device="auto", condition: str = "raw+c", keep_outputs: bool = False) -> list[dict]:
    """Rows (method, steps, s, nfe, n_images, <metrics>, sec_per_image) for each method on ``test``.

    ``nets``: {"dtdm": {s: unet}, "ddpm": unet}; ``c_test`` = ISPNet(w) for the test images;
    ``n_images``: per-kind cap (e.g. {"ddpm": 4} — DDPM-1000 is slow on CPU).  Every method gets the same
    per-image noise (one generator per method seeded by ``seed``).  Unavailable metrics stay strings.
    """
    from rawdiff.metrics import MetricSuite

    dev = resolve_device(device)
    suite = MetricSuite(metric_names, device=dev)
    rows, outputs = [], {}
    for m in methods:
        n = min(len(test), (n_images or {}).get(m.kind, len(test)))
        w, y, c = test.raw[:n].to(dev), test.rgb[:n].to(dev), c_test[:n].to(dev)
        gen = make_generator(seed, dev)
        with Timer(dev) as tm:
            if m.kind == "ispnet":
                out = c
            elif m.kind == "simple_isp":
                out = simple_isp_output(w)
            elif m.kind == "dtdm":
                out = develop_dtdm(nets["dtdm"][m.s or cfg.s], w, c, replace(cfg, s=m.s or cfg.s), m.steps,
                                   condition=condition, generator=gen)
            else:
                out = develop_baseline(nets["ddpm"], w, c, cfg, m.kind, m.steps, s=m.s, condition=condition,
                                       generator=gen)
        vals = suite(out, y)
        row = {"method": m.name, "steps": m.steps if m.kind not in ("ddpm",) else cfg.T, "s": m.s,
               "nfe": m.nfe(cfg.T), "n_images": n}
        row.update({k: (round(v, 4) if isinstance(v, float) else v) for k, v in vals.items()})
        row["sec_per_image"] = round(tm.seconds / n, 4)
        rows.append(row)
        if keep_outputs:
            outputs[m.name] = out.cpu()
    return (rows, outputs) if keep_outputs else rows


# =============================================================================================== run dirs (CLI)
def write_run_info(run_dir: str | os.PathLike, **info) -> None:
    from rawdiff.utils import atomic_write_text

    p = Path(run_dir) / "run.json"
    old = json.loads(p.read_text()) if p.exists() else {}
    atomic_write_text(p, json.dumps({**old, **info}, indent=1, default=str))


def load_run_dir(run_dir: str | os.PathLike, device="cpu") -> tuple[ISPNet, torch.nn.Module, DTDMConfig, dict]:
    """ISPNet + DTDM UNet (EMA weights) and the DTDM config from ``RUN/isp`` and ``RUN/diffraw``."""
    from rawdiff.config import DTDMConfig, ISPNetConfig, UNetConfig, from_dict
    from rawdiff.nn.unet import UNet
    from rawdiff.train import load_run

    run_dir = Path(run_dir)
    for sub in ("isp", "diffraw"):
        if not (run_dir / sub / "latest").exists():
            raise RawdiffError(f"{run_dir}: missing {sub}/ checkpoint (train it with "
                               f"`rawdiff train {'isp' if sub == 'isp' else 'diffraw'} --out {run_dir}`)")
    isp_conf = json.loads((run_dir / "isp" / "config.json").read_text())
    dif_conf = json.loads((run_dir / "diffraw" / "config.json").read_text())
    isp = ISPNet(from_dict(ISPNetConfig, isp_conf["isp_net"]))
    load_run(run_dir / "isp", isp, ema=True)
    unet = UNet(from_dict(UNetConfig, dif_conf["unet"]))
    load_run(run_dir / "diffraw", unet, ema=True)
    cfg = DTDMConfig(**dif_conf["dtdm"])
    return to_inference(isp, device), to_inference(unet, device), cfg, dif_conf


def _ramp(n: int, overlap: int, lo: bool, hi: bool) -> torch.Tensor:
    r = torch.ones(n)
    if overlap > 0:
        ramp = (torch.arange(overlap, dtype=torch.float32) + 0.5) / overlap
        if lo:
            r[:overlap] = ramp
        if hi:
            r[n - overlap:] = ramp.flip(0)
    return r


@torch.no_grad()
def develop_raw(isp: ISPNet, unet, cfg: DTDMConfig, packed: torch.Tensor, *, steps: int | None = None,
                tile: int = 128, overlap: int = 16, seed: int = 0, condition: str = "raw+c",
                progress: Callable | None = None) -> torch.Tensor:
    """Develop one packed RAW (1 x 4 x h x w, [0, 1]) of any size: ISPNet then DTDM, tiled with blending.

    Tiles are ``tile`` x ``tile`` packed pixels (output 2x) with ``overlap`` packed pixels shared with each
    neighbour; outputs are blended with linear ramps (feathering) so no seams appear.  ISPNet sees the
    full-frame coordinates of each tile.  Returns 1 x 3 x 2h x 2w in [0, 1].
    """
    dev = next(unet.parameters()).device
    _, _, h, w = packed.shape
    down = getattr(unet, "downsample_factor", 4)
    step_px = max(2, tile - overlap)
    tile_h, tile_w = min(tile, h), min(tile, w)
    mult = max(1, down // 2) * 2
    tile_h, tile_w = [((t + mult - 1) // mult) * mult for t in (tile_h, tile_w)]
    out = torch.zeros(1, 3, 2 * h, 2 * w)
    wsum = torch.zeros(1, 1, 2 * h, 2 * w)
    tops = list(range(0, max(h - tile_h, 0) + 1, step_px)) or [0]
    lefts = list(range(0, max(w - tile_w, 0) + 1, step_px)) or [0]
    if tops[-1] + tile_h < h:
        tops.append(h - tile_h)
    if lefts[-1] + tile_w < w:
        lefts.append(w - tile_w)
    gen = make_generator(seed, dev)
    total, done = len(tops) * len(lefts), 0
    for t in tops:
        for l in lefts:
            win = packed[:, :, t:t + tile_h, l:l + tile_w]
            ph, pw = tile_h - win.shape[-2], tile_w - win.shape[-1]
            if ph or pw:  # image smaller than a tile: pad (replicate) and crop the result
                win = F.pad(win, (0, pw, 0, ph), mode="replicate")
            coords = coord_grid(1, tile_h, tile_w, top=t, left=l, full=(h, w), device=dev)
            c = isp.develop(win.to(dev), coords)
            y = develop_dtdm(unet, win.to(dev), c, cfg, steps, condition=condition, generator=gen).cpu()
            hh, ww = min(tile_h, h - t), min(tile_w, w - l)
            y = y[..., :2 * hh, :2 * ww]
            ov = 2 * overlap
            wy = _ramp(2 * hh, min(ov, 2 * hh), t > 0, t + hh < h)
            wx = _ramp(2 * ww, min(ov, 2 * ww), l > 0, l + ww < w)
            wt = (wy[:, None] * wx[None, :])[None, None]
            out[..., 2 * t:2 * t + 2 * hh, 2 * l:2 * l + 2 * ww] += y * wt
            wsum[..., 2 * t:2 * t + 2 * hh, 2 * l:2 * l + 2 * ww] += wt
            done += 1
            if progress is not None:
                progress(done, total)
    return (out / wsum.clamp(min=1e-8)).clamp(0, 1)
