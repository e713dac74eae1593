"""Plotting helpers shared by all chapters (matplotlib).

Every function takes ``ax=None`` (meaning the current axes, ``plt.gca()``), draws on it,
sets the axis labels and returns the axes, in the style of seaborn; none calls
``plt.show()``. Inputs may be torch tensors (any device) or numpy arrays; this is the only
module that converts to numpy.

Tables follow :mod:`gm_course.quadrature` and :mod:`gm_course.histograms`: ``table[i, j]``
is the value at x-cell i and y-cell j of a regular grid over the box [lo, hi]², with values
at the cell midpoints (or per histogram bin). ``grid_lo`` and ``grid_hi`` are the outer
edges of that box. Because x is the *first* index, images are drawn from ``table.T``
with ``origin="lower"``: x grows to the right and y grows upwards.

:data:`COLORS` gives every chapter the same colours for the same roles (Okabe-Ito,
readable with colour-blindness).
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch

__all__ = [
    "COLORS",
    "CMAP",
    "density_image",
    "contour",
    "scatter_samples",
    "histogram_vs_exact",
    "error_vs_n",
    "flow_paths",
    "score_field",
]

COLORS: dict[str, str] = {
    "data": "#0072B2",       # blue: samples of the true distribution
    "model": "#D55E00",      # vermillion: samples or densities of a model
    "exact": "#000000",      # black: exact / closed-form curves and contours
    "reference": "#7F7F7F",  # grey: reference slopes, noise floors, guides
    "accent": "#009E73",     # green: a third curve when needed
}
CMAP = "viridis"


def _to_numpy(a: Any, name: str) -> np.ndarray:
    if isinstance(a, torch.Tensor):
        a = a.detach().cpu().numpy()
    try:
        return np.asarray(a, dtype=float)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must be a tensor or array of numbers, got {type(a).__name__}") from err


def _axes(ax):
    if ax is None:
        import matplotlib.pyplot as plt

        ax = plt.gca()
    return ax


def _box(grid_lo, grid_hi) -> tuple[tuple[float, float], tuple[float, float]]:
    """((xlo, xhi), (ylo, yhi)) from scalars (square box) or pairs (lo_x, lo_y), (hi_x, hi_y)."""
    lo = np.broadcast_to(np.asarray(grid_lo, dtype=float), (2,))
    hi = np.broadcast_to(np.asarray(grid_hi, dtype=float), (2,))
    if not (np.isfinite(lo).all() and np.isfinite(hi).all()) or (lo >= hi).any():
        raise ValueError(f"grid_lo must be below grid_hi with finite values, got {grid_lo!r} and {grid_hi!r}")
    return (lo[0], hi[0]), (lo[1], hi[1])


def _table(table, from_log: bool, name: str = "table") -> np.ndarray:
    t = _to_numpy(table, name)
    if t.ndim != 2:
        raise ValueError(f"{name} must be a 2-D table (nx, ny), got shape {t.shape}")
    if np.isnan(t).any():
        raise ValueError(f"{name} contains NaN")
    return np.exp(t) if from_log else t


def density_image(table, grid_lo, grid_hi, ax=None, *, from_log: bool = False, cmap: str = CMAP,
                  colorbar: bool = False, label: str | None = None, **imshow_kwargs):
    """Heat map of a density (or log-density) table on a grid.

    Args:
        table: (nx, ny) values, ``table[i, j]`` at x-cell i, y-cell j (x is the FIRST index).
        grid_lo, grid_hi: outer edges of the box, scalars (square) or pairs (x, y).
        from_log: if True the table holds log p and exp(table) is shown; otherwise the
            table is shown as given (pass log p with ``from_log=False`` to see log p).
            -inf entries (outside a support) are left blank.
        colorbar: add a colour bar labelled ``label``.
        **imshow_kwargs: passed to ``ax.imshow`` (e.g. ``vmin``, ``vmax``).
    """
    ax = _axes(ax)
    t = _table(table, from_log)
    (xlo, xhi), (ylo, yhi) = _box(grid_lo, grid_hi)
    image = np.ma.masked_invalid(t.T)  # rows of the image = y, columns = x
    im = ax.imshow(image, origin="lower", extent=(xlo, xhi, ylo, yhi), cmap=cmap,
                   interpolation=imshow_kwargs.pop("interpolation", "nearest"),
                   aspect=imshow_kwargs.pop("aspect", "equal"), **imshow_kwargs)
    if colorbar:
        ax.figure.colorbar(im, ax=ax, label=label or ("density" if from_log else "value"))
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    return ax


def contour(table, grid_lo, grid_hi, ax=None, *, levels: int | Any = 6, from_log: bool = False,
            color: str = COLORS["exact"], **contour_kwargs):
    """Contour lines of a table on a grid (same conventions as :func:`density_image`).

    ``levels`` is a number of levels or the level values; with ``from_log=True`` the
    contours are of exp(table).
    """
    ax = _axes(ax)
    t = _table(table, from_log)
    (xlo, xhi), (ylo, yhi) = _box(grid_lo, grid_hi)
    nx, ny = t.shape
    xs = xlo + (np.arange(nx) + 0.5) * (xhi - xlo) / nx  # cell midpoints
    ys = ylo + (np.arange(ny) + 0.5) * (yhi - ylo) / ny
    z = np.where(np.isfinite(t), t, np.nanmin(np.where(np.isfinite(t), t, np.nan)))
    ax.contour(xs, ys, z.T, levels=levels, colors=color, **contour_kwargs)
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    return ax


def scatter_samples(x, ax=None, *, color: str = COLORS["data"], size: float = 2.0, alpha: float = 0.4,
                    label: str | None = None, **scatter_kwargs):
    """Scatter plot of 2-D samples ``x`` (N, 2) with equal axis scales."""
    ax = _axes(ax)
    pts = _to_numpy(x, "x")
    if pts.ndim != 2 or pts.shape[1] != 2:
        raise ValueError(f"x must have shape (N, 2), got {pts.shape}")
    ax.scatter(pts[:, 0], pts[:, 1], s=size, alpha=alpha, color=color, label=label, linewidths=0,
               **scatter_kwargs)
    ax.set_aspect("equal")
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    return ax


def histogram_vs_exact(density, edges, exact_fn: Callable[[torch.Tensor], torch.Tensor], ax=None, *,
                       label: str = "histogram", exact_label: str = "exact", n_points: int = 400):
    """A 1-D histogram density (as steps) over the exact density curve.

    Args:
        density: (B,) histogram density; edges: (B + 1,) bin edges.
        exact_fn: the exact density, points (M, 1) -> values (M,) (float64 tensors), the
            same convention as :func:`gm_course.histograms.histogram_error`.
        n_points: points on the exact curve.
    """
    ax = _axes(ax)
    d = _to_numpy(density, "density")
    e = _to_numpy(edges, "edges")
    if d.ndim != 1 or e.ndim != 1 or e.shape[0] != d.shape[0] + 1:
        raise ValueError(f"density must be (B,) and edges (B + 1,), got {d.shape} and {e.shape}")
    grid = torch.linspace(float(e[0]), float(e[-1]), int(n_points), dtype=torch.float64)
    values = _to_numpy(exact_fn(grid[:, None]), "exact_fn output").reshape(-1)
    ax.stairs(d, e, fill=True, alpha=0.35, color=COLORS["data"], label=label)
    ax.plot(grid.numpy(), values, color=COLORS["exact"], lw=1.5, label=exact_label)
    ax.set_xlabel("x")
    ax.set_ylabel("density p(x)")
    ax.legend(frameon=False)
    return ax


def error_vs_n(ns, errors, ax=None, *, reference_slope: float | None = None, floor: float | None = None,
               label: str | None = None, color: str = COLORS["model"], ylabel: str = "error"):
    """Log-log plot of an error against the sample size n.

    Args:
        ns: sample sizes (K,); errors: errors (K,), positive.
        reference_slope: if given, a dashed guide ∝ n^slope through the first point
            (e.g. -0.5 for Monte Carlo noise).
        floor: if given, a dotted horizontal line (e.g. a metric's noise floor).
    """
    ax = _axes(ax)
    n = _to_numpy(ns, "ns").reshape(-1)
    err = _to_numpy(errors, "errors").reshape(-1)
    if n.shape != err.shape or n.size == 0:
        raise ValueError(f"ns and errors must be non-empty and of equal length, got {n.shape} and {err.shape}")
    if (n <= 0).any() or (err <= 0).any():
        raise ValueError("ns and errors must be positive for a log-log plot")
    ax.loglog(n, err, "o-", color=color, label=label)
    if reference_slope is not None:
        guide = err[0] * (n / n[0]) ** float(reference_slope)
        ax.loglog(n, guide, "--", color=COLORS["reference"], label=f"∝ n^{reference_slope:g}")
    if floor is not None:
        ax.axhline(float(floor), ls=":", color=COLORS["reference"], label="noise floor")
    ax.set_xlabel("number of samples n")
    ax.set_ylabel(ylabel)
    if label is not None or reference_slope is not None or floor is not None:
        ax.legend(frameon=False)
    return ax


def score_field(score_fn: Callable[[torch.Tensor], torch.Tensor], lo: float, hi: float, ax=None, *,
                n: int = 15, color: str = COLORS["exact"], normalize: bool = True, **quiver_kwargs):
    """Quiver plot of a 2-D vector field, e.g. a score ∇log p, on an n × n grid over [lo, hi]².

    Args:
        score_fn: points ``(M, 2)`` float64 -> vectors ``(M, 2)`` (chapters 5 and 7).
        n: arrows per side (>= 2).
        normalize: draw unit arrows (the direction only); otherwise the raw vectors, scaled
            by matplotlib.
    """
    ax = _axes(ax)
    if int(n) < 2:
        raise ValueError(f"n must be an integer >= 2, got {n!r}")
    (xlo, xhi), _ = _box(lo, hi)
    u = torch.linspace(xlo, xhi, int(n), dtype=torch.float64)
    gx, gy = torch.meshgrid(u, u, indexing="ij")
    pts = torch.stack([gx.reshape(-1), gy.reshape(-1)], 1)
    v = _to_numpy(score_fn(pts), "score_fn output")
    if v.shape != (pts.shape[0], 2):
        raise ValueError(f"score_fn must return shape ({pts.shape[0]}, 2), got {v.shape}")
    p = pts.numpy()
    if normalize:
        length = np.linalg.norm(v, axis=1, keepdims=True)
        v = v / np.where(length > 0, length, 1.0)
    ax.quiver(p[:, 0], p[:, 1], v[:, 0], v[:, 1], color=color, angles="xy", **quiver_kwargs)
    ax.set_aspect("equal")
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    return ax


def flow_paths(path, ax=None, *, n_paths: int = 60, color: str = COLORS["model"], alpha: float = 0.5,
               lw: float = 0.8):
    """Trajectories of a 2-D flow: ``path`` ``(M + 1, N, 2)`` (time first, e.g. from
    :func:`gm_course.flow_matching.integrate` with ``return_path=True``); the first
    ``n_paths`` points are drawn as lines, with their start (grey) and end (``color``) marked.
    Chapter 15."""
    ax = _axes(ax)
    p = _to_numpy(path, "path")
    if p.ndim != 3 or p.shape[2] != 2 or p.shape[0] < 2:
        raise ValueError(f"path must have shape (M + 1, N, 2) with M >= 1, got {p.shape}")
    if int(n_paths) < 1:
        raise ValueError(f"n_paths must be an integer >= 1, got {n_paths!r}")
    p = p[:, : int(n_paths)]
    ax.plot(p[:, :, 0], p[:, :, 1], color=color, alpha=alpha, lw=lw)
    ax.scatter(p[0, :, 0], p[0, :, 1], s=6, color=COLORS["reference"], zorder=3, linewidths=0)
    ax.scatter(p[-1, :, 0], p[-1, :, 1], s=6, color=color, zorder=3, linewidths=0)
    ax.set_aspect("equal")
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    return ax
