"""Oracle tests for gm_course.samplers: every sampler against a target known exactly."""

import math

import numpy as np
import pytest
import torch

from gm_course import samplers as S

F64 = torch.float64
LOG_2PI = math.log(2 * math.pi)


def gen(seed):
    return torch.Generator().manual_seed(seed)


def std_normal_log_prob(x):
    return -0.5 * (x**2).sum(1)


def log_q(x):  # the base density q = N(0, I) of chapter 6
    return -0.5 * (x**2).sum(1) - 0.5 * x.shape[1] * LOG_2PI


# ----------------------------------------------------------------------------- Langevin

@pytest.mark.parametrize("dt", [0.2, 0.5, 1.0])
def test_langevin_stationary_variance_is_one_over_one_minus_dt_over_4(dt):
    # x' = (1 - dt/2) x + sqrt(dt) e on N(0, 1): v = dt / (1 - (1 - dt/2)^2) = 1 / (1 - dt/4)
    n = 40_000
    x = S.langevin(lambda x: -x, torch.randn(n, 1, generator=gen(0), dtype=F64), dt, 80, generator=gen(1))
    v = 1 / (1 - dt / 4)
    assert abs(float(x.var()) - v) < 4 * v * math.sqrt(2 / n)
    assert abs(float(x.mean())) < 4 * math.sqrt(v / n)


def test_langevin_path_seed_and_autograd_score():
    x0 = torch.zeros(5, 2, dtype=F64)

    def score(x):  # -grad E by autograd, as an energy-based model computes it (chapter 3)
        x = x.requires_grad_(True)
        return torch.autograd.grad((-0.5 * x**2).sum(), x)[0]

    path = S.langevin(score, x0, 0.1, 7, generator=gen(3), return_path=True)
    assert path.shape == (8, 5, 2) and torch.equal(path[0], x0) and not path.requires_grad
    again = S.langevin(lambda x: -x, x0, 0.1, 7, generator=gen(3))
    assert torch.allclose(path[-1], again, atol=1e-14)
    assert not torch.equal(again, S.langevin(lambda x: -x, x0, 0.1, 7, generator=gen(4)))


@pytest.mark.parametrize("kwargs, match", [
    (dict(step_size=0.0), "step_size"), (dict(step_size=-1.0), "step_size"), (dict(n_steps=0), "n_steps"),
    (dict(n_steps=2.0), "n_steps"), (dict(x0=torch.zeros(3)), "x0"), (dict(score_fn=3), "score_fn"),
    (dict(score_fn=lambda x: x.sum(1)), "score_fn"), (dict(x0=torch.tensor([[float("nan")]])), "x0"),
])
def test_langevin_rejects_bad_input(kwargs, match):
    args = dict(score_fn=lambda x: -x, x0=torch.zeros(4, 1), step_size=0.1, n_steps=3) | kwargs
    with pytest.raises(ValueError, match=match):
        S.langevin(**args)


def test_langevin_diverging_run_is_reported():
    with pytest.raises(ValueError, match="step size"):
        S.langevin(lambda x: -100.0 * x, torch.ones(2, 1), 1.0, 200)


# ----------------------------------------------------------------------------- MALA and HMC

COV = torch.tensor([[1.0, 0.8], [0.8, 1.0]], dtype=F64)
PREC = torch.linalg.inv(COV)
MEAN = torch.tensor([1.0, -2.0], dtype=F64)


def gauss_log_prob(x):
    z = x - MEAN
    return -0.5 * ((z @ PREC) * z).sum(1)


def exact_gauss(n, seed):
    return MEAN + torch.randn(n, 2, generator=gen(seed), dtype=F64) @ torch.linalg.cholesky(COV).T


def assert_gaussian(x, tol):
    assert (x.mean(0) - MEAN).abs().max() < tol
    assert (torch.cov(x.T) - COV).abs().max() < tol


def test_mala_preserves_a_correlated_gaussian_where_unadjusted_langevin_does_not():
    x0, dt = exact_gauss(20_000, 0), 0.4
    res = S.mala(gauss_log_prob, x0, dt, 30, generator=gen(1))
    assert res.samples.shape == x0.shape and res.accept_rate.shape == (20_000,)
    assert 0.3 < float(res.accept_rate.mean()) < 1.0
    assert_gaussian(res.samples, 0.05)
    ula = S.langevin(lambda x: -(x - MEAN) @ PREC, x0, dt, 30, generator=gen(1))
    assert (torch.cov(ula.T) - COV).abs().max() > 0.15  # the O(dt) bias the MH test removes


def test_hmc_preserves_a_correlated_gaussian():
    res = S.hmc(gauss_log_prob, exact_gauss(10_000, 2), 0.25, 8, 15, generator=gen(3), return_path=True)
    assert res.samples.shape == (16, 10_000, 2)
    assert_gaussian(res.samples[-1], 0.05)


def leapfrog_matrix(eps, n):  # the leapfrog map of H = x²/2 + p²/2 as a 2x2 matrix on (x, p)
    kick = np.array([[1.0, 0.0], [-eps / 2, 1.0]])
    drift = np.array([[1.0, eps], [0.0, 1.0]])
    return np.linalg.matrix_power(kick @ drift @ kick, n)


def test_hmc_acceptance_on_a_gaussian_matches_theory():
    # expected acceptance E min(1, exp(H - H')) over (x, p) ~ N(0, I), by grid quadrature
    eps, n_leap = 1.3, 3
    m = leapfrog_matrix(eps, n_leap)
    u = np.linspace(-9, 9, 1201)
    x, p = np.meshgrid(u, u, indexing="ij")
    x1, p1 = m[0, 0] * x + m[0, 1] * p, m[1, 0] * x + m[1, 1] * p
    dh = 0.5 * (x1**2 + p1**2 - x**2 - p**2)
    weight = np.exp(-0.5 * (x**2 + p**2)) / (2 * np.pi) * (u[1] - u[0]) ** 2
    expected = float((weight * np.minimum(1.0, np.exp(-dh))).sum())
    res = S.hmc(std_normal_log_prob, torch.randn(4000, 1, generator=gen(5), dtype=F64), eps, n_leap, 50,
                generator=gen(6))
    got = float(res.accept_rate.mean())
    assert 0.2 < expected < 0.95 and abs(got - expected) < 0.01, (got, expected)
    assert abs(float(res.samples.var()) - 1) < 0.09


def banana_score(x):
    return torch.stack([-x[:, 0] + 2 * x[:, 0] * (x[:, 1] - x[:, 0] ** 2), -(x[:, 1] - x[:, 0] ** 2)], 1)


def banana_log_prob(x):
    return -0.5 * x[:, 0] ** 2 - 0.5 * (x[:, 1] - x[:, 0] ** 2) ** 2


def test_leapfrog_is_reversible_and_its_energy_error_is_second_order():
    x = torch.randn(50, 2, generator=gen(7), dtype=F64) * 0.7
    p = torch.randn(50, 2, generator=gen(8), dtype=F64)
    x1, p1 = S.leapfrog(banana_score, x, p, 0.05, 40)
    x2, p2 = S.leapfrog(banana_score, x1, -p1, 0.05, 40)
    assert torch.allclose(x2, x, atol=1e-11) and torch.allclose(-p2, p, atol=1e-11)

    def energy_error(eps):
        x1, p1 = S.leapfrog(banana_score, x, p, eps, round(0.8 / eps))  # same total time 0.8
        h = lambda x, p: -banana_log_prob(x) + 0.5 * (p**2).sum(1)
        return float((h(x1, p1) - h(x, p)).abs().max())

    e1, e2 = energy_error(0.02), energy_error(0.01)
    assert 3.5 < e1 / e2 < 4.5  # halving eps quarters the error


def test_one_leapfrog_step_is_a_langevin_step_with_dt_eps_squared():
    x = torch.randn(30, 2, generator=gen(9), dtype=F64)
    p = torch.randn(30, 2, generator=gen(10), dtype=F64)
    eps = 0.3
    x1, _ = S.leapfrog(banana_score, x, p, eps, 1)
    dt = eps**2
    assert torch.allclose(x1, x + 0.5 * dt * banana_score(x) + math.sqrt(dt) * p, atol=1e-14)


@pytest.mark.parametrize("call, match", [
    (lambda: S.mala(std_normal_log_prob, torch.zeros(3, 1), 0.0, 5), "step_size"),
    (lambda: S.mala(lambda x: x, torch.zeros(3, 1), 0.1, 5), "log_prob_fn"),
    (lambda: S.hmc(std_normal_log_prob, torch.zeros(3, 1), 0.1, 0, 5), "n_leapfrog"),
    (lambda: S.hmc(std_normal_log_prob, torch.zeros(3), 0.1, 2, 5), "x0"),
    (lambda: S.leapfrog(lambda x: -x, torch.zeros(3, 2), torch.zeros(3, 1), 0.1, 2), "p"),
    (lambda: S.leapfrog(lambda x: -x, torch.zeros(3, 2), torch.zeros(3, 2), 0.1, -1), "n_steps"),
])
def test_mala_hmc_leapfrog_reject_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# ----------------------------------------------------------------------------- tempering

M_T, S_T = 1.5, 0.5  # target N(1.5, 0.5²) at β = 1 over the base q = N(0, 1)


def f_gauss(x):  # f = log p̃ − log q with p̃ = 3 N(m, s²): log Z(1) = log 3
    return math.log(3.0) - 0.5 * ((x[:, 0] - M_T) / S_T) ** 2 - math.log(S_T) + 0.5 * x[:, 0] ** 2


def tempered_moments(beta):  # π_β ∝ p^β q^(1−β) is Gaussian: precision β/s² + 1 − β
    prec = beta / S_T**2 + 1 - beta
    return beta * M_T / S_T**2 / prec, 1 / prec


def log_z_exact(beta):  # log ∫ p̃^β q^(1−β) dx, completing the square
    prec = beta / S_T**2 + 1 - beta
    mean, _ = tempered_moments(beta)
    const = beta * (math.log(3.0) - math.log(S_T)) - 0.5 * LOG_2PI - 0.5 * beta * M_T**2 / S_T**2
    return const + 0.5 * prec * mean**2 + 0.5 * math.log(2 * math.pi / prec)


def test_parallel_tempering_samples_every_tempered_gaussian():
    betas = torch.tensor([0.0, 0.3, 0.6, 1.0], dtype=F64)
    x0 = torch.randn(4, 2500, 1, generator=gen(11), dtype=F64)
    res = S.parallel_tempering(f_gauss, log_q, betas, x0, 0.3, 60, generator=gen(12))
    assert res.states.shape == (4, 2500, 1) and res.accept_rate.shape == (4,) and res.swap_rate.shape == (3,)
    assert ((res.swap_rate > 0.05) & (res.swap_rate <= 1)).all()
    for r, beta in enumerate(betas.tolist()):
        mean, var = tempered_moments(beta)
        assert abs(float(res.states[r].mean()) - mean) < 4.5 * math.sqrt(var / 2500)
        assert abs(float(res.states[r].var()) - var) < 4.5 * var * math.sqrt(2 / 2500)


def test_parallel_tempering_path_and_bad_input():
    betas = torch.tensor([0.5, 1.0], dtype=F64)
    res = S.parallel_tempering(f_gauss, log_q, betas, torch.zeros(2, 3, 1), 0.1, 4, generator=gen(0), return_path=True)
    assert res.states.shape == (5, 2, 3, 1)
    with pytest.raises(ValueError, match="betas"):
        S.parallel_tempering(f_gauss, log_q, torch.tensor([1.0, 0.5]), torch.zeros(2, 3, 1), 0.1, 4)
    with pytest.raises(ValueError, match="x0"):
        S.parallel_tempering(f_gauss, log_q, betas, torch.zeros(3, 3, 1), 0.1, 4)
    with pytest.raises(ValueError, match="step_size"):
        S.parallel_tempering(f_gauss, log_q, betas, torch.zeros(2, 3, 1), [0.1, -0.1], 4)


def test_ais_estimates_the_log_partition_function():
    x0 = torch.randn(2000, 1, generator=gen(13), dtype=F64)
    res = S.annealed_importance_sampling(f_gauss, log_q, x0, torch.linspace(0, 1, 60, dtype=F64), 0.3,
                                         generator=gen(14))
    assert res.samples.shape == (2000, 1) and res.log_weights.shape == (2000,)
    path = S.annealed_importance_sampling(f_gauss, log_q, x0[:5], torch.linspace(0, 1, 4, dtype=F64), 0.3,
                                          generator=gen(1), return_path=True).samples
    assert path.shape == (4, 5, 1) and torch.equal(path[0], x0[:5])
    assert abs(log_z_exact(1.0) - math.log(3.0)) < 1e-12
    assert abs(float(res.log_Z) - math.log(3.0)) < 0.07  # sd about 0.02 over seeds
    mean, var = tempered_moments(1.0)
    w = torch.softmax(res.log_weights, 0)
    assert abs(float((w * res.samples[:, 0]).sum()) - mean) < 0.03


def test_log_z_formula_matches_quadrature():
    u = torch.linspace(-12, 12, 20001, dtype=F64)[:, None]
    for beta in (0.0, 0.4, 1.0):
        integrand = torch.exp(beta * f_gauss(u) + log_q(u))
        assert abs(math.log(float(torch.trapezoid(integrand, u[:, 0]))) - log_z_exact(beta)) < 1e-9


# ----------------------------------------------------------------------------- diagnostics

def ar1(phi, t, n, seed):
    g = gen(seed)
    y = torch.empty(t, n, dtype=F64)
    y[0] = torch.randn(n, generator=g, dtype=F64) / math.sqrt(1 - phi**2)
    for s in range(1, t):
        y[s] = phi * y[s - 1] + torch.randn(n, generator=g, dtype=F64)
    return y


def test_autocorrelation_and_ess_of_an_ar1_chain():
    phi, t, n = 0.8, 4000, 8
    y = ar1(phi, t, n, 15)
    rho = S.autocorrelation(y, max_lag=5)
    assert rho.shape == (6,) and rho[0] == 1
    assert torch.allclose(rho, phi ** torch.arange(6, dtype=F64), atol=0.03)
    tau = (1 + phi) / (1 - phi)
    assert abs(S.effective_sample_size(y) / (n * t / tau) - 1) < 0.15
    white = torch.randn(t, n, generator=gen(16), dtype=F64)
    assert abs(S.effective_sample_size(white) / (n * t) - 1) < 0.15


def test_log_mean_exp_and_diagnostics_reject_bad_input():
    assert abs(float(S.log_mean_exp(torch.tensor([1000.0, 1000.0]))) - 1000.0) < 1e-9
    with pytest.raises(ValueError, match="chains"):
        S.autocorrelation(torch.zeros(10))
    with pytest.raises(ValueError, match="constant"):
        S.effective_sample_size(torch.ones(10, 2))
    with pytest.raises(ValueError, match="a"):
        S.log_mean_exp(torch.zeros(2, 2))
