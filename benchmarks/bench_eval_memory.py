"""Peak memory of the DTDM evaluation against the size of the test set (issue 23: memory bounded by the chunk).

Writes a ZRR-layout test split of ``max(--n)`` random 448-px pairs (16-bit Bayer PNG + JPEG, the layout
rawdiff.data.loaders.ZRRDataset reads) under /tmp, then runs, **each case in its own subprocess** so that one
case's peak cannot leak into another's, the evaluation notebook 04 runs (rawdiff.diffraw.evaluate.
evaluate_per_image: ISPNet(w) computed chunk by chunk, DTDM with K ``--steps`` steps, per-image aligned metrics)
on the first ``n`` pairs, read through rawdiff.diffraw.data.load_phone (in memory when the split fits
IN_MEMORY_BYTES, else streamed from disk).  The networks are the ``smoke`` preset's ISPNet and DiffRAW UNet with
random weights: right for a *memory* measurement (activations and data do not depend on the weights), meaningless
for quality.  The test data are deleted afterwards.

    python -m benchmarks.bench_eval_memory [--n 16,256] [--size 448] [--steps 1] [--chunk 8] [--threads 2]

Reports per case: peak RSS of the case's own process (MiB, its ``VmHWM``: rawdiff.peakmem.process_peak_rss_mib —
not ``ru_maxrss``, which Linux seeds with the parent's peak across fork + exec), wall time, seconds per image, whether the split
was streamed, and the ratio of each peak to the smallest case's (the acceptance bar is <= 1.2).
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from benchmarks.common import record
from rawdiff.config import DTDMSampler
from rawdiff.data.write import write_png16
from rawdiff.peakmem import process_peak_rss_mib


def write_split(root: Path, n: int, size: int, seed: int = 0) -> None:
    """``n`` random ZRR-layout test pairs: a ``size`` px 16-bit Bayer PNG and a ``size`` px JPEG each."""
    rs = np.random.default_rng(seed)
    raw_dir, rgb_dir = root / "test" / "huawei_raw", root / "test" / "canon"
    raw_dir.mkdir(parents=True)
    rgb_dir.mkdir(parents=True)
    yy, xx = np.mgrid[0:size, 0:size] / size
    for i in range(n):
        base = 0.5 + 0.4 * np.sin(2 * np.pi * (rs.uniform(1, 4) * xx + rs.uniform(1, 4) * yy))
        bayer = 63 + (1020 - 63) * np.clip(base + rs.normal(0, 0.02, base.shape), 0, 1)
        write_png16(raw_dir / f"{i}.png", bayer.astype(np.uint16))
        rgb = np.clip(base[..., None] * rs.uniform(0.6, 1.0, 3) * 255 + rs.normal(0, 3, (size, size, 3)), 0, 255)
        Image.fromarray(rgb.astype(np.uint8)).save(rgb_dir / f"{i}.jpg", quality=90)


def child(root: str, n: int, steps: int, chunk: int) -> dict:
    """One case, in this process: the DTDM evaluation of the first ``n`` test pairs; its peak RSS and time."""
    from rawdiff.diffraw import evaluate as E
    from rawdiff.diffraw.data import load_phone
    from rawdiff.diffraw.sample import Method, run_ispnet
    from rawdiff.diffraw.train import build_ispnet, build_unet
    from rawdiff.presets import get_preset
    from rawdiff.utils import to_inference

    t0 = time.perf_counter()
    preset = get_preset("smoke")
    test = load_phone(root, "test").subset(n)
    isp, unet = to_inference(build_ispnet(preset), "cpu"), to_inference(build_unet(preset), "cpu")
    cfg = preset.dtdm
    rows = E.evaluate_per_image([Method("dtdm", steps, s=cfg.s)], test, c_test=lambda p: run_ispnet(isp, p.raw),
                                nets={"dtdm": {cfg.s: unet}}, cfg=cfg, seeds=(0,), device="cpu", chunk=chunk)
    seconds = time.perf_counter() - t0
    assert len(rows) == n
    return {"n_images": n, "streamed": bool(test.is_lazy), "peak_rss_mib": round(process_peak_rss_mib(), 1),
            "wall_s": round(seconds, 1),
        "s_per_image": round(sum(r["sec_per_image"] for r in rows) / len(rows), 3)}


def main(argv=None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n", default="16,256", help="test-set sizes, comma-separated")
    p.add_argument("--size", type=int, default=448, help="DSLR image side in px (packed RAW is half)")
    p.add_argument("--steps", type=int, default=1, help="DTDM steps K")
    p.add_argument("--chunk", type=int, default=DTDMSampler.chunk, help="images per network call")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)   # internal: run one case in this process
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    sizes = [int(v) for v in a.n.split(",")]
    if a.child is not None:
        print(json.dumps(child(a.child, sizes[0], a.steps, a.chunk)))
        return []
    root = Path(tempfile.mkdtemp(prefix="rawdiff-evalmem-", dir="/tmp"))
    rows = []
    try:
        t0 = time.perf_counter()
        write_split(root, max(sizes), a.size)
        print(f"wrote {max(sizes)} {a.size}-px pairs to {root} in {time.perf_counter() - t0:.1f} s", flush=True)
        for n in sizes:
            cmd = [sys.executable, "-m", "benchmarks.bench_eval_memory", "--child", str(root), "--n", str(n),
                   "--steps", str(a.steps), "--chunk", str(a.chunk), "--threads", str(a.threads)]
            out = subprocess.run(cmd, check=True, capture_output=True, text=True,
                                 cwd=Path(__file__).resolve().parents[1]).stdout.strip().splitlines()[-1]
            rows.append({**json.loads(out), "size_px": a.size, "steps": a.steps, "chunk": a.chunk})
            print(rows[-1], flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    low = min(r["peak_rss_mib"] for r in rows)
    for r in rows:
        r["rss_ratio"] = round(r["peak_rss_mib"] / low, 3)
    return record("eval_memory", torch.device("cpu"), rows,
                  title="DTDM evaluation peak RSS vs test-set size (smoke nets, random weights; one process per row)")


if __name__ == "__main__":
    main()
