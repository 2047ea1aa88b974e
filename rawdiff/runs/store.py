"""The run store: dataset digest, cache key, on-disk run format (``run.json``), the :class:`Trained` result and run
discovery.  Reuse-or-train is rawdiff.runs.lifecycle; loading any run by its kind is rawdiff.runs.kinds.

A *run* is one trained network in one folder, written by the one training loop (rawdiff.train: ``latest`` ->
``ckpt-*/`` with safetensors weights) plus one metadata file, ``run.json``: the configs it was trained with
(``config``; normalisers and sampler included for DiD), kind, scale, seed, steps, data path and digest, cache key,
git commit, date and training wall time.  ``rawdiff train`` and the notebooks (through
rawdiff.runs.lifecycle.get_or_train) write exactly this, so ``rawdiff develop/enhance --run`` accept either, and ``rawdiff runs``
lists both.  Kinds: ``isp`` (ISPNet), ``diffraw`` (DTDM / DDPM UNet; ``isp_run`` in run.json names the ISPNet it
was trained beside), ``did`` (DiD denoiser), ``regress`` (regression UNet).  Runs saved before run.json held the
configs kept them in ``config.json`` / ``did.json`` / ``regress.json``: :func:`run_config` still reads those.

Reuse is keyed by :func:`cache_key` over everything that changes the weights — model + training config, data
digest, seed, whether the LPIPS loss term is active, :data:`CODE_VERSION` — the content-addressed caching idea
of build systems (e.g. Nix, Bazel) applied to checkpoints.  Low-level checkpoint reading stays in rawdiff.train
(``load_run``, ``run_is_complete``, ``read_history``).
"""
from __future__ import annotations

import datetime as _dt
import json
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

from rawdiff.checkpoint_io import read_json
from rawdiff.config import TrainConfig
from rawdiff.errors import DataError, RawdiffError
from rawdiff.utils import (
    atomic_write_text,
    default_cache_dir,
    git_commit,
    repo_root,
    sha256_file,
    sha256_json,
)

CODE_VERSION = 2      # bump when training code changes what a cached checkpoint means (was 1 in every pipeline)
RUN_FILE = "run.json"
KIND_NAMES = ("isp", "diffraw", "did", "regress")
MAX_CONTENT_FILES = 4000  # datasets with more files are digested by (relative path, size): the real ZRR has ~96k


# ----------------------------------------------------------------------------------------------- keys
def data_digest(root: str | os.PathLike, max_content_files: int = MAX_CONTENT_FILES) -> str:
    """The one dataset digest: sha256 over (relative path, content sha256) of every non-hidden file under
    ``root``; above ``max_content_files`` files, (relative path, size) instead — recorded in the digest."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: dataset folder does not exist")
    files = sorted(p for p in root.rglob("*") if p.is_file() and not any(s.startswith(".") for s in
                                                                           p.relative_to(root).parts))
    full = len(files) <= max_content_files
    entries = [[p.relative_to(root).as_posix(), sha256_file(p) if full else p.stat().st_size] for p in files]
    return sha256_json({"policy": "content" if full else "size", "files": entries})


# Training settings that do not change trained weights (logging, checkpoint cadence): left out of cache keys.
# Sampler settings have their own configs (rawdiff.config.DTDMSampler, DiDSampler) and never enter a key.
NOT_WEIGHTS = ("log_every", "ckpt_every")


def cache_key(kind: str, *, model: Any, train: TrainConfig | Mapping, data: str, seed: int, lpips: bool = False,
              extra: Any = None) -> str:
    """16-hex key over everything that changes a network's weights (and nothing else)."""
    from dataclasses import asdict, is_dataclass

    tr = asdict(train) if is_dataclass(train) else dict(train)
    tr["seed"] = int(seed)
    for k in NOT_WEIGHTS:
        tr.pop(k, None)
    return sha256_json({"version": CODE_VERSION, "kind": kind, "model": model, "train": tr, "data": data,
                        "seed": int(seed), "lpips": bool(lpips), "extra": extra})[:16]


def train_config(cfg: TrainConfig, seed: int | None = None, steps: int | None = None) -> TrainConfig:
    """``cfg`` with ``seed`` / ``steps`` overridden (checkpoint interval capped at ``steps``)."""
    if seed is not None:
        cfg = replace(cfg, seed=int(seed))
    if steps is not None:
        cfg = replace(cfg, steps=int(steps), ckpt_every=min(cfg.ckpt_every, int(steps)))
    return cfg


# ----------------------------------------------------------------------------------------------- run.json
def write_meta(run_dir: str | os.PathLike, **info) -> dict:
    """Merge ``info`` into ``run_dir/run.json`` (atomically); adds ``format``, ``date`` and ``git_commit``."""

    p = Path(run_dir) / RUN_FILE
    old = read_meta(run_dir) or {}
    meta = {"format": 1, **old, **info}
    if "date" not in meta:
        meta["date"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    if "git_commit" not in meta:  # a subprocess: once per run, not at every checkpoint that rewrites run.json
        meta["git_commit"] = git_commit(repo_root())
    atomic_write_text(p, json.dumps(meta, indent=1, sort_keys=True, default=str))
    return meta


def read_meta(run_dir: str | os.PathLike) -> dict | None:
    """``run.json`` of a run (None when absent or unreadable)."""
    p = Path(run_dir) / RUN_FILE
    try:
        meta = json.loads(p.read_text())
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) else None


# ----------------------------------------------------------------------------------------------- result
@dataclass
class Trained:
    """A trained network: ``model`` (EMA weights, ready for inference; for DiD and the regression baseline the
    model bundle with its normalisers), where its run lives, its loss history, whether it was reused from the
    cache, the training wall time now (0 when reused), the step it reached and, from the training loop itself,
    the online (non-EMA) network."""

    model: Any
    run_dir: Path | None
    history: list[dict] = field(default_factory=list)
    reused: bool = False
    seconds: float = 0.0
    step: int = 0
    online: Any = None


def cache_path(cache_dir: str | os.PathLike | None, name: str, key: str, group: str | None = None) -> Path:
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    return (root / group if group else root) / f"{name}-{key}"


# ----------------------------------------------------------------------------------------------- discovery
@dataclass(frozen=True)
class RunInfo:
    """One run found on disk (see :func:`find_runs`)."""

    path: Path
    kind: str
    meta: dict = field(default_factory=dict, compare=False)

    @property
    def scale(self) -> str | None:
        return self.meta.get("scale")

    @property
    def steps(self) -> int | None:
        return self.meta.get("steps")

    @property
    def date(self) -> str:
        return str(self.meta.get("date") or "")

    @property
    def data(self) -> str | None:
        return self.meta.get("data")

    def size_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.path.rglob("*") if p.is_file())

    def describe(self) -> str:
        return f"{self.kind} run ({self.scale or '?'} scale, {self.date or 'undated'}) at {self.path}"


def default_roots() -> list[Path]:
    """Where runs are looked for: the notebooks' cache (``$RAWDIFF_CACHE`` or build/cache) and ``./runs``."""
    return [default_cache_dir(), Path.cwd() / "runs"]


def run_config(run_dir: str | os.PathLike, legacy: Sequence[str] = ("config.json",)) -> tuple[dict, Path] | None:
    """The configs a run was trained with and the file they came from: the ``config`` entry of ``run.json``
    (rawdiff.train writes it with every checkpoint), else — runs saved before run.json held them — the first of
    ``legacy`` that exists (``config.json``, ``did.json``, ``regress.json``); None when there is none.  Malformed
    JSON raises a one-line DataError naming the file (rawdiff.checkpoint_io.read_json)."""

    run_dir = Path(run_dir)
    if (run_dir / RUN_FILE).exists():
        meta = read_json(run_dir / RUN_FILE)
        if isinstance(meta.get("config"), dict):
            return meta["config"], run_dir / RUN_FILE
    for name in legacy:
        if (run_dir / name).exists():
            return read_json(run_dir / name), run_dir / name
    return None


def kind_config(run_dir: str | os.PathLike, kind: str, what: str, legacy: Sequence[str] = ()) -> tuple[dict, Path]:
    """:func:`run_config` of a run that must hold ``kind`` (``what`` names it in messages), else a one-line
    RawdiffError: no configs found, or the run holds another kind."""
    found = run_config(run_dir, legacy)
    if found is None:
        raise RawdiffError(f"{run_dir}: not a {what} run (no run.json); train one with `rawdiff train {kind}`")
    if found[0].get("kind") != kind:
        raise RawdiffError(f"{run_dir}: holds a {found[0].get('kind', 'unnamed')!r} run, not a {what} run")
    return found


def legacy_meta(d: Path) -> dict | None:
    """Kind/scale/steps of a run whose run.json does not name them, from the configs it was trained with."""
    try:
        found = run_config(d)
    except DataError:
        return None
    conf = found[0] if found else None
    if not isinstance(conf, dict) or conf.get("kind") not in KIND_NAMES:
        return None
    date = _dt.datetime.fromtimestamp((d / "latest").stat().st_mtime, _dt.timezone.utc).isoformat(timespec="seconds")
    return {"kind": conf["kind"], "scale": conf.get("scale"), "steps": (conf.get("train") or {}).get("steps"),
            "data": conf.get("data_root"), "date": date, "mode": conf.get("mode"), "condition": conf.get("condition")}


def find_runs(roots: Iterable[str | os.PathLike] | None = None, kind: str | None = None,
              max_depth: int = 4) -> list[RunInfo]:
    """Every run (a folder with a ``latest`` checkpoint pointer) under ``roots``, newest first."""
    found: dict[Path, RunInfo] = {}
    for root in (default_roots() if roots is None else roots):
        root = Path(root)
        if not root.is_dir():
            continue
        base = len(root.resolve().parts)
        for dirpath, dirnames, filenames in os.walk(root.resolve()):
            d = Path(dirpath)
            dirnames[:] = sorted(n for n in dirnames if not n.startswith(".") and not n.startswith("ckpt-")
                                 and len(d.parts) - base < max_depth)
            if "latest" not in filenames:
                continue
            meta = read_meta(d)
            if not meta or meta.get("kind") not in KIND_NAMES:
                meta = {**(legacy_meta(d) or {}), **(meta or {})}
            if meta.get("kind") in KIND_NAMES and (kind is None or meta["kind"] == kind):
                found[d] = RunInfo(d, meta["kind"], meta)
    return sorted(found.values(), key=lambda r: r.date, reverse=True)


def latest_run(kind: str, roots: Iterable[str | os.PathLike] | None = None,
               accept: Callable[[RunInfo], bool] | None = None) -> RunInfo | None:
    """The newest run of ``kind`` under ``roots`` that ``accept`` (if given) admits."""
    for r in find_runs(roots, kind):
        if accept is None or accept(r):
            return r
    return None


def no_run_message(kind: str, command: str) -> str:
    roots = " and ".join(str(r) for r in default_roots())
    return (f"no trained {kind} run found in {roots}; run `make reproduce` or `rawdiff train {command} --data DIR "
            f"--out runs/NAME`, or pass --run RUN_DIR")


def resolve_run(run: str | os.PathLike | None, kind: str, command: str,
                usable: Callable[[RunInfo], Path | None] | None = None, announce: Callable[[str], Any] = print) -> Path:
    """``--run`` if given, else the newest usable run of ``kind`` (announced: kind, scale, date, path); with none,
    a one-line :class:`RawdiffError` telling to run ``make reproduce`` or ``rawdiff train``.

    ``usable(info)`` returns the folder to load for that run, or None to skip it (default: the run's folder).
    """
    if run is not None:
        return Path(run)
    for info in find_runs(kind=kind):
        path = usable(info) if usable is not None else info.path
        if path is not None:
            announce(f"using the newest {info.describe()}")
            return Path(path)
    raise RawdiffError(no_run_message(kind, command))
