"""Checks for chapter 10, the variational view (``10_variational_view``).

Convention: x_t = x_0 + δ√t z. References are plain numpy formulas, checked in the chapter
against Gaussian conditioning and Monte Carlo; they do not call :mod:`gm_course.variational`.
The input cases are built to expose the usual slips:

- ``posterior_mean_var``: δ ≠ 1 and Δt not small, so a variance of 0 (the tutorial's slip), the
  forward-step variance δ²Δt, swapped weights of x_t and x_0 or a missing δ² all show;
- ``step_kl``: D > 1 and a model mean off the posterior mean, so the reverse KL, a missing
  variance-mismatch constant, a mean over coordinates instead of a sum, or the posterior
  variance in the denominator all give other numbers;
- ``reverse_mean_from_eps``: δ ≠ 1 and t ≠ 1, so σ_t² for σ_t, √Δt for Δt or a sign slip show.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..grading import CheckFailed, Question
from . import expect
from .expect import Case

CHAPTER = "10_variational_view"


def _pairs(seed: int) -> list[Case]:
    rng = expect.local_rng(seed)

    def t(*shape):
        return torch.tensor(rng.normal(size=shape))

    return [
        Case((t(4, 2), t(4, 2), 1.0, 0.25, 1.0), "N = 4 points in 2-D, t = 1, dt = 0.25, delta = 1"),
        Case((t(3, 5), t(3, 5), 2.0, 0.5, 1.5), "N = 3 points in 5-D, t = 2, dt = 0.5, delta = 1.5"),
        Case((t(6, 1), t(6, 1), 0.3, 0.01, 0.7), "N = 6 points in 1-D, t = 0.3, dt = 0.01, delta = 0.7"),
    ]


def _posterior(x_t, x_0, t, dt, delta):
    return (t - dt) / t * x_t + dt / t * x_0, delta**2 * dt * (t - dt) / t


def _number(value, where: str) -> float:
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise CheckFailed(f"{where}: the variance is one number for all coordinates, got a tensor of shape "
                              f"{tuple(value.shape)}")
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise CheckFailed(f"{where}: expected the variance as a number, got {type(value).__name__}")
    return float(value)


def check_posterior_mean_var(fn) -> None:
    """mean = ((t−Δt)/t) x_t + (Δt/t) x_0, var = δ²Δt(t−Δt)/t (a number, not 0)."""
    for k, case in enumerate(_pairs(1001), start=1):
        x_t, x_0, t, dt, delta = case.args
        mean, var = _posterior(x_t.numpy(), x_0.numpy(), t, dt, delta)
        where = case.label(k)
        out = expect.call(fn, case, k)
        if not isinstance(out, (tuple, list)) or len(out) != 2:
            raise CheckFailed(f"{where}: expected a pair (mean, var), got {type(out).__name__}")
        got_mean = expect.tensor(out[0], f"{where}, mean", mean.shape)
        expect.close(got_mean, mean, f"{where}, mean", rtol=1e-7, atol=1e-9)
        got_var = _number(out[1], f"{where}, var")
        if got_var == 0:
            raise CheckFailed(f"{where}, var: got 0; x_(t-dt) is not determined by x_t and x_0, "
                              "its conditional variance is positive")
        if not math.isclose(got_var, var, rel_tol=1e-7):
            raise CheckFailed(f"{where}, var: expected {var:.6g}, got {got_var:.6g}")


def _kl_cases() -> list[Case]:
    rng = expect.local_rng(1002)
    cases = []
    for case in _pairs(1003):
        x_t, x_0, t, dt, delta = case.args
        m = torch.tensor(rng.normal(size=tuple(x_t.shape)))
        cases.append(Case((x_t, x_0, m, t, dt, delta), case.description + ", a random model mean"))
    return cases


def check_step_kl(fn) -> None:
    """Σ_d KL(N(μ_d, v) ‖ N(M_d, δ²Δt)) per row, with (μ, v) the posterior of q(x_{t−Δt}|x_t, x_0)."""
    for k, case in enumerate(_kl_cases(), start=1):
        x_t, x_0, m, t, dt, delta = case.args
        mu, v = _posterior(x_t.numpy(), x_0.numpy(), t, dt, delta)
        s2 = delta**2 * dt
        expected = (0.5 * (np.log(s2 / v) + (v + (mu - m.numpy()) ** 2) / s2 - 1.0)).sum(axis=1)
        got = expect.tensor(expect.call(fn, case, k), case.label(k), expected.shape)
        expect.close(got, expected, case.label(k), rtol=1e-6, atol=1e-9)


def _eps_cases() -> list[Case]:
    cases = []
    rng = expect.local_rng(1004)
    for case in _pairs(1005):
        x_t, _, t, dt, delta = case.args
        cases.append(Case((x_t, torch.tensor(rng.normal(size=tuple(x_t.shape))), t, dt, delta),
                          case.description + ", a random noise estimate"))
    return cases


def check_reverse_mean_from_eps(fn) -> None:
    """M = x_t − (δΔt/√t) ε̂ (the posterior mean with x̂_0 = x_t − δ√t ε̂)."""
    def reference(x_t, eps, t, dt, delta):
        return x_t.numpy() - delta * dt / math.sqrt(t) * eps.numpy()

    expect.check_cases(fn, _eps_cases(), reference)


QUESTIONS = {
    "posterior_mean_var": Question(
        2, check_posterior_mean_var,
        "mean and variance of q(x_(t-dt) | x_t, x_0) for x_t = x_0 + delta sqrt(t) z",
    ),
    "step_kl": Question(
        2, check_step_kl,
        "KL(q(x_(t-dt) | x_t, x_0) || N(model_mean, delta^2 dt I)) per row, shape (N,)",
    ),
    "reverse_mean_from_eps": Question(
        1, check_reverse_mean_from_eps,
        "the reverse step's mean M from a noise estimate eps_hat",
    ),
}
