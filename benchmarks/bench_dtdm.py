"""DTDM efficiency: quality and time of DTDM at <= 10 steps vs DDPM-1000 from noise, and training speed.

Uses the trained smoke networks from the notebook cache (rawdiff.pipelines.diffraw.get_or_train_*; trains
them when absent): the DTDM UNet (t <= s, domain shift) and the baseline UNet with the same architecture,
conditions (RAW + c) and budget trained on ordinary DDPM marginals (gamma = 0, t in 1..T).  All methods run
on the **same** ``--n-images`` test images with the same seed.  Target (DESIGN.md §3 / the issue): DTDM
at <= 10 steps with >= 100x fewer NFE than DDPM-1000 at equal or better PSNR and SSIM.  Also reports
DiffRAW training steps/s (UNet + on-the-fly D², batch and crop of the preset) and ISPNet steps/s.

    python -m benchmarks.bench_dtdm [--device auto] [--scale smoke] [--n-images 4] [--threads N] [--cache-dir D]
"""
from __future__ import annotations

import argparse
import time

import torch

import rawdiff  # noqa: F401
from benchmarks.common import peak_memory, record
from rawdiff.config import get_preset
from rawdiff.pipelines import diffraw as P
from rawdiff.utils import resolve_device


def _train_speed(preset, data, dev, steps: int = 20) -> list[dict]:
    """Optimiser steps per second for ISPNet and the DiffRAW UNet (first 3 steps excluded as warm-up)."""
    from rawdiff.train import train

    rows = []
    for name in ("ispnet", "diffraw (dtdm)"):
        times: list[float] = []

        def cb(step, rec):
            times.append(time.perf_counter())

        if name == "ispnet":
            tcfg = P._train_cfg(preset.isp_train, 1, steps)
            train(P.build_ispnet(preset), P.ispnet_loss, P.ispnet_batch_fn(data.to(dev), tcfg.batch_size,
                  preset.isp_net.train_crop), tcfg, None, device=dev, progress=False, callback=cb)
            crop, full = preset.isp_net.train_crop, preset.isp_train.steps
        else:
            tcfg = P._train_cfg(preset.diffraw_train, 1, steps)
            train(P.build_unet(preset), P.diffraw_loss_fn(preset.dtdm), P.diffraw_batch_fn(data.to(dev),
                  tcfg.batch_size, preset.dtdm), tcfg, None, device=dev, progress=False, callback=cb)
            crop, full = preset.dtdm.train_crop, preset.diffraw_train.steps
        dt = (times[-1] - times[2]) / (len(times) - 3)
        rows.append({"model": name, "batch": tcfg.batch_size, "crop_px": crop or data.rgb.shape[-1],
                     "ms_per_step": round(dt * 1000, 1), "steps_per_s": round(1 / dt, 2),
                     "preset_steps": full, "est_train_s": round(dt * full, 1)})
    return rows


def main(argv=None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--scale", default="smoke")
    ap.add_argument("--n-images", type=int, default=4, help="test images (DDPM-1000 costs 1000 NFE each)")
    ap.add_argument("--steps", default="1,2,5,10", help="step counts K for DTDM and DDIM-from-noise")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    ap.add_argument("--cache-dir", default=None)
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--skip-train-speed", action="store_true")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    dev = resolve_device(args.device)
    preset = get_preset(args.scale)
    cfg = preset.dtdm
    data = P.prepare_data(preset, seed=args.seed, data_root=args.data_root, cache_dir=args.cache_dir)
    kw = dict(cache_dir=args.cache_dir, device=dev, seed=args.seed, progress=False)
    isp = P.get_or_train_ispnet(preset, data.train, data.fingerprint, **kw)
    dtdm_net = P.get_or_train_diffraw(preset, data.train, data.fingerprint, **kw)
    ddpm_net = P.get_or_train_diffraw(preset, data.train, data.fingerprint, mode="ddpm", **kw)
    test = data.test.subset(args.n_images).to(dev)
    c = P.run_ispnet(isp.model, test.raw)
    M = P.Method
    ks = [int(k) for k in args.steps.split(",")]
    methods = [M("ispnet")] + [M("dtdm", k, s=cfg.s) for k in ks] + [M("ddim", k) for k in ks]
    methods += [M("truncated", 10, s=cfg.s), M("ddpm")]
    rows = P.evaluate(methods, test, c_test=c, nets={"dtdm": {cfg.s: dtdm_net.model}, "ddpm": ddpm_net.model},
                      cfg=cfg, seed=args.seed, device=dev)
    ddpm = next(r for r in rows if r["method"] == "ddpm")
    for r in rows:
        r["nfe_ratio_vs_ddpm"] = round(ddpm["nfe"] / r["nfe"], 1) if r["nfe"] else None
        r["speedup_vs_ddpm"] = round(ddpm["sec_per_image"] / r["sec_per_image"], 1) if r["sec_per_image"] else None
    ok = [r for r in rows if r["method"] == "dtdm" and r["nfe"] * 100 <= ddpm["nfe"]
          and r["psnr"] >= ddpm["psnr"] and r["ssim"] >= ddpm["ssim"]]
    record("dtdm_vs_ddpm", dev, rows, title=f"DTDM vs DDPM-1000 on the same {len(test)} test images ({preset.name})")
    print(f"\ntarget (DTDM <= 10 steps, >= 100x fewer NFE, PSNR and SSIM >= DDPM-1000): "
          f"{'MET by K = ' + ', '.join(str(r['steps']) for r in ok) if ok else 'NOT met'}")
    if not args.skip_train_speed:
        speed = _train_speed(preset, data.train, dev)
        record("dtdm_train_speed", dev, [{**r, **peak_memory(dev)} for r in speed], title="training speed")
    return rows


if __name__ == "__main__":
    main()
