"""Oracle tests of the exact toy densities: scores, normalisation, samplers, seeding, errors."""

import math

import pytest
import scipy.stats
import torch

from gm_course import densities as D
from gm_course import quadrature as Q

GRID = Q.Grid(-5.5, 5.5, 400)


def smooth_targets():
    return {
        "ring": D.eight_gaussians(),
        "banana": D.Banana(),
        "mixture2d": D.GaussianMixture([0.2, 0.5, 0.3], [[-2.0, 0.0], [1.0, 1.5], [1.5, -2.0]], [0.4, 0.7, 0.5]),
        "noised_ring": D.eight_gaussians().noised(0.8),
        "gaussian": D.Gaussian([0.5, -0.5], [[1.0, 0.6], [0.6, 0.8]]),
    }


def autograd_score(density, x):
    x = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(density.log_prob(x).sum(), x)
    return grad


@pytest.mark.parametrize("name", list(smooth_targets()))
def test_score_equals_autograd_of_log_prob(name):
    density = smooth_targets()[name]
    x = 3 * torch.randn(200, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    torch.testing.assert_close(density.score(x), autograd_score(density, x), rtol=1e-9, atol=1e-10)


def test_1d_mixture_score_and_normalisation():
    mix = D.gaussian_mixture_1d([0.3, 0.7], [-2.0, 1.0], [0.5, 1.0])
    x = torch.linspace(-6, 6, 101, dtype=torch.float64)[:, None]
    torch.testing.assert_close(mix.score(x), autograd_score(mix, x))
    grid = Q.Grid(-10, 10, 4000, dim=1)
    assert abs(Q.log_partition(grid.evaluate(mix.log_prob), grid).item()) < 1e-8


@pytest.mark.parametrize("name", list(smooth_targets()) + ["checkerboard"])
def test_density_integrates_to_one_on_the_grid(name):
    density = D.Checkerboard() if name == "checkerboard" else smooth_targets()[name]
    grid = Q.Grid(-9, 9, 600) if name == "noised_ring" else GRID  # noise widens the ring
    log_z = Q.log_partition(grid.evaluate(density.log_prob), grid).item()
    # the checkerboard's edges do not fall on cell boundaries of this grid: coarser tolerance
    assert abs(log_z) < (2e-2 if name == "checkerboard" else 1e-4)


def test_known_entropies():
    ring = GRID.evaluate(D.eight_gaussians().log_prob)
    assert abs(Q.entropy(ring, GRID).item() - 2.831) < 2e-3
    banana = D.Banana()
    assert abs(Q.entropy(GRID.evaluate(banana.log_prob), GRID).item() - banana.entropy()) < 1e-3
    assert math.isclose(D.Checkerboard().entropy(), math.log(32))
    board_grid = Q.Grid(-4, 4, 400)  # cell edges on the board's edges: exact
    assert abs(Q.entropy(board_grid.evaluate(D.Checkerboard().log_prob), board_grid).item() - math.log(32)) < 1e-9


@pytest.mark.parametrize("name", list(smooth_targets()) + ["checkerboard"])
def test_samples_match_the_density(name):
    """Chi-square test of sample counts in coarse cells against quadrature of the exact density."""
    density = D.Checkerboard() if name == "checkerboard" else smooth_targets()[name]
    x = density.sample(20000, generator=torch.Generator().manual_seed(7))
    coarse, fine = 10, 40  # 10x10 cells, each integrated on a 40x40 sub-grid
    grid = Q.Grid(-5.5, 5.5, coarse * fine)
    p = torch.exp(grid.evaluate(density.log_prob)) * grid.cell_volume
    expected = p.reshape(coarse, fine, coarse, fine).sum(dim=(1, 3)).reshape(-1)
    x = x[(x.abs() < 5.5).all(dim=1)]  # the test compares counts inside the box only
    idx = ((x + 5.5) / 11 * coarse).floor().long()
    observed = torch.bincount(idx[:, 0] * coarse + idx[:, 1], minlength=coarse * coarse).double()
    keep = expected * len(x) > 5
    exp_counts = expected[keep] / expected[keep].sum() * observed[keep].sum()
    pvalue = scipy.stats.chisquare(observed[keep].numpy(), exp_counts.numpy()).pvalue
    assert pvalue > 1e-3, f"{name}: samples disagree with the density (p = {pvalue:.2g})"


def test_gaussian_matches_torch_distributions():
    g = D.Gaussian([0.5, -0.5], [[1.0, 0.6], [0.6, 0.8]])
    ref = torch.distributions.MultivariateNormal(g.mean, g.cov)
    x = torch.randn(50, 2, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    torch.testing.assert_close(g.log_prob(x), ref.log_prob(x))
    assert math.isclose(g.entropy(), ref.entropy().item(), rel_tol=1e-12)


def test_noised_mixture_matches_adding_noise():
    ring = D.eight_gaussians()
    g = torch.Generator().manual_seed(3)
    x0 = ring.sample(50000, g)
    xt = x0 + 0.9 * torch.randn(x0.shape, generator=g, dtype=torch.float64)
    noised = ring.noised(0.9)
    torch.testing.assert_close(xt.mean(0), noised.mean(), atol=0.03, rtol=0)
    torch.testing.assert_close(torch.cov(xt.T), noised.covariance(), atol=0.06, rtol=0)
    assert torch.allclose(noised.stds**2, ring.stds**2 + 0.81)


def test_seeded_sampling_repeats_exactly():
    for density in list(smooth_targets().values()) + [D.Checkerboard()]:
        a = density.sample(100, torch.Generator().manual_seed(5))
        b = density.sample(100, torch.Generator().manual_seed(5))
        assert torch.equal(a, b)


def test_parameters_follow_the_input_dtype():
    ring = D.eight_gaussians()
    x = torch.zeros(3, 2, dtype=torch.float32)
    assert ring.log_prob(x).dtype == torch.float32
    assert ring.score(x).dtype == torch.float32


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: D.eight_gaussians().log_prob(torch.zeros(5, 3)), r"x must have shape \(N, 2\)"),
        (lambda: D.eight_gaussians().score(torch.zeros(5)), r"x must have shape"),
        (lambda: D.Banana().log_prob(torch.tensor([[0.0, math.nan]])), "finite"),
        (lambda: D.eight_gaussians().sample(0), "n must be a positive integer"),
        (lambda: D.eight_gaussians().sample(2.5), "n must be a positive integer"),
        (lambda: D.eight_gaussians().noised(-1.0), "sigma"),
        (lambda: D.GaussianMixture([1.0], [0.0, 1.0], [1.0]), r"means must have shape \(K, D\)"),
        (lambda: D.GaussianMixture([0.5, 0.5], [[0.0], [1.0]], [1.0]), "must have shape"),
        (lambda: D.GaussianMixture([1.0], [[0.0]], [0.0]), "stds must be positive"),
        (lambda: D.GaussianMixture([-1.0, 2.0], [[0.0], [1.0]], [1.0, 1.0]), "non-negative"),
        (lambda: D.gaussian_mixture_1d([1.0], [[0.0]], [1.0]), "1-D"),
        (lambda: D.eight_gaussians(radius=0), "radius"),
        (lambda: D.Banana(c=-1), "c must be"),
        (lambda: D.Checkerboard().score(torch.zeros(2, 2)), "no score|score is zero"),
        (lambda: D.Gaussian([0.0, 0.0], [[1.0, 2.0], [2.0, 1.0]]), "positive definite"),
        (lambda: D.Gaussian([0.0, 0.0], [[1.0, 0.5], [0.0, 1.0]]), "symmetric"),
        (lambda: D.Gaussian([0.0, 0.0], [1.0, 1.0]), r"cov \(D, D\)"),
    ],
)
def test_bad_input_raises_clear_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_softmax_rows_equals_torch_softmax_even_far_out():
    g = torch.Generator().manual_seed(3)
    for k in (1, 2, 8):
        a = torch.randn(500, k, generator=g, dtype=torch.float64) * 30
        a[:5] += torch.tensor([-1e4, 1e4, 0.0, -800.0, 800.0])[:, None]  # exp would overflow
        r = D.softmax_rows(a)
        torch.testing.assert_close(r, torch.softmax(a, dim=1), rtol=0, atol=1e-15)
        assert torch.isfinite(r).all()
    ring = D.eight_gaussians()
    far = torch.tensor([[1e3, 0.0], [0.0, -1e3]], dtype=torch.float64)  # every density underflows
    r = ring.responsibilities(far)
    assert torch.isfinite(r).all() and torch.allclose(r.sum(1), torch.ones(2, dtype=torch.float64))
