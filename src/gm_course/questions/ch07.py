"""Checks for chapter 7, forward and reverse diffusion (``07_forward_and_reverse_diffusion``).

Convention: x_t = x_0 + δ√t z, σ_t² = δ² t; ``score_fn(x, t)`` returns ∇log p_t(x). The
references are plain numpy formulas written here (log-sum-exp by hand), not the package's
samplers or densities. Input cases are built to expose the usual slips:

- ``mixture_score``: unequal weights and unequal component widths, so dropping the weights,
  the −D log s term of the responsibilities, or dividing by s instead of s² all show; a
  point 40 widths from every mode, where exp() underflows to 0/0 unless the
  responsibilities are computed with log-sum-exp (a softmax);
- ``reverse_ode_step``/``reverse_sde_step``: δ ≠ 1 and Δt ≠ 1, so √Δt for Δt (the
  tutorial's slip), a dropped Δt, a missing ½ or δ² show; a score that depends on t, so
  evaluating it at t − Δt instead of t shows; the noise is passed in, so its scale δ√Δt is
  checked exactly.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..grading import Question
from . import expect
from .expect import Case

CHAPTER = "07_forward_and_reverse_diffusion"


# ----------------------------------------------------------------------------- mixture_score

def _mixture_cases(seed: int) -> list[Case]:
    rng = expect.local_rng(seed)
    t64 = expect.float64
    cases = [
        Case((t64(rng.normal(0, 2, (6, 2))), t64([0.2, 0.5, 0.3]), t64([[-2.0, 0.0], [1.0, 1.5], [2.0, -2.0]]),
              t64([0.5, 1.0, 2.0])),
             "6 points in 2-D, 3 components with weights (0.2, 0.5, 0.3) and stds (0.5, 1, 2)"),
        Case((t64(rng.normal(0, 3, (5, 1))), t64([0.7, 0.3]), t64([[-3.0], [3.0]]), t64([1.0, 0.3])),
             "5 points in 1-D, two modes at -3 and 3 with stds 1 and 0.3"),
        Case((t64([[40.0, -35.0], [0.1, 0.2]]), t64([0.5, 0.5]), t64([[0.0, 0.0], [1.0, 1.0]]), t64([0.3, 0.3])),
             "a point at (40, -35), ~100 widths from both modes (needs log-sum-exp), and one near them"),
        Case((torch.tensor(rng.normal(0, 1, (4, 3)), dtype=torch.float32), torch.tensor([1.0, 3.0]),
              torch.tensor(rng.normal(0, 1, (2, 3)), dtype=torch.float32), torch.tensor([0.8, 1.3])),
             "4 float32 points in 3-D, unnormalised weights (1, 3)"),
    ]
    return cases


def _mixture_reference(x, w, mu, s):
    x, w, mu, s = (a.double().numpy() for a in (x, w, mu, s))
    w = w / w.sum()
    d = x.shape[1]
    sq = ((x[:, None, :] - mu[None]) ** 2).sum(-1)  # (N, K)
    logits = np.log(w) - 0.5 * sq / s**2 - d * np.log(s)
    logits -= logits.max(axis=1, keepdims=True)
    r = np.exp(logits)
    r /= r.sum(axis=1, keepdims=True)
    return (r[:, :, None] * (mu[None] - x[:, None, :]) / (s**2)[None, :, None]).sum(1)


def _check_mixture(fn, cases) -> None:
    expect.check_cases(fn, cases, _mixture_reference, rtol=1e-7, atol=1e-5, rtol_float32=1e-4)


def check_mixture_score(fn) -> None:
    """∇log p(x) = Σ_k r_k(x)(μ_k − x)/s_k², r_k ∝ w_k N(x; μ_k, s_k² I) by a softmax."""
    _check_mixture(fn, _mixture_cases(701))


def check_mixture_score_hidden(fn) -> None:
    _check_mixture(fn, _mixture_cases(1701)[:2])


# ----------------------------------------------------------------------------- reverse steps

def _score_a(x, t):
    # the exact score of p_t for p_0 = N(m, 0.5 I), m = (1, -1, ...): depends on x and t
    m = torch.ones(x.shape[1], dtype=x.dtype, device=x.device)
    m[1::2] = -1
    return (m - x) / (0.5 + 0.49 * t)


def _score_b(x, t):
    return -x / (1.0 + 4.0 * t) + math.sin(3 * t)


def _step_cases(seed: int, noise: bool) -> list[Case]:
    rng = expect.local_rng(seed)
    setups = [
        (rng.normal(0, 2, (5, 2)), 1.0, 0.04, _score_a, 1.0, "5 points in 2-D, t = 1, dt = 0.04, delta = 1"),
        (rng.normal(0, 2, (4, 3)), 2.5, 0.25, _score_b, 0.7, "4 points in 3-D, t = 2.5, dt = 0.25, delta = 0.7"),
        (rng.normal(0, 5, (3, 1)), 9.0, 0.5, _score_a, 2.0, "3 points in 1-D, t = 9, dt = 0.5, delta = 2"),
    ]
    cases = []
    for x, t, dt, f, delta, text in setups:
        x = torch.tensor(x)
        args = (x, t, dt, f, delta)
        if noise:
            args = args + (torch.tensor(rng.normal(size=x.shape)),)
        cases.append(Case(args, text + (", noise given" if noise else "")))
    return cases


def _score_np(f, x, t):
    return f(torch.tensor(x), t).numpy()


def _check_ode(fn, cases) -> None:
    def reference(x, t, dt, f, delta):
        xn = x.numpy()
        return xn + 0.5 * delta**2 * dt * _score_np(f, xn, t)

    expect.check_cases(fn, cases, reference)


def check_reverse_ode_step(fn) -> None:
    """x_{t−Δt} = x_t + (δ²Δt/2) ∇log p_t(x_t) (Δt, not √Δt; the score at t)."""
    _check_ode(fn, _step_cases(702, noise=False))


def check_reverse_ode_step_hidden(fn) -> None:
    _check_ode(fn, _step_cases(1702, noise=False))


def _check_sde(fn, cases) -> None:
    def reference(x, t, dt, f, delta, e):
        xn = x.numpy()
        return xn + delta**2 * dt * _score_np(f, xn, t) + delta * math.sqrt(dt) * e.numpy()

    expect.check_cases(fn, cases, reference)


def check_reverse_sde_step(fn) -> None:
    """x_{t−Δt} = x_t + δ²Δt ∇log p_t(x_t) + δ√Δt ẽ with the given noise ẽ."""
    _check_sde(fn, _step_cases(703, noise=True))


def check_reverse_sde_step_hidden(fn) -> None:
    _check_sde(fn, _step_cases(1703, noise=True))


QUESTIONS = {
    "mixture_score": Question(
        2, check_mixture_score,
        "score of an isotropic Gaussian mixture, sum_k r_k(x)(mu_k - x)/s_k^2 with stable responsibilities",
        hidden=(check_mixture_score_hidden,),
    ),
    "reverse_ode_step": Question(
        2, check_reverse_ode_step,
        "one Euler step of the probability-flow ODE backwards: x + (delta^2 dt / 2) score(x, t)",
        hidden=(check_reverse_ode_step_hidden,),
    ),
    "reverse_sde_step": Question(
        2, check_reverse_sde_step,
        "one reverse-SDE step: x + delta^2 dt score(x, t) + delta sqrt(dt) noise",
        hidden=(check_reverse_sde_step_hidden,),
    ),
}
