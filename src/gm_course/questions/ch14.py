"""Checks for chapter 14, the golf course (``14_golf_course``).

References are written here with numpy in float64 (not with :mod:`gm_course.metrics` or
:mod:`gm_course.gaussian_chain`). The input cases expose the usual slips:

- golf_scores: shares of the holes taken over all balls instead of the holed ones; the
  total variation without its ½; a hole counted as covered with a single ball; squared
  distances compared with the radius; a hard-coded dimension 2 or equal weights;
- chain_log_joint: the chain run forwards (x_{t_n} predicted from x_{t_{n−1}}); the prior
  term missing or taken at x_0; the step coefficients shifted by one step; a variance
  used as a standard deviation.
"""

from __future__ import annotations

import numpy as np

from ..grading import CheckFailed, Question
from . import expect
from .expect import Case, float64

CHAPTER = "14_golf_course"


# --- 1. the scorecard -----------------------------------------------------------------------

def _scores_reference(samples, holes, weights, radius) -> np.ndarray:
    x, mu, w = samples.numpy(), holes.numpy(), weights.numpy()
    d = np.sqrt(((x[:, None, :] - mu[None, :, :]) ** 2).sum(-1))  # (N, K)
    nearest = d.argmin(1)
    holed = d[np.arange(len(x)), nearest] <= radius
    counts = np.bincount(nearest[holed], minlength=len(mu)).astype(float)
    freq = counts / counts.sum()
    return np.array([holed.mean(), float((freq >= 0.25 * w).sum()), 0.5 * np.abs(freq - w).sum()])


def _score_cases() -> list[Case]:
    rng = expect.local_rng(1401)
    angles = np.arange(8) * np.pi / 4
    ring = 2 * np.sqrt(2) * np.stack([np.cos(angles), np.sin(angles)], 1)
    sd = 1 / (2 * np.sqrt(2))
    # a model with a tilted weight profile, and a fifth of the balls in the rough
    k = rng.choice(8, size=400, p=np.array([3, 3, 2, 2, 1, 1, 1, 3]) / 16)
    x1 = np.concatenate([ring[k] + sd * rng.standard_normal((400, 2)), rng.uniform(-4, 4, (100, 2))])
    # three unequal holes, one starved (below a quarter of its share) and one empty
    holes2 = np.array([[0.0, 0.0], [3.0, 0.0], [0.0, 3.0], [-3.0, -3.0]])
    w2 = np.array([0.4, 0.3, 0.2, 0.1])
    k2 = rng.choice(3, size=300, p=[0.75, 0.23, 0.02])
    x2 = np.concatenate([holes2[k2] + 0.3 * rng.standard_normal((300, 2)), rng.uniform(-6, 6, (300, 2))])
    # three dimensions, two holes
    holes3 = np.array([[1.0, 0.0, -1.0], [-1.0, 2.0, 0.5]])
    k3 = rng.choice(2, size=60, p=[0.5, 0.5])
    x3 = holes3[k3] + 0.6 * rng.standard_normal((60, 3))
    return [
        Case((float64(x1), float64(ring), float64(np.full(8, 1 / 8)), 3 * sd),
             "the 8-Gaussian ring, 500 balls, tilted weights, a fifth of them in the rough"),
        Case((float64(x2), float64(holes2), float64(w2), 0.9),
             "4 holes with weights 0.4, 0.3, 0.2, 0.1: one starved, one empty, half the balls far away"),
        Case((float64(x3), float64(holes3), float64([0.5, 0.5]), 1.0),
             "60 balls in 3 dimensions, 2 holes, radius 1"),
    ]


def check_golf_scores(fn) -> None:
    """(precision, holes covered, mode-weight error) of the balls, as a tensor (3,)."""
    for k, case in enumerate(_score_cases(), start=1):
        expected = _scores_reference(*case.args)
        got = expect.tensor(expect.call(fn, case, k), case.label(k), (3,))
        names = ("precision", "holes covered", "mode-weight error")
        for j, name in enumerate(names):
            if abs(float(got[j]) - expected[j]) > 1e-9:
                raise CheckFailed(f"{case.label(k)}: {name} should be {expected[j]:.6g}, got {float(got[j]):.6g}")


# --- 2. the reverse chain's log-density, as an autoregressive product ----------------------

def _chain_reference(path, prior_mean, prior_var, a, b, step_var) -> np.ndarray:
    x, a, b, v = path.numpy(), a.numpy(), b.numpy(), step_var.numpy()
    n = len(a)
    total = -0.5 * (x[:, n] - prior_mean) ** 2 / prior_var - 0.5 * np.log(2 * np.pi * prior_var)
    for step in range(n, 0, -1):  # x_{t_{step-1}} given x_{t_step}
        mean = a[step - 1] * x[:, step] + b[step - 1]
        total = total - 0.5 * (x[:, step - 1] - mean) ** 2 / v[step - 1] - 0.5 * np.log(2 * np.pi * v[step - 1])
    return total


def _chain_cases() -> list[Case]:
    rng = expect.local_rng(1402)
    return [
        Case((float64(rng.normal(size=(7, 6))), 0.5, 2.0, float64(rng.uniform(0.5, 1.0, 5)),
              float64(rng.normal(0, 0.3, 5)), float64(rng.uniform(0.05, 0.4, 5))),
             "7 paths of 6 states (N = 5 steps), varied coefficients"),
        Case((float64(rng.normal(size=(3, 2))), -1.0, 0.7, float64([0.6]), float64([0.2]), float64([0.3])),
             "3 paths of 2 states (N = 1: a one-stroke chain)"),
        Case((float64(rng.normal(1.0, 2.0, size=(1, 9))), 1.0, 4.25, float64(np.linspace(0.95, 0.5, 8)),
              float64(np.linspace(0.02, 0.3, 8)), float64(np.linspace(0.5, 0.01, 8))),
             "1 path of 9 states, variances from 0.5 down to 0.01"),
    ]


def check_chain_log_joint(fn) -> None:
    """log N(x_T; m, V) + Σ_n log N(x_{t_{n−1}}; a_n x_{t_n} + b_n, w_n), one value per path."""
    expect.check_cases(fn, _chain_cases(), _chain_reference, rtol=1e-9, atol=1e-9)


QUESTIONS = {
    "golf_scores": Question(
        2, check_golf_scores,
        "precision, holes covered and mode-weight error of samples, given the modes, their weights and a radius",
    ),
    "chain_log_joint": Question(
        2, check_chain_log_joint,
        "log p(x_0, ..., x_T) of a reverse Gaussian chain as the product of its one-step conditionals",
    ),
}
