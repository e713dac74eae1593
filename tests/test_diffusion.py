"""Oracle tests of gm_course.diffusion against closed forms.

Gaussian data p_0 = N(m, Σ) give p_t = N(m, Σ + σ_t² I) in closed form, so the forward
process, the probability-flow ODE (against the exact map), the reverse SDE and the EDM
sampler can all be checked exactly; Gaussian mixtures check the fast mixture score, Tweedie's
formula and the DSM loss.
"""

import math

import pytest
import torch

from gm_course import densities, diffusion as dif

M = torch.tensor([0.5, -1.0], dtype=torch.float64)
S = torch.tensor([[0.8, 0.3], [0.3, 0.4]], dtype=torch.float64)
EYE = torch.eye(2, dtype=torch.float64)


def gauss_score(delta):
    def score_fn(x, t):
        t = torch.as_tensor(t, dtype=x.dtype)
        if t.ndim:  # one time per point
            return torch.stack([densities.Gaussian(M, S + delta**2 * ti * EYE).score(xi[None])[0]
                                for xi, ti in zip(x, t.tolist())])
        return densities.Gaussian(M, S + delta**2 * float(t) * EYE).score(x)
    return score_fn


def test_time_grids():
    u = dif.time_grid(4.0, 8)
    assert u.shape == (9,) and u[0] == 4.0 and u[-1] == 0.0
    torch.testing.assert_close(u[:-1] - u[1:], torch.full((8,), 0.5, dtype=torch.float64))
    k = dif.time_grid(100.0, 10, rho=7.0)
    assert k[0].item() == pytest.approx(100.0) and k[-1] == 0.0 and (k[1:] < k[:-1]).all()
    even_sigma = dif.time_grid(100.0, 10, rho=1.0).sqrt()
    torch.testing.assert_close(even_sigma[:-1] - even_sigma[1:], torch.ones(10, dtype=torch.float64))
    s = dif.edm_sigmas(5, 0.002, 80.0)
    assert s.shape == (6,) and s[0].item() == pytest.approx(80.0) and s[-2].item() == pytest.approx(0.002) and s[-1] == 0


def test_forward_variance_is_delta_squared_t():
    x0 = torch.zeros(20_000, 2, dtype=torch.float64)
    x = dif.forward(x0, torch.linspace(0, 3.0, 31, dtype=torch.float64), 1.5, torch.Generator().manual_seed(0))
    assert x.var(0).mean().item() == pytest.approx(1.5**2 * 3.0, rel=0.03)
    path = dif.forward(x0[:10], torch.tensor([0.0, 1.0, 2.0]), 1.0, torch.Generator().manual_seed(0), return_path=True)
    assert path.shape == (3, 10, 2) and torch.equal(path[0], x0[:10])


def test_mixture_score_fn_matches_noised_score_and_autograd():
    mix = densities.GaussianMixture(torch.tensor([0.2, 0.5, 0.3]), torch.tensor([[-2.0, 0.0], [1.0, 1.5], [2.0, -2.0]]),
                                    torch.tensor([0.3, 0.6, 1.0]))
    f = dif.mixture_score_fn(mix, 0.7)
    x = torch.randn(50, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64) * 3
    for t in (0.0, 0.4, 9.0):
        torch.testing.assert_close(f(x, t), mix.noised(0.7 * math.sqrt(t)).score(x))
    xr = x.clone().requires_grad_(True)
    auto = torch.autograd.grad(mix.noised(0.7).log_prob(xr).sum(), xr)[0]
    torch.testing.assert_close(f(x, 1.0), auto)
    per_point = f(x[:3], torch.tensor([0.0, 0.4, 9.0], dtype=torch.float64))
    for i, t in enumerate((0.0, 0.4, 9.0)):
        torch.testing.assert_close(per_point[i], f(x[i:i + 1], t)[0])


def test_gaussian_flow_map_round_trip_and_moments():
    x = M + torch.randn(30_000, 2, generator=torch.Generator().manual_seed(2), dtype=torch.float64) @ torch.linalg.cholesky(S).T
    y = dif.gaussian_flow_map(x, 0.0, 5.0, M, S, 1.0)
    torch.testing.assert_close(torch.cov(y.T), S + 5.0 * EYE, rtol=0.03, atol=0.03)
    torch.testing.assert_close(dif.gaussian_flow_map(y, 5.0, 0.0, M, S, 1.0), x)


@pytest.mark.parametrize("method, steps, tol", [("euler", 400, 3e-2), ("heun", 100, 2e-3)])
def test_pf_ode_matches_exact_gaussian_map(method, steps, tol):
    x = M + 5 * torch.randn(200, 2, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    ts = dif.time_grid(25.0, steps, t_min=0.01, rho=7.0)
    got = dif.pf_ode(gauss_score(1.0), x, ts, 1.0, method=method)
    exact = dif.gaussian_flow_map(x, 25.0, 0.01, M, S, 1.0)
    assert float((got - exact).norm(dim=1).max()) < tol
    back = dif.pf_ode(gauss_score(1.0), got, ts.flip(0), 1.0, method=method)  # encode again
    assert float((back - x).norm(dim=1).max()) < 30 * tol


def test_reverse_ode_step_is_the_euler_step():
    f = gauss_score(2.0)
    x = torch.randn(5, 2, dtype=torch.float64)
    torch.testing.assert_close(dif.reverse_ode_step(x, 1.0, 0.1, f, 2.0), x + 0.5 * 4.0 * 0.1 * f(x, 1.0))
    torch.testing.assert_close(dif.pf_ode(f, x, torch.tensor([1.0, 0.9], dtype=torch.float64), 2.0, method="euler"),
                               dif.reverse_ode_step(x, 1.0, 0.1, f, 2.0))


def test_reverse_sde_recovers_gaussian_data():
    delta, T = 1.0, 16.0
    g = torch.Generator().manual_seed(4)
    xT = M + torch.randn(6000, 2, generator=g, dtype=torch.float64) @ torch.linalg.cholesky(S + T * EYE).T
    x = dif.reverse_sde(gauss_score(delta), xT, dif.time_grid(T, 300, rho=1.0), delta, g)
    torch.testing.assert_close(x.mean(0), M, atol=0.05, rtol=0)
    torch.testing.assert_close(torch.cov(x.T), S, atol=0.06, rtol=0)
    a = dif.reverse_sde_step(xT[:4], 2.0, 0.1, gauss_score(delta), delta, torch.Generator().manual_seed(5))
    b = dif.reverse_sde_step(xT[:4], 2.0, 0.1, gauss_score(delta), delta, torch.Generator().manual_seed(5))
    assert torch.equal(a, b)


def test_edm_sample_matches_exact_map():
    levels = dif.edm_sigmas(80, 0.05, 20.0)
    x = M + 20 * torch.randn(100, 2, generator=torch.Generator().manual_seed(6), dtype=torch.float64)
    got = dif.edm_sample(gauss_score(1.0), x, levels)
    # Heun to sigma_min = 0.05, then one Euler (Tweedie) step to 0
    mid = dif.gaussian_flow_map(x, 400.0, 0.05**2, M, S, 1.0)
    exact = mid + 0.05**2 * gauss_score(1.0)(mid, 0.05**2)
    assert float((got - exact).norm(dim=1).max()) < 5e-3


def test_tweedie_equals_closed_form_posterior_mean():
    ring = densities.eight_gaussians()
    f = dif.mixture_score_fn(ring, 1.3)
    x = 3 * torch.randn(100, 2, generator=torch.Generator().manual_seed(7), dtype=torch.float64)
    for t in (0.01, 0.5, 4.0):
        torch.testing.assert_close(x + 1.3**2 * t * f(x, t), dif.mixture_posterior_mean(ring, x, t, 1.3))


def test_dsm_loss_at_exact_score_for_gaussian_data():
    # x_0 ~ N(0, s² I): the exact score gives E|z + σ s|² = D s²/(s² + σ²)
    s2, delta, t = 0.5, 1.0, 0.8
    x0 = math.sqrt(s2) * torch.randn(100_000, 3, generator=torch.Generator().manual_seed(8), dtype=torch.float64)
    score = lambda x, t: -x / (s2 + delta**2 * t[:, None])  # noqa: E731
    loss = dif.dsm_loss(score, x0, torch.full((100_000,), t, dtype=torch.float64), delta, torch.Generator().manual_seed(9))
    assert loss.item() == pytest.approx(3 * s2 / (s2 + t), rel=0.01)


def test_edm_loss_runs_and_is_differentiable():
    from gm_course import nets

    den = nets.EDMDenoiser(nets.ScoreMLP(2, 16, 2, 8, generator=torch.Generator().manual_seed(0)), sigma_data=1.0)
    loss = dif.edm_loss(den, torch.randn(64, 2), torch.Generator().manual_seed(1))
    loss.backward()
    assert loss.ndim == 0 and all(p.grad is not None for p in den.parameters())


def test_bad_input():
    f = gauss_score(1.0)
    x = torch.zeros(3, 2, dtype=torch.float64)
    with pytest.raises(ValueError, match="ts"):
        dif.pf_ode(f, x, torch.tensor([1.0, 2.0, 1.5]), 1.0)
    with pytest.raises(ValueError, match="delta"):
        dif.pf_ode(f, x, torch.tensor([1.0, 0.0]), 0.0)
    with pytest.raises(ValueError, match="method"):
        dif.pf_ode(f, x, torch.tensor([1.0, 0.0]), 1.0, method="rk4")
    with pytest.raises(ValueError, match="ts"):
        dif.reverse_sde(f, x, torch.tensor([0.0, 1.0]), 1.0)
    with pytest.raises(ValueError, match="ts"):
        dif.forward(x, torch.tensor([1.0, 0.0]), 1.0)
    with pytest.raises(ValueError, match="t_min"):
        dif.time_grid(1.0, 5, t_min=2.0)
    with pytest.raises(ValueError, match="sigma_min"):
        dif.edm_sigmas(5, 1.0, 0.5)
    with pytest.raises(ValueError, match="x"):
        dif.pf_ode(f, torch.zeros(3), torch.tensor([1.0, 0.0]), 1.0)
