r"""DTDM — DiffRAW's *domain-transform* diffusion (Yi et al., AAAI-24), forward marginal, loss and sampler.

The DiffRAW paper describes DTDM in words (start the reverse process from a noised low-quality image
instead of pure noise; few steps); it publishes no code and its equations are not reproduced here
verbatim.  The formulation below is **our derivation from that description** (DESIGN.md §3), written so
that it reduces to DDPM/DDIM when the domain shift is switched off.

Notation: ``y`` the clean target (DSLR sRGB), ``x`` the low-quality domain image the chain starts from
(training: x = D²(y); test: x = ISPNet(w)), ``abar_t`` a DDPM schedule (t = 0..T, abar_0 = 1), ``s < T``
the truncation step, ``eps ~ N(0, I)``.

**Domain-shift weight.**  A monotone ``gamma_t`` on 0..s with gamma_0 = 0 and gamma_s = 1; the default is

    gamma_t = (1 - abar_t) / (1 - abar_s)                                               (D1)

which increases with t because abar_t decreases.

**Forward marginal.**  For 0 <= t <= s

    y_t = sqrt(abar_t) * [ (1 - gamma_t) * y + gamma_t * x ] + sqrt(1 - abar_t) * eps      (D2)

so y_0 = y and y_s = sqrt(abar_s) * x + sqrt(1 - abar_s) * eps: the truncated start is a noised x and
does not depend on y — the sampler can start from it at test time, where y is unknown.  Like ResShift
(Yue et al., NeurIPS-23, "residual shifting"), the mean moves from y to x while noise is added; unlike
ResShift the noise level follows the DDPM schedule, so gamma = 0 gives back the DDPM marginal exactly.

**Training.**  t ~ U{1..s}, eps ~ N(0, I); the network f(y_t, t, w, c) predicts y (x0-parameterisation,
the default, as in ResShift) or eps; loss = MSE to the target (D3).  Note eps-prediction is ill-posed at
t = s: (D2) gives y = ((y_t - sqrt(1-abar_t) eps)/sqrt(abar_t) - gamma_t x) / (1 - gamma_t) with
1 - gamma_s = 0, so :func:`predict_y_from_eps` floors (1 - gamma) (see there); prefer x0.

**Reverse (DDIM-style, Song et al. ICLR-21 eq. 12 generalised).**  Over any decreasing step list
s = tau_K > ... > tau_0 = 0 and eta in [0, 1], with tau -> tau' one jump:

    yhat   = f(y_tau, tau, w, c)
    epshat = (y_tau - sqrt(abar_tau) * [(1 - gamma_tau) yhat + gamma_tau x]) / sqrt(1 - abar_tau)     (D4)
    sigma  = eta * sqrt((1 - abar_tau') / (1 - abar_tau)) * sqrt(1 - abar_tau / abar_tau')
    y_tau' = sqrt(abar_tau') * [(1 - gamma_tau') yhat + gamma_tau' x]
             + sqrt(1 - abar_tau' - sigma^2) * epshat + sigma * z,           z ~ N(0, I)             (D5)

Properties (checked in tests/test_dtdm.py): with gamma = 0 and s = T, (D4)-(D5) are DDIM exactly; if f
returns the true y, (D4) recovers the eps of (D2) and (D5) with eta = 0 stays on the marginal (D2) with
the same eps, ending at y_0 = y for every K.  The last jump (tau' = 0) returns yhat (abar_0 = 1,
gamma_0 = 0, sigma = 0).  NFE = K network evaluations.
"""
from __future__ import annotations

from typing import Callable, Sequence

import torch

from rawdiff.diffusion.edm import GeneratorLike, randn
from rawdiff.diffusion.schedules import abar_from_config

# denoiser(y_t, t, cond) -> estimate of the clean y  (t: float tensor (N,) holding the integer timestep)
Denoiser = Callable[[torch.Tensor, torch.Tensor, "torch.Tensor | None"], torch.Tensor]


def gamma_schedule(abar: torch.Tensor, s: int, kind: str = "default") -> torch.Tensor:
    """gamma_t for t = 0..T (float64, length T + 1), eq. (D1); gamma_t = 1 for t >= s.

    ``kind``: "default" (D1), "linear" (gamma_t = t/s), or "zero" (no domain shift: plain DDPM marginals,
    used by the SDEdit-style and from-noise baselines).
    """
    T = abar.numel() - 1
    if not 1 <= s <= T:
        raise ValueError(f"truncation step s={s} must be in 1..{T}")
    t = torch.arange(T + 1, dtype=torch.float64)
    if kind == "zero":
        return torch.zeros(T + 1, dtype=torch.float64)
    if kind == "default":
        g = (1 - abar.double()) / (1 - abar[s].double())
    elif kind == "linear":
        g = t / s
    else:
        raise ValueError(f"unknown gamma kind {kind!r}; expected 'default', 'linear' or 'zero'")
    g = g.clamp(0.0, 1.0)
    g[0] = 0.0
    g[s:] = 1.0
    return g


def _bcast(v: torch.Tensor, t: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """Index a per-timestep table ``v`` at integer ``t`` (N,) and shape it (N, 1, 1, 1) like ``ref``."""
    out = v.to(ref.device)[t.long().to(ref.device)]
    return out.to(ref.dtype).view(-1, *([1] * (ref.dim() - 1)))


def q_sample(y: torch.Tensor, x: torch.Tensor, t: torch.Tensor, abar: torch.Tensor, gamma: torch.Tensor,
             noise: torch.Tensor) -> torch.Tensor:
    """Forward marginal (D2): y_t = sqrt(abar_t)[(1-gamma_t) y + gamma_t x] + sqrt(1-abar_t) eps."""
    a = _bcast(abar, t, y)
    g = _bcast(gamma, t, y)
    return a.sqrt() * ((1 - g) * y + g * x) + (1 - a).sqrt() * noise


def sample_training_inputs(n: int, s: int, generator: torch.Generator, shape: Sequence[int],
                           device: torch.device | str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw t ~ U{1..s} (long, (n,)) and eps ~ N(0, I) of ``shape`` from ``generator`` (for batch_fn)."""
    device = device if device is not None else generator.device
    t = torch.randint(1, s + 1, (n,), generator=generator, device=device)
    eps = torch.randn(tuple(shape), generator=generator, device=device)
    return t, eps


def training_loss(model_out: torch.Tensor, y: torch.Tensor, noise: torch.Tensor,
                  prediction: str = "x0") -> torch.Tensor:
    """(D3): MSE between the network output and y (``"x0"``) or eps (``"eps"``)."""
    if prediction == "x0":
        target = y
    elif prediction == "eps":
        target = noise
    else:
        raise ValueError(f"unknown prediction {prediction!r}; expected 'x0' or 'eps'")
    return torch.mean((model_out.float() - target.float()) ** 2)


def predict_y_from_eps(y_t: torch.Tensor, eps: torch.Tensor, x: torch.Tensor, t: torch.Tensor,
                       abar: torch.Tensor, gamma: torch.Tensor, floor: float = 1e-3) -> torch.Tensor:
    """Invert (D2) for y given an eps estimate; (1 - gamma_t) is floored at ``floor`` (ill-posed at t = s)."""
    a = _bcast(abar, t, y_t)
    g = _bcast(gamma, t, y_t)
    mean = (y_t - (1 - a).sqrt() * eps) / a.sqrt()
    return (mean - g * x) / (1 - g).clamp(min=floor)


def make_denoiser(model: Callable, *, x: torch.Tensor, abar: torch.Tensor, gamma: torch.Tensor,
                  prediction: str = "x0", clip: float | None = 1.0) -> Denoiser:
    """Wrap a network ``model(y_t, t_float, cond)`` into a y-predicting :data:`Denoiser`.

    ``prediction="eps"`` converts with :func:`predict_y_from_eps`; ``clip`` clamps yhat to [-clip, clip]
    (images live in [-1, 1]); ``None`` disables clamping (needed for exact algebraic checks).
    """
    def denoise(y_t: torch.Tensor, t: torch.Tensor, cond: torch.Tensor | None) -> torch.Tensor:
        out = model(y_t, t.to(y_t.dtype), cond)
        if prediction == "eps":
            out = predict_y_from_eps(y_t, out, x, t, abar, gamma)
        elif prediction != "x0":
            raise ValueError(f"unknown prediction {prediction!r}")
        return out.clamp(-clip, clip) if clip is not None else out

    return denoise


def dtdm_start(x: torch.Tensor, s: int, abar: torch.Tensor, *, generator: GeneratorLike = None,
               noise: torch.Tensor | None = None) -> torch.Tensor:
    """Truncated start y_s = sqrt(abar_s) x + sqrt(1 - abar_s) eps ((D2) at t = s); ``generator`` may be a list
    with one generator per image (row i of eps drawn from generator i)."""
    if noise is None:
        noise = randn(x.shape, generator, device=x.device, dtype=x.dtype)
    a = float(abar[s])
    return a ** 0.5 * x + (1 - a) ** 0.5 * noise


@torch.no_grad()
def sample_dtdm(denoiser: Denoiser, x: torch.Tensor, steps: Sequence[int], *, abar: torch.Tensor,
                gamma: torch.Tensor, cond: torch.Tensor | None = None, generator: GeneratorLike = None,
                eta: float = 0.0, init: torch.Tensor | None = None, callback: Callable | None = None) -> torch.Tensor:
    """DTDM reverse process (D4)-(D5) over the decreasing step list ``steps`` (tau_K = s, ..., tau_0 = 0).

    ``x``: low-quality domain image (N x C x H x W, [-1, 1]); ``init``: the state at ``steps[0]``
    (default: :func:`dtdm_start` with noise from ``generator``); ``cond``: passed to the denoiser untouched;
    ``callback(dict(i, t, t_next, y, yhat))`` after every jump.  Returns y_0 (= the last yhat).
    ``generator``: one ``torch.Generator`` or a list with one per image (rawdiff.diffusion.edm.randn), so an
    image's noise does not depend on its batch.  The schedule is read into Python floats once, before the loop:
    the loop itself never reads a value back from the device.
    """
    steps = [int(t) for t in steps]
    if len(steps) < 2 or steps[-1] != 0 or any(a <= b for a, b in zip(steps, steps[1:])):
        raise ValueError(f"steps must be strictly decreasing and end at 0, got {steps}")
    if not 0.0 <= eta <= 1.0:
        raise ValueError(f"eta must be in [0, 1], got {eta}")
    abar64 = abar.double().cpu()
    a_list, g_list = abar64.tolist(), gamma.double().cpu().tolist()
    y = init if init is not None else dtdm_start(x, steps[0], abar64, generator=generator)
    n = x.shape[0]
    yhat = y
    for i, (t, tn) in enumerate(zip(steps[:-1], steps[1:])):
        tt = torch.full((n,), t, device=x.device, dtype=torch.long)
        yhat = denoiser(y, tt, cond)
        a, an = a_list[t], a_list[tn]
        g, gn = g_list[t], g_list[tn]
        eps_hat = (y - a ** 0.5 * ((1 - g) * yhat + g * x)) / (1 - a) ** 0.5                  # (D4)
        sigma = eta * ((1 - an) / (1 - a)) ** 0.5 * (1 - a / an) ** 0.5
        y = an ** 0.5 * ((1 - gn) * yhat + gn * x) + max(1 - an - sigma ** 2, 0.0) ** 0.5 * eps_hat  # (D5)
        if sigma > 0:
            y = y + sigma * randn(y.shape, generator, device=y.device, dtype=y.dtype)
        if callback is not None:
            callback({"i": i, "t": t, "t_next": tn, "y": y, "yhat": yhat})
    return y


def dtdm_tables(cfg) -> tuple[torch.Tensor, torch.Tensor]:
    """(abar, gamma) float64 tables (length T + 1) for a DTDMConfig."""
    abar = abar_from_config(cfg)
    return abar, gamma_schedule(abar, cfg.s, cfg.gamma)
