"""Exact classifier-free guidance on a class-labelled mixture (chapter 16)."""

import math

import pytest
import torch

from gm_course import guidance as g
from gm_course.densities import GaussianMixture
from gm_course.diffusion import mixture_score_fn
from gm_course.quadrature import Grid, expectation, normalize

DELTA = 1.0


@pytest.fixture
def labelled():
    mix = GaussianMixture(torch.tensor([0.3, 0.2, 0.25, 0.25]),
                          torch.tensor([[-2.0, 0.0], [0.0, 2.0], [2.0, 0.0], [0.0, -2.0]]),
                          torch.tensor([0.5, 0.6, 0.5, 0.4]))
    return mix, torch.tensor([0, 0, 1, 1])


def _points(n=64, seed=0):
    return 3 * torch.randn(n, 2, generator=torch.Generator().manual_seed(seed),
                           dtype=torch.float64)


def test_small_t_guided_score_is_the_tilted_density_score(labelled):
    mix, lab = labelled
    x = _points()
    for w in (0.0, 1.0, 3.0, -0.5):
        s = g.guided_score_fn(mix, lab, 1, w, DELTA)(x, 1e-10)
        log_f = g.tilted_log_prob(mix, lab, 1, w)
        h = 1e-5
        fd = torch.stack([(log_f(x + h * e) - log_f(x - h * e)) / (2 * h)
                          for e in torch.eye(2, dtype=torch.float64)], dim=1)
        assert torch.allclose(s, fd, atol=1e-6, rtol=1e-6), w


def test_w0_is_unconditional_and_w1_conditional(labelled):
    mix, lab = labelled
    x, t = _points(), 0.7
    cond = g.conditional_mixture(mix, lab, 0)
    assert torch.allclose(g.guided_score_fn(mix, lab, 0, 0.0, DELTA)(x, t),
                          mixture_score_fn(mix, DELTA)(x, t))
    assert torch.allclose(g.guided_score_fn(mix, lab, 0, 1.0, DELTA)(x, t),
                          cond.noised(math.sqrt(t)).score(x))


def test_guided_score_is_uncond_plus_w_classifier_gradient(labelled):
    mix, lab = labelled
    x, t, w = _points().requires_grad_(True), 0.4, 2.5
    logp_c = torch.log(g.class_posterior(mix, lab, x, t, DELTA)[:, 1]).sum()
    (grad,) = torch.autograd.grad(logp_c, x)
    x = x.detach()
    expected = mixture_score_fn(mix, DELTA)(x, t) + w * grad
    assert torch.allclose(g.guided_score_fn(mix, lab, 1, w, DELTA)(x, t), expected,
                          atol=1e-10)


def test_class_posterior_and_prior(labelled):
    mix, lab = labelled
    post = g.class_posterior(mix, lab, _points(), 0.3, DELTA)
    assert post.shape == (64, 2)
    assert torch.allclose(post.sum(1), torch.ones(64, dtype=torch.float64))
    assert torch.allclose(g.class_prior(mix, lab), torch.tensor([0.5, 0.5],
                                                                dtype=torch.float64))
    # at large t the noised classes overlap and the posterior tends to the prior
    far = g.class_posterior(mix, lab, torch.zeros(1, 2, dtype=torch.float64),
                              1e4, DELTA)
    assert torch.allclose(far, torch.tensor([[0.5, 0.5]], dtype=torch.float64), atol=1e-3)


def test_sample_grid_matches_quadrature_mean(labelled):
    mix, lab = labelled
    grid = Grid(-6.0, 6.0, 200)
    log_p = normalize(grid.evaluate(g.tilted_log_prob(mix, lab, 1, 3.0)), grid)
    mean = torch.stack([expectation(log_p, grid.points()[:, i].reshape(grid.shape), grid)
                        for i in range(2)])
    x = g.sample_grid(log_p, grid, 40000, torch.Generator().manual_seed(1))
    assert x.shape == (40000, 2)
    # standard error of the mean is < 0.01 here; 5 SE
    assert torch.allclose(x.mean(0), mean, atol=0.05)


def test_validation_messages(labelled):
    mix, lab = labelled
    with pytest.raises(ValueError, match="one per component"):
        g.class_prior(mix, torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="integers"):
        g.class_prior(mix, torch.tensor([0.0, 0.0, 1.0, 1.0]))
    with pytest.raises(ValueError, match="missing"):
        g.class_prior(mix, torch.tensor([0, 0, 2, 2]))
    with pytest.raises(ValueError, match="class c"):
        g.conditional_mixture(mix, lab, 2)
    with pytest.raises(ValueError, match="finite number"):
        g.guided_score_fn(mix, lab, 0, float("nan"), DELTA)
    with pytest.raises(ValueError, match="same shape"):
        g.guided_score(torch.zeros(3, 2), torch.zeros(2, 2), 1.0)
    with pytest.raises(ValueError, match="GaussianMixture"):
        g.check_labels("mix", lab)
    with pytest.raises(ValueError, match="2-D grid"):
        g.sample_grid(torch.zeros(10), Grid(-1.0, 1.0, 10, dim=1), 5)
