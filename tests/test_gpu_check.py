"""benchmarks/gpu_check.py on a CPU with --tiny: every row of the GPU check runs (the same code a lent GPU runs),
the JSON holds the device facts, training and sampling rows with their own memory figures, and the DDP row says
why it did not run."""
import json
import subprocess
from pathlib import Path

import pytest

from benchmarks import gpu_check as G

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    out = tmp_path_factory.mktemp("gpu") / "gpu_check.json"
    res = G.main(["--tiny", "--device", "cpu", "--steps", "1", "--warmup", "1", "--ddp", "off", "--out", str(out)])
    return res, out


def test_tiny_check_runs_every_row_on_cpu(tiny):
    res, out = tiny
    assert json.loads(out.read_text()) == json.loads(json.dumps(res, default=str))
    assert res["facts"]["device"] == "cpu" and res["facts"]["torch"]
    assert {"matmul_allow_tf32", "cudnn_benchmark"} <= set(res["precision_after_training"])
    train = {r["row"]: r for r in res["train"]}
    assert set(train) == {f"{n}/{p}" for n in G.NETS for p in G.PRECISIONS}
    for r in train.values():
        assert r["status"] == "ok", r
        assert r["steps_per_s"] > 0 and r["params_M"] > 0 and r["peak_rss_mib"] > 50
        assert r["amp_applied"] is False          # bf16 autocast is applied on CUDA only (rawdiff.train)
    assert train["did/fp32"]["input"] == [2, 3, 32, 32]       # the smoke DiD patch at the tiny batch
    samp = {r["row"]: r for r in res["sampling"]}
    assert set(samp) == {"dtdm/fp32", "dtdm/bf16", "did/fp32", "did/bf16"}
    assert all(r["status"] == "ok" and r["denoiser_calls_per_s"] > 0 for r in samp.values()), samp
    assert samp["did/fp32"]["tile_nfe"] > samp["did/fp32"]["denoiser_calls"]
    assert res["ddp"]["ddp"].startswith("not run")


def test_spent_budget_skips_rows_and_says_so():
    res = G.run_check(tiny=True, device="cpu", steps=1, warmup=1, ddp="off", budget_s=0.0, nets=("did",),
                      precisions=("fp32",), echo=None)
    assert res["train"][0]["status"].startswith("skipped: the 0 s budget")
    assert all(r["status"].startswith("skipped") for r in res["sampling"])


def test_failed_row_is_recorded_not_raised(monkeypatch):
    def boom(*a, **k):
        raise RuntimeError("CUDA out of memory (simulated)")

    monkeypatch.setattr(G, "train_row", boom)
    res = G.run_check(tiny=True, device="cpu", nets=("isp",), precisions=("fp32",), ddp="off", echo=None,
                      budget_s=1e9, sampling=False)
    assert res["train"][0]["status"] == "failed: RuntimeError: CUDA out of memory (simulated)"


def test_shell_wrapper_is_valid_bash():
    sh = ROOT / "benchmarks" / "gpu_check.sh"
    assert subprocess.run(["bash", "-n", str(sh)]).returncode == 0
    assert "benchmarks.gpu_check" in sh.read_text()
