"""Sampling precision and per-image noise streams shared by the DTDM and EDM samplers.

* :func:`autocast_denoiser` — the denoiser call under bf16 autocast (``precision="bf16"``; mixed precision in
  the sense of Micikevicius et al., "Mixed Precision Training", ICLR-18, applied at inference with
  ``torch.autocast``): matrix products and convolutions run in bfloat16, the sampler's own arithmetic
  (schedules, Heun/DDIM updates, noise) stays float32, and the denoiser's output is cast back to the state's
  dtype.  It works on CUDA (tensor cores) and on CPU (``torch.autocast("cpu")``: slower than fp32 on most CPUs,
  so there it is only useful for checking a bf16 run before a GPU is lent).  ``"fp32"`` leaves the call as it is.
* :func:`image_generators` — one ``torch.Generator`` per image, seeded from ``(seed, tag, image index)``
  (rawdiff.utils.derive_seed), so an image's noise does not depend on which images share its batch: evaluating
  a set in chunks of any size gives the same outputs (up to the round-off of batched convolutions).
"""
from __future__ import annotations

from typing import Callable, Iterable

import torch

from rawdiff.utils import derive_seed, make_generator

__all__ = ["PRECISIONS", "check_precision", "autocast_denoiser", "image_generators", "base_seed"]

PRECISIONS = ("fp32", "bf16")


def check_precision(precision: str) -> str:
    """``precision`` if it is one of :data:`PRECISIONS`, else a one-line ValueError."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown sampling precision {precision!r}; expected one of {PRECISIONS}")
    return precision


def autocast_denoiser(fn: Callable[..., torch.Tensor], precision: str = "fp32") -> Callable[..., torch.Tensor]:
    """``fn(x, t_or_sigma, cond)`` run under bf16 autocast on ``x``'s device when ``precision == "bf16"``;
    the output is returned in ``x``'s dtype.  ``"fp32"`` returns ``fn`` itself."""
    if check_precision(precision) == "fp32":
        return fn

    def bf16(x: torch.Tensor, t: torch.Tensor, cond: torch.Tensor | None) -> torch.Tensor:
        with torch.autocast(device_type=x.device.type, dtype=torch.bfloat16):
            out = fn(x, t, cond)
        return out.to(x.dtype)

    return bf16


def image_generators(seed: int, indices: Iterable[int], device: str | torch.device = "cpu",
                     tag: str = "diffraw-sample") -> list[torch.Generator]:
    """One generator per image index: ``make_generator(derive_seed(seed, tag, i), device)``."""
    return [make_generator(derive_seed(int(seed), tag, int(i)), device) for i in indices]


def base_seed(generator: torch.Generator | int | None) -> int:
    """An integer base seed: ``generator`` itself when it is an int, one 62-bit draw from it when it is a
    ``torch.Generator``, one draw from torch's default generator when it is ``None`` (unseeded, as before)."""
    if isinstance(generator, int):
        return int(generator)
    dev = generator.device if isinstance(generator, torch.Generator) else "cpu"
    return int(torch.randint(0, 2 ** 62, (1,), generator=generator, device=dev))
