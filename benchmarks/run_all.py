"""`make bench`: every benchmark once, on the default device, sized to finish in < 10 minutes on 2 CPU cores.

Each benchmark prints its table and appends JSON lines (commit, device, torch version, figures) to
``benchmarks/results.jsonl``.  Run one alone with ``python -m benchmarks.bench_<name> --help``.

Every row group runs in a process of its own (one per training option, one per other benchmark), and inside it
every row measures its own peak RSS (benchmarks.common.RowMemory), so no row reports the peak of a bigger row
run before it (issue 23: before, every cascade row showed the 12.5 GB of the medium training row).

    python -m benchmarks.run_all [--device auto] [--only synth,train,dtdm,cascade] [--list]
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import time

# name -> (module, extra CLI arguments for the suite run, options run one process each or None)
SUITE = {
    "synth": ("benchmarks.bench_synth", [], None),
    # every speed option at smoke size (torch.compile: ~1 min of compiling per model on 2 cores with a cold
    # inductor cache, a few seconds warm); medium (16M-param UNets) only in fp32 — a bf16 step of it on 2 CPU
    # cores takes minutes (pass --options to bench_train directly for the rest, e.g. on a GPU)
    "train": ("benchmarks.bench_train", ["--sizes", "smoke", "--steps", "3"],
              ("--options", ["plain", "default", "channels_last", "bf16", "compile"])),
    "train_medium": ("benchmarks.bench_train", ["--sizes", "medium", "--options", "plain", "--steps", "1"],
                     ("--models", ["diffraw", "did"])),
    "dtdm": ("benchmarks.bench_dtdm", ["--n-images", "4"], None),
    "cascade": ("benchmarks.bench_cascade", ["--size", "256"], None),
}


def invocations(name: str, device: str) -> list[list[str]]:
    """The command lines of suite entry ``name``: one process per option where the entry splits (``train``)."""
    module, extra, split = SUITE[name]
    base = [sys.executable, "-m", module, "--device", device, *extra]
    if split is None:
        return [base]
    flag, values = split
    return [[*base, flag, v] for v in values]


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--only", default=",".join(SUITE))
    ap.add_argument("--list", action="store_true", help="print the processes the suite would run, run nothing")
    args = ap.parse_args(argv)
    total, failed = time.perf_counter(), []
    for name in args.only.split(","):
        if name not in SUITE:
            raise SystemExit(f"unknown benchmark {name!r}; expected some of {', '.join(SUITE)}")
        for cmd in invocations(name, args.device):
            if args.list:
                print(" ".join(cmd[1:]))
                continue
            t0 = time.perf_counter()
            print(f"\n=== bench {name}: {' '.join(cmd[2:])} ===", flush=True)
            rc = subprocess.run(cmd).returncode
            print(f"=== bench {name}: {time.perf_counter() - t0:.1f} s (exit {rc})", flush=True)
            if rc:
                failed.append(f"{name} ({' '.join(cmd[2:])})")
    if args.list:
        return
    print(f"\nall benchmarks: {time.perf_counter() - total:.1f} s; results appended to benchmarks/results.jsonl")
    if failed:
        raise SystemExit(f"failed: {'; '.join(failed)}")


if __name__ == "__main__":
    main()
