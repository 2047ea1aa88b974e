"""DiD ("Diffusion in the Dark", Nguyen et al., WACV-24): training, checkpoint reuse, enhancement, evaluation.

Training (DESIGN.md §3, multi-scale patch training).  Each batch draws one scale ``s ~ U{0..L-1}``
(``L = len(DiDConfig.scales)``, working resolution ``res = scales[s] = 32 * 2^s``) and, per sample, a random
training image, a random ``crop x crop`` window and a random 32x32 patch location:

* ``s > 0``: ``c_x`` = dark crop resized to ``res``; ``c_y1`` = ground truth down to ``res/2`` and back up,
  plus ``N(0, eta^2)`` with ``eta ~ U(0, 1)``; ``c_y2`` = ground truth at 32x32 up-sampled to ``res``;
  target = ground truth at ``res``; all four cut at the same 32x32 location;
* ``s = 0``: the whole crop at 32x32; ``c_x = c_y1 = c_y2`` = the dark crop, the two ``c_y`` slots eta-noised.

Differences from the official training code (DESIGN.md §3) — each a documented option; the ``paper`` preset
follows the official code, ``smoke``/``study``/``medium`` keep our defaults:

==========================  ==========================================  =========================================
item                        official code                               here (option; paper preset value)
==========================  ==========================================  =========================================
augmentation                pair flips, blur/sharpen, brightness /      ``DiDConfig.augment`` (True):
                            saturation jitter, greyscale (bright only)  rawdiff.data.augment (our ranges)
learning-rate ramp-up       linear over the first 10 Mimg               ``TrainConfig.warmup_steps`` (10e6/64)
dropout                     0.13                                        ``UNetConfig.dropout`` (0.13)
gradient clipping           none (nan_to_num)                           ``TrainConfig.grad_clip`` (0 = none)
eta of the c_y1 noise       one per batch; s=0 slots share one noise    ``DiDConfig.eta_per_batch`` (True)
LPIPS input                 raw model-space tensors                     ``DiDConfig.lpips_space`` ("model")
LPIPS weights               AlexNet, downloaded                         only when cached offline (else L2 only)
crop / scales               256 crop, 4 scales                          ``DiDConfig`` (paper: 256, 4 scales)
UNet                        DDPM++ (song-unet)                          rawdiff.nn.unet (own UNet, same sizes)
==========================  ==========================================  =========================================

Resizing is bilinear and antialiased on [0, 1] images; normalisation is applied afterwards: DiD's tail
normalisation (rawdiff.norm.PairedTailNorm: dark statistics for dark images, bright statistics for targets
and the ``c_y`` slots that carry bright content), fitted once on the training set and saved beside the
checkpoint (``did.json``), or ``normalization="linear"`` (``2x - 1``) for the ablation.  The loss is
rawdiff.diffusion.edm.EDMLoss (EDM-weighted L2 + 5 x LPIPS when its weights exist).

Inference is rawdiff.diffusion.cascade.cascade_sample (any image size).
"""
from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import torch

from rawdiff.config import DiDConfig, EDMConfig, Preset, TrainConfig, UNetConfig, from_dict, get_preset
from rawdiff.diffusion.cascade import CascadeResult, cascade_sample, check_scales, resize
from rawdiff.diffusion.edm import EDMLoss, EDMPrecond, karras_sigmas, randn, sample_training_sigmas
from rawdiff.errors import DataError, RawdiffError
from rawdiff.norm import LinearNorm, PairedTailNorm, normalizer_from_dict
from rawdiff.utils import Timer, atomic_write_text, resolve_device, seeded_init, to_inference

__all__ = [
    "DiDModel", "MultiScalePatchBatches", "fit_normalizers", "build_denoiser", "load_lowlight",
    "train_did", "train_did_tensors", "load_did", "did_cache_key", "data_hash", "lpips_active", "get_or_train_did",
    "enhance", "EDMDenoiser",
    "evaluate_settings", "ilvr_settings", "overlap_settings",
]

META_FILE = "did.json"

# DiD's denoiser convention (EDM, Karras et al. 2022): D(x, sigma, cond) -> estimate of the clean image at noise
# level sigma (an EDMPrecond).  DiffRAW's is the other one: rawdiff.pipelines.diffraw_sample.X0Predictor (timestep).
EDMDenoiser = EDMPrecond


# ----------------------------------------------------------------------------------------------- model bundle
@dataclass
class DiDModel:
    """A trained DiD denoiser with everything needed to run the cascade."""

    denoiser: EDMPrecond
    dark_norm: Any
    bright_norm: Any
    unet: UNetConfig
    did: DiDConfig
    edm: EDMConfig
    normalization: str = "tail"
    run_dir: Path | None = None
    history: list[dict] = field(default_factory=list)
    train_seconds: float = float("nan")

    @property
    def device(self) -> torch.device:
        return next(self.denoiser.parameters()).device

    def norm_dict(self) -> dict:
        return {"normalization": self.normalization, "dark": self.dark_norm.to_dict(),
                "bright": self.bright_norm.to_dict()}


def fit_normalizers(dark: Iterable[torch.Tensor], bright: Iterable[torch.Tensor], normalization: str = "tail"):
    """``(dark_norm, bright_norm)``: DiD tail normalisation with dataset-level statistics fitted separately on
    the dark and the well-lit training images, or ``"linear"`` (``2x - 1``) for both."""
    if normalization == "tail":
        p = PairedTailNorm.fit(list(dark), list(bright))
        return p.dark, p.bright
    if normalization == "linear":
        return LinearNorm(), LinearNorm()
    raise ValueError(f"unknown DiD normalization {normalization!r}; expected 'tail' or 'linear'")


def build_denoiser(unet: UNetConfig, edm: EDMConfig, seed: int = 0) -> EDMPrecond:
    """EDM-preconditioned conditional UNet (12 input channels: noisy x + c_x + c_y1 + c_y2); init from ``seed``."""
    from rawdiff.nn.unet import UNet

    if unet.in_channels != 12 or unet.out_channels != 3:
        raise ValueError(f"DiD needs a UNet with 12 input (x + 3 conditions) and 3 output channels, got "
                         f"{unet.in_channels} -> {unet.out_channels}")
    with seeded_init(seed, "did-unet"):
        return EDMPrecond(UNet(unet), sigma_data=edm.sigma_data)


# ----------------------------------------------------------------------------------------------- batches
class MultiScalePatchBatches:
    """``batch_fn(step, generator)`` for rawdiff.train: DiD's multi-scale 32x32 patch batches (module docs).

    ``dark``/``bright``: lists of ``3 x H x W`` [0, 1] tensors (pairs), each at least ``crop`` px per side
    (smaller images are up-sampled at construction).  Every random number is drawn from ``generator`` in a
    fixed order, so a batch depends on ``(seed, step)`` only.
    """

    def __init__(self, dark: Sequence[torch.Tensor], bright: Sequence[torch.Tensor], did: DiDConfig, edm: EDMConfig,
                 batch_size: int, dark_norm, bright_norm, device: str | torch.device = "cpu"):
        if len(dark) != len(bright) or not dark:
            raise DataError(f"need matching non-empty dark/bright image lists, got {len(dark)} and {len(bright)}")
        self.levels = check_scales(did.scales, did.patch)
        if did.crop != did.scales[-1]:
            raise ValueError(f"DiDConfig.crop ({did.crop}) must equal the largest scale ({did.scales[-1]})")
        dev = resolve_device(device)
        self.did, self.edm, self.batch_size = did, edm, int(batch_size)
        self.dark_norm, self.bright_norm = dark_norm, bright_norm
        self.pairs = [(self._fit(d, did.crop).to(dev), self._fit(b, did.crop).to(dev)) for d, b in zip(dark, bright)]

    @staticmethod
    def _fit(x: torch.Tensor, crop: int) -> torch.Tensor:
        x = x.float()
        if x.ndim != 3 or x.shape[0] != 3:
            raise DataError(f"expected 3 x H x W images, got shape {tuple(x.shape)}")
        h, w = x.shape[-2:]
        if min(h, w) < crop:
            f = crop / min(h, w)
            x = resize(x[None], (max(crop, round(h * f)), max(crop, round(w * f))))[0]
        return x

    def __call__(self, step: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
        g, B, did, p = generator, self.batch_size, self.did, self.did.patch
        dev = g.device

        def u(*shape):
            return torch.rand(shape, generator=g, device=dev)

        level = int(torch.randint(self.levels, (1,), generator=g, device=dev))
        idx = torch.randint(len(self.pairs), (B,), generator=g, device=dev).tolist()
        crop_u, patch_u, eta = u(B, 2), u(B, 2), u(B)
        n_y1 = randn((B, 3, p, p), g, device=dev)
        n_y2 = randn((B, 3, p, p), g, device=dev)
        sigma = sample_training_sigmas(B, g, p_mean=self.edm.p_mean, p_std=self.edm.p_std, device=dev)
        noise = randn((B, 3, p, p), g, device=dev)

        crop = did.crop
        darks, brights = [], []
        for i, k in enumerate(idx):
            d, b = self.pairs[k]
            h, w = d.shape[-2:]
            top = int(crop_u[i, 0] * (h - crop + 1))
            left = int(crop_u[i, 1] * (w - crop + 1))
            darks.append(d[:, top:top + crop, left:left + crop])
            brights.append(b[:, top:top + crop, left:left + crop])
        dark, bright = torch.stack(darks), torch.stack(brights)
        if did.augment:  # official: pair flips, bright-only jitter (drawn after the draws above)
            from rawdiff.data.augment import augment_pair

            dark, bright = augment_pair(dark, bright, g)
        if did.eta_per_batch:  # official: one eta for the whole batch, one shared noise for both s=0 slots
            eta = eta[:1].expand(B)
            n_y2 = n_y1
        res = did.scales[level]
        e = eta.view(-1, 1, 1, 1)
        if level == 0:
            c_x = self.dark_norm.forward(resize(dark, (p, p)))
            target = self.bright_norm.forward(resize(bright, (p, p)))
            cond = torch.cat([c_x, c_x + e * n_y1, c_x + e * n_y2], dim=1)
        else:
            full = {
                "c_x": (self.dark_norm, resize(dark, (res, res))),
                "c_y1": (self.bright_norm, resize(resize(bright, (res // 2, res // 2)), (res, res))),
                "c_y2": (self.bright_norm, resize(resize(bright, (p, p)), (res, res))),
                "target": (self.bright_norm, resize(bright, (res, res))),
            }
            ys = (patch_u[:, 0] * (res - p + 1)).long().tolist()
            xs = (patch_u[:, 1] * (res - p + 1)).long().tolist()
            cut = {k: n.forward(torch.stack([v[i, :, y:y + p, x:x + p] for i, (y, x) in enumerate(zip(ys, xs))]))
                   for k, (n, v) in full.items()}
            cond = torch.cat([cut["c_x"], cut["c_y1"] + e * n_y1, cut["c_y2"]], dim=1)
            target = cut["target"]
        return {"target": target.contiguous(), "cond": cond.contiguous(), "sigma": sigma, "noise": noise,
                "level": torch.full((B,), level, device=dev)}


# ----------------------------------------------------------------------------------------------- data
def load_lowlight(root: str | os.PathLike, split: str = "train"
                  ) -> tuple[list[torch.Tensor], list[torch.Tensor], list[str]]:
    """``(dark images, bright images, names)`` of a low-light dataset (rawdiff.data.loaders.LowLightDataset:
    our synthetic layout or LOL our485/eval15)."""
    from rawdiff.data.loaders import LowLightDataset

    ds = LowLightDataset(root, split)
    dark, bright, names = [], [], []
    for i in range(len(ds)):
        item = ds[i]
        dark.append(item["low"].float())
        bright.append(item["high"].float())
        names.append(str(item.get("name", i)))
    if not dark:
        raise DataError(f"{root}: the {split!r} split of the low-light dataset is empty")
    return dark, bright, names


def data_hash(root: str | os.PathLike) -> str:
    """The cache key's data part: rawdiff.runs.data_digest (one digest for every pipeline)."""
    from rawdiff.runs import data_digest

    return data_digest(root)


# ----------------------------------------------------------------------------------------------- training
def _meta(model_unet: UNetConfig, did: DiDConfig, edm: EDMConfig, train_cfg: TrainConfig, norms: dict,
          extra: Mapping | None = None) -> dict:
    return {"kind": "did", "unet": dataclasses.asdict(model_unet), "did": dataclasses.asdict(did),
            "edm": dataclasses.asdict(edm), "train": dataclasses.asdict(train_cfg), "norm": norms, **(extra or {})}


def train_did_tensors(preset: Preset | str, dark: Sequence[torch.Tensor], bright: Sequence[torch.Tensor],
                      out_dir: str | os.PathLike | None, *, normalization: str = "tail",
                      device: str | torch.device = "auto", resume: bool = False, progress: bool = True,
                      lpips: str | None = "auto", train_cfg: TrainConfig | None = None,
                      extra_config: Mapping | None = None) -> DiDModel:
    """Train DiD on in-memory pairs (lists of 3 x H x W [0, 1] tensors); see :func:`train_did`.

    ``lpips="auto"`` adds DiD's 5 x LPIPS term when the AlexNet weights are cached (else the loss reports once
    that it runs without it); ``lpips=None`` never uses it.  ``train_cfg`` overrides ``preset.did_train``.
    """
    from rawdiff.train import train

    preset = get_preset(preset) if isinstance(preset, str) else preset
    dev = resolve_device(device)
    tcfg = train_cfg or preset.did_train
    out = Path(out_dir) if out_dir is not None else None
    if out is not None and not resume and ((out / "latest").exists() or (out / META_FILE).exists()):
        raise RawdiffError(f"{out}: already holds a DiD run; pass resume=True (--resume) or choose another folder")
    if out is not None and resume and (out / META_FILE).exists():
        meta = json.loads((out / META_FILE).read_text())
        dark_norm, bright_norm = (normalizer_from_dict(meta["norm"]["dark"]),
                                  normalizer_from_dict(meta["norm"]["bright"]))
    else:
        dark_norm, bright_norm = fit_normalizers(dark, bright, normalization)
    norms = {"normalization": normalization, "dark": dark_norm.to_dict(), "bright": bright_norm.to_dict()}
    meta = _meta(preset.did_unet, preset.did, preset.edm, tcfg, norms, extra_config)
    if out is not None:
        atomic_write_text(out / META_FILE, json.dumps(meta, indent=1, sort_keys=True))

    lp_module, reason = (None, "disabled (lpips=None)")
    if lpips == "auto" and preset.edm.lpips_weight > 0:
        from rawdiff.metrics import lpips_loss_or_none

        lp_module, reason = lpips_loss_or_none(dev)
    # LPIPS input: "model" (official) feeds the raw model-space tensors (LPIPS sees y itself: (y + 1) / 2 is
    # undone by its 2x - 1), "image" the clamped [0, 1] sRGB images (our default)
    to_image = (lambda y: (y + 1.0) / 2.0) if preset.did.lpips_space == "model" else bright_norm.inverse
    loss = EDMLoss(sigma_data=preset.edm.sigma_data, lpips=lp_module, lpips_reason=reason,
                   lpips_weight=preset.edm.lpips_weight if lpips else 0.0, to_image=to_image)
    batches = MultiScalePatchBatches(dark, bright, preset.did, preset.edm, tcfg.batch_size, dark_norm, bright_norm,
                                     dev)
    model = build_denoiser(preset.did_unet, preset.edm, tcfg.seed)
    res = train(model, loss, batches, tcfg, out, device=dev, resume=resume, run_config=meta, progress=progress,
                desc=f"DiD ({normalization})")
    return DiDModel(denoiser=to_inference(res.ema, dev), dark_norm=dark_norm, bright_norm=bright_norm, unet=preset.did_unet,
                    did=preset.did, edm=preset.edm, normalization=normalization, run_dir=out,
                    history=list(res.history), train_seconds=res.seconds)


def train_did(preset: Preset | str, lowlight_root: str | os.PathLike, out_dir: str | os.PathLike, *,
              normalization: str = "tail", device: str | torch.device = "auto", resume: bool = False,
              progress: bool = True, lpips: str | None = "auto", steps: int | None = None,
              seed: int | None = None) -> DiDModel:
    """Train DiD on the ``train`` split of a low-light dataset; checkpoints + ``did.json`` go to ``out_dir``.

    The normaliser statistics are fitted on that training split (dataset level) and saved in ``did.json`` and
    in the checkpoint's ``config.json``; ``resume=True`` continues an interrupted run with the same statistics.
    ``steps``/``seed`` override ``preset.did_train``.
    """
    preset = get_preset(preset) if isinstance(preset, str) else preset
    from rawdiff.runs import train_config

    tcfg = train_config(preset.did_train, seed, steps)
    dark, bright, _ = load_lowlight(lowlight_root, "train")
    return train_did_tensors(preset, dark, bright, out_dir, normalization=normalization, device=device,
                             resume=resume, progress=progress, lpips=lpips, train_cfg=tcfg,
                             extra_config={"data_root": str(lowlight_root), "scale": preset.name})


def load_did(run_dir: str | os.PathLike, device: str | torch.device = "auto", ema: bool = True) -> DiDModel:
    """Load a trained DiD run (``rawdiff train did --out RUN_DIR`` or :func:`train_did`)."""
    from rawdiff.checkpoint_io import config_errors
    from rawdiff.train import load_run, read_history, read_json

    run = Path(run_dir)
    meta_path = run / META_FILE
    if not meta_path.exists():
        meta_path = run / "config.json"
    if not meta_path.exists():
        raise RawdiffError(f"{run}: not a DiD run (no {META_FILE}); train one with `rawdiff train did`")
    meta = read_json(meta_path)
    if meta.get("kind") != "did":
        raise RawdiffError(f"{run}: holds a {meta.get('kind', 'non-DiD')!r} run, not a DiD run")
    with config_errors(meta_path):
        unet, did, edm = (from_dict(UNetConfig, meta["unet"], source=meta_path),
                          from_dict(DiDConfig, meta["did"], source=meta_path),
                          from_dict(EDMConfig, meta["edm"], source=meta_path))
        dark_norm, bright_norm = normalizer_from_dict(meta["norm"]["dark"]), normalizer_from_dict(meta["norm"]["bright"])
    dev = resolve_device(device)
    model = build_denoiser(unet, edm)
    load_run(run, model, ema=ema, device="cpu")
    return DiDModel(denoiser=to_inference(model, dev), dark_norm=dark_norm, bright_norm=bright_norm, unet=unet, did=did, edm=edm,
                    normalization=meta["norm"].get("normalization", "tail"), run_dir=run,
                    history=read_history(run))


# ----------------------------------------------------------------------------------------------- inference
def enhance(run_or_model: DiDModel | str | os.PathLike, dark_image: torch.Tensor, *, ilvr_steps: int | None = None,
            overlap: int | None = None, generator: torch.Generator | int | None = None,
            noised_reference: bool | None = None, num_steps: int | None = None, s_churn: float | None = None,
            max_batch: int | None = None, sigma_start: float | None = None, upper_steps: int | None = None,
            level0_cache: dict | None = None) -> CascadeResult:
    """Enhance dark sRGB image(s) (``3 x H x W`` or ``N x 3 x H x W`` in [0, 1], any size) with DiD's cascade.

    Unset options come from the model's configs (``DiDConfig.ilvr_steps``, ``tile_overlap``,
    ``ilvr_noised_reference``; ``EDMConfig.num_steps``, ``s_churn``).  ``generator``: torch.Generator or int
    seed (default 0).  Returns a :class:`rawdiff.diffusion.cascade.CascadeResult` (``.image``, ``.per_scale``).
    ``sigma_start``/``upper_steps``: few-step upper levels (rawdiff.diffusion.cascade.truncated_sigmas; unset =
    the paper's full schedule at every level).  ``level0_cache``: see rawdiff.diffusion.cascade.cascade_sample
    (calls that differ only above level 0 share its samples).
    """
    model = run_or_model if isinstance(run_or_model, DiDModel) else load_did(run_or_model)
    x = dark_image[None] if dark_image.ndim == 3 else dark_image
    if x.ndim != 4 or x.shape[1] != 3:
        raise DataError(f"expected a 3 x H x W (or N x 3 x H x W) sRGB image, got shape {tuple(dark_image.shape)}")
    d, e = model.did, model.edm
    sigmas = karras_sigmas(num_steps or e.num_steps, e.sigma_min, e.sigma_max, e.rho, device=model.device)
    upper = None
    if sigma_start is not None or upper_steps is not None:
        from rawdiff.diffusion.cascade import truncated_sigmas

        upper = truncated_sigmas(e.sigma_max if sigma_start is None else sigma_start,
                                 upper_steps or num_steps or e.num_steps, sigma_min=e.sigma_min, rho=e.rho,
                                 device=model.device)
    return cascade_sample(model.denoiser, x.to(model.device).float().clamp(0, 1), scales=d.scales,
                          dark_norm=model.dark_norm, bright_norm=model.bright_norm, sigmas=sigmas, patch=d.patch,
                          ilvr_steps=d.ilvr_steps if ilvr_steps is None else int(ilvr_steps),
                          noised_reference=d.ilvr_noised_reference if noised_reference is None else noised_reference,
                          overlap=d.tile_overlap if overlap is None else int(overlap),
                          s_churn=e.s_churn if s_churn is None else s_churn,
                          generator=0 if generator is None else generator, max_batch=max_batch,
                          upper_sigmas=upper, level0_cache=level0_cache)


# ----------------------------------------------------------------------------------------------- evaluation
def ilvr_settings(ks: Sequence[int] = (0, 3, 6, 18)) -> list[dict]:
    """Settings for the ILVR-steps ablation (paper default k = 6 of 18)."""
    return [{"setting": f"ILVR k={k}", "ilvr_steps": k} for k in ks]


def overlap_settings(overlaps: Sequence[int] = (0, 8)) -> list[dict]:
    """Settings for the tiling ablation: 0 = paper's non-overlapping tiles, > 0 = our blended tiles."""
    return [{"setting": "non-overlapping tiles (paper)" if o == 0 else f"blended tiles (overlap {o})", "overlap": o}
            for o in overlaps]


def evaluate_settings(model: DiDModel, dark: torch.Tensor, bright: torch.Tensor, settings: Sequence[Mapping],
                      *, seed: int = 0, metrics: Sequence[str] = ("psnr", "ssim", "lpips"), suite=None,
                      max_batch: int | None = None) -> tuple[list[dict], dict[str, CascadeResult]]:
    """Run :func:`enhance` on the images ``dark`` (N x 3 x H x W) once per setting and score against ``bright``.

    Each setting is a dict with a ``"setting"`` label and :func:`enhance` keyword overrides.  Returns
    ``(rows, results)``: one row per setting with the mean metrics (a metric that cannot run is its
    ``"unavailable: ..."`` string, never a number), seam visibility at the 32-px grid and at the setting's own
    tile borders, seconds per image and 32x32 network evaluations per image; ``results[label]`` the cascade.
    Level 0 is sampled once for all settings that share it (``level0_cache``; e.g. every ILVR or few-step setting),
    so a later setting's seconds exclude it while its network evaluations per image still count it.
    """
    from rawdiff.metrics import MetricSuite

    suite = suite or MetricSuite(metrics, device=model.device)
    rows, results, level0 = [], {}, {}
    bright = bright.to(model.device)
    for st in settings:
        kw = {k: v for k, v in st.items() if k != "setting"}
        with Timer(model.device) as t:
            res = enhance(model, dark, generator=seed, max_batch=max_batch, level0_cache=level0, **kw)
        vals = suite(res.image, bright)
        row = {"setting": st["setting"], "normalization": model.normalization,
               "ilvr_steps": kw.get("ilvr_steps", model.did.ilvr_steps),
               "overlap": kw.get("overlap", model.did.tile_overlap), **vals,
               "seam_grid32": float(res.seam_visibility(grid=model.did.patch).mean()),
               "seam_own_tiles": float(res.seam_visibility().mean()),
               "sec_per_image": t.seconds / dark.shape[0], "tile_nfe_per_image": res.tile_nfe}
        rows.append(row)
        results[st["setting"]] = res
    return rows, results


# the cached runs (rawdiff.runs) live in did_cache.py; re-exported here so `rawdiff.pipelines.did` keeps its names
from rawdiff.pipelines.did_cache import did_cache_key, get_or_train_did, lpips_active  # noqa: E402
