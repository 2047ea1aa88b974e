"""Colour of real-camera RAWs: grey-patch CIEDE2000 to neutral for DNGs of two synthetic cameras, developed by
LibRaw, by ``rawdiff develop`` before the canonical input (the file's raw levels fed to the nets) and after it,
and by the nets on their own (reference) camera's recording of the same scene.

The scene (:func:`rawdiff.camera.dng.grey_chart`) is a smooth colourful field with four large grey patches
(linear 0.05 / 0.18 / 0.4 / 0.7); each camera of :data:`rawdiff.camera.dng.CAMERAS` records it as a DNG with
AsShotNeutral and ColorMatrix1 (pidng).  The error of a patch is the CIEDE2000 between its mean colour and the
grey of the same lightness, so tone differences do not count, only casts; ``scene_ciede2000`` is the mean
per-pixel CIEDE2000 to the scene over the whole image (colour and tone).  Writes a side-by-side PNG per camera
(truth | LibRaw | before | after with the nets' colour | after with the metadata colour, the ``develop`` default
for such files: rawdiff.camera.colour_guide) to ``--out`` and appends the table to benchmarks/results.jsonl.
Not a test: the numbers describe a trained run.

    python -m benchmarks.bench_greys [--run RUN_DIR] [--steps 2] [--seeds 0 1 2] [--out build/bench_greys]
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

import rawdiff  # noqa: F401
from benchmarks.common import record
from rawdiff.utils import resolve_device


def libraw_develop(path: Path) -> torch.Tensor:
    """LibRaw's own development (as-shot white balance, camera matrix, sRGB primaries, no auto-brightening)."""
    import rawpy

    with rawpy.imread(str(path)) as r:
        rgb = r.postprocess(use_camera_wb=True, no_auto_bright=True, output_bps=16)
    return torch.from_numpy(rgb.astype(np.float32) / 65535.0).permute(2, 0, 1)[None]


def scene_error(img: torch.Tensor, truth: torch.Tensor, offset: tuple[int, int]) -> float:
    """Mean per-pixel CIEDE2000 of ``img`` against the scene's sRGB ``truth`` (both 1 x 3 x H x W; ``offset``:
    rows/cols the reader dropped at the top/left), over the common area: colour *and* tone, the whole image."""
    from skimage.color import deltaE_ciede2000, rgb2lab

    cy, cx = offset
    h, w = min(img.shape[-2], truth.shape[-2] - cy), min(img.shape[-1], truth.shape[-1] - cx)
    a = rgb2lab(img[0, :, :h, :w].permute(1, 2, 0).double().clamp(0, 1).numpy())
    b = rgb2lab(truth[0, :, cy:cy + h, cx:cx + w].permute(1, 2, 0).double().clamp(0, 1).numpy())
    return float(deltaE_ciede2000(a, b).mean())


def main(argv=None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", default=None, help="DiffRAW run directory (default: the newest one, as `develop`)")
    ap.add_argument("--steps", type=int, default=2, help="DTDM steps")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="scene seeds")
    ap.add_argument("--tile", type=int, default=32)
    ap.add_argument("--overlap", type=int, default=8)
    ap.add_argument("--out", default="build/bench_greys", help="folder for the DNGs and side-by-side PNGs")
    ap.add_argument("--device", default="auto")
    args = ap.parse_args(argv)

    from rawdiff.camera.dng import CAMERAS, camera_dng, grey_chart, grey_errors, reference_recording
    from rawdiff.camera.isp import linear_to_srgb, tone_curve
    from rawdiff.figures import image_grid, save_figure
    from rawdiff.diffraw.develop import develop_file, develop_packed
    from rawdiff.diffraw.rundir import developable, load_run_dir
    from rawdiff.runs.store import resolve_run

    dev = resolve_device(args.device)
    run = resolve_run(args.run, "diffraw", "diffraw", developable)
    isp, unet, cfg, _ = load_run_dir(run, device=dev)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    kw = {"steps": args.steps, "tile": args.tile, "overlap": args.overlap, "seed": 0}
    errs: dict[tuple[str, str], list[float]] = {}
    scene: dict[tuple[str, str], list[float]] = {}
    for name, cam in CAMERAS.items():
        panels = []
        for seed in args.seeds:
            lin, patches = grey_chart(seed=seed)
            path = camera_dng(out / f"{name}-{seed}.dng", lin, cam)
            after = develop_file(path, isp, unet, cfg, colour="network", **kw)
            guided = develop_file(path, isp, unet, cfg, colour="metadata", **kw)
            before = develop_file(path, isp, unet, cfg, canonical=False, colour="network", **kw)
            off = after.info.crop
            own = develop_packed(isp, unet, cfg, reference_recording(lin), **kw)
            libraw = libraw_develop(path)
            truth = tone_curve(linear_to_srgb(lin))
            for k, (img, o) in {"LibRaw": (libraw, (0, 0)), "before": (before.image, off),
                                "after": (after.image, off), "after, metadata colour": (guided.image, off),
                                "own camera": (own, (0, 0))}.items():
                errs.setdefault((name, k), []).extend(grey_errors(img, patches, o))
                scene.setdefault((name, k), []).append(scene_error(img, truth, o))
            if seed == args.seeds[0]:
                panels = [tone_curve(linear_to_srgb(lin))[0], libraw[0], before.image[0], after.image[0],
                          guided.image[0]]
        fig = image_grid([panels], col_titles=["truth", "LibRaw", "develop before", "after (network colour)",
                                               "after (metadata colour)"], cell=(2.6, 1.8),
                         title=f"{name}: {cam['pattern']}, WB gains {cam['wb'][0]}/{cam['wb'][2]} (run {run.name})")
        save_figure(fig, out, f"greys_{name}")
    rows = [{"camera": name, "path": k, "patches": len(v), "min": round(min(v), 2), "mean": round(float(np.mean(v)), 2),
             "max": round(max(v), 2), "scene_ciede2000": round(float(np.mean(scene[name, k])), 2), "run": str(run),
             "steps": args.steps} for (name, k), v in errs.items()]
    return record("greys", dev, rows, title="grey patches, CIEDE2000 to neutral (lower is better)")


if __name__ == "__main__":
    main()
