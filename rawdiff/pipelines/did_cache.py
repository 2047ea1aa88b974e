"""Cached DiD runs (rawdiff.runs): the cache key and ``get_or_train_did`` for notebooks 05/06.

The key covers everything that changes DiD's weights (Nguyen et al., WACV-24, trained as in
rawdiff.pipelines.did): UNet, EDM and multi-scale training settings (not the sampler's), the normalisation, the
data digest, the seed and whether the 5 x LPIPS loss term is active (it is only when its AlexNet weights exist).
"""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from rawdiff.config import Preset, TrainConfig, get_preset

if TYPE_CHECKING:
    from rawdiff.pipelines.did import DiDModel


def lpips_active(preset: Preset, lpips: str | None = "auto") -> bool:
    """Whether :func:`train_did_tensors` will add the LPIPS term: ``lpips="auto"``, a positive weight and the
    AlexNet weights on disk (rawdiff.metrics.metric_availability; nothing is loaded or downloaded)."""
    if lpips != "auto" or preset.edm.lpips_weight <= 0:
        return False
    from rawdiff.metrics import metric_availability

    return metric_availability("lpips").available


def did_cache_key(preset: Preset, normalization: str, data_digest: str, *, seed: int | None = None,
                  lpips: bool = False, train_cfg: TrainConfig | None = None) -> str:
    """rawdiff.runs.cache_key of a DiD run: training configs (not the sampler's), normalisation, data digest, seed
    and whether the LPIPS term is active."""
    from rawdiff.runs import cache_key, train_config, weights_only

    tcfg = train_config(train_cfg or preset.did_train, seed)
    model = {"unet": dataclasses.asdict(preset.did_unet), "edm": weights_only("edm", preset.edm),
             "did": weights_only("did", preset.did), "normalization": normalization}
    return cache_key("did", model=model, train=tcfg, data=data_digest, seed=tcfg.seed, lpips=lpips)


def get_or_train_did(preset: Preset | str, lowlight_root: str | os.PathLike, *, normalization: str = "tail",
                     cache_dir: str | os.PathLike | None = None, device: str | torch.device = "auto",
                     progress: bool = True, seed: int | None = None, steps: int | None = None,
                     lpips: str | None = "auto") -> DiDModel:
    """Reuse the cached DiD model for (config, data, seed, LPIPS on/off) if complete, else train it.

    The run lives in ``cache_dir/did-<normalization>-<key>/`` (``cache_dir`` default:
    rawdiff.utils.default_cache_dir(); rawdiff.runs.get_or_train), so notebooks 05 and 06 share one trained
    model and each runs alone.  ``seed``/``steps`` override ``preset.did_train``.
    """
    from rawdiff.pipelines import did as _did  # module attributes looked up at call time (tests patch them)
    from rawdiff.runs import cache_path, get_or_train, train_config

    preset = get_preset(preset) if isinstance(preset, str) else preset
    tcfg = train_config(preset.did_train, seed, steps)
    digest, lp = _did.data_hash(lowlight_root), lpips_active(preset, lpips)
    key = did_cache_key(preset, normalization, digest, seed=tcfg.seed, lpips=lp, train_cfg=tcfg)
    meta = {"kind": "did", "scale": preset.name, "seed": tcfg.seed, "steps": tcfg.steps, "key": key,
            "data": str(Path(lowlight_root).resolve()), "data_digest": digest, "lpips": lp,
            "normalization": normalization}
    model, hit = get_or_train(
        cache_path(cache_dir, f"did-{normalization}", key), tcfg.steps,
        lambda d, resume: _did.train_did(preset, lowlight_root, d, normalization=normalization, device=device,
                                    resume=resume, progress=progress, lpips=lpips if lp else None,
                                    steps=tcfg.steps, seed=tcfg.seed),
        lambda d: _did.load_did(d, device), meta)
    model.did, model.edm = preset.did, preset.edm  # same training settings (key); the caller's sampler settings
    if not hit.reused:
        model.train_seconds = hit.seconds
    return model


def default_did_run(info):
    """For rawdiff.runs.resolve_run (``rawdiff enhance`` without ``--run``): a DiD run with DiD's own tail
    normalisation, so the newest notebook-05 ablation model (``normalization = "linear"``) is not picked."""
    return info.path if info.meta.get("normalization", "tail") == "tail" else None
