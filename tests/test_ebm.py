"""Oracle tests of gm_course.ebm (energy-based models, chapter 3)."""

import math

import pytest
import torch

from gm_course import densities, ebm, quadrature


def _gaussian_setup():
    grid = quadrature.Grid(-8.0, 8.0, 120)
    stats = ebm.quadratic_features(grid.points()).reshape(*grid.shape, 5)
    mu = torch.tensor([0.4, -0.3], dtype=torch.float64)
    Sigma = torch.tensor([[0.9, 0.3], [0.3, 0.6]], dtype=torch.float64)
    P = torch.linalg.inv(Sigma)
    b = P @ mu
    theta = torch.stack([b[0], b[1], -0.5 * P[0, 0], -P[0, 1], -0.5 * P[1, 1]])
    return grid, stats, mu, Sigma, theta


def test_exp_family_log_partition_and_gradient_match_closed_form():
    grid, stats, mu, Sigma, theta = _gaussian_setup()
    theta = theta.clone().requires_grad_(True)
    log_z = ebm.exp_family_log_partition(theta, stats, grid)
    closed = 0.5 * mu @ torch.linalg.solve(Sigma, mu) + 0.5 * torch.logdet(2 * math.pi * Sigma)
    assert abs(float(log_z.detach() - closed)) < 1e-9
    (grad,) = torch.autograd.grad(log_z, theta)
    mean_t = ebm.exp_family_mean_statistics(theta.detach(), stats, grid)
    torch.testing.assert_close(grad, mean_t, atol=1e-13, rtol=0)  # d log Z = E[T], same sum
    second = Sigma + torch.outer(mu, mu)
    expected = torch.stack([mu[0], mu[1], second[0, 0], second[0, 1], second[1, 1]])
    torch.testing.assert_close(mean_t, expected, atol=1e-9, rtol=0)


def test_energy_score_is_gradient_of_log_density():
    g = densities.Gaussian(torch.tensor([0.5, -1.0]), torch.tensor([[1.0, 0.2], [0.2, 0.7]]))
    x = torch.randn(7, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(ebm.energy_score(g.log_prob, x), g.score(x))
    assert not ebm.energy_score(g.log_prob, x).requires_grad


def test_mlp_energy_shapes_base_measure_and_validation():
    torch.manual_seed(0)
    f = ebm.MLPEnergy(dim=2, hidden=(16, 16), base_std=2.0)
    x = torch.randn(5, 2)
    assert f(x).shape == (5,)
    f0 = ebm.MLPEnergy(dim=2, hidden=(16, 16))
    f0.load_state_dict(f.state_dict())
    torch.testing.assert_close(f(x), f0(x) - 0.5 * (x**2).sum(1) / 4.0)
    assert f(x.double()).dtype == torch.float32  # input cast to the weights' dtype
    with pytest.raises(ValueError, match="activation"):
        ebm.MLPEnergy(activation="relu6")
    with pytest.raises(ValueError, match="base_std"):
        ebm.MLPEnergy(base_std=0.0)
    with pytest.raises(ValueError, match="hidden"):
        ebm.MLPEnergy(hidden=(0,))


def test_contrastive_loss_gradient_is_data_minus_model_average():
    theta = torch.tensor([0.2, -0.1, -0.5, 0.1, -0.4], dtype=torch.float64, requires_grad=True)

    def f(x):
        return ebm.quadratic_features(x) @ theta

    gen = torch.Generator().manual_seed(1)
    x_data = torch.randn(9, 2, dtype=torch.float64, generator=gen)
    x_model = torch.randn(4, 2, dtype=torch.float64, generator=gen) + theta[:2]  # depends on theta
    (grad,) = torch.autograd.grad(ebm.contrastive_loss(f, x_data, x_model), theta)
    expected = -(ebm.quadratic_features(x_data).mean(0) - ebm.quadratic_features(x_model.detach()).mean(0))
    torch.testing.assert_close(grad, expected)


def test_grid_nll_is_exact_nll_and_its_gradient_holds_the_model_average():
    grid, stats, mu, Sigma, theta = _gaussian_setup()
    theta = theta.clone().requires_grad_(True)

    def f(x):
        return ebm.quadratic_features(x) @ theta

    x = densities.Gaussian(mu, Sigma).sample(50, torch.Generator().manual_seed(2))
    nll = ebm.grid_nll(f, x, grid)
    exact = -densities.Gaussian(mu, Sigma).log_prob(x).mean()
    assert abs(float(nll.detach() - exact)) < 1e-9
    (grad,) = torch.autograd.grad(nll, theta)
    expected = -(ebm.quadratic_features(x).mean(0) - ebm.exp_family_mean_statistics(theta.detach(), stats, grid))
    torch.testing.assert_close(grad, expected, atol=1e-12, rtol=0)


def test_kl_gap_on_grid_is_zero_for_the_truth_and_matches_closed_form():
    grid = quadrature.Grid(-8.0, 8.0, 160)
    p = densities.Gaussian(torch.zeros(2), torch.eye(2))
    q = densities.Gaussian(torch.tensor([0.5, 0.0]), 1.44 * torch.eye(2))
    log_p = quadrature.grid_log_prob(p.log_prob, grid)
    assert abs(float(ebm.kl_gap_on_grid(p.log_prob, log_p, grid))) < 1e-10
    # KL(N(0, I) || N(m, s^2 I)) = D log s + (D + |m|^2) / (2 s^2) - D/2, and f may be unnormalised
    closed = 2 * math.log(1.2) + (2 + 0.25) / (2 * 1.44) - 1.0
    kl = ebm.kl_gap_on_grid(lambda x: q.log_prob(x) + 3.0, log_p, grid)
    assert abs(float(kl) - closed) < 1e-7  # the box ends 6.7 sd from q's mean


def test_short_run_samples_and_persistent_chains_sample_a_gaussian():
    g = densities.Gaussian(torch.zeros(2), 0.5 * torch.eye(2))
    gen = torch.Generator().manual_seed(3)
    x0 = 3.0 * torch.randn(4000, 2, dtype=torch.float64, generator=gen)
    x = ebm.short_run_samples(g.log_prob, x0, step_size=0.02, n_steps=300, generator=gen)
    # unadjusted Langevin on N(0, s2): stationary variance s2 / (1 - dt / (4 s2))
    expected_var = 0.5 / (1 - 0.02 / 2.0)
    assert abs(float(x.var(0).mean()) - expected_var) < 0.04
    chains = ebm.PersistentChains(x0, step_size=0.02, n_steps=30)
    for _ in range(10):
        out = chains.step(g.log_prob, gen)
    assert out is chains.x and out.shape == (4000, 2)
    assert abs(float(out.var(0).mean()) - expected_var) < 0.04


def test_persistent_chains_reinit_and_validation():
    gen = torch.Generator().manual_seed(4)
    init = lambda n, g: torch.full((n, 2), 100.0, dtype=torch.float64)  # noqa: E731
    chains = ebm.PersistentChains(torch.zeros(10, 2, dtype=torch.float64), 1e-6, 1, reinit=0.3, init_fn=init)
    x = chains.step(lambda z: -0.5 * (z**2).sum(1), gen)
    assert int((x[:, 0] > 50).sum()) == 3
    with pytest.raises(ValueError, match="reinit"):
        ebm.PersistentChains(torch.zeros(3, 2), 0.1, 1, reinit=1.0)
    with pytest.raises(ValueError, match="init_fn"):
        ebm.PersistentChains(torch.zeros(3, 2), 0.1, 1, reinit=0.5)
    with pytest.raises(ValueError, match="step_size"):
        ebm.PersistentChains(torch.zeros(3, 2), 0.0, 1)
    with pytest.raises(ValueError, match="x0"):
        ebm.PersistentChains(torch.zeros(3), 0.1, 1)


def test_seeded_short_run_is_reproducible():
    f = lambda z: -0.5 * (z**2).sum(1)  # noqa: E731
    x0 = torch.zeros(5, 2)
    a = ebm.short_run_samples(f, x0, 0.1, 5, generator=torch.Generator().manual_seed(5))
    b = ebm.short_run_samples(f, x0, 0.1, 5, generator=torch.Generator().manual_seed(5))
    assert torch.equal(a, b)


def test_metropolis_grid_kernel_is_stochastic_and_reversible():
    x = torch.linspace(-6.0, 6.0, 241, dtype=torch.float64)
    log_p = torch.logsumexp(torch.stack([-0.5 * (x + 2) ** 2, -0.5 * (x - 2) ** 2 - 1.0]), 0)
    K = ebm.metropolis_grid_kernel(log_p, x, 0.5)
    p = torch.softmax(log_p, 0)
    assert K.shape == (241, 241) and float(K.min()) >= 0
    torch.testing.assert_close(K.sum(dim=1), torch.ones(241, dtype=torch.float64))
    flow = p[:, None] * K
    torch.testing.assert_close(flow, flow.T, atol=1e-15, rtol=0)      # detailed balance
    torch.testing.assert_close(p @ K, p, atol=1e-15, rtol=0)          # p is invariant
    r = torch.zeros(241, dtype=torch.float64)
    r[0] = 1.0
    for _ in range(3000):
        r = r @ K
    torch.testing.assert_close(r, p, atol=1e-6, rtol=0)               # and reached


def test_metropolis_grid_kernel_rejects_bad_input():
    x = torch.linspace(-1.0, 1.0, 5, dtype=torch.float64)
    with pytest.raises(ValueError, match="proposal_std"):
        ebm.metropolis_grid_kernel(torch.zeros(5, dtype=torch.float64), x, 0.0)
    with pytest.raises(ValueError, match="same shape"):
        ebm.metropolis_grid_kernel(torch.zeros(4, dtype=torch.float64), x, 0.5)


@pytest.mark.parametrize("activation", ["silu", "softplus", "tanh", "elu"])
@pytest.mark.parametrize("base_std", [None, 2.0])
def test_mlp_energy_analytic_score_matches_autograd(activation, base_std):
    torch.manual_seed(0)
    f = ebm.MLPEnergy(dim=3, hidden=(16, 8), activation=activation, base_std=base_std)
    x = torch.randn(11, 3, generator=torch.Generator().manual_seed(1))
    with torch.enable_grad():
        z = x.clone().requires_grad_(True)
        (expected,) = torch.autograd.grad(f(z).sum(), z)
    got = f.score(x)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)
    assert not got.requires_grad and got.dtype == x.dtype
    assert f.score(x.double()).dtype == torch.float64  # returned in the input's dtype
    # energy_score uses it only when asked to, so autograd results stay bit for bit
    fast = ebm.MLPEnergy(dim=3, hidden=(16, 8), activation=activation, base_std=base_std,
                         analytic_score=True)
    fast.load_state_dict(f.state_dict())
    assert torch.equal(ebm.energy_score(fast, x), f.score(x))
    torch.testing.assert_close(ebm.energy_score(f, x), expected)
    with pytest.raises(ValueError, match="analytic_score"):
        ebm.MLPEnergy(analytic_score=1)
