"""Oracle tests of gm_course.variational: Gaussian conditioning, KLs, parameterisations."""

import math

import pytest
import torch

from gm_course import ddpm, densities
from gm_course.variational import (
    convert,
    decoder_nll,
    exact_reverse_conditional,
    gaussian_kl,
    posterior_mean_var,
    prior_kl,
    reverse_mean_from_eps,
    step_kl,
)


def _conditioning(x_t, x_0, t, dt, delta):
    """Generic Gaussian conditioning of (x_{t-dt}, x_t) given x_0, from their 2x2 covariance."""
    c11, c12, c22 = delta**2 * (t - dt), delta**2 * (t - dt), delta**2 * t
    return x_0 + c12 / c22 * (x_t - x_0), c11 - c12**2 / c22


@pytest.mark.parametrize("t,dt,delta", [(1.0, 0.1, 1.0), (2.5, 0.5, 0.7), (0.3, 0.01, 3.0)])
def test_posterior_matches_gaussian_conditioning(t, dt, delta):
    gen = torch.Generator().manual_seed(0)
    x_t, x_0 = torch.randn(5, 3, generator=gen, dtype=torch.float64), torch.randn(5, 3, generator=gen, dtype=torch.float64)
    mean, var = posterior_mean_var(x_t, x_0, t, dt, delta)
    ref_mean, ref_var = _conditioning(x_t, x_0, t, dt, delta)
    assert torch.allclose(mean, ref_mean, atol=1e-12)
    assert var == pytest.approx(ref_var, rel=1e-12) and var > 0


def test_posterior_monte_carlo():
    gen = torch.Generator().manual_seed(1)
    t, dt, delta, x0 = 1.0, 0.25, 1.5, 0.4
    n = 400_000
    x_prev = x0 + delta * math.sqrt(t - dt) * torch.randn(n, generator=gen, dtype=torch.float64)
    x_t = x_prev + delta * math.sqrt(dt) * torch.randn(n, generator=gen, dtype=torch.float64)
    keep = (x_t - 1.0).abs() < 0.02  # condition on x_t ≈ 1 by counting
    mean, var = posterior_mean_var(torch.tensor(1.0), torch.tensor(x0), t, dt, delta)
    sel = x_prev[keep]
    assert abs(float(sel.mean()) - float(mean)) < 4 * math.sqrt(var / len(sel)) + 0.01
    assert abs(float(sel.var()) / var - 1) < 0.05


def test_posterior_last_step_is_exact_and_errors():
    mean, var = posterior_mean_var(torch.ones(2), torch.zeros(2), 0.5, 0.5)
    assert torch.equal(mean, torch.zeros(2)) and var == 0.0
    with pytest.raises(ValueError, match="dt"):
        posterior_mean_var(torch.ones(2), torch.zeros(2), 0.5, 0.6)
    with pytest.raises(ValueError, match="delta"):
        posterior_mean_var(torch.ones(2), torch.zeros(2), 0.5, 0.1, delta=0)


def test_gaussian_kl_matches_torch():
    gen = torch.Generator().manual_seed(2)
    m1, m2 = torch.randn(7, generator=gen, dtype=torch.float64), torch.randn(7, generator=gen, dtype=torch.float64)
    v1, v2 = torch.rand(7, generator=gen, dtype=torch.float64) + 0.1, torch.rand(7, generator=gen, dtype=torch.float64) + 0.1
    ref = torch.distributions.kl_divergence(torch.distributions.Normal(m1, v1.sqrt()), torch.distributions.Normal(m2, v2.sqrt()))
    assert torch.allclose(gaussian_kl(m1, v1, m2, v2), ref, atol=1e-12)
    assert float(gaussian_kl(0.0, 1e-12, 0.0, 1.0)) > 13  # variance 0: the KL blows up
    with pytest.raises(ValueError):
        gaussian_kl(0.0, 1.0, 0.0, 0.0)


@pytest.mark.parametrize("model_var", [None, "posterior"])
def test_step_kl_is_weighted_eps_error(model_var):
    gen = torch.Generator().manual_seed(3)
    t, dt, delta, d = 0.8, 0.05, 1.3, 4
    x0 = torch.randn(6, d, generator=gen, dtype=torch.float64)
    z = torch.randn(6, d, generator=gen, dtype=torch.float64)
    eps_hat = z + 0.3 * torch.randn(6, d, generator=gen, dtype=torch.float64)
    x_t = x0 + delta * math.sqrt(t) * z
    m = reverse_mean_from_eps(x_t, eps_hat, t, dt, delta)
    sq = ((z - eps_hat) ** 2).sum(1)
    if model_var is None:
        r = (t - dt) / t
        expected = dt / (2 * t) * sq + d / 2 * (r - 1 - math.log(r))
        got = step_kl(x_t, x0, m, t, dt, delta)
    else:
        expected = dt / (2 * (t - dt)) * sq
        got = step_kl(x_t, x0, m, t, dt, delta, model_var=delta**2 * dt * (t - dt) / t)
    assert torch.allclose(got, expected, atol=1e-12)


def test_prior_and_decoder_terms():
    x0 = torch.tensor([[1.0, -2.0]], dtype=torch.float64)
    T, delta = 4.0, 1.0
    ref = torch.distributions.kl_divergence(torch.distributions.Normal(x0, 2.0), torch.distributions.Normal(0.0, 2.0)).sum(1)
    assert torch.allclose(prior_kl(x0, T, delta), ref, atol=1e-12)
    mean = torch.tensor([[0.5, -1.0]], dtype=torch.float64)
    ref = -torch.distributions.Normal(mean, math.sqrt(0.3)).log_prob(x0).sum(1)
    assert torch.allclose(decoder_nll(x0, mean, 0.3), ref, atol=1e-12)


def test_convert_round_trip_and_tweedie():
    # Gaussian data N(m, s^2): E[x0 | x_t] and the score of p_t are linear in x_t
    m, s, sigma = 0.7, 0.5, 1.2
    x_t = torch.linspace(-3, 3, 11, dtype=torch.float64)[:, None]
    score = -(x_t - m) / (s**2 + sigma**2)
    tweedie = m + s**2 / (s**2 + sigma**2) * (x_t - m)
    out = convert(x_t, sigma, score=score)
    assert torch.allclose(out["x0"], tweedie, atol=1e-12)
    for kind in ("eps", "x0"):
        again = convert(x_t, sigma, **{kind: out[kind]})
        assert all(torch.allclose(again[k], out[k], atol=1e-12) for k in out)
    # DDPM scaling a = sqrt(abar): x_t = a x0 + sigma z
    a, sg = 0.8, 0.6
    x0, z = torch.randn(4, 2, dtype=torch.float64), torch.randn(4, 2, dtype=torch.float64)
    res = convert(a * x0 + sg * z, sg, eps=z, scale=a)
    assert torch.allclose(res["x0"], x0, atol=1e-12)
    with pytest.raises(ValueError, match="exactly one"):
        convert(x_t, sigma, eps=score, score=score)


def test_reverse_mean_three_ways():
    t, dt, delta = 1.0, 0.1, 1.0
    x_t = torch.tensor([[0.3, -1.0]], dtype=torch.float64)
    eps = torch.tensor([[0.5, 0.2]], dtype=torch.float64)
    par = convert(x_t, delta * math.sqrt(t), eps=eps)
    m_eps = reverse_mean_from_eps(x_t, eps, t, dt, delta)
    m_x0, _ = posterior_mean_var(x_t, par["x0"], t, dt, delta)
    m_score = x_t + delta**2 * dt * par["score"]
    assert torch.allclose(m_eps, m_x0, atol=1e-14) and torch.allclose(m_eps, m_score, atol=1e-14)


def test_ddpm_posterior_is_the_scaled_continuous_one():
    sched = ddpm.cosine_schedule(50)
    abar, sig2 = sched.alphas_bar, sched.sigmas() ** 2
    i = 20  # step t = i, previous s = i - 1
    x0, x_t = torch.tensor([0.4]), torch.tensor([-0.9])
    y_mean, y_var = posterior_mean_var(x_t / abar[i].sqrt(), x0, float(sig2[i]), float(sig2[i] - sig2[i - 1]))
    x_mean, x_var = abar[i - 1].sqrt() * y_mean, abar[i - 1] * y_var
    b, a = sched.betas[i], sched.alphas[i]
    ref_mean = abar[i - 1].sqrt() * b / (1 - abar[i]) * x0 + a.sqrt() * (1 - abar[i - 1]) / (1 - abar[i]) * x_t
    assert torch.allclose(x_mean, ref_mean, atol=1e-6)
    assert float(x_var) == pytest.approx(float(sched.posterior_variance[i]), rel=1e-10)


def test_exact_reverse_conditional_against_grid():
    data = densities.gaussian_mixture_1d([0.3, 0.7], [-1.0, 1.5], [0.3, 0.5])
    t, dt, delta = 0.5, 0.1, 1.0
    x_t = torch.tensor([[0.2], [2.0]], dtype=torch.float64)
    mixtures = exact_reverse_conditional(data, x_t, t, dt, delta)
    y = torch.linspace(-4, 5, 20001, dtype=torch.float64)[:, None]
    h = float(y[1] - y[0])
    prior = data.noised(delta * math.sqrt(t - dt)).log_prob(y)
    for i, mix in enumerate(mixtures):
        log_un = prior - (x_t[i] - y[:, 0]) ** 2 / (2 * delta**2 * dt)
        log_post = log_un - (torch.logsumexp(log_un, 0) + math.log(h))
        assert torch.allclose(mix.log_prob(y), log_post, atol=1e-8)
        # its mean is the reverse-SDE mean with the exact score at time t (Tweedie)
        score = data.noised(delta * math.sqrt(t)).score(x_t[i:i + 1])
        assert float(mix.mean()) == pytest.approx(float(x_t[i] + delta**2 * dt * score), abs=1e-10)


def test_clipped_eps():
    sched = ddpm.cosine_schedule(20)
    x0 = torch.tensor([[0.5, -0.2], [2.0, -3.0]])
    z = torch.randn(2, 2, generator=torch.Generator().manual_seed(4))
    t = torch.tensor([3.0, 15.0])
    x_t = ddpm.q_sample(sched, x0, t.long(), z)
    from gm_course.variational import ClippedEps
    oracle = ClippedEps(lambda x, tt: z, sched.alphas_bar)  # the true noise
    eps = oracle(x_t, t)
    a = sched.alphas_bar[t.long()].float()[:, None]
    x0_hat = (x_t - (1 - a).sqrt() * eps) / a.sqrt()
    assert torch.allclose(x0_hat[0], x0[0], atol=1e-5)  # inside [-1, 1]: unchanged
    assert torch.allclose(x0_hat[1], torch.tensor([1.0, -1.0]), atol=1e-5)  # clipped
