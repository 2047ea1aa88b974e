"""The one training loop shared by ISPNet, DiffRAW, DiD and the regression baseline.

Contract (what makes resume exact and DistributedDataParallel equivalent to one process):

* ``batch_fn(step, generator) -> batch`` draws *all* randomness of a step (data, crops, timesteps / sigmas,
  noise) from ``generator``, which is seeded from ``(cfg.seed, step)`` alone, and returns the **global**
  batch (a tensor or a dict of tensors, batch dimension first).  Under DDP each rank keeps its contiguous
  slice of that batch, so N ranks see exactly what one process would see.
* ``loss_fn(model, batch) -> loss`` (or ``(loss, {name: tensor or float})``) is deterministic given the batch
  and returns the mean over the batch it is given (DDP averages gradients over ranks -> the global mean).  Tensor
  logs are read back only at log points (floats force a host sync per step in the loss function itself).

Features: AdamW with linear warm-up, gradient clipping, EMA of the weights, bf16 autocast on CUDA
(``cfg.amp``), a tqdm progress bar with the loss, periodic checkpoints written atomically (a new folder,
renamed into place, then a ``latest`` pointer swapped with ``os.replace``) as safetensors + JSON, and
``resume=True`` continuing bit-exactly on CPU.  Optimiser state is saved as tensors (``optim.safetensors``) +
JSON (``optim.json``); nothing is ever pickled or unpickled.  The EMA is one foreach lerp per step; the loss is
read back only at log points (see :func:`train`).  On CUDA, TF32 and ``cudnn.benchmark`` are switched on
(rawdiff.utils.set_cuda_speed_flags).

Under ``torchrun`` only rank 0 logs and writes, and the run directory follows rawdiff.distributed: it must be
shared by every rank (checked), rank 0 decides whether to resume and from which checkpoint, a failed checkpoint
write or a non-finite loss stops every rank with one message, a rank failing alone leaves the group so the others
stop at once.  A resume may use another number of processes: the global batch of a step does not depend on it.

Everything read back is validated first (:mod:`rawdiff.checkpoint_io`): a truncated or
foreign weights file, tensor names/shapes that do not match the model, malformed JSON -> one-line
``DataError("corrupt checkpoint <file>: <why>; re-train or restore it")``.  A ``kill -9`` at any moment leaves
either the previous complete checkpoint or the new one; stale ``.ckpt-*.partial`` folders are never read.
"""
from __future__ import annotations

import copy
import json
import math
import os
import shutil
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable

import torch
import torch.distributed as tdist
from safetensors import SafetensorError
from safetensors.torch import save_file
from torch import nn

from rawdiff.checkpoint_io import (
    corrupt_error,
    read_json_typed,
    load_optimizer,
    load_weights,
    save_optimizer,
)
from rawdiff.config import TrainConfig
from rawdiff.data.stream import map_tensors, step_batches
from rawdiff.distributed import (
    agreed,
    check_shared_dir,
    collective,
    dist_info,
    fail_fast,
    maybe_init_distributed,
    on_rank0,
    together,
)
from rawdiff.errors import DataError, RawdiffError
from rawdiff.runs.store import Trained, write_meta
from rawdiff.utils import (
    atomic_write_text,
    prefers_channels_last,
    set_cuda_speed_flags,
)

CKPT_PREFIX = "ckpt-"
_BAD_BASE = 1 << 52   # first non-finite step k is carried as _BAD_BASE - k (0: none), exact in float64


def _to_channels_last(batch: Any) -> Any:
    return map_tensors(lambda t: t.contiguous(memory_format=torch.channels_last) if t.ndim == 4 else t, batch)


# ----------------------------------------------------------------------------------------------- checkpoints
def _read_state(ckpt: Path) -> dict:
    """``state.json`` of a checkpoint: ``{"step": int >= 0, "history": [dict, ...]}`` (validated)."""
    path = ckpt / "state.json"
    state = read_json_typed(path)
    step, hist = state.get("step"), state.get("history")
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise corrupt_error(path, f"'step' must be a non-negative integer, got {step!r}")
    if not isinstance(hist, list) or not all(isinstance(h, dict) for h in hist):
        raise corrupt_error(path, "'history' must be a list of objects")
    return state


def _latest_ckpt(out_dir: Path) -> Path | None:
    ptr = out_dir / "latest"
    if ptr.is_file():
        try:
            name = ptr.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError):
            name = ""
        cand = out_dir / name
        if name.startswith(CKPT_PREFIX) and "/" not in name and (cand / "state.json").exists():
            return cand
    # fall back to the highest complete checkpoint folder (partial ones are hidden ``.ckpt-*.partial``)
    done = sorted((p for p in out_dir.glob(f"{CKPT_PREFIX}*") if p.name[len(CKPT_PREFIX):].isdigit()
                   and (p / "state.json").exists()), key=lambda p: int(p.name[len(CKPT_PREFIX):]))
    return done[-1] if done else None


def _state_dict_cpu(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}


def save_checkpoint(out_dir: Path, step: int, model: nn.Module, ema: nn.Module, opt: torch.optim.Optimizer,
                    history: list[dict], run_config: dict, keep: int = 2, keep_steps: tuple[int, ...] = ()) -> Path:
    """Write ``out_dir/ckpt-{step}/`` atomically, point ``out_dir/latest`` at it and keep ``run_config`` in the
    run's ``run.json`` (rawdiff.runs.store: the one metadata file of a run).  The ``keep`` newest checkpoints are
    kept, and those at ``keep_steps`` (the budget checkpoints, :func:`budget_steps`) always.

    A failed write (disk full, permissions) removes the partial folder, leaves ``latest`` and the previous
    checkpoint as they were, and raises one line: ``DataError("<ckpt>: cannot write the checkpoint (<why>); the
    previous checkpoint <name> is kept")``."""
    final = out_dir / f"{CKPT_PREFIX}{step:08d}"
    tmp = out_dir / f".{final.name}.partial"
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        for stale in out_dir.glob(f".{CKPT_PREFIX}*.partial"):  # left by a killed run; never read
            shutil.rmtree(stale, ignore_errors=True)
        tmp.mkdir()
        save_file(_state_dict_cpu(model), str(tmp / "model.safetensors"))
        save_file(_state_dict_cpu(ema), str(tmp / "ema.safetensors"))
        save_optimizer(opt, tmp)
        (tmp / "config.json").write_text(json.dumps(run_config, indent=1, default=str))
        (tmp / "state.json").write_text(json.dumps({"step": step, "history": history}, indent=1))  # last: done
        for f in tmp.iterdir():  # data on disk before the rename makes the folder visible
            with open(f, "rb") as fh:
                os.fsync(fh.fileno())
        shutil.rmtree(final, ignore_errors=True)
        os.replace(tmp, final)
    except (OSError, SafetensorError) as err:
        shutil.rmtree(tmp, ignore_errors=True)
        why = err.strerror if isinstance(err, OSError) and err.strerror else str(err).splitlines()[0][:200]
        prev = _latest_ckpt(out_dir) if out_dir.is_dir() else None
        kept = f"the previous checkpoint {prev.name} is kept" if prev else "no earlier checkpoint exists"
        raise DataError(f"{final}: cannot write the checkpoint ({why}); {kept}") from None
    atomic_write_text(out_dir / "latest", final.name)
    write_meta(out_dir, config=json.loads(json.dumps(run_config, default=str)),
               **({"kind": run_config["kind"]} if run_config.get("kind") else {}))
    old = sorted(p for p in out_dir.glob(f"{CKPT_PREFIX}*") if p.is_dir() and p != final
                 and _ckpt_step(p) not in keep_steps)
    for p in old[:max(0, len(old) - (keep - 1))]:
        shutil.rmtree(p, ignore_errors=True)
    return final


def _ckpt_step(p: Path) -> int | None:
    tail = p.name[len(CKPT_PREFIX):]
    return int(tail) if p.name.startswith(CKPT_PREFIX) and tail.isdigit() else None


# Fractions of a run's steps at which a checkpoint is written and kept, whatever ckpt_every says: the budget
# curves of the scorecard (issue 24) evaluate the same run at 1/4, 1/2 and all of its training.
BUDGET_FRACTIONS = (0.25, 0.5)


def budget_steps(steps: int) -> tuple[int, ...]:
    """The budget checkpoints of a run of ``steps`` steps: ``round(f * steps)`` for :data:`BUDGET_FRACTIONS`, and
    ``steps`` (sorted, distinct, >= 1)."""
    return tuple(sorted({max(1, round(f * steps)) for f in BUDGET_FRACTIONS} | {int(steps)}))


def checkpoint_steps(out_dir: str | os.PathLike) -> list[int]:
    """Steps of the complete checkpoints a run holds (e.g. its budget checkpoints and the latest), ascending."""
    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        return []
    return sorted(s for p in out_dir.glob(f"{CKPT_PREFIX}*")
                  if (s := _ckpt_step(p)) is not None and (p / "state.json").exists())


def load_run(out_dir: str | os.PathLike, model: nn.Module, ema: bool = True, device: str | torch.device = "cpu",
             step: int | None = None) -> dict:
    """Load the latest checkpoint of a run (or the one at ``step``) into ``model`` (EMA weights by default);
    return its config.

    Raises a one-line :class:`DataError` when the checkpoint is corrupt or does not match ``model``, and a
    :class:`RawdiffError` naming the steps the run holds when there is none at ``step``.
    """
    out_dir = Path(out_dir)
    if step is not None:
        ckpt = out_dir / f"{CKPT_PREFIX}{int(step):08d}"
        if not (ckpt / "state.json").exists():
            raise RawdiffError(f"{out_dir}: no checkpoint at step {step} (it holds steps "
                               f"{checkpoint_steps(out_dir) or 'none'})")
    else:
        ckpt = _latest_ckpt(out_dir) if out_dir.is_dir() else None
    if ckpt is None:
        raise RawdiffError(f"{out_dir}: no checkpoint found (expected {out_dir}/latest -> {CKPT_PREFIX}*/)")
    _read_state(ckpt)
    config = read_json_typed(ckpt / "config.json")
    weights = load_weights(ckpt / ("ema.safetensors" if ema else "model.safetensors"), model, device)
    model.load_state_dict(weights)
    return config


def run_is_complete(out_dir: str | os.PathLike, steps: int) -> bool:
    """True when ``out_dir`` holds a checkpoint at ``steps`` (used to reuse cached runs).

    A corrupt ``state.json`` raises :class:`DataError` (callers that cache runs rebuild on it)."""
    out_dir = Path(out_dir)
    ckpt = _latest_ckpt(out_dir) if out_dir.is_dir() else None
    return ckpt is not None and _read_state(ckpt)["step"] >= steps


def read_history(out_dir: str | os.PathLike) -> list[dict]:
    """The loss history (one dict per logged step) of a run's latest checkpoint."""
    out_dir = Path(out_dir)
    ckpt = _latest_ckpt(out_dir) if out_dir.is_dir() else None
    return _read_state(ckpt)["history"] if ckpt else []


# ----------------------------------------------------------------------------------------------- the loop
class NonFiniteLoss(RawdiffError, FloatingPointError):
    """The training loss became NaN or infinite (raised on every rank at once under DDP)."""


@torch.no_grad()
def _ema_update(ema: tuple[list, list], model: tuple[list, list], decay: float) -> None:
    """EMA of the parameters (one foreach lerp over all tensors), buffers copied (one foreach copy)."""
    if ema[0]:
        torch._foreach_lerp_(ema[0], model[0], 1.0 - decay)
    if ema[1]:
        torch._foreach_copy_(ema[1], model[1])


def _tensors(m: nn.Module) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    return [p.detach() for p in m.parameters()], list(m.buffers())


def _lr(cfg: TrainConfig, step: int) -> float:
    lr = cfg.lr * min(1.0, (step + 1) / cfg.warmup_steps) if cfg.warmup_steps else cfg.lr
    if cfg.lr_schedule == "cosine":   # cosine decay to lr_min_ratio x lr over the run (Loshchilov & Hutter 2017)
        lr *= cfg.lr_min_ratio + (1 - cfg.lr_min_ratio) * 0.5 * (1 + math.cos(math.pi * step / max(1, cfg.steps)))
    elif cfg.lr_schedule != "constant":
        raise ValueError(f"unknown lr_schedule {cfg.lr_schedule!r}; expected 'constant' or 'cosine'")
    return lr


def _start_point(out: Path | None, resume: bool) -> str | None:
    """Rank 0's decision: the checkpoint folder to resume from, None to start fresh; an existing run without
    ``resume`` is an error."""
    ckpt = _latest_ckpt(out) if out is not None and out.is_dir() else None
    if ckpt is None:
        return None
    if not resume:
        raise RawdiffError(f"{out}: already holds a run; pass resume=True (--resume) or choose another folder")
    _read_state(ckpt)
    return ckpt.name


def _read_back(loss: torch.Tensor, gnorm: torch.Tensor | None, logs: dict, first_bad: torch.Tensor,
               world: int) -> tuple[float, float | None, dict, int]:
    """The one host read of a log point: the step's loss, grad norm and tensor logs (averaged over ranks) and the
    first step whose loss was not finite (-1: none; the earliest over ranks)."""
    names = [k for k, v in logs.items() if isinstance(v, torch.Tensor)]
    vec = torch.stack([loss.detach().float(), *([gnorm.float()] if gnorm is not None else []),
                       *(logs[k].detach().float() for k in names)])
    bad = torch.where(first_bad >= 0, _BAD_BASE - first_bad, 0).reshape(1)   # MAX over ranks -> the earliest
    if world > 1:
        collective(tdist.all_reduce, vec)
        vec /= world
        collective(tdist.all_reduce, bad, op=tdist.ReduceOp.MAX)
    *vals, code = torch.cat([vec.double(), bad.double()]).tolist()         # float64: exact for both
    first = _BAD_BASE - int(code) if code else -1
    read = {k: vals[i + 1 + (gnorm is not None)] for i, k in enumerate(names)}
    return vals[0], (vals[1] if gnorm is not None else None), {**logs, **read}, first


def train(model: nn.Module, loss_fn: Callable[[nn.Module, Any], Any], batch_fn: Callable[[int, torch.Generator], Any],
          cfg: TrainConfig, out_dir: str | os.PathLike | None, *, device: str | torch.device = "auto",
          resume: bool = False, run_config: dict | None = None, progress: bool = True, desc: str = "train",
          callback: Callable[[int, dict], None] | None = None) -> Trained:
    """Train ``model`` for ``cfg.steps`` optimiser steps; see the module docstring for the contract.

    ``callback(step, rec)`` is called after every step (e.g. to stop early by raising) with ``rec`` =
    ``{"step", "lr"}``, and at log points the full history record (loss, grad norm, the loss function's logs).
    With ``out_dir=None`` nothing is written (handy in tests).  Returns a rawdiff.runs.store.Trained: ``model`` =
    the EMA copy (what inference uses), ``online`` = the optimised network, the loss history, the step reached and
    the wall time.

    No host sync per step: the loss, grad norm and logs are read back (and, under DDP, averaged over ranks) only at
    log points (every ``cfg.log_every`` steps and the last) and checkpoint points.  Non-finite losses are caught
    with a device flag (the first step whose loss was not finite) checked at those points, before any checkpoint is
    written: :class:`NonFiniteLoss` then names that step, on every rank at once.  Under ``torchrun`` the run
    directory is checked to be shared and the resume decision is rank 0's (rawdiff.distributed).
    """
    dev = maybe_init_distributed(device)
    with fail_fast():
        return _train(model, loss_fn, batch_fn, cfg, out_dir, dev, resume, run_config, progress, desc, callback)


def _train(model, loss_fn, batch_fn, cfg: TrainConfig, out_dir, dev: torch.device, resume: bool,
           run_config: dict | None, progress: bool, desc: str, callback) -> Trained:
    rank, world = dist_info()
    out = Path(out_dir) if out_dir is not None else None
    run_config = {**(run_config or {}), "train": asdict(cfg)}
    set_cuda_speed_flags(dev)

    use_amp = cfg.amp and dev.type == "cuda"
    use_cl = prefers_channels_last(dev, use_amp) if cfg.channels_last is None else cfg.channels_last
    model = model.to(dev, memory_format=torch.channels_last if use_cl else torch.contiguous_format)
    ema = copy.deepcopy(model).requires_grad_(False).eval()
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay)
    history: list[dict] = []
    start = 0
    if out is not None:
        check_shared_dir(out)
    name = on_rank0(lambda: _start_point(out, resume))
    if name is not None:
        def load() -> tuple[int, list]:
            ckpt = out / name
            state = _read_state(ckpt)
            model.load_state_dict(load_weights(ckpt / "model.safetensors", model, dev))
            ema.load_state_dict(load_weights(ckpt / "ema.safetensors", ema, dev))
            load_optimizer(opt, ckpt)
            return int(state["step"]), list(state["history"])
        start, history = together(load)

    net = torch.compile(model, dynamic=False) if cfg.compile else model  # fixed shapes: no symbolic recompiles
    if world > 1:
        net = torch.nn.parallel.DistributedDataParallel(net, device_ids=[dev.index] if dev.type == "cuda" else None)
    ema_t, model_t = _tensors(ema), _tensors(model)

    bar = None
    if progress and rank == 0 and start < cfg.steps:
        from tqdm.auto import tqdm
        bar = tqdm(total=cfg.steps, initial=start, desc=desc, dynamic_ncols=True, leave=True,
                   mininterval=float(os.environ.get("TQDM_MININTERVAL", 1.0)))
    first_bad = torch.full((), -1, dtype=torch.int64, device=dev)   # first step with a non-finite loss (device)
    budget = budget_steps(cfg.steps)   # checkpoints kept for the budget curves
    t0 = time.perf_counter()
    model.train()
    for step, batch in step_batches(batch_fn, cfg, start, rank, world, dev):
        lr = _lr(cfg, step)
        for g in opt.param_groups:
            g["lr"] = lr
        if use_cl:
            batch = _to_channels_last(batch)
        with torch.autocast(device_type=dev.type, dtype=torch.bfloat16, enabled=use_amp):
            res = loss_fn(net, batch)
        loss, logs = (res if isinstance(res, tuple) else (res, {}))
        first_bad = torch.where((first_bad < 0) & ~torch.isfinite(loss.detach()), step, first_bad)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        gnorm = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip) if cfg.grad_clip else None
        opt.step()
        _ema_update(ema_t, model_t, 0.0 if step < cfg.ema_start else min(cfg.ema_decay, (1 + step) / (10 + step)))

        done = step + 1
        rec: dict = {"step": done, "lr": lr}
        log_now = done % cfg.log_every == 0 or done == cfg.steps
        ckpt_now = out is not None and (done % cfg.ckpt_every == 0 or done == cfg.steps or done in budget)
        if log_now or ckpt_now:
            loss_v, gnorm_v, logs_v, bad = _read_back(loss, gnorm, logs, first_bad, world)
            if bad >= 0:
                raise agreed(NonFiniteLoss(f"{desc}: the loss became non-finite at step {bad}"))
            rec = {"step": done, "loss": loss_v, "lr": lr, **{k: float(v) for k, v in logs_v.items()}}
            if gnorm_v is not None:
                rec["grad_norm"] = gnorm_v
            if log_now:
                history.append(rec)
                if bar is not None:
                    bar.set_postfix(loss=f"{loss_v:.4f}")
        if bar is not None:
            bar.update(1)
        if ckpt_now:   # rank 0 writes; the broadcast of its outcome is the barrier (a failed write stops every rank)
            on_rank0(lambda: str(save_checkpoint(out, done, model, ema, opt, history, run_config,
                                                 keep_steps=budget)))
        if callback is not None:
            callback(done, rec)
    if bar is not None:
        bar.close()
    ema.eval()
    model.eval()
    return Trained(model=ema, run_dir=out, history=history, reused=False, seconds=time.perf_counter() - t0,
                   step=max(start, cfg.steps), online=model)


def history_losses(history: list[dict]) -> tuple[list[int], list[float]]:
    """(steps, losses) from a history list, for plotting loss curves."""
    return [h["step"] for h in history], [h["loss"] for h in history]
