"""DTDM math (rawdiff.diffusion.dtdm, DESIGN.md §3): closed forms, oracle denoisers, DDIM/DDPM reductions."""
import math

import pytest
import torch

from rawdiff.diffusion import ddpm, dtdm, schedules

T = 1000


@pytest.fixture(scope="module")
def abar():
    return schedules.alphas_cumprod(schedules.linear_betas(T))


def _rand(*shape, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=torch.float64)


def _plain_ddim(model, xT, step_list, abar_list, eta, zs):
    """Independent DDIM (Song et al. 2021, eq. 12) with eps-from-x0; zs: pre-drawn noises per jump."""
    x = xT
    for i, (t, tn) in enumerate(zip(step_list[:-1], step_list[1:])):
        a_t, a_n = abar_list[t], abar_list[tn]
        x0 = model(x, t)
        e = (x - math.sqrt(a_t) * x0) / math.sqrt(1 - a_t)
        sig = eta * math.sqrt((1 - a_n) / (1 - a_t) * (1 - a_t / a_n))
        x = math.sqrt(a_n) * x0 + math.sqrt(max(1 - a_n - sig * sig, 0.0)) * e + sig * zs[i]
    return x


def _toy_model(y, t):
    # a smooth nonlinear "denoiser" of the state and t (same for both implementations)
    return torch.tanh(0.7 * y) * (1 - t / 2000.0) + 0.01 * t / 1000.0


def test_schedule_basics(abar):
    assert abar.shape == (T + 1,) and abar[0] == 1 and torch.all(abar[1:] < abar[:-1])
    cos = schedules.alphas_cumprod(schedules.cosine_betas(T))
    assert torch.all(cos[1:] <= cos[:-1]) and cos[-1] < 1e-3
    st = schedules.timesteps(400, 5)
    assert st == [400, 320, 240, 160, 80, 0]
    assert schedules.timesteps(3, 10) == [3, 2, 1, 0]
    q = schedules.timesteps(1000, 10, "quadratic")
    assert q[0] == 1000 and q[-1] == 0 and all(a > b for a, b in zip(q, q[1:]))


@pytest.mark.parametrize("kind", ["default", "linear"])
def test_gamma_monotone_with_end_values(abar, kind):
    for s in (1, 50, 400, 999, 1000):
        g = dtdm.gamma_schedule(abar, s, kind)
        assert g[0] == 0 and g[s] == 1
        assert torch.all(g[1:s + 1] >= g[:s])
        assert torch.all((g >= 0) & (g <= 1))
    g = dtdm.gamma_schedule(abar, 400)
    assert torch.allclose(g[:401], (1 - abar[:401]) / (1 - abar[400]))
    assert torch.all(dtdm.gamma_schedule(abar, 400, "zero") == 0)


def test_marginal_endpoints(abar):
    s = 400
    gamma = dtdm.gamma_schedule(abar, s)
    y, x, eps = _rand(3, 3, 8, 8, seed=1), _rand(3, 3, 8, 8, seed=2), _rand(3, 3, 8, 8, seed=3)
    ys = dtdm.q_sample(y, x, torch.full((3,), s), abar, gamma, eps)
    expected = math.sqrt(abar[s]) * x + math.sqrt(1 - abar[s]) * eps
    assert torch.allclose(ys, expected, atol=1e-12)
    assert torch.allclose(ys, dtdm.dtdm_start(x, s, abar, noise=eps), atol=1e-12)
    y0 = dtdm.q_sample(y, x, torch.zeros(3, dtype=torch.long), abar, gamma, eps)
    assert torch.allclose(y0, y)
    # gamma = 0 gives the ordinary DDPM marginal
    t = torch.tensor([1, 200, 999])
    yt = dtdm.q_sample(y, x, t, abar, dtdm.gamma_schedule(abar, s, "zero"), eps)
    a = abar[t].view(-1, 1, 1, 1)
    assert torch.allclose(yt, a.sqrt() * y + (1 - a).sqrt() * eps)


def test_gamma0_full_T_is_ddim(abar):
    gamma0 = dtdm.gamma_schedule(abar, T, "zero")
    xT = _rand(2, 3, 8, 8, seed=4)
    cond_seen = []

    def den(y, t, cond):
        cond_seen.append(cond)
        return _toy_model(y, t.view(-1, 1, 1, 1).double())

    for K, eta in [(10, 0.0), (25, 0.0), (7, 0.5), (10, 1.0)]:
        steps = schedules.timesteps(T, K)
        g1 = torch.Generator().manual_seed(11)
        ours = dtdm.sample_dtdm(den, torch.zeros_like(xT), steps, abar=abar, gamma=gamma0, generator=g1,
                                eta=eta, init=xT, cond="c")
        g2 = torch.Generator().manual_seed(11)
        zs = [torch.randn(xT.shape, generator=g2, dtype=xT.dtype)
              if eta > 0 and tn > 0 else torch.zeros_like(xT) for tn in steps[1:]]
        ref = _plain_ddim(lambda y, t: _toy_model(y, float(t)), xT, steps, abar.tolist(), eta, zs)
        assert torch.allclose(ours, ref, atol=1e-10), (K, eta, (ours - ref).abs().max())
        ours2 = ddpm.sample_ddim(den, xT, K, abar=abar, eta=eta, generator=torch.Generator().manual_seed(11))
        assert torch.allclose(ours2, ref, atol=1e-10)
    assert set(cond_seen) == {"c", None}


def test_ddpm_equals_posterior_ancestral():
    """DDIM eta=1, all steps == DDPM posterior-mean ancestral sampling (Ho et al. 2020, Alg. 2, beta-tilde)."""
    Ts = 50
    betas = schedules.linear_betas(Ts, 1e-3, 0.2)
    ab = schedules.alphas_cumprod(betas)
    xT = _rand(2, 3, 4, 4, seed=5)

    def den(y, t, cond):
        return _toy_model(y, t.view(-1, 1, 1, 1).double())

    ours = ddpm.sample_ddpm(den, xT, abar=ab, generator=torch.Generator().manual_seed(3))
    g = torch.Generator().manual_seed(3)
    x = xT
    for t in range(Ts, 0, -1):
        a_t, a_p, b_t = ab[t].item(), ab[t - 1].item(), betas[t - 1].item()
        x0 = _toy_model(x, float(t))
        mean = (math.sqrt(a_p) * b_t / (1 - a_t)) * x0 + (math.sqrt(1 - b_t) * (1 - a_p) / (1 - a_t)) * x
        var = (1 - a_p) / (1 - a_t) * b_t
        if t > 1:
            x = mean + math.sqrt(var) * torch.randn(x.shape, generator=g, dtype=x.dtype)
        else:
            x = mean
    assert torch.allclose(ours, x, atol=1e-8), (ours - x).abs().max()


@pytest.mark.parametrize("s", [50, 400, 1000])
@pytest.mark.parametrize("K", [1, 2, 3, 5, 10, 50])
def test_oracle_recovers_y(abar, s, K):
    gamma = dtdm.gamma_schedule(abar, s)
    y, x = _rand(2, 3, 8, 8, seed=6).clamp(-1, 1), _rand(2, 3, 8, 8, seed=7).clamp(-1, 1)
    eps = _rand(2, 3, 8, 8, seed=8)
    init = dtdm.dtdm_start(x, s, abar, noise=eps)
    seen = []

    def oracle(y_t, t, cond):
        # the state must stay on the marginal (D2) with the same eps at every visited step
        expect = dtdm.q_sample(y, x, t, abar, gamma, eps)
        seen.append(float((y_t - expect).abs().max()))
        return y

    out = dtdm.sample_dtdm(oracle, x, schedules.timesteps(s, K), abar=abar, gamma=gamma, init=init, eta=0.0)
    assert torch.allclose(out, y, atol=1e-9)
    assert max(seen) < 1e-9
    # eta > 0 still returns y at the end (last jump has sigma = 0 and returns yhat)
    out1 = dtdm.sample_dtdm(oracle, x, schedules.timesteps(s, K), abar=abar, gamma=gamma, eta=1.0,
                            generator=torch.Generator().manual_seed(0))
    assert torch.allclose(out1, y, atol=1e-9)


def test_same_seed_same_output(abar):
    gamma = dtdm.gamma_schedule(abar, 400)
    x = _rand(2, 3, 8, 8, seed=9).float()

    def den(y, t, cond):
        return torch.tanh(y)

    outs = [dtdm.sample_dtdm(den, x, schedules.timesteps(400, 5), abar=abar, gamma=gamma, eta=0.5,
                             generator=torch.Generator().manual_seed(seed)) for seed in (1, 1, 2)]
    assert torch.equal(outs[0], outs[1])
    assert not torch.equal(outs[0], outs[2])
    assert outs[0].dtype == torch.float32


def test_truncated_baseline_is_gamma0(abar):
    x = _rand(1, 3, 4, 4, seed=10)
    eps = _rand(1, 3, 4, 4, seed=11)

    def den(y, t, cond):
        return _toy_model(y, t.view(-1, 1, 1, 1).double())

    init = dtdm.dtdm_start(x, 300, abar, noise=eps)
    a = ddpm.sample_truncated(den, x, 4, abar=abar, s=300, init=init)
    steps = schedules.timesteps(300, 4)
    ref = _plain_ddim(lambda y, t: _toy_model(y, float(t)), init, steps, abar.tolist(), 0.0, [0] * 4)
    assert torch.allclose(a, ref, atol=1e-10)


def test_training_inputs_and_loss():
    g = torch.Generator().manual_seed(0)
    t, eps = dtdm.sample_training_inputs(64, 5, g, (64, 3, 2, 2), device="cpu")
    assert t.min() >= 1 and t.max() <= 5 and eps.shape == (64, 3, 2, 2)
    y = torch.zeros(2, 3)
    assert dtdm.training_loss(torch.ones(2, 3), y, torch.ones(2, 3), "x0") == 1
    assert dtdm.training_loss(torch.ones(2, 3), y, torch.ones(2, 3), "eps") == 0
    with pytest.raises(ValueError):
        dtdm.training_loss(y, y, y, "v")


def test_eps_conversion_inverts_marginal(abar):
    s = 400
    gamma = dtdm.gamma_schedule(abar, s)
    y, x, eps = _rand(3, 3, 4, 4, seed=12), _rand(3, 3, 4, 4, seed=13), _rand(3, 3, 4, 4, seed=14)
    t = torch.tensor([1, 100, 399])
    yt = dtdm.q_sample(y, x, t, abar, gamma, eps)
    assert torch.allclose(dtdm.predict_y_from_eps(yt, eps, x, t, abar, gamma), y, atol=1e-8)


def test_bad_step_lists(abar):
    gamma = dtdm.gamma_schedule(abar, 10)
    x = torch.zeros(1, 1, 2, 2)
    for bad in ([10], [10, 5], [10, 10, 0], [5, 10, 0]):
        with pytest.raises(ValueError):
            dtdm.sample_dtdm(lambda y, t, c: y, x, bad, abar=abar, gamma=gamma)
