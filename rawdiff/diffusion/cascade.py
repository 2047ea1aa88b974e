"""DiD's coarse-to-fine patch cascade (Nguyen et al., "Diffusion in the Dark", WACV-24, §3.2; DESIGN.md §3),
generalised to images of any size.

The model is trained only on 32x32 patches.  With ``L = len(scales)`` levels, level ``l`` works on the image
down-sampled by ``2^(L-1-l)`` — exactly the scale a training patch of resolution ``scales[l]`` cut from a
``crop = scales[-1]`` training crop has — so a 128x128 image at the smoke scales (32, 64, 128) is sampled at
32x32 (1 tile), 64x64 (4 tiles) and 128x128 (16 tiles), and a 256x256 image at 64, 128, 256 (4 + 16 + 64
tiles).  Any H x W is first reflect-padded to a multiple of ``patch * 2^(L-1)`` and cropped back at the end.

Per level (conditions are 3-channel images concatenated in the order ``[c_x, c_y1, c_y2]``):

* level 0: ``cond = [dark, dark, dark]`` (dark image at that level, dark-normalised),
* level l > 0: ``c_x = dark``, ``c_y1 = previous level's output up-sampled x2``,
  ``c_y2 = level-0 output up-sampled`` (both bright-normalised);
* the level is cut into 32x32 tiles; **all tiles of a level (and of all images) go through the Heun sampler
  as one batch** (chunked to ``max_batch``); at levels l > 0 only, ILVR
  (:class:`rawdiff.diffusion.edm.ILVRProjection`) with reference ``c_y1`` runs after each of the first
  ``ilvr_steps`` steps.  Level 0 has no ILVR (official code: only upper levels have a previous output to use
  as reference; an earlier version of this module projected level 0 onto the dark input, which replaced the
  coarse output's low frequencies by the dark image);
* tiles are stitched back: non-overlapping (the paper; seams possible) or overlapping by ``overlap`` pixels
  and blended with a trapezoid window (our improvement).

**Few-step cascade (beyond the paper, in the spirit of DTDM / SDEdit).**  The paper spends the full Heun
schedule (18 steps, 35 network evaluations per tile) at every level although an upper level starts from a
good estimate, its up-sampled predecessor.  With ``upper_sigmas`` (e.g. :func:`truncated_sigmas`: a Karras
schedule from ``sigma_start`` down with fewer steps), levels l > 0 start at ``x = c_y1 + sigma_start * eps``
(the up-sampled previous output plus noise, model space) and run that schedule; ILVR is unchanged (first
``ilvr_steps`` steps).  When ``sigma_start`` is >= the full schedule's ``sigmas[0]`` the start is the paper's
pure noise ``sigma_max * eps`` (same generator draws), so ``sigma_start = sigma_max`` with the full step count
*is* the paper cascade, bit for bit.

**Remaining differences from the official DiD code** (training-side ones: rawdiff.did.train):

=====================================  ===================================  =================================
item                                   official code                        here
=====================================  ===================================  =================================
tile stitching                         non-overlapping tiles                same by default; ``overlap`` > 0
                                                                            blends tiles (our option)
image sizes                            fixed square sizes                   any H x W (reflect pad + crop)
resizing                               PIL / torch resize of the crop       bilinear antialiased on [0, 1]
upper-level schedule                   full 18 Heun steps                   same by default; few-step
                                                                            ``upper_sigmas`` is our option
=====================================  ===================================  =================================

Each tile gets its own ``torch.Generator`` seeded from ``(base seed, image, level, tile)``, so the batched
cascade equals sampling tile by tile (up to float round-off); ``image`` is the image's index in the whole set
(``image_offset`` + its row), so a set enhanced in chunks of images (rawdiff.did.enhance.enhance ``chunk``) draws
the same noise as in one call.  ``precision="bf16"`` runs the denoiser under bf16 autocast
(rawdiff.diffusion.precision).  Resizing is bilinear and antialiased, done on
[0, 1] images (then normalised), as in training (rawdiff.did.train).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Sequence

import torch

from rawdiff.diffusion.edm import ILVRProjection, count_nfe, randn, sample_heun, truncated_sigmas
from rawdiff.diffusion.precision import autocast_denoiser, base_seed
from rawdiff.metrics.detail import seam_visibility
from rawdiff.tiling import (blend_window, extract_tiles, level_sizes, pad_reflect, padded_size, resize, stitch_tiles,
                            tile_edges, tile_positions)
from rawdiff.utils import default_tile_batch, derive_seed, make_generator

__all__ = [
    "CascadeResult", "cascade_sample", "resize", "pad_reflect", "padded_size", "level_sizes", "tile_positions",
    "extract_tiles", "stitch_tiles", "blend_window", "tile_edges", "seam_visibility", "check_scales",
    "truncated_sigmas", "cascade_cost",
]




def check_scales(scales: Sequence[int], patch: int) -> int:
    """Validate DiD scales (``patch, 2 patch, 4 patch, ...``) and return the number of levels."""
    scales = tuple(int(s) for s in scales)
    if not scales or scales[0] != patch or any(b != 2 * a for a, b in zip(scales, scales[1:])):
        raise ValueError(f"DiD scales must be patch * 2^l = ({patch}, {2 * patch}, ...), got {scales}")
    return len(scales)


# ----------------------------------------------------------------------------------------------- cascade


def cascade_cost(h: int, w: int, scales: Sequence[int], sigmas: torch.Tensor, patch: int = 32,
                 upper_sigmas: torch.Tensor | None = None) -> dict:
    """Cost of :func:`cascade_sample` on one ``h x w`` image without running it: padded size, tiles and
    network evaluations per tile at each level, and their total (32x32 evaluations per image)."""
    levels = check_scales(scales, patch)
    hp, wp = padded_size(h, w, patch, levels)
    tiles = [len(tile_positions(a, patch)) * len(tile_positions(b, patch)) for a, b in level_sizes(hp, wp, levels)]
    nfe = [count_nfe(sigmas)] + [count_nfe(sigmas if upper_sigmas is None else upper_sigmas)] * (levels - 1)
    return {"padded": (hp, wp), "tiles_per_scale": tiles, "nfe_per_scale": nfe,
            "tile_nfe": sum(t * k for t, k in zip(tiles, nfe))}


@dataclass
class CascadeResult:
    """Output of :func:`cascade_sample`.

    ``image``: N x 3 x H x W in [0, 1] at the input size.  ``per_scale``: each level's output in [0, 1],
    cropped to the input's extent at that level (coarsest first).  ``model_space``: the same before the
    inverse normalisation (padded).  ``tiles_per_scale``: tiles per image at each level; ``nfe_per_scale``:
    network evaluations per tile at each level; ``tile_nfe``: 32x32 network evaluations per image
    (``sum(tiles x NFE per tile)`` over levels); ``denoiser_calls``: batched calls made.
    ``positions``: per level ``(ys, xs)`` tile offsets; ``padded``: padded input size.
    """

    image: torch.Tensor
    per_scale: list[torch.Tensor]
    model_space: list[torch.Tensor]
    tiles_per_scale: list[int]
    tile_nfe: int
    denoiser_calls: int
    positions: list[tuple[list[int], list[int]]] = field(default_factory=list)
    padded: tuple[int, int] = (0, 0)
    patch: int = 32
    nfe_per_scale: list[int] = field(default_factory=list)   # network evaluations per tile at each level

    @classmethod
    def concat(cls, parts: Sequence["CascadeResult"]) -> "CascadeResult":
        """The results of consecutive chunks of images as one result (images stacked; costs per image kept,
        ``denoiser_calls`` summed)."""
        first = parts[0]
        return cls(image=torch.cat([p.image for p in parts]),
                   per_scale=[torch.cat(z) for z in zip(*(p.per_scale for p in parts))],
                   model_space=[torch.cat(z) for z in zip(*(p.model_space for p in parts))],
                   tiles_per_scale=first.tiles_per_scale, tile_nfe=first.tile_nfe,
                   denoiser_calls=sum(p.denoiser_calls for p in parts), positions=first.positions,
                   padded=first.padded, patch=first.patch, nfe_per_scale=first.nfe_per_scale)

    def seam_visibility(self, grid: int | None = None) -> torch.Tensor:
        """:func:`seam_visibility` of ``image`` at the finest level's tile borders, or (``grid=g``) at every
        multiple of ``g`` px — e.g. ``grid=patch`` measures where the paper's non-overlapping seams fall."""
        h, w = self.image.shape[-2:]
        if grid:
            ey, ex = list(range(grid, h, grid)), list(range(grid, w, grid))
        else:
            ys, xs = self.positions[-1]
            ey, ex = tile_edges(ys, self.patch, self.padded[0]), tile_edges(xs, self.patch, self.padded[1])
        return seam_visibility(self.image, ey, ex)


def _encode(norm, x01: torch.Tensor) -> torch.Tensor:
    return norm.forward(x01)


def _level0_key(denoiser, base: int, sigmas: torch.Tensor, patch: int, overlap: int, s_churn: float, batch: int,
                cond: torch.Tensor, offset: int = 0, precision: str = "fp32") -> tuple:
    """What level 0's output depends on (no ILVR there): the denoiser, seed, schedule, tiling, churn, tiles per
    call (round-off), the images' place in the set, the precision and the level-0 condition (a SHA-1 digest of
    its bytes, shape included)."""
    import hashlib

    c = cond.detach().float().cpu().contiguous()
    digest = hashlib.sha1(c.numpy().tobytes()).hexdigest()
    return (id(denoiser), int(base), tuple(float(v) for v in sigmas), int(patch), int(overlap), float(s_churn),
            int(batch), tuple(c.shape), digest, int(offset), precision)


@torch.no_grad()
def cascade_sample(denoiser: Callable[..., torch.Tensor], dark: torch.Tensor, *, scales: Sequence[int],
                   dark_norm, bright_norm, sigmas: torch.Tensor, patch: int = 32, ilvr_steps: int = 6,
                   noised_reference: bool = False, overlap: int = 0, s_churn: float = 0.0,
                   generator: torch.Generator | int | None = None, max_batch: int | None = None,
                   callback: Callable[[dict], None] | None = None,
                   upper_sigmas: torch.Tensor | None = None, level0_cache: dict | None = None,
                   image_offset: int = 0, precision: str = "fp32", skip_padding: bool = False) -> CascadeResult:
    """Run DiD's cascade on dark sRGB images ``dark`` (N x 3 x H x W in [0, 1], any H, W); see module docs.

    ``denoiser(x, sigma, cond)``: EDM denoiser (:class:`rawdiff.diffusion.edm.EDMPrecond`) in model space.
    ``dark_norm`` / ``bright_norm``: normalisers (``forward``/``inverse``, rawdiff.norm) for the dark inputs
    and the well-lit outputs.  ``sigmas``: Heun schedule (:func:`rawdiff.diffusion.edm.karras_sigmas`).
    ``generator``: a ``torch.Generator`` (one integer is drawn from it) or an int base seed.
    ``max_batch``: tiles per sampler call (``1`` = tile by tile; ``None`` = rawdiff.utils.default_tile_batch).
    ``callback`` gets ``{"level", "tiles", "x"}`` after each level.  ``upper_sigmas``: the few-step schedule of
    levels l > 0 (:func:`truncated_sigmas`; module docs); ``None`` = ``sigmas`` at every level (the paper).
    ``level0_cache``: a dict shared by several calls that differ only in their upper levels (ILVR steps, few-step
    schedules): level 0 is sampled once and reused, bit for bit, by every later call whose level-0 inputs are the
    same (key: denoiser, seed, schedule, tiling and a digest of the level-0 condition).  ``tile_nfe`` still counts
    level 0 (the cost of the call on its own); ``denoiser_calls`` counts the calls actually made.
    ``image_offset``: index of ``dark[0]`` in the whole set (the tiles' noise streams follow the set index, so
    chunks of a set give the set's result).  ``precision``: ``"fp32"`` or ``"bf16"`` (denoiser under autocast).
    ``skip_padding``: at levels l > 0, sample only the tiles that start inside the region the output needs (the
    input's extent, halved per level down, e.g. rows 0..63 of a 64-px-high crop padded to 128); the padding
    they leave out takes the up-sampled previous level (``c_y1``).  Every sampled tile keeps its noise stream
    (its index in the full grid).  Cuts the cost of inputs far from a multiple of ``patch * 2^(L-1)`` (a 64 x 192
    word crop at three levels is padded to 128 x 256: 35 instead of 73 tiles with an 8-px overlap).
    """
    if dark.ndim != 4 or dark.shape[1] != 3:
        raise ValueError(f"dark must be N x 3 x H x W, got shape {tuple(dark.shape)}")
    levels = check_scales(scales, patch)
    n, _, h, w = dark.shape
    dev = dark.device
    base = base_seed(generator if generator is not None else 0)
    net = autocast_denoiser(denoiser, precision)
    hp, wp = padded_size(h, w, patch, levels)
    dark_p = pad_reflect(dark.float(), hp - h, wp - w)
    sizes = level_sizes(hp, wp, levels)
    up_sigmas = sigmas if upper_sigmas is None else upper_sigmas.to(sigmas.device, sigmas.dtype)
    truncated = float(up_sigmas[0]) < float(sigmas[0])
    need = [(h, w)]                     # per level (coarsest first): the extent the output needs
    for _ in range(levels - 1):
        need.insert(0, (math.ceil(need[0][0] / 2), math.ceil(need[0][1] / 2)))

    outs01: list[torch.Tensor] = []
    outs_model: list[torch.Tensor] = []
    positions, tiles_per_scale, nfe_per_scale, calls = [], [], [], 0
    for lvl, size in enumerate(sizes):
        c_x = _encode(dark_norm, resize(dark_p, size))
        if lvl == 0:  # no ILVR at the coarsest level (official code): there is no previous output
            cond = torch.cat([c_x, c_x, c_x], dim=1)
            ref, sig_l, start_mean = None, sigmas, None
        else:
            c_y1 = _encode(bright_norm, resize(outs01[-1], size))
            c_y2 = _encode(bright_norm, resize(outs01[0], size))
            cond = torch.cat([c_x, c_y1, c_y2], dim=1)
            ref, sig_l = c_y1, up_sigmas
            start_mean = c_y1 if truncated else None
        nfe_tile = count_nfe(sig_l)
        nfe_per_scale.append(nfe_tile)
        k_ilvr = int(ilvr_steps) if ref is not None else 0
        ys_all, xs_all = tile_positions(size[0], patch, overlap), tile_positions(size[1], patch, overlap)
        ys, xs = ys_all, xs_all
        if skip_padding and lvl > 0:   # tiles are in ascending order: the kept ones are a prefix per axis
            ys, xs = [y for y in ys_all if y < need[lvl][0]], [x0 for x0 in xs_all if x0 < need[lvl][1]]
        tids = [iy * len(xs_all) + ix for iy in range(len(ys)) for ix in range(len(xs))]
        positions.append((ys, xs))
        n_t = len(ys) * len(xs)
        tiles_per_scale.append(n_t)
        step = max(1, int(default_tile_batch(dev) if max_batch is None else max_batch))
        key = (_level0_key(denoiser, base, sigmas, patch, overlap, s_churn, step, cond, image_offset, precision)
               if lvl == 0 and level0_cache is not None else None)
        if key is not None and key in level0_cache:
            x_lvl = level0_cache[key]
        else:
            cond_t = extract_tiles(cond, ys, xs, patch)
            ref_t = extract_tiles(ref, ys, xs, patch) if k_ilvr else None
            mean_t = extract_tiles(start_mean, ys, xs, patch) if start_mean is not None else None
            gens = [make_generator(derive_seed(base, "did-cascade", image_offset + b, lvl, t), dev)
                    for b in range(n) for t in tids]
            results = []
            for a in range(0, len(gens), step):
                sl = slice(a, a + step)
                g = gens[sl]
                x0 = randn((len(g), 3, patch, patch), g, device=dev) * sig_l[0]
                if mean_t is not None:  # few-step upper level: previous output + noise at sigma_start
                    x0 = x0 + mean_t[sl]
                proj = ILVRProjection(ref_t[sl], noised_reference=noised_reference, generator=g) if k_ilvr else None
                results.append(sample_heun(net, x0, sig_l, cond=cond_t[sl], generator=g, s_churn=s_churn,
                                           projection=proj, projection_steps=k_ilvr))
                calls += nfe_tile
            tiles = torch.cat(results)
            window = blend_window(patch, overlap, device=dev)
            if len(tids) == len(ys_all) * len(xs_all):
                x_lvl = stitch_tiles(tiles, n, ys, xs, size, window)
            else:   # skip_padding: the sampled block, the previous level's output up-sampled elsewhere
                ch, cw = ys[-1] + patch, xs[-1] + patch
                x_lvl = c_y1.clone()
                x_lvl[:, :, :ch, :cw] = stitch_tiles(tiles, n, ys, xs, (ch, cw), window)
            if key is not None:
                level0_cache[key] = x_lvl
        outs_model.append(x_lvl)
        outs01.append(bright_norm.inverse(x_lvl))
        if callback is not None:
            callback({"level": lvl, "tiles": n_t, "x": x_lvl})

    per_scale = []
    for lvl, (sh, sw) in enumerate(sizes):
        f = 2 ** (levels - 1 - lvl)
        per_scale.append(outs01[lvl][:, :, :math.ceil(h / f), :math.ceil(w / f)])
    return CascadeResult(image=outs01[-1][:, :, :h, :w], per_scale=per_scale, model_space=outs_model,
                         tiles_per_scale=tiles_per_scale,
                         tile_nfe=sum(t * k for t, k in zip(tiles_per_scale, nfe_per_scale)),
                         denoiser_calls=calls, positions=positions, padded=(hp, wp), patch=patch,
                         nfe_per_scale=nfe_per_scale)
