"""Every run kind by name — ``isp``, ``diffraw`` (rawdiff.diffraw.train), ``did`` (rawdiff.did.train), ``regress``
(rawdiff.did.regress) — for the command line (``rawdiff train`` / ``runs``) and for loading any run folder.

The kinds are defined beside their paper's trainer; this module only gathers them, so the run lifecycle
(rawdiff.runs.lifecycle) never imports a paper and the papers never import each other.
"""
from __future__ import annotations

import os
from pathlib import Path

from rawdiff.did.regress import REGRESS
from rawdiff.did.train import DID
from rawdiff.diffraw.train import DIFFRAW, ISP
from rawdiff.errors import RawdiffError
from rawdiff.runs.lifecycle import ModelKind
from rawdiff.runs.store import RUN_FILE, legacy_meta, read_meta
from rawdiff.diffraw.rundir import load_run_dir

KINDS: dict[str, ModelKind] = {k.name: k for k in (ISP, DIFFRAW, DID, REGRESS)}


def kind_of(run_dir: str | os.PathLike) -> str | None:
    """The kind a run folder holds (its ``run.json``; older runs: the files rawdiff.runs.store.run_config reads)."""
    run_dir = Path(run_dir)
    meta = read_meta(run_dir) or legacy_meta(run_dir) or {}
    kind = meta.get("kind")
    if kind in KINDS:
        return kind
    if (run_dir / "isp").is_dir() and (run_dir / "diffraw").is_dir():
        return "diffraw"          # a `rawdiff train diffraw --out RUN` folder (RUN/isp + RUN/diffraw)
    if (run_dir / "did.json").exists():
        return "did"
    if (run_dir / "regress.json").exists():
        return "regress"
    return None


def load(run_dir: str | os.PathLike, device="auto"):
    """Load any run by its kind (EMA weights, on ``device``): ``isp`` -> ISPNet; ``did`` -> rawdiff.did.enhance.DiDModel;
    ``regress`` -> rawdiff.did.regress.RegressModel; ``diffraw`` -> the develop bundle (ISPNet, UNet, DTDMConfig,
    config) of rawdiff.diffraw.rundir.load_run_dir, since a DiffRAW UNet is used only with its ISPNet."""

    run_dir = Path(run_dir)
    kind = kind_of(run_dir)
    if kind is None:
        raise RawdiffError(f"{run_dir}: not a rawdiff run (no {RUN_FILE} / config.json naming its kind)")
    if kind == "diffraw":
        return load_run_dir(run_dir, device=device)
    return KINDS[kind].load(run_dir, device)
