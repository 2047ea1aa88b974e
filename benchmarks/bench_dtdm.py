"""DTDM efficiency: quality and time of DTDM at <= 10 steps vs many-step sampling from noise, and training speed.

Uses the trained networks of the scale from the notebook cache (rawdiff.runs.lifecycle.get_or_train; trains
them when absent): the DTDM UNet (t <= s, domain shift) and the baseline UNet with the same architecture,
conditions (RAW + c) and budget trained on ordinary DDPM marginals (gamma = 0, t in 1..T).  Evaluation is
rawdiff.diffraw.evaluate, as in notebook 04: all methods on the **same** test images (``--n-images``,
default all), ``--seeds`` noise seeds averaged per image, metrics against the target aligned into the RAW's
geometry, the sanity gates, and the verdicts of rawdiff.claims (``dtdm_steps``: non-inferior to the many-step
reference ``--reference`` at >= 20x fewer NFE; ``dtdm_equal_nfe``: better than DDIM at K = 5, 10) with
paired bootstrap intervals.  Also reports DiffRAW training steps/s (UNet + on-the-fly D², batch and crop of
the preset) and ISPNet steps/s.

    python -m benchmarks.bench_dtdm [--device auto] [--scale smoke] [--n-images N] [--seeds 0,1,2]
                                    [--reference ddpm|<DDIM steps>] [--threads N] [--cache-dir D]
"""
from __future__ import annotations

import argparse
import time

import torch

import rawdiff  # noqa: F401
from benchmarks.common import RowMemory, record
from rawdiff.presets import get_preset
from rawdiff.diffraw.data import prepare_data
from rawdiff.diffraw.sample import Method, run_ispnet
from rawdiff.runs.store import train_config
from rawdiff.diffraw.train import (build_ispnet, build_unet, DIFFRAW, diffraw_batch_fn, diffraw_loss_fn, ISP, ispnet_batch_fn, ispnet_loss)
from rawdiff.runs.lifecycle import get_or_train
from rawdiff.utils import resolve_device


def _train_speed(preset, data, dev, steps: int = 20) -> list[dict]:
    """Optimiser steps per second for ISPNet and the DiffRAW UNet (first 3 steps excluded as warm-up)."""
    from rawdiff.train import train

    rows = []
    for name in ("ispnet", "diffraw (dtdm)"):
        times: list[float] = []

        def cb(step, rec):
            times.append(time.perf_counter())

        with RowMemory(dev) as mem:
            if name == "ispnet":
                tcfg = train_config(preset.isp_train, 1, steps)
                train(build_ispnet(preset), ispnet_loss, ispnet_batch_fn(data.to(dev), tcfg.batch_size,
                      preset.isp_net.train_crop), tcfg, None, device=dev, progress=False, callback=cb)
                crop, full = preset.isp_net.train_crop, preset.isp_train.steps
            else:
                tcfg = train_config(preset.diffraw_train, 1, steps)
                train(build_unet(preset), diffraw_loss_fn(preset.dtdm), diffraw_batch_fn(data.to(dev),
                      tcfg.batch_size, preset.dtdm), tcfg, None, device=dev, progress=False, callback=cb)
                crop, full = preset.dtdm.train_crop, preset.diffraw_train.steps
        dt = (times[-1] - times[2]) / (len(times) - 3)
        rows.append({"model": name, "batch": tcfg.batch_size, "crop_px": crop or data.rgb.shape[-1],
                     "ms_per_step": round(dt * 1000, 1), "steps_per_s": round(1 / dt, 2),
                     "preset_steps": full, "est_train_s": round(dt * full, 1), **mem.figures})
    return rows


def main(argv=None) -> list[dict]:
    from rawdiff.claims.common import UNMEASURABLE, Unmeasurable
    from rawdiff.claims.diffraw import dtdm_comparisons, rule_dtdm, rule_dtdm_equal_nfe
    from rawdiff.diffraw import evaluate as E

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--scale", default="smoke")
    ap.add_argument("--n-images", type=int, default=None, help="test images (default: the whole test split)")
    ap.add_argument("--steps", default="1,2,5,10", help="step counts K for DTDM and DDIM-from-noise")
    ap.add_argument("--seeds", default="0,1,2", help="noise seeds per sampler row (averaged per image)")
    ap.add_argument("--reference", default="50", help="many-step reference: 'ddpm' (1000 NFE) or DDIM steps")
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
    data = prepare_data(preset, seed=args.seed, data_root=args.data_root, cache_dir=args.cache_dir)
    kw = dict(cache_dir=args.cache_dir, device=dev, seed=args.seed, progress=False)
    isp = get_or_train(ISP, preset, data.train, data.fingerprint, **kw)
    dtdm_net = get_or_train(DIFFRAW, preset, data.train, data.fingerprint, **kw)
    ddpm_net = get_or_train(DIFFRAW, preset, data.train, data.fingerprint, mode="ddpm", **kw)
    test = (data.test if args.n_images is None else data.test.subset(args.n_images)).to(dev)
    c = run_ispnet(isp.model, test.raw)
    M = Method
    ks = [int(k) for k in args.steps.split(",")]
    seeds = [int(s) for s in args.seeds.split(",")]
    methods = [M("ispnet")] + [M("dtdm", k, s=cfg.s) for k in ks] + [M("ddim", k) for k in ks]
    methods += [M("truncated", 10, s=cfg.s), M("ddpm") if args.reference == "ddpm" else M("ddim", int(args.reference))]
    aligned = E.aligned_reference(test, c)
    rows = E.evaluate_per_image(methods, test, c_test=c, nets={"dtdm": {cfg.s: dtdm_net.model}, "ddpm": ddpm_net.model},
                                cfg=cfg, seeds=seeds, device=dev, aligned=aligned)
    rows += E.gate_rows(dtdm_net.model, test, cfg, seeds=seeds, device=dev)
    summary = E.summarise(rows, ["aligned_psnr", "cc_psnr", "aligned_ssim", "spectrum_distance", "sharpness_ratio"])
    ref = max((r for r in summary if r["method"] in ("ddpm", "ddim")), key=lambda r: r["nfe"])
    for r in summary:
        r["nfe_ratio_vs_ref"] = round(ref["nfe"] / r["nfe"], 1) if r["nfe"] else None
        r["speedup_vs_ref"] = round(ref["sec_per_image"] / r["sec_per_image"], 1) if r["sec_per_image"] else None
    record("dtdm_vs_reference", dev, summary, title=f"DTDM vs {ref['method']}-{ref['steps']} on the same {len(test)} "
           f"test images x {len(seeds)} seeds ({preset.name}; aligned metrics, 95% intervals)")
    record("dtdm_comparisons", dev, dtdm_comparisons(rows, seed=args.seed), title="paired comparisons")
    str_rows = [{k: ("" if v is None else str(v)) for k, v in r.items()} for r in rows]
    for rule in (rule_dtdm, rule_dtdm_equal_nfe):
        try:
            verdict, evidence = rule(str_rows)
        except Unmeasurable as why:
            verdict, evidence = UNMEASURABLE, str(why)
        print(f"\n{rule.__name__}: {verdict}\n  {evidence}")
    if not args.skip_train_speed:
        speed = _train_speed(preset, data.train, dev)
        record("dtdm_train_speed", dev, speed, title="training speed")
    return summary


if __name__ == "__main__":
    main()
