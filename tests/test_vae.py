"""Oracle tests of gm_course.vae: exact linear-Gaussian identities, KLs, the ELBO bounds."""

import math

import pytest
import torch

from gm_course import densities, quadrature, vae


def _model(seed=0, D=3, d=2, sigma=0.5):
    g = torch.Generator().manual_seed(seed)
    return vae.LinearGaussianModel(torch.randn(D, d, dtype=torch.float64, generator=g),
                                   torch.randn(D, dtype=torch.float64, generator=g), sigma), g


def test_elbo_is_exact_at_the_posterior_and_gap_is_the_kl():
    model, g = _model()
    x, _ = model.sample_joint(8, g)
    m, S = model.posterior(x)
    log_px = model.marginal().log_prob(x)
    torch.testing.assert_close(model.elbo(x, m, S), log_px, atol=1e-10, rtol=0)
    q_m, q_S = m - 0.4, 0.5 * S
    gap = log_px - model.elbo(x, q_m, q_S)
    torch.testing.assert_close(gap, vae.gaussian_kl(q_m, q_S, m, S), atol=1e-10, rtol=0)
    assert bool((gap > 0).all())


def test_posterior_matches_gaussian_conditioning():
    model, g = _model(1, D=4, d=1, sigma=1.3)
    x, _ = model.sample_joint(5, g)
    Sxx = model.W @ model.W.T + model.sigma**2 * torch.eye(4, dtype=torch.float64)
    gain = model.W.T @ torch.linalg.inv(Sxx)
    m, S = model.posterior(x)
    torch.testing.assert_close(m, (x - model.b) @ gain.T, atol=1e-12, rtol=0)
    torch.testing.assert_close(S, torch.eye(1, dtype=torch.float64) - gain @ model.W, atol=1e-12, rtol=0)


def test_closed_form_kls_match_torch_distributions():
    g = torch.Generator().manual_seed(2)
    mean, log_std = torch.randn(6, 3, generator=g), 0.3 * torch.randn(6, 3, generator=g)
    q = torch.distributions.Normal(mean, log_std.exp())
    ref = torch.distributions.kl_divergence(q, torch.distributions.Normal(0.0, 1.0)).sum(-1)
    torch.testing.assert_close(vae.kl_to_standard_normal(mean, log_std), ref, atol=1e-6, rtol=1e-6)
    S1 = torch.tensor([[1.0, 0.3], [0.3, 0.5]], dtype=torch.float64)
    S2 = torch.tensor([[2.0, -0.2], [-0.2, 1.0]], dtype=torch.float64)
    m1, m2 = torch.tensor([0.5, 1.0], dtype=torch.float64), torch.tensor([-1.0, 0.2], dtype=torch.float64)
    ref = torch.distributions.kl_divergence(torch.distributions.MultivariateNormal(m1, S1),
                                            torch.distributions.MultivariateNormal(m2, S2))
    torch.testing.assert_close(vae.gaussian_kl(m1, S1, m2, S2), ref, atol=1e-12, rtol=0)
    x = torch.randn(4, 3, generator=g)
    ref = torch.distributions.Normal(mean[:4], log_std[:4].exp()).log_prob(x).sum(-1)
    torch.testing.assert_close(vae.diagonal_gaussian_log_prob(x, mean[:4], log_std[:4]), ref, atol=1e-5, rtol=1e-5)


def test_vae_bounds_are_ordered_and_seeded():
    torch.manual_seed(0)
    model = vae.VAE(2, 2, 16)
    x = densities.eight_gaussians().sample(200, torch.Generator().manual_seed(3)).float()
    g = torch.Generator().manual_seed(4)
    with torch.no_grad():
        elbo = model.elbo(x, g).mean()
        iw1 = model.iw_log_likelihood(x, 1, torch.Generator().manual_seed(5)).mean()
        iw = model.iw_log_likelihood(x, 256, torch.Generator().manual_seed(5)).mean()
    assert float(iw) > float(elbo) and float(iw) > float(iw1)
    a = model.sample(7, torch.Generator().manual_seed(6))
    assert torch.equal(a, model.sample(7, torch.Generator().manual_seed(6))) and a.shape == (7, 2)
    assert model.aggregated_posterior_sample(x, g).shape == (200, 2)


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="sigma"):
        vae.LinearGaussianModel(torch.ones(2, 1), torch.zeros(2), 0.0)
    with pytest.raises(ValueError, match="W must be"):
        vae.LinearGaussianModel(torch.ones(2, 1), torch.zeros(3), 1.0)
    with pytest.raises(ValueError, match="latent_dim"):
        vae.VAE(latent_dim=0)


def test_aggregated_posterior_log_prob_is_the_mixture_of_encodings():
    g = torch.Generator().manual_seed(7)
    z = 2 * torch.randn(50, 2, dtype=torch.float64, generator=g)
    mean = torch.randn(30, 2, dtype=torch.float64, generator=g)
    log_std = 0.5 * torch.randn(30, 2, dtype=torch.float64, generator=g) - 1.0
    direct = vae.diagonal_gaussian_log_prob(z[:, None, :], mean[None], log_std[None])  # (50, 30)
    expected = torch.logsumexp(direct, 1) - math.log(30)
    assert torch.allclose(vae.aggregated_posterior_log_prob(z, mean, log_std), expected,
                          rtol=0, atol=1e-10)
    # one encoding: the Gaussian density itself; and it integrates to 1 on a grid
    one = vae.aggregated_posterior_log_prob(z, mean[:1], log_std[:1])
    assert torch.allclose(one, vae.diagonal_gaussian_log_prob(z, mean[:1], log_std[:1]))
    grid = quadrature.Grid(-9.0, 9.0, 360)
    total = grid.evaluate(lambda p: vae.aggregated_posterior_log_prob(p, mean, log_std))
    assert abs(float(quadrature.log_partition(total, grid))) < 1e-6
    with pytest.raises(ValueError, match="log_std"):
        vae.aggregated_posterior_log_prob(z, mean, log_std[:, :1])
    with pytest.raises(ValueError, match="mean"):
        vae.aggregated_posterior_log_prob(z, mean[:, :1], log_std[:, :1])
