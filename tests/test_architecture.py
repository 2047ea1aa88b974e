"""The package's shape: no import circles, no ``_private`` name imported from another module, modules of a readable
size, and one run lifecycle shared by the command line and the notebooks."""
import ast
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

PKG = Path(__file__).resolve().parents[1] / "rawdiff"


def _modules() -> dict[str, Path]:
    mods = {}
    for p in PKG.rglob("*.py"):
        name = ".".join(p.relative_to(PKG.parent).with_suffix("").parts)
        mods[name[:-len(".__init__")] if name.endswith(".__init__") else name] = p
    return mods


def _imports(mods: dict[str, Path]) -> tuple[dict[str, set[str]], list[str]]:
    """Module -> rawdiff modules it imports (anywhere in the file, functions included), and private-name imports."""
    edges, private = {m: set() for m in mods}, []
    for name, path in mods.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("rawdiff"):
                for a in node.names:
                    edges[name].add(f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in mods else node.module)
                    if a.name.startswith("_") and not a.name.startswith("__") and node.module != name:
                        private.append(f"{name} imports {node.module}.{a.name}")
            elif isinstance(node, ast.Import):
                edges[name].update(a.name for a in node.names if a.name.startswith("rawdiff"))
    # importing a.b.c runs a/__init__ and a/b/__init__ first: a package whose __init__ imports its own submodules
    # (a facade) is a circle as soon as one of them is imported on its own
    for name in mods:
        parts = name.split(".")
        edges[name].update(".".join(parts[:i]) for i in range(1, len(parts)))
    return {k: {v for v in vs if v in mods and v != k} for k, vs in edges.items()}, private


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out, n = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = n[0]
        n[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))
    for v in edges:
        if v not in index:
            visit(v)
    return out


def test_the_checks_see_a_circle_and_a_private_import(tmp_path):
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(edges) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_circles():
    edges, _ = _imports(_modules())
    assert _cycles(edges) == []


def test_no_private_name_is_imported_from_another_module():
    _, private = _imports(_modules())
    assert private == []


def test_modules_stay_readable():
    too_long = {str(p.relative_to(PKG)): n for p in PKG.rglob("*.py") if (n := len(p.read_text().splitlines())) > 430}
    assert too_long == {}


def test_every_kind_is_registered_once_and_named_like_its_key():
    from rawdiff.runs.kinds import KINDS
    from rawdiff.runs.store import KIND_NAMES

    assert tuple(KINDS) == KIND_NAMES
    assert all(k.name == name for name, k in KINDS.items())


def _lol(root: Path, n: int = 2, size=(48, 64)) -> Path:
    """A tiny LOL-layout folder (our485/eval15, low/high PNG pairs) written by the test."""
    rng = np.random.default_rng(0)
    for split in ("our485", "eval15"):
        for sub in ("low", "high"):
            (root / split / sub).mkdir(parents=True)
        for i in range(n):
            high = rng.integers(40, 255, (*size, 3), dtype=np.uint8)
            Image.fromarray(high).save(root / split / "high" / f"{i}.png")
            Image.fromarray((high * 0.15).astype(np.uint8)).save(root / split / "low" / f"{i}.png")
    return root


@pytest.mark.filterwarnings("ignore:DiD loss runs without")
def test_a_run_trained_by_the_cli_is_the_one_the_notebooks_reuse(tmp_path, monkeypatch):
    """``rawdiff train regress --cache`` writes the cache entry get_or_train computes, so the notebook call reuses it."""
    from rawdiff.cli import main
    from rawdiff.presets import get_preset
    from rawdiff.did.regress import REGRESS
    from rawdiff.runs.lifecycle import get_or_train

    data = _lol(tmp_path / "lol")
    cache = tmp_path / "cache"
    assert main(["train", "regress", "--data", str(data), "--cache", str(cache), "--steps", "2", "--no-progress",
                 "--device", "cpu"]) == 0

    def boom(*a, **k):
        raise AssertionError("retrained a run the CLI had trained")

    monkeypatch.setattr("rawdiff.did.regress.train_regress", boom)
    res = get_or_train(REGRESS, get_preset("smoke"), data, cache_dir=cache, device="cpu", steps=2, progress=False)
    assert res.reused and res.run_dir.parent == cache and res.step == 2
    from rawdiff.runs.kinds import kind_of, load

    assert kind_of(res.run_dir) == "regress" and type(load(res.run_dir, "cpu")).__name__ == "RegressModel"
