"""Packaging: pyproject and environment.yml agree, torch pins, the CLI entry point, the torchvision work-around."""
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
TEST_EXTRAS = {"pytest", "nbval"}
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "MPLBACKEND": "Agg"}


def _name(req: str) -> str:
    return re.split(r"[<>=!~;\[ ]", req.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _pyproject():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_pyproject_and_environment_yml_list_the_same_packages():
    proj = _pyproject()["project"]
    deps = {_name(d): d.replace(" ", "") for d in proj["dependencies"]}
    test = {_name(d) for d in proj["optional-dependencies"]["test"]}
    assert test == TEST_EXTRAS
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    env_deps = {_name(d): d.replace(" ", "") for d in pip}
    assert set(env_deps) - TEST_EXTRAS == set(deps), \
        f"only in pyproject: {set(deps) - set(env_deps)}; only in environment.yml: {set(env_deps) - TEST_EXTRAS - set(deps)}"
    for name in ("torch", "torchvision"):   # the pins must agree too
        assert env_deps[name] == deps[name]


def test_constraints_pin_cpu_torch_and_torchvision():
    lines = [ln.split("#")[0].strip() for ln in (ROOT / "constraints.txt").read_text().splitlines()]
    pins = {ln for ln in lines if ln}
    assert "torch==2.13.0" in pins and "torchvision==0.28.0" in pins
    deps = _pyproject()["project"]["dependencies"]
    assert "torch==2.13.0" in deps and "torchvision==0.28.0" in deps


def test_cli_help_works():
    exe = Path(sys.executable).with_name("rawdiff")
    cmd = [str(exe), "--help"] if exe.exists() else [sys.executable, "-m", "rawdiff.cli", "--help"]
    out = subprocess.run(cmd, capture_output=True, text=True, env=ENV, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "usage: rawdiff" in out.stdout and "reproduce" in out.stdout
    sub = subprocess.run([sys.executable, "-m", "rawdiff.cli", "reproduce", "--help"], capture_output=True,
                         text=True, env=ENV, timeout=300)
    assert sub.returncode == 0 and "--scale" in sub.stdout and "--only" in sub.stdout, sub.stderr


def test_import_rawdiff_then_torchvision_in_a_fresh_process():
    code = "import rawdiff, torchvision; print(torchvision.__version__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=ENV, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().startswith("0.28.0")
