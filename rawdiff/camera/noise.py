"""Sensor noise and low-light exposure simulation.

Poisson–Gaussian model (Foi et al. 2008; the parameterisation of Brooks et al. 2019): a normalised RAW value
``x`` is observed as ``shot * Poisson(x / shot) + N(0, read)``, so ``E[y] = x`` and ``Var[y] = shot * x + read``
(variance linear in the mean).  Noise levels are drawn as in Brooks et al.: ``log(shot) ~ U(log 1e-4, log 1.2e-2)``
and ``log(read) = 2.18 log(shot) + 1.20 + N(0, 0.26²)`` (read-noise *variance*).

Low light (SID, Chen et al. 2018; DiD): the scene is exposed ``ratio`` times shorter (x100–x300), so the signal is
``x / ratio`` while read noise stays — dark frames are dominated by noise near zero and their values are
strongly right-skewed, which is what DiD's tail normalisation addresses.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from rawdiff.camera.bayer import quantize
from rawdiff.camera.isp import random_camera_params, simple_isp, unprocess

# Shot-noise gain range for low-light scenes (our choice): with x100-x300 exposure cuts it gives a per-pixel SNR of
# ~2-7 at mid-grey, as noisy as SID's short exposures yet learnable by the smoke-scale models.
LOW_LIGHT_SHOT_RANGE = (2e-5, 2e-4)


@dataclass(frozen=True)
class NoiseParams:
    """Batched Poisson–Gaussian parameters: ``shot`` (gain) and ``read`` (read-noise variance), shape (N,)."""

    shot: torch.Tensor
    read: torch.Tensor

    def variance(self, mean: torch.Tensor) -> torch.Tensor:
        """Model variance for a given mean signal (broadcast over N x C x H x W)."""
        return self.shot.view(-1, 1, 1, 1) * mean + self.read.view(-1, 1, 1, 1)


def sample_noise_params(n: int, generator: torch.Generator, *, shot_range: tuple[float, float] = (1e-4, 1.2e-2),
                        device=None) -> NoiseParams:
    """Draw ``n`` noise levels with Brooks et al.'s log-linear shot/read relation."""
    device = device or generator.device
    lo, hi = torch.log(torch.tensor(shot_range, dtype=torch.float64)).tolist()
    log_shot = lo + (hi - lo) * torch.rand(n, generator=generator, device=device)
    log_read = 2.18 * log_shot + 1.20 + 0.26 * torch.randn(n, generator=generator, device=device)
    return NoiseParams(shot=log_shot.exp(), read=log_read.exp())


def add_poisson_gaussian(x: torch.Tensor, params: NoiseParams, generator: torch.Generator,
                         clip: bool = True) -> torch.Tensor:
    """Apply shot (Poisson) + read (Gaussian) noise to a normalised RAW ``x`` (any N x C x H x W)."""
    shot = params.shot.view(-1, 1, 1, 1).to(x)
    read = params.read.view(-1, 1, 1, 1).to(x)
    photons = torch.poisson((x.clamp_min(0) / shot), generator=generator)
    y = shot * photons + read.sqrt() * torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    return y.clamp(0, 1) if clip else y


def sample_exposure_ratio(n: int, generator: torch.Generator, lo: float = 100.0, hi: float = 300.0,
                          device=None) -> torch.Tensor:
    """Exposure ratios log-uniform in ``[lo, hi]`` (SID uses x100 and x300)."""
    device = device or generator.device
    u = torch.rand(n, generator=generator, device=device)
    return torch.exp(torch.log(torch.tensor(lo)) + u * (torch.log(torch.tensor(hi)) - torch.log(torch.tensor(lo))))


def simulate_low_light(raw: torch.Tensor, ratio: torch.Tensor | float, params: NoiseParams,
                       generator: torch.Generator, bits: int | None = 14) -> torch.Tensor:
    """Short exposure: ``raw / ratio`` + Poisson–Gaussian noise (+ ``bits`` quantisation). Not brightened."""
    r = torch.as_tensor(ratio, device=raw.device, dtype=raw.dtype)
    dark = raw / (r.view(-1, 1, 1, 1) if r.ndim else r)
    noisy = add_poisson_gaussian(dark, params, generator)
    return quantize(noisy, bits) if bits else noisy


def dark_srgb(rgb: torch.Tensor, generator: torch.Generator, *, ratio: torch.Tensor | float | None = None,
              noise: NoiseParams | None = None, pattern: str = "RGGB", bits: int | None = 14,
              brighten: float = 1.0) -> dict:
    """Physically simulated dark sRGB from a bright sRGB image.

    unprocess (random camera) -> exposure / ``ratio`` -> Poisson–Gaussian noise -> quantise -> simple ISP with
    the same camera (no brightening unless ``brighten`` > 1).  Returns ``dict(low, high, raw_low, ratio,
    camera, noise)`` where ``high`` is the clean image through the same ISP (the aligned ground truth).
    """

    n = rgb.shape[0]
    cam = random_camera_params(n, generator, device=rgb.device)
    if ratio is None:
        ratio = sample_exposure_ratio(n, generator, device=rgb.device)
    if noise is None:
        noise = sample_noise_params(n, generator, shot_range=LOW_LIGHT_SHOT_RANGE, device=rgb.device)
    raw = unprocess(rgb, cam, pattern)
    raw_low = simulate_low_light(raw, ratio, noise, generator, bits)
    return {"low": simple_isp(raw_low, cam, pattern, exposure=brighten), "high": simple_isp(raw, cam, pattern),
            "raw_low": raw_low, "ratio": torch.as_tensor(ratio), "camera": cam, "noise": noise}
