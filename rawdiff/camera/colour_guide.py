"""Colour from the file's own calibration, detail from the networks: a low-frequency chromaticity guide for
developed RAWs.

The learned ISP renders grey patches with casts of CIEDE2000 ~2-10 even for the camera it was trained on
(benchmarks/bench_greys.py): its colour is learned from pairs whose phone-vs-DSLR colour mapping changes from pair to
pair (DiffRAW's "unstable colour mapping", rawdiff.camera.phone), and 2,000 CPU training steps do not pin it down
(benchmarks/bench_grey_sources.py: ~3 CIEDE2000 remain even with the white balance known and no colour gap).  A RAW
file with metadata carries what that mapping lacks: its white balance and colour matrix, which the hand-written ISP
turns into greys within CIEDE2000 1 (rawdiff.camera.rawfile.to_reference_camera, tests/test_rawfile.py).

:func:`guide_colour` keeps the network's luminance and its fine colour detail and takes the *low-frequency
chromaticity* from that metadata rendering (the idea of guided colourisation / local colour transfer, e.g.
Reinhard et al., "Color Transfer between Images", 2001, applied locally):

1. ``ref`` = the canonical RAW (the file's white balance and matrix, re-expressed in the reference camera)
   average-pooled by ``pool`` packed pixels and rendered like :func:`rawdiff.camera.isp.simple_isp` without
   demosaicking (:func:`metadata_rendering`) — low resolution, so noise averages out and memory stays small;
2. ``net`` = the developed image pooled to the same grid; both in the output encoding (sRGB gamma + tone curve:
   the mean colour of a region is then what a viewer and the grey-patch measure see) and blurred by a Gaussian of
   ``sigma`` low-resolution pixels;
3. per-channel gain ``g = chroma(ref) / chroma(net)`` with ``chroma(x) = x / mean_c(x)``, clamped to [1/4, 4],
   up-sampled bilinearly to full resolution;
4. ``out = img * g``, rescaled per pixel to the network's luma (Rec. 709 weights).

A flat grey region gets exactly the metadata rendering's chromaticity (neutral), the network's brightness and
texture are kept, and an image whose colours already agree with the metadata rendering is unchanged (g = 1).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from rawdiff.camera.isp import linear_to_srgb, tone_curve
from rawdiff.camera.phone import gaussian_blur
from rawdiff.camera.rawfile import reference_camera
from rawdiff.errors import DataError

__all__ = ["guide_colour", "metadata_rendering", "COLOUR_MODES", "uses_metadata_colour"]

#: ``rawdiff develop --colour``: ``auto`` = ``metadata`` when the file has a white balance from its metadata
#: (as-shot or daylight) and a colour matrix, else ``network``.
COLOUR_MODES = ("auto", "metadata", "network")
_LUMA = (0.2126, 0.7152, 0.0722)


def uses_metadata_colour(mode: str, info) -> bool:
    """Whether ``mode`` (:data:`COLOUR_MODES`) takes the colour from ``info``'s metadata (a RawInfo)."""

    if mode not in COLOUR_MODES:
        raise ValueError(f"colour mode must be one of {', '.join(COLOUR_MODES)}, got {mode!r}")
    if mode == "metadata" and info.wb_source == "none":
        raise DataError(f"{info.path}: no colour metadata (white balance, colour matrix) to take the colour from; "
                        f"use --colour network")
    calibrated = info.wb_source in ("as-shot", "daylight") and info.rgb_cam is not None
    return mode == "metadata" or (mode == "auto" and calibrated)


def metadata_rendering(canonical: torch.Tensor, pool: int = 4) -> torch.Tensor:
    """Linear sRGB ``1 x 3 x ceil(h/pool) x ceil(w/pool)`` of a canonical packed RAW (``1 x 4 x h x w``, reference
    camera space): ``pool`` x ``pool`` packed pixels averaged, each average read as one RGB sample (R, mean of the
    two G, B; no demosaicking, so no colour fringes at edges) and rendered like the reference camera's own
    hand-written ISP (its white balance and brightness gains, then ``cam2rgb``; rawdiff.camera.isp.simple_isp)."""

    h, w = canonical.shape[-2:]
    small = F.adaptive_avg_pool2d(canonical.float(), (math.ceil(h / pool), math.ceil(w / pool)))
    cam = torch.stack([small[:, 0], 0.5 * (small[:, 1] + small[:, 2]), small[:, 3]], dim=1)
    ref = reference_camera()
    gains = (ref.wb_gains() * ref.rgb_gain[:, None]).to(cam)
    cam = cam * gains[:, :, None, None]
    return torch.einsum("ij,njhw->nihw", ref.cam2rgb[0].to(cam), cam).clamp(0, 1)


def _blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    return x if sigma <= 0 else gaussian_blur(x, float(sigma))


def _chroma(x: torch.Tensor) -> torch.Tensor:
    return x / x.mean(1, keepdim=True).clamp_min(1e-4)


def _luma(x: torch.Tensor) -> torch.Tensor:
    w = torch.tensor(_LUMA, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return (x * w).sum(1, keepdim=True)


@torch.no_grad()
def guide_colour(img: torch.Tensor, canonical: torch.Tensor, *, pool: int = 2, sigma: float = 1.0,
                 band: int = 512) -> torch.Tensor:
    """``img`` (``1 x 3 x H x W`` developed sRGB in [0, 1], the RAW's geometry: ``H, W = 2h, 2w``) with the
    low-frequency chromaticity of the metadata rendering of ``canonical`` (``1 x 4 x h x w``); see module docs.
    Extra memory: the output, ``band``-row temporaries and the small grids."""
    if img.ndim != 4 or img.shape[:2] != (1, 3) or canonical.ndim != 4 or canonical.shape[:2] != (1, 4):
        raise ValueError(f"guide_colour: expected 1 x 3 x H x W and 1 x 4 x h x w, got {tuple(img.shape)} and "
                         f"{tuple(canonical.shape)}")
    H, W = img.shape[-2:]
    ref = tone_curve(linear_to_srgb(metadata_rendering(canonical.to(img.device), pool)))
    gh, gw = ref.shape[-2:]
    net = F.adaptive_avg_pool2d(img.float(), (gh, gw))
    gain = (_chroma(_blur(ref, sigma)) / _chroma(_blur(net, sigma))).clamp(0.25, 4.0)
    out = torch.empty_like(img, dtype=torch.float32)
    ys = (torch.arange(H, device=img.device, dtype=torch.float32) + 0.5) / H * 2 - 1
    xs = (torch.arange(W, device=img.device, dtype=torch.float32) + 0.5) / W * 2 - 1
    for a in range(0, H, band):
        b = min(H, a + band)
        grid = torch.stack(torch.meshgrid(ys[a:b], xs, indexing="ij")[::-1], dim=-1)[None]
        g = F.grid_sample(gain, grid, mode="bilinear", padding_mode="border", align_corners=False)
        x = img[..., a:b, :].float()
        y = x * g
        out[..., a:b, :] = (y * (_luma(x) / _luma(y).clamp_min(1e-6))).clamp(0, 1)
    return out.to(img.dtype)
