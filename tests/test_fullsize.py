"""Full-size evaluation (rawdiff.did.fullsize), the published LOL rows, chunked attention (rawdiff.nn.unet) and the
data sha256 list of results snapshots (rawdiff.results).  Tiny images, tiny nets and data folders the tests write."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from rawdiff import results as R
from rawdiff import snapshot_data as SD
from rawdiff.claims.scorecard import write_scorecard
from rawdiff.cli import main
from rawdiff.config import DiDConfig, DiDSampler, EDMConfig, RegressConfig, UNetConfig
from rawdiff.did import fullsize as FS
from rawdiff.did.enhance import DiDModel, build_denoiser
from rawdiff.did.published_lol import PUBLISHED_LOL, published_rows
from rawdiff.did.regress import RegressModel, build_regressor
from rawdiff.errors import DataError
from rawdiff.nn.unet import chunked_attention
from rawdiff.norm import LinearNorm
from rawdiff.reproduce import NotebookRun, write_manifest
from rawdiff.utils import sha256_file

ROOT = Path(__file__).resolve().parents[1]


def _lol(root: Path, n_test: int = 3, size=(40, 72)) -> Path:
    """A LOL-mirror-layout folder (train|test/low|normal) of random PNG pairs, dark = bright / 8."""
    rng = np.random.default_rng(0)
    for split, n in (("train", 2), ("test", n_test)):
        for i in range(1, n + 1):
            bright = rng.integers(60, 255, size=(*size, 3), dtype=np.uint8)
            for sub, img in (("normal", bright), ("low", (bright // 8).astype(np.uint8))):
                (root / "dataset" / split / sub).mkdir(parents=True, exist_ok=True)
                Image.fromarray(img).save(root / "dataset" / split / sub / f"{i}.png")
    return root


def _did() -> DiDModel:
    unet = UNetConfig(in_channels=12, out_channels=3, base_channels=8, channel_mults=(1, 2), num_res_blocks=1)
    return DiDModel(build_denoiser(unet, EDMConfig()).eval(), LinearNorm(), LinearNorm(), unet,
                    DiDConfig(scales=(32, 64), crop=64), EDMConfig(), "linear", DiDSampler(num_steps=2))


def _regress() -> RegressModel:
    unet = UNetConfig(in_channels=3, out_channels=3, base_channels=8, channel_mults=(1, 2), num_res_blocks=1)
    return RegressModel(build_regressor(unet).eval(), LinearNorm(), LinearNorm(), unet, RegressConfig())


# ------------------------------------------------------------------------------------------ metrics
def test_gt_mean_scaling_matches_the_reference_mean_and_fixes_a_pure_gain():
    g = torch.Generator().manual_seed(0)
    target = torch.rand(2, 3, 24, 24, generator=g) * 0.8
    out = target * 0.5                                  # right image, wrong brightness
    s = FS.score(out, target)
    assert s[0]["psnr"] < 15 and s[0]["psnr_gtmean"] > 60  # GT-mean correction undoes a global gain
    assert s[0]["ssim"] < 0.9 and s[0]["detail_hb_ssim"] == pytest.approx(2 * 0.5 / (1 + 0.5 ** 2), abs=0.02)
    assert FS.score(target, target)[0]["detail_hb_ssim"] == pytest.approx(1.0)
    noisy = (target + 0.1 * torch.randn(target.shape, generator=g)).clamp(0, 1)
    assert FS.score(noisy, target)[0]["detail_hb_ssim"] < 0.95     # added noise lowers the detail score


# ------------------------------------------------------------------------------------------ evaluation
def test_fullsize_eval_scores_full_images_and_does_not_depend_on_order_or_count(tmp_path):
    root = _lol(tmp_path / "lol")
    did, reg = _did(), _regress()
    cfg = FS.FullsizeConfig(seeds=2, keep=1)
    res = FS.fullsize_eval(root, did, reg, cfg=cfg, seed=3, scale="test")
    assert res.methods == ["dark input", "gamma", "CLAHE", "regression UNet", "DiD"]
    assert {r["size"] for r in res.rows} == {"72x40"}          # full size, not a square crop
    assert len(res.rows) == 3 * (4 + 2)
    assert len(res.examples) == 1 and res.examples[0]["DiD"].shape == (3, 40, 72)
    assert [tuple(p.shape[-2:]) for p in res.levels][-1] == (40, 72)
    did_rows = [r for r in res.rows if r["method"] == "DiD"]
    assert did_rows[0]["psnr"] != did_rows[1]["psnr"]           # two seeds, two samples
    one = FS.fullsize_eval(root, did, reg, n=1, cfg=cfg, seed=3, scale="test")   # first image only
    assert [r["psnr"] for r in one.rows] == [r["psnr"] for r in res.rows if r["image"] == "1"]
    dark = [r for r in res.rows if r["method"] == "dark input"]
    assert all(r["psnr"] < [q for q in res.rows if q["method"] == "gamma" and q["image"] == r["image"]][0]["psnr"]
               for r in dark)                                   # gamma brightens the 1/8 images


def test_summary_and_paired_tables_average_seeds_per_image_first():
    rows = [{"scale": "t", "image": str(i), "method": m, "seed": s, "psnr": v + (s or 0), "ssim": 0.5,
             "detail_hb_ssim": 0.4, "psnr_gtmean": v + 1, "seconds": 1.0}
            for i in range(4) for m, v, seeds in (("gamma", 10.0 + i, [""]), ("DiD", 12.0 + i, [0, 2]))
            for s in seeds]
    table = {r["method"]: r for r in FS.summary_table(rows)}
    assert table["DiD"]["seeds"] == 2 and table["DiD"]["n_images"] == 4
    assert table["DiD"]["psnr"] == pytest.approx(14.5) and table["gamma"]["psnr"] == pytest.approx(11.5)
    assert table["DiD"]["psnr_lo"] <= 14.5 <= table["DiD"]["psnr_hi"]
    assert "psnr_gtmean (GT-mean corrected)" in table["DiD"]
    assert table["DiD"]["sec_per_image"] == pytest.approx(2.0)
    diffs = {r["metric"]: r for r in FS.paired_table(rows)}
    assert diffs["psnr"]["diff"] == pytest.approx(3.0) and diffs["psnr"]["verdict"] == "holds"
    assert diffs["ssim"]["diff"] == 0 and diffs["psnr_gtmean (GT-mean corrected)"]["diff"] == pytest.approx(2.0)
    with pytest.raises(DataError, match="different images"):
        FS.paired_table([r for r in rows if not (r["method"] == "gamma" and r["image"] == "0")])


def test_tables_figures_and_published_rows_are_written(tmp_path):
    root = _lol(tmp_path / "lol", n_test=2)
    res = FS.fullsize_eval(root, _did(), None, cfg=FS.FullsizeConfig(seeds=1, keep=2), scale="test")
    assert "regression UNet" not in res.methods
    table, published = FS.save_fullsize_tables(res, tmp_path / "out", scale="test", lol=True)
    assert [r["method"] for r in table] == res.methods and published
    assert all(r["kind"] == "published (not ours)" for r in published)
    for name in ("05_fullsize", "05_fullsize_per_image", "05_fullsize_diffs", "05_fullsize_published"):
        assert (tmp_path / "out" / f"{name}.csv").is_file(), name
    assert FS.save_fullsize_tables(res, tmp_path / "o2", scale="t", lol=False)[1] == []
    assert not (tmp_path / "o2" / "05_fullsize_published.csv").exists()
    assert FS.centre_window(torch.zeros(3, 40, 72), (20, 30)).shape == (3, 20, 30)
    assert len(FS.fullsize_grid(res, crop=(20, 30)).axes) == 2 * 4
    assert len(FS.cascade_levels_figure(res, (32, 64)).axes) == 4
    none = FS.fullsize_eval(root, None, None, n=1, cfg=FS.FullsizeConfig(seeds=1))
    with pytest.raises(DataError, match="no DiD cascade"):
        FS.cascade_levels_figure(none, (32, 64))


def test_published_rows_carry_a_source_and_the_gt_mean_flag():
    assert PUBLISHED_LOL
    for r in PUBLISHED_LOL:
        assert r["source"] and r["where"] and isinstance(r["gt_mean"], bool)
        assert 10 < r["psnr"] < 40 and 0 < r["ssim"] < 1
    assert {r["gt_mean"] for r in published_rows()} <= {"yes", "no"}


def test_chunked_attention_equals_plain_attention():
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 1, 300, 16, generator=g) for _ in range(3))
    full = F.scaled_dot_product_attention(q, k, v)
    assert torch.allclose(chunked_attention(q, k, v, max_elements=300 * 37), full, atol=1e-6)
    assert torch.equal(chunked_attention(q, k, v), full)    # small inputs take the plain call


# ------------------------------------------------------------------------------------------ snapshot data list
def _run_dir(out: Path, data_root: str | None) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    (out / "05_fullsize.csv").write_text("method,psnr\nDiD,20\n")
    write_scorecard(out)
    nb = ROOT / "notebooks" / "05_did_cascade.ipynb"
    write_manifest(out, [NotebookRun(nb.stem, nb, out / "x.ipynb", 3.0, {"scale": "smoke", "data_root": data_root},
                                     ("05_fullsize.csv",))], "abc", scale="smoke",
                   extra_files={"claims.md": "rawdiff.claims.scorecard.write_scorecard"},
                   machine={"device": "cpu (test)", "date": "2026-01-01T00:00:00Z"})
    return out


def test_snapshot_records_the_lol_sha256_list_and_verify_checks_a_copy(tmp_path, capsys):
    lol = _lol(tmp_path / "lol", n_test=2)
    snap = tmp_path / "snap"
    assert main(["results", "snapshot", str(_run_dir(tmp_path / "run", str(lol))), str(snap)]) == 0
    data = json.loads((snap / R.MANIFEST).read_text())["data"]
    assert data["n_files"] == 2 * (2 + 2) and data["layout"] == "lol"
    assert data["sha256"]["test/low/1.png"] == sha256_file(lol / "dataset" / "test" / "low" / "1.png")
    assert "sha256 of 8 files" in capsys.readouterr().out
    assert R.verify_snapshot(snap) == [] and SD.check_data(snap, lol) == []
    Image.new("RGB", (72, 40)).save(lol / "dataset" / "test" / "low" / "2.png")     # another copy of LOL
    assert SD.check_data(snap, lol) == ["test/low/2.png: sha256 differs from the snapshot's"]
    assert main(["results", "verify", str(snap), "--data-root", str(lol)]) == 1


def test_snapshot_takes_a_sha256_list_file_and_skips_synthetic_runs(tmp_path):
    lol = _lol(tmp_path / "lol", n_test=1)
    listing = tmp_path / "lol.sha256"
    assert main(["data", "check", str(lol), "--sha256", str(listing)]) == 0
    snap = tmp_path / "snap"
    main(["results", "snapshot", str(_run_dir(tmp_path / "run", None)), str(snap), "--data-sha256", str(listing)])
    assert json.loads((snap / R.MANIFEST).read_text())["data"]["n_files"] == 2 * (2 + 1)
    R.make_snapshot(_run_dir(tmp_path / "run2", None), tmp_path / "s2")       # no data_root: no data entry
    assert "data" not in json.loads((tmp_path / "s2" / R.MANIFEST).read_text())
    gone = R.make_snapshot(_run_dir(tmp_path / "run3", str(tmp_path / "moved")), tmp_path / "s3")
    assert json.loads(gone.read_text())["data"] == {"root": str(tmp_path / "moved"), "sha256": None,
                                                   "note": "folder not found when the snapshot was made"}
    bad = tmp_path / "bad.sha256"
    bad.write_text("xyz  a.png\n")
    with pytest.raises(DataError, match="not a sha256"):
        SD.read_sha256_list(bad)
