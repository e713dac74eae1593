"""Checks for chapter 15, flow matching (``15_flow_matching``).

Convention: time runs from noise to data, x_t = (1 − t) x_0 + t x_1 with x_0 the noise
and x_1 the data; a velocity is called as ``v(x, t)`` with t a tensor ``(N,)``. The
references are plain numpy formulas written here. Input cases are built to expose the
usual slips:

- ``interpolate``: different t per point and t = 0 and t = 1 among them, so swapping the
  roles of x_0 and x_1, or adding instead of interpolating, shows;
- ``cfm_loss``: a velocity that depends on x and t nonlinearly, D > 1, so the target
  x_0 − x_1 (wrong sign), averaging over coordinates as well as points, evaluating the
  velocity at x_1 or at 1 − t, and a missing square all show;
- ``euler_step``: a velocity that depends on t, Δt ≠ 1 and negative Δt, so the velocity
  taken at t + Δt, a dropped Δt or a wrong sign show.
"""

from __future__ import annotations

import numpy as np
import torch

from ..grading import Question
from . import expect
from .expect import Case, float64

CHAPTER = "15_flow_matching"


def _velocity_a(x, t):
    # a smooth, nonlinear field: depends on x and on t (N,)
    return torch.tanh(x) * (1 + t[:, None]) - 0.5 * x.flip(1) * t[:, None] ** 2


def _velocity_b(x, t):
    return torch.sin(3 * t)[:, None] - 0.3 * x + 0.1 * x**2


def _velocity_np(f, x, t):
    return f(float64(x), float64(t)).numpy()


# ----------------------------------------------------------------------------- interpolate

def _path_cases(seed: int) -> list[Case]:
    rng = expect.local_rng(seed)
    return [
        Case((float64(rng.normal(size=(5, 2))), float64(rng.normal(3, 1, (5, 2))),
              float64([0.0, 0.25, 0.5, 0.9, 1.0])),
             "5 points in 2-D, t = 0, 0.25, 0.5, 0.9, 1"),
        Case((float64(rng.normal(size=(4, 3))), float64(rng.normal(-2, 2, (4, 3))),
              float64(rng.uniform(0, 1, 4))), "4 points in 3-D, random t"),
        Case((float64(rng.normal(size=(3, 1))), float64([[5.0], [-5.0], [1.0]]), float64([0.1, 0.6, 0.3])),
             "3 points in 1-D"),
    ]


def _path_reference(x0, x1, t):
    x0, x1, t = x0.numpy(), x1.numpy(), t.numpy()[:, None]
    return (1 - t) * x0 + t * x1


def check_interpolate(fn) -> None:
    """x_t = (1 − t) x_0 + t x_1 per point."""
    expect.check_cases(fn, _path_cases(1501), _path_reference)


def check_interpolate_hidden(fn) -> None:
    expect.check_cases(fn, _path_cases(2501), _path_reference)


# ----------------------------------------------------------------------------- cfm_loss

def _loss_cases(seed: int) -> list[Case]:
    rng = expect.local_rng(seed)
    return [
        Case((float64(rng.normal(size=(6, 2))), float64(rng.normal(2, 1, (6, 2))),
              float64(rng.uniform(0, 1, 6)), _velocity_a), "6 pairs in 2-D, a velocity depending on x and t"),
        Case((float64(rng.normal(size=(5, 3))), float64(rng.normal(-1, 2, (5, 3))),
              float64([0.0, 0.1, 0.5, 0.8, 1.0]), _velocity_b), "5 pairs in 3-D, t from 0 to 1"),
        Case((float64(rng.normal(size=(1, 2))), float64([[3.0, -1.0]]), float64([0.3]), _velocity_a),
             "a single pair"),
    ]


def _loss_reference(x0, x1, t, v):
    x0n, x1n, tn = x0.numpy(), x1.numpy(), t.numpy()
    xt = (1 - tn[:, None]) * x0n + tn[:, None] * x1n
    err = _velocity_np(v, xt, tn) - (x1n - x0n)
    return np.mean(np.sum(err**2, axis=1))


def check_cfm_loss(fn) -> None:
    """mean_n ‖v(x_t, t_n) − (x_1 − x_0)‖², summed over coordinates, averaged over pairs."""
    expect.check_cases(fn, _loss_cases(1502), _loss_reference)


def check_cfm_loss_hidden(fn) -> None:
    expect.check_cases(fn, _loss_cases(2502)[:2], _loss_reference)


# ----------------------------------------------------------------------------- euler_step

def _step_cases(seed: int) -> list[Case]:
    rng = expect.local_rng(seed)
    return [
        Case((float64(rng.normal(size=(5, 2))), 0.25, 0.125, _velocity_a),
             "5 points in 2-D, t = 0.25, dt = 0.125"),
        Case((float64(rng.normal(size=(4, 3))), 0.0, 0.5, _velocity_b),
             "4 points in 3-D, t = 0, dt = 0.5"),
        Case((float64(rng.normal(size=(3, 2))), 0.9, -0.3, _velocity_b),
             "3 points, t = 0.9, dt = -0.3 (backwards)"),
    ]


def _step_reference(x, t, dt, v):
    xn = x.numpy()
    return xn + dt * _velocity_np(v, xn, np.full(len(xn), t))


def check_euler_step(fn) -> None:
    """x + Δt v(x, t), with t passed to v as a tensor (N,)."""
    expect.check_cases(fn, _step_cases(1503), _step_reference)


def check_euler_step_hidden(fn) -> None:
    expect.check_cases(fn, _step_cases(2503), _step_reference)


QUESTIONS = {
    "interpolate": Question(
        1, check_interpolate, "the linear path x_t = (1 - t) x0 + t x1, one t per point",
        hidden=(check_interpolate_hidden,),
    ),
    "cfm_loss": Question(
        2, check_cfm_loss,
        "conditional flow-matching loss mean_n |v(x_t, t) - (x1 - x0)|^2 with given noise and times",
        hidden=(check_cfm_loss_hidden,),
    ),
    "euler_step": Question(
        1, check_euler_step, "one Euler step x + dt v(x, t) of the flow ODE",
        hidden=(check_euler_step_hidden,),
    ),
}
