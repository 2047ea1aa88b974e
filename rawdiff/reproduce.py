"""Run the ordered notebooks with papermill and record every figure/table they write in ``MANIFEST.json``.

``rawdiff reproduce`` (and ``make reproduce``) call :func:`reproduce`: it executes ``notebooks/NN_*.ipynb``
in order (kernel ``python3``, cwd = the notebooks folder) with the parameters ``scale``, ``seed``,
``device``, ``data_root``, ``out_dir`` (+ any ``-p key=value`` extras), writes the executed copies to the
build folder (never committed) with a static HTML page of each (``NN_name.html``: the figures shown inline by
:func:`rawdiff.figures.save_figure` and the tables, readable without Jupyter; ``html=False`` skips it), checks
what a reader will see in each (:func:`check_executed`: one inline image per saved figure, no path echoes, no
tables printed as text; problems are warned about and recorded in the manifest), stops at the first failing
notebook naming it and the failing cell, and writes ``<out_dir>/MANIFEST.json``::

    {"git_commit": ..., "files": {"01_samples.png": {"notebook": "01_data_prep", "parameters": {...},
     "git_commit": ..., "sha256": ..., "size": ...}, ...}, "notebooks": {"01_data_prep": {"seconds": ...,
     "html": ..., "report": {"figures": 3, "inline_images": 3, "problems": []}}}}

A file belongs to a notebook when its name starts with the notebook's number prefix (``01_``, see
rawdiff/figures.py) and the notebook created or rewrote it during the run.  Runs with ``only=`` merge into
an existing manifest (entries of the notebooks that were not re-run are kept).
"""
from __future__ import annotations

import ast
import json
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

from rawdiff import __version__
from rawdiff.errors import RawdiffError
from rawdiff.utils import atomic_write_text, git_commit, repo_root, resolve_device, sha256_file

MANIFEST_NAME = "MANIFEST.json"
_NB_RE = re.compile(r"^(\d{2})_[A-Za-z0-9_\-]+\.ipynb$")
_IGNORED = {MANIFEST_NAME, "README.md", ".gitignore", ".gitkeep"}


class NotebookFailed(RawdiffError):
    """A notebook raised while papermill executed it; the message names the notebook and the failing cell."""

    def __init__(self, notebook: str, message: str, *, cell_index: int | None = None,
                 exec_count: int | None = None, ename: str | None = None, evalue: str | None = None,
                 executed_path: Path | None = None):
        self.notebook, self.cell_index, self.exec_count = notebook, cell_index, exec_count
        self.ename, self.evalue, self.executed_path = ename, evalue, executed_path
        super().__init__(message)


@dataclass(frozen=True)
class NotebookRun:
    """One executed notebook: where it came from, where the executed copy is, how long it took, what it wrote."""

    name: str                      # "01_data_prep"
    source: Path
    executed: Path
    seconds: float
    parameters: Mapping[str, Any]
    files: tuple[str, ...]         # names (relative to out_dir) this notebook wrote
    ok: bool = True
    error: str | None = None
    html: Path | None = None       # static HTML of the executed copy (see export_html)
    report: Mapping[str, Any] | None = None   # what a reader sees in the executed copy (see check_executed)


@dataclass(frozen=True)
class ReproduceResult:
    runs: tuple[NotebookRun, ...]
    manifest_path: Path
    out_dir: Path
    scorecard: Any = None
    stale_files: tuple[str, ...] = field(default_factory=tuple)


# ------------------------------------------------------------------------------------ small helpers
def parse_param(text: str) -> tuple[str, Any]:
    """``"key=value"`` -> ``(key, value)``; the value is a Python literal if it parses as one, else a string."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key.isidentifier():
        raise RawdiffError(f"bad parameter {text!r}: expected key=value with a Python identifier as key")
    try:
        value = ast.literal_eval(raw.strip())
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        value = raw.strip()
    return key, value


def parse_params(items: Iterable[str] | None) -> dict[str, Any]:
    return dict(parse_param(t) for t in (items or ()))


def find_notebooks(notebooks_dir: Path, only: str | Sequence[str] | None = None) -> list[Path]:
    """``NN_*.ipynb`` in ``notebooks_dir`` sorted by number; ``only`` = ``"01,02"`` / ``["1", "02_data"]``."""
    notebooks_dir = Path(notebooks_dir)
    if not notebooks_dir.is_dir():
        raise RawdiffError(f"{notebooks_dir}: notebooks folder not found")
    nbs = sorted((p for p in notebooks_dir.iterdir() if _NB_RE.match(p.name)), key=lambda p: p.name)
    if not nbs:
        raise RawdiffError(f"{notebooks_dir}: no notebooks named NN_*.ipynb")
    if only is None or only == "" or only == []:
        return nbs
    wanted = [w.strip() for w in (only.split(",") if isinstance(only, str) else only) if str(w).strip()]
    chosen = []
    for w in wanted:
        w = str(w).removesuffix(".ipynb")
        if w.isdigit():
            hits = [p for p in nbs if int(p.name[:2]) == int(w)]
        else:
            hits = [p for p in nbs if p.stem == w or p.stem.startswith(w)]
        if not hits:
            raise RawdiffError(f"--only {w!r} matches no notebook; available: {', '.join(p.stem for p in nbs)}")
        chosen += [p for p in hits if p not in chosen]
    return sorted(chosen, key=lambda p: p.name)


def _snapshot(out_dir: Path) -> dict[str, tuple[int, int, int]]:
    """name -> (inode, mtime_ns, size) of the plain files in ``out_dir`` (atomic writes change the inode)."""
    if not out_dir.is_dir():
        return {}
    snap = {}
    for p in out_dir.iterdir():
        if p.is_file() and not p.name.startswith(".") and p.name not in _IGNORED:
            st = p.stat()
            snap[p.name] = (st.st_ino, st.st_mtime_ns, st.st_size)
    return snap


def _locate_failing_cell(source_nb: Path, err) -> int | None:
    """Index of the failing cell in the *source* notebook (papermill's index counts injected cells)."""
    try:
        import nbformat

        nb = nbformat.read(source_nb, as_version=4)
    except Exception:  # noqa: BLE001 - best effort only
        return None
    src = (getattr(err, "source", "") or "").strip()
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and cell.source.strip() == src:
            return i
    return None


def _failure(nb: Path, executed: Path, err: BaseException) -> NotebookFailed:
    from papermill.exceptions import PapermillExecutionError

    rel = executed
    if isinstance(err, PapermillExecutionError):
        idx = _locate_failing_cell(nb, err)
        first = next((ln for ln in (err.source or "").splitlines() if ln.strip()), "").strip()
        where = (f"cell {idx}" if idx is not None else f"executed cell {err.cell_index}") + \
                f" (execution count {err.exec_count}: {first[:60]!r})"
        msg = f"notebook {nb.name} failed in {where}: {err.ename}: {err.evalue} — executed copy: {rel}"
        return NotebookFailed(nb.stem, msg, cell_index=idx, exec_count=err.exec_count, ename=err.ename,
                              evalue=str(err.evalue), executed_path=executed)
    msg = f"notebook {nb.name} failed: {type(err).__name__}: {err} — executed copy: {rel}"
    return NotebookFailed(nb.stem, msg, ename=type(err).__name__, evalue=str(err), executed_path=executed)


def export_html(executed: Path) -> Path:
    """Write the executed notebook ``executed`` as a static HTML page next to it (``NN_name.html``, nbconvert's
    ``lab`` template): inline figures embedded, Markdown tables rendered; no Jupyter needed to read it."""
    import nbformat
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter().from_notebook_node(nbformat.read(str(executed), as_version=4))
    return atomic_write_text(Path(executed).with_suffix(".html"), body)


_PATH_ECHO = re.compile(r"\b(?:Posix|Windows)?Path\(")
_TEXT_TABLE = re.compile(r"^\|.*\|\n\|(?:-+\|)+", re.M)


def check_executed(executed: Path, files: Iterable[str]) -> dict[str, Any]:
    """What a reader of the executed notebook sees: ``{"figures": PNGs it wrote (of ``files``), "inline_images":
    image/png outputs, "problems": [...]}``; problems are fewer inline images than figures, a cell whose result
    is a path, and a Markdown table printed as text (rawdiff.figures.show_table renders one)."""
    import nbformat

    nb = nbformat.read(str(executed), as_version=4)
    images, problems = 0, []
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            images += "image/png" in data
            if out.output_type == "execute_result" and _PATH_ECHO.search(data.get("text/plain", "")):
                problems.append(f"cell {i} ends by echoing a path: {data['text/plain'][:80]}")
            if out.output_type == "stream" and _TEXT_TABLE.search(out.get("text", "")):
                problems.append(f"cell {i} prints a Markdown table as text (use rawdiff.figures.show_table)")
    figures = sum(Path(f).suffix == ".png" for f in files)
    if images < figures:
        problems.append(f"{figures} figure(s) saved but {images} shown inline")
    return {"figures": figures, "inline_images": images, "problems": problems}


def _jsonable(v: Any) -> Any:
    try:
        json.dumps(v)
        return v
    except TypeError:
        return repr(v)


def machine_info(device: str = "auto") -> dict:
    """Where a run happened: the device the notebooks resolve ``device`` to (with the GPU's name), CPU count,
    torch threads and version, platform, and the UTC date — recorded in the manifest next to the wall times."""
    import datetime
    import platform

    import torch

    dev = resolve_device(device)
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else (platform.processor() or platform.machine())
    return {"device": f"{dev} ({name})", "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__, "platform": platform.platform(),
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}


def write_manifest(out_dir: Path, runs: Sequence[NotebookRun], commit: str | None, *, scale: str | None = None,
                   merge: bool = True, extra_files: Mapping[str, str] | None = None,
                   pending: Iterable[str] = (), machine: Mapping[str, Any] | None = None) -> Path:
    """Write ``out_dir/MANIFEST.json`` for ``runs``; with ``merge`` keep entries of notebooks not in ``runs``.

    ``extra_files`` maps other generated files in ``out_dir`` (the claims scorecard) to what generated them.
    ``pending`` names notebooks about to run: their entries (and the scorecard's) are dropped and the manifest
    says ``"complete": false``, so a run killed midway (``kill -9``) never leaves hashes of files it rewrote.
    """

    out_dir = Path(out_dir)
    path = out_dir / MANIFEST_NAME
    old: dict = {}
    if merge and path.exists():
        try:
            old = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            old = {}
    pending = set(pending)
    rerun = {r.name for r in runs} | pending
    files = {k: v for k, v in old.get("files", {}).items()
             if v.get("notebook") not in rerun and (out_dir / k).is_file()
             and not (pending and v.get("notebook") is None)}
    notebooks = {k: v for k, v in old.get("notebooks", {}).items() if k not in rerun}
    for r in runs:
        params = {k: _jsonable(v) for k, v in r.parameters.items()}
        notebooks[r.name] = {"source": r.source.name, "executed": str(r.executed),
                             **({"html": str(r.html)} if r.html else {}), "seconds": round(r.seconds, 3),
                             "ok": r.ok, "error": r.error, "parameters": params, "git_commit": commit,
                             "files": list(r.files), **({"report": dict(r.report)} if r.report else {})}
        for name in r.files:
            f = out_dir / name
            files[name] = {"notebook": r.name, "parameters": params, "git_commit": commit,
                           "sha256": sha256_file(f), "size": f.stat().st_size}
    for name, producer in (extra_files or {}).items():
        f = out_dir / name
        files[name] = {"notebook": None, "generated_by": producer, "git_commit": commit,
                       "sha256": sha256_file(f), "size": f.stat().st_size}
    for r in runs:  # where each notebook ran (a merged manifest can mix runs from different machines/dates)
        if machine:
            notebooks[r.name]["machine"] = dict(machine)
    manifest = {"rawdiff_version": __version__, "git_commit": commit, "scale": scale,
                "complete": not pending and all(r.ok for r in runs),
                "machine": dict(machine) if machine else old.get("machine"),
                "seconds_total": round(sum(float(v.get("seconds", 0.0)) for v in notebooks.values()), 1),
                "files": dict(sorted(files.items())), "notebooks": dict(sorted(notebooks.items()))}
    atomic_write_text(path, json.dumps(manifest, indent=2, sort_keys=False) + "\n")
    return path


def _maybe_scorecard(out_dir: Path) -> Any:
    """Write the claims scorecard (rawdiff.claims.scorecard.write_scorecard) for the tables in ``out_dir``."""
    import importlib

    return importlib.import_module("rawdiff.claims.scorecard").write_scorecard(out_dir)  # looked up now: tests stub it


# --------------------------------------------------------------------------------------------- main
def reproduce(*, scale: str = "smoke", only: str | Sequence[str] | None = None, data_root: str | None = None,
              params: Mapping[str, Any] | None = None, out_dir: str | os.PathLike | None = None,
              build_dir: str | os.PathLike | None = None, device: str = "auto", seed: int = 0,
              notebooks_dir: str | os.PathLike | None = None, kernel_name: str = "python3",
              progress: bool = True, scorecard: bool = True, html: bool = True,
              runs: str | os.PathLike | Sequence[str | os.PathLike] | None = None, synthetic: bool = False,
              log: Callable[[str], None] | None = print) -> ReproduceResult:
    """Execute the notebooks in order and write ``MANIFEST.json`` (see the module docstring).

    Relative ``out_dir`` / ``build_dir`` / ``data_root`` are taken relative to the current directory; the
    defaults are ``<repo>/figures`` and ``<repo>/build/notebooks``.  ``html`` also writes each executed notebook as
    ``<build_dir>/NN_name.html`` (:func:`export_html`).  Raises :class:`NotebookFailed` at the
    first failing notebook (after recording the notebooks that did run in the manifest).
    ``runs``: folders of runs trained with ``rawdiff train`` (e.g. under torchrun) that the notebooks use when the
    key matches (notebook parameter ``runs``; rawdiff.runs.reuse).  ``scale="paper"`` needs ``data_root`` (the
    real ZRR / LOL): synthesising the paper-size sets is refused unless ``synthetic=True``.
    """
    from rawdiff.runs.reuse import as_roots

    if scale == "paper" and data_root is None and not synthetic:
        raise RawdiffError("--scale paper trains on the real datasets: pass --data-root DIR (ZRR and LOL layouts, "
                           "data/README.md), or --synthetic to synthesise paper-size sets (~47k pairs at 448 px)")
    run_roots = [str(r.resolve()) for r in as_roots(runs)]
    import papermill as pm
    from tqdm.auto import tqdm

    root = repo_root()
    if notebooks_dir is None:
        if root is None or not (root / "notebooks").is_dir():
            raise RawdiffError("rawdiff reproduce needs a source checkout with notebooks/ (this looks like a plain "
                               "install); clone the repository and `pip install -e .` it, or pass --notebooks-dir")
        notebooks_dir = root / "notebooks"
    notebooks_dir = Path(notebooks_dir).resolve()
    base = root or Path.cwd()
    out = Path(out_dir).resolve() if out_dir is not None else base / "figures"
    build = Path(build_dir).resolve() if build_dir is not None else base / "build" / "notebooks"
    nbs = find_notebooks(notebooks_dir, only)
    commit = git_commit(repo_root(notebooks_dir) or root)

    parameters: dict[str, Any] = {"scale": scale, "seed": int(seed), "device": device,
                                  "data_root": str(Path(data_root).resolve()) if data_root else None,
                                  "out_dir": str(out)}
    if run_roots:
        parameters["runs"] = ",".join(run_roots)
    parameters.update(params or {})
    out.mkdir(parents=True, exist_ok=True)
    build.mkdir(parents=True, exist_ok=True)
    # crash safety: until the end, the manifest lists only files this run will not touch ("complete": false)
    write_manifest(out, [], commit, scale=scale, pending=[nb.stem for nb in nbs])
    machine = machine_info(device)

    runs: list[NotebookRun] = []
    stale: list[str] = []
    bar = tqdm(nbs, desc="reproduce", unit="notebook", disable=not progress)
    for nb in bar:
        bar.set_postfix_str(nb.stem)
        executed = build / nb.name
        before = _snapshot(out)
        t0 = time.perf_counter()
        try:
            pm.execute_notebook(str(nb), str(executed), parameters=dict(parameters), kernel_name=kernel_name,
                                cwd=str(notebooks_dir), progress_bar=False, log_output=False)
        except Exception as err:  # noqa: BLE001 - reported with the notebook and cell, then re-raised
            failure = _failure(nb, executed, err)
            runs.append(NotebookRun(nb.stem, nb, executed, time.perf_counter() - t0, parameters,
                                    _written(out, before, nb), ok=False, error=str(failure)))
            bar.close()
            write_manifest(out, runs, commit, scale=scale, pending=[n.stem for n in nbs[len(runs):]], machine=machine)
            raise failure from err
        seconds = time.perf_counter() - t0
        files = _written(out, before, nb)
        prefix = nb.name[:3]
        stale += [n for n in _snapshot(out) if n.startswith(prefix) and n not in files]
        page = export_html(executed) if html else None
        report = check_executed(executed, files)
        runs.append(NotebookRun(nb.stem, nb, executed, seconds, parameters, files, html=page, report=report))
        if report["problems"] and log:
            bar.write(f"  warning: {nb.stem}: " + "; ".join(report["problems"]))
        if log:
            bar.write(f"  {nb.stem}: {seconds:.1f} s, {len(files)} file(s)" + (f", {page.name}" if page else ""))
    bar.close()
    card = _maybe_scorecard(out) if scorecard else None
    extra = {}
    if isinstance(card, (str, os.PathLike)) and Path(card).is_file() and Path(card).resolve().parent == out:
        extra[Path(card).name] = "rawdiff.claims.scorecard.write_scorecard"
    manifest = write_manifest(out, runs, commit, scale=scale, extra_files=extra, machine=machine)
    if stale and log:
        log(f"warning: {len(stale)} file(s) in {out} were not rewritten by this run (stale?): {', '.join(stale)}")
    if log:
        log(f"manifest: {manifest}")
    return ReproduceResult(tuple(runs), manifest, out, card, tuple(stale))


def _written(out: Path, before: Mapping[str, tuple[int, int, int]], nb: Path) -> tuple[str, ...]:
    """Files with the notebook's ``NN_`` prefix that appeared or changed since ``before``."""
    prefix = nb.name[:3]
    after = _snapshot(out)
    return tuple(sorted(n for n, st in after.items() if n.startswith(prefix) and before.get(n) != st))
