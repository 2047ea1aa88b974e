"""Unprocessing sRGB -> camera RAW and a simple forward ISP that inverts it.

Follows the idea of Brooks et al., "Unprocessing Images for Learned Raw Denoising" (CVPR 2019): invert the
tone curve, the sRGB gamma, the colour-correction matrix and the white balance, then mosaic.  The camera
parameters are our own random draws (not copied camera matrices): a colour matrix ``rgb2cam`` that is a
positive, row-stochastic mix of identity and a random matrix (camera primaries are broader than sRGB's),
red/blue white-balance gains in Brooks' ranges (1.9–2.4, 1.5–1.9) and a brightness gain ~ 1/N(0.8, 0.1).

:func:`simple_isp` is the forward pipeline (white balance -> bilinear demosaic -> CCM -> sRGB gamma -> tone
curve).  With the parameters used for unprocessing it inverts :func:`unprocess` (up to demosaicking error);
without them it is the "hand-written ISP" baseline for real RAW (grey-world white balance, identity CCM).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from rawdiff.camera.bayer import (
    OFFSETS,
    channel_colors,
    mosaic,
    pack,
    packed_to_rgb_planes,
    unpack,
)


@dataclass(frozen=True)
class CameraParams:
    """Per-image camera parameters (batched tensors): ``rgb2cam`` N x 3 x 3, gains N."""

    rgb2cam: torch.Tensor
    red_gain: torch.Tensor
    blue_gain: torch.Tensor
    rgb_gain: torch.Tensor

    @property
    def cam2rgb(self) -> torch.Tensor:
        return torch.linalg.inv(self.rgb2cam)

    def to(self, device) -> "CameraParams":
        return CameraParams(*(t.to(device) for t in (self.rgb2cam, self.red_gain, self.blue_gain, self.rgb_gain)))

    def wb_gains(self) -> torch.Tensor:
        """N x 3 per-RGB white-balance gains (R, 1, B)."""
        one = torch.ones_like(self.red_gain)
        return torch.stack([self.red_gain, one, self.blue_gain], dim=1)


def _u(n: int, lo: float, hi: float, g: torch.Generator, device) -> torch.Tensor:
    return lo + (hi - lo) * torch.rand(n, generator=g, device=device)


def random_camera_params(n: int, generator: torch.Generator, device=None) -> CameraParams:
    """Draw ``n`` random cameras (CCM, white balance, brightness) from ``generator``."""
    device = device or generator.device
    mix = _u(n, 0.15, 0.45, generator, device)[:, None, None]
    r = torch.rand(n, 3, 3, generator=generator, device=device) + 0.1
    r = r / r.sum(-1, keepdim=True)
    eye = torch.eye(3, device=device).expand(n, 3, 3)
    rgb2cam = (1 - mix) * eye + mix * r
    rgb_gain = 1.0 / (0.8 + 0.1 * torch.randn(n, generator=generator, device=device)).clamp(0.5, 1.1)
    return CameraParams(rgb2cam=rgb2cam, red_gain=_u(n, 1.9, 2.4, generator, device),
                        blue_gain=_u(n, 1.5, 1.9, generator, device), rgb_gain=rgb_gain)


# --------------------------------------------------------------------------------------------- curves
def srgb_to_linear(x: torch.Tensor) -> torch.Tensor:
    """Exact sRGB EOTF (IEC 61966-2-1)."""
    x = x.clamp(0, 1)
    return torch.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(x: torch.Tensor) -> torch.Tensor:
    """Exact sRGB OETF (inverse of :func:`srgb_to_linear`)."""
    x = x.clamp(0, 1)
    return torch.where(x <= 0.0031308, 12.92 * x, 1.055 * x.clamp_min(1e-12) ** (1 / 2.4) - 0.055)


def tone_curve(x: torch.Tensor) -> torch.Tensor:
    """Global smoothstep tone curve ``3x² - 2x³`` (Brooks et al. 2019)."""
    x = x.clamp(0, 1)
    return 3 * x**2 - 2 * x**3


def inverse_tone_curve(y: torch.Tensor) -> torch.Tensor:
    """Inverse smoothstep: ``0.5 - sin(asin(1 - 2y) / 3)``."""
    y = y.clamp(0, 1)
    return 0.5 - torch.sin(torch.asin((1 - 2 * y).clamp(-1, 1)) / 3)


def _apply_ccm(x: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    return torch.einsum("nij,njhw->nihw", m.to(x.dtype), x)


# --------------------------------------------------------------------------------------------- unprocess
def unprocess(rgb: torch.Tensor, params: CameraParams, pattern: str = "RGGB") -> torch.Tensor:
    """sRGB ``N x 3 x H x W`` -> RAW mosaic ``N x 1 x H x W`` in [0, 1] (inverse tone, gamma, CCM, WB, CFA)."""
    lin = srgb_to_linear(inverse_tone_curve(rgb))
    cam = _apply_ccm(lin, params.rgb2cam).clamp(0, 1)
    gains = (params.wb_gains() * params.rgb_gain[:, None]).to(rgb.dtype)[:, :, None, None]
    return mosaic((cam / gains).clamp(0, 1), pattern)


# --------------------------------------------------------------------------------------------- forward ISP
_K_G = torch.tensor([[0.0, 1.0, 0.0], [1.0, 4.0, 1.0], [0.0, 1.0, 0.0]]) / 4
_K_RB = torch.tensor([[1.0, 2.0, 1.0], [2.0, 4.0, 2.0], [1.0, 2.0, 1.0]]) / 4


def cfa_masks(h: int, w: int, pattern: str = "RGGB", device=None, dtype=torch.float32) -> torch.Tensor:
    """``1 x 3 x h x w`` binary masks of where each RGB colour is sampled."""
    m = torch.zeros(1, 3, h, w, device=device, dtype=dtype)
    for (dy, dx), c in zip(OFFSETS, channel_colors(pattern)):
        m[0, c, dy::2, dx::2] = 1
    return m


def demosaic_bilinear(mosaic_: torch.Tensor, pattern: str = "RGGB") -> torch.Tensor:
    """Bilinear demosaicking of an ``N x 1 x H x W`` mosaic -> ``N x 3 x H x W``."""
    n, _, h, w = mosaic_.shape
    masks = cfa_masks(h, w, pattern, mosaic_.device, mosaic_.dtype)
    planes = F.pad(mosaic_ * masks, (1, 1, 1, 1), mode="reflect")
    k = torch.stack([_K_RB, _K_G, _K_RB]).to(mosaic_)[:, None]
    return F.conv2d(planes, k, groups=3)


def grey_world_gains(packed: torch.Tensor, pattern: str = "RGGB") -> torch.Tensor:
    """N x 3 white-balance gains that equalise the mean of R and B to G (grey-world assumption)."""
    cols = torch.tensor(channel_colors(pattern), device=packed.device)
    means = torch.stack([packed[:, cols == c].mean(dim=(1, 2, 3)) for c in range(3)], dim=1).clamp_min(1e-6)
    return means[:, 1:2] / means


def simple_isp(raw: torch.Tensor, params: CameraParams | None = None, pattern: str = "RGGB", *,
               exposure: float | torch.Tensor = 1.0, tone: bool = True) -> torch.Tensor:
    """Hand-written ISP: WB -> bilinear demosaic -> CCM -> sRGB gamma -> tone curve.

    ``raw`` is a packed ``N x 4 x h x w`` RAW (output ``N x 3 x 2h x 2w``) or an ``N x 1 x H x W`` mosaic.
    With ``params`` it inverts :func:`unprocess`; without, it uses grey-world white balance and identity CCM.
    ``exposure`` multiplies the linear signal (e.g. the exposure ratio for brightening dark RAW).
    """
    if raw.shape[1] == 4:
        packed, mos = raw, unpack(raw, pattern)
    elif raw.shape[1] == 1:
        packed, mos = pack(raw, pattern), raw
    else:
        raise ValueError(f"simple_isp: expected a packed (4-channel) or mosaic (1-channel) RAW, got {raw.shape[1]}")
    if params is not None:
        gains = params.wb_gains() * params.rgb_gain[:, None]
        ccm = params.cam2rgb
    else:
        gains = grey_world_gains(packed, pattern)
        ccm = torch.eye(3, device=raw.device).expand(raw.shape[0], 3, 3)
    rgb = demosaic_bilinear(mos, pattern) * gains.to(mos.dtype)[:, :, None, None]
    exp = torch.as_tensor(exposure, device=raw.device, dtype=raw.dtype)
    rgb = _apply_ccm(rgb * (exp.view(-1, 1, 1, 1) if exp.ndim else exp), ccm).clamp(0, 1)
    out = linear_to_srgb(rgb)
    return tone_curve(out) if tone else out


def visualize_raw(packed: torch.Tensor, pattern: str = "RGGB") -> torch.Tensor:
    """Display a packed RAW as a half-resolution false-colour image (R, mean G, B; auto-scaled, gamma 1/2.2)."""

    rgb = packed_to_rgb_planes(packed, pattern)
    scale = rgb.flatten(1).quantile(0.99, dim=1).clamp_min(1e-6)[:, None, None, None]
    return (rgb / scale).clamp(0, 1) ** (1 / 2.2)
