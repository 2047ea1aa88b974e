"""DiD cascade throughput: all tiles of a scale batched through the Heun sampler vs tile by tile.

For a 256x256 dark image at a preset's DiD settings (smoke: scales 32/64/128 -> the image is sampled at 64, 128
and 256 px = 4 + 16 + 64 = 84 tiles of 32x32, 35 network evaluations each), measures seconds per image,
denoiser calls and 32x32 network evaluations per image, with and without ILVR (first 6 of 18 steps), and checks
that batched and tile-by-tile outputs agree (per-tile generators).  The model is in the device's default memory
format (``rawdiff.utils.to_inference``: channels_last on CPU); where that is not NCHW, a batched NCHW run is timed
too, and its output compared with the default's.
The UNet has the preset's architecture with random weights (speed does not depend on the weights; the
output-equality check uses the same weights for both paths).

With ``--few-step`` it also measures the few-step cascade (rawdiff.diffusion.cascade.truncated_sigmas) with
the preset's *trained* DiD model (trained once into the cache, or reused from notebook 05): PSNR on the low-light
test images and OCR word accuracy (rapidocr, paired per word against the paper cascade, rawdiff.stats) versus
32x32 network evaluations per image, for the paper cascade and several ``(sigma_start, steps)`` settings.

    python -m benchmarks.bench_cascade [--device auto] [--scale smoke] [--size 256] [--threads N] [--repeats 1]
                                       [--few-step] [--n-images 8] [--n-words 40]
"""
from __future__ import annotations

import argparse
import copy

import torch

import rawdiff  # noqa: F401
from benchmarks.common import RowMemory, record
from rawdiff.presets import get_preset
from rawdiff.diffusion.edm import karras_sigmas
from rawdiff.norm import LinearNorm
from rawdiff.did.enhance import build_denoiser
from rawdiff.diffusion.cascade import cascade_sample
from rawdiff.utils import Timer, make_generator, prefers_channels_last, resolve_device, to_inference


def _model(preset, device):
    den = build_denoiser(preset.did_unet, preset.edm)
    g = make_generator(0)
    with torch.no_grad():
        for p in den.parameters():  # the UNet zero-initialises its output layers: give them weights
            p.add_(0.02 * torch.randn(p.shape, generator=g))
    return to_inference(den, device)


def main(argv=None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--scale", default="smoke")
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--few-step", action="store_true", help="also measure the few-step cascade (trains/reuses DiD)")
    ap.add_argument("--n-images", type=int, default=8)
    ap.add_argument("--n-words", type=int, default=40)
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    dev = resolve_device(args.device)
    preset = get_preset(args.scale)
    den = _model(preset, dev)
    e, d = preset.did_sampler, preset.did
    sigmas = karras_sigmas(e.num_steps, e.sigma_min, e.sigma_max, e.rho, device=dev)
    dark = torch.rand(1, 3, args.size, args.size, generator=make_generator(1)).to(dev) * 0.2
    default_cl = prefers_channels_last(dev)  # the layout _model's to_inference chose
    runs = [("batched", 4096, den, default_cl), ("tile-by-tile", 1, den, default_cl)]
    if default_cl:  # also time the NCHW layout, to show what the per-device default buys
        runs.append(("batched", 4096, to_inference(copy.deepcopy(den), dev, channels_last=False), False))
    rows = []
    for ilvr in (0, e.ilvr_steps):
        outs = []
        for mode, mb, net, cl in runs:
            kw = dict(scales=d.scales, dark_norm=LinearNorm(), bright_norm=LinearNorm(), sigmas=sigmas,
                      patch=d.patch, ilvr_steps=ilvr, generator=7, max_batch=mb)
            cascade_sample(net, dark[..., :64, :64], **{**kw, "sigmas": karras_sigmas(2, device=dev)})  # warm-up
            best = float("inf")
            with RowMemory(dev) as mem:
                for _ in range(args.repeats):
                    with Timer(dev) as t:
                        res = cascade_sample(net, dark, **kw)
                    best = min(best, t.seconds)
            outs.append((mode, "channels_last" if cl else "nchw", res, best, mem.figures))
        ref, t_single = outs[0][2], outs[1][3]
        for mode, layout, res, sec, figures in outs:
            diff = float((res.image - ref.image).abs().max())
            rows.append({"image": f"{args.size}x{args.size}", "ilvr_steps": ilvr, "mode": mode, "layout": layout,
                         "tiles": sum(res.tiles_per_scale), "tile_nfe_per_image": res.tile_nfe,
                         "denoiser_calls": res.denoiser_calls, "sec_per_image": sec,
                         "speedup_vs_tile_by_tile": t_single / sec, "max_abs_diff_vs_default_batched": diff,
                         "same_to_1e-4": diff < 1e-4, **figures})
    out = record("cascade", dev, rows, title=f"DiD cascade, {args.scale} UNet, batched vs tile-by-tile")
    if args.few_step:
        out += record("cascade_few_step", dev, few_step_rows(preset, dev, args.n_images, args.n_words),
                      title=f"DiD few-step cascade, {args.scale} (trained model)")
    return out


FEW_STEP = ((80.0, 18), (2.0, 6), (2.0, 4), (1.0, 3), (0.5, 2), (0.5, 1))


def few_step_rows(preset, dev, n_images: int, n_words: int, settings=FEW_STEP, seed: int = 0) -> list[dict]:
    """PSNR and OCR word accuracy vs network evaluations for the paper cascade and few-step settings."""
    import dataclasses

    from rawdiff.did import textbench as TB
    from rawdiff.data.datasets import ensure_datasets
    from rawdiff.data.loaders import LowLightDataset
    from rawdiff.did.evaluate import few_step_settings
    from rawdiff.metrics.image import psnr
    from rawdiff.did.ocr import get_engine
    from rawdiff.did.enhance import enhance
    from rawdiff.did.train import DID
    from rawdiff.runs.lifecycle import get_or_train
    from rawdiff.stats import paired_bootstrap, bootstrap_mean
    from rawdiff.utils import derive_seed

    _, root = ensure_datasets(preset.data, seed=seed)
    model = get_or_train(DID, preset, root, normalization="tail", device=dev, progress=False)
    test = LowLightDataset(root, "test")
    idx = range(min(n_images, len(test)))
    dark = torch.stack([test[i]["low"] for i in idx]).float().to(dev)
    bright = torch.stack([test[i]["high"] for i in idx]).float().to(dev)
    words = TB.make_benchmark(n_words, make_generator(derive_seed(seed, "bench-few-step")), "did", [(0.5, 0.1)])
    wmodel = dataclasses.replace(model, did=dataclasses.replace(model.did, scales=model.did.scales[:2]))
    wdark = torch.stack([s.dark for s in words]).to(dev)
    engine = get_engine("rapidocr")
    sts = few_step_settings([p for p in settings if p[0] < preset.did_sampler.sigma_max],
                            preset.did_sampler.num_steps)
    rows, ref_psnr, ref_words = [], None, None
    for st in sts:
        kw = {k: v for k, v in st.items() if k != "setting"}
        with Timer(dev) as t:
            res = enhance(model, dark, generator=seed, **kw)
        p = psnr(res.image, bright).tolist()
        _, pw = TB.evaluate({st["setting"]: list(enhance(wmodel, wdark, generator=seed, **kw).image.cpu())},
                            words, [engine], include_clean=False, return_predictions=True)
        correct = [w["correct"] for w in pw]
        ref_psnr, ref_words = ref_psnr or (p, res.tile_nfe), ref_words or correct
        cw = paired_bootstrap(correct, ref_words, kind="noninferior", margin=0.05)
        cp = paired_bootstrap(p, ref_psnr[0])
        rows.append({"setting": st["setting"], "tile_nfe_per_image": res.tile_nfe,
                     "fewer_nfe": ref_psnr[1] / res.tile_nfe, "psnr": sum(p) / len(p),
                     "psnr_diff_vs_paper": cp.diff, "psnr_lo": cp.lo, "psnr_hi": cp.hi,
                     "word_acc": bootstrap_mean(correct).mean, "word_acc_diff_vs_paper": cw.diff,
                     "word_lo": cw.lo, "word_hi": cw.hi, "n_words": cw.n, "within_5pt": cw.verdict if rows else "reference",
                     "sec_per_image": t.seconds / dark.shape[0]})
    return rows


if __name__ == "__main__":
    main()
