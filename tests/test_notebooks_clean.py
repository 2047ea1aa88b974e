"""Notebooks in git carry no outputs and follow the notebook contract (CONTRIBUTING.md, DESIGN.md §4)."""
import ast
import re
from pathlib import Path

import nbformat
import pytest

NB_DIR = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = sorted(NB_DIR.glob("*.ipynb"))
REQUIRED_PARAMS = {"scale", "seed", "device", "data_root", "out_dir", "cache_dir"}


def test_there_are_numbered_notebooks():
    assert NOTEBOOKS, f"no notebooks in {NB_DIR}"
    numbers = []
    for p in NOTEBOOKS:
        assert re.fullmatch(r"\d{2}_[A-Za-z0-9_]+\.ipynb", p.name), f"{p.name}: expected NN_name.ipynb"
        numbers.append(p.name[:2])
    assert len(numbers) == len(set(numbers)), f"duplicate notebook numbers: {numbers}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_is_clean(path):
    nb = nbformat.read(str(path), as_version=4)
    nbformat.validate(nb)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{path.name} cell {i} has stored outputs"
            assert cell.execution_count is None, f"{path.name} cell {i} has an execution count"
        assert "papermill" not in cell.metadata, f"{path.name} cell {i} carries papermill metadata (executed copy?)"
        assert "injected-parameters" not in cell.metadata.get("tags", []), f"{path.name}: executed copy committed"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_contract(path):
    nb = nbformat.read(str(path), as_version=4)
    assert nb.cells and nb.cells[0].cell_type == "markdown", f"{path.name}: first cell must be markdown"
    assert len(nb.cells[0].source.strip()) > 20, f"{path.name}: first cell should say what it reproduces"
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, f"{path.name}: expected exactly one cell tagged 'parameters', found {len(tagged)}"
    cell = tagged[0]
    assert cell.cell_type == "code"
    tree = ast.parse(cell.source)
    names = set()
    for stmt in tree.body:
        assert isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name), \
            f"{path.name}: parameters cell may only hold `name = literal` lines, got {ast.unparse(stmt)!r}"
        ast.literal_eval(stmt.value)  # raises ValueError for anything that is not a literal
        names.add(stmt.targets[0].id)
    missing = REQUIRED_PARAMS - names
    assert not missing, f"{path.name}: parameters cell lacks {sorted(missing)}"
