"""Streaming training data (issue 23): peak memory and time to the first batch against the size of the training set,
and D² time against a DiffRAW training step at ``paper`` crop sizes.

``--what rss`` writes, under a temporary folder that is deleted afterwards, real-size training sets with simple
content for each ``--n`` (default 200 and 2000 pairs):

* ZRR layout (rawdiff.data.loaders.ZRRDataset): ``train/huawei_raw/{i}.png`` 16-bit 448 x 448 Bayer mosaics (the
  real ZRR's size: packed RAW 4 x 224 x 224) and ``train/canon/{i}.jpg`` 448 x 448 DSLR images;
* LOL layout: ``our485/low|high/{i}.png`` 600 x 400 pairs;

then runs, **each case in its own subprocess** (its peak is its own ``VmHWM``), ``rawdiff train isp`` and
``rawdiff train did`` (the CLI, ``--steps 2``) and rawdiff.diffraw.train.train_diffraw with ``steps=2`` (the
function ``rawdiff train diffraw`` calls after training ISPNet to the preset's step count, which would dominate).
Nets are the ``--scale`` preset's (default ``smoke``: the paper nets take minutes per step on a CPU); image sizes
are real.  Per case: peak RSS (MiB), seconds from process start to the first batch, total seconds, the seconds
spent in rawdiff.runs.store.data_digest (the run's data fingerprint, hashed after training by the CLI), and
whether the split streamed.

``--what d2`` times D² (rawdiff.camera.degrade) on a ``paper`` DiffRAW batch (16 x 3 x 256 x 256) and one
optimiser step of the ``paper`` DiffRAW UNet at ``--step-batch`` samples of 256 x 256 (the full batch of 16 does not
fit a small machine's memory; the step is reported per sample too).

    python -m benchmarks.bench_stream [--what rss,d2] [--n 200,2000] [--scale smoke] [--threads 1]
"""
from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


# ----------------------------------------------------------------------------------------------- data
def _blocky(rs: np.random.Generator, h: int, w: int, c: int, hi: int, dtype) -> np.ndarray:
    """Simple content: 16 x 16 px blocks of random values plus a little noise (quick to encode)."""
    base = rs.integers(0, hi, (h // 16 + 1, w // 16 + 1, c)).repeat(16, 0).repeat(16, 1)[:h, :w]
    img = base + rs.integers(0, max(2, hi // 64), (h, w, c))
    return np.clip(img, 0, hi - 1).astype(dtype).squeeze()


def write_zrr(root: Path, n: int, size: int = 448, seed: int = 0) -> Path:
    from PIL import Image

    from rawdiff.data.write import write_png16

    rs = np.random.default_rng(seed)
    (root / "train" / "huawei_raw").mkdir(parents=True)
    (root / "train" / "canon").mkdir(parents=True)
    for i in range(n):
        write_png16(root / "train" / "huawei_raw" / f"{i}.png", _blocky(rs, size, size, 1, 1024, np.uint16),
                    atomic=False)
        Image.fromarray(_blocky(rs, size, size, 3, 256, np.uint8)).save(root / "train" / "canon" / f"{i}.jpg",
                                                                         quality=90)
    return root


def write_lol(root: Path, n: int, w: int = 600, h: int = 400, seed: int = 0) -> Path:
    from PIL import Image

    rs = np.random.default_rng(seed)
    for side in ("low", "high"):
        (root / "our485" / side).mkdir(parents=True)
    for i in range(n):
        img = _blocky(rs, h, w, 3, 256, np.uint8)
        Image.fromarray(img).save(root / "our485" / "high" / f"{i}.png", compress_level=1)
        Image.fromarray((img // 8).astype(np.uint8)).save(root / "our485" / "low" / f"{i}.png", compress_level=1)
    return root


# ----------------------------------------------------------------------------------------------- one case
def _vm_hwm_mib() -> float:
    """This process's own peak resident set (``VmHWM``; ``ru_maxrss`` may carry the parent's across fork + exec)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(kind: str, data: str, out: str, scale: str, threads: int) -> None:
    """Run one training case in this process and print its figures as one JSON line."""
    t0 = time.perf_counter()
    import torch

    torch.set_num_threads(threads)
    import rawdiff.runs.store as store
    import rawdiff.train as T

    marks: dict = {"digest_s": 0.0}
    orig_batches, orig_digest = T.step_batches, store.data_digest

    def batches(*a, **k):
        for i, item in enumerate(orig_batches(*a, **k)):
            if i == 0:
                marks["first_batch_s"] = time.perf_counter() - t0
            yield item

    def digest(*a, **k):
        t = time.perf_counter()
        try:
            return orig_digest(*a, **k)
        finally:
            marks["digest_s"] += time.perf_counter() - t

    T.step_batches, store.data_digest = batches, digest
    if kind == "diffraw":
        from rawdiff.diffraw.data import load_phone
        from rawdiff.diffraw.train import train_diffraw
        from rawdiff.presets import get_preset

        phone = load_phone(data, "train")
        marks["streamed"] = phone.is_lazy
        train_diffraw(get_preset(scale), phone, out, "cpu", progress=False, steps=2)
    else:
        from rawdiff.cli import main

        if kind == "did":
            from rawdiff.data.loaders import LowLightDataset
            from rawdiff.did.train import lowlight_storage

            storage = lowlight_storage(LowLightDataset(data, "train"))   # the bench writes 8-bit PNGs
            marks["streamed"] = storage == "disk"
            marks["storage"] = {"float32": "float32 in memory", "8-bit": "8-bit in memory",
                                "disk": "streamed from disk"}[storage]
        else:
            from rawdiff.data.loaders import ZRRDataset
            from rawdiff.data.stream import IN_MEMORY_BYTES

            ds = ZRRDataset(data, "train")
            marks["streamed"] = len(ds) * ds.pair_nbytes() > IN_MEMORY_BYTES
        rc = main(["train", kind, "--data", data, "--out", out, "--steps", "2", "--scale", scale, "--no-progress",
                   "--device", "cpu"])
        if rc:
            raise SystemExit(rc)
    marks["total_s"] = time.perf_counter() - t0
    marks["peak_rss_mib"] = _vm_hwm_mib()
    marks["ru_maxrss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("RESULT " + json.dumps(marks))


def run_case(kind: str, data: Path, out: Path, scale: str, threads: int) -> dict:
    cmd = [sys.executable, "-m", "benchmarks.bench_stream", "--child", kind, "--data", str(data), "--out", str(out),
           "--scale", scale, "--threads", str(threads)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode or not lines:
        raise RuntimeError(f"{kind} on {data} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return json.loads(lines[-1][len("RESULT "):])


def bench_rss(ns: list[int], scale: str, threads: int, cases=("isp", "diffraw", "did")) -> list[dict]:
    rows = []
    base = Path(tempfile.mkdtemp(prefix="rawdiff-bench-stream-", dir="/tmp"))
    try:
        for n in ns:
            t = time.perf_counter()
            zrr = write_zrr(base / f"zrr-{n}", n) if {"isp", "diffraw"} & set(cases) else None
            lol = write_lol(base / f"lol-{n}", n) if "did" in cases else None
            print(f"wrote {n}-pair sets in {time.perf_counter() - t:.0f} s", flush=True)
            for kind, data in (("isp", zrr), ("diffraw", zrr), ("did", lol)):
                if kind not in cases:
                    continue
                r = run_case(kind, data, base / f"run-{kind}-{n}", scale, threads)
                rows.append({"case": kind, "n_pairs": n, **r})
                print(json.dumps(rows[-1]), flush=True)
                shutil.rmtree(base / f"run-{kind}-{n}", ignore_errors=True)
            for d in (zrr, lol):
                if d is not None:
                    shutil.rmtree(d)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    small = {r["case"]: r for r in rows if r["n_pairs"] == min(ns)}
    for r in rows:
        r["rss_ratio"] = r["peak_rss_mib"] / small[r["case"]]["peak_rss_mib"]
        r["first_batch_ratio"] = r["first_batch_s"] / small[r["case"]]["first_batch_s"]
    return rows


# ----------------------------------------------------------------------------------------------- D²
def bench_d2(threads: int, step_batch: int, repeats: int = 3) -> list[dict]:
    import torch

    from rawdiff.camera.degrade import degrade
    from rawdiff.diffraw.train import build_unet, diffraw_loss_fn
    from rawdiff.presets import get_preset

    torch.set_num_threads(threads)
    p = get_preset("paper")
    crop, B = p.dtdm.train_crop, p.diffraw_train.batch_size
    g = torch.Generator().manual_seed(0)
    y = torch.nn.functional.interpolate(torch.rand(B, 3, crop // 16, crop // 16, generator=g), size=(crop, crop),
                                        mode="bilinear", align_corners=False)
    d2 = []
    for r in range(repeats):
        t = time.perf_counter()
        degrade(y, torch.Generator().manual_seed(r))
        d2.append(time.perf_counter() - t)
    net = build_unet(p).train()
    opt = torch.optim.AdamW(net.parameters(), lr=1e-4)
    loss_fn = diffraw_loss_fn(p.dtdm)
    b = step_batch
    batch = {"y": y[:b] * 2 - 1, "x": y[:b] * 2 - 1, "w": torch.rand(b, 4, crop // 2, crop // 2),
             "t": torch.randint(1, p.dtdm.s + 1, (b,), generator=g), "eps": torch.randn(b, 3, crop, crop, generator=g)}
    steps = []
    for _ in range(2):
        t = time.perf_counter()
        loss = loss_fn(net, batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
        steps.append(time.perf_counter() - t)
    d2_s = min(d2)
    step_s = steps[-1]
    return [{"what": "D² per batch", "batch": B, "crop": crop, "seconds": d2_s, "per_sample_s": d2_s / B},
            {"what": "DiffRAW paper UNet step", "batch": b, "crop": crop, "seconds": step_s,
             "per_sample_s": step_s / b, "d2_share_per_sample": (d2_s / B) / (step_s / b)}]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--what", default="rss,d2")
    ap.add_argument("--n", default="200,2000")
    ap.add_argument("--cases", default="isp,diffraw,did")
    ap.add_argument("--scale", default="smoke")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--step-batch", type=int, default=2)
    ap.add_argument("--child")
    ap.add_argument("--data")
    ap.add_argument("--out")
    args = ap.parse_args(argv)
    if args.child:
        child(args.child, args.data, args.out, args.scale, args.threads)
        return
    import torch

    from benchmarks.common import record

    what = args.what.split(",")
    if "rss" in what:
        record("stream_rss", torch.device("cpu"), bench_rss([int(v) for v in args.n.split(",")], args.scale,
                                                             args.threads, args.cases.split(",")),
               title=f"training on N pairs: peak RSS and time to the first batch ({args.scale} nets, real sizes)")
    if "d2" in what:
        record("stream_d2", torch.device("cpu"), bench_d2(args.threads, args.step_batch),
               title="D² vs a paper-size DiffRAW training step")


if __name__ == "__main__":
    main()
