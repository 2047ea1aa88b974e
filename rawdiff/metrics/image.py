"""Image-quality metrics with honest availability.

Core (always available, pure torch, our own code):

* :func:`psnr` — ``10 log10(R^2 / MSE)`` per image over all channels and pixels.
* :func:`ssim` — structural similarity of Wang, Bovik, Sheikh & Simoncelli, "Image quality assessment: from
  error visibility to structural similarity", IEEE TIP 13(4), 2004, eq. (13) with the paper's settings:
  11x11 circular-symmetric Gaussian window, sigma = 1.5, K1 = 0.01, K2 = 0.03, computed per channel on the
  'valid' region (no padding) and averaged over channels and positions.  This equals
  ``skimage.metrics.structural_similarity(..., gaussian_weights=True, sigma=1.5,
  use_sample_covariance=False, data_range=1, channel_axis=-1)`` (tests/test_metrics.py checks it).

Wrapped (pyiqa / lpips; used only when their weights are on disk — nothing here ever downloads):

* weight-free pyiqa metrics: ``ms_ssim`` (needs >= 161 px on the short side), ``fsim``, ``vif``, ``gmsd``,
  ``nlpd``, ``vsi``, ``cw_ssim``, ``pyiqa_psnr``/``pyiqa_ssim`` (pyiqa's MATLAB-style variants: SSIM on
  the Y channel) and the no-reference ``piqe``;
* weighted metrics, "unavailable: ..." unless the weight files exist in the torch hub cache
  (``$TORCH_HOME/hub``, default ``~/.cache/torch/hub``): ``lpips`` (Zhang et al. 2018, AlexNet trunk),
  ``dists``, ``musiq``, ``niqe``, ``brisque`` and the set-level ``fid`` / ``kid``.

A metric that cannot run yields the string ``"unavailable: <why, how to get the weights>"`` instead of a
number — never a made-up value.  Build one :class:`MetricSuite` and reuse it: it loads each metric network
once.  :func:`compute_metrics` is the one-shot convenience wrapper.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import torch
import torch.nn.functional as F

from rawdiff.errors import UnavailableError
from rawdiff.utils import resolve_device

__all__ = [
    "psnr", "ssim", "gaussian_window", "Availability", "metric_availability", "available_metrics",
    "MetricSuite", "compute_metrics", "lpips_loss_or_none", "METRICS", "LOWER_IS_BETTER",
    "DEFAULT_METRICS", "MS_SSIM_MIN_SIDE", "format_availability",
]

MS_SSIM_MIN_SIDE = 161  # pyiqa's 5-scale MS-SSIM with an 11-px window needs >= 161 px (4 halvings)

# name -> kind: "fr" full-reference (pred, target), "nr" no-reference (pred), "set" distribution-level
METRICS: dict[str, str] = {
    "psnr": "fr", "ssim": "fr", "ms_ssim": "fr", "fsim": "fr", "vif": "fr", "gmsd": "fr", "nlpd": "fr",
    "vsi": "fr", "cw_ssim": "fr", "pyiqa_psnr": "fr", "pyiqa_ssim": "fr", "lpips": "fr", "dists": "fr",
    "piqe": "nr", "niqe": "nr", "brisque": "nr", "musiq": "nr",
    "fid": "set", "kid": "set",
}
LOWER_IS_BETTER = frozenset({"gmsd", "nlpd", "lpips", "dists", "piqe", "niqe", "brisque", "fid", "kid"})
DEFAULT_METRICS = ("psnr", "ssim", "lpips")

_PYIQA_NAME = {"pyiqa_psnr": "psnr", "pyiqa_ssim": "ssim"}  # our name -> pyiqa.create_metric name
_PYIQA_FREE = ("ms_ssim", "fsim", "vif", "gmsd", "nlpd", "vsi", "cw_ssim", "pyiqa_psnr", "pyiqa_ssim", "piqe")

# Weight files each metric needs, relative to torch.hub.get_dir(); "checkpoints/" is torchvision's cache,
# "pyiqa/" is pyiqa's (pyiqa.utils.download_util.DEFAULT_CACHE_DIR).  File names are those the libraries
# request (lpips 0.1.4 -> torchvision alexnet; pyiqa 0.1.16 default_model_urls).
_WEIGHTS: dict[str, tuple[str, ...]] = {
    "lpips": ("checkpoints/alexnet-owt-7be5be79.pth",),
    "dists": ("checkpoints/vgg16-397923af.pth", "pyiqa/DISTS_weights-f5e65c96.pth"),
    "musiq": ("pyiqa/musiq_koniq_ckpt-e95806b9.pth",),
    "niqe": ("pyiqa/niqe_modelparameters.mat",),
    "brisque": ("pyiqa/brisque_svm_weights.pth",),
    "fid": ("pyiqa/pt_inception-2015-12-05-6726825d.pth",),
    "kid": ("pyiqa/pt_inception-2015-12-05-6726825d.pth",),
}
_WHERE = {
    "checkpoints": "https://download.pytorch.org/models/",
    "pyiqa": "https://huggingface.co/chaofengc/IQA-PyTorch-Weights (or the IQA-PyTorch GitHub release v0.1-weights)",
}


# ----------------------------------------------------------------------------------------------- core
def _as_nchw(x: torch.Tensor) -> torch.Tensor:
    if not torch.is_tensor(x):
        raise TypeError(f"expected a torch.Tensor image, got {type(x).__name__}")
    if x.ndim == 3:
        x = x.unsqueeze(0)
    if x.ndim != 4:
        raise ValueError(f"expected an image tensor CxHxW or NxCxHxW, got shape {tuple(x.shape)}")
    return x.float()


def _check_pair(pred: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    pred, target = _as_nchw(pred), _as_nchw(target)
    if pred.shape != target.shape:
        raise ValueError(f"pred and target shapes differ: {tuple(pred.shape)} vs {tuple(target.shape)}")
    return pred, target.to(pred.device)


def psnr(pred: torch.Tensor, target: torch.Tensor, data_range: float = 1.0, eps: float = 1e-12) -> torch.Tensor:
    """Peak signal-to-noise ratio per image, ``10 log10(data_range^2 / MSE)`` (shape ``N``).

    MSE is averaged over channels and pixels; identical images give ``+inf`` clipped at ``10 log10(R^2/eps)``.
    """
    pred, target = _check_pair(pred, target)
    mse = (pred - target).pow(2).flatten(1).mean(1)
    return 10.0 * torch.log10(data_range ** 2 / mse.clamp_min(eps))


def gaussian_window(size: int = 11, sigma: float = 1.5, device=None) -> torch.Tensor:
    """Normalised 1-D Gaussian of ``size`` taps (Wang et al. 2004, §III-C: 11x11, sigma 1.5)."""
    x = torch.arange(size, dtype=torch.float64, device=device) - (size - 1) / 2
    g = torch.exp(-(x ** 2) / (2 * sigma ** 2))
    return (g / g.sum()).float()


def ssim(pred: torch.Tensor, target: torch.Tensor, data_range: float = 1.0, window_size: int = 11,
         sigma: float = 1.5, k1: float = 0.01, k2: float = 0.03, reduce: bool = True) -> torch.Tensor:
    """Mean SSIM per image (Wang et al. 2004, eq. 13 with a Gaussian-weighted window, §III-C).

    Local statistics use the separable Gaussian window over the 'valid' region; the SSIM map is averaged
    over positions and channels.  ``reduce=False`` returns the ``N x C x H' x W'`` map.
    """
    pred, target = _check_pair(pred, target)
    n, c, h, w = pred.shape
    if min(h, w) < window_size:
        raise ValueError(f"ssim needs images >= {window_size} px on each side (got {h}x{w})")
    g = gaussian_window(window_size, sigma, pred.device)
    gx = g.view(1, 1, 1, -1).repeat(c, 1, 1, 1)
    gy = g.view(1, 1, -1, 1).repeat(c, 1, 1, 1)

    def blur(z: torch.Tensor) -> torch.Tensor:
        return F.conv2d(F.conv2d(z, gx, groups=c), gy, groups=c)

    # float64 for the variance terms: E[x^2] - E[x]^2 cancels badly in float32 on flat regions
    x, y = pred.double(), target.double()
    gx, gy = gx.double(), gy.double()
    mu_x, mu_y = blur(x), blur(y)
    sxx = blur(x * x) - mu_x ** 2
    syy = blur(y * y) - mu_y ** 2
    sxy = blur(x * y) - mu_x * mu_y
    c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
    smap = ((2 * mu_x * mu_y + c1) * (2 * sxy + c2)) / ((mu_x ** 2 + mu_y ** 2 + c1) * (sxx + syy + c2))
    smap = smap.float()
    return smap.flatten(1).mean(1) if reduce else smap


# --------------------------------------------------------------------------------------- availability
@dataclass(frozen=True)
class Availability:
    """Whether a metric can run here; ``reason`` says why not and how to get the weights."""

    name: str
    kind: str            # "fr" | "nr" | "set"
    available: bool
    reason: str = ""     # "" when available, else "unavailable: ..."
    lower_is_better: bool = False


def _hub_dir() -> Path:
    return Path(torch.hub.get_dir())


def _missing_weights(name: str) -> list[Path]:
    hub = _hub_dir()
    return [hub / rel for rel in _WEIGHTS.get(name, ()) if not (hub / rel).is_file()]


def _pyiqa_importable() -> str:
    """'' if pyiqa imports, else the reason (imported lazily: ~2.5 s)."""
    try:
        import rawdiff.compat as compat

        compat.import_torchvision()
        import pyiqa  # noqa: F401
    except Exception as err:  # pragma: no cover - depends on the environment
        return f"unavailable: pyiqa does not import ({type(err).__name__}: {err}); pip install pyiqa"
    return ""


def metric_availability(name: str) -> Availability:
    """Availability of one metric, checked from files on disk only (no network, no model construction)."""
    if name not in METRICS:
        raise ValueError(f"unknown metric {name!r}; known: {sorted(METRICS)}")
    kind, lib = METRICS[name], name in LOWER_IS_BETTER
    if name in ("psnr", "ssim"):
        return Availability(name, kind, True, "", lib)
    missing = _missing_weights(name)
    if missing:
        hint = "; ".join(f"download {p.name} from {_WHERE[p.parent.name]} into {p.parent}" for p in missing)
        what = {"lpips": "LPIPS needs torchvision AlexNet weights",
                "dists": "DISTS needs VGG16 + DISTS weights",
                "fid": "FID needs the pt_inception FID weights",
                "kid": "KID needs the pt_inception FID weights"}.get(name, f"{name.upper()} needs pyiqa weights")
        return Availability(name, kind, False, f"unavailable: {what} ({hint})", lib)
    lib_reason = ""
    if name == "lpips":
        try:
            import rawdiff.compat as compat

            compat.import_torchvision()
            import lpips  # noqa: F401
        except Exception as err:  # pragma: no cover
            lib_reason = f"unavailable: lpips does not import ({type(err).__name__}: {err}); pip install lpips"
    else:
        lib_reason = _pyiqa_importable()
    return Availability(name, kind, not lib_reason, lib_reason, lib)


def available_metrics(names: Iterable[str] | None = None) -> dict[str, Availability]:
    """``{name: Availability}`` for ``names`` (default: every metric rawdiff knows)."""
    return {n: metric_availability(n) for n in (names or METRICS)}


# ------------------------------------------------------------------------------------------- LPIPS
def lpips_loss_or_none(device: str | torch.device = "auto", net: str = "alex") -> tuple[torch.nn.Module | None, str]:
    """``(LPIPS module, "")`` when the AlexNet trunk weights are cached, else ``(None, "unavailable: ...")``.

    DiD's training loss adds 5 x LPIPS(AlexNet) (Nguyen et al. 2024, official code) only when this returns a
    module.  The module is frozen, in eval mode, and takes images in [0, 1] (``normalize=True`` is applied).
    """
    if net != "alex":
        raise ValueError("only the AlexNet LPIPS (DiD's choice) is wired; got net=%r" % net)
    av = metric_availability("lpips")
    if not av.available:
        return None, av.reason
    import lpips

    model = lpips.LPIPS(net="alex", verbose=False)
    model = _LPIPS01(model).to(resolve_device(device)).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model, ""


class _LPIPS01(torch.nn.Module):
    """LPIPS on [0, 1] images, returning one distance per image (shape ``N``)."""

    def __init__(self, inner: torch.nn.Module):
        super().__init__()
        self.inner = inner

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self.inner(pred, target, normalize=True).flatten()


# ------------------------------------------------------------------------------------------- suite
class MetricSuite:
    """Holds the metric models for a fixed list of metric names; build once, call per batch.

    ``suite(pred, target)`` -> ``{name: float | "unavailable: ..."}`` (mean over the batch);
    ``suite.per_image(pred, target)`` -> one such dict per image.  Images are ``[N]xCxHxW`` in [0, 1].
    Set-level metrics (``fid``/``kid``) are computed by :meth:`distribution` over whole image sets.
    """

    def __init__(self, names: Sequence[str] = DEFAULT_METRICS, device: str | torch.device = "auto"):
        self.names = tuple(names)
        for n in self.names:
            if n not in METRICS:
                raise ValueError(f"unknown metric {n!r}; known: {sorted(METRICS)}")
        self.device = resolve_device(device)
        self.status: dict[str, Availability] = available_metrics(self.names)
        self._models: dict[str, torch.nn.Module] = {}

    # -- model construction (only for available metrics) --
    def _model(self, name: str) -> torch.nn.Module:
        if name not in self._models:
            if name == "lpips":
                model, reason = lpips_loss_or_none(self.device)
                if model is None:
                    raise UnavailableError(reason)
            elif name in ("fid", "kid"):
                from pyiqa.archs.inception import InceptionV3

                model = InceptionV3(output_blocks=[3]).to(self.device).eval()
            else:
                import pyiqa

                model = pyiqa.create_metric(_PYIQA_NAME.get(name, name), device=self.device, as_loss=False)
            self._models[name] = model
        return self._models[name]

    def _one(self, name: str, pred: torch.Tensor, target: torch.Tensor | None) -> torch.Tensor | str:
        """Per-image values (tensor ``N``) or the unavailable reason."""
        av = self.status[name]
        if not av.available:
            return av.reason
        kind = METRICS[name]
        if kind == "set":
            return f"unavailable: {name} is a set-level metric; use MetricSuite.distribution(preds, targets)"
        if kind == "fr" and target is None:
            raise ValueError(f"{name} is full-reference: pass a target")
        if name == "psnr":
            return psnr(pred, target)
        if name == "ssim":
            return ssim(pred, target)
        h, w = pred.shape[-2:]
        if name == "ms_ssim" and min(h, w) < MS_SSIM_MIN_SIDE:
            return (f"unavailable: ms_ssim needs images >= {MS_SSIM_MIN_SIDE} px on the short side "
                    f"(5 scales x 11-px window); got {h}x{w}")
        model = self._model(name)
        try:
            with torch.no_grad():
                out = model(pred) if kind == "nr" else model(pred, target)
        except (RuntimeError, ValueError, IndexError) as err:  # e.g. cw_ssim's pyramid on small images
            return f"unavailable: {name} cannot run on {h}x{w} images ({type(err).__name__}: {err})"
        return out.detach().flatten().float().cpu()

    def per_image(self, pred: torch.Tensor, target: torch.Tensor | None = None) -> list[dict[str, float | str]]:
        pred = _as_nchw(pred).to(self.device).clamp(0, 1)
        if target is not None:
            pred, target = _check_pair(pred, target.to(self.device))
            target = target.clamp(0, 1)
        vals = {n: self._one(n, pred, target) for n in self.names}
        return [{n: (v if isinstance(v, str) else float(v[i])) for n, v in vals.items()} for i in range(pred.shape[0])]

    def __call__(self, pred: torch.Tensor, target: torch.Tensor | None = None) -> dict[str, float | str]:
        rows = self.per_image(pred, target)
        out: dict[str, float | str] = {}
        for n in self.names:
            v = rows[0][n]
            out[n] = v if isinstance(v, str) else float(sum(r[n] for r in rows) / len(rows))
        return out

    @torch.no_grad()
    def distribution(self, preds: torch.Tensor, targets: torch.Tensor, batch_size: int = 16) -> dict[str, float | str]:
        """FID (Heusel et al. 2017) and KID (Binkowski et al. 2018, unbiased polynomial-kernel MMD^2) between
        two image sets, on 2048-d pool features of the FID Inception network.  Only for ``fid``/``kid`` in
        ``names``.  With fewer than ~2048 images the FID covariance is rank-deficient: compare with care."""
        out: dict[str, float | str] = {}
        wanted = [n for n in self.names if METRICS[n] == "set"]
        ready = [n for n in wanted if self.status[n].available]
        for n in wanted:
            if n not in ready:
                out[n] = self.status[n].reason
        if not ready:
            return out
        net = self._model(ready[0])
        feats = []
        for imgs in (_as_nchw(preds), _as_nchw(targets)):
            f = [net(imgs[i:i + batch_size].to(self.device).clamp(0, 1))[0].flatten(1).double().cpu()
                 for i in range(0, imgs.shape[0], batch_size)]
            feats.append(torch.cat(f))
        a, b = feats
        if "fid" in ready:
            from pyiqa.archs.fid_arch import frechet_distance

            def stats(z):
                return z.mean(0).numpy(), torch.cov(z.T).numpy()

            out["fid"] = float(frechet_distance(*stats(a), *stats(b)))
        if "kid" in ready:
            d = a.shape[1]
            kxx, kyy, kxy = (a @ a.T / d + 1) ** 3, (b @ b.T / d + 1) ** 3, (a @ b.T / d + 1) ** 3
            m, n2 = a.shape[0], b.shape[0]
            out["kid"] = float((kxx.sum() - kxx.diag().sum()) / (m * (m - 1))
                               + (kyy.sum() - kyy.diag().sum()) / (n2 * (n2 - 1)) - 2 * kxy.mean())
        return out


def compute_metrics(pred: torch.Tensor, target: torch.Tensor | None = None, names: Sequence[str] = DEFAULT_METRICS,
                    device: str | torch.device = "auto") -> dict[str, float | str]:
    """One-shot ``{name: mean value | "unavailable: ..."}``; in loops build a :class:`MetricSuite` once."""
    return MetricSuite(names, device=device)(pred, target)


def format_availability(status: Mapping[str, Availability]) -> str:
    """Human-readable table of :func:`available_metrics` (for notebooks / CLI)."""
    lines = []
    for n, a in status.items():
        lines.append(f"{n:12s} {'yes' if a.available else 'no ':3s}  {a.reason}")
    return "\n".join(lines)

