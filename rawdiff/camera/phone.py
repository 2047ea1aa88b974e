"""Smartphone-RAW vs DSLR-sRGB training pairs with the three problems DiffRAW names (Yi et al., AAAI-24, §1):

1. **Phone optics / sensor**: a small sensor and lens lose detail (optical blur) and add noise.
2. **Unstable colour mapping**: the colour relation between the phone RAW and the DSLR photo changes from pair to
   pair (different ISPs, auto white balance, exposure) — simulated by a random per-pair colour matrix, channel
   gains and gamma deviation applied to the phone's view of the scene.
3. **Spatial misalignment**: the two cameras never see exactly the same pixels — simulated by a random sub-pixel
   translation plus a small rotation/zoom of the phone's view (``grid_sample``, reflection padding).

The DSLR image is the clean scene; the phone RAW is unprocessed (rawdiff.camera.isp) from the perturbed view,
then noised (Poisson–Gaussian) and quantised to 10 bits like ZRR's Huawei P20 RAW.  Every random draw is kept in
``meta``; :func:`meta_record` turns a pair's warp and colour transform into the JSON ground truth that the
synthetic datasets store (``meta.json``) and :func:`phone_geometry` applies the warp to a target, so metrics can
compare against the target *in the RAW's geometry* (rawdiff.metrics.aligned).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from rawdiff.camera.bayer import quantize
from rawdiff.camera.isp import random_camera_params, unprocess
from rawdiff.camera.noise import NoiseParams, add_poisson_gaussian, sample_noise_params


@dataclass(frozen=True)
class PhoneGap:
    """Ranges of the phone-vs-DSLR gap (all per pair)."""

    max_shift: float = 1.5          # pixels, uniform in [-max_shift, max_shift] (x and y)
    max_rotation_deg: float = 0.6
    max_zoom: float = 0.01
    blur_sigma: tuple[float, float] = (0.5, 1.3)
    color_jitter: float = 0.08      # off-identity strength of the per-pair colour matrix
    gain_jitter: float = 0.12       # per-channel gain deviation
    gamma_jitter: float = 0.12      # exponent deviation
    shot_range: tuple[float, float] = (1e-4, 2e-3)
    bits: int = 10


def _u(shape, lo, hi, g):
    return lo + (hi - lo) * torch.rand(shape, generator=g, device=g.device)


def gaussian_blur(x: torch.Tensor, sigma: torch.Tensor | float) -> torch.Tensor:
    """Per-image isotropic Gaussian blur (sigma: (N,) tensor, or one float for all), separable, radius 3 sigma,
    reflect padding (replicate on images too small to reflect, e.g. a few-pixel low-resolution grid)."""
    n, c, h, w = x.shape
    sigma = torch.as_tensor(sigma, dtype=x.dtype, device=x.device).reshape(-1).expand(n)
    radius = int(torch.ceil(3 * sigma.max()).item()) if sigma.numel() else 1
    radius = max(radius, 1)
    t = torch.arange(-radius, radius + 1, device=x.device, dtype=x.dtype)
    k = torch.exp(-0.5 * (t[None] / sigma.clamp_min(1e-3)[:, None]) ** 2)
    k = k / k.sum(1, keepdim=True)                       # N x K
    mode = "reflect" if min(h, w) > radius else "replicate"
    xp = F.pad(x.reshape(1, n * c, h, w), (radius, radius, radius, radius), mode=mode)
    kk = k.repeat_interleave(c, 0)                       # (N*C) x K
    xp = F.conv2d(xp, kk[:, None, None, :], groups=n * c)
    xp = F.conv2d(xp, kk[:, None, :, None], groups=n * c)
    return xp.reshape(n, c, h, w)


def warp(x: torch.Tensor, shift: torch.Tensor, angle: torch.Tensor, zoom: torch.Tensor) -> torch.Tensor:
    """Sample ``x`` at positions shifted by ``shift`` (N x 2 pixels, x then y), rotated/zoomed about the centre.

    The output at pixel p shows the input at ``A p + shift``: content moves by ``-shift``.
    """
    n, _, h, w = x.shape
    cos, sin = torch.cos(angle), torch.sin(angle)
    s = 1.0 + zoom
    theta = torch.zeros(n, 2, 3, device=x.device, dtype=x.dtype)
    theta[:, 0, 0], theta[:, 0, 1] = s * cos, -s * sin * h / w
    theta[:, 1, 0], theta[:, 1, 1] = s * sin * w / h, s * cos
    theta[:, 0, 2] = 2 * shift[:, 0] / w
    theta[:, 1, 2] = 2 * shift[:, 1] / h
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bicubic", padding_mode="reflection", align_corners=False).clamp(0, 1)


def unstable_colour(x: torch.Tensor, g: torch.Generator, gap: PhoneGap) -> tuple[torch.Tensor, dict]:
    """Random per-pair colour transform: gamma deviation, channel gains, near-identity colour matrix."""
    n = x.shape[0]
    m = torch.eye(3, device=x.device) + gap.color_jitter * (2 * torch.rand(n, 3, 3, generator=g, device=g.device) - 1)
    m = m / m.sum(-1, keepdim=True)
    gains = 1 + _u((n, 3), -gap.gain_jitter, gap.gain_jitter, g)
    gamma = 1 + _u((n,), -gap.gamma_jitter, gap.gamma_jitter, g)
    y = x.clamp(0, 1) ** gamma.view(-1, 1, 1, 1)
    y = torch.einsum("nij,njhw->nihw", m, y) * gains[:, :, None, None]
    return y.clamp(0, 1), {"color_matrix": m, "gains": gains, "gamma": gamma}


def phone_dslr_pair(rgb: torch.Tensor, generator: torch.Generator, gap: PhoneGap = PhoneGap(),
                    pattern: str = "RGGB") -> dict:
    """Make (phone RAW mosaic, DSLR sRGB) pairs from clean sRGB scenes ``N x 3 x H x W``.

    Returns ``dict(raw_mosaic N x 1 x H x W in [0, 1] (10-bit quantised), dslr N x 3 x H x W, meta)`` with
    ``meta`` holding ``shift`` (N x 2, pixels), ``angle``, ``zoom``, ``blur_sigma``, the colour transform,
    the camera parameters and the noise parameters.
    """
    g = generator
    n = rgb.shape[0]
    shift = _u((n, 2), -gap.max_shift, gap.max_shift, g)
    angle = torch.deg2rad(_u((n,), -gap.max_rotation_deg, gap.max_rotation_deg, g))
    zoom = _u((n,), -gap.max_zoom, gap.max_zoom, g)
    sigma = _u((n,), *gap.blur_sigma, g)
    view = warp(rgb, shift, angle, zoom)
    view, colour = unstable_colour(view, g, gap)
    view = gaussian_blur(view, sigma).clamp(0, 1)
    cam = random_camera_params(n, g, device=rgb.device)
    raw = unprocess(view, cam, pattern)
    noise: NoiseParams = sample_noise_params(n, g, shot_range=gap.shot_range, device=rgb.device)
    raw = quantize(add_poisson_gaussian(raw, noise, g), gap.bits)
    meta = {"shift": shift, "angle": angle, "zoom": zoom, "blur_sigma": sigma, **colour, "camera": cam,
            "noise": noise}
    return {"raw_mosaic": raw, "dslr": rgb.clamp(0, 1), "meta": meta}


# ------------------------------------------------------------------------------------ per-pair ground truth
#: What :func:`meta_record` keeps of a pair's draws (the ground truth for aligned metrics): the warp
#: (``shift`` [dx, dy] px, ``angle`` rad, ``zoom``), the optical blur ``blur_sigma`` px and the colour transform
#: (``color_matrix`` 3x3 rows, ``gains`` [3], ``gamma``).  Camera and noise draws are not needed by any metric.
META_KEYS = ("shift", "angle", "zoom", "blur_sigma", "color_matrix", "gains", "gamma")


def meta_record(meta: dict, i: int = 0) -> dict:
    """JSON-able ground truth of pair ``i`` of a :func:`phone_dslr_pair` ``meta`` (floats rounded to 1e-7)."""
    def f(v):
        v = v[i].detach().double().cpu()
        return round(float(v), 7) if v.ndim == 0 else _round_list(v.tolist())
    return {k: f(meta[k]) for k in META_KEYS}


def _round_list(x):
    return [_round_list(v) if isinstance(v, list) else round(float(v), 7) for v in x]


def check_meta_record(rec) -> str | None:
    """``None`` if ``rec`` is a valid :func:`meta_record`, else what is wrong (used by ``rawdiff data check``)."""
    if not isinstance(rec, dict):
        return "expected an object"
    shapes = {"shift": (2,), "angle": (), "zoom": (), "blur_sigma": (), "color_matrix": (3, 3), "gains": (3,),
              "gamma": ()}
    for k, shape in shapes.items():
        if k not in rec:
            return f"missing {k!r}"
        try:
            t = torch.as_tensor(rec[k], dtype=torch.float64)
        except (TypeError, ValueError):
            return f"{k!r} is not numeric"
        if tuple(t.shape) != shape or not bool(torch.isfinite(t).all()):
            return f"{k!r} must be finite with shape {list(shape)}"
    return None


def stack_meta(records: list[dict], device=None) -> dict:
    """Batch meta (tensors with a leading N) from a list of :func:`meta_record` dicts."""
    return {k: torch.tensor([r[k] for r in records], dtype=torch.float32, device=device) for k in META_KEYS}


def phone_geometry(img: torch.Tensor, meta: dict) -> torch.Tensor:
    """``img`` (N x 3 x H x W, e.g. the DSLR target) seen through each pair's warp: the phone's geometry.

    This is the "aligned target" of :mod:`rawdiff.metrics.aligned` (no colour change, no blur).
    """
    dev = img.device
    return warp(img, meta["shift"].to(dev, img.dtype), meta["angle"].to(dev, img.dtype),
                meta["zoom"].to(dev, img.dtype))
