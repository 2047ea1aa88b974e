"""Runs trained elsewhere, used by the notebooks: ``rawdiff reproduce --runs DIR`` (notebook parameter ``runs``).

A network trained with ``rawdiff train KIND --out DIR/NAME`` (for instance under ``torchrun`` on a GPU box) or
``--cache DIR`` records its cache key in ``run.json`` (rawdiff.runs.lifecycle.run_entries): the hash of its
network and training configs, seed and data digest.  :func:`find_matching_run` looks through folders for a
complete run of the same kind whose key equals the one a notebook computes, so a notebook uses it instead of
training — only when nothing that changes the weights differs.  Which run was used is announced.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Sequence

from rawdiff.errors import DataError, RawdiffError
from rawdiff.runs.store import find_runs
from rawdiff.train import run_is_complete


def as_roots(runs: str | os.PathLike | Sequence[str | os.PathLike] | None) -> list[Path]:
    """The ``runs`` parameter as a list of folders (one path, a comma-separated string, or a list); each must
    exist (a one-line error names the one that does not)."""
    if runs is None or runs == "":
        return []
    items = [r for r in str(runs).split(",") if r] if isinstance(runs, (str, os.PathLike)) else list(runs)
    roots = [Path(r).expanduser() for r in items]
    for r in roots:
        if not r.is_dir():
            raise RawdiffError(f"{r}: --runs folder does not exist (expected runs trained with `rawdiff train`)")
    return roots


def find_matching_run(roots: Iterable[str | os.PathLike], kind: str, key: str, steps: int) -> Path | None:
    """The newest complete run (checkpoint at ``steps`` or later) of ``kind`` whose ``run.json`` key is ``key``."""
    for info in find_runs(list(roots), kind, max_depth=6):
        if info.meta.get("key") != key:
            continue
        try:
            if run_is_complete(info.path, steps):
                return info.path
        except DataError:   # a corrupt run is skipped: the notebook trains its own
            continue
    return None
