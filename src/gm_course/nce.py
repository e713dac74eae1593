"""Noise-contrastive estimation (NCE): learn an unnormalised density by logistic regression.

Chapter 4. Positives are data x ~ p_data; negatives are ν times as many draws y ~ q from a
*fixed* noise density q that we can both sample and evaluate. The model is an energy
f_θ (as in chapter 3) plus a learned scalar c that stands in for −log Z(θ):

    log p̂(x) = f_θ(x) + c.

A point is classified "data" with log-odds

    h(x) = log p̂(x) − log q(x) − log ν = f_θ(x) + c − log q(x) − log ν,

and NCE maximises the logistic log-likelihood (per data point)

    J(θ, c) = E_data[log σ(h(X))] + ν E_q[log(1 − σ(h(Y)))].

Its maximiser over all functions is h* = log p_data − log q − log ν (the Bayes-optimal
classifier of a data-vs-noise mixture with prior odds 1:ν), so f_θ + c → log p_data and in
particular c → −log Z(θ): the model normalises itself. q is not trained (unlike a GAN's
generator), which is why its density must be computable.

Shapes: points ``(N, D)``; log-densities ``(N,)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch

from . import densities
from ._validate import as_points, as_vector, interval, positive, positive_int

__all__ = [
    "NCEModel",
    "nce_logits",
    "nce_loss",
    "optimal_logits",
    "gaussian_noise",
    "UniformBox",
]

LogProb = Callable[[torch.Tensor], torch.Tensor]


class NCEModel(torch.nn.Module):
    """log p̂(x) = f(x) + c: an energy network ``f: (N, D) -> (N,)`` and a learned constant c.

    ``c`` starts at ``c0`` (a scalar parameter); after NCE training c ≈ −log ∫ exp(f).
    """

    def __init__(self, energy: torch.nn.Module, c0: float = 0.0):
        super().__init__()
        if not isinstance(energy, torch.nn.Module):
            raise ValueError(f"energy must be a torch.nn.Module, got {type(energy).__name__}")
        self.energy = energy
        self.c = torch.nn.Parameter(torch.tensor(float(c0)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """log p̂(x) = f(x) + c: ``(N, D) -> (N,)``."""
        return self.energy(x) + self.c


def _check_nu(nu) -> float:
    return positive(nu, "nu")


def nce_logits(log_model: torch.Tensor, log_noise: torch.Tensor, nu: float) -> torch.Tensor:
    """h = log p̂(x) − log q(x) − log ν, the classifier's log-odds of "data": ``(N,)``."""
    nu = _check_nu(nu)
    if log_model.shape != log_noise.shape:
        raise ValueError(f"log_model and log_noise must have the same shape, got "
                         f"{tuple(log_model.shape)} and {tuple(log_noise.shape)}")
    return log_model - log_noise.to(log_model) - math.log(nu)


def nce_loss(log_model_fn: LogProb, x_data: torch.Tensor, x_noise: torch.Tensor,
             noise_log_prob: LogProb, nu: float) -> torch.Tensor:
    """−J: the NCE loss per data point (a scalar to minimise).

        −J = −mean_i log σ(h(x_i)) − ν · mean_j log(1 − σ(h(y_j))),

    with log σ(h) = −softplus(−h) and log(1 − σ(h)) = −softplus(h) (numerically stable).

    Args:
        log_model_fn: x ``(N, D)`` -> log p̂(x) ``(N,)`` (e.g. an :class:`NCEModel`).
        x_data: ``(n, D)`` data; x_noise: ``(m, D)`` draws of q, normally m = ν n.
        noise_log_prob: log q, ``(N, D) -> (N,)``.
        nu: ν > 0, the ratio of noise to data points in the classifier's prior odds.
    """
    nu = _check_nu(nu)
    x_data = as_points(x_data, name="x_data")
    x_noise = as_points(x_noise, dim=x_data.shape[1], name="x_noise")
    h_data = nce_logits(log_model_fn(x_data), noise_log_prob(x_data), nu)
    h_noise = nce_logits(log_model_fn(x_noise), noise_log_prob(x_noise), nu)
    return torch.nn.functional.softplus(-h_data).mean() + nu * torch.nn.functional.softplus(h_noise).mean()


def optimal_logits(log_p_data: torch.Tensor, log_noise: torch.Tensor, nu: float) -> torch.Tensor:
    """The Bayes-optimal data-vs-noise log-odds log p_data − log q − log ν (the NCE optimum,
    and the optimal GAN discriminator's logit for ν = 1; chapters 4 and 13)."""
    return nce_logits(as_vector(log_p_data, "log_p_data"), as_vector(log_noise, "log_noise"), nu)


def gaussian_noise(std: float, dim: int = 2, mean=None) -> densities.Gaussian:
    """The isotropic noise density q = N(mean, std² I) (sample and log_prob): chapter 4."""
    std = positive(std, "std")
    dim = positive_int(dim, "dim")
    mean = torch.zeros(dim, dtype=torch.float64) if mean is None else torch.as_tensor(mean, dtype=torch.float64)
    return densities.Gaussian(mean, std**2 * torch.eye(dim, dtype=torch.float64))


@dataclass(frozen=True)
class UniformBox:
    """Uniform noise on the box [lo, hi]^dim: log q = −dim · log(hi − lo) inside, −inf outside."""

    lo: float
    hi: float
    dim: int = 2

    def __post_init__(self):
        interval((self.lo, self.hi), "(lo, hi)")
        positive_int(self.dim, "dim")

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, dim) -> (N,)``."""
        x = as_points(x, dim=self.dim)
        inside = ((x >= self.lo) & (x <= self.hi)).all(dim=1)
        value = -self.dim * math.log(self.hi - self.lo)
        return torch.where(inside, torch.full_like(x[:, 0], value), torch.full_like(x[:, 0], -math.inf))

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``(n, dim)`` float64 draws."""
        n = positive_int(n, "n")
        device = generator.device if generator is not None else torch.device("cpu")
        u = torch.rand(n, self.dim, generator=generator, dtype=torch.float64, device=device)
        return self.lo + (self.hi - self.lo) * u
