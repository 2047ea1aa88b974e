"""``rawdiff reproduce --runs DIR`` / get_or_train(runs=...): notebooks use runs trained by ``rawdiff train --out``."""
from __future__ import annotations

import pytest

from tests.test_architecture import _lol


@pytest.mark.filterwarnings("ignore:DiD loss runs without")
def test_a_cli_out_run_with_the_same_key_is_used_and_announced(tmp_path, monkeypatch, capsys):
    from rawdiff.cli import main
    from rawdiff.did.regress import REGRESS
    from rawdiff.presets import get_preset
    from rawdiff.runs.lifecycle import get_or_train

    data = _lol(tmp_path / "lol")
    runs = tmp_path / "runs"
    assert main(["train", "regress", "--data", str(data), "--out", str(runs / "reg-gpu"), "--steps", "2",
                 "--no-progress", "--device", "cpu"]) == 0

    def boom(*a, **k):
        raise AssertionError("retrained a run found under --runs")

    monkeypatch.setattr("rawdiff.did.regress.train_regress", boom)
    res = get_or_train(REGRESS, get_preset("smoke"), data, cache_dir=tmp_path / "cache", device="cpu", steps=2,
                       progress=False, runs=str(runs))
    assert res.reused and res.run_dir == runs / "reg-gpu" and res.step == 2
    assert f"using the run at {runs / 'reg-gpu'}" in capsys.readouterr().out


@pytest.mark.filterwarnings("ignore:DiD loss runs without")
def test_a_run_whose_configuration_differs_is_not_used(tmp_path, monkeypatch):
    from rawdiff.cli import main
    from rawdiff.did.regress import REGRESS
    from rawdiff.presets import get_preset
    from rawdiff.runs.lifecycle import get_or_train

    data = _lol(tmp_path / "lol")
    runs = tmp_path / "runs"
    assert main(["train", "regress", "--data", str(data), "--out", str(runs / "reg"), "--steps", "2",
                 "--no-progress", "--device", "cpu"]) == 0
    class Trains(Exception):
        pass

    def trains(*a, **k):
        raise Trains

    monkeypatch.setattr("rawdiff.did.regress.train_regress", trains)
    # 3 steps: another key -> not the CLI run, so the notebook trains its own
    with pytest.raises(Trains):
        get_or_train(REGRESS, get_preset("smoke"), data, cache_dir=tmp_path / "cache", device="cpu", steps=3,
                     progress=False, runs=[runs])


def test_a_missing_runs_folder_is_one_clear_error(tmp_path):
    from rawdiff.errors import RawdiffError
    from rawdiff.runs.reuse import as_roots

    with pytest.raises(RawdiffError, match="--runs folder does not exist"):
        as_roots(str(tmp_path / "nope"))
    assert as_roots(None) == [] and as_roots(f"{tmp_path},{tmp_path}") == [tmp_path, tmp_path]


def test_reproduce_passes_runs_to_the_notebooks_and_refuses_synthetic_paper(tmp_path, monkeypatch, capsys):
    import sys

    from rawdiff import cli
    from tests.test_reproduce import _args, _write_nb

    import types

    fake = types.ModuleType("rawdiff.claims.scorecard")
    fake.write_scorecard = lambda out_dir: None
    monkeypatch.setitem(sys.modules, "rawdiff.claims.scorecard", fake)
    nbs = tmp_path / "nbs"
    nbs.mkdir()
    _write_nb(nbs / "01_runs.ipynb", "from pathlib import Path\nPath(out_dir, '01_runs.txt').write_text(str(runs))")
    (tmp_path / "r1").mkdir()
    assert cli.main(_args(tmp_path, "--runs", str(tmp_path / "r1"))) == 0
    assert (tmp_path / "figs" / "01_runs.txt").read_text() == str((tmp_path / "r1").resolve())
    capsys.readouterr()
    assert cli.main(_args(tmp_path, "--scale", "paper")) == 2
    assert "--scale paper trains on the real datasets: pass --data-root" in capsys.readouterr().err
    assert cli.main(_args(tmp_path, "--runs", str(tmp_path / "missing"))) == 2
    assert "--runs folder does not exist" in capsys.readouterr().err
