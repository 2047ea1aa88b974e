"""DiD cascade: tiling geometry, any-size inputs, batched == tile-by-tile, seam metric (rawdiff.diffusion.cascade)."""
import pytest
import torch

import rawdiff  # noqa: F401
from rawdiff.config import UNetConfig
from rawdiff.tiling import (blend_window, extract_tiles, pad_reflect, padded_size, stitch_tiles, tile_edges, tile_positions)
from rawdiff.diffusion.cascade import cascade_sample
from rawdiff.metrics.detail import seam_visibility
from rawdiff.diffusion.edm import EDMPrecond, karras_sigmas
from rawdiff.norm import LinearNorm
from rawdiff.utils import make_generator



SCALES = (32, 64, 128)


def follow_cy1(s=0.05):
    """Optimal denoiser of data ~ N(c_y1, s^2): the cascade should reproduce (blurred) c_y1 plus small noise."""
    def d(x, sigma, cond):
        mu = cond[:, 3:6]
        sig = sigma.view(-1, 1, 1, 1)
        return mu + s ** 2 / (s ** 2 + sig ** 2) * (x - mu)
    return d


@pytest.mark.parametrize("overlap", [0, 8])
@pytest.mark.parametrize("size", [(64, 96), (45, 70)])
def test_extract_stitch_roundtrip(overlap, size):
    x = torch.rand(2, 3, *size)
    ys, xs = tile_positions(size[0], 32, overlap), tile_positions(size[1], 32, overlap)
    assert ys[0] == 0 and ys[-1] == size[0] - 32
    tiles = extract_tiles(x, ys, xs, 32)
    assert tiles.shape == (2 * len(ys) * len(xs), 3, 32, 32)
    assert torch.allclose(stitch_tiles(tiles, 2, ys, xs, size, blend_window(32, overlap)), x, atol=1e-6)


def test_tile_positions_non_overlapping_grid():
    assert tile_positions(128, 32, 0) == [0, 32, 64, 96]
    assert tile_positions(64, 32, 8) == [0, 24, 32]
    with pytest.raises(ValueError):
        tile_positions(64, 32, 32)


def test_pad_reflect_any_size():
    x = torch.rand(1, 3, 5, 7)
    y = pad_reflect(x, 123, 57)
    assert y.shape == (1, 3, 128, 64)
    assert torch.equal(y[..., :5, :7], x)
    assert padded_size(97, 311, 32, 3) == (128, 384)


def test_cascade_any_size_shapes_and_follows_condition():
    dark = torch.rand(1, 3, 97, 311, generator=make_generator(0)) * 0.3
    res = cascade_sample(follow_cy1(), dark, scales=SCALES, dark_norm=LinearNorm(), bright_norm=LinearNorm(),
                         sigmas=karras_sigmas(6), ilvr_steps=2, generator=make_generator(1))
    assert res.image.shape == dark.shape
    assert [tuple(p.shape[-2:]) for p in res.per_scale] == [(25, 78), (49, 156), (97, 311)]
    assert res.tiles_per_scale == [3, 12, 48]
    assert res.tile_nfe == 11 * 63
    assert res.image.min() >= 0 and res.image.max() <= 1
    # the oracle follows c_y1 = previous level up-sampled, so the output is a blurred copy of the input
    blur = torch.nn.functional.interpolate(torch.nn.functional.interpolate(dark, size=(25, 78), mode="area"),
                                           size=(97, 311), mode="bilinear", align_corners=False)
    assert (res.image - blur).abs().mean() < 0.06
    assert (res.image - dark.flip(-1)).abs().mean() > 0.06  # and the check can fail


def _tiny_precond(seed=0):
    from rawdiff.nn.unet import UNet

    torch.manual_seed(seed)  # weight init only (test-local); sampling randomness is injected
    net = UNet(UNetConfig(in_channels=12, out_channels=3, base_channels=8, channel_mults=(1, 2), num_res_blocks=1))
    with torch.no_grad():
        for p in net.parameters():
            if p.abs().sum() == 0:
                p.normal_(0, 0.05)
    return EDMPrecond(net).eval()


@pytest.mark.parametrize("overlap", [0, 8])
def test_batched_equals_tile_by_tile(overlap):
    den = _tiny_precond()
    dark = torch.rand(2, 3, 64, 64, generator=make_generator(2)) * 0.2
    kw = dict(scales=(32, 64), dark_norm=LinearNorm(), bright_norm=LinearNorm(), sigmas=karras_sigmas(5),
              ilvr_steps=2, noised_reference=True, s_churn=5.0, overlap=overlap)
    batched = cascade_sample(den, dark, generator=7, max_batch=256, **kw)
    single = cascade_sample(den, dark, generator=7, max_batch=1, **kw)
    assert batched.denoiser_calls < single.denoiser_calls
    assert (batched.image - single.image).abs().max() < 1e-5
    other = cascade_sample(den, dark, generator=8, **kw)
    assert (other.image - batched.image).abs().max() > 1e-3


def test_same_generator_seed_same_output():
    dark = torch.rand(1, 3, 40, 40, generator=make_generator(3))
    kw = dict(scales=SCALES, dark_norm=LinearNorm(), bright_norm=LinearNorm(), sigmas=karras_sigmas(4))
    a = cascade_sample(follow_cy1(0.3), dark, generator=make_generator(5), **kw).image
    b = cascade_sample(follow_cy1(0.3), dark, generator=make_generator(5), **kw).image
    assert torch.equal(a, b)


def _offset_tiles(overlap, seed=0):
    """A smooth image tiled, each tile shifted by a random constant (what independent tiles produce)."""
    g = make_generator(seed)
    size = (96, 96)
    yy, xx = torch.meshgrid(torch.linspace(0, 1, 96), torch.linspace(0, 1, 96), indexing="ij")
    img = (0.5 + 0.3 * torch.sin(6 * xx) * torch.cos(4 * yy)).expand(1, 3, *size)
    ys = xs = tile_positions(96, 32, overlap)
    tiles = extract_tiles(img, ys, xs, 32)
    tiles = tiles + 0.1 * torch.randn(tiles.shape[0], 1, 1, 1, generator=g)
    return img, stitch_tiles(tiles, 1, ys, xs, size, blend_window(32, overlap)), ys


def test_seam_metric_detects_seams_and_blending_reduces_them():
    img, hard, ys = _offset_tiles(0)
    _, soft, ys8 = _offset_tiles(8)
    edges = tile_edges(ys, 32, 96)
    assert edges == [32, 64]
    smooth = seam_visibility(img, edges, edges).item()
    seam_hard = seam_visibility(hard, edges, edges).item()
    seam_soft = seam_visibility(soft, tile_edges(ys8, 32, 96), tile_edges(ys8, 32, 96)).item()
    assert 0.5 < smooth < 2.0
    assert seam_hard > 20 * smooth
    assert seam_soft < seam_hard / 10


def test_ilvr_runs_only_at_upper_levels(monkeypatch):
    """Spy on the ILVR projection per level: none at level 0, the first k steps at every upper level."""
    import rawdiff.diffusion.cascade as C
    import rawdiff.diffusion.edm as edm_mod

    state = {"level": 0}
    calls: list[tuple[int, int]] = []

    class Spy(edm_mod.ILVRProjection):
        def __call__(self, x, sigma, step=0):
            calls.append((state["level"], step))
            return super().__call__(x, sigma, step)

    def on_level(info):
        state["level"] = info["level"] + 1

    monkeypatch.setattr(C, "ILVRProjection", Spy)
    dark = torch.rand(1, 3, 64, 64, generator=make_generator(4)) * 0.3
    C.cascade_sample(follow_cy1(), dark, scales=SCALES, dark_norm=LinearNorm(), bright_norm=LinearNorm(),
                     sigmas=karras_sigmas(5), ilvr_steps=3, generator=1, callback=on_level)
    levels = sorted({lv for lv, _ in calls})
    assert levels == [1, 2]                       # never at level 0
    for lv in levels:
        assert sorted(st for l2, st in calls if l2 == lv) == [0, 1, 2]


def test_level0_output_does_not_carry_the_dark_input():
    """With a denoiser that ignores the condition (data ~ N(0.5, .)), level 0's output must not be pulled to
    the dark image's low frequencies (the old bug: ILVR at level 0 with the dark input as reference)."""
    def const(x, sigma, cond):
        sig = sigma.view(-1, 1, 1, 1)
        return 0.5 * torch.ones_like(x) + 0.01 / (0.01 + sig ** 2) * (x - 0.5)
    dark = torch.full((1, 3, 64, 64), 0.02)
    res = cascade_sample(const, dark, scales=(32, 64), dark_norm=LinearNorm(), bright_norm=LinearNorm(),
                         sigmas=karras_sigmas(8), ilvr_steps=8, generator=0)
    assert res.per_scale[0].mean() > 0.6           # 0.5 model space -> 0.75 in [0, 1]; the dark input is 0.02


def test_truncated_cascade_with_full_schedule_equals_paper():
    from rawdiff.diffusion.edm import truncated_sigmas

    den = _tiny_precond()
    dark = torch.rand(1, 3, 64, 64, generator=make_generator(6)) * 0.2
    full = karras_sigmas(6)
    kw = dict(scales=SCALES, dark_norm=LinearNorm(), bright_norm=LinearNorm(), sigmas=full, ilvr_steps=2)
    paper = cascade_sample(den, dark, generator=3, **kw)
    same = cascade_sample(den, dark, generator=3, upper_sigmas=truncated_sigmas(80.0, 6), **kw)
    assert torch.equal(truncated_sigmas(80.0, 6), full)
    assert torch.equal(paper.image, same.image) and paper.tile_nfe == same.tile_nfe
    few = cascade_sample(den, dark, generator=3, upper_sigmas=truncated_sigmas(1.0, 2), **kw)
    assert few.nfe_per_scale == [11, 3, 3]
    assert few.tile_nfe == 1 * 11 + 4 * 3 + 16 * 3 < paper.tile_nfe
    assert torch.equal(few.per_scale[0], paper.per_scale[0])       # level 0 is untouched
    assert (few.image - paper.image).abs().max() > 1e-3


def test_truncated_start_is_previous_output_plus_noise():
    """A denoiser that returns its input at every sigma (D(x) = x) makes Heun keep the start point: the
    truncated level-1 output is then the up-sampled level-0 output plus sigma_start * eps (ILVR off)."""
    from rawdiff.tiling import resize
    from rawdiff.diffusion.edm import truncated_sigmas

    ident = lambda x, sigma, cond: x  # noqa: E731
    dark = torch.rand(1, 3, 64, 64, generator=make_generator(8)) * 0.2
    kw = dict(scales=(32, 64), dark_norm=LinearNorm(), bright_norm=LinearNorm(), sigmas=karras_sigmas(4),
              ilvr_steps=0, generator=2)
    tiny = cascade_sample(ident, dark, upper_sigmas=truncated_sigmas(1e-2, 2), **kw)
    up = LinearNorm().forward(resize(tiny.per_scale[0], (64, 64)))   # c_y1 = the [0, 1] output re-encoded
    assert (tiny.model_space[1] - up).std() == pytest.approx(1e-2, rel=0.1)


def test_cascade_cost_matches_a_run_and_few_step_settings():
    from rawdiff.diffusion.cascade import cascade_cost
    from rawdiff.did.evaluate import few_step_settings
    from rawdiff.diffusion.edm import truncated_sigmas

    dark = torch.rand(1, 3, 64, 96, generator=make_generator(1)) * 0.2
    up = truncated_sigmas(2.0, 3)
    res = cascade_sample(follow_cy1(), dark, scales=SCALES, dark_norm=LinearNorm(), bright_norm=LinearNorm(),
                         sigmas=karras_sigmas(5), ilvr_steps=1, generator=0, upper_sigmas=up)
    cost = cascade_cost(64, 96, SCALES, karras_sigmas(5), upper_sigmas=up)
    assert cost["tiles_per_scale"] == res.tiles_per_scale and cost["tile_nfe"] == res.tile_nfe
    assert cost["padded"] == res.padded == (128, 128)
    st = few_step_settings([(2.0, 3)])
    assert st[0] == {"setting": "paper (18 steps every level)"} and st[1]["upper_steps"] == 3


def test_level0_cache_reuses_level_0_bit_for_bit_and_only_when_it_matches():
    """Settings that differ above level 0 (ILVR steps, few-step schedule) share level 0 through ``level0_cache``:
    outputs equal fresh runs exactly, fewer denoiser calls are made, and another seed or input does not hit."""
    from rawdiff.diffusion.edm import truncated_sigmas

    den = _tiny_precond()
    dark = torch.rand(2, 3, 64, 96, generator=make_generator(4)) * 0.2
    kw = dict(scales=(32, 64), dark_norm=LinearNorm(), bright_norm=LinearNorm(), sigmas=karras_sigmas(5))
    cache = {}
    first = cascade_sample(den, dark, generator=3, ilvr_steps=2, level0_cache=cache, **kw)
    assert len(cache) == 1
    for extra in ({"ilvr_steps": 0}, {"ilvr_steps": 2, "upper_sigmas": truncated_sigmas(1.0, 2)}):
        fresh = cascade_sample(den, dark, generator=3, **extra, **kw)
        reused = cascade_sample(den, dark, generator=3, level0_cache=cache, **extra, **kw)
        assert torch.equal(reused.image, fresh.image) and torch.equal(reused.per_scale[0], fresh.per_scale[0])
        assert reused.denoiser_calls == fresh.denoiser_calls - fresh.nfe_per_scale[0]
        assert reused.tile_nfe == fresh.tile_nfe                      # the cost of a setting still counts level 0
    assert not torch.equal(first.image, cascade_sample(den, dark, generator=3, ilvr_steps=0, **kw).image)
    other_seed = cascade_sample(den, dark, generator=4, ilvr_steps=2, level0_cache=cache, **kw)
    other_input = cascade_sample(den, dark * 0.5, generator=3, ilvr_steps=2, level0_cache=cache, **kw)
    assert len(cache) == 3 and other_seed.denoiser_calls == other_input.denoiser_calls == first.denoiser_calls
