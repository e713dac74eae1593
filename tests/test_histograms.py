"""Oracle tests for gm_course.histograms (chapter 1: density by counting)."""

import math

import numpy as np
import pytest
import torch

from gm_course import histograms as H


def normal_pdf(x):
    """Standard normal density, points (M, 1) -> (M,)."""
    return torch.exp(-0.5 * x[:, 0] ** 2) / math.sqrt(2 * math.pi)


def product_pdf(xy):
    """p(x, y) = N(x; 0, 1) · Uniform(y; 0, 2): points (M, 2) -> (M,)."""
    inside = (xy[:, 1] >= 0) & (xy[:, 1] <= 2)
    return normal_pdf(xy[:, :1]) * inside.to(xy.dtype) / 2


def test_histogram_1d_integrates_to_in_range_fraction():
    x = torch.randn(5000, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    density, edges = H.histogram_1d(x, bins=30, range=(-1.0, 2.0))
    assert density.shape == (30,) and edges.shape == (31,)
    inside = ((x >= -1) & (x <= 2)).double().mean()
    mass = (density * (edges[1:] - edges[:-1])).sum()
    assert torch.allclose(mass, inside, atol=1e-12)
    assert mass < 0.99  # the mass outside the range is lost, not renormalised


def test_histogram_1d_matches_numpy_and_accepts_column():
    x = torch.randn(3000, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    density, edges = H.histogram_1d(x[:, None], bins=17, range=(-2.5, 2.0))
    counts, np_edges = np.histogram(x.numpy(), bins=17, range=(-2.5, 2.0))
    np.testing.assert_array_equal(edges.numpy(), np_edges)
    np.testing.assert_allclose(density.numpy(), counts / (3000 * np.diff(np_edges)), rtol=1e-13)


def test_histogram_1d_right_edge_is_in_last_bin_and_float32_kept():
    x = torch.tensor([0.0, 0.5, 1.0, 1.5, -0.1], dtype=torch.float32)
    density, edges = H.histogram_1d(x, bins=2, range=(0.0, 1.0))
    assert density.dtype == torch.float32
    # bins [0, .5) and [.5, 1]; N = 5 counts the points outside too; Δx = 0.5
    assert torch.equal(density, torch.tensor([1 / 2.5, 2 / 2.5]))


def test_histogram_2d_equals_numpy_including_outside_points():
    g = torch.Generator().manual_seed(2)
    xy = 1.5 * torch.randn(4000, 2, generator=g, dtype=torch.float64)
    rng = ((-2.0, 3.0), (-1.0, 1.5))
    density, xe, ye = H.histogram_2d(xy, bins=(12, 7), range=rng)
    counts, nxe, nye = np.histogram2d(xy[:, 0].numpy(), xy[:, 1].numpy(), bins=(12, 7), range=rng)
    assert density.shape == (12, 7)
    np.testing.assert_array_equal(xe.numpy(), nxe)
    np.testing.assert_array_equal(ye.numpy(), nye)
    area = np.diff(nxe)[:, None] * np.diff(nye)[None, :]
    np.testing.assert_allclose(density.numpy(), counts / (4000 * area), rtol=1e-13)
    assert counts.sum() < 4000  # some points were outside, and they still count in N


def test_histogram_2d_index_order_is_x_then_y():
    xy = torch.tensor([[0.9, 0.1]], dtype=torch.float64)  # right, bottom
    density, _, _ = H.histogram_2d(xy, bins=2, range=((0, 1), (0, 1)))
    assert density[1, 0] == 4.0 and density.sum() == 4.0  # 1 / (1 · 0.5 · 0.5)


def test_marginal_and_conditional_of_product_density():
    # exact table of N(x) · U(y; 0, 2) at cell midpoints
    xe = H.bin_edges(200, (-6.0, 6.0))
    ye = H.bin_edges(40, (0.0, 2.0))
    xc, yc = H.bin_centers(xe), H.bin_centers(ye)
    gx, gy = torch.meshgrid(xc, yc, indexing="ij")
    joint = product_pdf(torch.stack([gx.reshape(-1), gy.reshape(-1)], 1)).reshape(200, 40)
    dx, dy = 12 / 200, 2 / 40
    px = H.marginal(joint, dy, axis=1)
    assert torch.allclose(px, normal_pdf(xc[:, None]), atol=1e-12)
    py = H.marginal(joint, dx, axis=0)
    assert torch.allclose(py, torch.full((40,), 0.5, dtype=torch.float64), atol=1e-6)
    cond = H.conditional(joint, dy)
    assert torch.allclose(cond, torch.full_like(cond, 0.5), atol=1e-12)  # p(y|x) = U(y; 0, 2)


def test_conditional_zero_rows_and_counting_formula():
    g = torch.Generator().manual_seed(3)
    xy = torch.rand(500, 2, generator=g, dtype=torch.float64)
    density, xe, ye = H.histogram_2d(xy, bins=(4, 5), range=((0, 2), (0, 1)))  # x-bins 2, 3 empty
    dy = 0.2
    cond = H.conditional(density, dy)
    counts, _, _ = np.histogram2d(xy[:, 0].numpy(), xy[:, 1].numpy(), bins=(4, 5), range=((0, 2), (0, 1)))
    n_x = counts.sum(1, keepdims=True)
    expected = np.divide(counts, n_x * dy, out=np.zeros_like(counts), where=n_x > 0)  # n(x,y)/(n(x) Δy)
    np.testing.assert_allclose(cond.numpy(), expected, rtol=1e-12)
    assert torch.all(cond[2:] == 0)
    assert torch.allclose((cond[:2] * dy).sum(1), torch.ones(2, dtype=torch.float64))


def test_bin_centers():
    assert torch.equal(H.bin_centers(torch.tensor([0.0, 1.0, 3.0])), torch.tensor([0.5, 2.0]))


def test_histogram_error_shrinks_with_n_for_gaussian():
    g = torch.Generator().manual_seed(4)
    errors, mass_errors = [], []
    for n in (100, 1000, 10000, 100000):
        x = torch.randn(n, generator=g, dtype=torch.float64)
        bins = int(round(2 * n ** (1 / 3)))  # bins grow with n so the bias shrinks too
        density, edges = H.histogram_1d(x, bins, (-5.0, 5.0))
        errors.append(float(H.histogram_error(density, normal_pdf, edges)))
        d20, e20 = H.histogram_1d(x, 20, (-5.0, 5.0))
        mass_errors.append(float(H.histogram_error(d20, normal_pdf, e20, target="bin_mass")))
    assert all(a > b for a, b in zip(errors, errors[1:])), errors
    assert errors[-1] < 0.05 < errors[0]
    assert all(a > b for a, b in zip(mass_errors, mass_errors[1:])), mass_errors
    assert mass_errors[-1] < 0.02


def test_histogram_error_exact_table_and_bias_floor():
    # the exact bin averages have zero bin-mass error and a small, non-zero binning bias
    edges = H.bin_edges(10, (0.0, 1.0))
    linear = lambda x: 2 * x[:, 0]  # p(x) = 2x on [0, 1]
    density = 2 * H.bin_centers(edges)  # exact bin averages of a linear density
    assert float(H.histogram_error(density, linear, edges, target="bin_mass")) < 1e-12
    bias = float(H.histogram_error(density, linear, edges, subdivisions=64))
    assert bias == pytest.approx(10 * 2 * (0.1 / 4) * 0.1, rel=1e-3)  # ∫_bin |2(x - c)| = Δ²/2 per bin


def test_histogram_error_2d_matches_exact_table():
    edges_x = H.bin_edges(30, (-5.0, 5.0))
    edges_y = H.bin_edges(10, (0.0, 2.0))
    g = torch.Generator().manual_seed(5)
    xy = torch.stack([torch.randn(20000, generator=g, dtype=torch.float64),
                      2 * torch.rand(20000, generator=g, dtype=torch.float64)], 1)
    density, xe, ye = H.histogram_2d(xy, (30, 10), ((-5.0, 5.0), (0.0, 2.0)))
    err = float(H.histogram_error(density, product_pdf, xe, ye))
    assert 0.02 < err < 0.2
    assert torch.equal(xe, edges_x) and torch.equal(ye, edges_y)


def test_repeatable():
    a = torch.randn(1000, 2, generator=torch.Generator().manual_seed(7))
    b = torch.randn(1000, 2, generator=torch.Generator().manual_seed(7))
    assert torch.equal(H.histogram_2d(a, 9, ((-3, 3), (-3, 3)))[0], H.histogram_2d(b, 9, ((-3, 3), (-3, 3)))[0])


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: H.histogram_1d(torch.zeros(3, 2), 5, (0, 1)), r"x must have shape \(N,\)"),
        (lambda: H.histogram_1d(torch.zeros(0), 5, (0, 1)), "at least 1"),
        (lambda: H.histogram_1d(torch.zeros(3), 0, (0, 1)), "bins must be a positive integer"),
        (lambda: H.histogram_1d(torch.zeros(3), 2.5, (0, 1)), "bins must be a positive integer"),
        (lambda: H.histogram_1d(torch.zeros(3), 5, (1, 1)), "lo < hi"),
        (lambda: H.histogram_1d(torch.zeros(3), 5, (0, float("inf"))), "finite bounds"),
        (lambda: H.histogram_1d(torch.tensor([0.0, float("nan")]), 5, (0, 1)), "x must contain only finite"),
        (lambda: H.histogram_2d(torch.zeros(3), 5, ((0, 1), (0, 1))), r"xy must have shape \(N, 2\)"),
        (lambda: H.histogram_2d(torch.zeros(3, 3), 5, ((0, 1), (0, 1))), "last dimension 3"),
        (lambda: H.histogram_2d(torch.zeros(3, 2), (5, -1), ((0, 1), (0, 1))), r"bins\[1\]"),
        (lambda: H.histogram_2d(torch.zeros(3, 2), (5, 5, 5), ((0, 1), (0, 1))), "pair"),
        (lambda: H.histogram_2d(torch.zeros(3, 2), 5, ((0, 1), (2, 1))), r"range\[1\] must satisfy lo < hi"),
        (lambda: H.histogram_2d(torch.zeros(3, 2), 5, (0, 1)), "range"),
        (lambda: H.histogram_2d(torch.tensor([[0.0, float("inf")]]), 5, ((0, 1), (0, 1))), "xy must contain only finite"),
        (lambda: H.marginal(torch.ones(3), 0.1), r"joint must have shape \(bx, by\)"),
        (lambda: H.marginal(torch.ones(3, 3), 0.0), "dy must be a finite number > 0"),
        (lambda: H.marginal(torch.ones(3, 3), 0.1, axis=2), "axis must be 0"),
        (lambda: H.conditional(-torch.ones(3, 3), 0.1), "non-negative"),
        (lambda: H.conditional(torch.full((2, 2), float("nan")), 0.1), "joint must contain only finite"),
        (lambda: H.bin_centers(torch.tensor([1.0, 0.0])), "strictly increasing"),
        (lambda: H.histogram_error(torch.ones(3), normal_pdf, H.bin_edges(4, (0, 1))), "must have 4 entries"),
        (lambda: H.histogram_error(torch.ones(3), normal_pdf), "one edges tensor per axis"),
        (lambda: H.histogram_error(torch.ones(3), normal_pdf, H.bin_edges(3, (0, 1)), target="x"), "target"),
        (lambda: H.histogram_error(torch.ones(3), normal_pdf, torch.tensor([0.0, 0.5, 0.5, 1.0])),
         "strictly increasing"),
        (lambda: H.histogram_error(torch.ones(3), lambda x: torch.ones(2), H.bin_edges(3, (0, 1))),
         "exact_fn must map"),
    ],
)
def test_value_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()
