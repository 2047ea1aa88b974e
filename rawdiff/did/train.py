"""DiD ("Diffusion in the Dark", Nguyen et al., WACV-24): multi-scale training and the ``DID`` run kind.

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
checkpoint (in the run.json), or ``normalization="linear"`` (``2x - 1``) for the ablation.  The loss is
rawdiff.diffusion.edm.EDMLoss (EDM-weighted L2 + 5 x LPIPS when its weights exist).

Inference is rawdiff.diffusion.cascade.cascade_sample (any image size).
"""
from __future__ import annotations

import dataclasses
import math
import os
from collections import abc
from dataclasses import replace
from pathlib import Path
from typing import Mapping, Sequence

import torch

from rawdiff.config import DiDConfig, EDMConfig, Preset, TrainConfig, UNetConfig
from rawdiff.data.loaders import LowLightDataset
from rawdiff.data.stream import IN_MEMORY_BYTES, ShardedBatches, default_workers
from rawdiff.did.enhance import (
    META_FILE,
    DiDModel,
    build_denoiser,
    fit_normalizers,
    load_did,
)
from rawdiff.diffusion.cascade import check_scales
from rawdiff.diffusion.edm import EDMLoss, randn, sample_training_sigmas
from rawdiff.errors import DataError, RawdiffError
from rawdiff.metrics.image import lpips_loss_or_none, metric_availability
from rawdiff.norm import TailNorm, normalizer_from_dict
from rawdiff.presets import get_preset
from rawdiff.runs.lifecycle import ModelKind
from rawdiff.runs.store import Trained, cache_key, run_config, train_config
from rawdiff.tiling import resize
from rawdiff.train import train
from rawdiff.utils import resolve_device, to_inference


# ----------------------------------------------------------------------------------------------- batches
class LazyImages(abc.Sequence):
    """A sequence of ``3 x H x W`` [0, 1] float32 images formed when a batch asks for one (not kept as float32):
    training prepares them per batch (:class:`PairRows`) and fits the tail normaliser on a subset
    (:func:`fit_pair_normalizers`), whatever holds the pixels."""


class DiskImages(LazyImages):
    """One side (``"low"`` or ``"high"``) of a rawdiff.data.loaders.LowLightDataset as a sequence of ``3 x H x W``
    [0, 1] float tensors read from disk on demand (what :func:`load_lowlight` returns for large splits)."""

    def __init__(self, dataset: LowLightDataset, side: str):
        self.dataset, self.side = dataset, side

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, k: int) -> torch.Tensor:
        return self.dataset.read_side(int(k), self.side)


class PackedImages(LazyImages):
    """8-bit images held in memory as ``uint8`` and given out as float32 ``x / 255``: bit-identical to what
    rawdiff.data.io.read_image makes of an 8-bit file (float32 division by 255 both ways), at a quarter of the
    float32 bytes and without a PNG decode per batch.  Built by :meth:`pack`, which declines (``None``) when an
    image is not exactly ``k / 255`` (16-bit or float files: those stream from disk instead)."""

    def __init__(self, images: Sequence[torch.Tensor]):
        self.images = list(images)

    @classmethod
    def pack(cls, images: Sequence[torch.Tensor], shapes: Sequence[tuple[int, ...]]) -> "PackedImages | None":
        """``images`` (formed one at a time) packed into one ``uint8`` buffer laid out by their ``shapes`` (known
        beforehand, e.g. from the files' headers: one allocation, so the per-image float temporaries do not
        fragment the heap around many small buffers); ``None`` when an image is not 8-bit or not its shape."""
        sizes = [math.prod(sh) for sh in shapes]
        buf = torch.empty(sum(sizes), dtype=torch.uint8)
        packed, at = [], 0
        for k, (sh, size) in enumerate(zip(shapes, sizes)):
            x = images[k]
            if tuple(x.shape) != tuple(sh):
                return None
            q = buf[at:at + size].view(sh)
            q.copy_(torch.mul(x, 255.0).round_().clamp_(0, 255))
            if not torch.equal(q.float() / 255.0, x):
                return None
            packed.append(q)
            at += size
        return cls(packed)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, k: int) -> torch.Tensor:
        return self.images[int(k)].float() / 255.0


def fit_crop(x: torch.Tensor, crop: int) -> torch.Tensor:
    """A ``3 x H x W`` image as float32, up-sampled (bilinear, antialiased) so its short side is at least ``crop``."""
    x = x.float()
    if x.ndim != 3 or x.shape[0] != 3:
        raise DataError(f"expected 3 x H x W images, got shape {tuple(x.shape)}")
    h, w = x.shape[-2:]
    if min(h, w) < crop:
        f = crop / min(h, w)
        x = resize(x[None], (max(crop, round(h * f)), max(crop, round(w * f))))[0]
    return x


class PairRows:
    """Training pairs for DiD and the regression baseline, each prepared by ``prepare(dark, bright)``: prepared once
    and kept (in-memory lists, the pre-streaming behaviour) or read and prepared when a batch needs them
    (:class:`DiskImages`).  Both give the same tensors."""

    def __init__(self, dark: Sequence[torch.Tensor], bright: Sequence[torch.Tensor], prepare):
        if len(dark) != len(bright) or not len(dark):
            raise DataError(f"need matching non-empty dark/bright image lists, got {len(dark)} and {len(bright)}")
        self.lazy = isinstance(dark, LazyImages) or isinstance(bright, LazyImages)
        self.dark, self.bright, self.prepare = dark, bright, prepare
        self.pairs = None if self.lazy else [prepare(d.cpu(), b.cpu()) for d, b in zip(dark, bright)]  # host: workers

    def __len__(self) -> int:
        return len(self.dark)

    def __getitem__(self, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.pairs[k] if self.pairs is not None else self.prepare(self.dark[k], self.bright[k])


class MultiScalePatchBatches(ShardedBatches):
    """``batch_fn(step, generator)`` for rawdiff.train: DiD's multi-scale 32x32 patch batches (module docs).

    ``dark``/``bright``: sequences of ``3 x H x W`` [0, 1] tensors (pairs) — lists (kept in memory) or
    :class:`DiskImages` (read when a batch needs them); images smaller than ``crop`` are up-sampled.  Every random
    number of the global batch is drawn from ``generator`` in a fixed order (:meth:`draw`), so a batch depends on
    ``(seed, step)`` only; :meth:`rows` forms rows ``lo..hi`` (rawdiff.data.stream.ShardedBatches) on the CPU.
    ``device`` is accepted for compatibility: batches are formed on the host and moved by the training loop.
    """

    def __init__(self, dark: Sequence[torch.Tensor], bright: Sequence[torch.Tensor], did: DiDConfig, edm: EDMConfig,
                 batch_size: int, dark_norm, bright_norm, device: str | torch.device = "cpu", workers: int = 0):
        self.levels = check_scales(did.scales, did.patch)
        if did.crop != did.scales[-1]:
            raise ValueError(f"DiDConfig.crop ({did.crop}) must equal the largest scale ({did.scales[-1]})")
        self.did, self.edm, self.batch_size, self.workers = did, edm, int(batch_size), int(workers)
        self.dark_norm, self.bright_norm = dark_norm, bright_norm
        self.pairs = PairRows(dark, bright, lambda d, b: (fit_crop(d, did.crop), fit_crop(b, did.crop)))

    def draw(self, step: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
        g, B, p = generator, self.batch_size, self.did.patch
        dev = g.device

        def u(*shape):
            return torch.rand(shape, generator=g, device=dev)

        d = {"level": torch.randint(self.levels, (1,), generator=g, device=dev),
             "idx": torch.randint(len(self.pairs), (B,), generator=g, device=dev)}
        d["crop_u"], d["patch_u"], d["eta"] = u(B, 2), u(B, 2), u(B)
        d["n_y1"] = randn((B, 3, p, p), g, device=dev)
        d["n_y2"] = randn((B, 3, p, p), g, device=dev)
        d["sigma"] = sample_training_sigmas(B, g, p_mean=self.edm.p_mean, p_std=self.edm.p_std, device=dev)
        d["noise"] = randn((B, 3, p, p), g, device=dev)
        if self.did.augment:   # rawdiff.data.augment.augment_pair's 9 x B uniforms, drawn where it drew them
            d["aug"] = torch.rand((9, B), generator=g, device=dev)
        if self.did.eta_per_batch:  # official: one eta for the whole batch, one shared noise for both s=0 slots
            d["eta"], d["n_y2"] = d["eta"][:1].expand(B), d["n_y1"]
        return d

    def rows(self, d: dict, lo: int, hi: int) -> dict[str, torch.Tensor]:
        did, p, crop, n = self.did, self.did.patch, self.did.crop, hi - lo
        d = {k: v.cpu() for k, v in d.items()}   # the draws live on the CPU (a no-op there): no per-row syncs
        level = int(d["level"])
        darks, brights = [], []
        for i, k in zip(range(lo, hi), d["idx"][lo:hi].tolist()):
            dk, bk = self.pairs[k]
            h, w = dk.shape[-2:]
            top = int(d["crop_u"][i, 0] * (h - crop + 1))
            left = int(d["crop_u"][i, 1] * (w - crop + 1))
            darks.append(dk[:, top:top + crop, left:left + crop])
            brights.append(bk[:, top:top + crop, left:left + crop])
        dark, bright = torch.stack(darks), torch.stack(brights)
        if did.augment:  # official: pair flips, bright-only jitter
            from rawdiff.data.augment import augment_pair

            dark, bright = augment_pair(dark, bright, None, u=d["aug"][:, lo:hi])
        res = did.scales[level]
        e = d["eta"][lo:hi].reshape(-1, 1, 1, 1)
        n_y1, n_y2 = d["n_y1"][lo:hi], d["n_y2"][lo:hi]
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
            ys = (d["patch_u"][lo:hi, 0] * (res - p + 1)).long().tolist()
            xs = (d["patch_u"][lo:hi, 1] * (res - p + 1)).long().tolist()
            cut = {k: nm.forward(torch.stack([v[i, :, y:y + p, x:x + p] for i, (y, x) in enumerate(zip(ys, xs))]))
                   for k, (nm, v) in full.items()}
            cond = torch.cat([cut["c_x"], cut["c_y1"] + e * n_y1, cut["c_y2"]], dim=1)
            target = cut["target"]
        return {"target": target.contiguous(), "cond": cond.contiguous(), "sigma": d["sigma"][lo:hi],
                "noise": d["noise"][lo:hi], "level": torch.full((n,), level)}


# ----------------------------------------------------------------------------------------------- data
PACKED_BYTES = 1 << 30
"""Splits too large for float32 in memory (rawdiff.data.stream.IN_MEMORY_BYTES) but at most this many bytes as
8-bit pixels are held as :class:`PackedImages`: LOL's 485 training pairs are 0.70 GB so (2.8 GB as float32).
Reading them from disk decoded 2 x 16 PNGs per step, ~4x a study step's time on 2 CPU cores with no DataLoader
workers; larger sets (ZRR, 150 GB) still stream."""

FIT_PAIRS = 128
"""At most this many pairs (evenly spaced) feed the tail normaliser's statistics of a streamed split: bounded time
(~0.2 s a 600 x 400 pair on one CPU thread: ~25 s) and memory (one image at a time, rawdiff.norm.RunningStats),
so the time to the first step does not grow with the split.  In-memory splits (every ``study`` set) use all pairs,
as before; LOL's 485 training pairs stream, so its statistics come from 128 of them."""


def lowlight_storage(ds: LowLightDataset, *, max_bytes: int | None = None, packed_bytes: int | None = None) -> str:
    """How :func:`load_lowlight` holds a split, by its size alone (nothing decoded): ``"float32"`` (at most
    ``max_bytes`` as float32, default rawdiff.data.stream.IN_MEMORY_BYTES), ``"8-bit"`` (at most ``packed_bytes``
    as 8-bit pixels, default :data:`PACKED_BYTES`; streamed after all when an image is not 8-bit) or ``"disk"``."""
    nbytes = len(ds) * ds.pair_nbytes()
    if nbytes <= (IN_MEMORY_BYTES if max_bytes is None else int(max_bytes)):
        return "float32"
    return "8-bit" if nbytes // 4 <= (PACKED_BYTES if packed_bytes is None else int(packed_bytes)) else "disk"


def load_lowlight(root: str | os.PathLike, split: str = "train", *, max_bytes: int | None = None,
                  packed_bytes: int | None = None
                  ) -> tuple[Sequence[torch.Tensor], Sequence[torch.Tensor], list[str]]:
    """``(dark images, bright images, names)`` of a low-light dataset (rawdiff.data.loaders.LowLightDataset: our
    synthetic layout or LOL): float32 lists in memory when the split as float32 is at most ``max_bytes`` (default
    rawdiff.data.stream.IN_MEMORY_BYTES); else :class:`PackedImages` (8-bit in memory) when its 8-bit size is at
    most ``packed_bytes`` (default :data:`PACKED_BYTES`) and every image is 8-bit; else :class:`DiskImages` read on
    demand.  All three give the same float32 images, so the same batches."""

    ds = LowLightDataset(root, split)
    if not len(ds):
        raise DataError(f"{root}: the {split!r} split of the low-light dataset is empty")
    storage = lowlight_storage(ds, max_bytes=max_bytes, packed_bytes=packed_bytes)
    if storage != "float32":
        names = [str(n) for n in ds.names]
        if storage == "8-bit":
            low = PackedImages.pack(DiskImages(ds, "low"), [ds.image_shape(i, "low") for i in range(len(ds))])
            high = None if low is None else PackedImages.pack(
                DiskImages(ds, "high"), [ds.image_shape(i, "high") for i in range(len(ds))])
            if high is not None:
                return low, high, names
        return DiskImages(ds, "low"), DiskImages(ds, "high"), names
    dark, bright, names = [], [], []
    for i in range(len(ds)):
        item = ds[i]
        dark.append(item["low"].float())
        bright.append(item["high"].float())
        names.append(str(item.get("name", i)))
    return dark, bright, names


def fit_pair_normalizers(dark: Sequence[torch.Tensor], bright: Sequence[torch.Tensor], normalization: str = "tail"):
    """rawdiff.did.enhance.fit_normalizers in bounded memory: in-memory lists as before (all pairs); streamed
    splits (:class:`DiskImages`) one image at a time over at most :data:`FIT_PAIRS` evenly spaced pairs."""
    if normalization != "tail" or not (isinstance(dark, LazyImages) or isinstance(bright, LazyImages)):
        return fit_normalizers(dark, bright, normalization)
    n = len(dark)
    idx = [round(i * (n - 1) / (FIT_PAIRS - 1)) for i in range(FIT_PAIRS)] if n > FIT_PAIRS else range(n)
    return TailNorm.fit(dark[i] for i in idx), TailNorm.fit(bright[i] for i in idx)


# ----------------------------------------------------------------------------------------------- training
def _meta(model_unet: UNetConfig, did: DiDConfig, edm: EDMConfig, train_cfg: TrainConfig, norms: dict,
          extra: Mapping | None = None) -> dict:
    return {"kind": "did", "unet": dataclasses.asdict(model_unet), "did": dataclasses.asdict(did),
            "edm": dataclasses.asdict(edm), "train": dataclasses.asdict(train_cfg), "norm": norms, **(extra or {})}


def train_did_tensors(preset: Preset | str, dark: Sequence[torch.Tensor], bright: Sequence[torch.Tensor],
                      out_dir: str | os.PathLike | None, *, normalization: str = "tail",
                      device: str | torch.device = "auto", resume: bool = False, progress: bool = True,
                      lpips: str | None = "auto", train_cfg: TrainConfig | None = None,
                      extra_config: Mapping | None = None, workers: int | None = None) -> Trained:
    """Train DiD on pairs (lists of 3 x H x W [0, 1] tensors, or :class:`DiskImages`); see :func:`train_did`.

    ``lpips="auto"`` adds DiD's 5 x LPIPS term when the AlexNet weights are cached (else the loss reports once
    that it runs without it); ``lpips=None`` never uses it.  ``train_cfg`` overrides ``preset.did_train``.
    """
    preset = get_preset(preset) if isinstance(preset, str) else preset
    dev = resolve_device(device)
    tcfg = train_cfg or preset.did_train
    out = Path(out_dir) if out_dir is not None else None
    if out is not None and not resume and ((out / "latest").exists() or (out / META_FILE).exists()):
        raise RawdiffError(f"{out}: already holds a DiD run; pass resume=True (--resume) or choose another folder")
    saved = run_config(out, (META_FILE,)) if out is not None and resume else None
    if saved is not None:
        dark_norm, bright_norm = (normalizer_from_dict(saved[0]["norm"]["dark"]),
                                  normalizer_from_dict(saved[0]["norm"]["bright"]))
    else:
        dark_norm, bright_norm = fit_pair_normalizers(dark, bright, normalization)
    norms = {"normalization": normalization, "dark": dark_norm.to_dict(), "bright": bright_norm.to_dict()}
    meta = {**_meta(preset.did_unet, preset.did, preset.edm, tcfg, norms, extra_config),
            "sampler": dataclasses.asdict(preset.did_sampler)}   # kept in run.json with each checkpoint

    lp_module, reason = (None, "disabled (lpips=None)")
    if lpips == "auto" and preset.edm.lpips_weight > 0:
        lp_module, reason = lpips_loss_or_none(dev)
    # LPIPS input: "model" (official) feeds the raw model-space tensors (LPIPS sees y itself: (y + 1) / 2 is
    # undone by its 2x - 1), "image" the clamped [0, 1] sRGB images (our default)
    to_image = (lambda y: (y + 1.0) / 2.0) if preset.did.lpips_space == "model" else bright_norm.inverse
    loss = EDMLoss(sigma_data=preset.edm.sigma_data, lpips=lp_module, lpips_reason=reason,
                   lpips_weight=preset.edm.lpips_weight if lpips else 0.0, to_image=to_image)
    batches = MultiScalePatchBatches(dark, bright, preset.did, preset.edm, tcfg.batch_size, dark_norm, bright_norm,
                                     workers=default_workers(dev) if workers is None else workers)
    model = build_denoiser(preset.did_unet, preset.edm, tcfg.seed)
    res = train(model, loss, batches, tcfg, out, device=dev, resume=resume, run_config=meta, progress=progress,
                desc=f"DiD ({normalization})")
    bundle = DiDModel(denoiser=to_inference(res.model, dev), dark_norm=dark_norm, bright_norm=bright_norm,
                      unet=preset.did_unet, did=preset.did, edm=preset.edm, normalization=normalization,
                      sampler=preset.did_sampler)
    return replace(res, model=bundle)


def train_did(preset: Preset | str, lowlight_root: str | os.PathLike, out_dir: str | os.PathLike, *,
              normalization: str = "tail", device: str | torch.device = "auto", resume: bool = False,
              progress: bool = True, lpips: str | None = "auto", steps: int | None = None,
              seed: int | None = None, workers: int | None = None) -> Trained:
    """Train DiD on the ``train`` split of a low-light dataset; checkpoints and run.json go to ``out_dir``.

    The normaliser statistics are fitted on that training split (dataset level) and saved in the run.json (``config``) and
    in the checkpoint's ``config.json``; ``resume=True`` continues an interrupted run with the same statistics.
    ``steps``/``seed`` override ``preset.did_train``.  Splits over rawdiff.data.stream.IN_MEMORY_BYTES are read
    from disk as batches need them (:func:`load_lowlight`), in ``workers`` DataLoader processes (default
    rawdiff.data.stream.default_workers: 0 on the CPU); their statistics come from :data:`FIT_PAIRS` pairs.
    """
    preset = get_preset(preset) if isinstance(preset, str) else preset
    tcfg = train_config(preset.did_train, seed, steps)
    dark, bright, _ = load_lowlight(lowlight_root, "train")
    return train_did_tensors(preset, dark, bright, out_dir, normalization=normalization, device=device,
                             resume=resume, progress=progress, lpips=lpips, train_cfg=tcfg, workers=workers,
                             extra_config={"data_root": str(lowlight_root), "scale": preset.name})



# ----------------------------------------------------------------------------------------------- run kind
def lpips_active(preset: Preset, lpips: str | None = "auto") -> bool:
    """Whether :func:`train_did_tensors` will add the LPIPS term: ``lpips="auto"``, a positive weight and the
    AlexNet weights on disk (rawdiff.metrics.image.metric_availability; nothing is loaded or downloaded)."""
    if lpips != "auto" or preset.edm.lpips_weight <= 0:
        return False
    return metric_availability("lpips").available


def did_key(preset: Preset, tcfg: TrainConfig, digest: str, *, normalization: str = "tail",
            lpips: str | None = "auto") -> str:
    """rawdiff.runs.store.cache_key of a DiD run: UNet, EDM and multi-scale training settings (not the sampler's),
    the normalisation, the data digest, the seed (in ``tcfg``) and whether the 5 x LPIPS term is active."""
    model = {"unet": dataclasses.asdict(preset.did_unet), "edm": dataclasses.asdict(preset.edm),
             "did": dataclasses.asdict(preset.did), "normalization": normalization}
    return cache_key("did", model=model, train=tcfg, data=digest, seed=tcfg.seed, lpips=lpips_active(preset, lpips))


def _train_kind(preset: Preset, data, out_dir, *, tcfg: TrainConfig, normalization: str = "tail",
                lpips: str | None = "auto", **kw) -> Trained:
    return train_did(preset, data, out_dir, normalization=normalization, steps=tcfg.steps, seed=tcfg.seed,
                     lpips=lpips if lpips_active(preset, lpips) else None, **kw)


DID = ModelKind(
    name="did", train_cfg=lambda preset: preset.did_train, key=did_key, train=_train_kind, load=load_did,
    folder=lambda normalization="tail", lpips="auto": f"did-{normalization}",
    meta=lambda preset, tcfg, digest, normalization="tail", lpips="auto": {
        "lpips": lpips_active(preset, lpips), "normalization": normalization})
"""DiD's run kind for rawdiff.runs.lifecycle.get_or_train: ``cache_dir/did-<normalization>-<key>/`` (options
``normalization`` = "tail" | "linear", ``lpips`` = "auto" | None), loaded as a rawdiff.did.enhance.DiDModel with the
caller's sampler settings."""


def default_did_run(info):
    """For rawdiff.runs.store.resolve_run (``rawdiff enhance`` without ``--run``): a DiD run with DiD's own tail
    normalisation, so the newest notebook-05 ablation model (``normalization = "linear"``) is not picked."""
    return info.path if info.meta.get("normalization", "tail") == "tail" else None
