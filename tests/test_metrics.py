"""rawdiff.metrics: own PSNR/SSIM against skimage/pyiqa, honest availability, nothing downloads."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from rawdiff.compat import import_torchvision

try:  # torchvision compat before pyiqa/lpips (no longer a side effect of `import rawdiff`)
    import_torchvision()
except ImportError:
    pass
from rawdiff.metrics import image as M

skm = pytest.importorskip("skimage.metrics")


def _pair(seed: int, shape=(2, 3, 40, 52), noise=0.1):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(shape, generator=g)
    y = (x + noise * torch.randn(shape, generator=g)).clamp(0, 1)
    return y, x


@pytest.fixture
def empty_hub(tmp_path, monkeypatch):
    """A torch hub cache with no weights at all (as on a fresh offline machine)."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return tmp_path / "torch"


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_psnr_matches_skimage(seed):
    y, x = _pair(seed)
    ours = M.psnr(y, x)
    ref = [skm.peak_signal_noise_ratio(x[i].numpy(), y[i].numpy(), data_range=1.0) for i in range(2)]
    np.testing.assert_allclose(ours.numpy(), ref, atol=1e-3)


@pytest.mark.parametrize("seed,noise", [(0, 0.02), (1, 0.1), (2, 0.3)])
def test_ssim_matches_skimage_gaussian(seed, noise):
    y, x = _pair(seed, noise=noise)
    ours = M.ssim(y, x)
    ref = [skm.structural_similarity(y[i].permute(1, 2, 0).numpy(), x[i].permute(1, 2, 0).numpy(),
                                     gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                                     data_range=1.0, channel_axis=-1) for i in range(2)]
    np.testing.assert_allclose(ours.numpy(), ref, atol=2e-4)


def test_ssim_matches_pyiqa_colour_ssim():
    pyiqa = pytest.importorskip("pyiqa")
    y, x = _pair(3)
    ref = pyiqa.create_metric("ssimc", device="cpu")(y, x).flatten().float()
    np.testing.assert_allclose(M.ssim(y, x).numpy(), ref.numpy(), atol=2e-3)


def test_psnr_ssim_basic_properties():
    y, x = _pair(4)
    assert torch.allclose(M.ssim(x, x), torch.ones(2), atol=1e-6)
    assert torch.all(M.psnr(x, x) > 100)
    # more noise -> lower PSNR and SSIM
    y2, _ = _pair(4, noise=0.3)
    assert torch.all(M.psnr(y2, x) < M.psnr(y, x)) and torch.all(M.ssim(y2, x) < M.ssim(y, x))
    # a constant offset of 0.1 gives exactly 20 dB
    c = torch.full((1, 3, 16, 16), 0.5)
    assert M.psnr(c + 0.1, c).item() == pytest.approx(20.0, abs=1e-4)
    with pytest.raises(ValueError):
        M.psnr(x, x[:, :, :10])
    with pytest.raises(ValueError):
        M.ssim(x[:, :, :8, :8], x[:, :, :8, :8])


def test_availability_reports_reasons(empty_hub):
    status = M.available_metrics()
    assert set(status) == set(M.METRICS)
    assert status["psnr"].available and status["ssim"].available
    for name in ("lpips", "dists", "musiq", "niqe", "brisque", "fid", "kid"):
        a = status[name]
        assert not a.available, name
        assert a.reason.startswith("unavailable: "), a.reason
    assert "alexnet-owt-7be5be79.pth" in status["lpips"].reason
    assert str(empty_hub) in status["lpips"].reason
    assert status["lpips"].lower_is_better and not status["psnr"].lower_is_better


def test_nothing_downloads_and_unavailable_is_a_string(empty_hub):
    y, x = _pair(5, shape=(1, 3, 64, 64))
    out = M.compute_metrics(y, x, names=tuple(M.METRICS), device="cpu")
    assert set(out) == set(M.METRICS)
    for name in ("lpips", "dists", "musiq", "niqe", "brisque", "fid", "kid"):
        assert isinstance(out[name], str) and out[name].startswith("unavailable: "), (name, out[name])
    assert isinstance(out["psnr"], float) and isinstance(out["ssim"], float)
    assert out["ms_ssim"].startswith("unavailable: ") and "161" in out["ms_ssim"]
    # nothing was fetched into the (empty) hub cache
    assert not any(p.is_file() for p in empty_hub.rglob("*"))
    model, reason = M.lpips_loss_or_none("cpu")
    assert model is None and "alexnet-owt-7be5be79.pth" in reason


def test_pyiqa_weight_free_metrics_rank_noise_levels():
    pytest.importorskip("pyiqa")
    names = ("fsim", "vif", "gmsd", "nlpd", "vsi", "pyiqa_psnr", "piqe")
    suite = M.MetricSuite(names, device="cpu")
    mild, x = _pair(6, shape=(1, 3, 64, 64), noise=0.02)
    strong, x2 = _pair(6, shape=(1, 3, 64, 64), noise=0.2)
    assert torch.equal(x, x2)
    a, b = suite(mild, x), suite(strong, x)
    for n in names:
        assert isinstance(a[n], float) and math.isfinite(a[n]), (n, a[n])
    for n in ("fsim", "vif", "vsi", "pyiqa_psnr"):
        assert a[n] > b[n], n
    for n in ("gmsd", "nlpd"):
        assert a[n] < b[n], n
    assert len(suite._models) == len(names)  # built once, reused
    rows = suite.per_image(torch.cat([mild, strong]), torch.cat([x, x]))
    assert len(rows) == 2 and rows[0]["fsim"] > rows[1]["fsim"]


def test_ms_ssim_runs_from_161_px():
    pytest.importorskip("pyiqa")
    y, x = _pair(8, shape=(1, 3, 161, 161), noise=0.05)
    v = M.compute_metrics(y, x, names=("ms_ssim",), device="cpu")["ms_ssim"]
    assert isinstance(v, float) and 0.5 < v < 1.0


def test_unknown_metric_is_an_error():
    with pytest.raises(ValueError, match="unknown metric"):
        M.MetricSuite(("psnr", "nope"))


def test_lpips_when_weights_exist():
    model, reason = M.lpips_loss_or_none("cpu")
    if model is None:
        pytest.skip(reason)
    y, x = _pair(9, shape=(2, 3, 64, 64))
    d_same, d_noisy = model(x, x), model(y, x)
    assert d_same.shape == (2,) and torch.all(d_same < 1e-6) and torch.all(d_noisy > d_same)
