"""Grid quadrature against closed forms: Gaussian log Z, entropy and KL."""

import math

import pytest
import torch

from gm_course import quadrature as Q


def gaussian_log_f(mean, std):
    mean = torch.as_tensor(mean, dtype=torch.float64)
    return lambda x: -0.5 * ((x - mean) ** 2).sum(1) / std**2


def test_log_partition_of_an_unnormalised_gaussian():
    grid = Q.Grid(-6, 6, 300)
    log_f = grid.evaluate(gaussian_log_f([0.5, -0.3], 0.7))
    exact = math.log(2 * math.pi * 0.7**2)
    assert abs(Q.log_partition(log_f, grid).item() - exact) < 1e-10


def test_entropy_and_kl_of_gaussians_match_closed_forms():
    grid = Q.Grid(-11, 11, 500)
    log_p = Q.normalize(grid.evaluate(gaussian_log_f([0.0, 0.0], 1.0)), grid)
    log_q = Q.normalize(grid.evaluate(gaussian_log_f([1.0, 0.0], 1.5)), grid)
    assert abs(Q.entropy(log_p, grid).item() - (1 + math.log(2 * math.pi))) < 1e-9
    # KL(N(0, I) || N(m, s^2 I)) in 2-D = 2 log s + (2 + |m|^2) / (2 s^2) - 1
    exact = 2 * math.log(1.5) + (2 + 1.0) / (2 * 1.5**2) - 1
    assert abs(Q.kl_divergence(log_p, log_q, grid).item() - exact) < 1e-9


def test_expectation_of_moments_in_1d():
    grid = Q.Grid(-15, 17, 2000, dim=1)
    log_p = Q.grid_log_prob(gaussian_log_f([1.0], 2.0), grid)
    x = grid.axis()
    assert abs(Q.expectation(log_p, x, grid).item() - 1.0) < 1e-9
    assert abs(Q.expectation(log_p, (x - 1) ** 2, grid).item() - 4.0) < 1e-6
    vec = Q.expectation(log_p, torch.stack([x, x**2], dim=1), grid)
    assert vec.shape == (2,)


def test_kl_is_infinite_when_q_misses_mass():
    grid = Q.Grid(-1, 1, 4, dim=1)
    log_p = torch.log(torch.full((4,), 0.5, dtype=torch.float64))
    log_q = torch.tensor([math.log(1.0), math.log(1.0), -math.inf, -math.inf], dtype=torch.float64)
    assert Q.kl_divergence(log_p, log_q, grid).item() == math.inf
    assert Q.kl_divergence(log_q, log_p, grid).item() == pytest.approx(math.log(2))


def test_grid_points_use_ij_indexing():
    grid = Q.Grid(0, 1, 3)
    table = grid.evaluate(lambda x: x[:, 0] + 10 * x[:, 1])
    assert table[2, 0] > table[0, 0] and table[0, 2] > table[2, 0]  # first index is x


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: Q.Grid(1, 1, 10), "lo must be smaller than hi"),
        (lambda: Q.Grid(0, math.inf, 10), "hi must be a finite number"),
        (lambda: Q.Grid(0, 1, 0), "n must be a positive integer"),
        (lambda: Q.Grid(0, 1, 10, dim=3), "dim must be 1 or 2"),
        (lambda: Q.log_partition(torch.zeros(5, 5), Q.Grid(0, 1, 4)), r"grid's shape \(4, 4\)"),
        (lambda: Q.entropy(torch.full((4, 4), math.nan), Q.Grid(0, 1, 4)), "NaN"),
        (lambda: Q.Grid(0, 1, 4).evaluate(lambda x: x), r"fn must map"),
        (lambda: Q.expectation(torch.zeros(4, 4), torch.zeros(3), Q.Grid(0, 1, 4)), "values must start"),
    ],
)
def test_bad_input_raises_clear_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()
