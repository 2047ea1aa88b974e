"""DDPM noise schedules as plain tensors, and timestep lists for few-step samplers.

* Linear betas (Ho et al., 2020, "Denoising Diffusion Probabilistic Models", §4):
  ``beta_t = linspace(beta_start, beta_end, T)`` for t = 1..T.
* Cosine schedule (Nichol & Dhariwal, 2021, "Improved DDPM", eq. 17):
  ``abar_t = f(t)/f(0)``, ``f(t) = cos(((t/T + s)/(1 + s)) * pi/2)^2``, betas clipped at 0.999.

Conventions used by every DDPM-family sampler in rawdiff: :func:`alphas_cumprod` returns a float64
tensor ``abar`` of length ``T + 1`` indexed by the integer timestep, with ``abar[0] = 1`` (t = 0 is the
clean image) and ``abar[t] = prod_{i<=t} (1 - beta_i)``.  Keeping float64 makes the closed-form checks
(tests/test_dtdm.py) exact to ~1e-12; samplers cast to the image dtype when they use it.
"""
from __future__ import annotations

import math

import torch


def linear_betas(T: int = 1000, beta_start: float = 1e-4, beta_end: float = 2e-2) -> torch.Tensor:
    """Linear DDPM betas beta_1..beta_T (Ho et al. 2020), float64, shape (T,)."""
    if T < 1:
        raise ValueError(f"T must be >= 1, got {T}")
    return torch.linspace(beta_start, beta_end, T, dtype=torch.float64)


def cosine_betas(T: int = 1000, s: float = 0.008, max_beta: float = 0.999) -> torch.Tensor:
    """Cosine-schedule betas (Nichol & Dhariwal 2021, eq. 17), float64, shape (T,)."""
    t = torch.arange(T + 1, dtype=torch.float64) / T
    f = torch.cos((t + s) / (1 + s) * math.pi / 2) ** 2
    abar = f / f[0]
    return (1 - abar[1:] / abar[:-1]).clamp(max=max_beta)


def make_betas(schedule: str = "linear", T: int = 1000, beta_start: float = 1e-4,
               beta_end: float = 2e-2) -> torch.Tensor:
    """Betas for ``schedule`` in {"linear", "cosine"}."""
    if schedule == "linear":
        return linear_betas(T, beta_start, beta_end)
    if schedule == "cosine":
        return cosine_betas(T)
    raise ValueError(f"unknown schedule {schedule!r}; expected 'linear' or 'cosine'")


def alphas_cumprod(betas: torch.Tensor) -> torch.Tensor:
    """``abar`` with abar[0] = 1 and abar[t] = prod_{i=1..t}(1 - beta_i); shape (T + 1,), float64."""
    return torch.cat([torch.ones(1, dtype=torch.float64), torch.cumprod(1 - betas.double(), 0)])


def abar_from_config(cfg) -> torch.Tensor:
    """``abar`` (length T + 1) from a :class:`rawdiff.config.DTDMConfig`-like object."""
    return alphas_cumprod(make_betas(cfg.schedule, cfg.T, cfg.beta_start, cfg.beta_end))


def timesteps(start: int, steps: int, spacing: str = "uniform") -> list[int]:
    """Decreasing step list ``start = tau_K > ... > tau_1 > tau_0 = 0`` with K = ``steps`` jumps.

    ``spacing="uniform"`` spaces the K+1 points linearly between ``start`` and 0 (rounded, de-duplicated,
    so K is capped at ``start``); ``"quadratic"`` packs them near 0 (DDIM paper, Song et al. 2021, App. D.2).
    ``start`` is T for from-noise sampling or s for truncated (DTDM / SDEdit-style) sampling.
    """
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    if start < 1:
        raise ValueError(f"start must be >= 1, got {start}")
    steps = min(steps, start)
    u = torch.linspace(1.0, 0.0, steps + 1, dtype=torch.float64)
    if spacing == "quadratic":
        u = u ** 2
    elif spacing != "uniform":
        raise ValueError(f"unknown spacing {spacing!r}")
    taus = [int(round(float(v) * start)) for v in u]
    out: list[int] = []
    for t in taus:
        if not out or t < out[-1]:
            out.append(t)
    if out[-1] != 0:
        out.append(0)
    return out
