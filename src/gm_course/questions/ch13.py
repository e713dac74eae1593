"""Checks for chapter 13, GANs (``13_gans``).

References are written here in float64 with the log-sum-exp form (not :mod:`gm_course.gan`).
The input cases expose the usual slips:

- real and fake labels swapped, or the loss not negated (the discriminator *maximises* V);
- sums instead of means, or one mean over both batches when they differ in size;
- log(sigmoid(·)) and log(1 − sigmoid(·)) computed naively: logits of ±200 give inf/NaN;
- D* written as q/(p + q), as p/q, or computed with exp of large log-densities (overflow).
"""

from __future__ import annotations

import torch

from ..grading import Question
from . import expect
from .expect import Case

CHAPTER = "13_gans"


def _softplus64(a: torch.Tensor) -> torch.Tensor:
    return torch.clamp(a, min=0) + torch.log1p(torch.exp(-a.abs()))


def _loss_cases() -> list[Case]:
    g = torch.Generator().manual_seed(1301)
    return [
        Case((torch.randn(64, generator=g, dtype=torch.float64), torch.randn(64, generator=g, dtype=torch.float64) - 1),
             "64 real and 64 fake logits of moderate size"),
        Case((2 * torch.randn(10, generator=g, dtype=torch.float64) + 1, torch.randn(37, generator=g, dtype=torch.float64)),
             "10 real logits, 37 fake logits (batches of different sizes)"),
        Case((torch.tensor([200.0, -150.0, 3.0], dtype=torch.float64), torch.tensor([-300.0, 120.0], dtype=torch.float64)),
             "huge logits (+-100s): naive log(sigmoid) overflows"),
    ]


def check_discriminator_loss(fn) -> None:
    """−mean log σ(ℓ_real) − mean log(1 − σ(ℓ_fake)) = mean softplus(−ℓ_real) + mean softplus(ℓ_fake)."""
    def reference(real, fake):
        return _softplus64(-real).mean() + _softplus64(fake).mean()

    expect.check_cases(fn, _loss_cases(), reference, rtol=1e-6, atol=1e-9)


def _ratio_cases() -> list[Case]:
    g = torch.Generator().manual_seed(1302)
    return [
        Case((torch.randn(50, generator=g, dtype=torch.float64) - 2, torch.randn(50, generator=g, dtype=torch.float64) - 2),
             "50 points, log-densities around -2"),
        Case((torch.tensor([[0.0, -1.0], [-3.0, 2.0]], dtype=torch.float64), torch.tensor([[-1.0, -1.0], [1.0, 2.0]], dtype=torch.float64)),
             "a 2 x 2 table of log-densities"),
        Case((torch.tensor([800.0, -900.0, -1000.0], dtype=torch.float64), torch.tensor([790.0, -905.0, -1200.0], dtype=torch.float64)),
             "log-densities of +-1000: exp overflows or underflows"),
    ]


def check_optimal_discriminator(fn) -> None:
    """D*(x) = p / (p + q) = σ(log p − log q), elementwise."""
    expect.check_cases(fn, _ratio_cases(), lambda log_p, log_q: torch.sigmoid(log_p - log_q),
                       rtol=1e-6, atol=1e-12)


QUESTIONS = {
    "discriminator_loss": Question(
        2, check_discriminator_loss,
        "the discriminator's loss -E log D(real) - E log(1 - D(fake)) from logits, stable for large logits",
    ),
    "optimal_discriminator": Question(
        2, check_optimal_discriminator,
        "D*(x) = p_data / (p_data + p_model) from log-densities, without overflow",
    ),
}
