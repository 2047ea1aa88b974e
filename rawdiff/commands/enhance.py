"""``rawdiff enhance --run RUN_DIR [--ilvr-steps k] [--overlap N] [--seed S] INPUT OUTPUT.png``: DiD low-light
enhancement of one dark sRGB image (PNG/JPEG/TIFF/BMP, any size) or RAW file (DNG, NEF, CR2, ARW, ...)."""
from __future__ import annotations

import argparse
import io
from pathlib import Path

from rawdiff.errors import DataError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp"}
OUT_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".tif": "TIFF", ".tiff": "TIFF"}


def _read_raw_srgb(path: Path):
    """A RAW file developed to (dark) sRGB in [0, 1]: rawdiff's RAW reader (the file's white balance and colour
    matrix, reference camera) + simple ISP + the file's orientation; LibRaw's own development via rawpy (camera
    white balance, no auto-brightening: the image stays dark) for sensors the reader refuses (X-Trans, ...)."""
    import numpy as np
    import torch

    from rawdiff.camera.isp import simple_isp
    from rawdiff.camera.rawfile import (
        orient,
        read_raw_file,
        reference_camera,
        to_reference_camera,
    )

    try:
        packed, info = read_raw_file(path)
        ref = reference_camera() if info.wb_source != "none" else None
        return orient(simple_isp(to_reference_camera(packed, info), ref)[0].clamp(0, 1), info.flip)
    except DataError as err:
        if "unsupported sensor layout" not in str(err):
            raise
    try:
        import rawpy
    except ImportError:
        raise DataError(f"{path}: reading RAW files needs rawpy (pip install rawpy)") from None
    try:
        with rawpy.imread(str(path)) as r:
            rgb = r.postprocess(use_camera_wb=True, no_auto_bright=True, output_bps=16)
    except Exception as err:  # rawpy raises its own LibRaw* error classes
        raise DataError(f"{path}: not a readable RAW file ({type(err).__name__}: {err})") from None
    return torch.from_numpy(rgb.astype(np.float32) / 65535.0).permute(2, 0, 1).contiguous()


def read_input(path: str | Path, max_pixels: int | None = None):
    """``3 x H x W`` float tensor in [0, 1] from an 8/16-bit image or a RAW file; :class:`DataError` otherwise."""
    from rawdiff.camera.rawfile import RAW_SUFFIXES, check_input_file

    p = check_input_file(path, "an image or RAW file")
    suffix = p.suffix.lower()
    if suffix in RAW_SUFFIXES:
        return _read_raw_srgb(p)
    from rawdiff.data.io import read_image_tensor

    return read_image_tensor(p, max_pixels=max_pixels)  # one-line DataError for any unreadable image


def write_output(img, path: str | Path) -> Path:
    """Write a ``3 x H x W`` [0, 1] tensor as an 8-bit image (format from the suffix), atomically."""
    import numpy as np
    from PIL import Image

    from rawdiff.utils import atomic_write_bytes

    p = Path(path)
    fmt = OUT_FORMATS.get(p.suffix.lower())
    if fmt is None:
        raise DataError(f"{p}: output must end in one of {', '.join(sorted(OUT_FORMATS))}")
    arr = (img.detach().clamp(0, 1).permute(1, 2, 0).cpu().numpy() * 255.0 + 0.5).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format=fmt)
    return atomic_write_bytes(p, buf.getvalue())


def run(args: argparse.Namespace) -> int:
    from rawdiff.errors import RawdiffError
    from rawdiff.did.model import enhance, load_did
    from rawdiff.utils import Timer

    out = Path(args.output)
    if out.suffix.lower() not in OUT_FORMATS:
        raise DataError(f"{out}: output must end in one of {', '.join(sorted(OUT_FORMATS))}")
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
    write_output(res.image[0], out)
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
