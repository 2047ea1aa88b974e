"""Seeded paired augmentation (rawdiff.data.augment) and the official-code training options of DiD."""
import dataclasses

import torch

from rawdiff.presets import get_preset
from rawdiff.config import AugmentConfig
from rawdiff.data.augment import augment_pair, binomial_lowpass
from rawdiff.utils import make_generator


def _pair(b=6, seed=0):
    g = make_generator(seed)
    bright = torch.rand(b, 3, 16, 16, generator=g)
    return bright * 0.1, bright


def test_same_seed_same_batch_and_seed_matters():
    d, b = _pair()
    a1 = augment_pair(d, b, make_generator(3))
    a2 = augment_pair(d, b, make_generator(3))
    assert all(torch.equal(x, y) for x, y in zip(a1, a2))
    a3 = augment_pair(d, b, make_generator(4))
    assert not torch.equal(a1[1], a3[1])


def test_flips_are_shared_and_dark_is_only_flipped():
    d, b = _pair(b=32)
    cfg = AugmentConfig(p_filter=0.0, brightness=0.0, saturation=0.0, p_grey=0.0)
    ad, ab = augment_pair(d, b, make_generator(1), cfg)
    assert torch.allclose(ad * 10, ab, atol=1e-6)              # the pair stays aligned (same flips)
    flipped = [not torch.equal(ad[i], d[i]) for i in range(32)]
    assert 4 < sum(flipped) < 32                               # flips happen, not always
    for i in range(32):                                        # dark is a flip of itself, values untouched
        assert any(torch.equal(ad[i], v) for v in (d[i], d[i].flip(-1), d[i].flip(-2), d[i].flip(-1).flip(-2)))


def test_photometric_jitter_only_on_bright():
    d, b = _pair(b=16)
    cfg = AugmentConfig(p_hflip=0.0, p_vflip=0.0, p_grey=1.0)
    ad, ab = augment_pair(d, b, make_generator(2), cfg)
    assert torch.equal(ad, d)
    assert torch.allclose(ab[:, 0], ab[:, 1]) and torch.allclose(ab[:, 1], ab[:, 2])   # greyscale
    assert ab.min() >= 0 and ab.max() <= 1


def test_binomial_lowpass_keeps_constants_and_smooths():
    c = torch.full((1, 3, 8, 8), 0.3)
    assert torch.allclose(binomial_lowpass(c), c)
    x = torch.rand(1, 3, 8, 8, generator=make_generator(0))
    assert binomial_lowpass(x).var() < x.var()


def test_paper_preset_follows_the_official_training():
    p = get_preset("paper")
    assert p.did.augment and p.did.eta_per_batch and p.did.lpips_space == "model"
    assert p.did_unet.dropout == 0.13 and p.did_train.grad_clip == 0.0
    assert p.did_train.warmup_steps == 10_000_000 // p.did_train.batch_size
    s = get_preset("smoke")
    assert not s.did.augment and s.did_unet.dropout == 0.0


def test_eta_per_batch_shares_one_noise_at_level_0_and_augment_is_seeded():
    from rawdiff.did.enhance import fit_normalizers
    from rawdiff.did.train import MultiScalePatchBatches
    g = make_generator(0)
    bright = [torch.rand(3, 128, 128, generator=g) for _ in range(2)]
    dark = [x * 0.1 for x in bright]
    s = get_preset("smoke")
    dn, bn = fit_normalizers(dark, bright, "linear")
    cfg = dataclasses.replace(s.did, eta_per_batch=True, augment=True)
    fn = MultiScalePatchBatches(dark, bright, cfg, s.edm, 4, dn, bn)
    for step in range(40):
        b = fn(step, make_generator(step))
        if int(b["level"][0]) == 0:
            assert torch.equal(b["cond"][:, 3:6], b["cond"][:, 6:9])          # shared noisy tensor
            dev = (b["cond"][:, 3:6] - b["cond"][:, :3]).flatten(1).std(1)
            assert torch.allclose(dev, dev[:1].expand_as(dev), rtol=0.2)      # one eta for the batch
            break
    else:
        raise AssertionError("no level-0 batch in 40 steps")
    a1, a2 = fn(7, make_generator(5)), fn(7, make_generator(5))
    assert all(torch.equal(a1[k], a2[k]) for k in a1)
