"""Peak resident memory of one piece of work: the paper-size dry run (rawdiff.dryrun) and the benchmarks
(benchmarks/common.py) report it per stage / per row.

``getrusage(RUSAGE_SELF).ru_maxrss`` is the peak of the *whole process so far*, so every row measured after a
big one shows the big one's peak.  Two ways to measure one piece of work alone:

* run it in its own process and read that process's own peak (:func:`run_child` below: the child reports its
  own ``VmHWM`` — not ``RUSAGE_CHILDREN``, the largest of all children waited for, nor its ``ru_maxrss``, which
  Linux seeds with the parent's peak at fork + exec);
* on Linux, reset the process's high-water mark before the work (writing ``5`` to ``/proc/self/clear_refs``,
  see proc(5)) and read ``VmHWM`` from ``/proc/self/status`` after it (:class:`PeakRSS`).
"""
from __future__ import annotations

import json
import os
import re
import resource
import subprocess
import sys
from pathlib import Path
from typing import Sequence

RESULT_TAG = "RAWDIFF-CHILD-RESULT "   # the line a child prints with its JSON result (:func:`child_result`)


def process_peak_rss_mib() -> float:
    """Peak RSS of this process (MiB): ``VmHWM`` where /proc has it — the peak of this program since it was
    started (exec) or since the last :func:`reset_peak_rss` — else ``ru_maxrss`` (KiB on Linux, bytes on macOS).

    ``ru_maxrss`` alone is wrong for a child: Linux carries the parent's high-water mark across fork + exec
    into the child's ``ru_maxrss`` (measured: a 20 MiB child of a 540 MiB pytest reported 542 MiB)."""
    hwm = _vm_hwm_mib()
    if hwm is not None:
        return hwm
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024


def _status_mib(field: str) -> float | None:
    """A ``kB`` line of /proc/self/status (``VmHWM``, ``VmRSS``) in MiB; None where there is no such line."""
    try:
        m = re.search(rf"{field}:\s+(\d+)\s+kB", Path("/proc/self/status").read_text())
    except OSError:
        return None
    return int(m.group(1)) / 1024 if m else None


def _vm_hwm_mib() -> float | None:
    return _status_mib("VmHWM")


def current_rss_mib() -> float | None:
    """This process's resident set size now (MiB; ``VmRSS``), None where /proc has no such line."""
    return _status_mib("VmRSS")


def reset_peak_rss() -> bool:
    """Reset this process's RSS high-water mark (Linux >= 4.0); False where that is not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return False
    return _vm_hwm_mib() is not None


class PeakRSS:
    """``with PeakRSS() as m: work()`` -> ``m.mib``: the peak RSS while the block ran, and ``m.scope``: ``"block"``
    when the high-water mark could be reset (Linux), else ``"process"`` (the process's peak so far)."""

    def __enter__(self) -> "PeakRSS":
        self.scope = "block" if reset_peak_rss() else "process"
        self.mib = 0.0
        return self

    def __exit__(self, *exc) -> None:
        self.mib = process_peak_rss_mib()


def child_result(result: dict) -> None:
    """In a child process: print ``result`` plus this process's own peak RSS as the tagged last line."""
    print(RESULT_TAG + json.dumps({**result, "child_peak_rss_mib": round(process_peak_rss_mib(), 1)},
                                  default=str), flush=True)


def run_child(args: Sequence[str], timeout: float | None = None, env: dict | None = None) -> tuple[dict | None, str]:
    """Run ``python <args>`` in a fresh process; return (the dict it printed with :func:`child_result` or None,
    the tail of its output).  The dict carries ``child_peak_rss_mib``: that child's own peak, nothing else's."""
    try:
        proc = subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=timeout,
                              env={**os.environ, **(env or {})})
        out = proc.stdout + proc.stderr
    except subprocess.TimeoutExpired as err:
        parts = [p.decode(errors="replace") if isinstance(p, bytes) else (p or "") for p in (err.stdout, err.stderr)]
        out = "".join(parts) + f"\ntimed out after {timeout} s"
        return None, out[-2000:]
    result = None
    for line in proc.stdout.splitlines():
        if line.startswith(RESULT_TAG):
            result = json.loads(line[len(RESULT_TAG):])
    if result is not None:
        result["returncode"] = proc.returncode
    return result, out[-2000:]
