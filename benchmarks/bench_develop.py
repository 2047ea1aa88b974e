"""Large-RAW development: peak memory and seconds per megapixel of ``develop_file`` on a synthetic Bayer DNG.

For each ``--mp`` size a GRBG DNG (12-bit, smooth random scene, AsShotNeutral + ColorMatrix1) is written with
pidng, then developed in a fresh subprocess (so each peak RSS is that size's alone) through the full path:
``read_raw_file`` -> ``to_reference_camera`` -> tiled ISPNet + DTDM (``--steps``) -> orientation.  Without
``--run`` the nets are the smoke preset's, untrained (speed and memory do not depend on the weights).  Not a
timed test: run it by hand and put the figures in docs/performance.md.

    python -m benchmarks.bench_develop [--mp 1 4] [--steps 1] [--tile 128] [--overlap 16] [--run RUN_DIR]
    python -m benchmarks.bench_develop --io-only --mp 24      # everything but the nets, at full size
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

import rawdiff  # noqa: F401
from benchmarks.common import peak_memory, record
from rawdiff.utils import Timer, resolve_device


def write_big_dng(path: Path, mp: float, seed: int = 0) -> tuple[int, int]:
    """A ``mp``-megapixel 3:2 GRBG DNG of a smooth scene (black 256, white 4095)."""
    from rawdiff.camera.dng import write_bayer_dng

    w = round((mp * 1e6 * 1.5) ** 0.5 / 2) * 2
    h = round(mp * 1e6 / w / 2) * 2
    rng = np.random.default_rng(seed)
    low = torch.from_numpy(rng.random((1, 3, 8, 12), dtype=np.float32))
    b = torch.nn.functional.interpolate(low, size=(h, w), mode="bilinear", align_corners=False)[0].numpy()
    m = np.empty((h, w), np.float32)                     # GRBG: G R / B G
    m[0::2, 0::2], m[0::2, 1::2] = b[1, 0::2, 0::2], b[0, 0::2, 1::2]
    m[1::2, 0::2], m[1::2, 1::2] = b[2, 1::2, 0::2], b[1, 1::2, 1::2]
    del b
    dn = np.round(256 + m * 0.8 * (4095 - 256)).astype(np.uint16)
    cm = [[1.2, -0.3, -0.1], [-0.4, 1.3, 0.1], [0.0, 0.2, 0.7]]
    write_bayer_dng(path, dn, "GRBG", (256,) * 4, 4095, neutral=[0.5, 1.0, 0.6], color_matrix=cm)
    return h, w


def _nets(run: str | None, device):
    from rawdiff.presets import get_preset
    from rawdiff.diffraw.train import build_ispnet, build_unet
    from rawdiff.diffraw.rundir import load_run_dir
    from rawdiff.utils import to_inference

    if run:
        return load_run_dir(run, device=device)[:3]
    p = get_preset("smoke")
    return to_inference(build_ispnet(p), device), to_inference(build_unet(p), device), p.dtdm


def _io_only(args) -> tuple[int, int, int]:
    """Everything but the networks: read, reference camera, cut tiles, stitch (a 2x nearest upsampling of each
    tile's first three channels stands in for the nets) — the memory floor of the tiled path at any size."""
    from rawdiff.camera.rawfile import orient, read_raw_file, to_reference_camera
    from rawdiff.tiling import Stitcher, TileGrid, extract

    packed, info = read_raw_file(args.one)
    packed = to_reference_camera(packed, info)
    grid = TileGrid(packed.shape[-2], packed.shape[-1], tile=args.tile, overlap=args.overlap, multiple=8)
    st = Stitcher(grid, 3, scale=2)
    for t in grid:
        st.add(extract(packed, t, grid.size)[:, :3].repeat_interleave(2, -1).repeat_interleave(2, -2), t)
    img = orient(st.result(), info.flip)
    return img.shape[-2], img.shape[-1], len(grid)


def _one(args) -> dict:
    """Child process: develop one file, print a JSON row."""
    from rawdiff.diffraw.develop import develop_file

    if args.threads:
        torch.set_num_threads(args.threads)
    dev = resolve_device(args.device)
    if args.io_only:
        with Timer(dev) as t:
            h, w, tiles = _io_only(args)
    else:
        isp, unet, cfg = _nets(args.run, dev)
        with Timer(dev) as t:
            res = develop_file(args.one, isp, unet, cfg, steps=args.steps, tile=args.tile, overlap=args.overlap,
                               batch=args.batch, progress=False)
        (h, w), tiles = res.image.shape[-2:], res.tiles
    mp = h * w / 1e6
    return {"mode": "io-only" if args.io_only else "nets", "megapixels": round(mp, 2), "size": f"{w}x{h}",
            "tiles": tiles, "steps": 0 if args.io_only else args.steps,
            "tile": args.tile, "overlap": args.overlap, "seconds": round(t.seconds, 1),
            "s_per_mp": round(t.seconds / mp, 1),   # one process per size (--one): its peak is this row's own
            **{k: round(v, 1) if isinstance(v, float) else v for k, v in peak_memory(dev).items()}}


def main(argv=None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mp", type=float, nargs="+", default=[1.0, 4.0], help="image sizes in megapixels")
    ap.add_argument("--steps", type=int, default=1, help="DTDM steps")
    ap.add_argument("--tile", type=int, default=128)
    ap.add_argument("--overlap", type=int, default=16)
    ap.add_argument("--batch", type=int, default=4, help="tiles per network call")
    ap.add_argument("--run", default=None, help="trained run directory (default: untrained smoke-size nets)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--io-only", action="store_true", help="skip the networks (memory floor of the tiled path)")
    ap.add_argument("--one", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.one:
        print(json.dumps(_one(args)))
        return []
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for mp in args.mp:
            path = Path(tmp) / f"big_{mp}.dng"
            write_big_dng(path, mp)
            cmd = [sys.executable, "-m", "benchmarks.bench_develop", "--one", str(path), "--steps", str(args.steps),
                   "--tile", str(args.tile), "--overlap", str(args.overlap), "--batch", str(args.batch),
                   "--device", args.device] + (["--run", args.run] if args.run else []) + \
                  (["--threads", str(args.threads)] if args.threads else []) + (["--io-only"] if args.io_only else [])
            out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=os.environ).stdout
            rows.append(json.loads(out.strip().splitlines()[-1]))
            path.unlink()
    return record("develop", resolve_device(args.device), rows, title="develop a large RAW (peak RSS, s/MP)")


if __name__ == "__main__":
    main()
