"""A trained DiD denoiser and its inference ("Diffusion in the Dark", Nguyen et al., WACV-24).

:class:`DiDModel` bundles the EDM-preconditioned denoiser (Karras et al. 2022: D(x, sigma, cond) -> estimate of the
clean image at noise level sigma) with the dataset-level normalisers it was trained with; :func:`load_did` reads a
run folder (``run.json`` + checkpoint); :func:`enhance` runs DiD's multi-scale cascade (DESIGN.md §3, cascade
inference: rawdiff.diffusion.cascade.cascade_sample) on any image size; :func:`read_input` reads what ``rawdiff enhance``
is given (an 8/16-bit image, or a RAW file developed to dark sRGB).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import torch

from rawdiff.camera.isp import simple_isp
from rawdiff.camera.rawfile import (
    RAW_SUFFIXES,
    check_input_file,
    orient,
    read_raw_file,
    reference_camera,
    to_reference_camera,
)
from rawdiff.checkpoint_io import config_errors
from rawdiff.config import (
    DiDConfig,
    DiDSampler,
    EDMConfig,
    Preset,
    UNetConfig,
    from_dict,
)
from rawdiff.data.io import read_image_tensor
from rawdiff.diffusion.cascade import CascadeResult, cascade_sample
from rawdiff.diffusion.edm import EDMPrecond, karras_sigmas, truncated_sigmas
from rawdiff.diffusion.precision import base_seed
from rawdiff.errors import DataError
from rawdiff.nn.unet import UNet
from rawdiff.norm import LinearNorm, PairedTailNorm, normalizer_from_dict
from rawdiff.runs.store import kind_config
from rawdiff.train import load_run
from rawdiff.utils import resolve_device, seeded_init, to_inference

META_FILE = "did.json"   # where runs saved before run.json held the configs kept them


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
    sampler: DiDSampler = field(default_factory=DiDSampler)   # how :func:`enhance` samples (not trained)

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

    if unet.in_channels != 12 or unet.out_channels != 3:
        raise ValueError(f"DiD needs a UNet with 12 input (x + 3 conditions) and 3 output channels, got "
                         f"{unet.in_channels} -> {unet.out_channels}")
    with seeded_init(seed, "did-unet"):
        return EDMPrecond(UNet(unet), sigma_data=edm.sigma_data)


def load_did(run_dir: str | os.PathLike, device: str | torch.device = "auto", ema: bool = True,
             preset: Preset | None = None, step: int | None = None, **_opts) -> DiDModel:
    """Load a trained DiD run (``rawdiff train did`` or rawdiff.runs.lifecycle.get_or_train), at its latest
    checkpoint or at ``step`` (the budget checkpoints: rawdiff.train.budget_steps).

    The network and its training settings come from the run; the sampler (rawdiff.config.DiDSampler: Heun steps,
    sigmas, ILVR, tile overlap) is ``preset.did_sampler`` when a preset is given — so a notebook asking for other
    sampler settings reuses the same trained run — else the one saved with the run (runs saved before the sampler
    had its own config kept its fields in ``did`` / ``edm``; those are read), else the default.
    """
    run = Path(run_dir)
    meta, meta_path = kind_config(run, "did", "DiD", (META_FILE, "config.json"))
    with config_errors(meta_path):
        unet, did, edm = (from_dict(UNetConfig, meta["unet"], source=meta_path),
                          from_dict(DiDConfig, meta["did"], source=meta_path),
                          from_dict(EDMConfig, meta["edm"], source=meta_path))
        dark_norm, bright_norm = normalizer_from_dict(meta["norm"]["dark"]), normalizer_from_dict(meta["norm"]["bright"])
    dev = resolve_device(device)
    model = build_denoiser(unet, edm)
    load_run(run, model, ema=ema, device="cpu", step=step)
    if preset is not None:
        sampler = preset.did_sampler
    else:
        saved = meta.get("sampler") or {k: v for part in ("edm", "did") for k, v in meta[part].items()
                                        if k in {f.name for f in fields(DiDSampler)}}
        added = {"chunk": DiDSampler.chunk, "precision": DiDSampler.precision}   # fields newer than some runs
        with config_errors(meta_path):
            sampler = replace(DiDSampler(), **saved) if "sampler" not in meta else from_dict(
                DiDSampler, {**added, **saved}, source=meta_path)
    return DiDModel(denoiser=to_inference(model, dev), dark_norm=dark_norm, bright_norm=bright_norm, unet=unet,
                    did=did, edm=edm, normalization=meta["norm"].get("normalization", "tail"), sampler=sampler)


# ----------------------------------------------------------------------------------------------- inference
def enhance(run_or_model: DiDModel | str | os.PathLike, dark_image: torch.Tensor, *, ilvr_steps: int | None = None,
            overlap: int | None = None, generator: torch.Generator | int | None = None,
            noised_reference: bool | None = None, num_steps: int | None = None, s_churn: float | None = None,
            max_batch: int | None = None, sigma_start: float | None = None, upper_steps: int | None = None,
            level0_cache: dict | None = None, chunk: int | None = None, precision: str | None = None,
            image_offset: int = 0, skip_padding: bool = False) -> CascadeResult:
    """Enhance dark sRGB image(s) (``3 x H x W`` or ``N x 3 x H x W`` in [0, 1], any size) with DiD's cascade.

    Unset options come from the model's sampler (rawdiff.config.DiDSampler: ``ilvr_steps``, ``tile_overlap``,
    ``ilvr_noised_reference``, ``num_steps``, ``s_churn``).  ``generator``: torch.Generator or int
    seed (default 0).  Returns a :class:`rawdiff.diffusion.cascade.CascadeResult` (``.image``, ``.per_scale``).
    ``sigma_start``/``upper_steps``: few-step upper levels (rawdiff.diffusion.cascade.truncated_sigmas; unset =
    the paper's full schedule at every level).  ``level0_cache``: see rawdiff.diffusion.cascade.cascade_sample
    (calls that differ only above level 0 share its samples).  ``chunk``: images per cascade call (default the
    sampler's ``chunk``): the images go through the cascade ``chunk`` at a time, each drawing its noise by its
    index in ``dark_image`` (+ ``image_offset``), so the result does not depend on ``chunk``.  ``precision``:
    ``"fp32"``/``"bf16"`` (default the sampler's).  ``skip_padding``: sample only the upper-level tiles the
    input's extent needs (rawdiff.diffusion.cascade.cascade_sample; rawdiff.did.wordcascade uses it for word crops).
    """
    model = run_or_model if isinstance(run_or_model, DiDModel) else load_did(run_or_model)
    x = dark_image[None] if dark_image.ndim == 3 else dark_image
    if x.ndim != 4 or x.shape[1] != 3:
        raise DataError(f"expected a 3 x H x W (or N x 3 x H x W) sRGB image, got shape {tuple(dark_image.shape)}")
    d, e = model.did, model.sampler
    sigmas = karras_sigmas(num_steps or e.num_steps, e.sigma_min, e.sigma_max, e.rho, device=model.device)
    upper = None
    if sigma_start is not None or upper_steps is not None:
        upper = truncated_sigmas(e.sigma_max if sigma_start is None else sigma_start,
                                 upper_steps or num_steps or e.num_steps, sigma_min=e.sigma_min, rho=e.rho,
                                 device=model.device)
    base = base_seed(0 if generator is None else generator)   # one draw for the whole set, not one per chunk
    step = max(1, int(chunk or e.chunk))
    kw = dict(scales=d.scales, dark_norm=model.dark_norm, bright_norm=model.bright_norm, sigmas=sigmas, patch=d.patch,
              ilvr_steps=e.ilvr_steps if ilvr_steps is None else int(ilvr_steps),
              noised_reference=e.ilvr_noised_reference if noised_reference is None else noised_reference,
              overlap=e.tile_overlap if overlap is None else int(overlap),
              s_churn=e.s_churn if s_churn is None else s_churn, generator=base, max_batch=max_batch,
              upper_sigmas=upper, level0_cache=level0_cache, precision=precision or e.precision,
              skip_padding=skip_padding)
    parts = [cascade_sample(model.denoiser, x[a:a + step].to(model.device).float().clamp(0, 1),
                            image_offset=image_offset + a, **kw) for a in range(0, x.shape[0], step)]
    return parts[0] if len(parts) == 1 else CascadeResult.concat(parts)


# ----------------------------------------------------------------------------------------------- inputs
def read_raw_srgb(path: Path) -> torch.Tensor:
    """A RAW file developed to (dark) sRGB in [0, 1]: rawdiff's RAW reader (the file's white balance and colour
    matrix, reference camera) + simple ISP + the file's orientation; LibRaw's own development via rawpy (camera
    white balance, no auto-brightening: the image stays dark) for sensors the reader refuses (X-Trans, ...)."""
    try:
        packed, info = read_raw_file(path)
        ref = reference_camera() if info.wb_source != "none" else None
        return orient(simple_isp(to_reference_camera(packed, info), ref)[0].clamp(0, 1), info.flip)
    except DataError as err:
        if "unsupported sensor layout" not in str(err):
            raise
    try:
        import rawpy
    except ImportError:
        raise DataError(f"{path}: reading RAW files needs rawpy (pip install rawpy)") from None
    try:
        with rawpy.imread(str(path)) as r:
            rgb = r.postprocess(use_camera_wb=True, no_auto_bright=True, output_bps=16)
    except Exception as err:  # rawpy raises its own LibRaw* error classes
        raise DataError(f"{path}: not a readable RAW file ({type(err).__name__}: {err})") from None
    return torch.from_numpy(rgb.astype(np.float32) / 65535.0).permute(2, 0, 1).contiguous()


def read_input(path: str | os.PathLike, max_pixels: int | None = None) -> torch.Tensor:
    """``3 x H x W`` float tensor in [0, 1] from an 8/16-bit image or a RAW file; :class:`DataError` otherwise."""
    p = check_input_file(path, "an image or RAW file")
    if p.suffix.lower() in RAW_SUFFIXES:
        return read_raw_srgb(p)
    return read_image_tensor(p, max_pixels=max_pixels)  # one-line DataError for any unreadable image
