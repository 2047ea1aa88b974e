"""DiD on OCR word crops through the training cascade (issue 24, rule 7; Nguyen et al., "Diffusion in the Dark",
WACV-24, §3.2 cascade inference; rawdiff.diffusion.cascade).

**Content scale.**  The net is trained on ``crop x crop`` windows (``crop = scales[-1]``) shown at every working
resolution ``r`` in ``scales``: a pixel at level ``r`` covers ``crop / r`` pixels of the training image, and the finest
level sees the image 1:1.  :func:`enhance` runs ``L = len(scales)`` levels with the finest at the input's own
resolution, so the training scales on the crop as it is give each level the content scale it had in training
(the finest level sees the word 1:1, as training's finest level saw its images).  The earlier two-level cascade
``(32, 64)`` on the same 64 x 192 crops put the crop's own pixels at the level trained on half-resolution content
(a 64-px view of a 128-px window): half the training content scale.

**Tiles.**  Tiles overlap by :data:`OCR_TILE_OVERLAP` px and are blended (rawdiff.tiling.blend_window; the paper's
non-overlapping tiles cut characters at tile borders), and only the tiles the crop needs are sampled
(``skip_padding``: a 64 x 192 crop is reflect-padded to 128 x 256 for three levels, and half of it is padding).
"""
from __future__ import annotations

import dataclasses
from typing import Sequence

import torch

from rawdiff.did.enhance import DiDModel, enhance
from rawdiff.diffusion.cascade import CascadeResult
from rawdiff.errors import DataError

__all__ = ["OCR_TILE_OVERLAP", "word_cascade", "enhance_words", "word_cascade_line", "first_per_level"]

OCR_TILE_OVERLAP = 8      # px of blended overlap between 32-px tiles (notebook 05's tiling ablation uses 8 too)


def word_cascade(model: DiDModel, scales: Sequence[int] | None = None,
                 overlap: int = OCR_TILE_OVERLAP) -> DiDModel:
    """``model`` set up for word crops: cascade ``scales`` (None = the training scales, ``model.did.scales``) and
    tiles overlapping by ``overlap`` px.  The weights are shared, not copied."""
    sc = tuple(int(s) for s in (scales if scales is not None else model.did.scales))
    if not 0 <= int(overlap) < model.did.patch:
        raise DataError(f"word-crop tile overlap must be in [0, {model.did.patch}), got {overlap}")
    return dataclasses.replace(model, did=dataclasses.replace(model.did, scales=sc),
                               sampler=dataclasses.replace(model.sampler, tile_overlap=int(overlap)))


def enhance_words(model: DiDModel, dark: torch.Tensor, *, generator: int = 0) -> CascadeResult:
    """DiD on a batch of word crops (``N x 3 x H x W`` in [0, 1]) with ``model``'s cascade (see
    :func:`word_cascade`), sampling only the tiles the crops need."""
    return enhance(model, dark.to(model.device), generator=generator, skip_padding=True)


def word_cascade_line(model: DiDModel, size: tuple[int, int], result: CascadeResult | None = None) -> str:
    """One line: the word cascade's scales, the content scale of each level relative to training, the overlap,
    and (given a result) the tiles sampled per level and 32x32 network evaluations per crop."""
    sc, crop = model.did.scales, model.did.crop
    f = [2 ** (len(sc) - 1 - i) for i in range(len(sc))]
    ratio = [fi / (crop / r) for r, fi in zip(sc, f)]     # crop px per level px / training px per level px
    text = (f"DiD word cascade on {tuple(size)} crops: scales {tuple(sc)} (net trained on {crop}-px windows), "
            f"content scale vs training per level {[round(x, 2) for x in ratio]} (1 = as in training), tile overlap "
            f"{model.sampler.tile_overlap} px")
    if result is not None:
        text += f"; tiles per level {result.tiles_per_scale} (padded {result.padded}), {result.tile_nfe} evaluations"
    return text


def first_per_level(samples: Sequence, k: int | None) -> list:
    """The first ``k`` samples of each level (``sample.level``), in the benchmark's order — the same ``k`` clean
    words at every level, so comparisons stay paired; ``None`` or 0 = all."""
    if not k:
        return list(samples)
    seen: dict[str, int] = {}
    out = []
    for s in samples:
        seen[s.level] = seen.get(s.level, 0) + 1
        if seen[s.level] <= k:
            out.append(s)
    return out
