"""`make bench`: every benchmark once, on the default device, sized to finish in < 10 minutes on 2 CPU cores.

Each benchmark prints its table and appends JSON lines (commit, device, torch version, figures) to
``benchmarks/results.jsonl``.  Run one alone with ``python -m benchmarks.bench_<name> --help``.

    python -m benchmarks.run_all [--device auto] [--only synth,train,dtdm,cascade]
"""
from __future__ import annotations

import argparse
import importlib
import time

# name -> (module, extra CLI arguments for the suite run)
SUITE = {
    "synth": ("benchmarks.bench_synth", []),
    # every speed option at smoke size (torch.compile: ~1 min of compiling per model on 2 cores with a cold
    # inductor cache, a few seconds warm); medium (16M-param UNets) only in fp32 — a bf16 step of it on 2 CPU
    # cores takes minutes (pass --options to bench_train directly for the rest, e.g. on a GPU)
    "train": ("benchmarks.bench_train", ["--sizes", "smoke", "--options", "plain,default,channels_last,bf16,compile",
                                         "--steps", "3"]),
    "train_medium": ("benchmarks.bench_train", ["--sizes", "medium", "--options", "plain", "--steps", "1"]),
    "dtdm": ("benchmarks.bench_dtdm", ["--n-images", "4"]),
    "cascade": ("benchmarks.bench_cascade", ["--size", "256"]),
}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--only", default=",".join(SUITE))
    args = ap.parse_args(argv)
    total = time.perf_counter()
    for name in args.only.split(","):
        module, extra = SUITE[name]
        t0 = time.perf_counter()
        print(f"\n=== bench {name} ({module}) ===", flush=True)
        importlib.import_module(module).main(["--device", args.device, *extra])
        print(f"=== bench {name}: {time.perf_counter() - t0:.1f} s", flush=True)
    print(f"\nall benchmarks: {time.perf_counter() - total:.1f} s; results appended to benchmarks/results.jsonl")


if __name__ == "__main__":
    main()
