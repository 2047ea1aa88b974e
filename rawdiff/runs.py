"""The one run layer: dataset digest, cache key, on-disk run format, ``get_or_train``, ``load`` and run discovery.

A *run* is one trained network in one folder, written by the one training loop (rawdiff.train: ``config.json``,
``latest`` -> ``ckpt-*/`` with safetensors weights) plus ``run.json``: kind, scale, seed, steps, data path and
digest, cache key, git commit, date and training wall time.  ``rawdiff train`` and the notebooks (through
:func:`get_or_train`) write exactly this, so ``rawdiff develop/enhance --run`` accept either, and ``rawdiff runs``
lists both.  Kinds: ``isp`` (ISPNet), ``diffraw`` (DTDM / DDPM UNet; ``isp_run`` in run.json names the ISPNet it
was trained beside), ``did`` (DiD denoiser, + ``did.json``), ``regress`` (regression UNet, + ``regress.json``).

Reuse is keyed by :func:`cache_key` over everything that changes the weights — model + training config, data
digest, seed, whether the LPIPS loss term is active, :data:`CODE_VERSION` — the content-addressed caching idea
of build systems (e.g. Nix, Bazel) applied to checkpoints.  Low-level checkpoint reading stays in rawdiff.train
(``load_run``, ``run_is_complete``, ``read_history``).
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, TypeVar

from rawdiff.config import TrainConfig
from rawdiff.errors import DataError, RawdiffError
from rawdiff.utils import atomic_dir, atomic_write_text, default_cache_dir, repo_root, sha256_file, sha256_json

CODE_VERSION = 2      # bump when training code changes what a cached checkpoint means (was 1 in every pipeline)
RUN_FILE = "run.json"
KINDS = ("isp", "diffraw", "did", "regress")
MAX_CONTENT_FILES = 4000  # datasets with more files are digested by (relative path, size): the real ZRR has ~96k
T = TypeVar("T")


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


# Settings that do not change trained weights (logging, checkpoint cadence, sampling-only options): left out of
# cache keys, so e.g. notebook 04 asking for other sampler steps reuses notebook 03's networks.
NOT_WEIGHTS = {"train": ("log_every", "ckpt_every"), "dtdm": ("sample_steps", "eta"),
               "edm": ("sigma_min", "sigma_max", "rho", "num_steps", "s_churn"),
               "did": ("ilvr_steps", "ilvr_noised_reference", "tile_overlap", "normalization")}


def weights_only(section: str, cfg: Any) -> dict:
    """``asdict(cfg)`` without the fields of :data:`NOT_WEIGHTS` ``[section]``."""
    from dataclasses import asdict, is_dataclass

    d = asdict(cfg) if is_dataclass(cfg) else dict(cfg)
    return {k: v for k, v in d.items() if k not in NOT_WEIGHTS.get(section, ())}


def cache_key(kind: str, *, model: Any, train: TrainConfig | Mapping, data: str, seed: int, lpips: bool = False,
              extra: Any = None) -> str:
    """16-hex key over everything that changes a network's weights (and nothing else)."""
    from dataclasses import asdict, is_dataclass

    tr = asdict(train) if is_dataclass(train) else dict(train)
    tr["seed"] = int(seed)
    for k in NOT_WEIGHTS["train"]:
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
    from rawdiff.reproduce import git_commit

    p = Path(run_dir) / RUN_FILE
    old = read_meta(run_dir) or {}
    meta = {"format": 1, **old, **info}
    meta.setdefault("date", _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"))
    meta.setdefault("git_commit", git_commit(repo_root()))
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


# ----------------------------------------------------------------------------------------------- get or train
@dataclass
class CacheHit:
    """Where a cached run lives, whether it was reused, and how long training took now (0 when reused)."""

    run_dir: Path
    reused: bool
    seconds: float = 0.0


def cache_path(cache_dir: str | os.PathLike | None, name: str, key: str, group: str | None = None) -> Path:
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    return (root / group if group else root) / f"{name}-{key}"


def get_or_train(run_dir: Path, steps: int, train_fn: Callable[[Path, bool], Any], load_fn: Callable[[Path], T],
                 meta: Mapping) -> tuple[T, CacheHit]:
    """Load the complete run in ``run_dir``, else train it (resuming a partial run) and load what was written.

    ``train_fn(dir, resume)`` trains into ``dir``; ``load_fn(dir)`` loads a run (raising DataError on corrupt
    files).  A corrupt cache entry is reported with a warning and retrained into a fresh directory that replaces
    it only once training succeeded (rawdiff.utils.atomic_dir).  ``meta`` goes to ``run.json`` with the wall time.
    """
    import time

    from rawdiff.train import run_is_complete

    run_dir = Path(run_dir)
    try:
        complete = run_is_complete(run_dir, steps) and read_meta(run_dir) is not None
        if complete:
            return load_fn(run_dir), CacheHit(run_dir, True)
        corrupt = None
    except DataError as err:
        corrupt = err
    t0 = time.perf_counter()
    if corrupt is None:
        try:
            train_fn(run_dir, run_dir.exists())
        except DataError as err:  # a partial run whose checkpoint cannot be resumed
            corrupt = err
    if corrupt is not None:
        warnings.warn(f"{run_dir}: cached run is unreadable ({corrupt}); training it again", stacklevel=3)
        with atomic_dir(run_dir, overwrite=True) as tmp:
            train_fn(tmp, False)
            write_meta(tmp, **meta, wall_seconds=round(time.perf_counter() - t0, 3))
    else:
        write_meta(run_dir, **meta, wall_seconds=round(time.perf_counter() - t0, 3))
    return load_fn(run_dir), CacheHit(run_dir, False, time.perf_counter() - t0)


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


def _legacy_meta(d: Path) -> dict | None:
    """Kind/scale/steps of a run without run.json, from the run config rawdiff.train writes."""
    try:
        conf = json.loads((d / "config.json").read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(conf, dict) or conf.get("kind") not in KINDS:
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
            if not meta or meta.get("kind") not in KINDS:
                meta = {**(_legacy_meta(d) or {}), **(meta or {})}
            if meta.get("kind") in KINDS and (kind is None or meta["kind"] == kind):
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


# ----------------------------------------------------------------------------------------------- load
def load(run_dir: str | os.PathLike, device="auto"):
    """Load any run by its kind: ``isp`` -> ISPNet; ``diffraw`` (or a ``rawdiff train diffraw`` folder) ->
    (ISPNet, UNet, DTDMConfig, config) via rawdiff.pipelines.diffraw.load_run_dir; ``did`` -> DiDModel;
    ``regress`` -> RegressModel (EMA weights, on ``device``)."""
    run_dir = Path(run_dir)
    meta = read_meta(run_dir) or _legacy_meta(run_dir) or {}
    kind = meta.get("kind")
    if kind == "isp":
        from rawdiff.config import ISPNetConfig, from_dict
        from rawdiff.nn.ispnet import ISPNet
        from rawdiff.checkpoint_io import config_errors
        from rawdiff.train import load_run, read_json
        from rawdiff.utils import to_inference

        with config_errors(run_dir / "config.json"):
            net = ISPNet(from_dict(ISPNetConfig, read_json(run_dir / "config.json")["isp_net"],
                                   source=run_dir / "config.json"))
        load_run(run_dir, net, ema=True)
        return to_inference(net, device)
    if kind == "diffraw" or ((run_dir / "isp").is_dir() and (run_dir / "diffraw").is_dir()):
        from rawdiff.pipelines.diffraw_develop import load_run_dir
        return load_run_dir(run_dir, device=device)
    if kind == "did" or (run_dir / "did.json").exists():
        from rawdiff.pipelines.did import load_did
        return load_did(run_dir, device=device)
    if kind == "regress" or (run_dir / "regress.json").exists():
        from rawdiff.pipelines.regress import load_regress
        return load_regress(run_dir, device=device)
    raise RawdiffError(f"{run_dir}: not a rawdiff run (no {RUN_FILE} / config.json naming its kind)")


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
