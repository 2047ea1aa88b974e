"""Synthetic-data throughput: megapixels of output per second for the on-the-fly batches and the disk writers.

Rows: ``phone2dslr_batch`` and ``lowlight_batch`` (scenes on CPU from the offline photos + dead leaves, camera
simulation on ``--device``), plus ``synth_phone2dslr`` / ``synth_lowlight`` writing a dataset to a temp folder
(one image at a time, PNG/JPEG encoding and sha256 manifest included).  Also the scene generator alone
(``random_scenes``: half photo crops, half dead leaves; ``dead_leaves`` alone), since it runs on CPU whatever the
device.  Megapixels count the DSLR/well-lit image (``size x size``) once per pair.  Each call uses a fresh seed
(the photo/dead-leaves mix varies as in use); the best of ``--repeats`` runs after a warm-up is reported.

    python -m benchmarks.bench_synth [--device auto] [--sizes 64 128 256] [--n 16] [--n-disk 16] [--repeats 3]
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch

import rawdiff  # noqa: F401
from benchmarks.common import RowMemory, record
from rawdiff.data.scenes import SceneBank, dead_leaves, random_scenes
from rawdiff.data.synth import (
    lowlight_batch,
    phone2dslr_batch,
    synth_lowlight,
    synth_phone2dslr,
)
from rawdiff.utils import Timer, make_generator, resolve_device


def _best(fn, repeats: int, device) -> float:
    best = float("inf")
    for _ in range(repeats):
        with Timer(device) as t:
            fn()
        best = min(best, t.seconds)
    return best


def main(argv=None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--sizes", type=int, nargs="+", default=[64, 128, 256])
    ap.add_argument("--n", type=int, default=16, help="images per on-the-fly batch")
    ap.add_argument("--n-disk", type=int, default=16, help="images per on-disk dataset")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    dev = resolve_device(args.device)
    bank = SceneBank.load()
    rows = []
    for size in args.sizes:
        mp = args.n * size * size / 1e6
        seeds = iter(range(1, 10**9))   # a fresh seed per call: the photo / dead-leaves mix varies like in use
        cases = {
            "dead_leaves (CPU)": lambda s=size, it=seeds: [dead_leaves(s, make_generator(next(it)), bank=bank)
                                                          for _ in range(args.n)],
            "random_scenes (CPU)": lambda s=size, it=seeds: random_scenes(args.n, s, make_generator(next(it)), bank),
            "phone2dslr_batch": lambda s=size, it=seeds: phone2dslr_batch(args.n, s, make_generator(next(it), dev),
                                                                          dev, bank),
            "lowlight_batch": lambda s=size, it=seeds: lowlight_batch(args.n, s, make_generator(next(it), dev),
                                                                      dev, bank),
        }
        for name, fn in cases.items():
            with RowMemory(dev) as mem:
                fn()  # warm-up
                sec = _best(fn, args.repeats, dev)
            rows.append({"what": name, "size": size, "images": args.n, "sec": sec, "ms_per_image": 1e3 * sec / args.n,
                         "MP_per_s": mp / sec, **mem.figures})
        mp_disk = args.n_disk * size * size / 1e6
        with tempfile.TemporaryDirectory() as tmp:
            for name, writer in (("synth_phone2dslr (disk)", synth_phone2dslr), ("synth_lowlight (disk)", synth_lowlight)):
                def run(writer=writer, size=size):
                    writer(Path(tmp) / "d", n_train=args.n_disk, n_test=0, size=size, seed=0, overwrite=True,
                           progress=False, bank=bank)

                with RowMemory(dev) as mem:
                    sec = _best(run, args.repeats, torch.device("cpu"))
                rows.append({"what": name, "size": size, "images": args.n_disk, "sec": sec,
                             "ms_per_image": 1e3 * sec / args.n_disk, "MP_per_s": mp_disk / sec, **mem.figures})
    return record("synth", dev, rows, title="Synthetic data throughput (megapixels of output per second)")


if __name__ == "__main__":
    main()
