"""Tests for gm_course.plots: every function returns labelled axes, images are oriented right."""

import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from gm_course import histograms as H  # noqa: E402
from gm_course import plots as P  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def grid_table(fn, lo=-3.0, hi=3.0, n=60):
    """fn on the cell midpoints of [lo, hi]², table[i, j] at (x_i, y_j)."""
    c = lo + (torch.arange(n, dtype=torch.float64) + 0.5) * (hi - lo) / n
    gx, gy = torch.meshgrid(c, c, indexing="ij")
    return fn(gx, gy)


def right_blob(gx, gy):
    """log-density concentrated at x = 2, y = 0."""
    return -((gx - 2.0) ** 2 + gy**2) / (2 * 0.3**2)


def assert_labelled(ax):
    assert isinstance(ax, matplotlib.axes.Axes)
    assert ax.get_xlabel() and ax.get_ylabel()


def brightest_pixel(ax, image):
    """(fraction from the left, fraction from the bottom) of the most yellow rendered pixel."""
    fig = ax.figure
    fig.canvas.draw()
    rgb = np.asarray(fig.canvas.buffer_rgba())[..., :3].astype(float)
    box = image.get_window_extent()  # pixel box of the drawn image (origin bottom-left)
    h = rgb.shape[0]
    crop = rgb[int(h - box.y1) + 1:int(h - box.y0) - 1, int(box.x0) + 1:int(box.x1) - 1]
    yellow = crop[..., 0] + crop[..., 1] - crop[..., 2]  # viridis' top colour is yellow
    row, col = np.unravel_index(np.argmax(yellow), yellow.shape)  # row counts from the top
    return col / crop.shape[1], 1 - row / crop.shape[0]


def test_density_image_orientation_x_is_horizontal():
    table = grid_table(right_blob)  # (60, 60), x first; mass at x = 2, y = 0
    _, ax = plt.subplots()
    out = P.density_image(table, -3.0, 3.0, ax=ax, from_log=True)
    assert out is ax
    assert_labelled(ax)
    image = ax.get_images()[0]
    arr = np.asarray(image.get_array())
    assert image.get_extent() == [-3.0, 3.0, -3.0, 3.0] and image.origin == "lower"
    row, col = np.unravel_index(np.argmax(arr), arr.shape)
    assert col == 49 and row in (29, 30)  # columns run along x (x = 2 is cell 49 of 60), rows along y
    fx, fy = brightest_pixel(ax, image)  # what the reader sees
    assert fx > 0.75 and 0.4 < fy < 0.6  # on the right, vertically centred


def test_density_image_orientation_y_points_up():
    table = grid_table(lambda gx, gy: right_blob(gy, -gx))  # mass at x = 0, y = 2
    ax = P.density_image(table, -3.0, 3.0, from_log=True)
    fx, fy = brightest_pixel(ax, ax.get_images()[0])
    assert 0.4 < fx < 0.6 and fy > 0.75  # at the top, horizontally centred


def test_density_image_non_square_and_masked_log():
    table = torch.zeros(4, 6)
    table[0, 0] = -math.inf
    ax = P.density_image(table, (0.0, 0.0), (2.0, 3.0), colorbar=True, label="log p")
    image = ax.get_images()[0]
    assert image.get_array().shape == (6, 4)  # transposed: rows are y
    assert image.get_array().mask[0, 0]
    assert_labelled(ax)


def test_contour():
    table = grid_table(right_blob)
    ax = P.contour(table, -3.0, 3.0, from_log=True, levels=4)
    assert_labelled(ax)
    paths = [p for c in ax.collections for p in c.get_paths() if len(p.vertices)]
    assert paths
    centre = np.concatenate([p.vertices for p in paths]).mean(0)
    assert centre[0] > 1.5 and abs(centre[1]) < 0.3  # the rings surround (2, 0)


def test_scatter_samples():
    x = torch.randn(100, 2, generator=torch.Generator().manual_seed(0))
    ax = P.scatter_samples(x, label="data")
    assert_labelled(ax)
    offsets = ax.collections[0].get_offsets()
    np.testing.assert_allclose(np.asarray(offsets), x.numpy(), rtol=1e-6)


def test_histogram_vs_exact():
    x = torch.randn(1000, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    density, edges = H.histogram_1d(x, 20, (-4.0, 4.0))
    pdf = lambda pts: torch.exp(-0.5 * pts[:, 0] ** 2) / math.sqrt(2 * math.pi)
    ax = P.histogram_vs_exact(density, edges, pdf)
    assert_labelled(ax)
    line = ax.get_lines()[0]
    assert np.max(line.get_ydata()) == pytest.approx(1 / math.sqrt(2 * math.pi), rel=1e-3)


def test_error_vs_n():
    ns = [100, 1000, 10000]
    ax = P.error_vs_n(ns, [0.3, 0.1, 0.03], reference_slope=-0.5, floor=0.01, label="L1")
    assert_labelled(ax)
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    guide = ax.get_lines()[1].get_ydata()
    np.testing.assert_allclose(guide, 0.3 * (np.array(ns) / 100) ** -0.5)


def test_colors_palette():
    assert {"data", "model", "exact"} <= set(P.COLORS)
    assert all(matplotlib.colors.is_color_like(c) for c in P.COLORS.values())


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: P.density_image(torch.zeros(3), -1, 1), "2-D table"),
        (lambda: P.density_image(torch.full((2, 2), float("nan")), -1, 1), "NaN"),
        (lambda: P.density_image(torch.zeros(2, 2), 1, 1), "grid_lo must be below grid_hi"),
        (lambda: P.contour(torch.zeros(2, 2, 2), -1, 1), "2-D table"),
        (lambda: P.scatter_samples(torch.zeros(5, 3)), r"x must have shape \(N, 2\)"),
        (lambda: P.histogram_vs_exact(torch.zeros(3), torch.zeros(3), lambda p: p[:, 0]), r"edges \(B \+ 1,\)"),
        (lambda: P.error_vs_n([1, 2], [0.1]), "equal length"),
        (lambda: P.error_vs_n([1, 2], [0.1, 0.0]), "positive"),
    ],
)
def test_value_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()
