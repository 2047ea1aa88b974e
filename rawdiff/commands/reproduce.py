"""``rawdiff reproduce``: run notebooks/NN_*.ipynb in order with papermill and write figures/MANIFEST.json.

Each executed notebook goes to the build folder (build/notebooks/NN_name.ipynb) with its figures inline, and,
unless --no-html, as a static page build/notebooks/NN_name.html (figures and tables, readable in any browser)."""
from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("reproduce", help="run the notebooks in order and regenerate every figure/table",
                       description=__doc__)
    p.add_argument("--scale", default="smoke", choices=("smoke", "study", "medium", "paper"),
                   help="config preset passed to every notebook (default: smoke, a 2-core CPU)")
    p.add_argument("--only", default=None, metavar="NN,NN",
                   help="comma-separated notebook numbers or names to run (default: all, in order)")
    p.add_argument("--data-root", default=None, metavar="PATH",
                   help="real datasets (ZRR/LOL/SID layouts, see data/README.md); default: synthetic data")
    p.add_argument("--runs", default=None, metavar="DIR[,DIR]",
                   help="folders of runs trained with `rawdiff train` (e.g. under torchrun on GPUs): a notebook uses "
                        "the one whose cache key matches (same network, training config, seed and data) instead of "
                        "training, and says which")
    p.add_argument("--synthetic", action="store_true",
                   help="with --scale paper and no --data-root: synthesise the paper-size datasets (large)")
    p.add_argument("-p", "--param", action="append", default=[], metavar="KEY=VALUE",
                   help="extra notebook parameter (value parsed as a Python literal, else a string); repeatable; "
                        "overrides the options above")
    p.add_argument("--out-dir", default=None, metavar="DIR", help="figures/tables folder (default: <repo>/figures)")
    p.add_argument("--build-dir", default=None, metavar="DIR",
                   help="executed notebook copies (default: <repo>/build/notebooks)")
    p.add_argument("--device", default="auto", help="torch device for the notebooks: auto (default), cpu, cuda")
    p.add_argument("--seed", type=int, default=0, help="seed passed to every notebook (default: 0)")
    p.add_argument("--notebooks-dir", default=None, metavar="DIR", help=argparse.SUPPRESS)
    p.add_argument("--no-html", action="store_true",
                   help="do not write the static HTML page of each executed notebook (default: written next to it, "
                        "build/notebooks/NN_name.html, with the figures and tables inline; nbconvert's lab template)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--check", default=None, metavar="SNAPSHOT",
                   help="after running, compare the new tables and verdicts with a committed snapshot (e.g. "
                        "results/study) per claim; exit status 1 when a verdict changes or a number is outside "
                        "the tolerance.  Trained runs in the cache are reused, so a re-check costs the evaluation; with "
                        "--only, only the claims of the notebooks re-run are checked")
    from rawdiff.commands.results import add_tolerance

    add_tolerance(p)
    g = p.add_argument_group("dry run", "--dry-run: no notebook; every network of --scale (e.g. paper) built at its "
                             "size, trained a few steps on a few real-size images, every evaluation on a few images "
                             "(rawdiff.dryrun); prints each stage's time, peak RSS and pass/fail; exit status 1 on "
                             "a failure")
    g.add_argument("--dry-run", action="store_true", help="check the configuration of --scale in minutes on a CPU")
    from rawdiff.dryrun import add_options

    add_options(g, prefix="dry-run-")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rawdiff.reproduce import parse_params, reproduce

    if args.dry_run:
        from rawdiff.dryrun import config_from_args, dry_run, report

        cfg = config_from_args(args, "dry-run-", scale=args.scale, data_root=args.data_root, device=args.device,
                               seed=args.seed)
        return report(dry_run(cfg), args.dry_run_json)

    if args.check:
        from rawdiff.results import snapshot_scale

        scale = snapshot_scale(args.check)
        if scale and scale != args.scale:
            from rawdiff.errors import DataError

            raise DataError(f"{args.check} is a {scale!r} snapshot but --scale is {args.scale!r}; "
                            f"run `rawdiff reproduce --scale {scale} --check {args.check}`")
    result = reproduce(scale=args.scale, only=args.only, data_root=args.data_root, params=parse_params(args.param),
                       out_dir=args.out_dir, build_dir=args.build_dir, device=args.device, seed=args.seed,
                       notebooks_dir=args.notebooks_dir, progress=not args.no_progress, html=not args.no_html,
                       runs=args.runs, synthetic=args.synthetic)
    total = sum(r.seconds for r in result.runs)
    n_files = sum(len(r.files) for r in result.runs)
    print(f"ran {len(result.runs)} notebook(s) in {total:.1f} s; {n_files} file(s) in {result.out_dir}")
    if args.check:
        from rawdiff.commands.results import check

        ran = [r.name[:2] for r in result.runs] if args.only else None   # --only: check what was re-run
        return check(args.check, result.out_dir, args.rtol, args.atol, ran)
    return 0
