"""Checks for chapter 16, guided generation (``16_guidance``).

Convention: w = 0 is unconditional, w = 1 conditional, w > 1 guided; the classifier-free
combination is (1 − w) ε(x, ∅) + w ε(x, c). The references are plain numpy formulas
written here. Input cases are built to expose the usual slips:

- ``guided_eps``: w = 0, 1 and values outside [0, 1] (including a negative one), so the
  weights swapped, the other convention (1 + w) ε_c − w ε_∅ and a dropped term all show;
- ``class_posterior``: unequal priors and log-likelihoods near −1000, so a forgotten
  prior, a softmax over the points instead of the classes and a naive exp (0 / 0) show;
- ``tilted_log_density``: w = 0, 1, 3 and −1, a cell area ≠ 1 and log-densities near −800,
  so a forgotten cell area, the weights swapped, no normalisation and a naive sum of
  exponentials show.
"""

from __future__ import annotations

import numpy as np

from ..grading import Question
from . import expect
from .expect import Case, float64

CHAPTER = "16_guidance"


def _logsumexp(a, axis):
    top = np.max(a, axis=axis, keepdims=True)
    return top + np.log(np.sum(np.exp(a - top), axis=axis, keepdims=True))


# ----------------------------------------------------------------------------- guided_eps

def _eps_cases(seed: int) -> list[Case]:
    rng = expect.local_rng(seed)
    shapes = [(4, 1, 3, 3), (5, 2), (3, 2), (2, 6)]
    ws = [3.0, 0.0, 1.0, -0.5]
    return [Case((float64(rng.normal(size=s)), float64(rng.normal(size=s)), w),
                 f"shape {s}, w = {w:g}") for s, w in zip(shapes, ws)]


def _eps_reference(eps_uncond, eps_cond, w):
    return (1 - w) * eps_uncond.numpy() + w * eps_cond.numpy()


def check_guided_eps(fn) -> None:
    """(1 − w) ε(x, ∅) + w ε(x, c), any shape."""
    expect.check_cases(fn, _eps_cases(1601), _eps_reference)


def check_guided_eps_hidden(fn) -> None:
    expect.check_cases(fn, _eps_cases(2601), _eps_reference)


# ----------------------------------------------------------------------------- class_posterior

def _posterior_cases(seed: int) -> list[Case]:
    rng = expect.local_rng(seed)
    return [
        Case((float64(rng.normal(-3, 2, (5, 3))), float64([0.5, 0.3, 0.2])),
             "5 points, 3 classes, prior (0.5, 0.3, 0.2)"),
        Case((float64(rng.normal(-1000, 3, (4, 2))), float64([0.9, 0.1])),
             "log-likelihoods near -1000, prior (0.9, 0.1)"),
        Case((float64(rng.normal(0, 1, (1, 4))), float64([0.25, 0.25, 0.25, 0.25])),
             "a single point, 4 classes, uniform prior"),
    ]


def _posterior_reference(log_lik, prior):
    a = log_lik.numpy() + np.log(prior.numpy())[None, :]
    return np.exp(a - _logsumexp(a, axis=1))


def check_class_posterior(fn) -> None:
    """p(c | x) = p(x | c) p(c) / Σ_c' p(x | c') p(c') from log p(x | c) (N, C) and p(c) (C,)."""
    expect.check_cases(fn, _posterior_cases(1602), _posterior_reference)


def check_class_posterior_hidden(fn) -> None:
    expect.check_cases(fn, _posterior_cases(2602)[:2], _posterior_reference)


# ----------------------------------------------------------------------------- tilted_log_density

def _tilt_cases(seed: int) -> list[Case]:
    rng = expect.local_rng(seed)
    return [
        Case((float64(rng.normal(-2, 1, (6, 5))), float64(rng.normal(-2, 1, (6, 5))), 3.0, 0.04),
             "a 6 x 5 grid, w = 3, cell area 0.04"),
        Case((float64(rng.normal(-800, 2, (4, 4))), float64(rng.normal(-800, 2, (4, 4))), 1.0, 0.25),
             "log-densities near -800, w = 1, cell area 0.25"),
        Case((float64(rng.normal(-1, 1, (3, 7))), float64(rng.normal(-1, 1, (3, 7))), 0.0, 1.0),
             "w = 0, cell area 1"),
        Case((float64(rng.normal(-1, 1, (5, 5))), float64(rng.normal(-1, 1, (5, 5))), -1.0, 0.01),
             "w = -1, cell area 0.01"),
    ]


def _tilt_reference(log_p_cond, log_p, w, cell_area):
    a = w * log_p_cond.numpy() + (1 - w) * log_p.numpy()
    return a - _logsumexp(a.reshape(-1), axis=0)[0] - np.log(cell_area)


def check_tilted_log_density(fn) -> None:
    """log q_w on a grid: w log p(x | c) + (1 − w) log p(x), normalised so Σ q_w · area = 1."""
    expect.check_cases(fn, _tilt_cases(1603), _tilt_reference)


def check_tilted_log_density_hidden(fn) -> None:
    expect.check_cases(fn, _tilt_cases(2603)[:3], _tilt_reference)


QUESTIONS = {
    "guided_eps": Question(
        1, check_guided_eps,
        "classifier-free guidance (1 - w) eps(x, null) + w eps(x, c)",
        hidden=(check_guided_eps_hidden,),
    ),
    "class_posterior": Question(
        2, check_class_posterior,
        "the class posterior p(c | x) from log p(x | c) and the prior, by Bayes' rule",
        hidden=(check_class_posterior_hidden,),
    ),
    "tilted_log_density": Question(
        2, check_tilted_log_density,
        "the tilted density p(x | c)^w p(x)^(1 - w), normalised on a grid of cells",
        hidden=(check_tilted_log_density_hidden,),
    ),
}
