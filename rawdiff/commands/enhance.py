"""``rawdiff enhance --run RUN_DIR [--ilvr-steps k] [--overlap N] [--seed S] INPUT OUTPUT.png``: DiD low-light
enhancement of one dark sRGB image (PNG/JPEG/TIFF/BMP, any size) or RAW file (DNG, NEF, CR2, ARW, ...)."""
from __future__ import annotations

import argparse
from pathlib import Path

from rawdiff.errors import DataError



def run(args: argparse.Namespace) -> int:
    from rawdiff.errors import RawdiffError
    from rawdiff.data.write import OUTPUT_FORMATS, write_image
    from rawdiff.did.enhance import enhance, load_did, read_input
    from rawdiff.utils import Timer

    out = Path(args.output)
    if out.suffix.lower() not in OUTPUT_FORMATS:
        raise DataError(f"{out}: output must end in one of {', '.join(sorted(OUTPUT_FORMATS))}")
    if args.ilvr_steps is not None and args.ilvr_steps < 0:
        raise RawdiffError(f"--ilvr-steps must be >= 0, got {args.ilvr_steps}")
    if args.overlap is not None and not 0 <= args.overlap < 32:
        raise RawdiffError(f"--overlap must be in [0, 32) pixels (tiles are 32x32), got {args.overlap}")
    from rawdiff.did.train import default_did_run
    from rawdiff.runs.store import resolve_run

    run_dir = resolve_run(args.run, "did", "did", default_did_run)
    if not run_dir.is_dir():
        raise RawdiffError(f"{run_dir}: no such run directory (train one with `rawdiff train did`)")
    img = read_input(args.input, getattr(args, "max_pixels", None))
    model = load_did(run_dir, device=args.device)
    if args.overlap is not None and args.overlap >= model.did.patch:
        raise RawdiffError(f"--overlap must be < the tile size {model.did.patch}")
    with Timer(model.device) as t:
        res = enhance(model, img, ilvr_steps=args.ilvr_steps, overlap=args.overlap, generator=args.seed,
                      num_steps=args.steps, max_batch=args.max_batch)
    write_image(res.image[0], out)
    h, w = img.shape[-2:]
    print(f"{args.input} ({w}x{h}) -> {out}: {len(res.per_scale)} scales, {sum(res.tiles_per_scale)} tiles, "
          f"{res.tile_nfe} tile evaluations, {t.seconds:.1f} s")
    return 0


def register(sub) -> None:
    p = sub.add_parser("enhance", help="DiD low-light enhancement of a dark image or RAW file",
                       description=__doc__.replace("``", ""))
    p.add_argument("input", metavar="INPUT", help="dark sRGB image (any size) or RAW file (DNG, ...)")
    p.add_argument("output", metavar="OUTPUT.png", help="where to write the enhanced image (.png/.jpg/.tif)")
    p.add_argument("--run", default=None, metavar="RUN_DIR",
                   help="DiD run (rawdiff train did --out, or a notebook cache entry; default: the newest one)")
    p.add_argument("--ilvr-steps", type=int, default=None, metavar="K",
                   help="ILVR on the first K Heun steps (default: the run's config, paper 6 of 18)")
    p.add_argument("--overlap", type=int, default=None, metavar="N",
                   help="tile overlap in pixels with blended stitching (default 0 = paper's non-overlapping tiles)")
    p.add_argument("--steps", type=int, default=None, help="Heun steps (default: the run's config, 18)")
    p.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda[:i]")
    p.add_argument("--max-pixels", type=int, default=None, metavar="N",
                   help="refuse input images over N pixels (default: $RAWDIFF_MAX_PIXELS or 100 MP; 0 = none)")
    p.add_argument("--max-batch", type=int, default=None,
                   help="tiles per network batch (memory knob; default 64 on CPU, 256 on GPU)")
    p.set_defaults(func=run)
