"""Regression-UNet baseline (rawdiff.did.regress): trains, any-size inference, cached reuse, determinism."""
from dataclasses import replace

import pytest
import torch

from rawdiff.config import UNetConfig
from rawdiff.presets import get_preset
from rawdiff.norm import TailNorm
from rawdiff.did.enhance import fit_normalizers
from rawdiff.did.regress import (build_regressor, enhance_regress, load_regress, RandomCropBatches, REGRESS, regress_unet_config, RegressModel, train_regress_tensors)
from rawdiff.config import RegressConfig
from rawdiff.runs.lifecycle import get_or_train
from rawdiff.utils import make_generator




def _images(n=3, size=48, seed=0):
    """Smooth bright scenes with fine stripes and their dark, slightly noisy versions (3 x H x W in [0, 1])."""
    g = make_generator(seed)
    yy, xx = torch.meshgrid(torch.linspace(0, 1, size), torch.linspace(0, 1, size), indexing="ij")
    bright = []
    for _ in range(n):
        a, b, c = (torch.rand(3, generator=g) * 6 + 1).tolist()
        img = torch.stack([0.5 + 0.4 * torch.sin(a * xx + b * yy), 0.5 + 0.4 * torch.cos(c * xx),
                           0.5 + 0.4 * torch.sin(20 * xx) * (yy > 0.5)])
        bright.append(img.clamp(0, 1))
    dark = [(0.08 * b ** 1.5 + 0.01 * torch.rand(b.shape, generator=g)).clamp(0, 1) for b in bright]
    return dark, bright


def _tiny_preset(steps=4, lr=3e-3, ckpt_every=2):
    s = get_preset("smoke")
    return replace(s, did_unet=UNetConfig(in_channels=12, out_channels=3, base_channels=8, channel_mults=(1, 2),
                                          num_res_blocks=1),
                   regress_train=replace(s.regress_train, steps=steps, batch_size=4, lr=lr, ema_decay=0.5,
                                         log_every=1, ckpt_every=ckpt_every))


def test_same_unet_family_as_did_with_dark_image_only():
    s = get_preset("smoke")
    u = regress_unet_config(s)
    assert u.in_channels == 3 and u.out_channels == 3
    assert replace(u, in_channels=s.did_unet.in_channels) == s.did_unet


def test_batches_are_random_crops_of_the_normalised_pairs():
    dark, bright = _images(2, size=40)
    dn, bn = fit_normalizers(dark, bright, "tail")
    fn = RandomCropBatches(dark, bright, 16, 5, dn, bn)
    b1, b2 = fn(3, make_generator(7)), fn(3, make_generator(7))
    assert b1["x"].shape == b1["target"].shape == (5, 3, 16, 16)
    assert torch.equal(b1["x"], b2["x"]) and torch.equal(b1["target"], b2["target"])
    assert not torch.equal(b1["x"], fn(3, make_generator(8))["x"])
    # every crop is a window of a normalised training image, target at the same place
    full = [(dn.forward(d[None])[0], bn.forward(b[None])[0]) for d, b in zip(dark, bright)]
    for x, t in zip(b1["x"], b1["target"]):
        hit = False
        for d, b in full:
            for top in range(40 - 16 + 1):
                for left in range(40 - 16 + 1):
                    if torch.allclose(d[:, top:top + 16, left:left + 16], x, atol=1e-6):
                        assert torch.allclose(b[:, top:top + 16, left:left + 16], t, atol=1e-6)
                        hit = True
                        break
                if hit:
                    break
            if hit:
                break
        assert hit


def test_training_reduces_the_loss_and_normalisation_is_saved(tmp_path):
    dark, bright = _images()
    preset = _tiny_preset(steps=20, ckpt_every=20)
    res = train_regress_tensors(preset, dark, bright, tmp_path / "run", cfg=RegressConfig(crop=16),
                                device="cpu", progress=False)
    model = res.model
    losses = [h["loss"] for h in res.history]
    assert len(losses) == 20
    assert sum(losses[-5:]) / 5 < 0.7 * sum(losses[:5]) / 5, losses
    assert isinstance(model.dark_norm, TailNorm) and isinstance(model.bright_norm, TailNorm)
    back = load_regress(tmp_path / "run", device="cpu")
    assert back.dark_norm == model.dark_norm and back.bright_norm == model.bright_norm
    assert back.cfg == RegressConfig(crop=16)
    # the trained net beats the untrained one (which outputs the bright training mean) on a training image
    d, b = torch.stack(dark), torch.stack(bright)
    untrained = RegressModel(net=build_regressor(model.unet), dark_norm=model.dark_norm,
                               bright_norm=model.bright_norm, unet=model.unet, cfg=model.cfg)
    err = lambda m: (enhance_regress(m, d) - b).abs().mean().item()
    assert err(back) < err(untrained)


def test_l2_option_and_bad_options():
    dark, bright = _images(2, size=32)
    m = train_regress_tensors(_tiny_preset(steps=2), dark, bright, None,
                                cfg=RegressConfig(loss="l2", crop=16, normalization="linear"), device="cpu",
                                progress=False)
    assert m.model.cfg.loss == "l2" and len(m.history) == 2
    with pytest.raises(ValueError):
        RegressConfig(loss="huber")
    with pytest.raises(ValueError):
        RegressConfig(normalization="zscore")


def test_any_size_inference_returns_the_input_size():
    dark, bright = _images(2, size=32)
    m = train_regress_tensors(_tiny_preset(steps=2), dark, bright, None, cfg=RegressConfig(crop=16),
                              device="cpu", progress=False).model
    x = torch.rand(2, 3, 37, 53, generator=make_generator(1)) * 0.2
    y = enhance_regress(m, x)
    assert y.shape == x.shape and y.dtype == torch.float32
    assert 0 <= y.min() and y.max() <= 1 and torch.isfinite(y).all()
    single = enhance_regress(m, x[1])
    assert single.shape == (3, 37, 53)
    assert torch.allclose(single, y[1], atol=1e-5)  # batch-independent
    assert torch.allclose(enhance_regress(m, x, max_batch=1), y, atol=1e-5)
    assert enhance_regress(m, torch.rand(1, 3, 5, 7)).shape == (1, 3, 5, 7)  # smaller than the down factor


def test_same_seed_same_output_and_seed_matters():
    dark, bright = _images(2, size=32)
    x = torch.rand(1, 3, 24, 40, generator=make_generator(3)) * 0.2

    def run(seed):
        p = _tiny_preset(steps=3)
        p = replace(p, regress_train=replace(p.regress_train, seed=seed))
        return enhance_regress(train_regress_tensors(p, dark, bright, None, cfg=RegressConfig(crop=16),
                                                     device="cpu", progress=False).model, x)

    a, b, c = run(0), run(0), run(1)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_cached_checkpoint_is_reused_without_retraining(tmp_path, monkeypatch):
    dark, bright = _images(2, size=32)
    root = tmp_path / "lowlight"
    root.mkdir()
    (root / "marker.txt").write_text("v1")   # the data digest covers every file under the root
    calls = []

    def fake_load(r, split="train"):
        calls.append((str(r), split))
        return dark, bright, ["a", "b"]

    monkeypatch.setattr("rawdiff.did.regress.load_lowlight", fake_load)
    preset = _tiny_preset(steps=3, ckpt_every=3)
    cfg = RegressConfig(crop=16)
    m1 = get_or_train(REGRESS, preset, root, cache_dir=tmp_path / "cache", device="cpu", seed=0, progress=False,
                                cfg=cfg)
    assert calls == [(str(root), "train")] and m1.run_dir.name.startswith("regress-tail-")
    m2 = get_or_train(REGRESS, preset, root, cache_dir=tmp_path / "cache", device="cpu", seed=0, progress=False,
                                cfg=cfg)
    assert len(calls) == 1                          # no data loading, no training
    assert m2.run_dir == m1.run_dir
    s1, s2 = m1.model.net.state_dict(), m2.model.net.state_dict()
    assert s1.keys() == s2.keys() and all(torch.equal(s1[k], s2[k]) for k in s1)
    # a different seed or different data is a different cache entry (trains again)
    m3 = get_or_train(REGRESS, preset, root, cache_dir=tmp_path / "cache", device="cpu", seed=1, progress=False,
                                cfg=cfg)
    assert len(calls) == 2 and m3.run_dir != m1.run_dir
    (root / "marker.txt").write_text("v2")
    m4 = get_or_train(REGRESS, preset, root, cache_dir=tmp_path / "cache", device="cpu", seed=0, progress=False,
                                cfg=cfg)
    assert len(calls) == 3 and m4.run_dir not in (m1.run_dir, m3.run_dir)


# ---------------------------------------------------------------- rawdiff.did.textbench.darken_raw (wired in issue D)
def test_darken_raw_is_seeded_keeps_shape_and_accepts_odd_sizes():
    from rawdiff.did import textbench as TB

    img = TB.make_word_crop(make_generator(0))[0]
    a = TB.darken_raw(img, 200, make_generator(5))
    assert a.shape == img.shape and a.dtype == img.dtype and 0 <= a.min() and a.max() <= 1
    assert a.mean() < 0.5 * img.mean()
    assert torch.equal(a, TB.darken_raw(img, 200, make_generator(5)))
    assert not torch.equal(a, TB.darken_raw(img, 200, make_generator(6)))
    odd = TB.darken_raw(img[None, :, :37, :53], 100, make_generator(1), shot_range=(1e-4, 1e-3))
    assert odd.shape == (1, 3, 37, 53) and torch.isfinite(odd).all()
