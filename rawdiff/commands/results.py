"""``rawdiff results``: make, verify and compare committed results snapshots (``results/<scale>/``).

``rawdiff results snapshot figures results/study`` copies a complete reproduce run into a snapshot (tables,
claims.md, key figures downscaled, MANIFEST.json); ``rawdiff results verify results/study`` checks its hashes and
claim rows; ``rawdiff results compare results/study figures`` compares another run's outputs with it per claim
(the comparison ``rawdiff reproduce --check`` prints after re-running).  See rawdiff/results.py.

The snapshot's manifest records the sha256 of every image of the low-light / LOL pairs the run read
(``--data-sha256 FILE``: a list written by ``rawdiff data check DIR --sha256 FILE``; ``--data-root DIR``: computed
from that folder; neither: computed from the run's recorded ``data_root`` when it holds LOL, e.g.
``rawdiff results snapshot figures results/lol``); ``rawdiff results verify results/lol --data-root DIR`` checks
a LOL copy against it.
"""
from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("results", help="make / verify / compare a committed results snapshot", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    verbs = p.add_subparsers(dest="verb", metavar="VERB", required=True)
    s = verbs.add_parser("snapshot", help="copy a complete reproduce output folder into a snapshot folder")
    s.add_argument("src", help="reproduce output folder (with MANIFEST.json), e.g. figures")
    s.add_argument("dest", help="snapshot folder, e.g. results/study (replaced)")
    s.add_argument("--allow-incomplete", action="store_true", help="accept a run whose manifest is incomplete")
    s.add_argument("--data-sha256", metavar="FILE", help="record this sha256 list of the data ('<sha256>  <path>' "
                   "lines, as `rawdiff data check DIR --sha256 FILE` writes, or a JSON object) in the manifest")
    s.add_argument("--data-root", metavar="DIR", help="record the sha256 of this low-light / LOL folder's images "
                   "(default: the run's data_root when it holds LOL)")
    v = verbs.add_parser("verify", help="check a snapshot's manifest, hashes and claim rows")
    v.add_argument("folder")
    v.add_argument("--data-root", metavar="DIR", help="also check this LOL folder against the manifest's sha256 list")
    r = verbs.add_parser("rejudge", help="re-judge a snapshot's own CSVs under this code's claim rules "
                         "(rewrites claims.md and the manifest's claims; nothing re-run)")
    r.add_argument("folder")
    r.add_argument("--note", required=True, help="why (recorded in the manifest's 'rejudged' list)")
    c = verbs.add_parser("compare", help="compare a run's tables and verdicts with a snapshot")
    c.add_argument("snapshot")
    c.add_argument("run_dir", help="reproduce output folder of the new run")
    add_tolerance(c)
    p.set_defaults(func=run)


def add_tolerance(p: argparse.ArgumentParser) -> None:
    from rawdiff.results import ATOL, RTOL

    p.add_argument("--rtol", type=float, default=RTOL, help=f"relative tolerance on numbers (default {RTOL})")
    p.add_argument("--atol", type=float, default=ATOL, help=f"absolute tolerance on numbers (default {ATOL})")


def check(snapshot: str, run_dir, rtol: float, atol: float, notebooks: list[str] | None = None) -> int:
    from rawdiff.results import compare, format_checks

    checks = compare(snapshot, run_dir, rtol=rtol, atol=atol, notebooks=notebooks)
    print(format_checks(checks, rtol, atol))
    return 0 if all(c.ok for c in checks) else 1


def run(args: argparse.Namespace) -> int:
    from rawdiff import results as R
    from rawdiff import snapshot_data as SD

    if args.verb == "snapshot":
        path = R.make_snapshot(args.src, args.dest, allow_incomplete=args.allow_incomplete,
                               data_sha256=args.data_sha256, data_root=args.data_root)
        size = sum(f.stat().st_size for f in path.parent.iterdir())
        data = SD.snapshot_data(path.parent)
        print(f"snapshot: {path.parent} ({len(list(path.parent.iterdir()))} files, {size / 1e6:.2f} MB)"
              + (f"; data: sha256 of {data['n_files']} files of {data.get('root')}" if data and data.get("sha256")
                 else f"; data: {data['note']}" if data else ""))
        return 0
    if args.verb == "verify":
        problems = R.verify_snapshot(args.folder)
        if args.data_root:
            problems += [f"data: {p}" for p in SD.check_data(args.folder, args.data_root)]
        for p in problems:
            print(f"  {p}")
        print(f"{args.folder}: " + ("ok" if not problems else f"{len(problems)} problem(s)"))
        return 0 if not problems else 1
    if args.verb == "rejudge":
        for r in R.rejudge_snapshot(args.folder, args.note):
            print(f"  {r['paper']}: {r['claim'][:70]} -> {r['verdict']}")
        return 0
    return check(args.snapshot, args.run_dir, args.rtol, args.atol)
