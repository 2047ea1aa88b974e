"""The training loop reads nothing back from the device between log points (issue 23 item 6): every host read of
a tensor (``item``, ``tolist``, ``float()``, ``bool()``) made by rawdiff's own code during training is counted,
and must scale with the number of log / checkpoint points, not with the number of steps.  (Reads inside torch —
e.g. AdamW's ``step`` counters, which stay on the CPU on every device — are not device syncs and not counted.)"""
import sys
from pathlib import Path

import pytest
import torch

import rawdiff

from rawdiff.config import TrainConfig
from rawdiff.train import NonFiniteLoss, train


PKG = str(Path(rawdiff.__file__).parent)


def _count_reads(monkeypatch) -> list:
    reads = []
    for name in ("item", "tolist", "__float__", "__bool__", "__int__"):
        real = getattr(torch.Tensor, name)

        def wrapped(self, *a, _real=real, _name=name, **k):
            caller = sys._getframe(1).f_code
            if caller.co_filename.startswith(PKG):
                reads.append(f"{_name} in {caller.co_name}")
            return _real(self, *a, **k)
        monkeypatch.setattr(torch.Tensor, name, wrapped)
    return reads


def _train(cfg, loss_fn=None, out=None):
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.GroupNorm(2, 8),
                              torch.nn.Conv2d(8, 3, 3, padding=1))
    loss_fn = loss_fn or (lambda m, x: ((m(x) - x) ** 2).mean())
    return train(net, loss_fn, lambda step, g: torch.rand(2, 3, 8, 8, generator=g), cfg, out, device="cpu",
                 progress=False)


def test_host_reads_happen_at_log_points_only(monkeypatch, tmp_path):
    cfg = TrainConfig(steps=40, batch_size=2, lr=1e-3, log_every=20, ckpt_every=40, amp=False)
    reads = _count_reads(monkeypatch)
    res = _train(cfg, out=tmp_path / "run")
    monkeypatch.undo()
    assert [h["step"] for h in res.history] == [20, 40]
    assert len(reads) <= 2 * 4, reads          # a handful per log point, none per step (40 steps)
    reads_short = _count_reads(monkeypatch)
    _train(TrainConfig(steps=20, batch_size=2, lr=1e-3, log_every=20, ckpt_every=40, amp=False))
    monkeypatch.undo()
    assert len(reads) <= 2 * len(reads_short) + 2    # twice the steps and log points: about twice the reads


def test_a_nan_between_log_points_is_caught_before_a_checkpoint(tmp_path):
    cfg = TrainConfig(steps=8, batch_size=2, lr=1e-3, log_every=4, ckpt_every=4, amp=False)
    calls = [0]

    def loss_fn(m, x):
        calls[0] += 1
        loss = ((m(x) - x) ** 2).mean()
        return loss * float("nan") if calls[0] == 6 else loss     # step 5 (0-based)

    with pytest.raises(NonFiniteLoss, match="non-finite at step 5"):
        _train(cfg, loss_fn, tmp_path / "run")
    assert (tmp_path / "run" / "latest").read_text() == "ckpt-00000004"   # the NaN weights were never saved
