"""TrainConfig.lr_schedule = "cosine": the learning rate the loop logs follows the closed form."""
import math
from dataclasses import replace

import pytest
import torch

from rawdiff.config import TrainConfig
from rawdiff.train import train


def _run(cfg):
    model = torch.nn.Linear(2, 1)

    def batch_fn(step, g):
        return {"x": torch.rand(4, 2, generator=g)}

    recs = []
    train(model, lambda m, b: m(b["x"]).pow(2).mean(), batch_fn, cfg, None, device="cpu", progress=False,
          callback=lambda step, rec: recs.append(rec))
    return [r["lr"] for r in recs]


def test_cosine_decay_follows_the_closed_form():
    cfg = TrainConfig(steps=10, batch_size=4, lr=1e-2, log_every=1, ckpt_every=10, amp=False, lr_schedule="cosine",
                      lr_min_ratio=0.1)
    lrs = _run(cfg)
    want = [1e-2 * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * s / 10))) for s in range(10)]
    assert lrs == pytest.approx(want)
    assert _run(replace(cfg, lr_schedule="constant")) == pytest.approx([1e-2] * 10)
    with pytest.raises(ValueError):
        _run(replace(cfg, lr_schedule="step"))
