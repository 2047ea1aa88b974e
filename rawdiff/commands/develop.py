"""``rawdiff develop [--run RUN_DIR] [--steps K] [--bit-depth 8|16] INPUT OUTPUT``: develop one RAW file with ISPNet + DTDM.

INPUT: a Bayer camera RAW that rawpy/LibRaw reads (DNG, NEF, CR2, ARW, ...) or a ZRR-style single-channel Bayer
PNG, read by ``rawdiff.camera.rawfile.read_raw_file`` (any 2x2 CFA, per-channel levels, visible area, as-shot
white balance and colour matrix, orientation) and re-expressed in the reference camera the nets were trained on.
Any size: developed in overlapping tiles blended with linear ramps (``--tile``, ``--overlap``; a progress bar).
OUTPUT: .png/.jpg (8-bit) or, with ``--bit-depth 16``, .png/.tif (16-bit).
``--colour auto|metadata|network``: low-frequency colour from the file's white balance and colour matrix (detail and
brightness from the nets; rawdiff.camera.colour_guide) or the nets' own colours; ``auto`` (default) uses the
metadata when the file has an as-shot or daylight white balance and a colour matrix.
RUN_DIR must hold ``isp/`` and ``diffraw/`` checkpoints (``rawdiff train diffraw --out RUN_DIR``) or be a
notebook's DTDM cache entry; without ``--run`` the newest DiffRAW run (``rawdiff runs``) is used.
"""
from __future__ import annotations

from pathlib import Path

from rawdiff.config import DTDMSampler
from rawdiff.errors import DataError, RawdiffError



def read_packed(path: Path):
    """(1 x 4 x h x w RGGB packed RAW in [0, 1], RawInfo) from ``path`` (one-line DataError when unsupported/corrupt)."""
    from rawdiff.camera.rawfile import RAW_SUFFIXES, check_input_file

    path = check_input_file(path, "a RAW file")
    if path.suffix.lower() not in RAW_SUFFIXES | {".png"}:  # + ZRR-style Bayer PNGs
        raise DataError(f"{path}: unsupported input type {path.suffix or '(none)'!r}; expected a camera RAW "
                        f"(DNG, NEF, CR2, ARW, ...) or a ZRR-style Bayer PNG")
    from rawdiff.camera.rawfile import read_raw_file

    try:
        return read_raw_file(path)
    except RawdiffError:
        raise
    except Exception as err:  # rawpy/LibRaw and PIL raise many types for corrupt files
        msg = str(err).splitlines()[0] if str(err) else ""
        raise DataError(f"{path}: cannot read RAW data ({type(err).__name__}{': ' + msg if msg else ''})") from None


def run(args) -> int:
    from rawdiff.camera.colour_guide import uses_metadata_colour
    from rawdiff.data.write import OUTPUT_FORMATS, write_image
    from rawdiff.diffraw.develop import develop_read
    from rawdiff.diffraw.rundir import developable, load_run_dir
    from rawdiff.runs.store import resolve_run
    from rawdiff.utils import check_output_path, resolve_device

    inp, out = Path(args.input), Path(args.output)
    if out.suffix.lower() not in OUTPUT_FORMATS or args.bit_depth not in OUTPUT_FORMATS[out.suffix.lower()][1]:
        raise RawdiffError(f"{out}: OUTPUT must be .png/.jpg (8-bit) or .png/.tif with --bit-depth 16")
    check_output_path(out)  # a directory / a file where a folder should be: one line, before any work
    run_dir = resolve_run(args.run, "diffraw", "diffraw", developable)
    if not run_dir.is_dir():
        raise RawdiffError(f"{run_dir}: run directory not found (make one with `rawdiff train diffraw --out {run_dir}`)")
    packed, info = read_packed(inp)
    if not args.quiet:
        print(info.describe())
    uses_metadata_colour(args.colour, info)   # a file without metadata fails here, before the nets load
    dev = resolve_device(args.device)
    isp, unet, cfg, _ = load_run_dir(run_dir, device=dev)
    if args.tile < 8 or args.overlap < 0 or args.overlap >= args.tile:
        raise RawdiffError("--tile must be >= 8 and 0 <= --overlap < --tile")
    if args.steps is not None and args.steps < 1:
        raise RawdiffError("--steps must be >= 1")

    res = develop_read(packed, info, isp, unet, cfg, colour=args.colour, steps=args.steps, tile=args.tile,
                       overlap=args.overlap, seed=args.seed, progress=not args.quiet)
    img = res.image
    write_image(img, out, args.bit_depth)
    arr = img[0].permute(1, 2, 0)
    if not args.quiet:
        colour = "the file's white balance and colour matrix" if res.colour == "metadata" else "the networks"
        print(f"{inp} -> {out} ({arr.shape[1]}x{arr.shape[0]}, DTDM {args.steps or DTDMSampler.sample_steps} steps from "
              f"s={cfg.s}; colour from {colour})")
    return 0


def register(sub) -> None:
    p = sub.add_parser("develop", help="develop a RAW file with a trained ISPNet + DiffRAW run",
                       description=__doc__.splitlines()[0])
    p.add_argument("--run", default=None, help="DiffRAW run: RUN_DIR with isp/ and diffraw/, or a notebook cache "
                   "entry (default: the newest one, see `rawdiff runs`)")
    p.add_argument("--steps", type=int, default=None, help="DTDM steps K (default: rawdiff.config.DTDMSampler, 5)")
    p.add_argument("--tile", type=int, default=128, help="tile size in packed-RAW pixels (output is 2x)")
    p.add_argument("--overlap", type=int, default=16, help="tile overlap in packed-RAW pixels")
    p.add_argument("--device", default="auto")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true")
    p.add_argument("--bit-depth", type=int, choices=(8, 16), default=8, help="8 (PNG/JPEG) or 16 (PNG/TIFF)")
    p.add_argument("--colour", choices=("auto", "metadata", "network"), default="auto",
                   help="low-frequency colour from the file's metadata (white balance + colour matrix) or the "
                        "networks; auto: metadata when the file has both (default)")
    p.add_argument("input", help="RAW file (DNG/NEF/CR2/... or ZRR Bayer PNG)")
    p.add_argument("output", help="output .png/.jpg (or 16-bit .png/.tif)")
    p.set_defaults(func=run)
