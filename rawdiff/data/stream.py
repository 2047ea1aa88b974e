"""The training loop's source of batches: one global batch per step, each rank keeping its own rows.

Contract (rawdiff.train): ``batch_fn(step, generator)`` draws *all* randomness of a step from ``generator``
(seeded from ``(cfg.seed, step)`` alone) and returns the **global** batch; under DDP rank r of N keeps rows
``r*B/N .. (r+1)*B/N``.  So N ranks see exactly what one process sees, and a resumed run draws the same batches.
"""
from __future__ import annotations

from typing import Any, Callable, Iterator

import torch

from rawdiff.config import TrainConfig
from rawdiff.errors import RawdiffError
from rawdiff.utils import derive_seed, make_generator


def local_slice(batch: Any, rank: int, world: int) -> Any:
    """Rank ``rank``'s contiguous share of a global batch (tensors, dicts, lists or tuples of them)."""
    if world == 1:
        return batch
    if isinstance(batch, torch.Tensor):
        n = batch.shape[0]
        if n % world:
            raise RawdiffError(f"global batch size {n} is not divisible by the number of processes {world}")
        k = n // world
        return batch[rank * k:(rank + 1) * k]
    if isinstance(batch, dict):
        return {key: local_slice(v, rank, world) for key, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(local_slice(v, rank, world) for v in batch)
    return batch


def step_generator(cfg: TrainConfig, step: int, device: str | torch.device = "cpu") -> torch.Generator:
    """The generator of step ``step``: seeded from ``(cfg.seed, "batch", step)`` only."""
    return make_generator(derive_seed(cfg.seed, "batch", step), device)


def step_batches(batch_fn: Callable[[int, torch.Generator], Any], cfg: TrainConfig, start: int, rank: int,
                 world: int, device: torch.device) -> Iterator[tuple[int, Any]]:
    """Yield ``(step, this rank's batch)`` for ``step`` in ``[start, cfg.steps)``."""
    for step in range(start, cfg.steps):
        yield step, local_slice(batch_fn(step, step_generator(cfg, step, device)), rank, world)
