"""Checks for chapter 11, autoregressive models and normalizing flows (``11_autoregressive_and_flows``).

References are written here with plain torch (a hand-written coupling layer; Jacobians by
finite differences in float64), not with :mod:`gm_course.flows`. The input cases expose the
usual slips:

- the log-determinant summed over the kept coordinates too, or with the wrong sign;
- the conditioner fed the whole x instead of the kept coordinates (the check's conditioner
  depends on every input it sees, so leaking x_B changes the answer);
- the kept coordinates scaled as well;
- |det| without the absolute value (a map that reverses orientation has det < 0);
- the base density without its normalising constant −(D/2) log 2π.
"""

from __future__ import annotations

import math

import torch

from ..grading import CheckFailed, Question
from ..remote import portable
from . import expect
from .expect import Case

CHAPTER = "11_autoregressive_and_flows"


def _conditioner(seed: int, dim: int):
    """A fixed nonlinear (s, t) network of all D inputs: (N, D) -> ((N, D), (N, D))."""
    g = torch.Generator().manual_seed(seed)
    A = torch.randn(dim, dim, generator=g, dtype=torch.float64)
    B = torch.randn(dim, dim, generator=g, dtype=torch.float64)
    c = torch.randn(dim, generator=g, dtype=torch.float64)

    def scale_shift(x_masked):
        x_masked = x_masked.to(torch.float64)
        return torch.tanh(x_masked @ A + c), torch.sin(x_masked @ B) + 0.5 * x_masked @ B

    return scale_shift


def _coupling_cases() -> list[Case]:
    g = torch.Generator().manual_seed(1101)
    cases = []
    for dim, mask, n, desc in (
        (2, [True, False], 50, "D = 2, keep coordinate 0"),
        (2, [False, True], 40, "D = 2, keep coordinate 1"),
        (5, [True, False, True, False, False], 30, "D = 5, keep coordinates 0 and 2"),
        (3, [False, False, True], 7, "D = 3, keep coordinate 2 only"),
    ):
        x = 2 * torch.randn(n, dim, generator=g, dtype=torch.float64)
        cases.append(Case((x, torch.tensor(mask), _conditioner(len(cases) + 7, dim)), f"{n} points, {desc}"))
    return cases


def check_affine_coupling(fn) -> None:
    """y = m ⊙ x + (1 − m) ⊙ (x e^{s} + t), (s, t) = net(m ⊙ x); log det = Σ (1 − m) ⊙ s."""
    for k, case in enumerate(_coupling_cases(), start=1):
        x, mask, net = case.args
        m = mask.to(torch.float64)
        s, t = net(x * m)
        y_ref = m * x + (1 - m) * (x * torch.exp(s) + t)
        ld_ref = ((1 - m) * s).sum(1)
        out = expect.call(fn, case, k)
        if not isinstance(out, tuple) or len(out) != 2:
            raise CheckFailed(f"{case.label(k)}: expected a pair (y, log_det), got {type(out).__name__}")
        y = expect.tensor(out[0], case.label(k) + ", y", tuple(x.shape))
        ld = expect.tensor(out[1], case.label(k) + ", log_det", (x.shape[0],))
        expect.close(y, y_ref, case.label(k) + ", y", rtol=1e-6, atol=1e-8)
        expect.close(ld, ld_ref, case.label(k) + ", log_det", rtol=1e-6, atol=1e-8)


# Maps handed to the learner's log-density, which differentiates through them: portable, so
# the sandboxed learner process gets the real function (see gm_course.remote.portable).
_M = torch.tensor([[0.0, 2.0], [1.5, 0.5]], dtype=torch.float64)  # det = -3: reverses orientation
_L = torch.tensor([[1.0, 0.0, 0.0], [0.5, 2.0, 0.0], [-1.0, 0.3, 0.7]], dtype=torch.float64)


@portable
def affine_map(x):
    return x @ _M.T.to(x.dtype) + torch.tensor([1.0, -2.0], dtype=x.dtype)


@portable
def sine_then_swap(x):  # x -> x + 0.5 sin(x) is increasing; then a swap of axes (det < 0)
    y = x + 0.5 * torch.sin(x)
    return y.flip(1)


@portable
def triangular_map(x):  # a lower-triangular nonlinear map in 3-D
    y0 = 2 * x[:, 0] + 0.1 * x[:, 0] ** 3
    y1 = x[:, 1] * torch.exp(0.3 * torch.tanh(x[:, 0])) + x[:, 0] ** 2
    y2 = -x[:, 2] - 0.2 * torch.sin(x[:, 2]) + x[:, 0] * x[:, 1]
    return torch.stack([y0, y1, y2], dim=1) @ _L.T.to(x.dtype)


def _maps():
    """Invertible row-wise maps (N, D) -> (N, D), some orientation-reversing."""
    g = torch.Generator().manual_seed(1102)
    return [
        (affine_map, 2, "an affine map with det = -3"),
        (sine_then_swap, 2, "x + 0.5 sin x followed by swapping the two axes"),
        (triangular_map, 3, "a nonlinear triangular map in 3-D"),
    ], g


def _jacobian_fd(f, x, eps=1e-6):
    """Central finite differences, per row: (N, D, D) with J[n, i, j] = ∂f_i/∂x_j."""
    n, d = x.shape
    cols = []
    for j in range(d):
        e = torch.zeros(d, dtype=torch.float64)
        e[j] = eps
        cols.append((f(x + e) - f(x - e)) / (2 * eps))
    return torch.stack(cols, dim=2)


def check_change_of_variables_log_prob(fn) -> None:
    """log p(x) = log N(f(x); 0, I) + log |det ∂f/∂x (x)|."""
    maps, g = _maps()
    cases = [Case((1.2 * torch.randn(25, dim, generator=g, dtype=torch.float64), f), f"25 points in {dim}-D, f = {desc}")
             for f, dim, desc in maps]

    def reference(x, f):
        z = f(x)
        base = -0.5 * (z**2).sum(1) - 0.5 * x.shape[1] * math.log(2 * math.pi)
        return base + torch.linalg.slogdet(_jacobian_fd(f, x)).logabsdet

    expect.check_cases(fn, cases, reference, rtol=1e-6, atol=1e-6)


QUESTIONS = {
    "affine_coupling": Question(
        2, check_affine_coupling,
        "RealNVP coupling: y = m x + (1 - m)(x e^s + t) with (s, t) = net(m x); log det = sum of (1 - m) s",
    ),
    "change_of_variables_log_prob": Question(
        2, check_change_of_variables_log_prob,
        "flow log-density log N(f(x); 0, I) + log |det df/dx|, the Jacobian by autograd",
    ),
}
