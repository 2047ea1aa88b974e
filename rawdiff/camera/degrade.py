"""D² — DiffRAW's second-order degradation at scale 1 (DESIGN.md §3), batched torch, seeded.

DiffRAW trains with c_train = x_train = D²(y): the DSLR target degraded so that colour and pixel
positions stay those of y while detail is destroyed.  The stages and default ranges follow Real-ESRGAN
(Wang et al., ICCVW-21, "Real-ESRGAN: Training Real-World Blind Super-Resolution with Pure Synthetic
Data", §3.1 and its released training options); the code is our own:

  order 1:  blur (iso / aniso / generalised / plateau Gaussian kernel, 7..21 px, or a sinc kernel)
            -> random resize (up / down / keep)
            -> Gaussian or Poisson noise (grey noise with p = 0.4)
            -> JPEG
  order 2 (applied with probability ``second_order_prob`` = 0.8): the same stages with the second ranges
  final:    resize back to the original size + sinc (p = 0.8) and JPEG, in random order.

**Calibrated to the working resolution** (``DegradeConfig.scale``, issue 11): Real-ESRGAN's (and DiffRAW's)
ranges are in pixels of full-size photos (DiffRAW applies D² to whole 448-px ZRR images), and on our small
images a 21-px kernel with sigma 3 and a downscale to 0.15 destroy far more of the picture than the phone
gap does, so training never saw a condition as good as the test-time ISPNet(w).  With ``scale`` = f (our
pixel = 1/f of a reference pixel; :meth:`DegradeConfig.for_size` sets f = image size / reference size) every
*length* is scaled: kernel sizes and blur sigmas x f (kernels odd, >= 3 px), sinc cut-offs / f (capped at pi),
a downscale r becomes min(1, r / f) (the same band limit in cycles per scene), and noise standard deviations
x f (one of our pixels averages 1/f² reference pixels, whose independent noise averages down by 1/f); JPEG
qualities stay as they are.  ``scale = 1`` gives Real-ESRGAN's absolute ranges.
:meth:`DegradeConfig.effective` returns the ranges actually used.  The default ``scale`` is the calibrated
one for the 64-px images of the ``smoke``/``study`` presets (see rawdiff.config.DEFAULT_SCALE).

Differences from Real-ESRGAN: scale is 1 (the output has the input's size; no down-scaling by 4), there is
**no colour jitter**, and the whole second order is gated by p = 0.8 (DESIGN.md).  JPEG is a **real
encode/decode with PIL** (libjpeg, 4:2:0 chroma subsampling, per image, on the CPU); it is not
differentiable (D² only makes training inputs).  Images are N x 3 x H x W in [0, 1] and come back clamped to
[0, 1] and quantised to 8 bit, like Real-ESRGAN.

Randomness (issue 23: D² off the training hot path).  As in Real-ESRGAN's batched pipeline, the resize factors
and modes, the order-2 gate and the order of the final stage are shared by the batch; blur kernels, noise kind /
level and JPEG qualities are per image.  The shared values and one base seed come from the injected
``torch.Generator`` (:func:`draw_shared`: a fixed number of draws, whatever the batch size); image ``i`` draws
its own values from a CPU generator seeded with ``derive_seed(base, "d2", i)`` (no host-device round trips) and
its noise from one on the image's device.  So each DDP rank or data worker degrades only its rows of the global
batch (``offset``) and gets exactly the rows a single process would.  (Before issue 23 all draws came one scalar
at a time from the step generator, interleaved across images: DiffRAW's training batches changed then.)
"""
from __future__ import annotations

import io
import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from rawdiff.config import DegradeConfig
from rawdiff.utils import derive_seed, make_generator

# Bump when the random stream of D² changes (which images a seed gives): it is part of every DiffRAW UNet cache key,
# so a cached net trained on another stream is not reused.  2: per-image generators (per-rank slices), 2026-12-07.
STREAM_VERSION = 2

KERNEL_TYPES = ("iso", "aniso", "generalized_iso", "generalized_aniso", "plateau_iso", "plateau_aniso")


class _Rng:
    """Scalar draws from a CPU torch.Generator (per-sample parameters: no device round trips)."""

    def __init__(self, g: torch.Generator | None):
        self.g = g

    def u(self, lo: float = 0.0, hi: float = 1.0) -> float:
        return lo + (hi - lo) * float(torch.rand((), generator=self.g))

    def choice(self, probs) -> int:
        return _pick(self.u(), probs)


def _pick(u: float, probs) -> int:
    """Index ``i`` with probability ``probs[i] / sum(probs)`` for a uniform ``u`` in [0, 1)."""
    total, acc = float(sum(probs)), 0.0
    for i, p in enumerate(probs):
        acc += float(p) / total
        if u < acc:
            return i
    return len(probs) - 1


@dataclass(frozen=True)
class SharedDraw:
    """The batch-shared part of one D² call: uniforms for the resize factors/modes, the order-2 gate and the
    final-stage order, and the base of the per-sample seeds (sample ``i`` draws from a CPU generator seeded with
    ``derive_seed(seed, "d2", i)``).  :func:`draw_shared` makes one from a step generator."""

    u: tuple[float, ...]
    seed: int


N_SHARED = 9   # order-1 resize (kind, factor, mode), order-2 gate, order-2 resize (kind, factor, mode), final (mode, order)


def draw_shared(generator: torch.Generator | None = None) -> SharedDraw:
    """The batch-shared draws of D² from ``generator``: a fixed number of values whatever the batch size, so every
    rank consumes the step generator alike (two host reads when the generator is on a GPU, none per sample)."""
    dev = generator.device if generator is not None else torch.device("cpu")
    u = torch.rand(N_SHARED, generator=generator, device=dev, dtype=torch.float64)
    seed = torch.randint(0, 2 ** 62, (1,), generator=generator, device=dev)
    return SharedDraw(tuple(u.cpu().tolist()), int(seed.cpu()))


# ------------------------------------------------------------------------------------------- kernels
def _grid(k: int) -> tuple[torch.Tensor, torch.Tensor]:
    r = torch.arange(k, dtype=torch.float64) - (k - 1) / 2
    return torch.meshgrid(r, r, indexing="ij")


def gaussian_kernel(k: int, sx: float, sy: float, theta: float, beta: float = 2.0,
                    plateau: bool = False) -> torch.Tensor:
    """Anisotropic (generalised / plateau) Gaussian kernel, normalised to sum 1 (Real-ESRGAN §3.1, eq. 2).

    Generalised: exp(-0.5 (d^T S^-1 d)^(beta/2)); plateau: 1 / (1 + (d^T S^-1 d)^beta); beta = 2 ->
    ordinary Gaussian.  S = R diag(sx^2, sy^2) R^T.
    """
    yy, xx = _grid(k)
    c, s = math.cos(theta), math.sin(theta)
    u = c * xx + s * yy
    v = -s * xx + c * yy
    q = (u / sx) ** 2 + (v / sy) ** 2
    ker = 1.0 / (1.0 + q ** beta) if plateau else torch.exp(-0.5 * q ** (beta / 2))
    return (ker / ker.sum()).float()


def sinc_kernel(k: int, omega: float) -> torch.Tensor:
    """Circular low-pass (2-D sinc / jinc) kernel with cutoff ``omega`` (Real-ESRGAN §3.1, eq. 6)."""
    yy, xx = _grid(k)
    r = torch.sqrt(xx ** 2 + yy ** 2).double()
    centre = r == 0
    r_safe = torch.where(centre, torch.ones_like(r), r)
    # J1 from torch.special (no scipy at run time); the limit at r = 0 is omega^2 / (4 pi)
    ker = omega * torch.special.bessel_j1(omega * r_safe) / (2 * math.pi * r_safe)
    ker = torch.where(centre, torch.full_like(r, omega ** 2 / (4 * math.pi)), ker)
    return (ker / ker.sum()).float()


def random_kernel(rng: _Rng, cfg: DegradeConfig, sigma_range: tuple[float, float], sinc_p: float,
                  size: int = 21) -> torch.Tensor:
    """One random blur kernel (padded to ``size`` x ``size``)."""
    k = cfg.kernel_sizes[rng.choice([1.0] * len(cfg.kernel_sizes))]
    if rng.u() < sinc_p:
        omega = rng.u(math.pi / 3, math.pi) if k < 13 else rng.u(math.pi / 5, math.pi)
        ker = sinc_kernel(k, min(math.pi, omega * cfg.omega_scale))
    else:
        kind = KERNEL_TYPES[rng.choice(cfg.kernel_probs)]
        sx = rng.u(*sigma_range)
        iso = kind.endswith("iso") and not kind.endswith("aniso")
        sy = sx if iso else rng.u(*sigma_range)
        theta = 0.0 if iso else rng.u(-math.pi, math.pi)
        if kind.startswith("generalized"):
            ker = gaussian_kernel(k, sx, sy, theta, beta=rng.u(*cfg.betag_range))
        elif kind.startswith("plateau"):
            ker = gaussian_kernel(k, sx, sy, theta, beta=rng.u(*cfg.betap_range), plateau=True)
        else:
            ker = gaussian_kernel(k, sx, sy, theta)
    pad = (size - k) // 2
    return F.pad(ker, (pad, pad, pad, pad))


def filter2d(img: torch.Tensor, kernels: torch.Tensor) -> torch.Tensor:
    """Per-image convolution: img N x C x H x W, kernels N x k x k (reflect padding keeps the size)."""
    n, c, h, w = img.shape
    k = kernels.shape[-1]
    p = k // 2
    mode = "reflect" if p < min(h, w) else "replicate"
    x = F.pad(img.reshape(1, n * c, h, w), (p, p, p, p), mode=mode)
    wt = kernels.to(img).repeat_interleave(c, 0).unsqueeze(1)
    return F.conv2d(x, wt, groups=n * c).view(n, c, h, w)


# ------------------------------------------------------------------------------------------- stages
def _resize(img: torch.Tensor, size: tuple[int, int], mode: str) -> torch.Tensor:
    if mode == "area":
        return F.interpolate(img, size=size, mode="area")
    return F.interpolate(img, size=size, mode=mode, align_corners=False)


MODES = ("area", "bilinear", "bicubic")


def _random_resize(img: torch.Tensor, u: tuple[float, float, float], cfg: DegradeConfig,
                   rrange: tuple[float, float]) -> torch.Tensor:
    """Batch-shared up / down / keep resize (Real-ESRGAN's batched pipeline) from three shared uniforms."""
    which = _pick(u[0], cfg.resize_probs)
    scale = 1.0 + (rrange[1] - 1.0) * u[1] if which == 0 else rrange[0] + (1.0 - rrange[0]) * u[1] if which == 1 else 1.0
    h, w = img.shape[-2:]
    size = (max(4, int(round(h * scale))), max(4, int(round(w * scale))))
    return _resize(img, size, MODES[_pick(u[2], [1.0, 1.0, 1.0])])


def _add_noise(img: torch.Tensor, rngs: list[_Rng], gens: list[torch.Generator], cfg: DegradeConfig, nrange,
               prange) -> torch.Tensor:
    """Per image: Gaussian (p = gaussian_noise_prob) or Poisson noise, grey with p = gray_noise_prob."""
    out = []
    for i, (rng, g) in enumerate(zip(rngs, gens)):
        im = img[i:i + 1]
        gray = rng.u() < cfg.gray_noise_prob
        shape = (1, 1, *im.shape[-2:]) if gray else im.shape
        if rng.u() < cfg.gaussian_noise_prob:
            sigma = rng.u(*nrange) / 255.0
            noise = sigma * torch.randn(shape, generator=g, device=im.device, dtype=im.dtype)
        else:
            scale = rng.u(*prange)
            base = im.mean(1, keepdim=True) if gray else im
            lam = (base.clamp(0, 1) * 255.0).round()
            noise = scale * (torch.poisson(lam, generator=g) - lam) / 255.0
        out.append((im + noise).clamp(0, 1))
    return torch.cat(out)


def jpeg(img: torch.Tensor, quality: list[float] | torch.Tensor) -> torch.Tensor:
    """Real JPEG encode/decode per image with PIL (non-differentiable); img N x 3 x H x W in [0, 1]."""
    from PIL import Image

    arr = (img.detach().clamp(0, 1) * 255.0).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
    outs = []
    for a, q in zip(arr, [float(v) for v in quality]):
        buf = io.BytesIO()
        Image.fromarray(a).save(buf, format="JPEG", quality=int(round(q)))
        buf.seek(0)
        outs.append(np.asarray(Image.open(buf).convert("RGB")))
    out = torch.from_numpy(np.stack(outs)).permute(0, 3, 1, 2).float() / 255.0
    return out.to(img.device, img.dtype)


def _quantise(img: torch.Tensor) -> torch.Tensor:
    return (img.clamp(0, 1) * 255.0).round() / 255.0


def _order(img: torch.Tensor, rngs: list[_Rng], gens: list[torch.Generator], u: tuple[float, float, float],
           cfg: DegradeConfig, second: bool) -> torch.Tensor:
    sig = cfg.blur_sigma2 if second else cfg.blur_sigma
    sp = cfg.sinc_prob2 if second else cfg.sinc_prob
    img = filter2d(img, torch.stack([random_kernel(r, cfg, sig, sp) for r in rngs]))
    img = _random_resize(img, u, cfg, cfg.resize_range2 if second else cfg.resize_range)
    img = _add_noise(img, rngs, gens, cfg, cfg.noise_range2 if second else cfg.noise_range,
                     cfg.poisson_scale_range2 if second else cfg.poisson_scale_range)
    if not second:  # order-2 JPEG happens in the final stage (as in Real-ESRGAN)
        img = jpeg(img, [r.u(*cfg.jpeg_range) for r in rngs])
    return img


def degrade(y: torch.Tensor, generator: torch.Generator | None = None, cfg: DegradeConfig = DegradeConfig(), *,
            offset: int = 0, shared: SharedDraw | None = None) -> torch.Tensor:
    """D²(y): second-order Real-ESRGAN-style degradation at scale 1 (see the module docstring).

    ``y``: N x 3 x H x W in [0, 1]; returns the same shape, dtype and device, in [0, 1].  The parameters shared
    by the batch (resize factors and modes, the order-2 gate, the final-stage order; as in Real-ESRGAN's batched
    pipeline) and a base seed come from ``generator`` (:func:`draw_shared`; or ``shared`` when already drawn);
    kernels, noise and JPEG qualities are drawn per image from generators seeded by
    ``derive_seed(base seed, "d2", offset + i)`` — the kernels and qualities on the CPU (no host syncs), the noise
    on ``y``'s device.  So rows ``a..b`` of a batch are degraded alike by ``degrade(y, g)[a:b]`` and
    ``degrade(y[a:b], g, offset=a)`` from the same generator state: a rank (or a data worker) degrades only its
    own slice.  Same generator state -> same output.
    """
    if y.dim() != 4 or y.shape[1] != 3:
        raise ValueError(f"degrade expects N x 3 x H x W, got {tuple(y.shape)}")
    sh = shared if shared is not None else draw_shared(generator)
    rngs = [_Rng(make_generator(derive_seed(sh.seed, "d2", offset + i))) for i in range(y.shape[0])]
    gens = [make_generator(derive_seed(sh.seed, "d2-noise", offset + i), y.device) for i in range(y.shape[0])]
    cfg = cfg.effective()
    h, w = y.shape[-2:]
    img = _order(y.float(), rngs, gens, sh.u[0:3], cfg, False)
    if sh.u[3] < cfg.second_order_prob:
        img = _order(img, rngs, gens, sh.u[4:7], cfg, True)
    mode = MODES[_pick(sh.u[7], [1.0, 1.0, 1.0])]
    sinc = torch.stack([_final_kernel(r, cfg) for r in rngs])
    q = [r.u(*cfg.jpeg_range2) for r in rngs]
    if sh.u[8] < 0.5:   # resize back + sinc, then JPEG
        img = filter2d(_resize(img, (h, w), mode), sinc)
        img = jpeg(img, q)
    else:               # JPEG, then resize back + sinc
        img = jpeg(img, q)
        img = filter2d(_resize(img, (h, w), mode), sinc)
    return _quantise(img).to(y.dtype)


def _final_kernel(rng: _Rng, cfg: DegradeConfig, size: int = 21) -> torch.Tensor:
    """Final-stage sinc filter with p = final_sinc_prob, else the identity (a pulse)."""
    if rng.u() < cfg.final_sinc_prob:
        k = cfg.kernel_sizes[rng.choice([1.0] * len(cfg.kernel_sizes))]
        ker = sinc_kernel(k, min(math.pi, rng.u(math.pi / 3, math.pi) * cfg.omega_scale))
        pad = (size - k) // 2
        return F.pad(ker, (pad, pad, pad, pad))
    ker = torch.zeros(size, size)
    ker[size // 2, size // 2] = 1.0
    return ker
