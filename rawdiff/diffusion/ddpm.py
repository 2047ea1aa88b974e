"""Baseline samplers for DiffRAW's step ablation (DESIGN.md §3), as plain ``@torch.no_grad`` functions.

All of them are special cases of the DTDM update (rawdiff.diffusion.dtdm, eqs. D4-D5) with no domain
shift (gamma_t = 0), so they share :func:`rawdiff.diffusion.dtdm.sample_dtdm` — that is exactly the same
math, not an approximation:

* :func:`sample_ddpm` — DDPM ancestral sampling from pure noise over all T steps (Ho et al. 2020, Alg. 2).
  DDIM with eta = 1 on the full step list has sigma_t^2 = (1 - abar_{t-1})/(1 - abar_t) * beta_t (the DDPM
  posterior variance) and the same posterior mean (Song et al. 2021, §4.1), so it *is* ancestral DDPM with
  the "beta-tilde" variance; tests/test_dtdm.py checks it against the posterior-mean form.
* :func:`sample_ddim` — DDIM from pure noise with K steps (Song et al. 2021, eq. 12).
* :func:`sample_truncated` — SDEdit-style (Meng et al., ICLR-22): noise the low-quality image to step s,
  y_s = sqrt(abar_s) x + sqrt(1 - abar_s) eps, and run DDIM from there without any domain shift.  It uses
  the same start as DTDM; the difference is that the network was trained on ordinary DDPM marginals, so
  it sees an out-of-domain y_s.

These baselines need a network trained on ordinary DDPM marginals over t in 1..T (gamma = 0), not the
DTDM network (trained only on t <= s with the shifted mean); rawdiff.diffraw.train trains one with
the same architecture, conditions and budget.
"""
from __future__ import annotations

from typing import Callable

import torch

from rawdiff.diffusion.dtdm import Denoiser, sample_dtdm
from rawdiff.diffusion.schedules import timesteps


def _no_shift(abar: torch.Tensor) -> torch.Tensor:
    return torch.zeros_like(abar, dtype=torch.float64)


@torch.no_grad()
def sample_ddim(denoiser: Denoiser, noise: torch.Tensor, steps: int | list[int], *, abar: torch.Tensor,
                cond: torch.Tensor | None = None, generator: torch.Generator | None = None, eta: float = 0.0,
                callback: Callable | None = None) -> torch.Tensor:
    """DDIM from pure noise ``noise`` = x_T ~ N(0, I); ``steps``: K (uniform T..0) or an explicit list from T."""
    T = abar.numel() - 1
    step_list = timesteps(T, steps) if isinstance(steps, int) else list(steps)
    zeros = torch.zeros_like(noise)
    return sample_dtdm(denoiser, zeros, step_list, abar=abar, gamma=_no_shift(abar), cond=cond,
                       generator=generator, eta=eta, init=noise, callback=callback)


@torch.no_grad()
def sample_ddpm(denoiser: Denoiser, noise: torch.Tensor, *, abar: torch.Tensor, cond: torch.Tensor | None = None,
                generator: torch.Generator | None = None, callback: Callable | None = None) -> torch.Tensor:
    """DDPM ancestral sampling from x_T = ``noise`` over all T steps (NFE = T); = DDIM with eta = 1, K = T."""
    T = abar.numel() - 1
    return sample_ddim(denoiser, noise, list(range(T, -1, -1)), abar=abar, cond=cond, generator=generator,
                       eta=1.0, callback=callback)


@torch.no_grad()
def sample_truncated(denoiser: Denoiser, x: torch.Tensor, steps: int | list[int], *, abar: torch.Tensor, s: int,
                     cond: torch.Tensor | None = None, generator: torch.Generator | None = None, eta: float = 0.0,
                     init: torch.Tensor | None = None, callback: Callable | None = None) -> torch.Tensor:
    """SDEdit-style truncated start at s without domain shift (gamma = 0), K DDIM steps s -> 0."""
    step_list = timesteps(s, steps) if isinstance(steps, int) else list(steps)
    if step_list[0] != s:
        raise ValueError(f"step list must start at s={s}, got {step_list[0]}")
    return sample_dtdm(denoiser, x, step_list, abar=abar, gamma=_no_shift(abar), cond=cond,
                       generator=generator, eta=eta, init=init, callback=callback)
