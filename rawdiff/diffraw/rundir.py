"""DiffRAW development of whole RAW files: DiffRAW run directories (ISPNet + DTDM UNet) and tiled development.

A run directory for ``rawdiff develop`` is either ``RUN/`` with ``RUN/isp/`` and ``RUN/diffraw/`` (what
``rawdiff train diffraw --out RUN`` writes) or a single DTDM run whose ``run.json`` names its ISPNet run as
``isp_run`` (a notebook cache entry, rawdiff.runs.store).  :func:`develop_raw` (= rawdiff.diffraw.develop.develop_packed)
runs ISPNet then DTDM on overlapping tiles of any-size RAW and blends them with linear ramps (rawdiff.tiling).
"""
from __future__ import annotations

import os
from pathlib import Path

import torch

from rawdiff.checkpoint_io import config_errors
from rawdiff.config import DTDMConfig, from_dict
from rawdiff.diffraw.develop import develop_packed
from rawdiff.errors import RawdiffError
from rawdiff.nn.ispnet import ISPNet
from rawdiff.diffraw.train import load_diffraw_unet, load_ispnet
from rawdiff.runs.store import kind_config, read_meta


def diffraw_parts(run_dir: str | os.PathLike) -> tuple[Path, Path]:
    """``(isp run, DTDM run)`` folders of a DiffRAW run directory (either layout in the module docstring)."""

    run_dir = Path(run_dir)
    if (run_dir / "diffraw").is_dir() or (run_dir / "isp").is_dir():
        for sub in ("isp", "diffraw"):
            if not (run_dir / sub / "latest").exists():
                raise RawdiffError(f"{run_dir}: missing {sub}/ checkpoint (train it with "
                                   f"`rawdiff train {sub} --out {run_dir}`)")
        return run_dir / "isp", run_dir / "diffraw"
    meta = read_meta(run_dir) or {}
    if meta.get("kind") == "diffraw" and meta.get("isp_run"):
        isp = (run_dir / meta["isp_run"]).resolve()
        if not (isp / "latest").exists():
            raise RawdiffError(f"{run_dir}: its ISPNet run {isp} is missing (re-run notebook 03 or "
                               f"`rawdiff train diffraw`)")
        return isp, run_dir
    raise RawdiffError(f"{run_dir}: not a DiffRAW run (expected isp/ and diffraw/ checkpoints, or a DTDM run "
                       f"whose run.json names its ISPNet)")


def developable(info) -> Path | None:
    """For rawdiff.runs.store.resolve_run: the folder ``rawdiff develop`` can load for a found DiffRAW run (a DTDM
    network conditioned on RAW + c with its ISPNet), else None."""
    if info.meta.get("mode", "dtdm") != "dtdm" or info.meta.get("condition", "raw+c") != "raw+c":
        return None
    for cand in (info.path, info.path.parent):
        try:
            diffraw_parts(cand)
            return cand
        except RawdiffError:
            continue
    return None


def load_run_dir(run_dir: str | os.PathLike, device="cpu") -> tuple[ISPNet, torch.nn.Module, DTDMConfig, dict]:
    """ISPNet + DTDM UNet (EMA weights, rawdiff.diffraw.train.load_ispnet / load_diffraw_unet), the DTDM config and
    the UNet's run config of a DiffRAW run."""
    isp_dir, dif_dir = diffraw_parts(run_dir)
    dif_conf, dif_path = kind_config(dif_dir, "diffraw", "DiffRAW UNet", ("config.json",))
    with config_errors(dif_path):
        cfg = from_dict(DTDMConfig, dif_conf["dtdm"], source=dif_path)
    return load_ispnet(isp_dir, device), load_diffraw_unet(dif_dir, device), cfg, dif_conf


def develop_raw(isp: ISPNet, unet, cfg: DTDMConfig, packed: torch.Tensor, *, steps: int | None = None,
                tile: int = 128, overlap: int = 16, seed: int = 0, condition: str = "raw+c",
                progress: bool = False) -> torch.Tensor:
    """Develop one packed RAW (1 x 4 x h x w, [0, 1]) of any size: ISPNet then DTDM on overlapping tiles blended
    with linear ramps — :func:`rawdiff.diffraw.develop.develop_packed` (the one tiled development, rawdiff.tiling)."""

    return develop_packed(isp, unet, cfg, packed, steps=steps, tile=tile, overlap=overlap, seed=seed,
                          condition=condition, batch=1, progress=progress)
