"""Checks for chapter 3, energy-based models (``03_energy_based_models``).

References are written out in numpy (float64), independently of :mod:`gm_course.ebm`. Input
cases expose the usual slips:

- ``log_partition_grad``: a forgotten normalisation by Z (or an extra cell volume), a plain
  average of T that ignores f, a sign error, and f values of ±1000 that overflow a naive
  ``exp`` (subtract the maximum first: logsumexp);
- ``ebm_loss_grad``: the sign of "data average − model average" (the loss is −L, and the
  tutorial's L' = C' slip flips the sign too), sums instead of averages (the two sample sets
  have different sizes), the model term left out, and averages over the wrong axis.
"""

from __future__ import annotations

import numpy as np
import torch

from ..grading import CheckFailed, Question
from . import expect
from .expect import Case

CHAPTER = "03_energy_based_models"


def _grid_cases() -> list[Case]:
    rng = expect.local_rng(301)
    t = lambda a, dtype=torch.float64: torch.tensor(a, dtype=dtype)  # noqa: E731
    cases = [Case((t([0.0, np.log(3.0), 0.0]), t([[1.0], [2.0], [5.0]]), 1.0),
                  "3 cells, f = (0, log 3, 0), T = (1, 2, 5), cell volume 1")]
    h = 0.25
    a = -3.0 + h * (0.5 + np.arange(24))
    gx, gy = np.meshgrid(a, a, indexing="ij")
    x = np.stack([gx.ravel(), gy.ravel()], 1)
    stats = np.stack([x[:, 0], x[:, 1], x[:, 0] ** 2, x[:, 0] * x[:, 1], x[:, 1] ** 2], 1)
    f = -0.5 * ((x - np.array([0.4, -0.2])) ** 2 / np.array([0.8, 0.5])).sum(1)
    cases.append(Case((t(f), t(stats), h * h), "a Gaussian on a 24 x 24 grid, T = (x1, x2, x1^2, x1 x2, x2^2)"))
    f_big = rng.uniform(990.0, 1000.0, 50)
    cases.append(Case((t(f_big), t(rng.normal(0, 1, (50, 3))), 0.1),
                      "50 cells with f between 990 and 1000 (exp(f) overflows)"))
    f_small = rng.uniform(-1000.0, -995.0, 40)
    cases.append(Case((t(f_small, torch.float32), t(rng.normal(2, 1, (40, 2)), torch.float32), 0.05),
                      "40 cells, float32, f between -1000 and -995 (exp(f) underflows to 0)"))
    return cases


def check_log_partition_grad(fn) -> None:
    """∂_θ log Z = E_θ[T] = Σ_c exp(f_c) h T_c / Σ_c exp(f_c) h on a grid: ``(K,)``."""
    def reference(f, stats, _):
        fv = f.double().numpy()
        w = np.exp(fv - fv.max())
        return (w / w.sum()) @ stats.double().numpy()

    expect.check_cases(fn, _grid_cases(), reference, rtol=1e-9, atol=1e-6, rtol_float32=1e-4)


def _grad_cases() -> list[Case]:
    rng = expect.local_rng(302)
    t = lambda a, dtype=torch.float64: torch.tensor(a, dtype=dtype)  # noqa: E731
    return [
        Case((t([[1.0, 0.0], [3.0, 2.0]]), t([[0.0, 1.0], [2.0, 1.0]])),
             "2 data and 2 model gradients of P = 2 parameters"),
        Case((t(rng.normal(0.5, 1.0, (10, 5))), t(rng.normal(-0.3, 1.5, (4, 5)))),
             "10 data and 4 model gradients of P = 5 parameters (sizes differ)"),
        Case((t(rng.normal(0.0, 1.0, (3, 7))), t(rng.normal(1.0, 1.0, (9, 7)))),
             "3 data and 9 model gradients of P = 7 parameters"),
        Case((t(rng.normal(0.0, 1.0, (6, 3)), torch.float32), t(rng.normal(2.0, 1.0, (6, 3)), torch.float32)),
             "6 and 6 gradients of P = 3 parameters, float32"),
    ]


def check_ebm_loss_grad(fn) -> None:
    """∇_θ ℓ = −(mean_i ∇f(x_i) − mean_j ∇f(x̃_j)) = mean model gradient − mean data gradient: ``(P,)``."""
    for k, case in enumerate(_grad_cases(), start=1):
        g_data, g_model = (a.double().numpy() for a in case.args)
        expected = g_model.mean(axis=0) - g_data.mean(axis=0)
        where = case.label(k)
        got = expect.tensor(expect.call(fn, case, k), where, (g_data.shape[1],))
        rtol = 1e-5 if case.args[0].dtype == torch.float32 else 1e-10
        if np.allclose(got.numpy(), -expected, rtol=1e-6, atol=1e-9) and np.abs(expected).max() > 1e-6:
            raise CheckFailed(f"{where}: the sign is flipped: the loss is minus the log-likelihood, so its "
                              "gradient is the model average minus the data average")
        expect.close(got, expected, where, rtol=rtol, atol=1e-6)


QUESTIONS = {
    "log_partition_grad": Question(
        2, check_log_partition_grad,
        "d log Z / d theta = E_theta[T] on a grid from f values (M,), statistics (M, K), without overflow",
    ),
    "ebm_loss_grad": Question(
        2, check_ebm_loss_grad,
        "gradient of the EBM loss: mean of the model-sample gradients minus mean of the data gradients",
    ),
}
