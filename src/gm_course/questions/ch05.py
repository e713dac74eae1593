"""Checks for chapter 5, Langevin dynamics and HMC (``05_langevin_and_hmc``).

References are written in numpy (float64), independently of :mod:`gm_course.samplers`. Input
cases are built to expose the usual slips:

- a non-linear score (a banana) and D = 2: a missing 1/2, Δt instead of √Δt on the noise, a
  flipped sign (gradient descent instead of ascent) or the other SDE convention
  (Δt ∇log π + √(2Δt) e) all give different numbers;
- float32 input in D = 1 and a single point;
- the stationary mean and variance of a long Gaussian chain, which must equal the discrete
  chain's exact values (including its O(Δt) bias);
- leapfrog: several numbers of steps, reversibility, and the energy error's O(ε²) order; a
  leapfrog without half steps, a kick with the wrong sign, positions moved with the old
  momentum (Euler) or a missing final half kick all fail.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..grading import CheckFailed, Question
from . import expect
from .expect import Case

CHAPTER = "05_langevin_and_hmc"


def banana_score(x: torch.Tensor) -> torch.Tensor:
    """∇log π for log π(x) = −x₁²/2 − (x₂ − x₁²)²/2 (summed over pairs of coordinates)."""
    a, b = x[:, 0::2], x[:, 1::2]
    out = torch.empty_like(x)
    out[:, 0::2] = -a + 2 * a * (b - a**2)
    out[:, 1::2] = -(b - a**2)
    return out


def _banana_score_np(x: np.ndarray) -> np.ndarray:
    a, b = x[:, 0::2], x[:, 1::2]
    out = np.empty_like(x)
    out[:, 0::2] = -a + 2 * a * (b - a**2)
    out[:, 1::2] = -(b - a**2)
    return out


def _banana_log_prob_np(x: np.ndarray) -> np.ndarray:
    a, b = x[:, 0::2], x[:, 1::2]
    return (-0.5 * a**2 - 0.5 * (b - a**2) ** 2).sum(1)


def _gaussian_score(mean: float, var: float):
    return lambda x: -(x - mean) / var


# ----------------------------------------------------------------------------- langevin_step

def _langevin_cases() -> list[Case]:
    rng = expect.local_rng(501)
    t = lambda a, dtype=torch.float64: torch.tensor(a, dtype=dtype)
    return [
        Case((t(rng.normal(0, 0.8, (6, 2))), banana_score, 0.3, t(rng.standard_normal((6, 2)))),
             "6 points in 2-D, a banana score, step_size 0.3"),
        Case((t(rng.normal(0, 1, (5, 1)), torch.float32), _gaussian_score(1.0, 0.5), 0.05,
              t(rng.standard_normal((5, 1)), torch.float32)),
             "5 float32 points in 1-D, the score of N(1, 0.5), step_size 0.05"),
        Case((t([[0.5, -1.0, 0.2, 0.7]]), banana_score, 1.0, t([[0.0, 0.0, 0.0, 0.0]])),
             "one point in 4-D with zero noise, step_size 1 (the drift alone)"),
        Case((t([[0.0, 0.0]]), banana_score, 0.25, t([[1.0, -2.0]])),
             "one point at the origin (score 0), step_size 0.25 (the noise alone)"),
    ]


def _langevin_stationary(fn) -> None:
    """Iterate the learner's step on N(m, s²) and compare mean and variance with the exact AR(1)."""
    m, s2, dt, n, k_steps = 1.5, 0.64, 0.4, 4000, 120
    rng = expect.local_rng(502)
    x = torch.full((n, 1), m, dtype=torch.float64)
    score = _gaussian_score(m, s2)
    for _ in range(k_steps):
        x = fn(x, score, dt, torch.as_tensor(rng.standard_normal((n, 1))))
        if not isinstance(x, torch.Tensor) or x.shape != (n, 1):
            raise CheckFailed("iterating your step on a Gaussian chain: it must return a tensor shaped like x")
    x = x.detach().double()
    a = 1 - dt / (2 * s2)                       # x' - m = a (x - m) + sqrt(dt) e
    v = dt / (1 - a**2) * (1 - a ** (2 * k_steps))  # exact variance after k steps from a point
    mean, var = float(x.mean()), float(x.var())
    where = (f"a chain of {k_steps} steps on N({m}, {s2}) with step_size {dt}, {n} chains started at {m}")
    if not (abs(mean - m) < 5 * math.sqrt(v / n) and abs(var - v) < 5 * v * math.sqrt(2 / n)):
        raise CheckFailed(f"{where}: stationary mean {mean:.4f} and variance {var:.4f}, expected {m} and "
                          f"{v:.4f} = 1/(1/s² − Δt/(4 s⁴)) (the discrete chain's slightly biased variance)")


def check_langevin_step(fn) -> None:
    """x' = x + (Δt/2) score_fn(x) + √Δt · noise."""
    def reference(x, score_fn, dt, noise):
        xs = x.double().numpy()
        score = score_fn(torch.as_tensor(xs)).numpy() if score_fn is not banana_score else _banana_score_np(xs)
        return xs + 0.5 * dt * score + math.sqrt(dt) * noise.double().numpy()

    expect.check_cases(fn, _langevin_cases(), reference, rtol=1e-10, atol=1e-6, rtol_float32=1e-5)
    _langevin_stationary(fn)


# ----------------------------------------------------------------------------- leapfrog

def _leapfrog_np(x, p, eps, n_steps):
    x, p = x.copy(), p.copy()
    for _ in range(n_steps):
        p = p + 0.5 * eps * _banana_score_np(x)
        x = x + eps * p
        p = p + 0.5 * eps * _banana_score_np(x)
    return x, p


def _leapfrog_cases() -> list[Case]:
    rng = expect.local_rng(503)
    t = lambda a, dtype=torch.float64: torch.tensor(a, dtype=dtype)
    return [
        Case((t(rng.normal(0, 0.7, (5, 2))), t(rng.standard_normal((5, 2))), banana_score, 0.1, 1),
             "5 points in 2-D, a banana score, step_size 0.1, one step"),
        Case((t(rng.normal(0, 0.7, (4, 2))), t(rng.standard_normal((4, 2))), banana_score, 0.05, 20),
             "4 points in 2-D, a banana score, step_size 0.05, 20 steps"),
        Case((t(rng.normal(0, 0.7, (3, 4)), torch.float32), t(rng.standard_normal((3, 4)), torch.float32),
              banana_score, 0.2, 7), "3 float32 points in 4-D, step_size 0.2, 7 steps"),
    ]


def _pair(out, where: str, shape) -> tuple[torch.Tensor, torch.Tensor]:
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        raise CheckFailed(f"{where}: expected a pair (x, p), got {type(out).__name__}")
    return expect.tensor(out[0], f"{where}, x", shape), expect.tensor(out[1], f"{where}, p", shape)


def check_leapfrog(fn) -> None:
    """L leapfrog steps: p += (ε/2) s(x); x += ε p; p += (ε/2) s(x), repeated."""
    for k, case in enumerate(_leapfrog_cases(), start=1):
        x, p, _, eps, n_steps = case.args
        ex, ep = _leapfrog_np(x.double().numpy(), p.double().numpy(), eps, n_steps)
        gx, gp = _pair(expect.call(fn, case, k), case.label(k), x.shape)
        rtol = 1e-4 if x.dtype == torch.float32 else 1e-9
        expect.close(gx, ex, f"{case.label(k)}, x", rtol=rtol, atol=1e-5)
        expect.close(gp, ep, f"{case.label(k)}, p", rtol=rtol, atol=1e-5)
    # reversibility and the O(eps^2) energy error, on the learner's own trajectories
    rng = expect.local_rng(504)
    x = torch.tensor(rng.normal(0, 0.7, (20, 2)))
    p = torch.tensor(rng.standard_normal((20, 2)))
    x1, p1 = _pair(fn(x.clone(), p.clone(), banana_score, 0.05, 30), "reversibility test", x.shape)
    x2, p2 = _pair(fn(x1.clone(), -p1, banana_score, 0.05, 30), "reversibility test", x.shape)
    if float((x2 - x).abs().max()) > 1e-8 or float((p2 + p).abs().max()) > 1e-8:
        raise CheckFailed("reversibility: from (x', -p') your leapfrog does not return to (x, -p)")

    def energy_error(eps):
        xe, pe = _pair(fn(x.clone(), p.clone(), banana_score, eps, round(1.0 / eps)), "energy test", x.shape)
        h = lambda a, b: -_banana_log_prob_np(a.numpy()) + 0.5 * (b.numpy() ** 2).sum(1)
        return float(np.abs(h(xe, pe) - h(x, p)).mean())

    ratio = energy_error(0.02) / energy_error(0.01)
    if not 3.0 < ratio < 5.0:
        raise CheckFailed(f"energy error over time 1: halving ε divided it by {ratio:.2f}, expected about 4 (O(ε²))")


QUESTIONS = {
    "langevin_step": Question(
        2, check_langevin_step,
        "one Langevin step x + (dt/2) score_fn(x) + sqrt(dt) noise, for points (N, D)",
    ),
    "leapfrog": Question(
        2, check_leapfrog,
        "n_steps leapfrog steps of size step_size for H(x, p) = -log pi(x) + |p|^2 / 2; returns (x, p)",
    ),
}
