"""``rawdiff data``: write synthetic datasets and check dataset folders.

    rawdiff data synth phone2dslr --n N --size S --out DIR [--seed K] [--test-fraction 0.1] [--overwrite]
    rawdiff data synth lowlight   --n N --size S --out DIR [--seed K] [--text | --text-fraction F] [--gain LO HI]
                                  [--overwrite]
    rawdiff data check DIR [--sha256 FILE|-]

``synth`` writes ZRR's layout (phone2dslr) or our low-light layout (see rawdiff.data.synth); the output folder
appears only when complete.  Low-light scenes carry rendered words with probability 0.5 by default (the
``DataConfig.text_fraction`` the notebooks use); ``--text`` puts words in every scene (an OCR test set),
``--text-fraction 0`` in none.  ``check`` prints ``OK: <layout>, N pairs (...)`` (and, for LOL, notes where
the folder differs from the published 485 + 15 pairs of 600x400) and exits 0, or lists the problems and exits 1.
It reads ZRR, our synthetic sets and LOL in the authors' (our485|eval15/low|high) or the GitHub mirror's
([dataset/]train|test/low|normal) layout.  ``--sha256 FILE`` (``-``: standard output) also writes the sha256 of
every image of a low-light folder's pairs, one ``<sha256>  <path>`` line each (``sha256sum -c FILE`` verifies it
from the folder holding the splits; rawdiff.data.lol.lol_sha256 returns the same as a dict; with ``-`` the
summary goes to standard error).  Bad input (missing folder, existing output without --overwrite) exits 2.
"""
from __future__ import annotations

import argparse
import sys

from rawdiff.errors import DataError

_MAX_LISTED = 50


def _split_counts(n: int, test_fraction: float) -> tuple[int, int]:
    if n < 1:
        raise DataError(f"--n must be >= 1, got {n}")
    if not 0.0 <= test_fraction < 1.0:
        raise DataError(f"--test-fraction must be in [0, 1), got {test_fraction}")
    n_test = round(n * test_fraction)
    if test_fraction > 0 and n >= 2:
        n_test = min(max(n_test, 1), n - 1)   # keep both splits non-empty
    return n - n_test, n_test


def _synth(args) -> int:
    from rawdiff.data.synth import synth_lowlight, synth_phone2dslr

    n_train, n_test = _split_counts(args.n, args.test_fraction)
    common = {"n_train": n_train, "n_test": n_test, "size": args.size, "seed": args.seed,
              "overwrite": args.overwrite, "progress": not args.quiet}
    if args.kind == "phone2dslr":
        out = synth_phone2dslr(args.out, **common)
    else:
        tf = 1.0 if args.text else args.text_fraction
        out = synth_lowlight(args.out, text_fraction=tf, gain=tuple(args.gain), **common)
    print(f"wrote {out}: {args.kind}, {n_train + n_test} pairs (train {n_train}, test {n_test}), "
          f"{args.size}x{args.size}, seed {args.seed}")
    return 0


def _write_sha256(folder: str, dest: str) -> int:
    from rawdiff.data.lol import lol_sha256, locate_lowlight
    from rawdiff.utils import check_output_path

    if locate_lowlight(folder) is None:
        raise DataError(f"{folder}: --sha256 lists low-light / LOL folders only")
    lines = "".join(f"{h}  {rel}\n" for rel, h in lol_sha256(folder).items())
    if dest == "-":
        sys.stdout.write(lines)
    else:
        out = check_output_path(dest)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(lines)
        print(f"wrote {dest}: sha256 of {lines.count(chr(10))} files")
    return 0


def _check(args) -> int:
    from rawdiff.data.check import inspect_dataset

    report = inspect_dataset(args.dir)
    if report.ok:
        to = sys.stderr if args.sha256 == "-" else sys.stdout    # keep '-' output a pure sha256sum list
        print(report.summary(), file=to)
        for note in report.notes:
            print(f"  note: {note}", file=to)
        return _write_sha256(args.dir, args.sha256) if args.sha256 else 0
    print(report.summary(), file=sys.stderr)
    for p in report.problems[:_MAX_LISTED]:
        print(f"  {p}", file=sys.stderr)
    if len(report.problems) > _MAX_LISTED:
        print(f"  ... and {len(report.problems) - _MAX_LISTED} more", file=sys.stderr)
    return 1


def register(sub) -> None:
    p = sub.add_parser("data", help="write synthetic datasets / check dataset folders",
                       description=__doc__.splitlines()[0], epilog=__doc__.split("\n\n", 1)[1],
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    dsub = p.add_subparsers(dest="data_command", metavar="ACTION")
    p.set_defaults(func=lambda args: (p.print_help(), 1)[1])

    s = dsub.add_parser("synth", help="write a synthetic dataset")
    kinds = s.add_subparsers(dest="kind", metavar="KIND")
    s.set_defaults(func=lambda args: (s.print_help(), 1)[1])
    for kind, helptext in (("phone2dslr", "phone RAW / DSLR pairs in ZRR's layout (DiffRAW)"),
                           ("lowlight", "dark / well-lit pairs with rendered words (DiD)")):
        k = kinds.add_parser(kind, help=helptext)
        k.add_argument("--n", type=int, required=True, help="number of pairs (train + test)")
        k.add_argument("--size", type=int, required=True, help="image height = width in pixels (even, >= 16)")
        k.add_argument("--out", required=True, help="output folder (must not exist unless --overwrite)")
        k.add_argument("--seed", type=int, default=0, help="same seed -> byte-identical files (default 0)")
        k.add_argument("--test-fraction", type=float, default=0.1, help="share of pairs in test/ (default 0.1)")
        k.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
        k.add_argument("--quiet", action="store_true", help="no progress bar")
        if kind == "lowlight":
            g = k.add_mutually_exclusive_group()
            g.add_argument("--text", action="store_true", help="rendered words in every scene")
            g.add_argument("--text-fraction", type=float, default=0.5,
                           help="share of scenes with rendered words (default 0.5)")
            k.add_argument("--gain", type=float, nargs=2, default=[5.0, 20.0], metavar=("LO", "HI"),
                           help="ISP digital gain range on the short exposure (default 5 20: LOL-like "
                                "brightness; 1 1: unbrightened, ~2/3 of 8-bit pixels are 0)")
        k.set_defaults(func=_synth, kind=kind)

    c = dsub.add_parser("check", help="check a dataset folder (ZRR, rawdiff low-light or LOL layout)")
    c.add_argument("dir", help="dataset folder")
    c.add_argument("--sha256", metavar="FILE", help="low-light / LOL folders: write '<sha256>  <path>' of every "
                   "image of the pairs to FILE ('-': standard output) when the check passes")
    c.set_defaults(func=_check)
