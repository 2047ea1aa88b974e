"""What a reader of an executed notebook sees: every saved figure inline (also with MPLBACKEND=Agg, as the Makefile
sets), tables rendered (not printed Markdown), no cell ending in a path echo, and a static HTML page.

A tiny synthetic notebook goes through ``rawdiff.reproduce`` (papermill); the real executed notebooks in
``build/notebooks`` are checked when ``rawdiff reproduce`` left them there (`make test` runs the real notebooks
under nbval, which keeps no executed copy)."""
import base64
import json
from pathlib import Path

import nbformat
import pytest

from rawdiff.figures import save_figure, save_table, show_table
from rawdiff.reproduce import MANIFEST_NAME, check_executed, reproduce

ROOT = Path(__file__).resolve().parents[1]
PARAMS = 'scale = "smoke"\nseed = 0\ndevice = "cpu"\ndata_root = None\nout_dir = "../figures"\n'
CELLS = (
    # a figure whose cell ends with save_figure: inline image, no PosixPath echo; plt.show() must not repeat it
    ("import matplotlib.pyplot as plt\nfrom rawdiff.figures import save_figure, save_table, show_table\n"
     "fig, ax = plt.subplots(figsize=(2, 2))\nax.plot([0, 1, 3])\nsave_figure(fig, out_dir, '01_line')"),
    "plt.show()",
    # a table: saved (no tuple-of-paths echo) and shown as a Markdown display output
    ("rows = [{'seed': seed, 'value': 0.5}]\nsave_table(rows, out_dir, '01_table', title='T')\nshow_table(rows)\n"
     "save_table(rows, out_dir, '01_table_again')"),
    # a tqdm.auto bar: an ipywidgets bar in a kernel
    "from tqdm.auto import tqdm\nfor _ in tqdm(range(3)):\n    pass",
)


def _notebook(path: Path, *cells: str) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_markdown_cell("# synthetic report notebook"))
    p = nbformat.v4.new_code_cell(PARAMS)
    p.metadata["tags"] = ["parameters"]
    nb.cells += [p, *(nbformat.v4.new_code_cell(c) for c in cells)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))


def _outputs(nb, key: str) -> list:
    return [o for c in nb.cells for o in c.get("outputs", []) if key in o.get("data", {})]


@pytest.mark.parametrize("backend", ["Agg", None])
def test_figures_tables_and_bars_render_in_the_executed_notebook_and_html(tmp_path, monkeypatch, backend):
    # Agg as the Makefile sets (matplotlib alone would show nothing); None: JupyterLab's inline backend (which
    # would show the figure a second time unless save_figure closes it)
    if backend:
        monkeypatch.setenv("MPLBACKEND", backend)
    else:
        monkeypatch.delenv("MPLBACKEND", raising=False)
    _notebook(tmp_path / "nbs" / "01_report.ipynb", *CELLS)
    res = reproduce(notebooks_dir=tmp_path / "nbs", out_dir=tmp_path / "figs", build_dir=tmp_path / "build",
                    device="cpu", progress=False, scorecard=False, log=None)
    run = res.runs[0]
    nb = nbformat.read(str(run.executed), as_version=4)
    images = _outputs(nb, "image/png")
    assert len(images) == 1, "one inline image per saved figure (and plt.show() does not repeat it)"
    assert base64.b64decode(images[0].data["image/png"]) == (tmp_path / "figs" / "01_line.png").read_bytes()
    tables = _outputs(nb, "text/markdown")
    assert len(tables) == 1 and "| seed | value |" in tables[0].data["text/markdown"]
    assert not [o for o in nb.cells[2].outputs + nb.cells[4].outputs if o.output_type == "execute_result"], \
        "save_figure / save_table return None in a kernel: no path echo"
    assert "Path(" not in json.dumps([c.get("outputs", []) for c in nb.cells])
    assert _outputs(nb, "application/vnd.jupyter.widget-view+json"), "tqdm.auto shows an ipywidgets bar"
    assert run.report == {"figures": 1, "inline_images": 1, "problems": []}
    manifest = json.loads((tmp_path / "figs" / MANIFEST_NAME).read_text())
    entry = manifest["notebooks"]["01_report"]
    assert entry["report"] == run.report and entry["html"] == str(tmp_path / "build" / "01_report.html")
    html = run.html.read_text()
    assert run.html == tmp_path / "build" / "01_report.html"
    assert html.count("<img") == 1 and "data:image/png;base64," in html and "<table>" in html


def test_check_executed_flags_path_echoes_printed_tables_and_missing_images(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("save_figure(fig, out_dir, '01_a')", outputs=[
                    nbformat.v4.new_output("execute_result", {"text/plain": "PosixPath('/x/figures/01_a.png')"},
                                           execution_count=1)]),
                nbformat.v4.new_code_cell("print(to_markdown(rows))", outputs=[
                    nbformat.v4.new_output("stream", name="stdout", text="| a | b |\n|---|---|\n| 1 | 2 |\n")]),
                nbformat.v4.new_code_cell("print('| not a table')", outputs=[
                    nbformat.v4.new_output("stream", name="stdout", text="| not a table\n")])]
    nbformat.write(nb, str(tmp_path / "01_x.ipynb"))
    report = check_executed(tmp_path / "01_x.ipynb", ["01_a.png", "01_b.png", "01_t.csv"])
    assert report["figures"] == 2 and report["inline_images"] == 0
    problems = report["problems"]
    assert len(problems) == 3, problems
    assert "cell 0 ends by echoing a path" in problems[0] and "cell 1 prints a Markdown table" in problems[1]
    assert problems[2] == "2 figure(s) saved but 0 shown inline"


def test_outside_a_kernel_paths_are_returned_and_tables_printed(tmp_path, capsys):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, _ = plt.subplots()
    assert save_figure(fig, tmp_path, "01_f") == tmp_path / "01_f.png"
    plt.close(fig)
    assert save_table([{"a": 1}], tmp_path, "01_t") == (tmp_path / "01_t.csv", tmp_path / "01_t.md")
    show_table([{"a": 1.0}], digits=2)
    assert capsys.readouterr().out == "| a |\n|---|\n| 1.00 |\n"


def _reproduced() -> list:
    """(executed notebook, files it wrote) for the copies in build/notebooks that `rawdiff reproduce` checked
    (its manifest entry has a "report": copies executed by an older rawdiff have none and are not checked)."""
    manifest = ROOT / "figures" / MANIFEST_NAME
    if not manifest.is_file():
        return []
    entries = json.loads(manifest.read_text()).get("notebooks", {})
    return [pytest.param(Path(e["executed"]), e["files"], id=name) for name, e in entries.items()
            if "report" in e and e.get("ok") and Path(e["executed"]).is_file()]


@pytest.mark.parametrize("executed, files", _reproduced() or [pytest.param(None, None, marks=pytest.mark.skip(
    reason="no executed notebooks: run `rawdiff reproduce` first"))])
def test_reproduced_notebooks_show_every_figure_and_table(executed, files):
    report = check_executed(executed, files)
    assert not report["problems"], f"{executed.name}: {report['problems']}"
    nb = nbformat.read(str(executed), as_version=4)
    tables = sum(f.endswith(".md") for f in files)
    assert not tables or _outputs(nb, "text/markdown"), f"{executed.name} saves {tables} table(s) but shows none"


def test_a_real_notebook_reproduced_shows_each_figure_it_saves(tmp_path):
    """Notebook 02 run by `rawdiff reproduce` at smoke (seconds once the smoke data exist): one inline image per
    saved figure, each table shown as a table, no path echoed — checked on the executed copy and its HTML page."""

    res = reproduce(scale="smoke", only="02", out_dir=tmp_path / "fig", build_dir=tmp_path / "build", progress=False,
                    scorecard=False, log=None)
    (run,) = res.runs
    pngs = [f for f in run.files if f.endswith(".png")]
    assert pngs, "notebook 02 saves a figure"
    nb = nbformat.read(str(run.executed), as_version=4)
    assert len(_outputs(nb, "image/png")) == len(pngs)
    report = check_executed(run.executed, run.files)
    assert not report["problems"], report
    assert (tmp_path / "build" / "02_tail_norm_analysis.html").read_text().count("<img") >= len(pngs)
