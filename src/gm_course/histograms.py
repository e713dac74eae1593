"""Density by counting: histograms, marginals and conditionals (chapter 1).

The counting view of a density. Put ``N`` samples into bins of width Δx (and Δy); if
``n(x, y)`` points land in the bin around (x, y), then

    p(x, y) ≈ n(x, y) / (N Δx Δy)          joint
    p(x)    ≈ n(x) / (N Δx)                marginal, n(x) = Σ_y n(x, y)
    p(y|x)  ≈ n(x, y) / (n(x) Δy)          conditional = joint / marginal

``N`` is always the number of *all* samples, including those outside the histogram's
range: mass that falls outside is lost, honestly, and the table then integrates to the
in-range fraction instead of 1.

Tables follow the convention of :mod:`gm_course.quadrature`: index ``[i, j]`` is x-bin i and
y-bin j (``indexing="ij"``), so ``table[:, j]`` runs along x.

Bins are half-open ``[e_k, e_{k+1})`` except the last one, which also holds its right edge
(as in ``numpy.histogram``). Edges are computed as ``lo + k (hi - lo) / bins``, the same
arithmetic as ``numpy.linspace``, so counts agree with numpy bin for bin.
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch

from ._validate import as_points, as_tensor, as_vector, check_finite, interval, positive, positive_int

__all__ = [
    "bin_edges",
    "bin_centers",
    "histogram_1d",
    "histogram_2d",
    "marginal",
    "conditional",
    "histogram_error",
]


def bin_edges(bins: int, range: tuple[float, float], dtype=torch.float64, device=None) -> torch.Tensor:
    """Equal-width bin edges ``(bins + 1,)`` over ``range = (lo, hi)``: e_k = lo + k (hi - lo) / bins."""
    bins = positive_int(bins, "bins")
    lo, hi = interval(range, "range")
    step = (hi - lo) / bins
    edges = lo + torch.arange(bins + 1, dtype=dtype, device=device) * step
    edges[-1] = hi  # exact right edge, as numpy.linspace does
    return edges


def bin_centers(edges: torch.Tensor) -> torch.Tensor:
    """Midpoints ``(B,)`` of the bins given by increasing ``edges`` ``(B + 1,)``."""
    edges = _check_edges(edges, "edges")
    return 0.5 * (edges[1:] + edges[:-1])


def _check_edges(edges, name: str) -> torch.Tensor:
    edges = as_vector(edges, name, min_len=2)
    if not bool((edges[1:] > edges[:-1]).all()):
        raise ValueError(f"{name} must be strictly increasing")
    return edges


def _bin_index(values: torch.Tensor, edges: torch.Tensor) -> torch.Tensor:
    """Bin index of each value (-1 where outside [edges[0], edges[-1]]); shape of ``values``."""
    values = values.contiguous()  # a column slice such as xy[:, 0] is strided
    idx = torch.bucketize(values, edges, right=True) - 1  # edges[k] <= v < edges[k+1] -> k
    nbins = edges.numel() - 1
    idx = torch.where(values == edges[-1], torch.full_like(idx, nbins - 1), idx)  # last bin is closed
    return torch.where((idx >= 0) & (idx < nbins), idx, torch.full_like(idx, -1))


def histogram_1d(x: torch.Tensor, bins: int, range: tuple[float, float]) -> tuple[torch.Tensor, torch.Tensor]:
    """Histogram density estimate in 1-D:  p̂_k = n_k / (N Δx).

    Used in chapter 1.

    Args:
        x: samples, shape (N,) (an (N, 1) column is accepted too).
        bins: number of equal-width bins, >= 1.
        range: ``(lo, hi)`` with lo < hi. Points outside still count in N.

    Returns:
        ``(density, edges)`` with shapes (bins,) and (bins + 1,), in the dtype and on the
        device of ``x``. ``(density * Δx).sum()`` is the fraction of points inside the range.
    """
    x = as_tensor(x, "x")
    if x.ndim == 2 and x.shape[1] == 1:
        x = x[:, 0]
    x = as_vector(x, "x")
    edges = bin_edges(bins, range, dtype=x.dtype, device=x.device)
    nbins = edges.numel() - 1
    idx = _bin_index(x, edges)
    counts = torch.bincount(idx[idx >= 0], minlength=nbins).to(x.dtype)  # (bins,)
    widths = edges[1:] - edges[:-1]
    return counts / (x.shape[0] * widths), edges


def histogram_2d(
    xy: torch.Tensor,
    bins: int | tuple[int, int],
    range: tuple[tuple[float, float], tuple[float, float]],
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Histogram density estimate in 2-D:  p̂_ij = n_ij / (N Δx Δy).

    Used in chapter 1 (the reference for the ``joint_histogram`` exercise).

    Args:
        xy: samples, shape (N, 2).
        bins: bins per axis, an int or a pair ``(bx, by)``.
        range: ``((xlo, xhi), (ylo, yhi))``. Points outside still count in N.

    Returns:
        ``(density, x_edges, y_edges)`` with shapes (bx, by), (bx + 1,), (by + 1,);
        ``density[i, j]`` belongs to x-bin i and y-bin j. Equals
        ``numpy.histogram2d(x, y, bins, range)[0] / (N Δx Δy)``.
    """
    xy = as_points(xy, dim=2, name="xy")
    if isinstance(bins, Sequence) and not isinstance(bins, str):
        if len(bins) != 2:
            raise ValueError(f"bins must be an int or a pair (bx, by), got {bins!r}")
        bx, by = positive_int(bins[0], "bins[0]"), positive_int(bins[1], "bins[1]")
    else:
        bx = by = positive_int(bins, "bins")
    try:
        xrange, yrange = range
    except (TypeError, ValueError) as err:
        raise ValueError(f"range must be ((xlo, xhi), (ylo, yhi)), got {range!r}") from err
    x_edges = bin_edges(bx, interval(xrange, "range[0]"), dtype=xy.dtype, device=xy.device)
    y_edges = bin_edges(by, interval(yrange, "range[1]"), dtype=xy.dtype, device=xy.device)
    ix = _bin_index(xy[:, 0].contiguous(), x_edges)
    iy = _bin_index(xy[:, 1].contiguous(), y_edges)
    inside = (ix >= 0) & (iy >= 0)
    flat = ix[inside] * by + iy[inside]  # row-major index of bin (i, j)
    counts = torch.bincount(flat, minlength=bx * by).reshape(bx, by).to(xy.dtype)
    area = (x_edges[1:] - x_edges[:-1])[:, None] * (y_edges[1:] - y_edges[:-1])[None, :]  # (bx, by)
    return counts / (xy.shape[0] * area), x_edges, y_edges


def _check_table(joint, name: str = "joint") -> torch.Tensor:
    joint = as_tensor(joint, name)
    if joint.ndim != 2:
        raise ValueError(f"{name} must have shape (bx, by), got a {joint.ndim}-D tensor of shape {tuple(joint.shape)}")
    return check_finite(joint, name)


def marginal(joint: torch.Tensor, dy: float, axis: int = 1) -> torch.Tensor:
    """Marginal of a 2-D density table by the sum rule:  p(x_i) = Σ_j p(x_i, y_j) Δy.

    Args:
        joint: density table (bx, by), index [i, j] = (x-bin i, y-bin j).
        dy: spacing of the axis that is summed out (Δy for ``axis=1``, Δx for ``axis=0``).
        axis: 1 sums out y and returns p(x) of shape (bx,); 0 sums out x and returns
            p(y) of shape (by,).

    For a histogram this is exactly the 1-D histogram of that coordinate, n(x) / (N Δx).
    """
    joint = _check_table(joint)
    dy = positive(dy, "dy")
    if axis not in (0, 1):
        raise ValueError(f"axis must be 0 (sum out x) or 1 (sum out y), got {axis!r}")
    return joint.sum(dim=axis) * dy


def conditional(joint: torch.Tensor, dy: float) -> torch.Tensor:
    """Conditional density table p(y_j | x_i) = p(x_i, y_j) / p(x_i), with p(x_i) = Σ_j p(x_i, y_j) Δy.

    Used in chapter 1 (the reference for the ``conditional_density`` exercise). For a
    histogram this is n(x, y) / (n(x) Δy): each row with data integrates to one,
    ``(cond[i] * dy).sum() == 1``.

    Rows where p(x_i) = 0 (no data in that x-bin) have no defined conditional; they are
    set to 0 everywhere (so such a row integrates to 0, not 1).

    Args:
        joint: density table (bx, by), index [i, j] = (x-bin i, y-bin j), non-negative.
        dy: the y spacing Δy. To condition on y instead, pass ``joint.T`` and Δx.

    Returns:
        Table (bx, by) whose row i is the density of y given x in bin i.
    """
    joint = _check_table(joint)
    if bool((joint < 0).any()):
        raise ValueError("joint must be a non-negative density table")
    px = marginal(joint, dy, axis=1)  # (bx,)
    safe = torch.where(px > 0, px, torch.ones_like(px))
    return torch.where(px[:, None] > 0, joint / safe[:, None], torch.zeros_like(joint))


def _sub_points(edges: torch.Tensor, subdivisions: int) -> torch.Tensor:
    """Midpoints of ``subdivisions`` equal sub-cells of every bin: (B, s)."""
    frac = (torch.arange(subdivisions, dtype=edges.dtype, device=edges.device) + 0.5) / subdivisions
    return edges[:-1, None] + (edges[1:] - edges[:-1])[:, None] * frac[None, :]


def histogram_error(
    density: torch.Tensor,
    exact_fn: Callable[[torch.Tensor], torch.Tensor],
    *edges: torch.Tensor,
    subdivisions: int = 8,
    target: str = "density",
) -> torch.Tensor:
    """L1 error of a histogram density table against a known density, over the binned box.

    Used in chapter 1 for the "error vs n" plot.

    With ``target="density"`` (default) it estimates the integrated absolute error

        E = ∫_box |p̂(x) - p(x)| dx = Σ_bins ∫_bin |p̂_b - p(x)| dx,

    each bin integral by the midpoint rule on ``subdivisions`` sub-points per axis. It has
    two parts: sampling noise, which shrinks like sqrt(bins / N), and the binning bias of a
    piecewise-constant p̂, which does not shrink with N at fixed bins (about Δx times the
    average |p'| / 4). So at fixed bins the curve flattens; let bins grow with N
    (e.g. N^(1/3) in 1-D) to see it keep falling.

    With ``target="bin_mass"`` it compares each bin with the exact bin average
    p̄_b = P(bin) / |bin| instead: Σ_b |p̂_b - p̄_b| |bin|. This is the pure sampling error
    (it goes to 0 as N grows at fixed bins, ≈ sqrt(2 bins / (π N)) when bins are many).

    Mass outside the box is not counted; choose the range to cover the density's support.

    Args:
        density: histogram table, (B,) in 1-D or (bx, by) in 2-D.
        exact_fn: the exact density (not its log), points (M, D) -> values (M,), with D = 1
            or 2 matching the table, e.g. ``lambda x: mix.log_prob(x).exp()``.
        *edges: the bin edges of each axis, (B + 1,) each, as returned by the histogram.
        subdivisions: sub-points per bin and axis (>= 1).
        target: ``"density"`` or ``"bin_mass"``.

    Returns:
        A 0-d tensor, the error in probability units (between 0 and 2 when both integrate
        to at most 1).
    """
    density = check_finite(as_tensor(density, "density"), "density")
    if density.ndim not in (1, 2):
        raise ValueError(f"density must be a 1-D (B,) or 2-D (bx, by) table, got shape {tuple(density.shape)}")
    if len(edges) != density.ndim:
        raise ValueError(f"pass one edges tensor per axis of density: expected {density.ndim}, got {len(edges)}")
    edges = tuple(_check_edges(e, f"edges[{k}]").to(density.dtype) for k, e in enumerate(edges))
    for k, e in enumerate(edges):
        if e.numel() - 1 != density.shape[k]:
            raise ValueError(f"edges[{k}] must have {density.shape[k] + 1} entries for density of shape "
                             f"{tuple(density.shape)}, got {e.numel()}")
    s = positive_int(subdivisions, "subdivisions")
    if target not in ("density", "bin_mass"):
        raise ValueError(f"target must be 'density' or 'bin_mass', got {target!r}")

    subs = [_sub_points(e, s) for e in edges]  # each (B_k, s)
    if density.ndim == 1:
        pts = subs[0].reshape(-1, 1)  # (B s, 1)
        shape = (density.shape[0], s)
        dens = density[:, None]  # (B, 1)
        vol = edges[0][1:] - edges[0][:-1]  # (B,)
        reduce_dims = (1,)
    else:
        gx, gy = torch.meshgrid(subs[0].reshape(-1), subs[1].reshape(-1), indexing="ij")
        pts = torch.stack([gx.reshape(-1), gy.reshape(-1)], dim=1)  # (bx s by s, 2)
        shape = (density.shape[0], s, density.shape[1], s)
        dens = density[:, None, :, None]  # (bx, 1, by, 1)
        vol = (edges[0][1:] - edges[0][:-1])[:, None] * (edges[1][1:] - edges[1][:-1])[None, :]
        reduce_dims = (1, 3)

    values = torch.as_tensor(exact_fn(pts))
    if values.numel() != pts.shape[0]:
        raise ValueError(f"exact_fn must map points (M, {density.ndim}) to values (M,), "
                         f"got output shape {tuple(values.shape)} for M = {pts.shape[0]}")
    values = check_finite(values.reshape(shape).to(density.dtype), "exact_fn output")

    if target == "density":
        per_bin = (dens - values).abs().mean(dim=reduce_dims)  # average |p̂ - p| over each bin
    else:
        per_bin = (density - values.mean(dim=reduce_dims)).abs()  # |p̂_b - p̄_b|
    return (per_bin * vol).sum()
