"""Shared helpers for the benchmark scripts: environment facts, peak memory, result recording.

Every benchmark prints a small table and appends one JSON line per measurement to ``benchmarks/results.jsonl``
(or ``$RAWDIFF_BENCH_OUT``): ``{"bench", "commit", "device", "torch", "when", ...figures}``.
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import resource
from pathlib import Path
from typing import Any, Iterable, Mapping

import torch

from rawdiff.figures import to_markdown
from rawdiff.utils import git_commit
from rawdiff.utils import repo_root


def results_path() -> Path:
    env = os.environ.get("RAWDIFF_BENCH_OUT")
    if env:
        return Path(env)
    root = repo_root() or Path.cwd()
    return root / "benchmarks" / "results.jsonl"


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def peak_memory(device: torch.device) -> dict[str, float]:
    """Peak resident set size of this process (MiB) and, on CUDA, max allocated (MiB)."""
    out = {"peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    if device.type == "cuda":
        out["cuda_max_alloc_mib"] = torch.cuda.max_memory_allocated(device) / 2**20
    return out


def record(bench: str, device: torch.device, rows: Iterable[Mapping[str, Any]], title: str | None = None) -> list[dict]:
    """Print ``rows`` as a table and append them (with commit/device/torch/time) to the results file."""
    rows = [dict(r) for r in rows]
    print(f"\n## {title or bench}  [{device_name(device)}, torch {torch.__version__}]\n")
    print(to_markdown(rows, digits=4))
    meta = {"bench": bench, "commit": git_commit(repo_root()), "device": device_name(device), "torch": torch.__version__,
            "when": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}
    path = results_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        for r in rows:
            f.write(json.dumps({**meta, **r}, default=str) + "\n")
    return rows
