"""Multi-process training under ``torchrun`` (gloo on CPU; issue 23 item 4): 2 and 4 processes train like one,
the run-directory decisions are rank 0's (no race, 5 trials with ranks arriving in random order), an unshared run
directory is refused, a failure on one rank ends every rank fast with one message, and a resume on another number
of processes continues the same trajectory.  The ranks run tests/ddp_worker.py; each launch is a real
``python -m torch.distributed.run --standalone`` (torchrun) subprocess."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import ddp_worker as W  # noqa: E402 - the ranks' own module, for the single-process references

pytestmark = pytest.mark.slow   # 72-105 s on a shared 2-core CPU, mostly the start-up of four torchrun launches
ROOT = Path(__file__).resolve().parents[1]
WORKER = Path(__file__).resolve().parent / "ddp_worker.py"
TOL = dict(rtol=1e-4, atol=1e-5)   # float rounding of the gradient all-reduce, after 4 AdamW steps at lr 1e-3


def _env(**extra) -> dict:
    return {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "TQDM_DISABLE": "1",
            "HF_HUB_OFFLINE": "1", "RAWDIFF_DIST_TIMEOUT": "60", **extra}


def torchrun(n: int, *args, timeout: float = 240, **env) -> tuple[subprocess.CompletedProcess, float]:
    t0 = time.monotonic()
    res = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={n}",
                          str(WORKER), *map(str, args)], env=_env(**env), capture_output=True, text=True,
                         timeout=timeout, check=False)
    return res, time.monotonic() - t0


@pytest.fixture(scope="module")
def single():
    """Every trainer, 4 steps, one process (in this process): the reference trajectories."""
    return W.train_kinds(None)


@pytest.fixture(scope="module")
def two(tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp2")
    res, seconds = torchrun(2, "trainers", out, HALF="1")
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    print(f"torchrun 2 processes (4 trainers + 2 half runs): {seconds:.1f} s")
    return out


@pytest.fixture(scope="module")
def four(tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp4")
    res, seconds = torchrun(4, "trainers", out, KINDS=",".join(W.KINDS), RACE="1", timeout=300)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    print(f"torchrun 4 processes (every trainer + race trials): {seconds:.1f} s")
    return out


def _assert_same(got: dict, want: dict) -> None:
    for kind, weights in want.items():
        assert got[kind].keys() == weights.keys(), kind
        for k, v in weights.items():
            torch.testing.assert_close(got[kind][k], v, **TOL, msg=lambda m: f"{kind} {k}: {m}")
        print(f"{kind}: max |weight difference| {max(float((got[kind][k] - v).abs().max()) for k, v in weights.items()):.2e}")


@pytest.mark.parametrize("world", [2, 4])
def test_n_processes_train_like_one(world, single, request):
    out = request.getfixturevalue({2: "two", 4: "four"}[world])
    got = torch.load(out / f"weights-{world}.pt", weights_only=True)
    assert set(got) == set(W.KINDS)
    _assert_same(got, {k: single[k] for k in got})
    # the comparison can fail: one step fewer is far outside the tolerance
    fewer = W.online(W.train_kind("isp", None, steps=W.STEPS - 1))
    assert any(not torch.allclose(fewer[k], v, **TOL) for k, v in single["isp"].items())


def test_resume_on_another_number_of_processes_continues_the_trajectory(two, single):
    """2 steps on 2 processes, resumed to 4 steps on 1 process == 4 steps straight (ISPNet and DiD)."""
    for kind in ("isp", "did"):
        res = W.train_kind(kind, two / "half" / kind, resume=True)
        assert res.step == W.STEPS
        _assert_same({kind: W.online(res)}, {kind: single[kind]})


def test_run_directory_decisions_are_rank0s_five_times_in_a_row(four):
    logs = [json.loads((four / f"race-{r}.json").read_text()) for r in range(4)]
    for trial in range(5):
        outcomes = [log["trials"][trial] for log in logs]
        assert all(o == outcomes[0] for o in outcomes), outcomes        # every rank decided the same
        new, again, resumed = outcomes[0]
        assert new == "ok 2 False" and resumed == "ok 4 False", outcomes[0]
        assert again.startswith("RawdiffError") and "already holds a run" in again
        run = four / f"race-{trial}"
        state = json.loads((run / (run / "latest").read_text().strip() / "state.json").read_text())
        assert state["step"] == 4 and (run / "run.json").is_file()
        assert not [p.name for p in run.iterdir() if p.name.startswith(".")]   # no token or partial left
    for log in logs:   # each rank saw its own folder under one path: refused everywhere, before training
        assert log["unshared"].startswith("RawdiffError") and "not shared by every process" in log["unshared"]
        assert "rank 1" in log["unshared"] and "rank 3" in log["unshared"]
        # get_or_train: trained, reused, then (its weights truncated) trained again in a fresh folder
        assert log["cache"] == ["ok 2 False", "ok 2 True", "ok 2 False"]
    assert not (four / "unshared-1" / "latest").exists()
    for r in range(4):   # the cache entry was trained once per call that had to, by all four ranks together
        lines = (four / f"trained-by-{r}.txt").read_text().splitlines()
        assert len(lines) == 2 and lines[0].endswith("toy-toykey") and ".partial" in lines[1]
        assert len(set(Path(line).name for line in lines)) == 2
    assert not [p.name for p in (four / "cache").iterdir() if p.name != "toy-toykey"]   # no lock, no partial


@pytest.fixture(scope="module")
def lowlight(tmp_path_factory):
    from rawdiff.cli import main

    out = tmp_path_factory.mktemp("ll") / "ds"
    assert main(["data", "synth", "lowlight", "--n", "6", "--size", "32", "--seed", "5", "--quiet",
                 "--out", str(out)]) == 0
    return out


@pytest.mark.parametrize("inject,message", [("raise", "injected failure on rank 1 at step 2"),
                                            ("nan", "the loss became non-finite at step 2")])
def test_a_failure_on_one_rank_ends_every_rank_with_one_message(inject, message, lowlight, tmp_path):
    res, seconds = torchrun(2, "cli", tmp_path, "--", "train", "did", "--data", lowlight, "--scale", "smoke",
                            "--steps", "6", "--out", tmp_path / "run", "--no-progress", INJECT=inject, timeout=120)
    out = res.stdout + res.stderr
    print(f"torchrun 2 processes, {inject} on rank 1: ended in {seconds:.1f} s")
    assert res.returncode != 0 and seconds < 60
    errors = [line for line in out.splitlines() if "rawdiff train: error:" in line]
    assert len(errors) == 1 and message in errors[0], out[-3000:]
    assert "this is a bug" not in out and "[rank0]" not in out and "[rank1]" not in out, out[-3000:]
    assert not (tmp_path / "run" / "ckpt-00000006").exists()


def test_the_cli_writes_the_run_directorys_run_json_on_rank_0_only(tmp_path, monkeypatch):
    """`rawdiff train isp|diffraw --out RUN` used to write RUN/run.json on every rank."""
    from types import SimpleNamespace

    import rawdiff.distributed as D
    from rawdiff.commands.train import _top_meta
    from rawdiff.presets import get_preset

    args = SimpleNamespace(data=str(tmp_path), seed=3)
    for rank in (1, 0):
        monkeypatch.setattr(D, "dist_info", lambda rank=rank: (rank, 2))
        _top_meta(args, get_preset("smoke"), tmp_path / f"run-{rank}")
    assert not (tmp_path / "run-1" / "run.json").exists()
    assert json.loads((tmp_path / "run-0" / "run.json").read_text())["seed"] == 3
