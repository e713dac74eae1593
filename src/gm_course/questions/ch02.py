"""Checks for chapter 2, maximum likelihood and KL (``02_maximum_likelihood_and_kl``).

Reference answers are the closed forms written out in numpy (float64). Input cases are built
to expose the usual slips:

- σ1 ≠ σ2 and μ1 ≠ μ2 with μ1 < μ2: the reverse KL, σ read as a variance, a dropped square
  or a sign error in the log term all give different numbers;
- identical distributions: KL = 0 exactly, so a missing −1/2 shows;
- broadcasting of a column against a row: an elementwise formula is required;
- a two-point data set: dividing by N − 1 instead of N doubles the covariance;
- N ≠ D and a non-zero mean: x xᵀ instead of xᵀ x, or an uncentred second moment.

The hidden checks (run by the batch grader only) use the same references on other inputs:
other seeds, a three-way broadcast, float32 data with N < D.
"""

from __future__ import annotations

import numpy as np
import torch

from ..grading import CheckFailed, Question
from . import expect
from .expect import Case

CHAPTER = "02_maximum_likelihood_and_kl"


def _kl_cases() -> list[Case]:
    rng = expect.local_rng(201)

    def t(values, dtype=torch.float64):
        return torch.tensor(values, dtype=dtype)

    cases = [
        Case((t(0.0), t(1.0), t(0.0), t(1.0)), "0-d tensors, the same N(0, 1) twice: KL = 0"),
        Case((t(0.0), t(0.5), t(0.0), t(2.0)), "0-d tensors, N(0, 0.5^2) against N(0, 2^2)"),
        Case((t(-1.0, torch.float32), t(2.0, torch.float32), t(1.5, torch.float32), t(0.7, torch.float32)),
             "0-d float32 tensors, N(-1, 2^2) against N(1.5, 0.7^2)"),
        Case((t(rng.normal(0, 2, 6)), t(rng.uniform(0.3, 3, 6)), t(rng.normal(0, 2, 6)), t(rng.uniform(0.3, 3, 6))),
             "four tensors of shape (6,)"),
        Case((t(rng.normal(0, 1, (3, 1))), t(rng.uniform(0.5, 2, (3, 1))), t(rng.normal(0, 1, 4)), t(rng.uniform(0.5, 2, 4))),
             "mu1, sigma1 of shape (3, 1) broadcast against mu2, sigma2 of shape (4,)"),
    ]
    return cases


def _hidden_kl_cases() -> list[Case]:
    rng = expect.local_rng(1201)
    t = torch.tensor
    return [
        Case((t(rng.normal(0, 1, (2, 1, 3))), t(rng.uniform(0.2, 4, (2, 1, 3))),
              t(rng.normal(0, 1, (4, 1))), t(rng.uniform(0.2, 4, (4, 1)))),
             "mu1, sigma1 of shape (2, 1, 3) broadcast against mu2, sigma2 of shape (4, 1)"),
        Case((t(3.0), t(0.1), t(-2.0), t(5.0)), "0-d tensors, N(3, 0.1^2) against N(-2, 5^2)"),
    ]


def _check_gaussian_kl(fn, cases: list[Case]) -> None:
    def reference(*args):
        m1, s1, m2, s2 = (a.double().numpy() for a in args)
        return np.log(s2 / s1) + (s1**2 + (m1 - m2) ** 2) / (2 * s2**2) - 0.5

    expect.check_cases(fn, cases, reference, rtol=1e-4, atol=1e-5)


def check_gaussian_kl(fn) -> None:
    """KL(N(μ1, σ1²) ‖ N(μ2, σ2²)) = log(σ2/σ1) + (σ1² + (μ1 − μ2)²)/(2σ2²) − 1/2, elementwise."""
    _check_gaussian_kl(fn, _kl_cases())


def check_gaussian_kl_hidden(fn) -> None:
    """The same closed form on inputs the notebook never shows."""
    _check_gaussian_kl(fn, _hidden_kl_cases())


def _mle_cases() -> list[Case]:
    rng = expect.local_rng(202)
    a = np.array([[1.0, 0.0, 0.0], [0.8, 0.5, 0.0], [-0.3, 0.4, 1.5]])
    x = rng.standard_normal((200, 3)) @ a.T + np.array([1.0, -2.0, 0.5])
    cases = [Case((torch.tensor(x),), "200 correlated points in 3-D with mean (1, -2, 0.5)")]
    cases.append(Case((torch.tensor([[0.0, 1.0], [2.0, 5.0]], dtype=torch.float64),),
                      "N = 2 points (0, 1) and (2, 5) in 2-D"))
    cases.append(Case((torch.tensor(rng.normal(3.0, 2.0, (7, 4)), dtype=torch.float32),),
                      "N = 7 float32 points in D = 4 with mean near 3"))
    cases.append(Case((torch.tensor(rng.normal(-1.0, 0.5, (5, 1))),), "N = 5 points in D = 1"))
    return cases


def _hidden_mle_cases() -> list[Case]:
    rng = expect.local_rng(1202)
    return [
        Case((torch.tensor(rng.normal(-4.0, 3.0, (3, 5)), dtype=torch.float32),),
             "N = 3 float32 points in D = 5 (fewer points than dimensions)"),
        Case((torch.tensor(rng.gamma(3.0, 2.0, (60, 2))),), "60 skewed points in 2-D with mean near 6"),
    ]


def _check_fit_gaussian_mle(fn, cases: list[Case]) -> None:
    for k, case in enumerate(cases, start=1):
        (x,) = case.args
        data = x.double().numpy()
        n, d = data.shape
        mean = data.mean(axis=0)
        cov = (data - mean).T @ (data - mean) / n
        out = expect.call(fn, case, k)
        where = case.label(k)
        if not isinstance(out, (tuple, list)) or len(out) != 2:
            raise CheckFailed(f"{where}: expected a pair (mean, cov), got {type(out).__name__}"
                              + (f" of length {len(out)}" if isinstance(out, (tuple, list)) else ""))
        got_mean = expect.tensor(out[0], f"{where}, mean", (d,))
        got_cov = expect.tensor(out[1], f"{where}, cov", (d, d))
        rtol = 1e-4 if x.dtype == torch.float32 else 1e-7
        expect.close(got_mean, mean, f"{where}, mean", rtol=rtol, atol=1e-6)
        expect.close(got_cov, cov, f"{where}, cov", rtol=rtol, atol=1e-6)


def check_fit_gaussian_mle(fn) -> None:
    """mean = (1/N) Σ x_n, cov = (1/N) Σ (x_n − mean)(x_n − mean)ᵀ (divide by N, not N − 1)."""
    _check_fit_gaussian_mle(fn, _mle_cases())


def check_fit_gaussian_mle_hidden(fn) -> None:
    """The same estimates on inputs the notebook never shows."""
    _check_fit_gaussian_mle(fn, _hidden_mle_cases())


QUESTIONS = {
    "gaussian_kl": Question(
        2, check_gaussian_kl,
        "closed-form KL(N(mu1, sigma1^2) || N(mu2, sigma2^2)), elementwise with broadcasting",
        hidden=(check_gaussian_kl_hidden,),
    ),
    "fit_gaussian_mle": Question(
        2, check_fit_gaussian_mle,
        "maximum-likelihood mean (D,) and covariance (D, D) of data (N, D), dividing by N",
        hidden=(check_fit_gaussian_mle_hidden,),
    ),
}
