"""Data normalisations for diffusion models, with exact inverses.

The main one is DiD's **tail normalisation** (Nguyen et al., "Diffusion in the Dark", WACV-24, §3.3;
DESIGN.md §3): dark sRGB images are strongly right-skewed (most pixels near 0, a long bright tail), while
an EDM denoiser assumes data of scale ``sigma_data = 0.5`` around 0.  DiD therefore

    forward:  y = ((srgb_to_linear(x)) ** (1/4) - mu_c) / std_c / 2
    inverse:  x = linear_to_srgb(clamp((2 * y * std_c + mu_c) ** 4, 0, 1))

with per-channel ``mu_c`` / ``std_c`` fitted over a whole *dataset* (separate statistics for dark inputs and
well-lit targets: :class:`PairedTailNorm`).  Alternatives, for the ablation in notebook 02:

* :class:`LinearNorm`   ``y = 2x - 1`` (the usual diffusion convention, CONTRIBUTING.md),
* :class:`LogNorm`      ``log(x + eps)`` rescaled so [0, 1] maps onto [-1, 1],
* :class:`GammaNorm`    ``y = 2 x^(1/2.2) - 1``,
* :class:`PerImageZScore` per-image, per-channel z-score (its inverse needs that image's statistics:
  use :meth:`Normalizer.encode`, which returns the normaliser that inverts the result).

Every normaliser is a frozen dataclass whose fitted statistics are plain floats/tuples, so
``to_dict()`` is JSON-serialisable and is saved next to checkpoints; :func:`normalizer_from_dict` restores it.
Tensors follow the package conventions: float, channels at dim ``-3`` (``N x C x H x W`` or ``C x H x W``),
images in [0, 1].  Inverses clamp their output to [0, 1].
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, ClassVar, Iterable, Mapping

import torch

from rawdiff.camera.isp import linear_to_srgb, srgb_to_linear  # one exact sRGB curve for the package

__all__ = [
    "srgb_to_linear", "linear_to_srgb", "RunningStats",
    "Normalizer", "TailNorm", "PairedTailNorm", "LinearNorm", "LogNorm", "GammaNorm", "PerImageZScore",
    "NORMALIZERS", "make_normalizer", "normalizer_from_dict", "describe",
]


# ----------------------------------------------------------------------------------------------- sRGB


# ------------------------------------------------------------------------------------ streaming stats
@dataclass(frozen=True)
class RunningStats:
    """Per-channel count / mean / M2 (sum of squared deviations), merged with Chan et al.'s parallel update.

    Immutable: :meth:`update` returns a new object.  Accumulates in float64, so fitting on a large dataset
    one batch at a time gives the same numbers as on the whole tensor (up to float64 rounding).
    """

    count: int = 0
    mean: tuple[float, ...] = ()
    m2: tuple[float, ...] = ()

    def update(self, x: torch.Tensor) -> "RunningStats":
        """Add all pixels of ``x`` (channels at dim -3) to the statistics."""
        if x.dim() < 3:
            raise ValueError(f"expected an image tensor with channels at dim -3 (CxHxW or NxCxHxW), got shape "
                             f"{tuple(x.shape)}")
        c = x.shape[-3]
        if self.mean and len(self.mean) != c:
            raise ValueError(f"channel count changed while fitting: had {len(self.mean)}, got {c}")
        v = x.detach().to(torch.float64).movedim(-3, 0).reshape(c, -1)
        n_b = v.shape[1]
        if n_b == 0:
            return self
        mean_b = v.mean(dim=1)
        m2_b = ((v - mean_b[:, None]) ** 2).sum(dim=1)
        if self.count == 0:
            return RunningStats(n_b, tuple(mean_b.tolist()), tuple(m2_b.tolist()))
        n_a = self.count
        mean_a = torch.tensor(self.mean, dtype=torch.float64, device=v.device)
        m2_a = torch.tensor(self.m2, dtype=torch.float64, device=v.device)
        n = n_a + n_b
        delta = mean_b - mean_a
        mean = mean_a + delta * (n_b / n)
        m2 = m2_a + m2_b + delta ** 2 * (n_a * n_b / n)
        return RunningStats(n, tuple(mean.tolist()), tuple(m2.tolist()))

    @property
    def std(self) -> tuple[float, ...]:
        """Population standard deviation per channel (ddof = 0)."""
        if self.count == 0:
            raise ValueError("no data was seen: cannot compute statistics of an empty dataset")
        return tuple(math.sqrt(m / self.count) for m in self.m2)


def _iter_tensors(data: Any, key: str | None) -> Iterable[torch.Tensor]:
    """Yield image tensors from a tensor, an iterable of tensors, or an iterable of dicts (``key``)."""
    if isinstance(data, torch.Tensor):
        yield data
        return
    for item in data:
        if isinstance(item, Mapping):
            if key is None:
                raise ValueError(f"dataset items are dicts (keys {sorted(item)}); pass key=... to choose the image")
            item = item[key]
        elif isinstance(item, (tuple, list)) and key is not None:
            raise ValueError("key= was given but dataset items are not dicts")
        if not isinstance(item, torch.Tensor):
            raise TypeError(f"expected torch tensors in the dataset, got {type(item).__name__}")
        yield item


def _channel_view(values: tuple[float, ...], x: torch.Tensor) -> torch.Tensor:
    if x.dim() < 3 or x.shape[-3] != len(values):
        raise ValueError(f"normaliser has statistics for {len(values)} channels but the tensor has shape "
                         f"{tuple(x.shape)} (channels expected at dim -3)")
    return torch.tensor(values, dtype=x.dtype, device=x.device).view(-1, 1, 1)


# ------------------------------------------------------------------------------------------- base
@dataclass(frozen=True)
class Normalizer:
    """Base class: ``forward`` maps [0, 1] images to model space, ``inverse`` maps back (clamped to [0, 1])."""

    kind: ClassVar[str] = "base"

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def inverse(self, y: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward(x)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, "Normalizer"]:
        """``(forward(x), normaliser whose inverse undoes it)``; for dataset-level normalisers that is ``self``."""
        return self.forward(x), self

    def to_dict(self) -> dict:
        """JSON-serialisable description (``kind`` + fitted statistics); see :func:`normalizer_from_dict`."""
        d = {"kind": self.kind}
        d.update({k: _listify(v) for k, v in asdict(self).items()})
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Normalizer":
        d = dict(d)
        kind = d.pop("kind", cls.kind)
        if kind != cls.kind:
            raise ValueError(f"cannot load a {kind!r} normaliser as {cls.kind!r}")
        names = {f.name for f in fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ValueError(f"unknown fields for {cls.kind!r} normaliser: {sorted(unknown)}")
        return cls(**{k: _tupleize(v) for k, v in d.items()})


def _listify(v: Any) -> Any:
    return [_listify(e) for e in v] if isinstance(v, (tuple, list)) else v


def _tupleize(v: Any) -> Any:
    return tuple(_tupleize(e) for e in v) if isinstance(v, list) else v


# ---------------------------------------------------------------------------------------- DiD tail
@dataclass(frozen=True)
class TailNorm(Normalizer):
    """DiD tail normalisation (DESIGN.md §3): linearise, ``x^power`` (1/4), per-channel dataset z-score, ``/divisor`` (2).

    ``mean``/``std`` are statistics of ``srgb_to_linear(x) ** power`` over every pixel of the fitting set,
    so the fitting set maps to per-channel mean 0 and std ``1/divisor`` = 0.5 = EDM's ``sigma_data``.
    Fit dark inputs and well-lit targets separately (:class:`PairedTailNorm`).
    """

    mean: tuple[float, ...] = (0.0, 0.0, 0.0)
    std: tuple[float, ...] = (1.0, 1.0, 1.0)
    power: float = 0.25
    divisor: float = 2.0
    linearize: bool = True
    count: int = 0                       # pixels per channel seen by fit() (provenance only)

    kind: ClassVar[str] = "tail"

    def __post_init__(self):
        if len(self.mean) != len(self.std):
            raise ValueError(f"mean has {len(self.mean)} channels but std has {len(self.std)}")
        if any(not (s > 0) for s in self.std):
            raise ValueError(f"std must be positive, got {self.std} (was the fitting set constant?)")
        if not self.power > 0 or not self.divisor > 0:
            raise ValueError("power and divisor must be positive")

    def _pre(self, x: torch.Tensor) -> torch.Tensor:
        lin = srgb_to_linear(x) if self.linearize else x.clamp(0.0, 1.0)
        return lin.pow(self.power)

    @classmethod
    def fit(cls, data: Any, *, key: str | None = None, power: float = 0.25, divisor: float = 2.0,
            linearize: bool = True) -> "TailNorm":
        """Fit dataset-level per-channel statistics, streaming over ``data``.

        ``data``: an ``N x C x H x W`` tensor, or any iterable of ``C x H x W`` / ``N x C x H x W`` tensors,
        or an iterable of dicts (a dataset) with ``key`` naming the image (e.g. ``key="low"``).
        """
        proto = cls(power=power, divisor=divisor, linearize=linearize)
        stats = RunningStats()
        for t in _iter_tensors(data, key):
            stats = stats.update(proto._pre(t.float()))
        return cls(mean=stats.mean, std=stats.std, power=power, divisor=divisor, linearize=linearize,
                   count=stats.count)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mu, sd = _channel_view(self.mean, x), _channel_view(self.std, x)
        return (self._pre(x) - mu) / sd / self.divisor

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        """``x2, x std, + mean, ^(1/power), clamp [0,1]``, back to sRGB.

        Values that fall below 0 before the power are clamped to 0 first (``v^4`` of a negative number would
        otherwise fold back to a positive intensity).
        """
        mu, sd = _channel_view(self.mean, y), _channel_view(self.std, y)
        v = (y * self.divisor * sd + mu).clamp(min=0.0)
        lin = v.pow(1.0 / self.power).clamp(0.0, 1.0)
        return linear_to_srgb(lin) if self.linearize else lin


@dataclass(frozen=True)
class PairedTailNorm:
    """DiD's two sets of tail statistics: one for dark (low-light) inputs, one for well-lit targets."""

    dark: TailNorm
    bright: TailNorm

    @classmethod
    def fit(cls, dark: Any, bright: Any, *, dark_key: str | None = None, bright_key: str | None = None,
            **kw) -> "PairedTailNorm":
        """Fit ``TailNorm`` on the dark images and, separately, on the bright images (``kw`` -> TailNorm.fit)."""
        return cls(TailNorm.fit(dark, key=dark_key, **kw), TailNorm.fit(bright, key=bright_key, **kw))

    def to_dict(self) -> dict:
        return {"kind": "paired_tail", "dark": self.dark.to_dict(), "bright": self.bright.to_dict()}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "PairedTailNorm":
        if d.get("kind", "paired_tail") != "paired_tail":
            raise ValueError(f"cannot load a {d.get('kind')!r} normaliser as 'paired_tail'")
        return cls(TailNorm.from_dict(d["dark"]), TailNorm.from_dict(d["bright"]))


# ------------------------------------------------------------------------------------ alternatives
@dataclass(frozen=True)
class LinearNorm(Normalizer):
    """``y = 2x - 1``: [0, 1] -> [-1, 1] (the default diffusion convention, DDPM, Ho et al. 2020 §4)."""

    kind: ClassVar[str] = "linear"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 2.0 * x - 1.0

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        return ((y + 1.0) / 2.0).clamp(0.0, 1.0)


@dataclass(frozen=True)
class LogNorm(Normalizer):
    """``y = 2 (log(v+eps) - log eps) / (log(1+eps) - log eps) - 1`` on ``v`` (linear RGB by default): [0,1] -> [-1,1]."""

    eps: float = 1e-3
    linearize: bool = True

    kind: ClassVar[str] = "log"

    def __post_init__(self):
        if not self.eps > 0:
            raise ValueError(f"eps must be positive, got {self.eps}")

    def _range(self) -> tuple[float, float]:
        lo = math.log(self.eps)
        return lo, math.log1p(self.eps) - lo

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        v = srgb_to_linear(x) if self.linearize else x.clamp(0.0, 1.0)
        lo, span = self._range()
        return 2.0 * (torch.log(v + self.eps) - lo) / span - 1.0

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        lo, span = self._range()
        v = (torch.exp((y + 1.0) / 2.0 * span + lo) - self.eps).clamp(0.0, 1.0)
        return linear_to_srgb(v) if self.linearize else v


@dataclass(frozen=True)
class GammaNorm(Normalizer):
    """``y = 2 v^(1/gamma) - 1`` with ``v`` linear RGB (default) and ``gamma = 2.2``: a fixed, unfitted power."""

    gamma: float = 2.2
    linearize: bool = True

    kind: ClassVar[str] = "gamma"

    def __post_init__(self):
        if not self.gamma > 0:
            raise ValueError(f"gamma must be positive, got {self.gamma}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        v = srgb_to_linear(x) if self.linearize else x.clamp(0.0, 1.0)
        return 2.0 * v.pow(1.0 / self.gamma) - 1.0

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        v = ((y + 1.0) / 2.0).clamp(0.0, 1.0).pow(self.gamma)
        return linear_to_srgb(v) if self.linearize else v


@dataclass(frozen=True)
class PerImageZScore(Normalizer):
    """Per-image, per-channel z-score ``y = (x - mu_img) / (std_img + eps) / divisor``.

    Its inverse needs each image's statistics: :meth:`encode` returns ``(y, bound)`` where ``bound`` carries
    them (``mean``/``std`` as ``N x C`` nested tuples), and ``bound.inverse(y)`` undoes the transform.
    ``forward`` on a bound normaliser reuses the bound statistics; on an unbound one it computes fresh ones.
    ``divisor = 2`` gives std 0.5 (EDM's ``sigma_data``), matching :class:`TailNorm`.
    """

    mean: tuple[tuple[float, ...], ...] | None = None
    std: tuple[tuple[float, ...], ...] | None = None
    eps: float = 1e-6
    divisor: float = 2.0
    linearize: bool = False

    kind: ClassVar[str] = "per_image_z"

    def _pre(self, x: torch.Tensor) -> torch.Tensor:
        return srgb_to_linear(x) if self.linearize else x

    def bind(self, x: torch.Tensor) -> "PerImageZScore":
        """A copy carrying the per-image statistics of ``x`` (``N x C x H x W``)."""
        if x.dim() != 4:
            raise ValueError(f"per-image z-score needs a batched N x C x H x W tensor, got {tuple(x.shape)}")
        v = self._pre(x).detach().to(torch.float64).flatten(2)
        return replace(self, mean=tuple(map(tuple, v.mean(dim=2).tolist())),
                       std=tuple(map(tuple, v.std(dim=2, unbiased=False).tolist())))

    def _stats(self, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.mean is None or self.std is None:
            raise ValueError("this per-image z-score carries no statistics: invert with the normaliser returned "
                             "by encode(x) (or bind(x))")
        mu = torch.tensor(self.mean, dtype=t.dtype, device=t.device)[:, :, None, None]
        sd = torch.tensor(self.std, dtype=t.dtype, device=t.device)[:, :, None, None]
        if t.dim() != 4 or t.shape[:2] != mu.shape[:2]:
            raise ValueError(f"bound statistics are for shape {tuple(mu.shape[:2])} (N, C) but the tensor has "
                             f"shape {tuple(t.shape)}")
        return mu, sd

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bound = self if self.mean is not None else self.bind(x)
        mu, sd = bound._stats(x)
        return (self._pre(x) - mu) / (sd + self.eps) / self.divisor

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, "PerImageZScore"]:
        bound = self.bind(x)
        return bound.forward(x), bound

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        mu, sd = self._stats(y)
        v = (y * self.divisor * (sd + self.eps) + mu).clamp(0.0, 1.0)
        return linear_to_srgb(v) if self.linearize else v


# ------------------------------------------------------------------------------------------ factory
NORMALIZERS: dict[str, type[Normalizer]] = {
    "tail": TailNorm, "linear": LinearNorm, "log": LogNorm, "gamma": GammaNorm, "per_image_z": PerImageZScore,
}


def make_normalizer(name: str, data: Any = None, *, key: str | None = None, **kwargs) -> Normalizer:
    """Build the normaliser called ``name`` (see ``NORMALIZERS``).

    ``"tail"`` is fitted on ``data`` (required unless ``mean=``/``std=`` are given); the others take only their
    keyword options (``eps``, ``gamma``, ...) and ignore ``data``.
    """
    try:
        cls = NORMALIZERS[name]
    except KeyError:
        raise ValueError(f"unknown normalisation {name!r}; expected one of {sorted(NORMALIZERS)}") from None
    if cls is TailNorm and "mean" not in kwargs:
        if data is None:
            raise ValueError("tail normalisation needs data to fit its dataset-level statistics (or mean=/std=)")
        return TailNorm.fit(data, key=key, **kwargs)
    return cls(**{k: _tupleize(v) for k, v in kwargs.items()})


def normalizer_from_dict(d: Mapping[str, Any]) -> Normalizer | PairedTailNorm:
    """Inverse of ``to_dict()`` for every normaliser (including :class:`PairedTailNorm`)."""
    kind = d.get("kind")
    if kind == "paired_tail":
        return PairedTailNorm.from_dict(d)
    if kind not in NORMALIZERS:
        raise ValueError(f"unknown normalisation kind {kind!r} in saved dict; expected one of "
                         f"{sorted(NORMALIZERS) + ['paired_tail']}")
    return NORMALIZERS[kind].from_dict(d)


def describe(y: torch.Tensor, lo: float = -1.0, hi: float = 1.0) -> dict[str, float]:
    """Distribution summary of all values of ``y``: mean, std, skewness, excess kurtosis, fraction in [lo, hi].

    Skewness ``E[(y-mu)^3]/sigma^3`` and excess kurtosis ``E[(y-mu)^4]/sigma^4 - 3`` (population moments, float64)
    quantify DiD's point (§3.3): dark data are right-skewed and heavy-tailed, far from the Gaussian-like
    ``N(0, sigma_data^2)`` a diffusion prior expects.
    """
    v = y.detach().to(torch.float64).flatten()
    mu = v.mean()
    c = v - mu
    var = (c ** 2).mean()
    sd = var.sqrt()
    if sd > 0:
        skew = float((c ** 3).mean() / var ** 1.5)
        kurt = float((c ** 4).mean() / var ** 2 - 3.0)
    else:
        skew = kurt = float("nan")
    inside = float(((v >= lo) & (v <= hi)).to(torch.float64).mean())
    return {"mean": float(mu), "std": float(sd), "skewness": skew, "excess_kurtosis": kurt, "frac_in_range": inside}
