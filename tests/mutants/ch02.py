"""Wrong answers to chapter 2's questions; each one must lose its points."""

import math

import numpy as np
import torch

CHAPTER = "02_maximum_likelihood_and_kl"


def _kl(m1, s1, m2, s2):
    return torch.log(s2 / s1) + (s1**2 + (m1 - m2) ** 2) / (2 * s2**2) - 0.5


MUTANTS = {
    "gaussian_kl": {
        "reverse KL": lambda m1, s1, m2, s2: _kl(m2, s2, m1, s1),
        "sigma read as a variance": lambda m1, s1, m2, s2:
            0.5 * torch.log(s2 / s1) + (s1 + (m1 - m2) ** 2) / (2 * s2) - 0.5,
        "missing -1/2": lambda m1, s1, m2, s2: _kl(m1, s1, m2, s2) + 0.5,
        "sign of the log": lambda m1, s1, m2, s2: _kl(m1, s1, m2, s2) - 2 * torch.log(s2 / s1),
        "forgot the 2": lambda m1, s1, m2, s2:
            torch.log(s2 / s1) + (s1**2 + (m1 - m2) ** 2) / s2**2 - 0.5,
        "mean difference not squared": lambda m1, s1, m2, s2:
            torch.log(s2 / s1) + (s1**2 + (m1 - m2)) / (2 * s2**2) - 0.5,
        "summed over elements": lambda m1, s1, m2, s2: _kl(m1, s1, m2, s2).sum(),
        "math.log": lambda m1, s1, m2, s2:
            math.log(s2 / s1) + (s1**2 + (m1 - m2) ** 2) / (2 * s2**2) - 0.5,
        "a python float": lambda m1, s1, m2, s2: float(_kl(m1, s1, m2, s2).sum()),
    },
    "fit_gaussian_mle": {
        "N - 1 (torch.cov)": lambda x: (x.mean(0), torch.cov(x.T)),
        "uncentred second moment": lambda x: (x.mean(0), x.T @ x / len(x)),
        "x x^T instead of x^T x": lambda x: (x.mean(0), (x - x.mean(0)) @ (x - x.mean(0)).T / len(x)),
        "outputs swapped": lambda x: (torch.cov(x.T, correction=0).reshape(x.shape[1], -1), x.mean(0)),
        "variances only": lambda x: (x.mean(0), x.var(0, correction=0)),
        "mean over the wrong axis": lambda x: (x.mean(1), torch.cov(x.T, correction=0).reshape(x.shape[1], -1)),
        "numpy arrays": lambda x: (x.numpy().mean(0), np.cov(x.numpy(), rowvar=False, bias=True)),
        "only the covariance": lambda x: torch.cov(x.T, correction=0),
    },
}
