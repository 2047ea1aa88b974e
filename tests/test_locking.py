"""Outside DDP (issue 23 item 4): two processes asking get_or_train for one cache key train it once (a file lock;
the lock of a killed process does not block), and a full disk during a checkpoint or a table write leaves the
previous good file and one clear error."""
from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from rawdiff.config import TrainConfig
from rawdiff.errors import DataError
from rawdiff.runs.lock import RunLock
from rawdiff.train import load_run, read_history, train

ROOT = Path(__file__).resolve().parents[1]

# one notebook (or `rawdiff train --cache`): get_or_train of a toy kind; its trainer appends to a marker file
DRIVER = '''
import sys, time
from dataclasses import replace
from pathlib import Path
import torch
from rawdiff.config import TrainConfig
from rawdiff.runs.lifecycle import ModelKind, get_or_train
from rawdiff.train import load_run, train
from rawdiff.utils import seeded_init

torch.set_num_threads(1)
cache, marker, pause = Path(sys.argv[1]), Path(sys.argv[2]), float(sys.argv[3])

def net():
    with seeded_init(0, "lock-toy"):
        return torch.nn.Conv2d(3, 3, 3, padding=1)

def train_fn(preset, data, d, *, tcfg, device, resume, progress):
    with open(marker, "a") as f:
        f.write(f"{d}\\n")
    time.sleep(pause)        # long enough for the other process to arrive while this one trains
    cfg = TrainConfig(steps=tcfg.steps, batch_size=2, lr=1e-2, log_every=1, ckpt_every=2, amp=False)
    train(net(), lambda m, x: (m(x) - x).pow(2).mean(),
          lambda step, g: torch.rand(2, 3, 8, 8, generator=g), cfg, d, device="cpu", resume=resume, progress=False)

def load_fn(d, device="cpu", **kw):
    m = net()
    load_run(d, m)
    return m

kind = ModelKind(name="isp", train_cfg=lambda p: replace(p.isp_train, steps=2), key=lambda p, t, d: "k",
                 train=train_fn, load=load_fn, folder=lambda: "toy")
res = get_or_train(kind, "smoke", None, "fp", cache_dir=cache, progress=False, lock_poll=0.2)
print("RESULT", "reused" if res.reused else "trained", res.run_dir, float(res.model.weight.sum()))
'''


def _popen(*args) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, *map(str, args)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)


def test_two_processes_asking_for_one_key_train_it_once(tmp_path):
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER)
    marker, cache = tmp_path / "trained.txt", tmp_path / "cache"
    first = _popen(driver, cache, marker, 3.0)
    t0 = time.monotonic()
    while not marker.exists():              # the first process holds the lock and is training
        assert first.poll() is None and time.monotonic() - t0 < 120, first.communicate()[0]
        time.sleep(0.05)
    second = _popen(driver, cache, marker, 3.0)
    out1, out2 = first.communicate(timeout=120)[0], second.communicate(timeout=120)[0]
    assert first.returncode == 0 and second.returncode == 0, out1 + out2
    assert marker.read_text().count("\n") == 1                          # trained once
    r1 = next(line for line in out1.splitlines() if line.startswith("RESULT")).split()
    r2 = next(line for line in out2.splitlines() if line.startswith("RESULT")).split()
    assert r1[1] == "trained" and r2[1] == "reused" and r1[2:] == r2[2:]  # same run, same weights
    assert "being trained by pid" in out2 and "waiting" in out2
    assert not list(cache.glob(".*")), "no lock file or temporary folder left"


def test_the_lock_of_a_killed_process_does_not_block(tmp_path):
    run = tmp_path / "cache" / "toy-k"
    holder = _popen("-c", "import sys, time; from rawdiff.runs.lock import RunLock; "
                          f"assert RunLock({str(run)!r}).try_acquire(); print('held', flush=True); time.sleep(120)")
    assert holder.stdout.readline().strip() == "held"
    lock = RunLock(run)
    assert not lock.try_acquire()                # really held
    os.killpg(holder.pid, signal.SIGKILL)        # dies holding it; its lock file stays behind
    holder.wait(timeout=30)
    assert lock.path.exists()
    t0 = time.monotonic()
    while not lock.try_acquire():
        assert time.monotonic() - t0 < 5, "a dead process's lock still blocks"
        time.sleep(0.05)
    lock.release()
    assert not lock.path.exists()


# ------------------------------------------------------------------------------------------------ full disk
CFG = TrainConfig(steps=4, batch_size=2, lr=1e-2, log_every=1, ckpt_every=2, amp=False, ema_decay=0.9)


def _toy():
    torch.manual_seed(0)
    return torch.nn.Conv2d(3, 3, 3, padding=1)


def _run(out, resume=False):
    return train(_toy(), lambda m, x: (m(x) - x.flip(1)).pow(2).mean(),
                 lambda step, g: torch.rand(2, 3, 8, 8, generator=g), CFG, out, device="cpu", resume=resume,
                 progress=False)


def test_a_full_disk_during_a_checkpoint_keeps_the_previous_one(tmp_path, monkeypatch):
    import rawdiff.train as T

    real, calls = T.save_file, [0]

    def save_file(tensors, path):     # the 3rd checkpoint's EMA file (steps 1 [budget], 2, 4): half written, then full
        calls[0] += 1
        if calls[0] == 6:
            Path(path).write_bytes(b"\0" * 100)
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path)
        return real(tensors, path)

    monkeypatch.setattr(T, "save_file", save_file)
    out = tmp_path / "run"
    with pytest.raises(DataError) as info:
        _run(out)
    msg = str(info.value)
    assert "\n" not in msg and "No space left on device" in msg and "ckpt-00000002 is kept" in msg
    assert (out / "latest").read_text() == "ckpt-00000002"
    assert not list(out.glob(".*partial")) and not (out / "ckpt-00000004").exists()
    load_run(out, _toy())                                   # the previous checkpoint is whole
    assert [h["step"] for h in read_history(out)] == [1, 2]
    monkeypatch.setattr(T, "save_file", real)
    resumed = _run(out, resume=True)                        # and the run goes on from it
    straight = _run(tmp_path / "straight")
    for k, v in straight.online.state_dict().items():
        assert torch.equal(v, resumed.online.state_dict()[k])


def test_a_full_disk_during_a_table_write_keeps_the_previous_table(tmp_path, monkeypatch):
    from rawdiff.figures import save_table

    save_table([{"a": 1, "b": 2.5}], tmp_path, "t")
    before = (tmp_path / "t.csv").read_bytes(), (tmp_path / "t.md").read_bytes()
    real_fdopen = os.fdopen

    class Full:
        def __init__(self, f):
            self.f = f

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

        def write(self, data):           # half of it reaches the disk, then ENOSPC
            self.f.write(data[:len(data) // 2])
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fdopen", lambda fd, mode="r", *a, **k: Full(real_fdopen(fd, mode, *a, **k)))
    with pytest.raises(DataError) as info:
        save_table([{"a": 3, "b": 4.5}] * 50, tmp_path, "t")
    monkeypatch.setattr(os, "fdopen", real_fdopen)
    assert "\n" not in str(info.value) and "t.csv: cannot write (No space left on device)" in str(info.value)
    assert ((tmp_path / "t.csv").read_bytes(), (tmp_path / "t.md").read_bytes()) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.csv", "t.md"]   # no temp file left


def test_run_json_write_failure_is_one_line_and_keeps_the_old_file(tmp_path, monkeypatch):
    from rawdiff.runs.store import read_meta, write_meta

    write_meta(tmp_path, kind="isp", steps=2)
    before = (tmp_path / "run.json").read_text()
    monkeypatch.setattr(os, "fsync", lambda fd: (_ for _ in ()).throw(OSError(errno.ENOSPC, "No space left on device")))
    with pytest.raises(DataError, match="run.json: cannot write"):
        write_meta(tmp_path, steps=4)
    monkeypatch.undo()
    assert (tmp_path / "run.json").read_text() == before and read_meta(tmp_path)["steps"] == 2
    assert json.loads(before)["kind"] == "isp"


def test_a_full_disk_during_a_snapshot_keeps_the_previous_snapshot(tmp_path, monkeypatch):
    import shutil

    import rawdiff.results as R
    from test_results_snapshot import _fake_run

    run, snap = _fake_run(tmp_path / "run"), tmp_path / "out" / "snap"
    R.make_snapshot(run, snap)
    before = {p.name: p.read_bytes() for p in snap.iterdir()}
    real = shutil.copyfile

    def copyfile(a, b, *args, **kw):       # the second table: half copied, then the disk is full
        if len(list(Path(b).parent.iterdir())) >= 1:
            Path(b).write_bytes(Path(a).read_bytes()[:10])
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(b))
        return real(a, b, *args, **kw)

    monkeypatch.setattr(R.shutil, "copyfile", copyfile)
    with pytest.raises(DataError) as info:
        R.make_snapshot(run, snap)
    monkeypatch.undo()
    assert "\n" not in str(info.value) and "No space left on device" in str(info.value)
    assert "previous one is kept" in str(info.value)
    assert {p.name: p.read_bytes() for p in snap.iterdir()} == before
    assert [p.name for p in snap.parent.iterdir()] == ["snap"]            # no partial folder left
