"""Checks for chapter 6, tempering and annealing (``06_tempering_and_annealing``).

References are written in numpy (float64), independently of :mod:`gm_course.samplers`. Input
cases are built to expose the usual slips:

- tempered_log_prob: D = 1, 2 and 3 (the −(D/2) log 2π of the normalised q and a sum over the
  right axis), β = 0 (q alone), β = 1 and a β in between (β on f only, not on log q; no
  (1 − β) on q);
- swap_accept_prob: pairs where the hotter chain holds the higher f (probability 1) and the
  reverse (a probability < 1), so the sign of the exponent, the min with 1 and a
  probability-versus-log-probability slip all show; tensors with broadcasting and β given as
  floats.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..grading import Question
from . import expect
from .expect import Case

CHAPTER = "06_tempering_and_annealing"


def _f_np(x: np.ndarray) -> np.ndarray:
    return np.sin(2 * x).sum(1) + np.log1p((x**2).sum(1)) * 1.5 + x[:, 0]


def demo_f(x: torch.Tensor) -> torch.Tensor:
    """The checks' f: sin(2x) summed + 1.5 log(1 + |x|²) + x₁, ``(N, D) -> (N,)``."""
    return torch.sin(2 * x).sum(1) + torch.log1p((x**2).sum(1)) * 1.5 + x[:, 0]


# ----------------------------------------------------------------------------- tempered_log_prob

def _tempered_cases() -> list[Case]:
    rng = expect.local_rng(601)
    t = lambda a, dtype=torch.float64: torch.tensor(a, dtype=dtype)
    return [
        Case((t(rng.normal(0, 1.5, (7, 2))), 0.4, demo_f), "7 points in 2-D, beta = 0.4"),
        Case((t(rng.normal(0, 1.5, (5, 1))), 0.0, demo_f), "5 points in 1-D, beta = 0 (q alone)"),
        Case((t(rng.normal(0, 1.5, (4, 3))), 1.0, demo_f), "4 points in 3-D, beta = 1"),
        Case((t(rng.normal(0, 1.5, (6, 2)), torch.float32), 0.75, demo_f), "6 float32 points in 2-D, beta = 0.75"),
    ]


def check_tempered_log_prob(fn) -> None:
    """log(exp(β f(x)) q(x)) = β f(x) − |x|²/2 − (D/2) log 2π."""
    def reference(x, beta, _):
        xs = x.double().numpy()
        return beta * _f_np(xs) - 0.5 * (xs**2).sum(1) - 0.5 * xs.shape[1] * math.log(2 * math.pi)

    expect.check_cases(fn, _tempered_cases(), reference, rtol=1e-10, atol=1e-5, rtol_float32=1e-5)


# ----------------------------------------------------------------------------- swap_accept_prob

def _swap_cases() -> list[Case]:
    rng = expect.local_rng(602)
    t = lambda a: torch.tensor(a, dtype=torch.float64)
    return [
        Case((t([1.0, 3.0]), t([3.0, 1.0]), t([0.2, 0.2]), t([0.6, 0.6])),
             "beta_i < beta_j; pair 1: f_i < f_j, pair 2: f_i > f_j"),
        Case((t(rng.normal(0, 3, 8)), t(rng.normal(0, 3, 8)), t(rng.uniform(0, 0.5, 8)), t(rng.uniform(0.5, 1, 8))),
             "8 random pairs, tensors of shape (8,)"),
        Case((t(rng.normal(0, 2, (3, 1))), t(rng.normal(0, 2, (1, 4))), 0.3, 1.0),
             "f_i (3, 1) against f_j (1, 4), beta_i = 0.3 and beta_j = 1.0 as floats"),
        Case((t([5.0]), t([5.0]), t([0.1]), t([0.9])), "equal f: probability 1"),
    ]


def check_swap_accept_prob(fn) -> None:
    """min{1, exp((β_i − β_j)(f_j − f_i))}, elementwise with broadcasting."""
    def reference(*args):
        f_i, f_j, b_i, b_j = (np.asarray(a, dtype=np.float64) if not isinstance(a, torch.Tensor)
                              else a.double().numpy() for a in args)
        return np.minimum(1.0, np.exp((b_i - b_j) * (f_j - f_i)))

    expect.check_cases(fn, _swap_cases(), reference, rtol=1e-8, atol=1e-10)


QUESTIONS = {
    "tempered_log_prob": Question(
        2, check_tempered_log_prob,
        "log of exp(beta f(x)) q(x) with q = N(0, I) normalised, for points (N, D) -> (N,)",
    ),
    "swap_accept_prob": Question(
        2, check_swap_accept_prob,
        "replica-exchange acceptance min{1, exp((beta_i - beta_j)(f_j - f_i))}, elementwise",
    ),
}
