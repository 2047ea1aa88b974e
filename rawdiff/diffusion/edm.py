"""EDM (Karras, Aittala, Aila & Laine, "Elucidating the Design Space of Diffusion-Based Generative Models",
NeurIPS 2022) as used by DiD (Nguyen et al., "Diffusion in the Dark", WACV-24; DESIGN.md §3).

* :class:`EDMPrecond` — the preconditioned denoiser of EDM Table 1 / eq. (7):
  ``D(x; sigma, cond) = c_skip(sigma) x + c_out(sigma) F(c_in(sigma) x, c_noise(sigma), cond)`` with
  ``c_skip = sd^2/(sigma^2+sd^2)``, ``c_out = sigma sd/sqrt(sigma^2+sd^2)``, ``c_in = 1/sqrt(sigma^2+sd^2)``,
  ``c_noise = ln(sigma)/4`` and ``sd = sigma_data = 0.5``.
* :func:`sample_training_sigmas` — ``ln(sigma) ~ N(P_mean, P_std^2)`` = N(-1.2, 1.2^2) (EDM Table 1).
* :class:`EDMLoss` — EDM eq. (8) with ``lambda(sigma) = (sigma^2+sd^2)/(sigma sd)^2`` plus DiD's
  ``5 x LPIPS(AlexNet)`` term when the LPIPS weights are available (otherwise it says so once and runs
  without it).
* :func:`karras_sigmas` — EDM eq. (5): ``sigma_i = (smax^(1/rho) + i/(N-1) (smin^(1/rho) - smax^(1/rho)))^rho``,
  with ``sigma_N = 0`` appended.
* :func:`sample_heun` — EDM Algorithm 2 (deterministic Heun 2nd order, optional stochastic churn):
  ``N`` steps cost ``2N - 1`` denoiser evaluations (the last step is Euler because ``sigma_N = 0``).
* :class:`ILVRProjection` — ILVR (Choi et al., "ILVR: Conditioning Method for Denoising Diffusion
  Probabilistic Models", ICCV 2021, eq. (6)/Alg. 1): ``x <- x - LP(x) + LP(ref)`` with
  ``LP = up_N(down_N(.))`` (bicubic, antialiased down), applied by the sampler after the first ``k`` steps.

Samplers are plain ``@torch.no_grad()`` functions over a denoiser callable ``denoiser(x, sigma, cond)``
(k-diffusion style); the schedule is a tensor; all randomness comes from an injected generator — either
one ``torch.Generator`` or a list with one generator per batch element (so a batch of tiles draws exactly
the noise each tile would draw alone).
"""
from __future__ import annotations

import math
import warnings
from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "EDMPrecond", "EDMLoss", "sample_training_sigmas", "edm_loss_weight", "karras_sigmas", "sample_heun",
    "ILVRProjection", "low_pass", "randn", "count_nfe", "GeneratorLike",
]

GeneratorLike = torch.Generator | Sequence[torch.Generator] | None


# ----------------------------------------------------------------------------------------------- randomness
def randn(shape: Sequence[int], generator: GeneratorLike = None, *, device=None,
          dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Standard normal noise of ``shape``; with a list of generators, row ``i`` is drawn from ``generator[i]``.

    Per-row generators make a batched computation draw the same numbers as running each row alone.
    """
    shape = tuple(int(s) for s in shape)
    if generator is None or isinstance(generator, torch.Generator):
        dev = device if device is not None else (generator.device if generator is not None else "cpu")
        return torch.randn(shape, generator=generator, device=dev, dtype=dtype)
    gens = list(generator)
    if len(gens) != shape[0]:
        raise ValueError(f"got {len(gens)} generators for a batch of {shape[0]}")
    rows = [torch.randn((1, *shape[1:]), generator=g, device=g.device, dtype=dtype) for g in gens]
    out = torch.cat(rows, dim=0)
    return out.to(device) if device is not None else out


def _sigma_column(sigma: torch.Tensor | float, x: torch.Tensor) -> torch.Tensor:
    """``sigma`` as an ``N x 1 x 1 x 1`` tensor matching ``x``."""
    s = torch.as_tensor(sigma, dtype=x.dtype, device=x.device)
    if s.ndim == 0:
        s = s.expand(x.shape[0])
    return s.reshape(-1, *([1] * (x.ndim - 1)))


# ----------------------------------------------------------------------------------------------- preconditioning
class EDMPrecond(nn.Module):
    """EDM preconditioning (Karras et al. 2022, Table 1 and eq. (7)) around a raw network ``F``.

    ``net(x_in, noise_level, cond)`` is any network with that call convention (rawdiff.nn.unet.UNet).
    ``forward(x, sigma, cond)`` returns the denoised estimate ``D(x; sigma, cond)``.
    """

    def __init__(self, net: nn.Module, sigma_data: float = 0.5):
        super().__init__()
        self.net = net
        self.sigma_data = float(sigma_data)

    def coefficients(self, sigma: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(c_skip, c_out, c_in, c_noise)`` of EDM Table 1 for a tensor of sigmas."""
        sd2 = self.sigma_data ** 2
        s2 = sigma ** 2
        c_skip = sd2 / (s2 + sd2)
        c_out = sigma * self.sigma_data / (s2 + sd2).sqrt()
        c_in = 1.0 / (s2 + sd2).sqrt()
        c_noise = sigma.log() / 4.0
        return c_skip, c_out, c_in, c_noise

    def forward(self, x: torch.Tensor, sigma: torch.Tensor | float, cond: torch.Tensor | None = None) -> torch.Tensor:
        s = _sigma_column(sigma, x).to(torch.float32)
        c_skip, c_out, c_in, c_noise = self.coefficients(s)
        f = self.net((c_in * x).to(x.dtype), c_noise.flatten(), cond)
        return (c_skip * x + c_out * f.to(torch.float32)).to(x.dtype)


# ----------------------------------------------------------------------------------------------- training
def sample_training_sigmas(n: int, generator: GeneratorLike = None, *, p_mean: float = -1.2, p_std: float = 1.2,
                           device=None) -> torch.Tensor:
    """``sigma = exp(P_mean + P_std * n)``, ``n ~ N(0, 1)`` — EDM's log-normal training noise (Table 1)."""
    return (p_mean + p_std * randn((n,), generator, device=device)).exp()


def edm_loss_weight(sigma: torch.Tensor, sigma_data: float = 0.5) -> torch.Tensor:
    """``lambda(sigma) = (sigma^2 + sd^2) / (sigma sd)^2`` (EDM Table 1), which makes the effective loss
    weight of the raw network output 1 at every noise level."""
    return (sigma ** 2 + sigma_data ** 2) / (sigma * sigma_data) ** 2


class EDMLoss:
    """DiD's training loss: EDM eq. (8) ``E[lambda(sigma) ||D(y + sigma n; sigma, c) - y||^2]`` plus
    ``lpips_weight x LPIPS(to_image(D), to_image(y))`` (DiD official code, weight 5, AlexNet).

    Deterministic given the batch (all randomness — sigma and noise — lives in it), as rawdiff.train requires.
    Batch keys: ``target`` (N x C x H x W, model space), ``sigma`` (N,), ``noise`` (like target) and optional
    ``cond`` (N x C_cond x H x W).

    ``lpips``: a module ``(pred01, target01) -> (N,)`` distances on [0, 1] images
    (rawdiff.metrics.lpips_loss_or_none), or ``None`` — then ``lpips_reason`` is reported once (a
    ``RuntimeWarning`` when the loss is built) and the loss is the weighted L2 alone.  ``to_image`` maps model
    space to [0, 1] for LPIPS (e.g. the inverse of the target normalisation; default ``(y + 1) / 2``).
    """

    def __init__(self, sigma_data: float = 0.5, lpips: nn.Module | None = None, lpips_weight: float = 5.0,
                 lpips_reason: str = "", to_image: Callable[[torch.Tensor], torch.Tensor] | None = None):
        self.sigma_data = float(sigma_data)
        self.lpips = lpips
        self.lpips_weight = float(lpips_weight)
        self.to_image = to_image or (lambda y: ((y + 1.0) / 2.0).clamp(0.0, 1.0))
        self.lpips_active = lpips is not None and self.lpips_weight > 0
        if lpips is None and self.lpips_weight > 0:
            msg = (f"DiD loss runs without its {self.lpips_weight:g} x LPIPS term: "
                   f"{lpips_reason or 'no LPIPS module was given'}")
            warnings.warn(msg, RuntimeWarning, stacklevel=2)
        self.lpips_reason = lpips_reason

    def __call__(self, model: nn.Module, batch: dict) -> tuple[torch.Tensor, dict]:
        y, sigma, noise = batch["target"], batch["sigma"], batch["noise"]
        s = _sigma_column(sigma, y)
        denoised = model(y + s * noise, sigma, batch.get("cond"))
        w = edm_loss_weight(s, self.sigma_data)
        l2 = (w * (denoised - y) ** 2).flatten(1).mean(1).mean()
        logs = {"l2": l2.detach()}   # a tensor: rawdiff.train reads logs back at log points only
        loss = l2
        if self.lpips_active:
            lp = self.lpips(self.to_image(denoised.float()), self.to_image(y.float())).mean()
            loss = loss + self.lpips_weight * lp
            logs["lpips"] = lp.detach()
        return loss, logs


# ----------------------------------------------------------------------------------------------- sampling
def karras_sigmas(num_steps: int = 18, sigma_min: float = 0.002, sigma_max: float = 80.0, rho: float = 7.0,
                  device=None) -> torch.Tensor:
    """EDM eq. (5): ``num_steps`` decreasing sigmas from ``sigma_max`` to ``sigma_min``, then 0 (length N+1)."""
    if num_steps < 1:
        raise ValueError(f"num_steps must be >= 1, got {num_steps}")
    i = torch.arange(num_steps, dtype=torch.float64)
    hi, lo = sigma_max ** (1.0 / rho), sigma_min ** (1.0 / rho)
    frac = i / max(num_steps - 1, 1)
    s = (hi + frac * (lo - hi)) ** rho
    return torch.cat([s, torch.zeros(1, dtype=torch.float64)]).to(device=device, dtype=torch.float32)


def count_nfe(sigmas: torch.Tensor) -> int:
    """Denoiser evaluations Heun needs on ``sigmas``: 2 per step, 1 for a step ending at sigma = 0."""
    s = sigmas.tolist()
    return sum(1 if s[i + 1] == 0 else 2 for i in range(len(s) - 1))


@torch.no_grad()
def sample_heun(denoiser: Callable[..., torch.Tensor], x: torch.Tensor, sigmas: torch.Tensor, *,
                cond: torch.Tensor | None = None, generator: GeneratorLike = None, s_churn: float = 0.0,
                s_tmin: float = 0.0, s_tmax: float = float("inf"), s_noise: float = 1.0,
                projection: Callable[[torch.Tensor, torch.Tensor, int], torch.Tensor] | None = None,
                projection_steps: int = 0,
                callback: Callable[[dict], None] | None = None) -> torch.Tensor:
    """EDM Algorithm 2: Heun's 2nd-order solver of the probability-flow ODE ``dx/dsigma = (x - D(x; sigma))/sigma``.

    ``x`` is the starting sample at ``sigmas[0]`` (e.g. ``sigma_max * N(0, I)``, drawn by the caller).
    For step ``i`` (``gamma_i = min(S_churn/N, sqrt(2) - 1)`` when ``S_tmin <= sigma_i <= S_tmax``, else 0):

        sigma_hat = sigma_i (1 + gamma_i);  x_hat = x_i + sqrt(sigma_hat^2 - sigma_i^2) S_noise eps
        d_i = (x_hat - D(x_hat; sigma_hat)) / sigma_hat;  x_{i+1} = x_hat + (sigma_{i+1} - sigma_hat) d_i
        if sigma_{i+1} != 0:  d'_i = (x_{i+1} - D(x_{i+1}; sigma_{i+1})) / sigma_{i+1}
                              x_{i+1} = x_hat + (sigma_{i+1} - sigma_hat) (d_i + d'_i) / 2

    ``projection(x_{i+1}, sigma_{i+1}, i)`` (e.g. :class:`ILVRProjection`) is applied after each of the first
    ``projection_steps`` steps.  ``callback`` receives ``{"i", "sigma", "sigma_hat", "x", "denoised"}``.
    ``denoiser(x, sigma, cond)`` gets a sigma tensor of shape (N,).  The schedule is read to the host once before
    the loop (``projection`` gets ``sigma_{i+1}`` as a float), so no step waits on a device-to-host copy.
    """
    sig = [float(v) for v in torch.as_tensor(sigmas).tolist()]   # one read of the schedule, none per step
    n = len(sig) - 1
    x = x.clone()
    batch = x.shape[0]
    for i in range(n):
        sigma, sigma_next = sig[i], sig[i + 1]
        gamma = min(s_churn / n, math.sqrt(2.0) - 1.0) if (s_churn > 0 and s_tmin <= sigma <= s_tmax) else 0.0
        sigma_hat = sigma * (1.0 + gamma)
        if gamma > 0:
            eps = randn(x.shape, generator, device=x.device, dtype=x.dtype) * s_noise
            x = x + eps * math.sqrt(sigma_hat ** 2 - sigma ** 2)
        s_hat = torch.full((batch,), sigma_hat, device=x.device, dtype=x.dtype)
        denoised = denoiser(x, s_hat, cond)
        d = (x - denoised) / sigma_hat
        x_next = x + (sigma_next - sigma_hat) * d
        if sigma_next != 0:
            s_next = torch.full((batch,), sigma_next, device=x.device, dtype=x.dtype)
            d2 = (x_next - denoiser(x_next, s_next, cond)) / sigma_next
            x_next = x + (sigma_next - sigma_hat) * (0.5 * d + 0.5 * d2)
        x = x_next
        if projection is not None and i < projection_steps:
            x = projection(x, sigma_next, i)
        if callback is not None:
            callback({"i": i, "sigma": sigma, "sigma_hat": sigma_hat, "x": x, "denoised": denoised})
    return x


# ----------------------------------------------------------------------------------------------- ILVR
def low_pass(x: torch.Tensor, factor: int = 2) -> torch.Tensor:
    """ILVR's ``phi_N(x) = up_N(down_N(x))`` (Choi et al. 2021, eq. (6)) with bicubic resizing; the
    down-sampling is antialiased.  Works for any H x W (down-sampled size ``ceil(H/factor)``)."""
    h, w = x.shape[-2:]
    small = F.interpolate(x, size=(max(1, math.ceil(h / factor)), max(1, math.ceil(w / factor))), mode="bicubic",
                          align_corners=False, antialias=True)
    return F.interpolate(small, size=(h, w), mode="bicubic", align_corners=False)


class ILVRProjection:
    """ILVR's refinement ``x <- x - phi_N(x) + phi_N(ref_sigma)`` (Choi et al. 2021, Alg. 1), as a sampler hook.

    ``noised_reference=False`` (DiD official code): ``ref_sigma = ref``.  ``True`` (ILVR paper): the reference
    is diffused to the current noise level of the EDM (variance-exploding) process,
    ``ref_sigma = ref + sigma * eps`` with ``eps`` drawn from ``generator`` (one per batch row allowed).
    Call signature matches :func:`sample_heun`'s ``projection``: ``(x, sigma, step_index) -> x``.
    """

    def __init__(self, reference: torch.Tensor, factor: int = 2, noised_reference: bool = False,
                 generator: GeneratorLike = None):
        self.reference = reference
        self.factor = int(factor)
        self.noised_reference = bool(noised_reference)
        self.generator = generator
        self._ref_lp = low_pass(reference, self.factor)

    def __call__(self, x: torch.Tensor, sigma: torch.Tensor | float, step: int = 0) -> torch.Tensor:
        if x.shape != self.reference.shape:
            raise ValueError(f"ILVR reference has shape {tuple(self.reference.shape)}, sample {tuple(x.shape)}")
        ref_lp = self._ref_lp
        s = float(sigma)
        if self.noised_reference and s > 0:
            noise = randn(x.shape, self.generator, device=x.device, dtype=x.dtype)
            ref_lp = low_pass(self.reference + s * noise, self.factor)
        return x - low_pass(x, self.factor) + ref_lp


def truncated_sigmas(sigma_start: float, steps: int, *, sigma_min: float = 0.002, rho: float = 7.0,
                     device=None) -> torch.Tensor:
    """Schedule for the few-step upper levels: EDM eq. (5) from ``sigma_start`` down to ``sigma_min`` in
    ``steps`` Heun steps (then 0) — :func:`rawdiff.diffusion.edm.karras_sigmas` with ``sigma_max = sigma_start``,
    so ``truncated_sigmas(sigma_max, N)`` equals the paper's full schedule exactly."""
    if not sigma_start > sigma_min:
        raise ValueError(f"sigma_start must exceed sigma_min={sigma_min}, got {sigma_start}")
    return karras_sigmas(int(steps), sigma_min, float(sigma_start), rho, device=device)
