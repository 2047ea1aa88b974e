"""The paper-size dry run (rawdiff.dryrun) at toy sizes: every stage passes through the real trainers and
evaluations, a broken configuration is reported as a failed stage (exit status 1), an isolated stage reports its
own process's peak memory, and ``rawdiff reproduce --dry-run`` reaches it."""
from dataclasses import replace
from pathlib import Path

import pytest

from rawdiff import dryrun as D
from rawdiff.cli import main as cli_main
from rawdiff.peakmem import PeakRSS, run_child

TOY = D.DryRunConfig(scale="smoke", steps=1, batch_size=1, n_train=2, n_test=1, lowlight_hw=(48, 64),
                     sampler_steps=1, n_words=1, device="cpu", isolate=False)


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory):
    return D.dry_run(TOY, tmp_path_factory.mktemp("dry"), echo=None)


def test_every_stage_passes_at_toy_sizes(toy_run):
    got = {r.stage: r for r in toy_run.results}
    assert list(got) == list(D.STAGES)
    assert toy_run.ok, toy_run.table()
    assert all(r.status == "ok" for r in toy_run.results if r.stage != "eval-ocr"), toy_run.table()
    # the trainers ran their steps and wrote real runs that the evaluations loaded
    for kind in ("isp", "diffraw", "did", "regress"):
        assert (Path(toy_run.work_dir) / "runs" / kind / "run.json").exists()
    assert "losses" in got["train-did"].detail and "params" in got["train-did"].detail
    assert "DTDM K=1" in got["eval-dtdm"].detail and "psnr" in got["eval-did-cascade"].detail
    assert got["eval-did-cascade"].detail.startswith("1 image (48, 64)")
    assert all(r.peak_rss_mib > 50 for r in toy_run.results)    # a real measurement, not a placeholder
    assert got["train-did"].cpu_seconds > 0
    assert "dry run PASSED" in toy_run.table()


def test_the_data_written_has_the_real_layouts(toy_run):
    from rawdiff.data.loaders import LowLightDataset, ZRRDataset

    zrr, lol = D.data_roots(TOY, Path(toy_run.work_dir))
    assert len(ZRRDataset(zrr, "train")) == 2 and ZRRDataset(zrr, "test")[0]["rgb"].shape[-1] == 64
    ds = LowLightDataset(lol, "test")
    assert ds.layout == "lol" and tuple(ds[0]["low"].shape) == (3, 48, 64)


def test_a_broken_configuration_is_a_failed_stage(tmp_path, monkeypatch, capsys):
    good = D.dry_preset

    def broken(cfg):   # a DiD UNet that cannot take the 12 input channels
        p = good(cfg)
        return replace(p, did_unet=replace(p.did_unet, in_channels=9))

    monkeypatch.setattr(D, "dry_preset", broken)
    cfg = replace(TOY, stages=("data", "train-did", "eval-did-cascade"))
    run = D.dry_run(cfg, tmp_path, echo=None)
    status = {r.stage: r.status for r in run.results}
    assert status == {"data": "ok", "train-did": "FAIL", "eval-did-cascade": "FAIL"}
    assert "12 input" in run.results[1].detail
    assert not run.ok and D.report(run) == 1
    assert "dry run FAILED" in capsys.readouterr().out


def test_unknown_stage_is_one_clear_error():
    from rawdiff.errors import RawdiffError

    with pytest.raises(RawdiffError, match="unknown dry-run stage"):
        D.dry_run(replace(TOY, stages=("train-everything",)), echo=None)


def test_an_isolated_stage_reports_its_own_peak(tmp_path):
    cfg = replace(TOY, isolate=True, stages=("data",))
    run = D.dry_run(cfg, tmp_path, echo=None)
    (r,) = run.results
    assert r.status == "ok", r.detail
    assert 50 < r.peak_rss_mib < 4000 and (tmp_path / "data" / "zrr" / "train").is_dir()


def test_child_peak_is_the_childs_own():
    big = "import numpy as np; a = np.ones(400 * 2**20 // 8); a += 1; "
    code = "from rawdiff.peakmem import child_result; child_result({'ok': 1})"
    res_big, _ = run_child(["-c", big + code])
    res_small, _ = run_child(["-c", code])
    assert res_big["child_peak_rss_mib"] > res_small["child_peak_rss_mib"] + 300
    with PeakRSS() as m:
        pass
    assert m.scope in ("block", "process") and m.mib > 0


def test_reproduce_dry_run_flag_reaches_the_dry_run(monkeypatch, tmp_path):
    seen = {}

    def fake(cfg, work_dir=None, echo=print):
        seen["cfg"] = cfg
        return D.DryRun(cfg, [D.StageResult("data", "ok", 0.1, 100.0, "x")], seconds=0.1)

    monkeypatch.setattr(D, "dry_run", fake)
    out = tmp_path / "dry.json"
    rc = cli_main(["reproduce", "--scale", "paper", "--dry-run", "--dry-run-steps", "3", "--dry-run-batch", "0",
                   "--dry-run-json", str(out), "--device", "cpu"])
    assert rc == 0 and out.exists()
    cfg = seen["cfg"]
    assert (cfg.scale, cfg.steps, cfg.batch_size, cfg.device) == ("paper", 3, 0, "cpu")
    assert D.dry_preset(cfg).did_train.batch_size == 64          # 0 = the preset's batch
    assert D.dry_preset(cfg).did_train.steps == 3 and D.dry_preset(cfg).did_unet.base_channels == 128


def test_user_data_root_is_used_instead_of_writing_data(toy_run, tmp_path):
    root = Path(toy_run.work_dir) / "data"          # holds zrr/ and lol/, the layouts rawdiff.data.datasets finds
    cfg = replace(TOY, data_root=str(root), stages=("data", "train-regress"))
    run = D.dry_run(cfg, tmp_path, echo=None)
    assert [(r.stage, r.status) for r in run.results] == [("data", "skipped"), ("train-regress", "ok")]
    assert not (tmp_path / "data").exists() and (tmp_path / "runs" / "regress" / "run.json").exists()
