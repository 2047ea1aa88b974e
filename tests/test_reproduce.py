"""The papermill runner (rawdiff.reproduce) on tiny throwaway notebooks: manifest, failures, --only, determinism."""
import json
import re
import sys
import types

import nbformat
import pytest

import rawdiff.results  # noqa: F401  (loads the real rawdiff.claims.scorecard before tests stub it in sys.modules)
from rawdiff import cli
from rawdiff.errors import RawdiffError
from rawdiff.reproduce import find_notebooks, parse_param, parse_params, reproduce
from rawdiff.utils import sha256_file

PARAMS = 'scale = "smoke"\nseed = 0\ndevice = "auto"\ndata_root = None\nout_dir = "../figures"\nextra = None\n'

FIGURE = """
import numpy as np
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
from pathlib import Path
from rawdiff.figures import save_figure, save_table
assert Path.cwd().name == "nbs", Path.cwd()          # the runner executes with cwd = notebooks folder
rng = np.random.default_rng(seed)
fig, ax = plt.subplots(figsize=(2, 2))
ax.plot(rng.random(20))
save_figure(fig, out_dir, "{prefix}_line")
save_table([{{"seed": seed, "value": float(rng.random()), "extra": str(extra)}}], out_dir, "{prefix}_table")
"""


def _write_nb(path, *cells):
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_markdown_cell("# test notebook"))
    p = nbformat.v4.new_code_cell(PARAMS)
    p.metadata["tags"] = ["parameters"]
    nb.cells.append(p)
    nb.cells += [nbformat.v4.new_code_cell(c) for c in cells]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, str(path))


def _args(tmp_path, *extra):
    return ["reproduce", "--notebooks-dir", str(tmp_path / "nbs"), "--out-dir", str(tmp_path / "figs"),
            "--build-dir", str(tmp_path / "build"), "--no-progress", *extra]


def test_parse_param_literals_and_strings():
    assert parse_param("steps=10") == ("steps", 10)
    assert parse_param("lr=1e-3") == ("lr", 1e-3)
    assert parse_param("x=None") == ("x", None)
    assert parse_param("names=[1, 'a']") == ("names", [1, "a"])
    assert parse_param("mode=fast") == ("mode", "fast")
    assert parse_param("path=/tmp/a=b") == ("path", "/tmp/a=b")
    assert parse_params(["a=1", "a=2"]) == {"a": 2}
    for bad in ("noequals", "1x=3", "=3"):
        with pytest.raises(RawdiffError, match="bad parameter"):
            parse_param(bad)


def test_find_notebooks_orders_and_filters(tmp_path):
    for name in ("02_b.ipynb", "01_a.ipynb", "10_c.ipynb", "notes.ipynb", "3_bad.ipynb"):
        (tmp_path / name).write_text("{}")
    names = lambda ps: [p.name for p in ps]  # noqa: E731
    assert names(find_notebooks(tmp_path)) == ["01_a.ipynb", "02_b.ipynb", "10_c.ipynb"]
    assert names(find_notebooks(tmp_path, "10,1")) == ["01_a.ipynb", "10_c.ipynb"]
    assert names(find_notebooks(tmp_path, ["02_b"])) == ["02_b.ipynb"]
    with pytest.raises(RawdiffError, match="matches no notebook.*01_a"):
        find_notebooks(tmp_path, "07")
    with pytest.raises(RawdiffError, match="not found"):
        find_notebooks(tmp_path / "missing")


def test_outside_a_checkout_fails_clearly(monkeypatch):
    import rawdiff.reproduce as rp

    monkeypatch.setattr(rp, "repo_root", lambda *a, **k: None)
    with pytest.raises(RawdiffError, match="source checkout"):
        reproduce(progress=False, log=None)


def test_manifest_only_and_same_seed_same_bytes(tmp_path, monkeypatch):
    nbs = tmp_path / "nbs"
    nbs.mkdir()
    _write_nb(nbs / "01_first.ipynb", FIGURE.format(prefix="01"))
    _write_nb(nbs / "02_second.ipynb", FIGURE.format(prefix="02"))
    figs = tmp_path / "figs"
    figs.mkdir()
    (figs / "01_old_unrelated.txt").write_text("left over")        # not rewritten -> not in the manifest
    called = []
    fake = types.ModuleType("rawdiff.claims.scorecard")

    def write_scorecard(out_dir):
        called.append(out_dir)
        (out_dir / "claims.md").write_text(f"# scorecard {len(called)}\n")
        return out_dir / "claims.md"

    fake.write_scorecard = write_scorecard
    monkeypatch.setitem(sys.modules, "rawdiff.claims.scorecard", fake)

    assert cli.main(_args(tmp_path, "--seed", "3", "-p", "extra=[1, 2]")) == 0
    manifest = json.loads((figs / "MANIFEST.json").read_text())
    files = manifest["files"]
    assert set(files) == {"01_line.png", "01_table.csv", "01_table.md", "02_line.png", "02_table.csv", "02_table.md",
                          "claims.md"}
    assert files["claims.md"]["notebook"] is None and files["claims.md"]["generated_by"].endswith("write_scorecard")
    entry = files["01_line.png"]
    assert entry["notebook"] == "01_first" and files["02_table.md"]["notebook"] == "02_second"
    assert entry["sha256"] == sha256_file(figs / "01_line.png") and entry["size"] == (figs / "01_line.png").stat().st_size
    assert entry["parameters"]["seed"] == 3 and entry["parameters"]["extra"] == [1, 2]
    assert entry["parameters"]["scale"] == "smoke" and entry["parameters"]["out_dir"] == str(figs.resolve())
    assert entry["git_commit"] is None or re.fullmatch(r"[0-9a-f]{40}", entry["git_commit"])
    assert "[1, 2]" in (figs / "02_table.csv").read_text()
    assert list(manifest["notebooks"]) == ["01_first", "02_second"]
    assert all(n["ok"] and n["seconds"] > 0 for n in manifest["notebooks"].values())
    executed = nbformat.read(str(tmp_path / "build" / "01_first.ipynb"), as_version=4)
    assert any("injected-parameters" in c.metadata.get("tags", []) for c in executed.cells)
    assert called == [figs.resolve()]
    first = {n: (figs / n).read_bytes() for n in files if n != "claims.md"}

    # --only re-runs one notebook with the same seed: byte-identical files, other entries kept
    assert cli.main(_args(tmp_path, "--seed", "3", "-p", "extra=[1, 2]", "--only", "01")) == 0
    again = json.loads((figs / "MANIFEST.json").read_text())
    assert set(again["files"]) == set(files)
    assert again["files"]["02_line.png"] == files["02_line.png"]
    for n in first:
        assert (figs / n).read_bytes() == first[n], n
    assert again["files"]["claims.md"]["sha256"] == sha256_file(figs / "claims.md")   # scorecard re-written
    assert list(again["notebooks"]) == ["01_first", "02_second"]

    # a different seed really changes the figure (the seed reaches the notebook)
    assert cli.main(_args(tmp_path, "--seed", "4", "--only", "01_first")) == 0
    assert (figs / "01_line.png").read_bytes() != first["01_line.png"]
    assert json.loads((figs / "MANIFEST.json").read_text())["files"]["01_line.png"]["parameters"]["seed"] == 4


def test_first_failure_stops_and_names_notebook_and_cell(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "rawdiff.claims.scorecard", None)   # scorecard must not run after a failure anyway
    nbs = tmp_path / "nbs"
    nbs.mkdir()
    _write_nb(nbs / "01_ok.ipynb", FIGURE.format(prefix="01"))
    _write_nb(nbs / "02_boom.ipynb", "x = 1", "y = x / 0")
    _write_nb(nbs / "03_never.ipynb", "open(out_dir + '/03_marker.txt', 'w').write('ran')")
    rc = cli.main(_args(tmp_path))
    err = capsys.readouterr().err
    assert rc == 2
    assert "02_boom.ipynb" in err and "cell 3" in err and "ZeroDivisionError" in err and "y = x / 0" in err
    figs = tmp_path / "figs"
    assert not (figs / "03_marker.txt").exists()
    manifest = json.loads((figs / "MANIFEST.json").read_text())
    assert manifest["notebooks"]["01_ok"]["ok"] and not manifest["notebooks"]["02_boom"]["ok"]
    assert "03_never" not in manifest["notebooks"]
    assert (tmp_path / "build" / "02_boom.ipynb").exists()
