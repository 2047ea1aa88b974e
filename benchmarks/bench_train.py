"""Training throughput of the DiffRAW and DiD UNets at smoke/medium sizes, with the speed options.

Measures a full optimiser step (forward + backward + AdamW) on batches of the real input shapes, after warm-up,
and the UNet forward FLOPs (torch.utils.flop_counter) so the achieved TFLOP/s can be compared with the device
peak.  Options: ``plain`` (fp32, NCHW), ``channels_last``, ``bf16`` (autocast), ``compile`` (torch.compile, NCHW
fp32; ``warmup_s`` holds the compile time), ``default`` (what ``TrainConfig()`` picks on this device: channels_last
on CPU; bf16 autocast + channels_last on CUDA).

    python -m benchmarks.bench_train [--device auto] [--sizes smoke,medium] [--options plain,default,channels_last,bf16,compile]
"""
from __future__ import annotations

import argparse
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from benchmarks.common import RowMemory, record
from rawdiff.peakmem import child_result, run_child
from rawdiff.presets import get_preset
from rawdiff.nn.unet import UNet, count_parameters
from rawdiff.utils import prefers_channels_last, resolve_device

MODELS = {  # name -> (preset field, x channels, image size per scale, batch size per scale)
    "diffraw": ("diffraw_unet", lambda p: p.data.phone_size, "diffraw_train"),
    "did": ("did_unet", lambda p: p.did.patch, "did_train"),
}


def forward_flops(net: UNet, x, t, cond) -> float:
    with FlopCounterMode(display=False) as fc:
        net(x, t, cond)
    return float(fc.get_total_flops())


def bench_one(model: str, scale: str, option: str, device: torch.device, steps: int) -> dict:
    """One row; its memory columns are this row's own peak (benchmarks.common.RowMemory)."""
    with RowMemory(device) as mem:
        row = _bench_one(model, scale, option, device, steps)
    return {**row, **mem.figures}


def _bench_one(model: str, scale: str, option: str, device: torch.device, steps: int) -> dict:
    preset = get_preset(scale)
    field, size_fn, train_field = MODELS[model]
    cfg = getattr(preset, field)
    size, batch = size_fn(preset), getattr(preset, train_field).batch_size
    torch.manual_seed(0)
    net = UNet(cfg).to(device)
    x = torch.randn(batch, cfg.out_channels, size, size, device=device)
    cond = torch.randn(batch, cfg.in_channels - cfg.out_channels, size, size, device=device)
    t = torch.rand(batch, device=device)
    flops = forward_flops(net, x[:1], t[:1], cond[:1]) * batch
    amp = option == "bf16" or (option == "default" and device.type == "cuda")
    if option == "channels_last" or (option == "default" and prefers_channels_last(device, amp)):
        net = net.to(memory_format=torch.channels_last)
        x, cond = (v.contiguous(memory_format=torch.channels_last) for v in (x, cond))
    run = torch.compile(net, dynamic=False) if option == "compile" else net
    opt = torch.optim.AdamW(net.parameters(), lr=1e-4)

    def step():
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            loss = (run(x, t, cond) - x).pow(2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    t_warm = time.perf_counter()
    try:
        for _ in range(2):
            step()
    except Exception as err:  # e.g. torch.compile unsupported here: report, don't crash the suite
        return {"model": model, "scale": scale, "option": option, "status": f"unavailable: {type(err).__name__}: "
                f"{str(err).splitlines()[0][:120]}"}
    if device.type == "cuda":
        torch.cuda.synchronize()
    warmup = time.perf_counter() - t_warm
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    sec = (time.perf_counter() - t0) / steps
    return {"model": model, "scale": scale, "option": option, "params_M": count_parameters(net) / 1e6,
            "batch": batch, "res": size, "ms_per_step": 1e3 * sec, "warmup_s": warmup, "samples_per_s": batch / sec,
            "fwd_gflop_per_batch": flops / 1e9,
            # a training step costs ~3x the forward FLOPs (forward + backward for inputs and weights)
            "train_tflops_achieved": 3 * flops / sec / 1e12, "status": "ok"}


def main(argv=None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--sizes", default="smoke,medium")
    ap.add_argument("--models", default="diffraw,did")
    ap.add_argument("--options", default="plain,default")
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--in-process", action="store_true",
                    help="all rows in this process (default: one process per row, so its memory is its own)")
    ap.add_argument("--one", default=None, help=argparse.SUPPRESS)   # MODEL,SCALE,OPTION: one row, in a child
    args = ap.parse_args(argv)
    device = resolve_device(args.device)
    if args.one:
        child_result(bench_one(*args.one.split(","), device, args.steps))
        return []
    rows = []
    for s in args.sizes.split(","):
        for m in args.models.split(","):
            for o in args.options.split(","):
                if args.in_process:
                    rows.append(bench_one(m, s, o, device, args.steps))
                    continue
                res, tail = run_child(["-m", "benchmarks.bench_train", "--one", f"{m},{s},{o}", "--device",
                                       args.device, "--steps", str(args.steps)])
                rows.append(res or {"model": m, "scale": s, "option": o, "status": f"failed: {tail[-200:]}"})
    return record("train_throughput", device, rows, "Training throughput (UNet optimiser step)")


if __name__ == "__main__":
    main()
