"""Checks for chapter 12, variational autoencoders (``12_variational_autoencoders``).

References are plain torch formulas written here (not :mod:`gm_course.vae`). The input cases
expose the usual slips:

- the KL to the prior added instead of subtracted, or written with variances and standard
  deviations mixed up;
- the decoder called on the noise ε instead of the reparameterised z = μ + σ ε;
- the Gaussian log-likelihood without its normalising constant or with σ for σ²;
- in the posterior, a missing prior term (the identity in S = (I + WᵀW/σ²)⁻¹), σ for σ², or
  b forgotten; non-square W with D ≠ d catches Wᵀ/W swaps.
"""

from __future__ import annotations

import math

import torch

from ..grading import CheckFailed, Question
from . import expect
from .expect import Case

CHAPTER = "12_variational_autoencoders"


def _decoder(seed: int, d: int, D: int):
    g = torch.Generator().manual_seed(seed)
    A = torch.randn(d, D, generator=g, dtype=torch.float64)
    c = torch.randn(D, generator=g, dtype=torch.float64)
    return lambda z: torch.tanh(z @ A) + 0.5 * z.sum(-1, keepdim=True) + c


def _elbo_cases() -> list[Case]:
    g = torch.Generator().manual_seed(1201)
    cases = []
    for n, d, D, obs_std, desc in ((20, 2, 2, 0.5, "d = D = 2, obs_std 0.5"),
                                   (15, 3, 5, 1.7, "d = 3, D = 5, obs_std 1.7"),
                                   (8, 1, 4, 0.2, "d = 1, D = 4, obs_std 0.2")):
        x = torch.randn(n, D, generator=g, dtype=torch.float64)
        mean = torch.randn(n, d, generator=g, dtype=torch.float64)
        log_std = 0.5 * torch.randn(n, d, generator=g, dtype=torch.float64) - 0.3
        eps = torch.randn(n, d, generator=g, dtype=torch.float64)
        cases.append(Case((x, mean, log_std, eps, _decoder(len(cases) + 3, d, D), obs_std), f"{n} points, {desc}"))
    return cases


def check_gaussian_elbo(fn) -> None:
    """log N(x; decode(μ + e^{log σ} ε), s² I) − ½ Σ (μ² + σ² − 1 − 2 log σ)."""
    def reference(x, mean, log_std, eps, decode, obs_std):
        z = mean + torch.exp(log_std) * eps
        r = x - decode(z)
        D = x.shape[1]
        rec = -0.5 * (r**2).sum(1) / obs_std**2 - D * math.log(obs_std) - 0.5 * D * math.log(2 * math.pi)
        kl = 0.5 * (mean**2 + torch.exp(2 * log_std) - 1 - 2 * log_std).sum(1)
        return (rec - kl).detach()

    expect.check_cases(fn, _elbo_cases(), reference, rtol=1e-6, atol=1e-8)


def _posterior_cases() -> list[Case]:
    g = torch.Generator().manual_seed(1202)
    cases = []
    for n, D, d, sigma, desc in ((10, 3, 2, 0.4, "D = 3, d = 2, sigma 0.4"),
                                 (6, 5, 1, 2.0, "D = 5, d = 1, sigma 2.0"),
                                 (4, 2, 2, 1.0, "D = d = 2, sigma 1")):
        W = torch.randn(D, d, generator=g, dtype=torch.float64)
        b = torch.randn(D, generator=g, dtype=torch.float64)
        x = torch.randn(n, D, generator=g, dtype=torch.float64) * 2
        cases.append(Case((x, W, b, sigma), f"{n} points, {desc}"))
    return cases


def check_linear_gaussian_posterior(fn) -> None:
    """S = (I + WᵀW/σ²)⁻¹, mean_n = S Wᵀ (x_n − b)/σ² (by Bayes' rule for Gaussians)."""
    for k, case in enumerate(_posterior_cases(), start=1):
        x, W, b, sigma = case.args
        d = W.shape[1]
        # reference via the joint Gaussian of (z, x) and Gaussian conditioning
        Sxx = W @ W.T + sigma**2 * torch.eye(W.shape[0], dtype=torch.float64)
        gain = W.T @ torch.linalg.inv(Sxx)  # Cov(z, x) Cov(x)^-1, (d, D)
        mean_ref = (x - b) @ gain.T
        cov_ref = torch.eye(d, dtype=torch.float64) - gain @ W
        out = expect.call(fn, case, k)
        if not isinstance(out, tuple) or len(out) != 2:
            raise CheckFailed(f"{case.label(k)}: expected a pair (mean, cov), got {type(out).__name__}")
        mean = expect.tensor(out[0], case.label(k) + ", mean", (x.shape[0], d))
        cov = expect.tensor(out[1], case.label(k) + ", cov", (d, d))
        expect.close(mean, mean_ref, case.label(k) + ", mean", rtol=1e-6, atol=1e-9)
        expect.close(cov, cov_ref, case.label(k) + ", cov", rtol=1e-6, atol=1e-9)


QUESTIONS = {
    "gaussian_elbo": Question(
        2, check_gaussian_elbo,
        "reparameterised ELBO: log N(x; decode(mu + sigma eps), s^2 I) - KL(N(mu, sigma^2) || N(0, I))",
    ),
    "linear_gaussian_posterior": Question(
        2, check_linear_gaussian_posterior,
        "posterior of p(z) = N(0, I), p(x|z) = N(Wz + b, sigma^2 I): N(S W^T (x - b)/sigma^2, S)",
    ),
}
