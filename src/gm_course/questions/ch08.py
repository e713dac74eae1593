"""Checks for chapter 8, the Vincent identity and denoising score matching
(``08_denoising_score_matching``).

Convention: x_t = x_0 + ε, ε = σ_t z, σ_t² = δ² t; ``score_fn(x, t)`` returns ``(N, D)``
and accepts t as a number or as a tensor ``(N,)`` of per-point times. References are numpy
formulas written here. Input cases expose the usual slips:

- ``tweedie_denoise``: δ ≠ 1 and t ≠ 1, so σ for σ², a dropped δ², a sign slip or a missing
  x_t show; a score that depends on t, so evaluating it at another time shows;
- ``dsm_loss``: different times per point and δ ≠ 1, so ε = σ² z (a variance used as a
  standard deviation), the score at the clean x_0, a missing σ², a sign slip, the ε-weighted
  loss (divided by σ²), a sum instead of a mean, or the tutorial's literal
  ‖ε − (x_t + σ² s)‖² all give other numbers.
"""

from __future__ import annotations

import numpy as np
import torch

from ..grading import Question
from . import expect
from .expect import Case

CHAPTER = "08_denoising_score_matching"


def _score_c(x, t):
    # a smooth t-dependent field: the score of N(m, (0.3 + t) I) plus a swirl that fades with t
    t = torch.as_tensor(t, dtype=x.dtype)
    t = t.reshape(-1, 1) if t.ndim else t
    m = torch.linspace(-1.0, 1.0, x.shape[1], dtype=x.dtype)
    swirl = torch.roll(x, 1, dims=1) * torch.exp(-t)
    return (m - x) / (0.3 + t) + 0.2 * swirl


def _np_score(x, t):
    return _score_c(torch.tensor(x), torch.tensor(t) if np.ndim(t) else t).numpy()


def _tweedie_cases(seed: int) -> list[Case]:
    rng = expect.local_rng(seed)
    return [
        Case((torch.tensor(rng.normal(0, 2, (5, 2))), 0.5, _score_c, 1.0), "5 points in 2-D, t = 0.5, delta = 1"),
        Case((torch.tensor(rng.normal(0, 3, (4, 3))), 2.0, _score_c, 1.5), "4 points in 3-D, t = 2, delta = 1.5"),
        Case((torch.tensor(rng.normal(0, 1, (3, 1))), 0.09, _score_c, 0.6), "3 points in 1-D, t = 0.09, delta = 0.6"),
    ]


def _check_tweedie(fn, cases) -> None:
    def reference(x, t, _, delta):
        xn = x.numpy()
        return xn + delta**2 * t * _np_score(xn, t)

    expect.check_cases(fn, cases, reference)


def check_tweedie_denoise(fn) -> None:
    """E[x_0 | x_t] = x_t + σ_t² ∇log p_t(x_t), σ_t² = δ² t."""
    _check_tweedie(fn, _tweedie_cases(801))


def check_tweedie_denoise_hidden(fn) -> None:
    _check_tweedie(fn, _tweedie_cases(1801))


def _dsm_cases(seed: int) -> list[Case]:
    rng = expect.local_rng(seed)
    cases = []
    for n, d, delta, text in [(6, 2, 1.0, "6 points in 2-D, delta = 1"), (5, 3, 2.0, "5 points in 3-D, delta = 2"),
                              (4, 1, 0.5, "4 points in 1-D, delta = 0.5")]:
        x0 = torch.tensor(rng.normal(0, 2, (n, d)))
        t = torch.tensor(rng.uniform(0.05, 3.0, n))
        z = torch.tensor(rng.normal(size=(n, d)))
        cases.append(Case((x0, t, z, _score_c, delta), text + ", a different t per point, noise given"))
    return cases


def _check_dsm(fn, cases) -> None:
    def reference(x0, t, z, _, delta):
        x0n, tn, zn = x0.numpy(), t.numpy(), z.numpy()
        sigma2 = (delta**2 * tn)[:, None]
        eps = np.sqrt(sigma2) * zn
        return ((eps + sigma2 * _np_score(x0n + eps, tn)) ** 2).sum(1).mean()

    expect.check_cases(fn, cases, reference)


def check_dsm_loss(fn) -> None:
    """mean_n ‖ε_n + σ_n² s(x0_n + ε_n, t_n)‖², ε_n = σ_n z_n, σ_n² = δ² t_n."""
    _check_dsm(fn, _dsm_cases(802))


def check_dsm_loss_hidden(fn) -> None:
    _check_dsm(fn, _dsm_cases(1802))


QUESTIONS = {
    "tweedie_denoise": Question(
        2, check_tweedie_denoise,
        "Tweedie's posterior mean E[x_0 | x_t] = x_t + delta^2 t score(x_t, t)",
        hidden=(check_tweedie_denoise_hidden,),
    ),
    "dsm_loss": Question(
        2, check_dsm_loss,
        "denoising score matching loss mean |eps + sigma_t^2 s(x_0 + eps, t)|^2 with eps = sigma_t z",
        hidden=(check_dsm_loss_hidden,),
    ),
}
