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
cascade equals sampling tile by tile (up to float round-off).  Resizing is bilinear and antialiased, done on
[0, 1] images (then normalised), as in training (rawdiff.did.train).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Sequence

import torch
import torch.nn.functional as F

from rawdiff.diffusion.edm import ILVRProjection, count_nfe, karras_sigmas, randn, sample_heun
from rawdiff.tiling import ramp, starts
from rawdiff.utils import default_tile_batch, derive_seed, make_generator

__all__ = [
    "CascadeResult", "cascade_sample", "resize", "pad_reflect", "padded_size", "level_sizes", "tile_positions",
    "extract_tiles", "stitch_tiles", "blend_window", "tile_edges", "seam_visibility", "check_scales",
    "truncated_sigmas", "few_step_settings", "cascade_cost",
]


# ----------------------------------------------------------------------------------------------- geometry
def resize(x: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """Bilinear resize to ``size`` (antialiased when shrinking); identity when the size already matches."""
    size = (int(size[0]), int(size[1]))
    if tuple(x.shape[-2:]) == size:
        return x
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True)


def pad_reflect(x: torch.Tensor, pad_h: int, pad_w: int) -> torch.Tensor:
    """Reflect-pad at the bottom/right by ``pad_h``/``pad_w`` pixels, repeating the reflection when the pad is
    larger than the image (plain reflect padding needs ``pad < size``)."""
    while pad_h > 0 or pad_w > 0:
        h, w = x.shape[-2:]
        ph, pw = min(pad_h, h - 1), min(pad_w, w - 1)
        if (ph == 0 and pad_h > 0) or (pw == 0 and pad_w > 0):  # 1-pixel side: nothing to reflect
            x = F.pad(x, (0, pad_w, 0, pad_h), mode="replicate")
            break
        x = F.pad(x, (0, pw, 0, ph), mode="reflect")
        pad_h, pad_w = pad_h - ph, pad_w - pw
    return x


def check_scales(scales: Sequence[int], patch: int) -> int:
    """Validate DiD scales (``patch, 2 patch, 4 patch, ...``) and return the number of levels."""
    scales = tuple(int(s) for s in scales)
    if not scales or scales[0] != patch or any(b != 2 * a for a, b in zip(scales, scales[1:])):
        raise ValueError(f"DiD scales must be patch * 2^l = ({patch}, {2 * patch}, ...), got {scales}")
    return len(scales)


def padded_size(h: int, w: int, patch: int, levels: int) -> tuple[int, int]:
    """Smallest size >= (h, w) whose every level is a whole number of ``patch`` tiles."""
    m = patch * 2 ** (levels - 1)
    return math.ceil(h / m) * m, math.ceil(w / m) * m


def level_sizes(hp: int, wp: int, levels: int) -> list[tuple[int, int]]:
    """Working size of each level for a padded image ``hp x wp`` (coarsest first)."""
    return [(hp // 2 ** (levels - 1 - i), wp // 2 ** (levels - 1 - i)) for i in range(levels)]


def tile_positions(size: int, patch: int, overlap: int = 0) -> list[int]:
    """Tile start offsets covering ``[0, size)``: stride ``patch - overlap``, the last tile flush with the end."""
    if not 0 <= overlap < patch:
        raise ValueError(f"tile overlap must be in [0, {patch}), got {overlap}")
    if size < patch:
        raise ValueError(f"cannot tile {size} px with {patch}-px tiles")
    return starts(size, patch, overlap)


def extract_tiles(x: torch.Tensor, ys: Sequence[int], xs: Sequence[int], patch: int) -> torch.Tensor:
    """``N x C x H x W`` -> ``(N * len(ys) * len(xs)) x C x patch x patch`` (image-major, then rows, then columns)."""
    tiles = [x[:, :, y:y + patch, x0:x0 + patch] for y in ys for x0 in xs]
    return torch.stack(tiles, dim=1).flatten(0, 1)


def blend_window(patch: int, overlap: int, device=None, dtype=torch.float32) -> torch.Tensor:
    """``patch x patch`` stitching weights: all ones without overlap, else a separable trapezoid whose ramps span
    the overlap (rawdiff.tiling.ramp, the one ramp formula: ``(k + 0.5) / overlap``), so neighbours cross-fade."""
    if overlap == 0:
        return torch.ones(patch, patch, device=device, dtype=dtype)
    r = ramp(patch, overlap, lo=True, hi=True).to(device=device, dtype=dtype)
    return r[:, None] * r[None, :]


def stitch_tiles(tiles: torch.Tensor, n: int, ys: Sequence[int], xs: Sequence[int], size: tuple[int, int],
                 window: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`extract_tiles`: weighted average of the tiles (``window`` weights) on the canvas."""
    patch = tiles.shape[-1]
    t = tiles.reshape(n, len(ys) * len(xs), *tiles.shape[1:])
    out = tiles.new_zeros(n, tiles.shape[1], *size)
    wsum = tiles.new_zeros(1, 1, *size)
    k = 0
    for y in ys:
        for x0 in xs:
            out[:, :, y:y + patch, x0:x0 + patch] += t[:, k] * window
            wsum[:, :, y:y + patch, x0:x0 + patch] += window
            k += 1
    return out / wsum


def tile_edges(positions: Sequence[int], patch: int, size: int) -> list[int]:
    """Interior tile borders: every tile start > 0 and tile end < ``size`` (a border ``b`` lies between
    pixels ``b - 1`` and ``b``)."""
    return sorted({p for p in positions if p > 0} | {p + patch for p in positions if p + patch < size})


def seam_visibility(img: torch.Tensor, edges_y: Sequence[int], edges_x: Sequence[int]) -> torch.Tensor:
    """Seam metric: mean squared gradient across tile borders / mean squared gradient everywhere else.

    For each image (``N x C x H x W``) the horizontal differences ``img[..., b] - img[..., b-1]`` at the
    borders ``b`` in ``edges_x`` (and vertical ones at ``edges_y``) form the border set; all other adjacent
    pixel differences form the interior set.  ~1: no visible seams; > 1: tile borders are sharper than the
    image content.  Returns one value per image (N,).
    """
    dx = (img[..., :, 1:] - img[..., :, :-1]).pow(2).mean(1)   # N x H x (W-1); index b-1 = border b
    dy = (img[..., 1:, :] - img[..., :-1, :]).pow(2).mean(1)   # N x (H-1) x W
    mx = torch.zeros(dx.shape[-1], dtype=torch.bool, device=img.device)
    my = torch.zeros(dy.shape[-2], dtype=torch.bool, device=img.device)
    mx[[b - 1 for b in edges_x if 0 < b < img.shape[-1]]] = True
    my[[b - 1 for b in edges_y if 0 < b < img.shape[-2]]] = True
    border = torch.cat([dx[:, :, mx].flatten(1), dy[:, my, :].flatten(1)], dim=1)
    inner = torch.cat([dx[:, :, ~mx].flatten(1), dy[:, ~my, :].flatten(1)], dim=1)
    if border.shape[1] == 0:
        return torch.ones(img.shape[0], device=img.device)
    return border.mean(1) / inner.mean(1).clamp_min(1e-12)


# ----------------------------------------------------------------------------------------------- cascade
def truncated_sigmas(sigma_start: float, steps: int, *, sigma_min: float = 0.002, rho: float = 7.0,
                     device=None) -> torch.Tensor:
    """Schedule for the few-step upper levels: EDM eq. (5) from ``sigma_start`` down to ``sigma_min`` in
    ``steps`` Heun steps (then 0) — :func:`rawdiff.diffusion.edm.karras_sigmas` with ``sigma_max = sigma_start``,
    so ``truncated_sigmas(sigma_max, N)`` equals the paper's full schedule exactly."""
    if not sigma_start > sigma_min:
        raise ValueError(f"sigma_start must exceed sigma_min={sigma_min}, got {sigma_start}")
    return karras_sigmas(int(steps), sigma_min, float(sigma_start), rho, device=device)


def few_step_settings(pairs: Sequence[tuple[float, int]], num_steps: int = 18) -> list[dict]:
    """Settings (for rawdiff.did.train.evaluate_settings / enhance) of the paper cascade followed by one
    few-step cascade per ``(sigma_start, upper_steps)`` pair."""
    out = [{"setting": f"paper ({num_steps} steps every level)"}]
    out += [{"setting": f"sigma_start={s:g}, {k} steps", "sigma_start": float(s), "upper_steps": int(k)}
            for s, k in pairs]
    return out


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
                cond: torch.Tensor) -> tuple:
    """What level 0's output depends on (no ILVR there): the denoiser, seed, schedule, tiling, churn, tiles per
    call (round-off) and the level-0 condition (a SHA-1 digest of its bytes, shape included)."""
    import hashlib

    c = cond.detach().float().cpu().contiguous()
    digest = hashlib.sha1(c.numpy().tobytes()).hexdigest()
    return (id(denoiser), int(base), tuple(float(v) for v in sigmas), int(patch), int(overlap), float(s_churn),
            int(batch), tuple(c.shape), digest)


@torch.no_grad()
def cascade_sample(denoiser: Callable[..., torch.Tensor], dark: torch.Tensor, *, scales: Sequence[int],
                   dark_norm, bright_norm, sigmas: torch.Tensor, patch: int = 32, ilvr_steps: int = 6,
                   noised_reference: bool = False, overlap: int = 0, s_churn: float = 0.0,
                   generator: torch.Generator | int | None = None, max_batch: int | None = None,
                   callback: Callable[[dict], None] | None = None,
                   upper_sigmas: torch.Tensor | None = None, level0_cache: dict | None = None) -> CascadeResult:
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
    """
    if dark.ndim != 4 or dark.shape[1] != 3:
        raise ValueError(f"dark must be N x 3 x H x W, got shape {tuple(dark.shape)}")
    levels = check_scales(scales, patch)
    n, _, h, w = dark.shape
    dev = dark.device
    if isinstance(generator, torch.Generator):
        base = int(torch.randint(0, 2 ** 62, (1,), generator=generator, device=generator.device))
    else:
        base = int(generator or 0)
    hp, wp = padded_size(h, w, patch, levels)
    dark_p = pad_reflect(dark.float(), hp - h, wp - w)
    sizes = level_sizes(hp, wp, levels)
    up_sigmas = sigmas if upper_sigmas is None else upper_sigmas.to(sigmas.device, sigmas.dtype)
    truncated = float(up_sigmas[0]) < float(sigmas[0])

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
        ys, xs = tile_positions(size[0], patch, overlap), tile_positions(size[1], patch, overlap)
        positions.append((ys, xs))
        n_t = len(ys) * len(xs)
        tiles_per_scale.append(n_t)
        step = max(1, int(default_tile_batch(dev) if max_batch is None else max_batch))
        key = (_level0_key(denoiser, base, sigmas, patch, overlap, s_churn, step, cond)
               if lvl == 0 and level0_cache is not None else None)
        if key is not None and key in level0_cache:
            x_lvl = level0_cache[key]
        else:
            cond_t = extract_tiles(cond, ys, xs, patch)
            ref_t = extract_tiles(ref, ys, xs, patch) if k_ilvr else None
            mean_t = extract_tiles(start_mean, ys, xs, patch) if start_mean is not None else None
            gens = [make_generator(derive_seed(base, "did-cascade", b, lvl, t), dev)
                    for b in range(n) for t in range(n_t)]
            results = []
            for a in range(0, len(gens), step):
                sl = slice(a, a + step)
                g = gens[sl]
                x0 = randn((len(g), 3, patch, patch), g, device=dev) * sig_l[0]
                if mean_t is not None:  # few-step upper level: previous output + noise at sigma_start
                    x0 = x0 + mean_t[sl]
                proj = ILVRProjection(ref_t[sl], noised_reference=noised_reference, generator=g) if k_ilvr else None
                results.append(sample_heun(denoiser, x0, sig_l, cond=cond_t[sl], generator=g, s_churn=s_churn,
                                           projection=proj, projection_steps=k_ilvr))
                calls += nfe_tile
            tiles = torch.cat(results)
            x_lvl = stitch_tiles(tiles, n, ys, xs, size, blend_window(patch, overlap, device=dev))
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
