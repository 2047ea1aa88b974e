"""EDM preconditioning, loss, Karras schedule, Heun sampler and ILVR hook (rawdiff.diffusion.edm)."""
import math
import warnings

import pytest
import torch

import rawdiff  # noqa: F401  (compat before any torchvision import)
from rawdiff.diffusion.edm import (EDMLoss, EDMPrecond, ILVRProjection, count_nfe, edm_loss_weight, karras_sigmas,
                                   low_pass, randn, sample_heun, sample_training_sigmas)
from rawdiff.utils import make_generator



MU, S = 0.3, 0.5


def gaussian_denoiser(mu=MU, s=S):
    """Closed-form optimal denoiser of data ~ N(mu, s^2): D(x; sigma) = mu + s^2/(s^2+sigma^2) (x - mu)."""
    def d(x, sigma, cond=None):
        sig = sigma.reshape(-1, *([1] * (x.ndim - 1)))
        return mu + s ** 2 / (s ** 2 + sig ** 2) * (x - mu)
    return d


class Counter:
    def __init__(self, fn):
        self.fn, self.n = fn, 0

    def __call__(self, *a):
        self.n += 1
        return self.fn(*a)


def test_karras_sigmas_endpoints_and_monotone():
    s = karras_sigmas(18, 0.002, 80.0, 7.0)
    assert s.shape == (19,)
    assert math.isclose(float(s[0]), 80.0, rel_tol=1e-6)
    assert math.isclose(float(s[17]), 0.002, rel_tol=1e-5)
    assert float(s[-1]) == 0.0
    assert bool((s[:-1] > s[1:]).all())
    assert count_nfe(s) == 35


@pytest.mark.parametrize("steps", [1, 5, 18])
def test_heun_nfe_is_2n_minus_1(steps):
    den = Counter(gaussian_denoiser())
    x = torch.randn(2, 3, 4, 4, generator=make_generator(0)) * 80
    sample_heun(den, x, karras_sigmas(steps))
    assert den.n == 2 * steps - 1


def _gaussian_run(steps, s_churn=0.0, n=4000):
    g = make_generator(1)
    sig = karras_sigmas(steps)
    x = randn((n, 1, 4, 4), g) * sig[0]
    out = sample_heun(gaussian_denoiser(), x, sig, generator=g, s_churn=s_churn, s_tmin=0.05, s_tmax=50.0)
    return out.mean().item(), out.std().item()


def test_heun_gaussian_reaches_right_mean_and_variance():
    """18 Heun steps land within ~6% of N(mu, s^2); the error shrinks ~quadratically with the step size."""
    m18, s18 = _gaussian_run(18)
    m36, s36 = _gaussian_run(36)
    assert abs(m18 - MU) < 0.01 and abs(m36 - MU) < 0.01
    assert abs(s18 - S) < 0.04
    assert abs(s36 - S) < abs(s18 - S) / 3  # second order: halving the steps divides the error by ~4
    assert abs(s36 - S) < 0.012


def test_heun_with_churn_reaches_right_distribution():
    m, s = _gaussian_run(100, s_churn=10.0)
    assert abs(m - MU) < 0.01 and abs(s - S) < 0.01


def test_heun_wrong_denoiser_fails_the_check():
    """The check above can fail: a denoiser for a different distribution lands elsewhere."""
    g = make_generator(1)
    sig = karras_sigmas(18)
    out = sample_heun(gaussian_denoiser(mu=0.0, s=0.2), randn((2000, 1, 4, 4), g) * sig[0], sig)
    assert abs(out.mean().item() - MU) > 0.2 or abs(out.std().item() - S) > 0.2


def test_same_seed_same_output_and_different_seed_differs():
    sig = karras_sigmas(8)

    def run(seed):
        g = make_generator(seed)
        x = randn((2, 3, 8, 8), g) * sig[0]
        return sample_heun(gaussian_denoiser(), x, sig, generator=g, s_churn=20.0, s_tmin=0.01, s_tmax=50.0)

    assert torch.equal(run(3), run(3))
    assert not torch.allclose(run(3), run(4))


def test_per_row_generators_match_rows_alone():
    gens = [make_generator(10 + i) for i in range(3)]
    batch = randn((3, 2, 4, 4), gens)
    alone = torch.cat([randn((1, 2, 4, 4), make_generator(10 + i)) for i in range(3)])
    assert torch.equal(batch, alone)
    with pytest.raises(ValueError):
        randn((2, 2, 4, 4), gens)


def _smooth_reference(seed, shape=(2, 3, 32, 32)):
    g = make_generator(seed)
    small = torch.rand(shape[0], shape[1], 4, 4, generator=g) * 2 - 1
    return torch.nn.functional.interpolate(small, size=shape[-2:], mode="bilinear", align_corners=False)


@pytest.mark.parametrize("noised", [False, True])
def test_ilvr_output_low_pass_matches_reference(noised):
    ref = _smooth_reference(0)
    sig = karras_sigmas(18)
    g = make_generator(5)
    x = randn(ref.shape, g) * sig[0]
    den = gaussian_denoiser(mu=0.0)
    free = sample_heun(den, x, sig)
    proj = ILVRProjection(ref, noised_reference=noised, generator=make_generator(6))
    guided = sample_heun(den, x, sig, projection=proj, projection_steps=len(sig) - 1)

    def lp_err(y):
        return (low_pass(y) - low_pass(ref)).abs().mean().item()

    assert lp_err(guided) < 0.05 * lp_err(free)
    assert lp_err(guided) < 0.02
    # the high frequencies are the sampler's, not the reference's
    assert (guided - low_pass(guided)).abs().mean() > 1e-3


def test_ilvr_single_projection_replaces_low_pass():
    ref, x = _smooth_reference(1), torch.randn(2, 3, 32, 32, generator=make_generator(2))
    y = ILVRProjection(ref)(x, torch.tensor(1.0), 0)
    hi = x - low_pass(x)
    assert torch.allclose(y - low_pass(ref), hi, atol=1e-6)
    # any size works (odd, non-square)
    assert low_pass(torch.randn(1, 3, 33, 17)).shape == (1, 3, 33, 17)


def test_ilvr_only_first_k_steps():
    ref = _smooth_reference(2)
    sig = karras_sigmas(6)
    calls = []

    def proj(x, sigma, i):
        calls.append(i)
        return x

    sample_heun(gaussian_denoiser(), torch.zeros_like(ref), sig, projection=proj, projection_steps=3)
    assert calls == [0, 1, 2]


class _ZeroNet(torch.nn.Module):
    def forward(self, x, noise_level, cond=None):
        self.seen = (x.detach().clone(), noise_level.detach().clone())
        return torch.zeros_like(x)


def test_precond_coefficients():
    net = _ZeroNet()
    pre = EDMPrecond(net, sigma_data=0.5)
    x = torch.randn(3, 3, 8, 8)
    sigma = torch.tensor([0.1, 1.0, 10.0])
    out = pre(x, sigma)
    c_skip = 0.25 / (sigma ** 2 + 0.25)
    assert torch.allclose(out, c_skip.view(-1, 1, 1, 1) * x, atol=1e-6)
    assert torch.allclose(net.seen[1], sigma.log() / 4)
    assert torch.allclose(net.seen[0], x / (sigma ** 2 + 0.25).sqrt().view(-1, 1, 1, 1), atol=1e-6)
    # Table 1 identity: c_skip^2 sd^2 ... the effective target of F has unit variance for unit-variance data
    c_skip, c_out, c_in, _ = pre.coefficients(sigma)
    assert torch.allclose(c_in ** 2 * (sigma ** 2 + 0.25), torch.ones(3))
    assert torch.allclose(edm_loss_weight(sigma) * c_out ** 2, torch.ones(3), atol=1e-5)


def test_training_sigmas_lognormal():
    s = sample_training_sigmas(20000, make_generator(0))
    assert abs(s.log().mean().item() + 1.2) < 0.05
    assert abs(s.log().std().item() - 1.2) < 0.05


def _batch(seed=0):
    g = make_generator(seed)
    y = torch.rand(4, 3, 8, 8, generator=g) * 2 - 1
    return {"target": y, "sigma": sample_training_sigmas(4, g), "noise": randn(y.shape, g),
            "cond": torch.rand(4, 9, 8, 8, generator=g)}


def test_loss_without_lpips_warns_once_and_is_deterministic():
    with pytest.warns(RuntimeWarning, match="LPIPS"):
        loss = EDMLoss(lpips=None, lpips_reason="unavailable: no weights")
    pre = EDMPrecond(_ZeroNet())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        a, logs = loss(pre, _batch())
        b, _ = loss(pre, _batch())
    assert torch.equal(a, b) and "lpips" not in logs
    # zero network: D = c_skip (y + sigma n); check against the formula
    bt = _batch()
    s = bt["sigma"].view(-1, 1, 1, 1)
    d = 0.25 / (s ** 2 + 0.25) * (bt["target"] + s * bt["noise"])
    ref = (edm_loss_weight(s) * (d - bt["target"]) ** 2).flatten(1).mean(1).mean()
    assert torch.allclose(a, ref)


def test_loss_with_lpips_adds_weighted_term():
    class FakeLPIPS(torch.nn.Module):
        def forward(self, p, t):
            return (p - t).abs().flatten(1).mean(1)

    pre = EDMPrecond(_ZeroNet())
    base, _ = EDMLoss(lpips=None, lpips_weight=0.0)(pre, _batch())
    full, logs = EDMLoss(lpips=FakeLPIPS(), lpips_weight=5.0)(pre, _batch())
    assert "lpips" in logs
    assert torch.allclose(full, base + 5.0 * logs["lpips"], atol=1e-5)
