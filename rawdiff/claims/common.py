"""Shared pieces of the claim rules: verdict names, the "not measurable" / "cannot be computed" signals, CSV-cell
helpers, the one way several paired comparisons (rawdiff.stats) combine into a verdict, and the comparison
records a rule hands to ``--check`` (rawdiff.results judges each claim's effects, issue 24 item 8)."""
from __future__ import annotations

import csv
import math
from pathlib import Path

from rawdiff.stats import paired_bootstrap

HOLDS, FAILS, UNMEASURABLE, NOT_RUN = "holds", "does not hold", "not measurable at this scale", "not run"
#: The verdict of a rule whose inputs (columns, rows, tables) the evaluation does not produce (yet): the rule is
#: kept as written and the scorecard says what is missing (issue 24: "if a rule cannot be computed, say so").
CANNOT = "cannot be computed"


class Unmeasurable(Exception):
    """Raised by a rule when the table lacks what the rule needs (message = the reason)."""


class MissingInput(Unmeasurable):
    """Raised by a rule when a column, row group or table it consumes is absent (message = what is missing);
    the scorecard reports :data:`CANNOT`."""


def require_columns(rows: list[dict], table: str, *cols: str) -> None:
    """Raise :class:`MissingInput` naming every column of ``cols`` that ``rows`` lack (or that is empty)."""
    missing = [c for c in cols if not rows or c not in rows[0] or all(str(r.get(c) or "").strip() == "" for r in rows)]
    if missing:
        raise MissingInput(f"missing column(s) {', '.join(missing)} in {table}")


class Outcome(tuple):
    """A rule's result: unpacks as ``(verdict, evidence)`` (as notebooks unpack it) and carries the effects the
    verdict rests on in ``.comparisons`` (a tuple of :func:`comparison` dicts, judged by ``--check``)."""

    comparisons: tuple[dict, ...]

    def __new__(cls, verdict, evidence: str, comparisons=()):
        out = super().__new__(cls, (verdict, evidence))
        out.comparisons = tuple(comparisons)
        return out


def comparison(name: str, diff: float, lo: float, hi: float, verdict: str = "", n: int | None = None) -> dict:
    """One effect a claim rests on, as handed to ``--check``: ``name`` identifies it across runs."""
    return {"name": name, "diff": float(diff), "lo": float(lo), "hi": float(hi), "verdict": verdict,
            "n": n if n is None else int(n)}


def fmt_interval(diff: float, lo: float, hi: float, unit: str = "", digits: int = 3) -> str:
    return f"{diff:+.{digits}f}{unit} [{lo:+.{digits}f}, {hi:+.{digits}f}]"


def to_float(v) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return float("nan")


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as f:
        return [dict(r) for r in csv.DictReader(f)]


def select_rows(rows: list[dict], col: str, *values: str) -> list[dict]:
    vals = {v.lower() for v in values}
    return [r for r in rows if str(r.get(col, "")).strip().lower() in vals]


def one_row(rows: list[dict], col: str, value: str) -> dict:
    sel = select_rows(rows, col, value)
    if not sel:
        raise Unmeasurable(f"no row with {col} = {value!r}")
    return sel[0]


def require_finite(*xs: float) -> None:
    if not all(math.isfinite(x) for x in xs):
        raise Unmeasurable("required values are missing or not finite")


def mean_of(xs) -> float:
    xs = [x for x in xs if math.isfinite(x)]
    return sum(xs) / len(xs) if xs else float("nan")


def geomean_of(xs) -> float:
    """Geometric mean of the positive finite values (NaN when there are none)."""
    xs = [math.log(x) for x in xs if math.isfinite(x) and x > 0]
    return math.exp(sum(xs) / len(xs)) if xs else float("nan")


def combine_verdicts(verdicts: list[str]) -> str:
    """Several paired comparisons -> one verdict: all hold -> holds; any does not hold -> does not hold; else the
    inconclusive one with the smallest n."""
    if all(v == HOLDS for v in verdicts):
        return HOLDS
    if any(v == FAILS for v in verdicts):
        return FAILS
    rest = [v for v in verdicts if v not in (HOLDS, FAILS)]
    return min(rest, key=lambda v: int(v.rsplit("n=", 1)[1].rstrip(")")) if "n=" in v else math.inf)


def paired_values(a: dict, b: dict, label: str, *, drop_nonfinite: bool = False, **kw):
    """:func:`rawdiff.stats.paired_bootstrap` of the values of the items (dict keys, sorted) that ``a`` and ``b``
    share.  Non-finite values make the comparison unmeasurable, or with ``drop_nonfinite`` drop their item;
    ``kw`` goes to paired_bootstrap (``higher_is_better``, ``kind``, ``margin``, ``seed``)."""

    items = sorted(a.keys() & b.keys())
    if drop_nonfinite:
        items = [k for k in items if math.isfinite(a[k]) and math.isfinite(b[k])]
    va, vb = [a[k] for k in items], [b[k] for k in items]
    if not items or not all(math.isfinite(x) for x in va + vb):
        raise Unmeasurable(f"no paired finite {label} values")
    return paired_bootstrap(va, vb, **kw)
