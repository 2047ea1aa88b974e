"""Where do the grey casts of a developed RAW come from?  ISPNet trained three ways on the same synthetic scenes.

``rawdiff develop`` renders the large grey patches of :func:`rawdiff.camera.dng.grey_chart` with CIEDE2000 ~2-10 to
neutral (benchmarks/bench_greys.py), also for the nets' own camera, so the casts are learned, not an ingestion
error.  The synthetic phone pairs (rawdiff.camera.phone) hide two unknown colour factors from the nets: the
random camera's white balance (Brooks et al. ranges, red 1.9-2.4, blue 1.5-1.9, drawn per image) and DiffRAW's
"unstable colour mapping" between phone and DSLR (per-pair gains +-12 %, a near-identity colour matrix, gamma).
This script trains ISPNet (the preset's size and schedule) on

* ``as synthesised``: the pairs as the datasets hold them;
* ``white balance known``: the phone RAW multiplied by its own (known) white-balance gains, as a canonical input
  white-balanced by the file's gains would be; evaluated on the white-balanced reference recording;
* ``white balance known, no colour gap``: also without the phone-vs-DSLR colour transform;

and reports the grey-patch errors of each on the reference camera's recording of three grey charts.  Not a test:
one training seed per variant, numbers describe that run.

    python -m benchmarks.bench_grey_sources [--scale study] [--pairs 1200] [--steps N]
"""
from __future__ import annotations

import argparse
import time
from dataclasses import replace

import numpy as np
import torch

import rawdiff  # noqa: F401
from benchmarks.common import record

VARIANTS = ("as synthesised", "white balance known", "white balance known, no colour gap")


def make_pairs(n: int, size: int, seed: int, gap) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(packed RAW N x 4 x size/2 x size/2, DSLR N x 3 x size x size, RGGB white-balance gains N x 4)``."""
    from rawdiff.camera.bayer import pack
    from rawdiff.camera.phone import phone_dslr_pair
    from rawdiff.data.scenes import SceneBank, random_scene

    g = torch.Generator().manual_seed(seed)
    bank = SceneBank.load()
    scenes = torch.stack([random_scene(size, g, bank) for _ in range(n)])
    pair = phone_dslr_pair(scenes, g, gap)
    cam = pair["meta"]["camera"]
    one = torch.ones_like(cam.red_gain)
    return pack(pair["raw_mosaic"]), pair["dslr"], torch.stack([cam.red_gain, one, one, cam.blue_gain], 1)


def main(argv=None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", default="study", help="preset whose ISPNet size and training schedule are used")
    ap.add_argument("--pairs", type=int, default=1200, help="synthetic training pairs (64 px)")
    ap.add_argument("--steps", type=int, default=None, help="training steps (default: the preset's)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    from rawdiff.camera.dng import grey_chart, grey_errors, reference_recording
    from rawdiff.camera.phone import PhoneGap
    from rawdiff.camera.rawfile import reference_camera
    from rawdiff.presets import get_preset
    from rawdiff.nn.ispnet import coord_grid
    from rawdiff.diffraw.data import PhoneData
    from rawdiff.diffraw.train import train_ispnet

    preset = get_preset(args.scale)
    ref = reference_camera()
    ref_wb = torch.tensor([float(ref.red_gain), 1.0, 1.0, float(ref.blue_gain)]).view(1, 4, 1, 1)
    charts = [grey_chart(seed=s) for s in (0, 1, 2)]
    rows = []
    for variant in VARIANTS:
        gap = PhoneGap()
        if variant.endswith("no colour gap"):
            gap = replace(gap, color_jitter=0.0, gain_jitter=0.0, gamma_jitter=0.0)
        raw, rgb, wb = make_pairs(args.pairs, 64, args.seed, gap)
        balanced = variant != "as synthesised"
        if balanced:
            raw = (raw * wb[:, :, None, None]).clamp(0, 1)
        t = time.perf_counter()
        res = train_ispnet(preset, PhoneData(raw, rgb, [str(i) for i in range(len(raw))]), None, "cpu",
                           progress=False, seed=args.seed, steps=args.steps)
        seconds = time.perf_counter() - t
        isp = res.model.eval()
        errs = []
        for lin, patches in charts:
            packed = reference_recording(lin)
            if balanced:
                packed = (packed * ref_wb).clamp(0, 1)
            with torch.no_grad():
                out = isp.develop(packed, coord_grid(1, *packed.shape[-2:]))
            errs += grey_errors(out, patches)
        rows.append({"variant": variant, "patches": len(errs), "min": round(min(errs), 2),
                     "mean": round(float(np.mean(errs)), 2), "max": round(max(errs), 2), "scale": args.scale,
                     "pairs": args.pairs, "steps": res.step, "train_s": round(seconds, 1)})
    return record("grey_sources", torch.device("cpu"), rows,
                  title="ISPNet grey patches, CIEDE2000 to neutral, by the colour factors hidden from it")


if __name__ == "__main__":
    main()
