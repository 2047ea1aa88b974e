"""DiffRAW development of whole RAW files: DiffRAW run directories (ISPNet + DTDM UNet) and tiled development.

A run directory for ``rawdiff develop`` is either ``RUN/`` with ``RUN/isp/`` and ``RUN/diffraw/`` (what
``rawdiff train diffraw --out RUN`` writes) or a single DTDM run whose ``run.json`` names its ISPNet run as
``isp_run`` (a notebook cache entry, rawdiff.runs).  :func:`develop_raw` runs ISPNet then DTDM on overlapping
tiles of any-size RAW and blends them with linear ramps (feathering).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F

from rawdiff.config import DTDMConfig
from rawdiff.errors import RawdiffError
from rawdiff.nn.ispnet import ISPNet, coord_grid
from rawdiff.pipelines.diffraw_sample import develop_dtdm
from rawdiff.utils import make_generator, to_inference


def write_run_info(run_dir: str | os.PathLike, **info) -> None:
    """Merge ``info`` into ``run_dir/run.json`` (rawdiff.runs.write_meta)."""
    from rawdiff.runs import write_meta

    write_meta(run_dir, **info)


def diffraw_parts(run_dir: str | os.PathLike) -> tuple[Path, Path]:
    """``(isp run, DTDM run)`` folders of a DiffRAW run directory (either layout in the module docstring)."""
    from rawdiff.runs import read_meta

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
    """For rawdiff.runs.resolve_run: the folder ``rawdiff develop`` can load for a found DiffRAW run (a DTDM
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
    """ISPNet + DTDM UNet (EMA weights), the DTDM config and the UNet's run config of a DiffRAW run."""
    from rawdiff.config import ISPNetConfig, UNetConfig, from_dict
    from rawdiff.nn.unet import UNet
    from rawdiff.checkpoint_io import config_errors
    from rawdiff.train import load_run, read_json

    isp_dir, dif_dir = diffraw_parts(run_dir)
    isp_path, dif_path = isp_dir / "config.json", dif_dir / "config.json"
    isp_conf, dif_conf = read_json(isp_path), read_json(dif_path)
    if dif_conf.get("kind") != "diffraw":
        raise RawdiffError(f"{dif_dir}: holds a {dif_conf.get('kind')!r} run, not a DiffRAW UNet")
    with config_errors(isp_path):
        isp = ISPNet(from_dict(ISPNetConfig, isp_conf["isp_net"], source=isp_path))
    with config_errors(dif_path):
        unet = UNet(from_dict(UNetConfig, dif_conf["unet"], source=dif_path))
        cfg = from_dict(DTDMConfig, dif_conf["dtdm"], source=dif_path)
    load_run(isp_dir, isp, ema=True)
    load_run(dif_dir, unet, ema=True)
    return to_inference(isp, device), to_inference(unet, device), cfg, dif_conf


def _ramp(n: int, overlap: int, lo: bool, hi: bool) -> torch.Tensor:
    r = torch.ones(n)
    if overlap > 0:
        ramp = (torch.arange(overlap, dtype=torch.float32) + 0.5) / overlap
        if lo:
            r[:overlap] = ramp
        if hi:
            r[n - overlap:] = ramp.flip(0)
    return r


@torch.no_grad()
def develop_raw(isp: ISPNet, unet, cfg: DTDMConfig, packed: torch.Tensor, *, steps: int | None = None,
                tile: int = 128, overlap: int = 16, seed: int = 0, condition: str = "raw+c",
                progress: Callable | None = None) -> torch.Tensor:
    """Develop one packed RAW (1 x 4 x h x w, [0, 1]) of any size: ISPNet then DTDM, tiled with blending.

    Tiles are ``tile`` x ``tile`` packed pixels (output 2x) with ``overlap`` packed pixels shared with each
    neighbour; outputs are blended with linear ramps (feathering) so no seams appear.  ISPNet sees the
    full-frame coordinates of each tile.  Returns 1 x 3 x 2h x 2w in [0, 1].
    """
    dev = next(unet.parameters()).device
    _, _, h, w = packed.shape
    down = getattr(unet, "downsample_factor", 4)
    step_px = max(2, tile - overlap)
    tile_h, tile_w = min(tile, h), min(tile, w)
    mult = max(1, down // 2) * 2
    tile_h, tile_w = [((t + mult - 1) // mult) * mult for t in (tile_h, tile_w)]
    out = torch.zeros(1, 3, 2 * h, 2 * w)
    wsum = torch.zeros(1, 1, 2 * h, 2 * w)
    tops = list(range(0, max(h - tile_h, 0) + 1, step_px)) or [0]
    lefts = list(range(0, max(w - tile_w, 0) + 1, step_px)) or [0]
    if tops[-1] + tile_h < h:
        tops.append(h - tile_h)
    if lefts[-1] + tile_w < w:
        lefts.append(w - tile_w)
    gen = make_generator(seed, dev)
    total, done = len(tops) * len(lefts), 0
    for t in tops:
        for l in lefts:
            win = packed[:, :, t:t + tile_h, l:l + tile_w]
            ph, pw = tile_h - win.shape[-2], tile_w - win.shape[-1]
            if ph or pw:  # image smaller than a tile: pad (replicate) and crop the result
                win = F.pad(win, (0, pw, 0, ph), mode="replicate")
            coords = coord_grid(1, tile_h, tile_w, top=t, left=l, full=(h, w), device=dev)
            c = isp.develop(win.to(dev), coords)
            y = develop_dtdm(unet, win.to(dev), c, cfg, steps, condition=condition, generator=gen).cpu()
            hh, ww = min(tile_h, h - t), min(tile_w, w - l)
            y = y[..., :2 * hh, :2 * ww]
            ov = 2 * overlap
            wy = _ramp(2 * hh, min(ov, 2 * hh), t > 0, t + hh < h)
            wx = _ramp(2 * ww, min(ov, 2 * ww), l > 0, l + ww < w)
            wt = (wy[:, None] * wx[None, :])[None, None]
            out[..., 2 * t:2 * t + 2 * hh, 2 * l:2 * l + 2 * ww] += y * wt
            wsum[..., 2 * t:2 * t + 2 * hh, 2 * l:2 * l + 2 * ww] += wt
            done += 1
            if progress is not None:
                progress(done, total)
    return (out / wsum.clamp(min=1e-8)).clamp(0, 1)
