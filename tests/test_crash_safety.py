"""Crash safety (issue 14): ``kill -9`` of training, dataset synthesis and ``reproduce`` at a seeded random moment
leaves nothing half-written that a later command trusts, and ``--resume`` after the kill ends with the same
weights as an uninterrupted run (CPU).  The processes are real subprocesses killed with SIGKILL."""
from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
import torch
from safetensors.torch import load_file

from rawdiff.cli import main
from rawdiff.utils import sha256_file

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable


def _env() -> dict:
    return {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "TQDM_DISABLE": "1"}


def _kill_when(proc: subprocess.Popen, ready, seed: int, max_delay: float, timeout: float = 240.0) -> float:
    """Wait until ``ready()`` holds, then a seeded random delay in [0, max_delay), then SIGKILL ``proc``."""
    t0 = time.monotonic()
    while not ready():
        if proc.poll() is not None:
            out = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
            pytest.fail(f"process ended (rc={proc.returncode}) before the kill point:\n{out[-2000:]}")
        if time.monotonic() - t0 > timeout:
            proc.kill()
            pytest.fail("kill point never reached")
        time.sleep(0.02)
    delay = random.Random(seed).uniform(0.0, max_delay)
    time.sleep(delay)
    os.killpg(proc.pid, signal.SIGKILL)      # the whole process group, like kill -9 of a job (kernels included)
    proc.wait(timeout=60)
    return delay


def _popen(argv: list, **kw) -> subprocess.Popen:
    return subprocess.Popen([str(a) for a in argv], env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True, **kw)


# ------------------------------------------------------------------------------------------------ training
DRIVER = '''
import sys, time
import torch
from rawdiff.config import TrainConfig
from rawdiff.train import train
from rawdiff.utils import seeded_init

torch.set_num_threads(1)
out, resume, pause = sys.argv[1], sys.argv[2] == "1", float(sys.argv[3])
with seeded_init(0, "crash-test"):
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.GELU(), torch.nn.Conv2d(8, 3, 3, padding=1))
cfg = TrainConfig(steps=30, batch_size=4, lr=1e-2, log_every=1, ckpt_every=2, amp=False, channels_last=False,
                  ema_decay=0.9, warmup_steps=3)
batch_fn = lambda step, g: torch.rand(4, 3, 12, 12, generator=g, device=g.device)
loss_fn = lambda m, x: ((m(x) - x.flip(1)) ** 2).mean()
train(net, loss_fn, batch_fn, cfg, out, device="cpu", resume=resume, progress=False,
      callback=lambda step, rec: time.sleep(pause))
'''


def _weights(run: Path) -> dict:
    ckpt = run / (run / "latest").read_text().strip()
    return {name: load_file(str(ckpt / name)) for name in ("model.safetensors", "ema.safetensors")} | \
        {"state": json.loads((ckpt / "state.json").read_text())}


def test_train_resume_after_kill9_matches_uninterrupted(tmp_path, monkeypatch):
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER)
    killed, clean = tmp_path / "killed", tmp_path / "clean"
    proc = _popen([PY, driver, killed, "0", "0.05"])
    _kill_when(proc, lambda: any(killed.glob("ckpt-*")), seed=14, max_delay=0.6)
    assert proc.returncode == -signal.SIGKILL
    state = json.loads((killed / (killed / "latest").read_text().strip() / "state.json").read_text())
    assert 2 <= state["step"] < 30, "the kill must land mid-run"
    # whatever the kill interrupted, the latest checkpoint is complete and valid
    from rawdiff.train import _latest_ckpt, run_is_complete

    assert not run_is_complete(killed, 30) and _latest_ckpt(killed).name.startswith("ckpt-")
    res = subprocess.run([PY, str(driver), str(killed), "1", "0"], env=_env(), capture_output=True, text=True,
                         timeout=300, check=False)                  # resume the killed run
    assert res.returncode == 0, res.stderr[-2000:]
    monkeypatch.setattr(sys, "argv", ["driver", str(clean), "0", "0"])
    exec(compile(DRIVER, "driver", "exec"), {"__name__": "driver"})  # noqa: S102 - uninterrupted reference run, in-process
    a, b = _weights(killed), _weights(clean)
    assert a["state"] == b["state"] and a["state"]["step"] == 30
    for name in ("model.safetensors", "ema.safetensors"):
        assert a[name].keys() == b[name].keys()
        for k in a[name]:
            assert torch.equal(a[name][k], b[name][k]), (name, k)
    assert not list(killed.glob(".ckpt-*.partial")), "stale partial checkpoints are cleaned up"


# ------------------------------------------------------------------------------------------------ data synth
def test_synth_kill9_leaves_no_trusted_partial_dataset(tmp_path, capsys):
    out = tmp_path / "ds"
    argv = ["data", "synth", "lowlight", "--n", "8", "--size", "32", "--seed", "5", "--quiet", "--out"]
    proc = _popen([PY, "-m", "rawdiff.cli", *argv, out], cwd=tmp_path)
    _kill_when(proc, lambda: any(p.name.startswith(".ds.") for p in tmp_path.iterdir()), seed=7, max_delay=0.5)
    from rawdiff.data.check import inspect_dataset

    if out.exists():                               # the rename happened before the kill: then it is complete
        assert inspect_dataset(out).ok
    else:                                          # no dataset a later command could trust
        capsys.readouterr()
        assert main(["data", "check", str(out)]) == 2
        assert main([*argv, str(out)]) == 0        # and a re-run does not trip over the debris
    ref = tmp_path / "ref"
    assert main([*argv, str(ref)]) == 0
    assert sha256_file(out / "manifest.json") == sha256_file(ref / "manifest.json")
    assert inspect_dataset(out).ok


# ------------------------------------------------------------------------------------------------ reproduce
PARAMS = 'scale = "smoke"\nseed = 0\ndevice = "auto"\ndata_root = None\nout_dir = "../figures"\ntag = "a"\npause = 0\n'


def _write_nb(path: Path, code: str) -> None:
    nb = nbformat.v4.new_notebook()
    p = nbformat.v4.new_code_cell(PARAMS)
    p.metadata["tags"] = ["parameters"]
    nb.cells += [p, nbformat.v4.new_code_cell(code)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, str(path))


def test_reproduce_kill9_leaves_no_stale_manifest(tmp_path):
    nbs, figs = tmp_path / "nbs", tmp_path / "figs"
    nbs.mkdir()
    write = "from rawdiff.figures import save_table\nsave_table([{{'tag': tag}}], out_dir, '{n}_t')\n"
    _write_nb(nbs / "01_a.ipynb", write.format(n="01"))
    _write_nb(nbs / "02_b.ipynb", write.format(n="02") + "import time\ntime.sleep(pause)\n")
    base = [PY, "-m", "rawdiff.cli", "reproduce", "--notebooks-dir", str(nbs), "--out-dir", str(figs),
            "--build-dir", str(tmp_path / "build"), "--no-progress"]
    # a finished earlier run: its files and a complete manifest (written without a kernel, to keep this fast)
    from rawdiff.figures import save_table
    from rawdiff.reproduce import NotebookRun, write_manifest

    runs = []
    for n, stem in (("01", "01_a"), ("02", "02_b")):
        save_table([{"tag": "old"}], figs, f"{n}_t")
        runs.append(NotebookRun(stem, nbs / f"{stem}.ipynb", tmp_path / "build" / f"{stem}.ipynb", 1.0,
                                {"tag": "old"}, (f"{n}_t.csv", f"{n}_t.md")))
    write_manifest(figs, runs, None, scale="smoke")
    old = json.loads((figs / "MANIFEST.json").read_text())
    assert old["complete"] and {"01_t.csv", "02_t.csv"} <= old["files"].keys()

    proc = _popen([*base, "-p", "tag='new'", "-p", "pause=60"])
    _kill_when(proc, lambda: "new" in (figs / "02_t.csv").read_text(), seed=3, max_delay=0.5)
    manifest = json.loads((figs / "MANIFEST.json").read_text())   # valid JSON: written atomically
    assert manifest["complete"] is False
    for name, entry in manifest["files"].items():                 # no hash of a file the killed run rewrote
        assert entry["sha256"] == sha256_file(figs / name), name
    assert "01_t.csv" not in manifest["files"] and "02_t.csv" not in manifest["files"]
