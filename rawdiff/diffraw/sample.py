"""DiffRAW sampling and evaluation: ISPNet -> c_test, DTDM development, the DDPM/DDIM/truncated baselines,
colour plug-and-play, and the step-ablation table.

DiffRAW test time (Yi et al., AAAI-24; DESIGN.md §3): c_test = x_test = ISPNet(w); the DTDM reverse process
starts at y_s = sqrt(abar_s) x + sqrt(1 - abar_s) eps and runs K steps to y_0.  Baselines run on the gamma = 0
network: DDPM-1000 / DDIM-K from pure noise and the SDEdit-style truncated start without domain shift.

Evaluation in chunks (issue 23): every function that takes a set of images sends it through the networks
``chunk`` images at a time (default rawdiff.config.DTDMSampler.chunk), and every image draws its noise from its
own generator (rawdiff.diffusion.precision.image_generators: ``derive_seed(seed, "diffraw-sample", index)``),
so the output of an image depends on its index and the seed, never on the chunk.  ``precision="bf16"`` runs the
UNet under bf16 autocast (rawdiff.diffusion.precision).

Denoiser convention here: an x0-predictor (rawdiff.diffusion.dtdm.Denoiser) maps (y_t, integer timestep t, condition) to an estimate of
the clean image y_0 (x0-prediction; eps-predicting networks are converted) — rawdiff.diffusion.dtdm's
``Denoiser``.  (DiD uses the other convention, rawdiff.diffusion.edm.EDMPrecond: (x, sigma) -> D(x).)
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable, Iterator, Sequence

import torch
import torch.nn.functional as F

from rawdiff.camera.isp import simple_isp
from rawdiff.config import DTDMConfig, DTDMSampler
from rawdiff.diffraw.data import PhoneData, from_pm1, make_cond, to_pm1
from rawdiff.diffusion import ddpm as ddpm_mod
from rawdiff.diffusion import dtdm as dtdm_mod
from rawdiff.diffusion.edm import GeneratorLike, randn
from rawdiff.diffusion.precision import autocast_denoiser, base_seed, image_generators
from rawdiff.diffusion.schedules import abar_from_config, timesteps
from rawdiff.errors import DataError
from rawdiff.metrics.image import MetricSuite
from rawdiff.nn.ispnet import ISPNet
from rawdiff.utils import Timer, resolve_device

SeedLike = GeneratorLike | int

# (y_t, t as a float tensor (N,) holding the integer timestep, condition or None) -> estimate of y_0 in [-1, 1]


def x0_predictor(unet, cfg: DTDMConfig, *, abar: torch.Tensor, gamma: torch.Tensor | None = None,
                 x: torch.Tensor | None = None, precision: str = "fp32") -> dtdm_mod.Denoiser:
    """Wrap a DiffRAW UNet ``unet(y_t, t, cond)`` as an x0-predictor (rawdiff.diffusion.dtdm.Denoiser).

    DTDM (gamma from (D1)) needs the shift target ``x`` to turn an eps prediction into y_0; the gamma = 0
    baselines (``gamma=None``) do not: with gamma = 0 the x term of (D2) vanishes, so no ``x`` is taken.
    """
    if gamma is None:
        gamma, x = torch.zeros_like(abar), 0.0
    elif x is None:
        raise ValueError("a DTDM x0-predictor (gamma given) needs the shift target x")
    return dtdm_mod.make_denoiser(_net_fn(unet, precision), x=x, abar=abar, gamma=gamma, prediction=cfg.prediction)


@torch.no_grad()
def run_ispnet(isp: ISPNet, w: torch.Tensor, coords: torch.Tensor | None = None, batch: int = 16) -> torch.Tensor:
    """c_test = x_test = ISPNet(w) in [0, 1] (batched)."""
    dev = next(isp.parameters()).device
    outs = []
    for i in range(0, w.shape[0], batch):
        cc = None if coords is None else coords[i:i + batch].to(dev)
        outs.append(isp.develop(w[i:i + batch].to(dev), cc).to(w.device))
    return torch.cat(outs)


def ispnet_condition(isp: ISPNet) -> Callable[[PhoneData], torch.Tensor]:
    """c_test = ISPNet(w) as a function of a piece of the test set — what the evaluation functions of
    rawdiff.diffraw.evaluate take as ``c_test`` to compute it chunk by chunk instead of for the whole set."""
    def c_of(piece: PhoneData) -> torch.Tensor:
        return run_ispnet(isp, piece.raw)
    return c_of


def _net_fn(unet, precision: str = "fp32") -> Callable:
    def fn(y_t, t, cond):
        return unet(y_t, t, cond)
    return autocast_denoiser(fn, precision)


def phone_chunks(data: PhoneData, size: int, device=None) -> Iterator[tuple[int, PhoneData]]:
    """``(index of the first pair, piece)`` for consecutive in-memory pieces of at most ``size`` pairs of
    ``data`` on ``device`` (rawdiff.diffraw.data.PhoneData.chunks: a split read from disk is never held whole)."""
    start = 0
    for piece in data.chunks(max(1, int(size)), device):
        yield start, piece
        start += len(piece)


def per_image_generators(generator: SeedLike, n: int, device, start: int = 0) -> list[torch.Generator]:
    """One generator per image for images ``start .. start + n - 1``: a list is used as given (length ``n``); an
    int seed, a ``torch.Generator`` (one draw) or ``None`` (torch's default generator, one draw) gives the base
    seed of :func:`rawdiff.diffusion.precision.image_generators`."""
    if isinstance(generator, (list, tuple)):
        if len(generator) != n:
            raise DataError(f"got {len(generator)} generators for {n} images")
        return list(generator)
    return image_generators(base_seed(generator), range(start, start + n), device)


def _in_chunks(fn: Callable, n: int, chunk: int | None, gens: list, dev, *tensors) -> torch.Tensor:
    """``fn(*pieces, gens_piece)`` over consecutive chunks of the batch (tensors moved to ``dev`` piece by piece);
    the outputs concatenated on the first tensor's device."""
    step = max(1, int(chunk or DTDMSampler.chunk))
    outs = []
    for a in range(0, n, step):
        pieces = [None if t is None else t[a:a + step].to(dev) for t in tensors]
        outs.append(fn(*pieces, gens[a:a + step]).to(tensors[0].device))
    return torch.cat(outs)


def _device(unet, w: torch.Tensor) -> torch.device:
    p = next(iter(unet.parameters()), None) if hasattr(unet, "parameters") else None
    return p.device if p is not None else w.device


@torch.no_grad()
def develop_dtdm(unet, w: torch.Tensor, c: torch.Tensor, cfg: DTDMConfig, steps: int | Sequence[int] | None = None, *,
                 condition: str = "raw+c", generator: SeedLike = None, eta: float = DTDMSampler.eta,
                 x: torch.Tensor | None = None, noise: torch.Tensor | None = None, chunk: int | None = None,
                 precision: str = DTDMSampler.precision) -> torch.Tensor:
    """DiffRAW inference: DTDM from y_s = sqrt(abar_s) x + sqrt(1 - abar_s) eps, x = c (default), K steps.

    ``w`` packed RAW and ``c`` colour condition in [0, 1]; returns sRGB in [0, 1] on ``w``'s device.  ``steps``
    (K), ``eta``, ``chunk`` and ``precision`` default to rawdiff.config.DTDMSampler's.  ``generator``: an int
    seed, a ``torch.Generator`` (one base seed drawn from it), ``None`` (torch's default generator) or a list of
    one generator per image (:func:`per_image_generators`).  Passing a different ``c`` with the same ``x`` is
    *not* what colour plug-and-play does: there x = c (use :func:`plug_and_play`).
    """
    abar, gamma = dtdm_mod.dtdm_tables(cfg)
    step_list = timesteps(cfg.s, steps or DTDMSampler.sample_steps) if not isinstance(steps, (list, tuple)) else list(steps)
    dev = _device(unet, w)
    gens = per_image_generators(generator, w.shape[0], dev)

    def run(wp, cp, xp, noise_p, g):
        xs = to_pm1(cp if xp is None else xp)
        den = x0_predictor(unet, cfg, abar=abar, gamma=gamma, x=xs, precision=precision)
        init = None if noise_p is None else dtdm_mod.dtdm_start(xs, step_list[0], abar, noise=noise_p)
        return dtdm_mod.sample_dtdm(den, xs, step_list, abar=abar, gamma=gamma, cond=make_cond(wp, cp, condition),
                                    generator=g, eta=eta, init=init)

    return from_pm1(_in_chunks(run, w.shape[0], chunk, gens, dev, w, c, x, noise))


@torch.no_grad()
def develop_baseline(unet, w: torch.Tensor, c: torch.Tensor, cfg: DTDMConfig, method: str, steps: int | None = None, *,
                     s: int | None = None, condition: str = "raw+c", generator: SeedLike = None,
                     chunk: int | None = None, precision: str = DTDMSampler.precision) -> torch.Tensor:
    """Baselines on the gamma = 0 network (mode="ddpm"): ``"ddpm"`` (ancestral, T steps, from noise),
    ``"ddim"`` (K steps from noise, eta = 0), ``"truncated"`` (SDEdit-style from s, K steps, no shift).
    ``generator``, ``chunk``, ``precision``: as :func:`develop_dtdm`."""
    if method not in ("ddpm", "ddim", "truncated"):
        raise ValueError(f"unknown baseline {method!r}; expected 'ddpm', 'ddim' or 'truncated'")
    abar = abar_from_config(cfg)
    dev = _device(unet, w)
    gens = per_image_generators(generator, w.shape[0], dev)

    def run(wp, cp, g):
        cond = make_cond(wp, cp, condition)
        den = x0_predictor(unet, cfg, abar=abar, precision=precision)
        if method == "truncated":
            return ddpm_mod.sample_truncated(den, to_pm1(cp), steps or DTDMSampler.sample_steps, abar=abar,
                                             s=s or cfg.s, cond=cond, generator=g)
        noise = randn((wp.shape[0], 3, 2 * wp.shape[-2], 2 * wp.shape[-1]), g, device=wp.device)
        if method == "ddpm":
            return ddpm_mod.sample_ddpm(den, noise, abar=abar, cond=cond, generator=g)
        return ddpm_mod.sample_ddim(den, noise, steps or DTDMSampler.sample_steps, abar=abar, cond=cond, generator=g)

    return from_pm1(_in_chunks(run, w.shape[0], chunk, gens, dev, w, c))


@torch.no_grad()
def plug_and_play(unet, w: torch.Tensor, c_new: torch.Tensor, cfg: DTDMConfig, steps: int | None = None, *,
                  generator: SeedLike = None, chunk: int | None = None,
                  precision: str = DTDMSampler.precision) -> torch.Tensor:
    """Colour plug-and-play: same RAW w, another colour condition c_new (used as both x and c)."""
    return develop_dtdm(unet, w, c_new, cfg, steps, generator=generator, chunk=chunk, precision=precision)


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
    """One row of the step ablation: ``kind`` in {"dtdm", "ddpm", "ddim", "truncated", "ispnet", "simple_isp"}.
    ``images`` / ``seeds``: run on the first that many test images / noise seeds only (e.g. the DDPM-1000
    reference on 16 images x 1 seed, issue 24 rule 1); None: all of them."""

    kind: str
    steps: int | None = None
    s: int | None = None
    label: str | None = None
    images: int | None = None
    seeds: int | None = None

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


def method_output(m: Method, piece: PhoneData, c: torch.Tensor, nets: dict, cfg: DTDMConfig, gens: list, *,
                  condition: str = "raw+c", chunk: int | None = None, precision: str = "fp32") -> torch.Tensor:
    """One method's output on a piece of the test set (``gens``: one generator per image of the piece)."""
    w = piece.raw
    if m.kind == "ispnet":
        return c
    if m.kind == "simple_isp":
        return simple_isp_output(w)
    if m.kind == "dtdm":
        return develop_dtdm(nets["dtdm"][m.s or cfg.s], w, c, replace(cfg, s=m.s or cfg.s), m.steps,
                            condition=condition, generator=gens, chunk=chunk, precision=precision)
    return develop_baseline(nets["ddpm"], w, c, cfg, m.kind, m.steps, s=m.s, condition=condition, generator=gens,
                            chunk=chunk, precision=precision)


@torch.no_grad()
def evaluate(methods: Sequence[Method], test: PhoneData, *, c_test: torch.Tensor, nets: dict, cfg: DTDMConfig,
             seed: int = 0, metric_names: Sequence[str] = ("psnr", "ssim"), n_images: dict | None = None,
             device="auto", condition: str = "raw+c", keep_outputs: bool | int = False, chunk: int | None = None,
             precision: str = DTDMSampler.precision) -> list[dict]:
    """Rows (method, steps, s, nfe, n_images, <metrics>, sec_per_image) for each method on ``test``.

    ``nets``: {"dtdm": {s: unet}, "ddpm": unet}; ``c_test`` = ISPNet(w) for the test images;
    ``n_images``: per-kind cap (e.g. {"ddpm": 4} — DDPM-1000 is slow on CPU).  The test set goes through the
    nets ``chunk`` images at a time; image i draws its noise from ``image_generators(seed, [i])``, the same for
    every method.  Metrics are means of per-image values.  ``keep_outputs``: ``True`` keeps every output,
    an int the first that many (for figures).  Unavailable metrics stay strings.
    """

    dev = resolve_device(device)
    suite = MetricSuite(metric_names, device=dev)
    step = max(1, int(chunk or DTDMSampler.chunk))
    rows, outputs = [], {}
    for m in methods:
        n = min(len(test), (n_images or {}).get(m.kind, len(test)))
        per, kept, seconds = [], [], 0.0
        for a, piece in phone_chunks(test.subset(n) if n < len(test) else test, step, dev):
            c = c_test[a:a + len(piece)].to(dev)
            gens = image_generators(seed, range(a, a + len(piece)), dev)
            with Timer(dev) as tm:
                out = method_output(m, piece, c, nets, cfg, gens, condition=condition, chunk=step,
                                    precision=precision)
            seconds += tm.seconds
            per += suite.per_image(out, piece.rgb)
            if keep_outputs is True or len(kept) < int(keep_outputs):
                kept.append(out.cpu())
        row = {"method": m.name, "steps": m.steps if m.kind not in ("ddpm",) else cfg.T, "s": m.s,
               "nfe": m.nfe(cfg.T), "n_images": n}
        for k in suite.names:
            v = [p[k] for p in per]
            mean = v[0] if isinstance(v[0], str) else sum(v) / len(v)
            row[k] = round(mean, 4) if isinstance(mean, float) else mean
        row["sec_per_image"] = round(seconds / n, 4)
        rows.append(row)
        if keep_outputs:
            out_all = torch.cat(kept)
            outputs[m.name] = out_all if keep_outputs is True else out_all[:int(keep_outputs)]
    return (rows, outputs) if keep_outputs else rows
