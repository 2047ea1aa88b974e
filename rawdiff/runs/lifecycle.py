"""One life for every trained network: a :class:`ModelKind` says how a kind is keyed, trained and loaded, and
:func:`get_or_train` reuses or trains any kind the same way, returning one :class:`~rawdiff.runs.store.Trained`.

The kinds themselves are defined beside their paper's trainer — ``ISP`` and ``DIFFRAW`` in rawdiff.diffraw.train,
``DID`` in rawdiff.did.train, ``REGRESS`` in rawdiff.did.regress — and gathered by name in rawdiff.runs.kinds
(``rawdiff train`` / ``rawdiff runs`` / :func:`rawdiff.runs.kinds.load`).  A run's folder is
``cache_dir[/group]/<folder>-<key>/`` whoever trained it: the notebooks through :func:`get_or_train`, or
``rawdiff train KIND --cache`` (the same key, so each finds the other's run).
"""
from __future__ import annotations

import os
import shutil
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from rawdiff.checkpoint_io import CorruptCheckpoint
from rawdiff.config import Preset, TrainConfig
from rawdiff.distributed import dist_info, on_rank0, together
from rawdiff.presets import get_preset
from rawdiff.errors import DataError
from rawdiff.runs.lock import RunLock
from rawdiff.runs.reuse import as_roots, find_matching_run
from rawdiff.runs.store import Trained, cache_path, data_digest, read_meta, train_config, write_meta
from rawdiff.train import read_history, run_is_complete


@dataclass(frozen=True)
class ModelKind:
    """How one kind of network lives (keyed, trained, loaded); every callable takes the kind's options ``**opts``.

    * ``train_cfg(preset)`` — the preset's training config for this kind (seed / steps overridden by callers);
    * ``key(preset, tcfg, digest, **opts)`` — 16-hex rawdiff.runs.store.cache_key over what changes the weights;
    * ``train(preset, data, out_dir, *, tcfg, device, resume, progress, **opts)`` -> :class:`Trained`;
    * ``load(run_dir, device, preset=None, **opts)`` -> the model (``preset`` gives the caller's sampler settings);
    * ``folder(**opts)`` — cache folder prefix; ``group`` — cache sub-folder (or None);
    * ``meta(preset, tcfg, digest, **opts)`` — extra ``run.json`` entries (default none).
    """

    name: str
    train_cfg: Callable[[Preset], TrainConfig]
    key: Callable[..., str]
    train: Callable[..., Trained]
    load: Callable[..., Any]
    folder: Callable[..., str]
    group: str | None = None
    meta: Callable[..., dict] | None = None


def data_label(data: Any, digest: str, data_root: str | os.PathLike | None = None) -> str:
    """What ``run.json`` names as the data: the folder (resolved) when there is one, else the digest."""
    root = data_root if data_root is not None else (data if isinstance(data, (str, os.PathLike)) else None)
    return str(Path(root).resolve()) if root is not None else f"sha256:{digest[:12]}"


def run_entries(kind: ModelKind, preset: Preset, tcfg: TrainConfig, digest: str, data: Any,
                data_root: str | os.PathLike | None = None, **opts) -> dict:
    """The ``run.json`` entries of a run of ``kind``, whoever trains it: kind, scale, seed, steps, cache key, data
    and its digest, and the kind's own entries (``kind.meta``)."""
    return {"kind": kind.name, "scale": preset.name, "seed": tcfg.seed, "steps": tcfg.steps,
            "key": kind.key(preset, tcfg, digest, **opts), "data": data_label(data, digest, data_root),
            "data_digest": digest, **(kind.meta(preset, tcfg, digest, **opts) if kind.meta else {})}


def get_or_train(kind: ModelKind, preset: Preset | str, data: Any, digest: str | None = None, *,
                 cache_dir: str | os.PathLike | None = None, device="auto", seed: int | None = None,
                 steps: int | None = None, progress: bool = True, data_root: str | os.PathLike | None = None,
                 runs: str | os.PathLike | Sequence[str | os.PathLike] | None = None, lock_poll: float = 1.0,
                 workers: int | None = None, **opts) -> Trained:
    """Load the complete cached run of ``kind`` for (preset, data, seed, steps, options), else train it.

    ``data`` is what ``kind.train`` reads (a dataset folder, or in-memory data with its ``digest``); ``digest``
    defaults to rawdiff.runs.store.data_digest of the folder.  A partial run is resumed; a corrupt cache entry is
    reported with a warning and trained again in a fresh folder that replaces it only once training succeeded
    (:func:`retrain`).  ``run.json`` records kind, scale, seed, steps, key, data and the wall time.

    Concurrent callers for one key (two notebooks, a notebook and ``rawdiff train --cache``) train it once: a file
    lock beside the run folder (rawdiff.runs.lock; a dead holder never blocks) makes the second wait, checking
    every ``lock_poll`` seconds, and then reuse the run.  Under ``torchrun`` rank 0 holds the lock and makes every
    decision (reuse, resume, retrain, where) for the group, and only rank 0 writes (rawdiff.distributed).
    ``runs`` (folders, e.g. ``rawdiff reproduce --runs DIR``): when the cache has no complete run, a complete run
    with the same key found there (rawdiff.runs.reuse.find_matching_run: trained by ``rawdiff train``, e.g. under
    torchrun) is used instead of training, and announced.  ``workers``: DataLoader processes for training (not part
    of the key: they never change the batches; rawdiff.data.stream).
    """
    preset = get_preset(preset) if isinstance(preset, str) else preset
    if digest is None:
        digest = data_digest(data)
    tcfg = train_config(kind.train_cfg(preset), seed, steps)
    meta = run_entries(kind, preset, tcfg, digest, data, data_root, **opts)
    run_dir = cache_path(cache_dir, kind.folder(**opts), meta["key"], kind.group)

    def train_into(d: Path, resume: bool) -> None:
        kind.train(preset, data, d, tcfg=tcfg, device=device, resume=resume, progress=progress,
                   **({"workers": workers} if workers is not None else {}), **opts)

    def finish(where: Path, reused: bool, seconds: float) -> Trained:
        return Trained(kind.load(where, device, preset=preset, **opts), where, read_history(where), reused, seconds,
                       tcfg.steps)

    lock = RunLock(run_dir)
    wait_for(lock, run_dir, lock_poll)
    try:
        state, detail = on_rank0(lambda: cache_state(run_dir, tcfg.steps))
        if state == "complete":
            try:
                return together(lambda: finish(run_dir, True, 0.0))
            except DataError as err:    # weights or configs that do not load: train again
                state, detail = "corrupt", str(err)
        if runs:
            found = on_rank0(lambda: find_matching_run(as_roots(runs), kind.name, meta["key"], tcfg.steps))
            if found is not None:
                say(f"{kind.name}: using the run at {found} (same key {meta['key']}: same network, training, seed, "
                    f"data)")
                return finish(Path(found), True, 0.0)
        t0 = time.perf_counter()
        corrupt = detail if state == "corrupt" else None
        if corrupt is None:
            try:
                train_into(run_dir, detail)
            except CorruptCheckpoint as err:  # a partial run whose checkpoint cannot be resumed
                corrupt = str(err)
        if corrupt is not None:
            if dist_info()[0] == 0:
                warnings.warn(f"{run_dir}: cached run is unreadable ({corrupt}); training it again", stacklevel=2)
            retrain(run_dir, lambda tmp: train_into(tmp, False),
                    lambda tmp: write_meta(tmp, **meta, wall_seconds=round(time.perf_counter() - t0, 3)))
        else:
            on_rank0(lambda: write_meta(run_dir, **meta, wall_seconds=round(time.perf_counter() - t0, 3)) and None)
        return finish(run_dir, False, time.perf_counter() - t0)
    finally:
        lock.release()


def say(text: str) -> None:
    """Print on rank 0 only (every process otherwise, outside torchrun)."""
    if dist_info()[0] == 0:
        print(text)


def cache_state(run_dir: Path, steps: int) -> tuple[str, Any]:
    """Rank 0's view of a cache entry: ``("complete", None)``, ``("train", resume?)`` or ``("corrupt", why)``."""
    try:
        if run_is_complete(run_dir, steps) and read_meta(run_dir) is not None:
            return "complete", None
    except DataError as err:
        return "corrupt", str(err)
    return "train", run_dir.exists()


def wait_for(lock: RunLock, run_dir: Path, poll: float) -> None:
    """Take ``lock`` (rank 0 takes it for the whole group), waiting while another process holds it — that process
    is training this run; once it is done the caller finds the run complete.  Polls every ``poll`` seconds (each
    poll is a broadcast under torchrun, so the other ranks never sit in one collective past its timeout)."""
    announced = False
    while not on_rank0(lock.try_acquire):
        if not announced:
            say(f"{run_dir}: being trained by {lock.holder()}; waiting for it to finish (lock {lock.path.name})")
            announced = True
        time.sleep(poll)


def retrain(run_dir: Path, train_into: Callable[[Path], None], finalise: Callable[[Path], Any]) -> None:
    """Train into a fresh folder beside ``run_dir`` (named by rank 0) that replaces ``run_dir`` only once training
    and ``finalise(folder)`` succeeded (rawdiff.utils.atomic_dir's rule, for every rank of a group)."""
    rank = dist_info()[0]
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(on_rank0(lambda: tempfile.mkdtemp(dir=run_dir.parent, prefix=f".{run_dir.name}.", suffix=".partial")))
    try:
        train_into(tmp)

        def swap() -> None:
            finalise(tmp)
            if run_dir.exists():
                shutil.rmtree(run_dir)
            os.replace(tmp, run_dir)
        on_rank0(swap)
    except BaseException:
        if rank == 0:
            shutil.rmtree(tmp, ignore_errors=True)
        raise


def record(run_dir: str | os.PathLike, kind: ModelKind, preset: Preset, tcfg: TrainConfig, digest: str,
           data: Any, seconds: float, extra: Mapping | None = None, **opts) -> dict:
    """``run.json`` of a run trained outside :func:`get_or_train` (``rawdiff train --out``): the same entries
    (:func:`run_entries`), then ``extra`` (e.g. where a ``--out`` folder keeps its ISPNet)."""
    entries = {**run_entries(kind, preset, tcfg, digest, data, **opts), "wall_seconds": round(float(seconds), 3)}
    return write_meta(run_dir, **{**entries, **(extra or {})})
