"""Paired bootstrap intervals and the verdict rule every claim uses (DESIGN.md §3, "Evidence").

A claim compares two methods on the *same* items (images, words), noise seeds and trained nets.  Per item we
have a score for each method (average the noise seeds per item first); the statistic is the mean paired
difference ``a - b`` and its 95% interval comes from resampling the items with replacement (percentile
bootstrap, Efron & Tibshirani 1993, ch. 13), seeded so the same data give the same interval.

Verdicts (:func:`decide`):

* ``kind="superior"`` — "a is better than b": **holds** iff the interval lies above 0, **does not hold** iff
  it lies below 0, else ``inconclusive (n=…)``.
* ``kind="noninferior"`` with ``margin >= 0`` — "a is no worse than b": **holds** iff the interval lies above
  ``-margin``, **does not hold** iff it lies below ``-margin``, else inconclusive.

Scores must be oriented "higher is better" (pass ``higher_is_better=False`` for errors: the difference is
then ``b - a``, so a positive difference still means "a is better").

Several hypotheses at once (issue 24, DTDM rule (a) over four K): :func:`bootstrap_pvalue` gives the one-sided
bootstrap p-value of "mean > bound" from the same resamples as the interval (``lo > bound`` at level 0.95 is
``p < 0.025`` up to the quantile interpolation), and :func:`holm` applies Holm's step-down correction (Holm,
"A simple sequentially rejective multiple test procedure", Scand. J. Statist. 6, 1979) to such p-values.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np

__all__ = ["HOLDS", "FAILS", "INCONCLUSIVE", "Interval", "Comparison", "bootstrap_mean", "bootstrap_geomean", "paired_bootstrap",
           "decide", "resample_indices", "bootstrap_pvalue", "holm", "ALPHA_ONE_SIDED"]

HOLDS, FAILS, INCONCLUSIVE = "holds", "does not hold", "inconclusive"
N_RESAMPLES = 2000
#: One-sided level of every "holds" decision: a two-sided 95% interval excludes the bound on one side.
ALPHA_ONE_SIDED = 0.025


@dataclass(frozen=True)
class Interval:
    """Mean of ``n`` values with a percentile-bootstrap interval at ``level``."""

    n: int
    mean: float
    lo: float
    hi: float
    level: float = 0.95

    def as_row(self, prefix: str = "") -> dict:
        return {f"{prefix}{k}": v for k, v in asdict(self).items() if k != "level"}


@dataclass(frozen=True)
class Comparison:
    """Paired comparison of method ``a`` against ``b`` (difference oriented so that > 0 favours ``a``)."""

    n: int
    mean_a: float
    mean_b: float
    diff: float
    lo: float
    hi: float
    verdict: str

    def as_row(self) -> dict:
        return asdict(self)


def _values(x: Sequence[float] | np.ndarray, what: str) -> np.ndarray:
    v = np.asarray(x, dtype=np.float64)
    if v.ndim == 2:  # items x seeds: average the seeds of each item first
        v = v.mean(axis=1)
    if v.ndim != 1 or v.size == 0:
        raise ValueError(f"{what}: expected a non-empty 1-D sequence (or items x seeds), got shape {v.shape}")
    if not np.all(np.isfinite(v)):
        raise ValueError(f"{what}: contains NaN or infinite values")
    return v


def resample_indices(n: int, n_resamples: int = N_RESAMPLES, seed: int = 0) -> np.ndarray:
    """``n_resamples x n`` item indices drawn with replacement — the resamples of every interval here, exposed for
    statistics that are not a mean (e.g. a frontier read-off per resample, rawdiff.claims.dtdm): the same
    ``seed`` gives the same resamples as :func:`bootstrap_mean`."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, n, size=(n_resamples, n))


def _resample_means(v: np.ndarray, n_resamples: int, seed: int) -> np.ndarray:
    return v[resample_indices(v.size, n_resamples, seed)].mean(axis=1)


def bootstrap_mean(values, *, level: float = 0.95, n_resamples: int = N_RESAMPLES, seed: int = 0) -> Interval:
    """Mean of ``values`` (1-D, or items x seeds) with a seeded percentile-bootstrap interval."""
    v = _values(values, "values")
    means = _resample_means(v, n_resamples, seed)
    a = (1 - level) / 2
    lo, hi = np.quantile(means, [a, 1 - a]) if v.size > 1 else (v[0], v[0])
    return Interval(int(v.size), float(v.mean()), float(lo), float(hi), level)


def bootstrap_geomean(values, *, level: float = 0.95, n_resamples: int = N_RESAMPLES, seed: int = 0) -> Interval:
    """Geometric mean of positive ``values`` (ratios) with a seeded percentile-bootstrap interval: the mean of
    the logs, exponentiated.  The right average for per-image ratios such as the sharpness ratio, where an image
    with a near-flat target gives a ratio of 20 that an arithmetic mean lets outweigh 30 images at 0.6."""
    v = _values(values, "values")
    if not np.all(v > 0):
        raise ValueError("values: a geometric mean needs positive values")
    iv = bootstrap_mean(np.log(v), level=level, n_resamples=n_resamples, seed=seed)
    return Interval(iv.n, float(np.exp(iv.mean)), float(np.exp(iv.lo)), float(np.exp(iv.hi)), level)


def decide(lo: float, hi: float, n: int, *, kind: str = "superior", margin: float = 0.0) -> str:
    """Verdict from an interval of ``a - b`` (oriented so that > 0 favours ``a``); see the module docstring."""
    if kind not in ("superior", "noninferior"):
        raise ValueError(f"unknown kind {kind!r}; expected 'superior' or 'noninferior'")
    if margin < 0:
        raise ValueError(f"margin must be >= 0, got {margin}")
    bound = 0.0 if kind == "superior" else -margin
    if lo > bound:
        return HOLDS
    if hi < bound:
        return FAILS
    return f"{INCONCLUSIVE} (n={n})"


def paired_bootstrap(a, b, *, higher_is_better: bool = True, kind: str = "superior", margin: float = 0.0,
                     level: float = 0.95, n_resamples: int = N_RESAMPLES, seed: int = 0) -> Comparison:
    """Paired comparison of per-item scores ``a`` and ``b`` (same items, same order; 1-D or items x seeds)."""
    va, vb = _values(a, "a"), _values(b, "b")
    if va.shape != vb.shape:
        raise ValueError(f"paired scores need the same items: a has {va.size}, b has {vb.size}")
    d = (va - vb) if higher_is_better else (vb - va)
    iv = bootstrap_mean(d, level=level, n_resamples=n_resamples, seed=seed)
    return Comparison(iv.n, float(va.mean()), float(vb.mean()), iv.mean, iv.lo, iv.hi,
                      decide(iv.lo, iv.hi, iv.n, kind=kind, margin=margin))


def bootstrap_pvalue(values, bound: float = 0.0, *, n_resamples: int = N_RESAMPLES, seed: int = 0) -> float:
    """One-sided bootstrap p-value of "the mean of ``values`` exceeds ``bound``": the share of resampled means
    (the resamples of :func:`bootstrap_mean` with the same seed) that are <= ``bound``."""
    v = _values(values, "values")
    if v.size == 1:
        return 0.0 if v[0] > bound else 1.0
    return float(np.mean(_resample_means(v, n_resamples, seed) <= bound))


def holm(pvalues: Sequence[float], alpha: float = ALPHA_ONE_SIDED) -> list[bool]:
    """Holm's step-down procedure: which hypotheses are rejected at family-wise level ``alpha``.  Sorted
    ascending, the i-th smallest p-value (i = 0, 1, ...) is compared with ``alpha / (m - i)``; testing stops at
    the first that exceeds it.  Returns one bool per p-value, in the input order."""
    p = np.asarray(pvalues, dtype=np.float64)
    if p.ndim != 1 or not np.all((p >= 0) & (p <= 1)):
        raise ValueError(f"holm: expected p-values in [0, 1], got {list(pvalues)}")
    out = [False] * p.size
    for i, j in enumerate(np.argsort(p, kind="stable")):
        if p[j] > alpha / (p.size - i):
            break
        out[j] = True
    return out
