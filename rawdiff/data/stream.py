"""The training loop's source of batches: one global batch per step, each rank materialising only its own rows.

Contract (rawdiff.train): ``batch_fn(step, generator)`` draws *all* randomness of a step from ``generator``
(seeded from ``(cfg.seed, step)`` alone) and returns the **global** batch; under DDP rank r of N keeps rows
``r*B/N .. (r+1)*B/N``.  So N ranks see exactly what one process sees, and a resumed run draws the same batches.

Streaming (issue 23).  A :class:`ShardedBatches` splits a batch function in two: :meth:`ShardedBatches.draw`
makes every random number of the *global* batch (image indices, crop offsets, sigmas, noise: small tensors) from
the step generator, exactly as the plain function would, and :meth:`ShardedBatches.rows` materialises rows
``lo..hi`` only (image reads, crops, resizes, D²).  So each rank reads only its own images, and the rows are the
ones a single process would form.  Such batch functions draw on the CPU (their step generator lives there;
:func:`step_generator`), which lets a ``torch.utils.data.DataLoader`` over the step indices (``batch_size=None``,
the steps as the sampler) run them in worker processes and prefetch, with pinned memory on CUDA; crops are made
before the transfer.  With ``workers = 0`` the batches are formed in the training process, step by step.  The
batches do not depend on the number of workers (a step's batch depends on the step only).  Plain callables keep
the old path: called on the training device, sliced per rank.

The design follows PyTorch's map-style ``Dataset`` + ``DistributedSampler`` idea (each rank loads its share) with
the sharding done inside the step's global batch rather than across the dataset, so the global batch of step k
stays the same for any number of processes.
"""
from __future__ import annotations

import os
from typing import Any, Callable, Iterator

import torch

from rawdiff.config import TrainConfig
from rawdiff.errors import RawdiffError
from rawdiff.utils import derive_seed, make_generator

IN_MEMORY_BYTES = 256 << 20
"""Training splits up to this many bytes (as float32 tensors) are held in memory; larger ones are read from disk
when a batch needs them (rawdiff.diffraw.data.load_phone, rawdiff.did.train.load_lowlight).  The switch is by
size, not by preset: a ``study`` split is 25-130 MB; one 448-px ZRR pair is 3.2 MB (ZRR train, 46,839 pairs,
~150 GB, streams) and one 600x400 LOL pair 5.8 MB (LOL's 485 pairs, 2.8 GB as float32, are held as 8-bit pixels,
0.7 GB: rawdiff.did.train.PACKED_BYTES)."""


def rank_rows(batch_size: int, rank: int, world: int) -> tuple[int, int]:
    """``(lo, hi)``: the rows of a global batch of ``batch_size`` that rank ``rank`` of ``world`` keeps."""
    if batch_size % world:
        raise RawdiffError(f"global batch size {batch_size} is not divisible by the number of processes {world}")
    k = batch_size // world
    return rank * k, (rank + 1) * k


def map_tensors(fn: Callable[[torch.Tensor], torch.Tensor], batch: Any) -> Any:
    """``fn`` applied to every tensor of a batch (tensors, dicts, lists or tuples of them); other leaves kept."""
    if isinstance(batch, torch.Tensor):
        return fn(batch)
    if isinstance(batch, dict):
        return {k: map_tensors(fn, v) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(map_tensors(fn, v) for v in batch)
    return batch


def local_slice(batch: Any, rank: int, world: int) -> Any:
    """Rank ``rank``'s contiguous share of a global batch (tensors, dicts, lists or tuples of them)."""
    if world == 1:
        return batch
    return map_tensors(lambda t: t[slice(*rank_rows(t.shape[0], rank, world))], batch)


def take_rows(draws: Any, lo: int, hi: int) -> Any:
    """Rows ``lo..hi`` of every tensor (batch dimension first) in a dict / list / tuple of draws."""
    return map_tensors(lambda t: t[lo:hi], draws)


def to_device(batch: Any, device: torch.device, non_blocking: bool = False) -> Any:
    """``batch`` (tensors, dicts, lists, tuples) on ``device``."""
    return map_tensors(lambda t: t.to(device, non_blocking=non_blocking), batch)


class ShardedBatches:
    """A batch function whose global batch is drawn whole and materialised by rows (module docstring).

    Subclasses set ``batch_size`` and implement :meth:`draw` and :meth:`rows`; ``workers`` is the number of
    DataLoader worker processes :func:`step_batches` uses (0: form batches in the training process).
    """

    batch_size: int
    workers: int = 0

    def draw(self, step: int, generator: torch.Generator) -> Any:
        """Every random number of the global batch of ``step``, from ``generator`` (small tensors)."""
        raise NotImplementedError

    def rows(self, draws: Any, lo: int, hi: int) -> Any:
        """Rows ``lo..hi`` of the global batch given its draws (reads, crops, resizes happen here)."""
        raise NotImplementedError

    def __call__(self, step: int, generator: torch.Generator) -> Any:
        """The whole global batch (what one process trains on)."""
        return self.rows(self.draw(step, generator), 0, self.batch_size)

    def local(self, step: int, generator: torch.Generator, rank: int, world: int) -> Any:
        """Rank ``rank``'s rows of the global batch of ``step`` (only those are read from disk)."""
        lo, hi = rank_rows(self.batch_size, rank, world)
        return self.rows(self.draw(step, generator), lo, hi)


def step_generator(cfg: TrainConfig, step: int, device: str | torch.device = "cpu") -> torch.Generator:
    """The generator of step ``step``: seeded from ``(cfg.seed, "batch", step)`` only."""
    return make_generator(derive_seed(cfg.seed, "batch", step), device)


class _StepSet(torch.utils.data.Dataset):
    """Map-style dataset whose item ``step`` is this rank's share of that step's batch (formed in a worker)."""

    def __init__(self, batch_fn: ShardedBatches, cfg: TrainConfig, rank: int, world: int):
        self.batch_fn, self.cfg, self.rank, self.world = batch_fn, cfg, rank, world

    def __getitem__(self, step: int) -> Any:
        try:
            return self.batch_fn.local(step, step_generator(self.cfg, step, "cpu"), self.rank, self.world)
        except RawdiffError as err:   # re-raised as itself in the training process: one line, not a worker traceback
            return _Failure(type(err), str(err))


class _Failure:
    """A user-input error raised while a worker formed a batch (a bad image file, ...)."""

    def __init__(self, kind: type, message: str):
        self.kind, self.message = kind, message


def _identity(x: Any) -> Any:
    return x


def step_batches(batch_fn: Callable[[int, torch.Generator], Any], cfg: TrainConfig, start: int, rank: int,
                 world: int, device: torch.device, workers: int | None = None) -> Iterator[tuple[int, Any]]:
    """Yield ``(step, this rank's batch on device)`` for ``step`` in ``[start, cfg.steps)``.

    A :class:`ShardedBatches` draws on the CPU and forms only this rank's rows, in ``workers`` DataLoader
    processes (default: its ``workers`` attribute) with pinned memory on CUDA; a plain callable is called with a
    generator on ``device`` and its global batch sliced (the pre-streaming path).
    """
    device = torch.device(device)
    if not isinstance(batch_fn, ShardedBatches):
        for step in range(start, cfg.steps):
            yield step, local_slice(batch_fn(step, step_generator(cfg, step, device)), rank, world)
        return
    n_workers = int(batch_fn.workers if workers is None else workers)
    pin = device.type == "cuda"
    if n_workers <= 0 or cfg.steps - start <= 0:
        for step in range(start, cfg.steps):
            batch = batch_fn.local(step, step_generator(cfg, step, "cpu"), rank, world)
            yield step, to_device(batch, device)
        return
    loader = torch.utils.data.DataLoader(
        _StepSet(batch_fn, cfg, rank, world), batch_size=None, sampler=range(start, cfg.steps),
        num_workers=n_workers, pin_memory=pin, collate_fn=_identity, prefetch_factor=2)
    for step, batch in zip(range(start, cfg.steps), loader):
        if isinstance(batch, _Failure):
            raise batch.kind(batch.message)
        yield step, to_device(batch, device, non_blocking=pin)


def default_workers(device: str | torch.device) -> int:
    """DataLoader workers when a caller leaves it open: 0 on the CPU (the cores train; batches are formed in the
    training process, bit-identical to the pre-streaming path), else ``min(8, cpu count - 1)`` on accelerators."""
    if torch.device(device).type == "cpu":
        return 0
    return max(0, min(8, (os.cpu_count() or 1) - 1))
