"""Camera simulation: Bayer packing, unprocess/ISP round trip, Poisson–Gaussian noise, low light, phone gap."""
import pytest
import torch
import torch.nn.functional as F
from scipy.stats import skew

from rawdiff.camera import bayer, isp, noise, phone
from rawdiff.camera.align import estimate_shift
from rawdiff.errors import DataError
from rawdiff.utils import make_generator


def smooth_images(n=4, size=64, seed=0, lo=0.05, hi=0.95):
    g = make_generator(seed)
    x = lo + (hi - lo) * torch.rand(n, 3, 4, 4, generator=g)
    return F.interpolate(x, size=size, mode="bilinear", align_corners=True)


def textured_images(n=4, size=64, seed=0):
    g = make_generator(seed)
    return F.interpolate(torch.rand(n, 3, 16, 16, generator=g), size=size, mode="bicubic").clamp(0, 1)


@pytest.mark.parametrize("pattern", bayer.PATTERNS)
def test_pack_unpack_round_trip_and_colours(pattern):
    x = textured_images(2, 32)
    m = bayer.mosaic(x, pattern)
    p = bayer.pack(m, pattern)
    assert p.shape == (2, 4, 16, 16)
    assert torch.equal(bayer.unpack(p, pattern), m)
    # each packed channel holds the colour the pattern says, at its cell position
    for i, ((dy, dx), c) in enumerate(zip(bayer.OFFSETS, bayer.channel_colors(pattern))):
        assert torch.equal(p[:, i], x[:, c, dy::2, dx::2])
    # reordering to (R, G1, G2, B) puts the red samples first and the blue samples last
    rggb_colours = [bayer.channel_colors(pattern)[i] for i in bayer.to_rggb_order(pattern)]
    assert rggb_colours == [0, 1, 1, 2]


def test_bayer_errors_and_levels():
    with pytest.raises(DataError, match="even height and width"):
        bayer.pack(torch.zeros(1, 1, 5, 6))
    with pytest.raises(ValueError, match="unknown Bayer pattern"):
        bayer.pack(torch.zeros(1, 1, 4, 4), "RGBG")
    x = torch.tensor([63.0, 541.5, 1020.0])
    n = bayer.normalize_levels(x, 63, 1020)
    assert torch.allclose(n, torch.tensor([0.0, 0.5, 1.0]))
    assert torch.equal(bayer.to_digital(n), torch.tensor([63, 542, 1020], dtype=torch.int32))
    q = bayer.quantize(torch.linspace(0, 1, 1000), 4)
    assert len(torch.unique(q)) == 16


def test_curves_are_exact_inverses():
    x = torch.linspace(0, 1, 1001)
    assert torch.allclose(isp.srgb_to_linear(isp.linear_to_srgb(x)), x, atol=1e-6)
    assert torch.allclose(isp.inverse_tone_curve(isp.tone_curve(x)), x, atol=1e-5)


def test_unprocess_then_simple_isp_round_trip():
    """Tolerance: on smooth images the only loss is bilinear demosaicking of a non-linear (gamma/tone) signal;
    measured mean |err| ~1e-3, max ~0.06 at the image border -> asserted mean < 3e-3, interior max < 0.06."""
    x = smooth_images()
    g = make_generator(1)
    p = isp.random_camera_params(4, g)
    raw = isp.unprocess(x, p)
    assert raw.shape == (4, 1, 64, 64) and raw.min() >= 0 and raw.max() <= 1
    y = isp.simple_isp(raw, p)
    err = (y - x).abs()
    assert err.mean() < 3e-3
    assert err[..., 2:-2, 2:-2].max() < 0.06
    # the packed form gives the same output as the mosaic form
    assert torch.allclose(isp.simple_isp(bayer.pack(raw), p), y, atol=1e-6)
    # without the right parameters the colours are off (the test can fail)
    wrong = isp.simple_isp(raw, isp.random_camera_params(4, make_generator(99)))
    assert (wrong - x).abs().mean() > 5 * err.mean()


def test_grey_world_balances_a_grey_scene():
    grey = torch.full((1, 3, 32, 32), 0.5)
    p = isp.random_camera_params(1, make_generator(2))
    out = isp.simple_isp(isp.unprocess(grey, p))  # hand-written ISP without camera params
    means = out.mean(dim=(2, 3))[0]
    assert (means.max() - means.min()) < 0.05


def test_poisson_gaussian_mean_and_variance_follow_the_model():
    g = make_generator(3)
    params = noise.NoiseParams(shot=torch.tensor([0.01]), read=torch.tensor([2e-4]))
    means, variances = [], []
    for level in (0.05, 0.2, 0.5, 0.8):
        flat = torch.full((1, 1, 256, 256), level)
        y = noise.add_poisson_gaussian(flat, params, g, clip=False)
        means.append(y.mean().item())
        variances.append(y.var().item())
        assert abs(y.mean().item() - level) < 3e-3
        assert y.var().item() == pytest.approx(0.01 * level + 2e-4, rel=0.05)
    # variance is linear in the mean with slope = shot
    slope = (variances[-1] - variances[0]) / (means[-1] - means[0])
    assert slope == pytest.approx(0.01, rel=0.08)


def test_noise_params_follow_log_linear_relation():
    p = noise.sample_noise_params(2000, make_generator(4))
    assert p.shot.min() >= 1e-4 and p.shot.max() <= 1.2e-2
    fit = torch.linalg.lstsq(torch.stack([p.shot.log(), torch.ones(2000)], 1), p.read.log()[:, None]).solution
    assert fit[0].item() == pytest.approx(2.18, abs=0.05)


def test_low_light_is_dark_and_right_skewed():
    x = textured_images(4, 64, seed=5)
    out = noise.dark_srgb(x, make_generator(6))
    low, high = out["low"], out["high"]
    assert low.shape == high.shape == x.shape
    assert low.mean() < 0.1 * high.mean()
    assert skew(low.flatten().numpy()) > 1.0 > abs(skew(high.flatten().numpy()))
    assert (out["ratio"] >= 100).all() and (out["ratio"] <= 300).all()
    # same seed -> same output
    again = noise.dark_srgb(x, make_generator(6))
    assert torch.equal(again["low"], low)


def test_phone_pair_misalignment_matches_meta_and_colour_is_unstable():
    x = textured_images(6, 64, seed=7)
    gap = phone.PhoneGap(max_rotation_deg=0.0, max_zoom=0.0)
    out = phone.phone_dslr_pair(x, make_generator(8), gap)
    assert out["raw_mosaic"].shape == (6, 1, 64, 64)
    assert torch.equal(out["dslr"], x)
    # 10-bit quantised
    assert torch.allclose(out["raw_mosaic"] * 1023, (out["raw_mosaic"] * 1023).round(), atol=1e-3)
    dev = isp.simple_isp(out["raw_mosaic"], out["meta"]["camera"])
    for i in range(6):
        est = estimate_shift(x[i], dev[i])
        # content moves by -shift (see phone.warp); blur, colour change and noise limit the accuracy
        assert torch.allclose(est.float(), -out["meta"]["shift"][i].double().float(), atol=0.35), (i, est)
    m = out["meta"]["color_matrix"]
    assert (m[0] - m[1]).abs().max() > 1e-3  # per-pair colour mapping differs
    assert torch.allclose(m.sum(-1), torch.ones(6, 3), atol=1e-5)


def test_phone_pair_same_seed_same_output():
    x = textured_images(2, 32, seed=9)
    a = phone.phone_dslr_pair(x, make_generator(10))
    b = phone.phone_dslr_pair(x, make_generator(10))
    c = phone.phone_dslr_pair(x, make_generator(11))
    assert torch.equal(a["raw_mosaic"], b["raw_mosaic"])
    assert not torch.equal(a["raw_mosaic"], c["raw_mosaic"])
