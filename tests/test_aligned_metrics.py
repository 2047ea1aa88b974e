"""Aligned / detail metrics (rawdiff.metrics.aligned, .detail), the phone-pair ground truth and calibrated D²."""
import json

import pytest
import torch

from rawdiff.camera import degrade as D
from rawdiff.config import DegradeConfig
from rawdiff.camera.phone import META_KEYS, phone_dslr_pair, phone_geometry, stack_meta, warp
from rawdiff.metrics.aligned import affine_colour_fit, align_target, aligned_metrics
from rawdiff.metrics.image import psnr
from rawdiff.metrics.detail import sharpness_ratio, spectrum_distance
from rawdiff.utils import make_generator


def _scenes(n=4, size=64, seed=0):
    from rawdiff.data.scenes import random_scenes

    return random_scenes(n, size, make_generator(seed), None)


@pytest.fixture(scope="module")
def pair():
    y = _scenes()
    return y, phone_dslr_pair(y, make_generator(1))["meta"]


def test_exact_phone_view_scores_high_only_when_aligned(pair):
    y, meta = pair
    view = phone_geometry(y, meta)                       # the scene exactly as the phone sees it
    m = aligned_metrics(view, y, meta)
    unaligned = psnr(view, y)
    assert (m["aligned_psnr"] > 60).all() and (m["aligned_psnr"] > unaligned + 20).all(), (m, unaligned)
    assert torch.allclose(m["aligned_ssim"], torch.ones(4), atol=1e-4) and (m["ciede2000"] < 1e-3).all()


def test_colour_corrected_psnr_removes_an_affine_colour_change(pair):
    y, meta = pair
    view = phone_geometry(y, meta)
    recol = (0.8 * view + 0.05 * view.flip(1) + 0.04).clamp(0, 1)  # affine, channel-mixing, inside [0, 1]
    m = aligned_metrics(recol, y, meta)
    assert (m["cc_psnr"] > 45).all() and (m["cc_psnr"] > m["aligned_psnr"] + 15).all(), m
    fit = affine_colour_fit(recol, view)
    assert (fit - view).abs().max() < 0.02


def test_estimated_alignment_recovers_a_known_shift():
    y = _scenes(3, 64, seed=2)
    shift = torch.tensor([[2.0, -1.0], [-1.5, 0.5], [0.7, 1.8]])
    zeros = torch.zeros(3)
    view = warp(y, shift, zeros, zeros)
    from rawdiff.camera.align import estimate_shift

    est = torch.stack([estimate_shift(v, t) for v, t in zip(view, y)]).float()
    assert (est - shift).abs().max() < 0.25, est
    # same function, both paths: with the known warp and estimated against a reference in the RAW's geometry
    known = align_target(y, {"shift": shift, "angle": zeros, "zoom": zeros})
    estimated = align_target(y, None, ref=view)
    b = 6
    assert psnr(estimated[..., b:-b, b:-b], known[..., b:-b, b:-b]).min() > 30
    assert psnr(known[..., b:-b, b:-b], view[..., b:-b, b:-b]).min() > 60


def test_detail_measures_blur_and_noise():
    y = _scenes(4, 64, seed=3)
    from rawdiff.camera.phone import gaussian_blur

    blur = gaussian_blur(y, torch.full((4,), 1.2))
    noisy = (y + 0.08 * torch.randn(y.shape, generator=make_generator(4))).clamp(0, 1)
    assert torch.equal(spectrum_distance(y, y), torch.zeros(4))
    assert (spectrum_distance(blur, y) > 0.2).all() and (spectrum_distance(noisy, y) > 0.05).all()
    assert torch.allclose(sharpness_ratio(y, y), torch.ones(4))
    assert (sharpness_ratio(blur, y) < 0.7).all() and (sharpness_ratio(noisy, y) > 1.05).all()


def test_calibrated_d2_ranges_scale_with_size():
    full = DegradeConfig(scale=1.0).effective()
    assert full.kernel_sizes == (7, 9, 11, 13, 15, 17, 19, 21) and full.blur_sigma == (0.2, 3.0)
    a, b = DegradeConfig.for_size(64).effective(), DegradeConfig.for_size(128).effective()
    assert DegradeConfig.for_size(448).scale == DegradeConfig.for_size(1000).scale == 1.0
    assert a.blur_sigma[1] == pytest.approx(3.0 * 64 / 448) and b.blur_sigma[1] == pytest.approx(3.0 * 128 / 448)
    assert max(a.kernel_sizes) < max(b.kernel_sizes) < 21 and all(k % 2 == 1 and k >= 3 for k in a.kernel_sizes)
    assert a.resize_range[0] == 1.0 and b.resize_range[0] == pytest.approx(min(1.0, 0.15 * 448 / 128))
    assert a.noise_range[1] == pytest.approx(30 * 64 / 448) and a.jpeg_range == full.jpeg_range
    with pytest.raises(ValueError):
        DegradeConfig(scale=0.0).effective()
    # milder at small f: a 64-px image keeps more of itself than with the absolute ranges
    y = _scenes(8, 64, seed=5)
    err = {f: psnr(D.degrade(y, make_generator(6), DegradeConfig(scale=f)), y).mean() for f in (1.0, 0.14)}
    assert err[0.14] > err[1.0]


def test_meta_round_trip_through_writer_and_loader(tmp_path):
    from rawdiff.data.check import check_dataset
    from rawdiff.data.loaders import ZRRDataset
    from rawdiff.data.synth import phone2dslr_item, synth_phone2dslr
    from rawdiff.utils import derive_seed

    root = synth_phone2dslr(tmp_path / "p", n_train=2, n_test=1, size=32, seed=3, progress=False)
    assert check_dataset(root) == []
    ds = ZRRDataset(root, "train")
    assert ds.has_meta
    t = ds.tensors()
    assert set(t["meta"]) == set(META_KEYS) and t["meta"]["shift"].shape == (2, 2)
    from rawdiff.data.scenes import SceneBank

    item = phone2dslr_item(32, make_generator(derive_seed(3, "phone2dslr", "train", 1)), SceneBank.load())
    assert ds[1]["meta"] == item["meta"]
    assert torch.allclose(t["meta"]["color_matrix"][1], torch.tensor(item["meta"]["color_matrix"]))
    # targets are near-lossless (q100, 4:4:4)
    assert psnr(t["rgb"][1], item["rgb"]) > 40
    # a broken meta file is a problem for `rawdiff data check`
    meta_p = root / "train" / "meta.json"
    bad = json.loads(meta_p.read_text())
    del bad["0"]["shift"]
    meta_p.write_text(json.dumps(bad))
    assert any("meta.json" in p for p in check_dataset(root))
    # and the on-the-fly batch carries the same keys as tensors
    from rawdiff.data.synth import phone2dslr_batch

    b = phone2dslr_batch(2, 32, make_generator(0))
    assert set(b["meta"]) == set(META_KEYS) and b["meta"]["gains"].shape == (2, 3)
    assert stack_meta([item["meta"]])["shift"].shape == (1, 2)
