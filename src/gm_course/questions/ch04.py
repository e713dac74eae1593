"""Checks for chapter 4, noise-contrastive estimation (``04_noise_contrastive_estimation``).

References are written out in numpy (float64), independently of :mod:`gm_course.nce`. Input
cases expose the usual slips:

- ``nce_logits``: the −log ν term missing or with the wrong sign (ν ≠ 1 in most cases),
  the sign of log q, the learned constant c left out;
- ``nce_loss``: the factor ν on the noise term, data and noise swapped (the tutorial draws
  the positives from the model), the two terms averaged as one pooled sample, the sign
  (a loss to minimise is −J), and logits of ±800 that make a naive ``log(sigmoid(h))``
  return −inf (use softplus / logsigmoid).
"""

from __future__ import annotations

import numpy as np
import torch

from ..grading import CheckFailed, Question
from . import expect
from .expect import Case

CHAPTER = "04_noise_contrastive_estimation"


def _logit_cases() -> list[Case]:
    rng = expect.local_rng(401)
    t = lambda a, dtype=torch.float64: torch.tensor(a, dtype=dtype)  # noqa: E731
    return [
        Case((t([0.0, 1.0, -2.0]), t(0.5), t([-1.0, -2.0, -3.0]), 4.0), "3 points, c = 0.5, nu = 4"),
        Case((t(rng.normal(0, 2, 10)), t(-1.3), t(rng.normal(-3, 1, 10)), 1.0), "10 points, c = -1.3, nu = 1"),
        Case((t(rng.normal(0, 2, 7), torch.float32), t(2.0, torch.float32), t(rng.normal(-3, 1, 7), torch.float32), 0.5),
             "7 float32 points, c = 2, nu = 0.5"),
        Case((t(rng.normal(0, 1, 6)), t(0.0), t(rng.normal(-2, 1, 6)), 20.0), "6 points, c = 0, nu = 20"),
    ]


def check_nce_logits(fn) -> None:
    """h = f + c − log q − log ν, elementwise: ``(N,)``."""
    def reference(f, c, log_q, nu):
        return f.double().numpy() + float(c) - log_q.double().numpy() - np.log(nu)

    expect.check_cases(fn, _logit_cases(), reference, rtol=1e-10, atol=1e-5, rtol_float32=1e-5)


def _softplus(z: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, z)


def _loss_cases() -> list[Case]:
    rng = expect.local_rng(402)
    t = lambda a, dtype=torch.float64: torch.tensor(a, dtype=dtype)  # noqa: E731
    return [
        Case((t([1.0, -0.5]), t([-1.0, 0.3]), 1.0), "2 data and 2 noise logits, nu = 1"),
        Case((t(rng.normal(0.5, 1.5, 5)), t(rng.normal(-1.5, 1.5, 15)), 3.0), "5 data and 15 noise logits, nu = 3"),
        Case((t(rng.normal(0.0, 1.0, 8), torch.float32), t(rng.normal(-1.0, 1.0, 4), torch.float32), 0.5),
             "8 data and 4 noise logits in float32, nu = 0.5"),
        Case((t([800.0, -800.0, 2.0]), t([-800.0, 800.0, 0.0, 1.0, -3.0, 5.0]), 2.0),
             "logits of +-800 (sigmoid rounds to 0 or 1), nu = 2"),
    ]


def check_nce_loss(fn) -> None:
    """−J = mean softplus(−h_data) + ν mean softplus(h_noise): a scalar."""
    for k, case in enumerate(_loss_cases(), start=1):
        h_data, h_noise, nu = case.args
        hd, hn = h_data.double().numpy(), h_noise.double().numpy()
        expected = _softplus(-hd).mean() + nu * _softplus(hn).mean()
        got = expect.tensor(expect.call(fn, case, k), case.label(k), ())
        rtol = 1e-5 if h_data.dtype == torch.float32 else 1e-10
        if abs(float(got) + expected) < 1e-6 * max(1.0, expected):
            raise CheckFailed(f"{case.label(k)}: the sign is flipped: return the loss -J to be minimised, "
                              "which is positive")
        expect.close(got, expected, case.label(k), rtol=rtol, atol=1e-6)


QUESTIONS = {
    "nce_logits": Question(
        2, check_nce_logits, "the classifier's log-odds f + c - log q - log nu, elementwise",
    ),
    "nce_loss": Question(
        2, check_nce_loss,
        "the NCE loss mean softplus(-h_data) + nu * mean softplus(h_noise), stable for large |h|",
    ),
}
