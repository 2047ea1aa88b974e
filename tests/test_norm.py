"""Tail normalisation (DiD, DESIGN.md §3) and the alternatives: exact inverses, fitted statistics, skewness."""
import json

import pytest
import torch

from rawdiff.norm import (NORMALIZERS, GammaNorm, describe, LinearNorm, LogNorm, PairedTailNorm, PerImageZScore, RunningStats, TailNorm, make_normalizer, normalizer_from_dict)
from rawdiff.camera.isp import linear_to_srgb, srgb_to_linear


def _bright(n=8, size=24, seed=0):
    """Smooth-ish 'well-lit' sRGB images in [0, 1] with different per-channel levels."""
    g = torch.Generator().manual_seed(seed)
    base = torch.rand(n, 3, size // 4, size // 4, generator=g)
    x = torch.nn.functional.interpolate(base, size=(size, size), mode="bilinear", align_corners=False)
    return (0.15 + 0.8 * x * torch.tensor([1.0, 0.8, 0.6]).view(1, 3, 1, 1)).clamp(0, 1)


def _dark(bright, seed=1, gain=0.02, photons=400.0):
    """Dark sRGB: bright linear * gain with Poisson shot noise (photons at full scale), re-encoded to sRGB."""
    g = torch.Generator().manual_seed(seed)
    lin = srgb_to_linear(bright) * gain
    noisy = torch.poisson(lin * photons, generator=g) / photons
    return linear_to_srgb(noisy.clamp(0, 1))


def _skew(t):
    return describe(t)["skewness"]


def test_srgb_curve_known_values_and_inverse():
    x = torch.tensor([0.0, 0.04045, 0.5, 1.0])
    lin = srgb_to_linear(x)
    assert lin[0] == 0 and abs(lin[-1].item() - 1) < 1e-7
    assert abs(lin[1].item() - 0.04045 / 12.92) < 1e-8
    assert abs(lin[2].item() - 0.21404114) < 1e-6          # standard value of sRGB 0.5
    grid = torch.linspace(0, 1, 10001)
    assert (linear_to_srgb(srgb_to_linear(grid)) - grid).abs().max() < 1e-5


@pytest.mark.parametrize("name", sorted(NORMALIZERS))
def test_round_trip_is_exact_on_unit_interval(name):
    x = torch.cat([_bright(), _dark(_bright())])
    x[0, :, 0, :3] = torch.tensor([0.0, 1.0, 0.5]).view(3, 1)   # include the end points
    norm = make_normalizer(name, x)
    y, inv = norm.encode(x)
    assert y.shape == x.shape and y.dtype == x.dtype
    assert (inv.inverse(y) - x).abs().max() < 1e-5


@pytest.mark.parametrize("name", sorted(NORMALIZERS))
def test_to_dict_is_json_and_restores(name):
    x = _bright(4)
    norm = make_normalizer(name, x)
    y, inv = norm.encode(x)
    d = json.loads(json.dumps(inv.to_dict()))
    back = normalizer_from_dict(d)
    assert back == inv and type(back) is type(inv)
    assert torch.equal(back.inverse(y), inv.inverse(y))


def test_tail_fitting_set_has_zero_mean_half_std_per_channel():
    x = _dark(_bright(16))
    y = TailNorm.fit(x).forward(x)
    per_c = y.transpose(0, 1).reshape(3, -1)
    assert per_c.mean(1).abs().max() < 1e-4
    assert (per_c.std(1, unbiased=False) - 0.5).abs().max() < 1e-4


def test_tail_streaming_fit_matches_whole_tensor_and_accepts_dicts():
    x = _bright(12)
    whole = TailNorm.fit(x)
    streamed = TailNorm.fit(iter([x[:5], x[5], x[6:]]))            # mixed NCHW / CHW chunks
    dicts = TailNorm.fit(({"low": im, "name": str(i)} for i, im in enumerate(x)), key="low")
    for other in (streamed, dicts):
        assert other.count == whole.count == 12 * 24 * 24
        assert max(abs(a - b) for a, b in zip(whole.mean + whole.std, other.mean + other.std)) < 1e-9
    with pytest.raises(ValueError, match="key="):
        TailNorm.fit([{"low": x[0]}])


def test_running_stats_match_numpy_style_variance():
    x = torch.randn(5, 2, 7, 3, dtype=torch.float64)
    s = RunningStats()
    for chunk in x.split(2):
        s = s.update(chunk)
    ref = x.transpose(0, 1).reshape(2, -1)
    assert torch.allclose(torch.tensor(s.mean, dtype=torch.float64), ref.mean(1))
    assert torch.allclose(torch.tensor(s.std, dtype=torch.float64), ref.std(1, unbiased=False))
    with pytest.raises(ValueError, match="empty"):
        RunningStats().std


def test_dark_and_bright_statistics_differ():
    bright = _bright(8)
    dark = _dark(bright)
    pair = PairedTailNorm.fit(dark, bright)
    assert all(d < b - 0.1 for d, b in zip(pair.dark.mean, pair.bright.mean))
    # the pair serialises too
    assert PairedTailNorm.from_dict(json.loads(json.dumps(pair.to_dict()))) == pair
    assert normalizer_from_dict(pair.to_dict()) == pair
    # using the bright stats on dark data does NOT centre it: the separate statistics matter
    assert pair.bright.forward(dark).mean() < -0.5


def test_inverse_clamps_to_unit_interval():
    x = _bright(2)
    for name in sorted(NORMALIZERS):
        y, inv = make_normalizer(name, x).encode(x)
        out = inv.inverse(y * 50.0)
        big = inv.inverse(y + 100.0)
        small = inv.inverse(y - 100.0)
        for t in (out, big, small):
            assert torch.isfinite(t).all() and t.min() >= 0 and t.max() <= 1
        assert torch.allclose(big, torch.ones_like(big)) and torch.allclose(small, torch.zeros_like(small))


def test_tail_reduces_right_skew_of_dark_data():
    # 2% exposure, ~10^4 photons at full scale: few exact zeros (a pile of zeros would add a spike at the
    # far left after the 1/4 power, which is a different effect)
    dark = _dark(_bright(16, size=32), photons=1e4)
    skew_lin = _skew(srgb_to_linear(dark))
    skew_tail = _skew(TailNorm.fit(dark).forward(dark))
    skew_bright_tail = _skew(TailNorm.fit(_bright(16, size=32)).forward(_bright(16, size=32)))
    assert skew_lin > 1.0                       # dark linear data is right-skewed
    assert abs(skew_tail) < 0.5 * skew_lin      # the 1/4 power removes most of that skew
    assert abs(skew_bright_tail) < 1.0


def test_per_image_z_needs_stats_to_invert_and_checks_shapes():
    x = _bright(3)
    y = PerImageZScore().forward(x)
    with pytest.raises(ValueError, match="encode"):
        PerImageZScore().inverse(y)
    _, bound = PerImageZScore().encode(x)
    with pytest.raises(ValueError, match="shape"):
        bound.inverse(y[:2])
    per = y.flatten(2)
    assert per.mean(2).abs().max() < 1e-5 and (per.std(2, unbiased=False) - 0.5).abs().max() < 1e-4


def test_fixed_normalisers_map_unit_interval_to_minus_one_one():
    ends = torch.tensor([0.0, 1.0]).view(1, 1, 1, 2).expand(1, 3, 1, 2)
    for norm in (LinearNorm(), LogNorm(), GammaNorm(), LogNorm(linearize=False), GammaNorm(linearize=False)):
        y = norm.forward(ends)
        assert torch.allclose(y[..., 0], torch.full_like(y[..., 0], -1.0), atol=1e-6)
        assert torch.allclose(y[..., 1], torch.full_like(y[..., 1], 1.0), atol=1e-6)


def test_clear_errors():
    with pytest.raises(ValueError, match="unknown normalisation"):
        make_normalizer("nope")
    with pytest.raises(ValueError, match="needs data"):
        make_normalizer("tail")
    with pytest.raises(ValueError, match="channels"):
        TailNorm.fit(_bright(2)).forward(torch.rand(1, 4, 8, 8))
    with pytest.raises(ValueError, match="std must be positive"):
        TailNorm.fit(torch.full((2, 3, 4, 4), 0.5))
    with pytest.raises(ValueError, match="cannot load"):
        TailNorm.from_dict({"kind": "linear"})
    with pytest.raises(ValueError, match="unknown normalisation kind"):
        normalizer_from_dict({"kind": "zzz"})


def test_describe_matches_closed_forms():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(200_000, generator=g)
    d = describe(z)
    assert abs(d["mean"]) < 0.01 and abs(d["std"] - 1) < 0.01
    assert abs(d["skewness"]) < 0.05 and abs(d["excess_kurtosis"]) < 0.1
    assert abs(d["frac_in_range"] - 0.6827) < 0.01             # P(|z| <= 1) for a standard normal
    e = describe(torch.empty(200_000).exponential_(generator=g))
    assert abs(e["skewness"] - 2) < 0.15 and abs(e["excess_kurtosis"] - 6) < 1.0   # exponential: 2 and 6
    assert describe(torch.ones(10))["skewness"] != describe(torch.ones(10))["skewness"]  # nan for constants
