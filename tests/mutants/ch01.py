"""Wrong answers to chapter 1's questions; each one must lose its points."""

import numpy as np
import torch

CHAPTER = "01_density_by_counting"


def _hist(x, y, bins_x, bins_y, x_range, y_range):
    counts, _, _ = np.histogram2d(x.double().numpy(), y.double().numpy(),
                                  bins=[bins_x, bins_y], range=[x_range, y_range])
    dx = (x_range[1] - x_range[0]) / bins_x
    dy = (y_range[1] - y_range[0]) / bins_y
    return torch.as_tensor(counts), len(x), dx, dy


def _joint(transform):
    def fn(x, y, bins_x, bins_y, x_range, y_range):
        return transform(*_hist(x, y, bins_x, bins_y, x_range, y_range))
    return fn


def _binned_by_hand_with_wrong_edges(x, y, bins_x, bins_y, x_range, y_range):
    # Treats `bins` as the number of edges: one bin too few, each one too wide.
    dx = (x_range[1] - x_range[0]) / (bins_x - 1) if bins_x > 1 else x_range[1] - x_range[0]
    dy = (y_range[1] - y_range[0]) / (bins_y - 1)
    i = torch.floor((x - x_range[0]) / dx).long()
    j = torch.floor((y - y_range[0]) / dy).long()
    out = torch.zeros(bins_x, bins_y, dtype=torch.float64)
    keep = (i >= 0) & (i < bins_x) & (j >= 0) & (j < bins_y)
    for a, b in zip(i[keep].tolist(), j[keep].tolist()):
        out[a, b] += 1
    return out / (len(x) * dx * dy)


def _safe_rows(joint, dy, denominator):
    return torch.where(denominator > 0, joint / torch.where(denominator > 0, denominator, 1.0), 0.0)


MUTANTS = {
    "joint_histogram": {
        "transposed": _joint(lambda c, n, dx, dy: (c / (n * dx * dy)).T),
        "normalised by the points inside": _joint(lambda c, n, dx, dy: c / (c.sum() * dx * dy)),
        "forgot the cell area": _joint(lambda c, n, dx, dy: c / n),
        "dx squared instead of dx dy": _joint(lambda c, n, dx, dy: c / (n * dx * dx)),
        "N - 1": _joint(lambda c, n, dx, dy: c / ((n - 1) * dx * dy)),
        "raw counts": _joint(lambda c, n, dx, dy: c),
        "y axis flipped": _joint(lambda c, n, dx, dy: (c / (n * dx * dy)).flip(1)),
        "numpy density=True": lambda x, y, bx, by, xr, yr: torch.as_tensor(np.histogram2d(
            x.numpy(), y.numpy(), bins=[bx, by], range=[xr, yr], density=True)[0]),
        "bins taken as edges": _binned_by_hand_with_wrong_edges,
    },
    "conditional_density": {
        "forgot dy": lambda j, dy: _safe_rows(j, dy, j.sum(1, keepdim=True)),
        "NaN in empty rows": lambda j, dy: j / (j.sum(1, keepdim=True) * dy),
        "normalised the columns": lambda j, dy: _safe_rows(j, dy, j.sum(0, keepdim=True) * dy),
        "normalised by the total": lambda j, dy: j / (j.sum() * dy),
        "multiplied by dy": lambda j, dy: _safe_rows(j, dy, j.sum(1, keepdim=True)) * dy,
        "uniform in empty rows": lambda j, dy: torch.where(
            j.sum(1, keepdim=True) > 0, _safe_rows(j, dy, j.sum(1, keepdim=True) * dy),
            1.0 / (j.shape[1] * dy)),
        "transposed": lambda j, dy: _safe_rows(j, dy, j.sum(1, keepdim=True) * dy).T,
    },
}
