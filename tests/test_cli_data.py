"""``rawdiff data synth|check`` through rawdiff.cli.main: exit codes 0 / 1 / 2, one-line errors, no partial output."""
import json
import os

import pytest

from rawdiff.cli import main
from rawdiff.errors import DataError


def _err_lines(capsys):
    return [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]


def test_synth_phone2dslr_then_check(tmp_path, capsys):
    out = tmp_path / "zrr"
    assert main(["data", "synth", "phone2dslr", "--n", "3", "--size", "32", "--out", str(out), "--seed", "1",
                 "--quiet"]) == 0
    assert "phone2dslr, 3 pairs (train 2, test 1)" in capsys.readouterr().out
    assert sorted(p.name for p in (out / "train" / "huawei_raw").iterdir()) == ["0.png", "1.png"]
    assert json.loads((out / "manifest.json").read_text())["config"]["seed"] == 1
    assert main(["data", "check", str(out)]) == 0
    assert capsys.readouterr().out.strip() == "OK: zrr (rawdiff synthetic), 3 pairs (train 2, test 1)"


def test_synth_lowlight_text_then_check(tmp_path, capsys):
    out = tmp_path / "low"
    assert main(["data", "synth", "lowlight", "--n", "3", "--size", "64", "--out", str(out), "--text",
                 "--test-fraction", "0", "--quiet"]) == 0
    labels = json.loads((out / "train" / "labels.json").read_text())
    assert len(labels) == 3 and all(labels.values())          # --text: words in every scene
    assert json.loads((out / "manifest.json").read_text())["config"]["text_fraction"] == 1.0
    capsys.readouterr()
    assert main(["data", "check", str(out)]) == 0
    assert capsys.readouterr().out.startswith("OK: lowlight (rawdiff synthetic), 3 pairs")


def test_check_broken_dataset_returns_1(tmp_path, capsys):
    out = tmp_path / "zrr"
    assert main(["data", "synth", "phone2dslr", "--n", "2", "--size", "32", "--out", str(out), "--quiet"]) == 0
    (out / "train" / "canon" / "0.jpg").write_bytes(b"not a jpeg")
    capsys.readouterr()
    assert main(["data", "check", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.splitlines()[0].startswith("2 problem(s) in")
    assert "train/canon/0.jpg: size 10 bytes, manifest.json says" in err
    assert "train/canon/0.jpg: expected 8-bit RGB PNG/JPEG, got a file that is not a readable image" in err


def test_missing_dir_and_bad_input_exit_2_with_one_line(tmp_path, capsys):
    assert main(["data", "check", str(tmp_path / "nope")]) == 2
    lines = _err_lines(capsys)
    assert len(lines) == 1 and "nope: no such dataset folder" in lines[0]
    junk = tmp_path / "junk"
    junk.mkdir()
    assert main(["data", "check", str(junk)]) == 2
    lines = _err_lines(capsys)
    assert len(lines) == 1 and "not a dataset rawdiff knows" in lines[0]
    assert main(["data", "synth", "phone2dslr", "--n", "2", "--size", "31", "--out", str(tmp_path / "o"),
                 "--quiet"]) == 2
    lines = _err_lines(capsys)
    assert len(lines) == 1 and "size must be an even number" in lines[0]
    assert not (tmp_path / "o").exists()


def test_existing_output_needs_overwrite(tmp_path, capsys):
    out = tmp_path / "low"
    args = ["data", "synth", "lowlight", "--n", "2", "--size", "32", "--out", str(out), "--quiet"]
    assert main(args) == 0
    before = (out / "manifest.json").read_bytes()
    assert main(args) == 2
    assert "already exists" in _err_lines(capsys)[-1]
    assert main([*args, "--overwrite"]) == 0
    assert (out / "manifest.json").read_bytes() == before     # same seed, same bytes


def test_failure_leaves_no_half_written_output(tmp_path, capsys, monkeypatch):
    import rawdiff.data.synth as S

    real, calls = S.phone2dslr_item, []

    def failing(*a, **k):
        calls.append(1)
        if len(calls) == 2:
            raise DataError("disk on fire")
        return real(*a, **k)

    monkeypatch.setattr(S, "phone2dslr_item", failing)
    assert main(["data", "synth", "phone2dslr", "--n", "4", "--size", "32", "--out", str(tmp_path / "z"),
                 "--quiet"]) == 2
    assert "disk on fire" in _err_lines(capsys)[-1]
    assert os.listdir(tmp_path) == []                         # neither z nor a .z.*.partial temp folder


@pytest.mark.parametrize("argv", [["data"], ["data", "synth"]])
def test_incomplete_command_prints_help(argv, capsys):
    assert main(argv) == 1
    assert "usage: rawdiff data" in capsys.readouterr().out
