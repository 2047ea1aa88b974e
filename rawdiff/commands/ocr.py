"""``rawdiff ocr``: read text in images, or score an OCR engine on a folder of labelled word crops.

    rawdiff ocr [--engine rapidocr] IMAGE...          # recognition on word crops (one line per image)
    rawdiff ocr --detect IMAGE...                     # detection + recognition on full images
    rawdiff ocr --eval DIR [--engine ...]             # word accuracy / 1-NED / CER (DiD's OCR protocol)

Label formats for ``--eval`` (see ``rawdiff.did.textbench.read_labelled_folder``): ``labels.txt``
(``file<TAB>label``), ``labels.json``, or file names ``{label}.png`` / ``{idx}_{label}.png``.
"""
from __future__ import annotations

import argparse
from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser("ocr", help="read text in images / evaluate OCR on labelled word crops",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("images", nargs="*", metavar="IMAGE", help="image files (word crops unless --detect)")
    p.add_argument("--engine", default="rapidocr", choices=("rapidocr", "easyocr", "tesseract"),
                   help="OCR engine (default: rapidocr, works offline)")
    p.add_argument("--detect", action="store_true", help="detect text in full images instead of reading crops")
    p.add_argument("--eval", metavar="DIR", dest="eval_dir", help="folder of labelled word crops to score")
    p.add_argument("--show", action="store_true", help="with --eval: print every prediction next to its label")
    p.add_argument("--max-pixels", type=int, default=None, metavar="N",
                   help="refuse images over N pixels before decoding (default: $RAWDIFF_MAX_PIXELS or 100 MP; 0 = none)")
    p.set_defaults(func=run)


def _read_uint8(path: Path, max_pixels: int | None):
    """``H x W x 3`` uint8 through the one image reader (rawdiff.data.io.read_image: one-line DataErrors)."""
    import numpy as np

    from rawdiff.data.io import read_image

    return (read_image(path, max_pixels=max_pixels) * 255.0 + 0.5).astype(np.uint8)


def run(args) -> int:
    from rawdiff.errors import DataError
    from rawdiff.did.ocr import get_engine
    from rawdiff.metrics.text import normalize_text, text_metrics

    if not args.images and not args.eval_dir:
        raise DataError("give IMAGE files or --eval DIR")
    # read (and validate) every input before starting an engine: bad input fails fast with one line
    images = [(Path(img), _read_uint8(Path(img), args.max_pixels)) for img in args.images]
    pairs, crops = [], []
    if args.eval_dir:
        from rawdiff.did.textbench import read_labelled_folder

        pairs = read_labelled_folder(args.eval_dir)
        crops = [_read_uint8(p, args.max_pixels) for p, _ in pairs]
    engine = get_engine(args.engine)
    for path, arr in images:
        if args.detect:
            dets = engine.read(arr)
            print(f"{path}:")
            for d in dets:
                x0, y0, x1, y1 = d.box
                print(f"  {d.text}\t[{x0:.0f},{y0:.0f},{x1:.0f},{y1:.0f}]\t{d.score:.3f}")
            if not dets:
                print("  (no text found)")
        else:
            print(f"{path}\t{engine.recognize(arr)}")
    if args.eval_dir:
        preds = [engine.recognize(c) for c in crops]
        gts = [label for _, label in pairs]
        if args.show:
            for (p, g), pr in zip(pairs, preds):
                mark = "ok " if normalize_text(pr) == normalize_text(g) else "ERR"
                print(f"{mark} {p.name}\tlabel={g!r}\tpred={pr!r}")
        m = text_metrics(preds, gts)
        print(f"engine={engine.name} n={m['n']} word_acc={m['word_acc']:.4f} "
              f"one_minus_ned={m['one_minus_ned']:.4f} cer={m['cer']:.4f}")
    return 0
