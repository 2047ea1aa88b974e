"""DiffRAW sampling and evaluation: ISPNet -> c_test, DTDM development, the DDPM/DDIM/truncated baselines,
colour plug-and-play, and the step-ablation table.

DiffRAW test time (Yi et al., AAAI-24; DESIGN.md §3): c_test = x_test = ISPNet(w); the DTDM reverse process
starts at y_s = sqrt(abar_s) x + sqrt(1 - abar_s) eps and runs K steps to y_0.  Baselines run on the gamma = 0
network: DDPM-1000 / DDIM-K from pure noise and the SDEdit-style truncated start without domain shift.

Denoiser convention here: an x0-predictor (rawdiff.diffusion.dtdm.Denoiser) maps (y_t, integer timestep t, condition) to an estimate of
the clean image y_0 (x0-prediction; eps-predicting networks are converted) — rawdiff.diffusion.dtdm's
``Denoiser``.  (DiD uses the other convention, rawdiff.diffusion.edm.EDMPrecond: (x, sigma) -> D(x).)
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable, Sequence

import torch
import torch.nn.functional as F

from rawdiff.camera.isp import simple_isp
from rawdiff.config import DTDMConfig, DTDMSampler
from rawdiff.diffraw.data import PhoneData, from_pm1, make_cond, to_pm1
from rawdiff.diffusion import ddpm as ddpm_mod
from rawdiff.diffusion import dtdm as dtdm_mod
from rawdiff.diffusion.schedules import abar_from_config, timesteps
from rawdiff.metrics.image import MetricSuite
from rawdiff.nn.ispnet import ISPNet
from rawdiff.utils import Timer, make_generator, resolve_device

# (y_t, t as a float tensor (N,) holding the integer timestep, condition or None) -> estimate of y_0 in [-1, 1]


def x0_predictor(unet, cfg: DTDMConfig, *, abar: torch.Tensor, gamma: torch.Tensor | None = None,
                 x: torch.Tensor | None = None) -> dtdm_mod.Denoiser:
    """Wrap a DiffRAW UNet ``unet(y_t, t, cond)`` as an x0-predictor (rawdiff.diffusion.dtdm.Denoiser).

    DTDM (gamma from (D1)) needs the shift target ``x`` to turn an eps prediction into y_0; the gamma = 0
    baselines (``gamma=None``) do not: with gamma = 0 the x term of (D2) vanishes, so no ``x`` is taken.
    """
    if gamma is None:
        gamma, x = torch.zeros_like(abar), 0.0
    elif x is None:
        raise ValueError("a DTDM x0-predictor (gamma given) needs the shift target x")
    return dtdm_mod.make_denoiser(_net_fn(unet), x=x, abar=abar, gamma=gamma, prediction=cfg.prediction)


@torch.no_grad()
def run_ispnet(isp: ISPNet, w: torch.Tensor, coords: torch.Tensor | None = None, batch: int = 16) -> torch.Tensor:
    """c_test = x_test = ISPNet(w) in [0, 1] (batched)."""
    dev = next(isp.parameters()).device
    outs = []
    for i in range(0, w.shape[0], batch):
        cc = None if coords is None else coords[i:i + batch].to(dev)
        outs.append(isp.develop(w[i:i + batch].to(dev), cc).to(w.device))
    return torch.cat(outs)


def _net_fn(unet) -> Callable:
    def fn(y_t, t, cond):
        return unet(y_t, t, cond)
    return fn


@torch.no_grad()
def develop_dtdm(unet, w: torch.Tensor, c: torch.Tensor, cfg: DTDMConfig, steps: int | Sequence[int] | None = None, *,
                 condition: str = "raw+c", generator: torch.Generator | None = None, eta: float = DTDMSampler.eta,
                 x: torch.Tensor | None = None, noise: torch.Tensor | None = None) -> torch.Tensor:
    """DiffRAW inference: DTDM from y_s = sqrt(abar_s) x + sqrt(1 - abar_s) eps, x = c (default), K steps.

    ``w`` packed RAW and ``c`` colour condition in [0, 1]; returns sRGB in [0, 1].  ``steps`` (K) and ``eta``
    default to rawdiff.config.DTDMSampler's.  Passing a different
    ``c`` with the same ``x`` is *not* what colour plug-and-play does: there x = c (use :func:`plug_and_play`).
    """
    abar, gamma = dtdm_mod.dtdm_tables(cfg)
    xs = to_pm1(c if x is None else x)
    step_list = timesteps(cfg.s, steps or DTDMSampler.sample_steps) if not isinstance(steps, (list, tuple)) else list(steps)
    den = x0_predictor(unet, cfg, abar=abar, gamma=gamma, x=xs)
    init = None if noise is None else dtdm_mod.dtdm_start(xs, step_list[0], abar, noise=noise)
    out = dtdm_mod.sample_dtdm(den, xs, step_list, abar=abar, gamma=gamma, cond=make_cond(w, c, condition),
                               generator=generator, eta=eta, init=init)
    return from_pm1(out)


@torch.no_grad()
def develop_baseline(unet, w: torch.Tensor, c: torch.Tensor, cfg: DTDMConfig, method: str, steps: int | None = None, *,
                     s: int | None = None, condition: str = "raw+c",
                     generator: torch.Generator | None = None) -> torch.Tensor:
    """Baselines on the gamma = 0 network (mode="ddpm"): ``"ddpm"`` (ancestral, T steps, from noise),
    ``"ddim"`` (K steps from noise, eta = 0), ``"truncated"`` (SDEdit-style from s, K steps, no shift)."""
    abar = abar_from_config(cfg)
    cond = make_cond(w, c, condition)
    den = x0_predictor(unet, cfg, abar=abar)
    shape = (w.shape[0], 3, 2 * w.shape[-2], 2 * w.shape[-1])
    if method in ("ddpm", "ddim"):
        noise = torch.randn(shape, generator=generator, device=w.device)
        if method == "ddpm":
            out = ddpm_mod.sample_ddpm(den, noise, abar=abar, cond=cond, generator=generator)
        else:
            out = ddpm_mod.sample_ddim(den, noise, steps or DTDMSampler.sample_steps, abar=abar, cond=cond, generator=generator)
    elif method == "truncated":
        out = ddpm_mod.sample_truncated(den, to_pm1(c), steps or DTDMSampler.sample_steps, abar=abar, s=s or cfg.s,
                                        cond=cond, generator=generator)
    else:
        raise ValueError(f"unknown baseline {method!r}; expected 'ddpm', 'ddim' or 'truncated'")
    return from_pm1(out)


@torch.no_grad()
def plug_and_play(unet, w: torch.Tensor, c_new: torch.Tensor, cfg: DTDMConfig, steps: int | None = None, *,
                  generator: torch.Generator | None = None) -> torch.Tensor:
    """Colour plug-and-play: same RAW w, another colour condition c_new (used as both x and c)."""
    return develop_dtdm(unet, w, c_new, cfg, steps, generator=generator)


def recolour(img: torch.Tensor, kind: str) -> torch.Tensor:
    """Colour transforms for plug-and-play demos: ``"warm"``/``"cool"`` white balance, ``"sepia"``, ``"mono"``."""
    if kind == "warm":
        m = torch.diag(torch.tensor([1.25, 1.0, 0.75]))
    elif kind == "cool":
        m = torch.diag(torch.tensor([0.8, 1.0, 1.25]))
    elif kind == "sepia":
        m = torch.tensor([[0.393, 0.769, 0.189], [0.349, 0.686, 0.168], [0.272, 0.534, 0.131]])
    elif kind == "mono":
        m = torch.tensor([[0.299, 0.587, 0.114]] * 3)
    elif kind == "none":
        return img
    else:
        raise ValueError(f"unknown recolour kind {kind!r}")
    return torch.einsum("ij,njhw->nihw", m.to(img), img).clamp(0, 1)


# =============================================================================================== evaluation
@dataclass(frozen=True)
class Method:
    """One row of the step ablation: ``kind`` in {"dtdm", "ddpm", "ddim", "truncated", "ispnet", "simple_isp"}."""

    kind: str
    steps: int | None = None
    s: int | None = None
    label: str | None = None

    @property
    def name(self) -> str:
        """Method name in the claims CSV contract (rawdiff/claims/): dtdm, ddpm, ddim, truncated_no_shift,
        ispnet, simple_isp."""
        return self.label or ("truncated_no_shift" if self.kind == "truncated" else self.kind)

    def nfe(self, T: int) -> int:
        if self.kind in ("ispnet", "simple_isp"):
            return 0
        if self.kind == "ddpm":
            return T
        start = T if self.kind == "ddim" else self.s
        return len(timesteps(start, self.steps)) - 1


def simple_isp_output(w: torch.Tensor) -> torch.Tensor:
    """The hand-written ISP baseline (rawdiff.camera.isp.simple_isp), at full output resolution."""

    out = simple_isp(w)
    if out.shape[-1] != 2 * w.shape[-1]:
        out = F.interpolate(out, size=(2 * w.shape[-2], 2 * w.shape[-1]), mode="bilinear", align_corners=False)
    return out.clamp(0, 1)


@torch.no_grad()
def evaluate(methods: Sequence[Method], test: PhoneData, *, c_test: torch.Tensor, nets: dict, cfg: DTDMConfig,
             seed: int = 0, metric_names: Sequence[str] = ("psnr", "ssim"), n_images: dict | None = None,
             device="auto", condition: str = "raw+c", keep_outputs: bool = False) -> list[dict]:
    """Rows (method, steps, s, nfe, n_images, <metrics>, sec_per_image) for each method on ``test``.

    ``nets``: {"dtdm": {s: unet}, "ddpm": unet}; ``c_test`` = ISPNet(w) for the test images;
    ``n_images``: per-kind cap (e.g. {"ddpm": 4} — DDPM-1000 is slow on CPU).  Every method gets the same
    per-image noise (one generator per method seeded by ``seed``).  Unavailable metrics stay strings.
    """

    dev = resolve_device(device)
    suite = MetricSuite(metric_names, device=dev)
    rows, outputs = [], {}
    for m in methods:
        n = min(len(test), (n_images or {}).get(m.kind, len(test)))
        w, y, c = test.raw[:n].to(dev), test.rgb[:n].to(dev), c_test[:n].to(dev)
        gen = make_generator(seed, dev)
        with Timer(dev) as tm:
            if m.kind == "ispnet":
                out = c
            elif m.kind == "simple_isp":
                out = simple_isp_output(w)
            elif m.kind == "dtdm":
                out = develop_dtdm(nets["dtdm"][m.s or cfg.s], w, c, replace(cfg, s=m.s or cfg.s), m.steps,
                                   condition=condition, generator=gen)
            else:
                out = develop_baseline(nets["ddpm"], w, c, cfg, m.kind, m.steps, s=m.s, condition=condition,
                                       generator=gen)
        vals = suite(out, y)
        row = {"method": m.name, "steps": m.steps if m.kind not in ("ddpm",) else cfg.T, "s": m.s,
               "nfe": m.nfe(cfg.T), "n_images": n}
        row.update({k: (round(v, 4) if isinstance(v, float) else v) for k, v in vals.items()})
        row["sec_per_image"] = round(tm.seconds / n, 4)
        rows.append(row)
        if keep_outputs:
            outputs[m.name] = out.cpu()
    return (rows, outputs) if keep_outputs else rows
