"""DiffRAW pipeline (rawdiff.diffraw): conditions, seeded batches, tiny training, tiling, evaluation."""
from dataclasses import replace

import pytest
import torch
from torch import nn

from rawdiff.config import ISPNetConfig, TrainConfig, UNetConfig
from rawdiff.presets import get_preset
from rawdiff.diffraw.data import PhoneData, make_cond, raw_to_output_res
from rawdiff.diffraw.rundir import develop_raw, load_run_dir
from rawdiff.diffraw.sample import Method, develop_dtdm, evaluate, recolour, run_ispnet
from rawdiff.diffraw.train import (build_unet, DIFFRAW, diffraw_batch_fn, diffraw_loss_fn, ISP, ispnet_batch_fn, train_diffraw, train_ispnet)
from rawdiff.runs.lifecycle import get_or_train
from rawdiff.errors import RawdiffError
from rawdiff.metrics.colour import chroma_stats, color_error, mean_color_distance
def _data(n=6, size=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    rgb = torch.nn.functional.interpolate(torch.rand(n, 3, size // 8, size // 8, generator=g), size=(size, size),
                                          mode="bilinear", align_corners=False)
    raw = torch.stack([rgb[:, 0, 0::2, 0::2], rgb[:, 1, 0::2, 1::2], rgb[:, 1, 1::2, 0::2], rgb[:, 2, 1::2, 1::2]], 1)
    return PhoneData(raw * 0.5, rgb, [str(i) for i in range(n)])


def _tiny_preset():
    p = get_preset("smoke")
    return replace(p, isp_net=ISPNetConfig(channels=8, num_blocks=1, train_crop=8),
                   isp_train=TrainConfig(steps=3, batch_size=2, log_every=1, ckpt_every=3),
                   diffraw_unet=UNetConfig(in_channels=10, out_channels=3, base_channels=8, channel_mults=(1, 2),
                                           num_res_blocks=1),
                   diffraw_train=TrainConfig(steps=3, batch_size=2, log_every=1, ckpt_every=3),
                   dtdm=replace(p.dtdm, train_crop=8))


def test_make_cond_zeroes_missing():
    w, c = torch.rand(2, 4, 4, 4), torch.rand(2, 3, 8, 8)
    full = make_cond(w, c, "raw+c")
    assert full.shape == (2, 7, 8, 8) and full.min() >= -1 and full.max() <= 1
    assert torch.equal(full[:, 4:], c * 2 - 1)
    assert torch.equal(full[:, 0, ::2, ::2], w[:, 0] * 2 - 1)
    raw = make_cond(w, c, "raw")
    assert torch.equal(raw[:, :4], full[:, :4]) and torch.all(raw[:, 4:] == 0)
    assert torch.all(make_cond(w, c, "none") == 0)
    with pytest.raises(ValueError):
        make_cond(w, c, "c")


def test_batch_fn_seeded_and_loss_deterministic():
    preset = _tiny_preset()
    data = _data()
    bf = diffraw_batch_fn(data, 3, replace(preset.dtdm, train_crop=16))
    b1 = bf(5, torch.Generator().manual_seed(7))
    b2 = bf(5, torch.Generator().manual_seed(7))
    for k in b1:
        assert torch.equal(b1[k], b2[k]), k
    assert b1["y"].shape == (3, 3, 16, 16) and b1["w"].shape == (3, 4, 8, 8)
    assert b1["t"].min() >= 1 and b1["t"].max() <= preset.dtdm.s
    bd = diffraw_batch_fn(data, 64, replace(preset.dtdm, train_crop=0), mode="ddpm")(0, torch.Generator().manual_seed(1))
    assert bd["t"].max() > preset.dtdm.s            # the baseline net sees the whole 1..T range
    unet = build_unet(preset)
    loss_fn = diffraw_loss_fn(preset.dtdm)
    assert torch.equal(loss_fn(unet, b1), loss_fn(unet, b1))


def test_isp_crops_are_aligned():
    data = _data()
    b = ispnet_batch_fn(data, 4, crop=8)(0, torch.Generator().manual_seed(3))
    # raw was made from rgb by mosaicking: crops must still pair up pixel-exactly
    assert torch.allclose(b["raw"][:, 0] * 2, b["rgb"][:, 0, 0::2, 0::2])
    assert b["coords"].shape == (4, 2, 4, 4)


def test_tiny_training_and_cache(tmp_path):
    preset = _tiny_preset()
    data = _data(4, 16)
    fp = "fake"
    isp = get_or_train(ISP, preset, data, fp, cache_dir=tmp_path, device="cpu", progress=False)
    assert not isp.reused and len(isp.history) == 3
    again = get_or_train(ISP, preset, data, fp, cache_dir=tmp_path, device="cpu", progress=False)
    assert again.reused and again.run_dir == isp.run_dir
    for a, b in zip(isp.model.parameters(), again.model.parameters()):
        assert torch.equal(a, b)
    net = get_or_train(DIFFRAW, preset, data, fp, cache_dir=tmp_path, device="cpu", progress=False)
    other = get_or_train(DIFFRAW, preset, data, fp, cache_dir=tmp_path, device="cpu", progress=False,
                                   condition="none")
    assert net.run_dir != other.run_dir
    c = run_ispnet(isp.model, data.raw[:2])
    g = torch.Generator().manual_seed(0)
    out = develop_dtdm(net.model, data.raw[:2], c, preset.dtdm, 3, generator=g)
    assert out.shape == (2, 3, 16, 16) and out.min() >= 0 and out.max() <= 1
    out2 = develop_dtdm(net.model, data.raw[:2], c, preset.dtdm, 3, generator=torch.Generator().manual_seed(0))
    assert torch.equal(out, out2)


class _FakeISP(nn.Module):
    """Pointwise 'ISP': upsampled (R, G1, B) — tiles must reproduce the whole-image result."""

    def __init__(self):
        super().__init__()
        self.p = nn.Parameter(torch.zeros(()))

    def develop(self, raw, coords=None):
        return raw_to_output_res(raw[:, [0, 1, 3]]).clamp(0, 1) + 0 * coords.sum()


class _CopyC(nn.Module):
    """x0-'denoiser' returning the colour condition c: DTDM then outputs exactly c."""

    downsample_factor = 4

    def __init__(self):
        super().__init__()
        self.p = nn.Parameter(torch.zeros(()))

    def forward(self, y_t, t, cond):
        return cond[:, 4:7]


@pytest.mark.parametrize("hw", [(20, 28), (9, 7), (32, 32)])
def test_tiled_develop_matches_whole(hw):
    h, w = hw
    packed = torch.rand(1, 4, h, w, generator=torch.Generator().manual_seed(1))
    cfg = get_preset("smoke").dtdm
    out = develop_raw(_FakeISP(), _CopyC(), cfg, packed, steps=2, tile=8, overlap=2)
    ref = raw_to_output_res(packed[:, [0, 1, 3]])
    assert out.shape == (1, 3, 2 * h, 2 * w)
    assert torch.allclose(out, ref, atol=1e-5)


def test_evaluate_rows():
    data = _data(4)
    cfg = get_preset("smoke").dtdm
    c = raw_to_output_res(data.raw[:, [0, 1, 3]] * 2).clamp(0, 1)
    methods = [Method("ispnet"), Method("dtdm", 2, s=cfg.s), Method("ddim", 3), Method("truncated", 2, s=100),
               Method("ddpm", label="ddpm-1000")]
    rows = evaluate(methods[:4], data, c_test=c, nets={"dtdm": {cfg.s: _CopyC()}, "ddpm": _CopyC()}, cfg=cfg,
                      device="cpu", n_images={"ddim": 2})
    assert [r["nfe"] for r in rows] == [0, 2, 3, 2]
    assert rows[2]["n_images"] == 2
    assert rows[1]["psnr"] == pytest.approx(rows[0]["psnr"], abs=1e-3)   # copy-c denoiser => DTDM output = c
    assert methods[4].nfe(1000) == 1000
    assert all(isinstance(r["sec_per_image"], float) for r in rows)


def test_recolour_and_chroma():
    img = torch.rand(2, 3, 8, 8)
    warm, cool = recolour(img, "warm"), recolour(img, "cool")
    assert (chroma_stats(warm)[:, 0] > chroma_stats(cool)[:, 0]).all()
    assert torch.equal(recolour(img, "none"), img)


def test_color_metrics():
    img = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(color_error(img, img), torch.zeros(2), atol=1e-6)
    warm = recolour(img, "warm")
    assert (color_error(warm, img) > 1).all()
    noisy = (img + 0.05 * torch.randn(img.shape, generator=torch.Generator().manual_seed(1))).clamp(0, 1)
    assert (color_error(noisy, img) < color_error(warm, img)).all()   # low-pass ignores fine noise
    assert (mean_color_distance(warm, img) > mean_color_distance(noisy, img)).all()
    assert [Method(k).name for k in ("truncated", "dtdm")] == ["truncated_no_shift", "dtdm"]


def test_cli_errors_are_one_line(tmp_path, capsys):
    from rawdiff.cli import main

    bad = tmp_path / "photo.txt"
    bad.write_text("not a raw")
    assert main(["develop", "--run", str(tmp_path), str(bad), str(tmp_path / "o.png")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unsupported input type" in err[0]
    assert main(["develop", "--run", str(tmp_path), str(tmp_path / "missing.dng"), str(tmp_path / "o.png")]) == 2
    assert "no such file" in capsys.readouterr().err
    assert main(["develop", "--run", str(tmp_path / "norun"), str(bad), str(tmp_path / "o.png")]) == 2
    assert "run directory not found" in capsys.readouterr().err
    assert main(["train", "isp", "--data", str(tmp_path / "nodata"), "--out", str(tmp_path / "r")]) == 2
    assert "not a directory" in capsys.readouterr().err


def test_train_registry():
    from rawdiff.commands.train import TRAINERS

    assert {"isp", "diffraw"} <= set(TRAINERS)


def test_run_dir_roundtrip_and_develop(tmp_path):
    """RUN/isp + RUN/diffraw written by the train helpers load back and develop an odd-sized RAW by tiles."""
    preset = _tiny_preset()
    data = _data(4, 16)
    train_ispnet(preset, data, tmp_path / "isp", "cpu", progress=False)
    train_diffraw(preset, data, tmp_path / "diffraw", "cpu", progress=False)
    isp, unet, cfg, conf = load_run_dir(tmp_path)
    assert cfg == preset.dtdm and conf["condition"] == "raw+c"
    packed = torch.rand(1, 4, 13, 22, generator=torch.Generator().manual_seed(0))
    a = develop_raw(isp, unet, cfg, packed, steps=2, tile=8, overlap=2, seed=3)
    b = develop_raw(isp, unet, cfg, packed, steps=2, tile=8, overlap=2, seed=3)
    assert a.shape == (1, 3, 26, 44) and torch.equal(a, b)
    with pytest.raises(RawdiffError):
        load_run_dir(tmp_path / "nothing")
