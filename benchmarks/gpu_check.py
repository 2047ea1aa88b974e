"""GPU check (issue 23): what a lent GPU tells us in <= 10 minutes, as one JSON file.

* device facts: name, memory, GPU count, torch / CUDA / cuDNN versions, TF32 and ``cudnn.benchmark`` state
  (before and after rawdiff's training loop ran, which may set them);
* training: steps/s and peak memory of one step of every paper-size network — ISPNet, the DiffRAW UNet, the DiD
  denoiser, the regression UNet — in fp32 and bf16, through the real loop (rawdiff.train.train: AdamW, EMA,
  clipping, checkpoint-free) with the real losses on batches of the preset's shapes held on the device (data
  reading and D² are not timed here; bench_dtdm and the dry run time those).  ``amp`` is bf16 autocast, which
  rawdiff.train applies on CUDA only: on a CPU the bf16 rows say ``amp_applied: false``;
* sampling: DTDM denoiser calls/s (rawdiff.diffraw.sample.develop_dtdm at the preset's image size and
  evaluation chunk) and DiD 32x32 tile evaluations/s (rawdiff.diffusion.cascade.cascade_sample), fp32 and bf16;
* a 2-process DDP run (``torchrun``, NCCL) of the DiD trainer when >= 2 GPUs are visible (``--ddp on`` forces
  it, gloo on a CPU).

``--tiny`` uses the ``smoke`` networks at small sizes so the whole check runs on a CPU in a test
(tests/test_gpu_check.py).  Rows stop being started once ``--budget-s`` is spent (each row says so).

    python -m benchmarks.gpu_check [--tiny] [--device auto] [--out gpu_check.json] [--steps 10] [--ddp auto]
    benchmarks/gpu_check.sh OUT_DIR          # the same on a lent GPU, with nvidia-smi and a log
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch

from benchmarks.common import RowMemory
from rawdiff.presets import get_preset
from rawdiff.utils import make_generator, resolve_device

NETS = ("isp", "diffraw", "did", "regress")
PRECISIONS = ("fp32", "bf16")
DDP_TAG = "GPU-CHECK-DDP "


# ----------------------------------------------------------------------------------------------- facts
def device_facts(dev: torch.device) -> dict:
    facts = {"device": str(dev), "torch": torch.__version__, "python": platform.python_version(),
             "cuda_available": torch.cuda.is_available(), "gpu_count": torch.cuda.device_count(),
             "cpu_threads": torch.get_num_threads(), "host": platform.node()}
    if dev.type == "cuda":
        p = torch.cuda.get_device_properties(dev)
        facts.update(name=p.name, memory_gib=round(p.total_memory / 2**30, 1), capability=f"{p.major}.{p.minor}",
                     multiprocessors=p.multi_processor_count, cuda=torch.version.cuda,
                     cudnn=torch.backends.cudnn.version(), bf16_supported=torch.cuda.is_bf16_supported())
    else:
        facts.update(name=f"cpu ({platform.processor() or platform.machine()})")
    return facts


def precision_state() -> dict:
    return {"matmul_allow_tf32": torch.backends.cuda.matmul.allow_tf32,
            "cudnn_allow_tf32": torch.backends.cudnn.allow_tf32,
            "float32_matmul_precision": torch.get_float32_matmul_precision(),
            "cudnn_benchmark": torch.backends.cudnn.benchmark}


# ----------------------------------------------------------------------------------------------- training
def sizes(tiny: bool) -> dict:
    """Preset and input sizes: paper networks at the paper's batch and crops, or the smoke ones, small."""
    if not tiny:
        return {"preset": get_preset("paper"), "batch": None, "isp_px": None, "dtdm_crop": None,
                "sample_px": None, "sample_chunk": None, "cascade_px": 256, "cascade_steps": 4}
    return {"preset": get_preset("smoke"), "batch": 2, "isp_px": 32, "dtdm_crop": 32, "sample_px": 32,
            "sample_chunk": 2, "cascade_px": 64, "cascade_steps": 2}


def net_and_batch(name: str, preset, sz: dict, dev: torch.device):
    """(network, loss_fn, fixed global batch on ``dev``, TrainConfig) of one kind at the check's sizes."""
    from rawdiff.config import RegressConfig
    from rawdiff.did.enhance import build_denoiser
    from rawdiff.did.regress import RegressLoss, build_regressor, regress_unet_config
    from rawdiff.diffraw.train import build_ispnet, build_unet, diffraw_loss_fn, ispnet_loss
    from rawdiff.diffusion import dtdm as dtdm_mod
    from rawdiff.diffusion.edm import EDMLoss, sample_training_sigmas
    from rawdiff.nn.ispnet import coord_grid

    g = make_generator(0)
    tcfg = {"isp": preset.isp_train, "diffraw": preset.diffraw_train, "did": preset.did_train,
            "regress": preset.regress_train}[name]
    b = sz["batch"] or tcfg.batch_size
    if name == "isp":
        px = sz["isp_px"] or preset.isp_net.train_crop or preset.data.phone_size
        h = px // 2
        batch = {"raw": torch.rand(b, 4, h, h, generator=g), "rgb": torch.rand(b, 3, px, px, generator=g),
                 "coords": coord_grid(b, h, h)}
        net, loss = build_ispnet(preset), ispnet_loss
    elif name == "diffraw":
        px = sz["dtdm_crop"] or preset.dtdm.train_crop or preset.data.phone_size
        t, eps = dtdm_mod.sample_training_inputs(b, preset.dtdm.s, g, (b, 3, px, px))
        batch = {"y": torch.rand(b, 3, px, px, generator=g) * 2 - 1, "x": torch.rand(b, 3, px, px, generator=g) * 2 - 1,
                 "w": torch.rand(b, 4, px // 2, px // 2, generator=g), "t": t, "eps": eps}
        net, loss = build_unet(preset), diffraw_loss_fn(preset.dtdm)
    elif name == "did":
        p = preset.did.patch
        batch = {"target": torch.randn(b, 3, p, p, generator=g) * 0.5, "cond": torch.randn(b, 9, p, p, generator=g),
                 "sigma": sample_training_sigmas(b, g), "noise": torch.randn(b, 3, p, p, generator=g)}
        net = build_denoiser(preset.did_unet, preset.edm)
        loss = EDMLoss(sigma_data=preset.edm.sigma_data, lpips_weight=0.0)
    else:
        c = RegressConfig().crop
        batch = {"x": torch.randn(b, 3, c, c, generator=g), "target": torch.randn(b, 3, c, c, generator=g)}
        net, loss = build_regressor(regress_unet_config(preset)), RegressLoss()
    batch = {k: v.to(dev) for k, v in batch.items()}
    return net, loss, batch, replace(tcfg, batch_size=b)


def train_row(name: str, precision: str, sz: dict, dev: torch.device, steps: int, warmup: int) -> dict:
    """Steps/s of ``steps`` timed steps (after ``warmup``) of the real training loop, and the row's peak memory."""
    from rawdiff.train import train

    preset = sz["preset"]
    with RowMemory(dev) as mem:
        net, loss, batch, tcfg = net_and_batch(name, preset, sz, dev)
        tcfg = replace(tcfg, steps=warmup + steps, amp=precision == "bf16", warmup_steps=0, log_every=10**9,
                       ckpt_every=10**9, compile=False)
        stamps: list[float] = []

        def tick(step, rec):
            if dev.type == "cuda":
                torch.cuda.synchronize(dev)
            stamps.append(time.perf_counter())

        res = train(net, loss, lambda step, gen: batch, tcfg, None, device=dev, progress=False, callback=tick)
    dt = (stamps[-1] - stamps[warmup - 1]) / steps
    n_params = sum(p.numel() for p in res.online.parameters())
    shape = tuple(next(v for v in batch.values() if v.ndim == 4).shape)
    return {"net": name, "precision": precision, "amp_applied": precision == "bf16" and dev.type == "cuda",
            "params_M": round(n_params / 1e6, 2), "batch": tcfg.batch_size, "input": list(shape),
            "steps_per_s": round(1 / dt, 3), "ms_per_step": round(1e3 * dt, 1),
            "samples_per_s": round(tcfg.batch_size / dt, 2), **mem.figures}


# ----------------------------------------------------------------------------------------------- sampling
def dtdm_row(precision: str, sz: dict, dev: torch.device, k: int = 5) -> dict:
    """DTDM at K steps on one evaluation chunk of test-size images: UNet calls/s and images/s."""
    from rawdiff.diffraw.sample import develop_dtdm
    from rawdiff.diffraw.train import build_unet
    from rawdiff.utils import to_inference

    preset = sz["preset"]
    px = sz["sample_px"] or preset.data.phone_size
    n = sz["sample_chunk"] or getattr(preset.dtdm_sampler, "chunk", 8)
    g = make_generator(1)
    with RowMemory(dev) as mem:
        unet = to_inference(build_unet(preset), dev)
        w = torch.rand(n, 4, px // 2, px // 2, generator=g).to(dev)
        c = torch.rand(n, 3, px, px, generator=g).to(dev)
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
            develop_dtdm(unet, w[:1], c[:1], preset.dtdm, 1, generator=make_generator(0, dev))   # warm-up
            _sync(dev)
            t0 = time.perf_counter()
            develop_dtdm(unet, w, c, preset.dtdm, k, generator=make_generator(0, dev))
            _sync(dev)
            sec = time.perf_counter() - t0
    return {"sampler": "dtdm", "precision": precision, "images": n, "image_px": px, "steps": k,
            "denoiser_calls_per_s": round(k / sec, 3), "images_per_s": round(n / sec, 3), **mem.figures}


def did_row(precision: str, sz: dict, dev: torch.device) -> dict:
    """DiD's cascade on one square image: 32x32 tile evaluations/s (all tiles of a level batched)."""
    from rawdiff.diffusion.cascade import cascade_sample
    from rawdiff.diffusion.edm import karras_sigmas
    from rawdiff.did.enhance import build_denoiser
    from rawdiff.norm import LinearNorm
    from rawdiff.utils import to_inference

    preset, px, num_steps = sz["preset"], sz["cascade_px"], sz["cascade_steps"]
    with RowMemory(dev) as mem:
        den = to_inference(build_denoiser(preset.did_unet, preset.edm), dev)
        dark = (torch.rand(1, 3, px, px, generator=make_generator(2)) * 0.2).to(dev)
        kw = dict(scales=preset.did.scales, dark_norm=LinearNorm(), bright_norm=LinearNorm(), patch=preset.did.patch,
                  ilvr_steps=2, generator=0)
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
            cascade_sample(den, dark[..., :preset.did.patch, :preset.did.patch],
                           sigmas=karras_sigmas(2, device=dev), **kw)   # warm-up
            _sync(dev)
            t0 = time.perf_counter()
            res = cascade_sample(den, dark, sigmas=karras_sigmas(num_steps, device=dev), **kw)
            _sync(dev)
            sec = time.perf_counter() - t0
    return {"sampler": "did_cascade", "precision": precision, "image_px": px, "heun_steps": num_steps,
            "tile_nfe": res.tile_nfe, "denoiser_calls": res.denoiser_calls,
            "tile_evals_per_s": round(res.tile_nfe / sec, 1),
            "denoiser_calls_per_s": round(res.denoiser_calls / sec, 2),
            "sec": round(sec, 3), **mem.figures}


def _sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


# ----------------------------------------------------------------------------------------------- DDP
def ddp_row(tiny: bool, steps: int, nproc: int = 2, timeout: float = 240) -> dict:
    """``torchrun --nproc_per_node=nproc`` of the DiD training step (:func:`ddp_child`); rank 0's steps/s."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
           "-m", "benchmarks.gpu_check", "--ddp-child", "--steps", str(steps), *(["--tiny"] if tiny else [])]
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=Path(__file__).parents[1])
    except subprocess.TimeoutExpired:
        return {"ddp": f"timed out after {timeout} s", "nproc": nproc}
    rows = [json.loads(ln[len(DDP_TAG):]) for ln in proc.stdout.splitlines() if ln.startswith(DDP_TAG)]
    if proc.returncode != 0 or not rows:
        tail = [ln for ln in (proc.stdout + proc.stderr).splitlines() if ln.strip()][-3:]
        return {"ddp": f"failed (exit {proc.returncode}): {' | '.join(tail)[:400]}", "nproc": nproc}
    return {"ddp": "ok", "nproc": nproc, "wall_s": round(time.perf_counter() - t0, 1), **rows[0]}


def ddp_child(tiny: bool, steps: int) -> None:
    """One rank of :func:`ddp_row`: the DiD step under DDP (rawdiff.train.train inits the group from torchrun)."""
    from rawdiff.distributed import dist_info, maybe_init_distributed

    dev = maybe_init_distributed("auto")
    rank, world = dist_info()
    sz = sizes(tiny)
    if sz["batch"] is not None:
        sz = {**sz, "batch": sz["batch"] * world}   # the global batch: each rank keeps its share
    row = train_row("did", "bf16" if dev.type == "cuda" else "fp32", sz, dev, steps, warmup=2)
    if rank == 0:
        print(DDP_TAG + json.dumps({**row, "world": world, "backend": torch.distributed.get_backend()}), flush=True)
    torch.distributed.destroy_process_group()


# ----------------------------------------------------------------------------------------------- main
def run_check(tiny: bool = False, device: str = "auto", steps: int = 10, warmup: int = 3, ddp: str = "auto",
              budget_s: float = 540.0, nets=NETS, precisions=PRECISIONS, sampling: bool = True, echo=print) -> dict:
    dev = resolve_device(device)
    t_start = time.perf_counter()
    out = {"check": "gpu_check", "tiny": tiny, "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
           "facts": device_facts(dev), "precision_before": precision_state(), "train": [], "sampling": []}
    sz = sizes(tiny)

    def run(section: str, label: str, fn, *args):
        if time.perf_counter() - t_start > budget_s:
            row = {"row": label, "status": f"skipped: the {budget_s:.0f} s budget is spent"}
        else:
            t0 = time.perf_counter()
            try:
                row = {"row": label, "status": "ok", **fn(*args), "row_s": round(time.perf_counter() - t0, 2)}
            except Exception as err:   # a row that fails is a finding (e.g. out of memory): record it, go on
                row = {"row": label, "status": f"failed: {type(err).__name__}: {str(err).splitlines()[0][:300]}"}
                if dev.type == "cuda":
                    torch.cuda.empty_cache()
        out[section].append(row)
        if echo:
            echo(json.dumps(row))

    for name in nets:
        for prec in precisions:
            run("train", f"{name}/{prec}", train_row, name, prec, sz, dev, steps, warmup)
    out["precision_after_training"] = precision_state()
    for prec in precisions if sampling else ():
        run("sampling", f"dtdm/{prec}", dtdm_row, prec, sz, dev)
        run("sampling", f"did/{prec}", did_row, prec, sz, dev)
    gpus = torch.cuda.device_count() if dev.type == "cuda" else 0
    if ddp == "on" or (ddp == "auto" and gpus >= 2):
        out["ddp"] = ddp_row(tiny, steps)
    else:
        out["ddp"] = {"ddp": f"not run: {gpus} GPU(s) visible (needs >= 2; --ddp on forces it)"}
    out["seconds"] = round(time.perf_counter() - t_start, 1)
    return out


def main(argv=None) -> dict | None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tiny", action="store_true", help="smoke networks at small sizes (runs on a CPU in seconds)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--out", default=None, help="JSON file (default: $OUT/gpu_check.json when $OUT is set, "
                                                 "else build/gpu_check.json)")
    ap.add_argument("--steps", type=int, default=10, help="timed training steps per row (after 3 warm-up steps)")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--ddp", choices=("auto", "on", "off"), default="auto")
    ap.add_argument("--budget-s", type=float, default=540.0, help="start no new row after this many seconds")
    ap.add_argument("--nets", default=",".join(NETS))
    ap.add_argument("--precisions", default=",".join(PRECISIONS))
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    ap.add_argument("--ddp-child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.ddp_child:
        ddp_child(args.tiny, args.steps)
        return None
    res = run_check(args.tiny, args.device, args.steps, args.warmup, args.ddp, args.budget_s,
                    tuple(args.nets.split(",")), tuple(args.precisions.split(",")))
    path = Path(args.out or (Path(os.environ["OUT"]) / "gpu_check.json" if os.environ.get("OUT")
                             else Path("build") / "gpu_check.json"))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(res, indent=1, default=str))
    print(f"gpu check: {res['seconds']} s; results in {path}")
    return res


if __name__ == "__main__":
    main()
