"""DiD cascade throughput: all tiles of a scale batched through the Heun sampler vs tile by tile.

For a 256x256 dark image at a preset's DiD settings (smoke: scales 32/64/128 -> the image is sampled at 64, 128
and 256 px = 4 + 16 + 64 = 84 tiles of 32x32, 35 network evaluations each), measures seconds per image,
denoiser calls and 32x32 network evaluations per image, with and without ILVR (first 6 of 18 steps), and checks
that batched and tile-by-tile outputs agree (per-tile generators; max abs difference must be < 1e-5).
The UNet has the preset's architecture with random weights (speed does not depend on the weights; the
output-equality check uses the same weights for both paths).

    python -m benchmarks.bench_cascade [--device auto] [--scale smoke] [--size 256] [--threads N] [--repeats 1]
"""
from __future__ import annotations

import argparse

import torch

import rawdiff  # noqa: F401
from benchmarks.common import peak_memory, record
from rawdiff.config import get_preset
from rawdiff.diffusion.edm import karras_sigmas
from rawdiff.norm import LinearNorm
from rawdiff.pipelines.did import build_denoiser
from rawdiff.diffusion.cascade import cascade_sample
from rawdiff.utils import Timer, make_generator, resolve_device


def _model(preset, device):
    den = build_denoiser(preset.did_unet, preset.edm)
    g = make_generator(0)
    with torch.no_grad():
        for p in den.parameters():  # the UNet zero-initialises its output layers: give them weights
            p.add_(0.02 * torch.randn(p.shape, generator=g))
    return den.to(device).eval()


def main(argv=None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--scale", default="smoke")
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    ap.add_argument("--repeats", type=int, default=1)
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    dev = resolve_device(args.device)
    preset = get_preset(args.scale)
    den = _model(preset, dev)
    e, d = preset.edm, preset.did
    sigmas = karras_sigmas(e.num_steps, e.sigma_min, e.sigma_max, e.rho, device=dev)
    dark = torch.rand(1, 3, args.size, args.size, generator=make_generator(1)).to(dev) * 0.2
    rows = []
    for ilvr in (0, d.ilvr_steps):
        outs = {}
        for mode, mb in (("batched", 4096), ("tile-by-tile", 1)):
            kw = dict(scales=d.scales, dark_norm=LinearNorm(), bright_norm=LinearNorm(), sigmas=sigmas,
                      patch=d.patch, ilvr_steps=ilvr, generator=7, max_batch=mb)
            cascade_sample(den, dark[..., :64, :64], **{**kw, "sigmas": karras_sigmas(2, device=dev)})  # warm-up
            best = float("inf")
            for _ in range(args.repeats):
                with Timer(dev) as t:
                    res = cascade_sample(den, dark, **kw)
                best = min(best, t.seconds)
            outs[mode] = (res, best)
        (rb, _), (rs, ts) = outs["batched"], outs["tile-by-tile"]
        diff = float((rb.image - rs.image).abs().max())
        for mode, (res, sec) in outs.items():
            rows.append({"image": f"{args.size}x{args.size}", "ilvr_steps": ilvr, "mode": mode,
                         "tiles": sum(res.tiles_per_scale), "tile_nfe_per_image": res.tile_nfe,
                         "denoiser_calls": res.denoiser_calls, "sec_per_image": sec,
                         "speedup_vs_tile_by_tile": ts / sec, "max_abs_diff_vs_batched": diff if mode != "batched"
                         else 0.0, "same_to_1e-5": diff < 1e-5})
    rows = [{**r, **peak_memory(dev)} for r in rows]
    return record("cascade", dev, rows, title=f"DiD cascade, {args.scale} UNet, batched vs tile-by-tile")


if __name__ == "__main__":
    main()
