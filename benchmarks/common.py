"""Shared helpers for the benchmark scripts: environment facts, peak memory, result recording.

Every benchmark prints a small table and appends one JSON line per measurement to ``benchmarks/results.jsonl``
(or ``$RAWDIFF_BENCH_OUT``): ``{"bench", "commit", "device", "torch", "when", ...figures}``.

Memory columns are per row (issue 23): :class:`RowMemory` resets the process's RSS high-water mark before a row
and reads it after (rawdiff.peakmem; ``rss_scope`` says ``"block"``, or ``"process"`` where the mark cannot be
reset), and ``make bench`` (benchmarks/run_all.py) runs every row group in a process of its own.  A row's peak
includes what the process already held (torch, the interpreter: ~300 MiB on a CPU).
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import platform
from pathlib import Path
from typing import Any, Iterable, Mapping

import torch

from rawdiff.figures import to_markdown
from rawdiff.peakmem import PeakRSS, current_rss_mib, process_peak_rss_mib
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
    """Peak resident set size of this *process so far* (MiB) and, on CUDA, max allocated since the last reset
    (MiB).  Not a per-row figure after a bigger row: measure rows with :class:`RowMemory`."""
    out = {"peak_rss_mib": process_peak_rss_mib(), "rss_scope": "process"}
    if device.type == "cuda":
        out["cuda_max_alloc_mib"] = torch.cuda.max_memory_allocated(device) / 2**20
    return out


class RowMemory:
    """``with RowMemory(device) as m: <one row's work>`` -> ``m.figures``: the peak RSS while the block ran
    (``peak_rss_mib``, ``rss_scope``), the RSS the process already held when it began (``rss_at_start_mib``: memory
    an earlier row in the same process left behind counts in the peak — run rows in processes of their own to
    exclude it) and, on CUDA, the max allocated in the block (``cuda_max_alloc_mib``)."""

    def __init__(self, device: torch.device):
        self.device = torch.device(device)
        self.figures: dict = {}

    def __enter__(self) -> "RowMemory":
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
        self._rss = PeakRSS().__enter__()
        self._start = current_rss_mib()
        return self

    def __exit__(self, *exc) -> None:
        self._rss.__exit__(*exc)
        self.figures = {"peak_rss_mib": round(self._rss.mib, 1), "rss_scope": self._rss.scope}
        if self._start is not None:   # what the process already held when the row began (earlier rows' leftovers)
            self.figures["rss_at_start_mib"] = round(self._start, 1)
        if self.device.type == "cuda":
            self.figures["cuda_max_alloc_mib"] = round(torch.cuda.max_memory_allocated(self.device) / 2**20, 1)
            self.figures["cuda_max_reserved_mib"] = round(torch.cuda.max_memory_reserved(self.device) / 2**20, 1)


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
