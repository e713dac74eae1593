"""Checks for chapter 1, density by counting (``01_density_by_counting``).

Reference answers come from numpy (``numpy.histogram2d``) and plain numpy arithmetic, not
from :mod:`gm_course.histograms`, so a bug in the package cannot hide the same bug in a
learner's answer. Input cases are built to expose the usual slips:

- non-square bins and ranges of different widths: swapped axes, Δx used for Δy;
- points outside the box: normalising by the number of points inside instead of all n;
- a tiny data set: off-by-one counts show as large relative errors;
- empty rows in the joint table: 0/0 must give 0, not NaN;
- Δy ≠ 1: forgetting Δy in the marginal p(x) = Σ_j p(x, y_j) Δy.

The hidden checks (run by the batch grader only) use the same references on other inputs:
other seeds and sizes, float64 data, a box holding every point, tables of one row.
"""

from __future__ import annotations

import numpy as np
import torch

from ..grading import Question
from . import expect
from .expect import Case

CHAPTER = "01_density_by_counting"


def _avoid_edges(x: np.ndarray, lo: float, hi: float, bins: int) -> np.ndarray:
    """Mask of points not within 1e-3 bin widths of a bin edge (where float32 binning may
    legitimately disagree with numpy's float64 edges)."""
    u = (x - lo) / ((hi - lo) / bins)
    return np.abs(u - np.round(u)) > 1e-3


def _histogram_case(x, y, bins_x, bins_y, x_range, y_range, description, dtype=np.float32) -> Case:
    x = np.asarray(x, dtype=dtype)
    y = np.asarray(y, dtype=dtype)
    x64, y64 = x.astype(np.float64), y.astype(np.float64)
    keep = _avoid_edges(x64, *x_range, bins_x) & _avoid_edges(y64, *y_range, bins_y)
    return Case(
        (torch.from_numpy(x[keep]), torch.from_numpy(y[keep]), bins_x, bins_y, x_range, y_range),
        description,
    )


def _histogram_cases() -> list[Case]:
    rng = expect.local_rng(101)
    cases = []
    # Correlated Gaussian cloud, non-square bins, a y-range off-centre: some points fall outside.
    z = rng.standard_normal((600, 2))
    x, y = 1.2 * z[:, 0], 0.8 * z[:, 0] + 0.9 * z[:, 1] + 0.5
    cases.append(_histogram_case(x, y, 20, 30, (-3.0, 3.0), (-2.0, 4.0),
                                 "600 points, 20 x-bins, 30 y-bins, x in [-3, 3), y in [-2, 4)"))
    # Wide data in a small box: most points are outside, and Δx = 0.5 differs from Δy = 1/6.
    x, y = 2.0 * rng.standard_normal(1000), rng.uniform(-0.5, 1.0, 1000)
    cases.append(_histogram_case(x, y, 5, 3, (-1.0, 1.5), (0.0, 0.5),
                                 "1000 points, most outside the box [-1, 1.5) x [0, 0.5), 5 x 3 bins"))
    # Three points, one outside the box.
    cases.append(_histogram_case([0.25, 0.7, 5.0], [0.1, 0.8, 0.3], 2, 4, (0.0, 1.0), (0.0, 1.0),
                                 "3 points x=[0.25, 0.7, 5.0], y=[0.1, 0.8, 0.3], 2 x 4 bins on [0, 1)^2"))
    # Negative ranges and a single x-bin.
    x, y = rng.uniform(-4.0, 0.0, 250), rng.normal(-6.0, 3.0, 250)
    cases.append(_histogram_case(x, y, 1, 8, (-4.0, -1.0), (-10.0, -2.0),
                                 "250 points, 1 x-bin on [-4, -1), 8 y-bins on [-10, -2)"))
    return cases


def _hidden_histogram_cases() -> list[Case]:
    rng = expect.local_rng(1101)
    x, y = rng.normal(0.3, 1.5, 450), rng.gamma(2.0, 1.0, 450)
    cases = [_histogram_case(x, y, 7, 11, (-2.5, 3.5), (0.0, 5.5),
                             "450 float64 points, 7 x 11 bins", dtype=np.float64)]
    x, y = rng.uniform(10.0, 12.0, 40), rng.uniform(-1.0, 1.0, 40)
    cases.append(_histogram_case(x, y, 4, 2, (10.0, 12.0), (-1.0, 1.0),
                                 "40 points, all inside the box [10, 12) x [-1, 1), 4 x 2 bins"))
    return cases


def _check_joint_histogram(fn, cases: list[Case]) -> None:
    def reference(x, y, bins_x, bins_y, x_range, y_range):
        counts, _, _ = np.histogram2d(x.double().numpy(), y.double().numpy(),
                                      bins=[bins_x, bins_y], range=[x_range, y_range])
        dx = (x_range[1] - x_range[0]) / bins_x
        dy = (y_range[1] - y_range[0]) / bins_y
        return counts / (len(x) * dx * dy)

    expect.check_cases(fn, cases, reference, rtol=1e-4, atol=1e-6)


def check_joint_histogram(fn) -> None:
    """p(x, y) ≈ n(x, y) / (n Δx Δy), n counting all points; entry [i, j] = x-bin i, y-bin j."""
    _check_joint_histogram(fn, _histogram_cases())


def check_joint_histogram_hidden(fn) -> None:
    """The same estimate on inputs the notebook never shows."""
    _check_joint_histogram(fn, _hidden_histogram_cases())


def _conditional_cases() -> list[Case]:
    rng = expect.local_rng(102)
    cases = []
    joint = rng.gamma(2.0, 1.0, (6, 9))
    cases.append(Case((torch.tensor(joint, dtype=torch.float32), 0.25),
                      "a positive 6 x 9 table, dy = 0.25"))
    joint = rng.poisson(3.0, (5, 7)).astype(np.float64) / 40.0
    joint[[0, 3]] = 0.0  # two x-bins where no point fell: p(x) = 0 there
    cases.append(Case((torch.tensor(joint, dtype=torch.float32), 0.5),
                      "a 5 x 7 table whose rows 0 and 3 are all zero, dy = 0.5"))
    joint = rng.uniform(0.0, 1.0, (3, 2))
    cases.append(Case((torch.tensor(joint, dtype=torch.float64), 2.0),
                      "a 3 x 2 float64 table, dy = 2.0"))
    joint = np.zeros((4, 4))
    joint[1, 2] = 0.8
    joint[2] = [0.1, 0.2, 0.3, 0.4]
    cases.append(Case((torch.tensor(joint, dtype=torch.float32), 0.1),
                      "a sparse 4 x 4 table with one non-zero entry in row 1, dy = 0.1"))
    return cases


def _hidden_conditional_cases() -> list[Case]:
    rng = expect.local_rng(1102)
    joint = rng.exponential(1.0, (7, 3))
    joint[4] = 0.0
    cases = [Case((torch.tensor(joint, dtype=torch.float64), 0.05),
                  "a 7 x 3 float64 table whose row 4 is zero, dy = 0.05")]
    cases.append(Case((torch.tensor(rng.uniform(0.1, 2.0, (1, 5)), dtype=torch.float32), 3.0),
                      "a single-row 1 x 5 table, dy = 3.0"))
    return cases


def _check_conditional_density(fn, cases: list[Case]) -> None:
    def reference(joint, dy):
        table = joint.double().numpy()
        p_x = table.sum(axis=1, keepdims=True) * dy
        return np.divide(table, p_x, out=np.zeros_like(table), where=p_x > 0)

    expect.check_cases(fn, cases, reference, rtol=1e-4, atol=1e-6)


def check_conditional_density(fn) -> None:
    """p(y | x) = p(x, y) / p(x), p(x) = Σ_j p(x, y_j) Δy; rows with p(x) = 0 give 0."""
    _check_conditional_density(fn, _conditional_cases())


def check_conditional_density_hidden(fn) -> None:
    """The same conditional on inputs the notebook never shows."""
    _check_conditional_density(fn, _hidden_conditional_cases())


QUESTIONS = {
    "joint_histogram": Question(
        2, check_joint_histogram,
        "joint density by counting: n(x, y) / (n Δx Δy), all n points in the denominator",
        hidden=(check_joint_histogram_hidden,),
    ),
    "conditional_density": Question(
        2, check_conditional_density,
        "conditional density p(y | x) = p(x, y) / Σ_j p(x, y_j) Δy, rows with p(x) = 0 give 0",
        hidden=(check_conditional_density_hidden,),
    ),
}
