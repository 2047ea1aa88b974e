"""``rawdiff runs [--kind K] [DIR ...]``: list the trained runs rawdiff knows (notebook cache and ./runs).

One line per run, newest first: kind, scale, steps, data, date, size, path.  Without DIR the notebooks' cache
(``$RAWDIFF_CACHE`` or build/cache) and ``./runs`` are searched (rawdiff.runs.store.find_runs).
"""
from __future__ import annotations


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"


def _kind(r) -> str:
    extra = [r.meta.get(k) for k in ("mode", "condition", "normalization") if r.meta.get(k)]
    return r.kind + (f" ({', '.join(map(str, extra))})" if extra else "")


def run(args) -> int:
    from rawdiff.runs.store import default_roots, find_runs

    roots = args.dirs or default_roots()
    runs = find_runs(roots, args.kind)
    if not runs:
        print(f"no runs found in {', '.join(map(str, roots))} (make some with `make reproduce` or `rawdiff train`)")
        return 0
    rows = [(_kind(r), r.scale or "?", "?" if r.steps is None else str(r.steps), str(r.data or "?"),
             r.date[:19] or "?", _size(r.size_bytes()), str(r.path)) for r in runs]
    head = ("kind", "scale", "steps", "data", "date", "size", "path")
    widths = [max(len(x[i]) for x in [head, *rows]) for i in range(len(head) - 1)]
    for row in [head, *rows]:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)) + "  " + row[-1])
    return 0


def register(sub) -> None:
    from rawdiff.runs.store import KIND_NAMES

    p = sub.add_parser("runs", help="list trained runs (notebook cache, ./runs)", description=__doc__.splitlines()[0])
    p.add_argument("dirs", nargs="*", metavar="DIR", help="folders to search (default: the cache and ./runs)")
    p.add_argument("--kind", choices=KIND_NAMES, default=None, help="only runs of this kind")
    p.set_defaults(func=run)
