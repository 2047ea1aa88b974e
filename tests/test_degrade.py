"""D² (rawdiff.camera.degrade): keeps colour and pixel positions, destroys detail; seeded; kernels valid."""
import math

import pytest
import torch

from rawdiff.camera import degrade as D


def _scenes(n=8, size=64, seed=0):
    """Piecewise-constant coloured rectangles + fine stripes: strong edges and high frequencies."""
    g = torch.Generator().manual_seed(seed)
    img = torch.rand(n, 3, 1, 1, generator=g).expand(n, 3, size, size).clone()
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    for i in range(n):
        for _ in range(12):
            x0, y0 = torch.randint(0, size - 8, (2,), generator=g).tolist()
            w, h = torch.randint(6, size // 2, (2,), generator=g).tolist()
            img[i, :, y0:y0 + h, x0:x0 + w] = torch.rand(3, 1, 1, generator=g)
        stripes = 0.15 * torch.sin(xx * 2.6 + yy * 0.7 * i) * (xx > size // 2)
        img[i] = img[i] + stripes
    return img.clamp(0, 1)


def _shift(a, b):
    """Integer translation of b relative to a: peak of the FFT cross-correlation (grey images H x W).

    Whitened phase correlation (r / |r|) is unreliable here because D² leaves almost no high-frequency
    phase; the unwhitened cross-power spectrum uses the surviving low frequencies."""
    fa, fb = torch.fft.fft2(a - a.mean()), torch.fft.fft2(b - b.mean())
    corr = torch.fft.ifft2(fa.conj() * fb).real
    idx = int(torch.argmax(corr))
    h, w = a.shape
    dy, dx = idx // w, idx % w
    return (dy if dy <= h // 2 else dy - h), (dx if dx <= w // 2 else dx - w)


def _hf_energy(img):
    f = torch.fft.fft2(img.mean(1))
    h, w = f.shape[-2:]
    fy = torch.fft.fftfreq(h).abs().view(-1, 1)
    fx = torch.fft.fftfreq(w).abs().view(1, -1)
    mask = (torch.maximum(fy, fx) > 0.25)
    return (f.abs() ** 2 * mask).sum(dim=(-2, -1))


@pytest.fixture(scope="module")
def pair():
    y = _scenes()
    x = D.degrade(y, torch.Generator().manual_seed(1))
    return y, x


def test_shape_range_dtype(pair):
    y, x = pair
    assert x.shape == y.shape and x.dtype == y.dtype
    assert x.min() >= 0 and x.max() <= 1
    assert not torch.allclose(x, y)


def test_keeps_colour(pair):
    y, x = pair
    diff = (x.mean(dim=(2, 3)) - y.mean(dim=(2, 3))).abs()
    assert diff.max() < 0.04, diff


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_keeps_positions(seed):
    y = _scenes()
    x = D.degrade(y, torch.Generator().manual_seed(seed))
    for i in range(y.shape[0]):
        dy, dx = _shift(y[i].mean(0), x[i].mean(0))
        assert abs(dy) <= 1 and abs(dx) <= 1, (i, dy, dx)


def test_destroys_detail(pair):
    y, x = pair
    ratio = _hf_energy(x) / _hf_energy(y)
    # noise adds some HF back on a few images; on average detail must be gone
    assert ratio.median() < 0.6, ratio


def test_seeded():
    y = _scenes(4, 32, seed=3)
    a = D.degrade(y, torch.Generator().manual_seed(5))
    b = D.degrade(y, torch.Generator().manual_seed(5))
    c = D.degrade(y, torch.Generator().manual_seed(6))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_no_colour_jitter_on_flat_colour():
    """A flat colour stays that colour (no jitter): only noise/JPEG perturb it."""
    y = torch.tensor([0.8, 0.3, 0.1]).view(1, 3, 1, 1).expand(6, 3, 48, 48).contiguous()
    x = D.degrade(y, torch.Generator().manual_seed(2))
    assert (x.mean(dim=(2, 3)) - y.mean(dim=(2, 3))).abs().max() < 0.03


@pytest.mark.parametrize("kind", ["gauss", "gen", "plateau", "sinc"])
def test_kernels_normalised_and_centred(kind):
    if kind == "gauss":
        k = D.gaussian_kernel(21, 2.0, 0.7, 0.5)
    elif kind == "gen":
        k = D.gaussian_kernel(15, 1.5, 1.0, 1.0, beta=0.7)
    elif kind == "plateau":
        k = D.gaussian_kernel(13, 1.5, 1.5, 0.0, beta=1.5, plateau=True)
    else:
        k = D.sinc_kernel(13, math.pi / 3)
    assert abs(float(k.sum()) - 1) < 1e-5
    n = k.shape[0]
    r = torch.arange(n, dtype=torch.float32) - (n - 1) / 2
    assert abs(float((k.sum(0) * r).sum())) < 1e-4 and abs(float((k.sum(1) * r).sum())) < 1e-4


def test_jpeg_roundtrip_close():
    y = _scenes(2, 32)
    out = D.jpeg(y, [95, 95])
    assert out.shape == y.shape and (out - y).abs().mean() < 0.05


def test_rank_slices_degrade_like_the_whole_batch():
    """Issue 23: a rank (or data worker) degrading rows a..b with offset=a gets exactly those rows of the batch."""
    y = _scenes(6, 32, seed=4)
    whole = D.degrade(y, torch.Generator().manual_seed(9))
    for a, b in ((0, 3), (3, 6), (2, 4), (5, 6)):
        part = D.degrade(y[a:b], torch.Generator().manual_seed(9), offset=a)
        assert torch.equal(part, whole[a:b]), (a, b)
    shifted = D.degrade(y[2:4], torch.Generator().manual_seed(9))       # offset 0: other per-image draws
    assert not torch.equal(shifted, whole[2:4])


def test_generator_consumption_does_not_depend_on_batch_size():
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    D.degrade(_scenes(1, 16), g1)
    D.degrade(_scenes(5, 16), g2)
    assert torch.equal(torch.rand(4, generator=g1), torch.rand(4, generator=g2))
    shared = D.draw_shared(torch.Generator().manual_seed(8))
    y = _scenes(3, 24)
    assert torch.equal(D.degrade(y, shared=shared), D.degrade(y, torch.Generator().manual_seed(8)))
