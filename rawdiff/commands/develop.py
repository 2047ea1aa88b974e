"""``rawdiff develop --run RUN_DIR [--steps K] INPUT OUTPUT.png``: develop one RAW file with ISPNet + DTDM.

INPUT: a camera RAW that rawpy/LibRaw reads (DNG, NEF, CR2, ARW, ...) or a ZRR-style single-channel Bayer
PNG; read through ``rawdiff.data.loaders.read_raw`` (black/white-level normalised, packed to RGGB).  Any
size: the image is developed in overlapping tiles blended with linear ramps (``--tile``, ``--overlap``).
RUN_DIR must hold ``isp/`` and ``diffraw/`` checkpoints (``rawdiff train diffraw --out RUN_DIR``) or be a
notebook's DTDM cache entry; without ``--run`` the newest DiffRAW run (``rawdiff runs``) is used.
"""
from __future__ import annotations

from pathlib import Path

from rawdiff.errors import DataError, RawdiffError

RAW_SUFFIXES = {".dng", ".nef", ".nrw", ".cr2", ".cr3", ".crw", ".arw", ".srf", ".sr2", ".orf", ".rw2", ".raf",
                ".pef", ".srw", ".raw", ".rwl", ".3fr", ".erf", ".kdc", ".mef", ".mos", ".iiq", ".x3f", ".png"}

def to_rggb(packed, pattern: str):
    """Reorder a packed 2x2-cell RAW (N x 4 x h x w, raster order of ``pattern``) to R, G1, G2, B."""
    from rawdiff.camera.bayer import to_rggb_order

    try:
        order = to_rggb_order(str(pattern))
    except ValueError as err:
        raise DataError(f"unsupported CFA pattern {pattern!r} ({err}; X-Trans sensors are not supported)") from None
    return packed[:, order]


def read_packed(path: Path):
    """1 x 4 x h x w RGGB packed RAW in [0, 1] from ``path`` (one-line DataError when unsupported/corrupt)."""
    import torch

    if path.is_dir():
        raise DataError(f"{path}: is a directory, expected a RAW file")
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    if path.suffix.lower() not in RAW_SUFFIXES:
        raise DataError(f"{path}: unsupported input type {path.suffix or '(none)'!r}; expected a camera RAW "
                        f"(DNG, NEF, CR2, ARW, ...) or a ZRR-style Bayer PNG")
    from rawdiff.data.loaders import read_raw

    try:
        r = read_raw(path)
    except RawdiffError:
        raise
    except Exception as err:  # rawpy/LibRaw and PIL raise many types for corrupt files
        msg = str(err).splitlines()[0] if str(err) else ""
        raise DataError(f"{path}: cannot read RAW data ({type(err).__name__}{': ' + msg if msg else ''})") from None
    packed = r["packed"] if isinstance(r, dict) else r
    packed = torch.as_tensor(packed).float()
    if packed.dim() == 3:
        packed = packed.unsqueeze(0)
    if packed.dim() != 4 or packed.shape[1] != 4:
        raise DataError(f"{path}: expected a 2x2 Bayer mosaic, got packed shape {tuple(packed.shape)}")
    pattern = r.get("pattern", "RGGB") if isinstance(r, dict) else "RGGB"
    return to_rggb(packed, pattern).clamp(0, 1)


def run(args) -> int:
    import torch

    from rawdiff.pipelines.diffraw import develop_raw, load_run_dir
    from rawdiff.utils import resolve_device

    inp, out = Path(args.input), Path(args.output)
    if out.suffix.lower() != ".png":
        raise RawdiffError(f"{out}: OUTPUT must be a .png file")
    from rawdiff.pipelines.diffraw import developable
    from rawdiff.runs import resolve_run
    from rawdiff.utils import check_output_path

    check_output_path(out)  # a directory / a file where a folder should be: one line, before any work
    run_dir = resolve_run(args.run, "diffraw", "diffraw", developable)
    if not run_dir.is_dir():
        raise RawdiffError(f"{run_dir}: run directory not found (make one with `rawdiff train diffraw --out {run_dir}`)")
    packed = read_packed(inp)
    dev = resolve_device(args.device)
    isp, unet, cfg, _ = load_run_dir(run_dir, device=dev)
    if args.tile < 8 or args.overlap < 0 or args.overlap >= args.tile:
        raise RawdiffError("--tile must be >= 8 and 0 <= --overlap < --tile")
    if args.steps is not None and args.steps < 1:
        raise RawdiffError("--steps must be >= 1")

    def progress(done, total):
        if not args.quiet and total > 1:
            print(f"\rtile {done}/{total}", end="" if done < total else "\n", flush=True)

    img = develop_raw(isp, unet, cfg, packed, steps=args.steps, tile=args.tile, overlap=args.overlap,
                      seed=args.seed, progress=progress)
    from PIL import Image
    import io
    from rawdiff.utils import atomic_write_bytes

    arr = (img[0].permute(1, 2, 0) * 255).round().to(torch.uint8).numpy()
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    atomic_write_bytes(out, buf.getvalue())
    if not args.quiet:
        print(f"{inp} -> {out} ({arr.shape[1]}x{arr.shape[0]}, DTDM {args.steps or cfg.sample_steps} steps from s={cfg.s})")
    return 0


def register(sub) -> None:
    p = sub.add_parser("develop", help="develop a RAW file with a trained ISPNet + DiffRAW run",
                       description=__doc__.splitlines()[0])
    p.add_argument("--run", default=None, help="DiffRAW run: RUN_DIR with isp/ and diffraw/, or a notebook cache "
                   "entry (default: the newest one, see `rawdiff runs`)")
    p.add_argument("--steps", type=int, default=None, help="DTDM steps K (default: the run's sample_steps)")
    p.add_argument("--tile", type=int, default=128, help="tile size in packed-RAW pixels (output is 2x)")
    p.add_argument("--overlap", type=int, default=16, help="tile overlap in packed-RAW pixels")
    p.add_argument("--device", default="auto")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true")
    p.add_argument("input", help="RAW file (DNG/NEF/CR2/... or ZRR Bayer PNG)")
    p.add_argument("output", help="output .png")
    p.set_defaults(func=run)
