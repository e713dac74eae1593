"""Variational autoencoders: the ELBO, its exact linear-Gaussian case, a small MLP VAE (chapter 12).

A latent-variable model p_θ(x) = ∫ p(z) p_θ(x | z) dz with an encoder q_φ(z | x) satisfies,
for every x,

    log p_θ(x) = ELBO(x) + KL(q_φ(z | x) ‖ p_θ(z | x)),
    ELBO(x)    = E_{q_φ(z|x)}[log p_θ(x | z)] − KL(q_φ(z | x) ‖ p(z)) ≤ log p_θ(x),

with equality exactly when q_φ(z | x) is the true posterior. Averaged over the data,

    KL(p_data(x) q_φ(z|x) ‖ p(z) p_θ(x|z)) = KL(p_data ‖ p_θ) + E_{p_data} KL(q_φ(z|x) ‖ p_θ(z|x)).

- :class:`LinearGaussianModel`: p(z) = N(0, I_d), p(x | z) = N(W z + b, σ² I_D); marginal,
  posterior and the ELBO of any Gaussian q in closed form.
- :func:`gaussian_kl`: KL between Gaussians with full covariances.
- :class:`VAE`: MLP encoder and decoder, a learned observation noise, the reparameterised
  ELBO, sampling and the importance-weighted likelihood bound.

Shapes: data ``(N, D)``, latents ``(N, d)``, per-datum values ``(N,)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from ._validate import as_points, positive, positive_int
from .densities import Gaussian

__all__ = [
    "diagonal_gaussian_log_prob",
    "aggregated_posterior_log_prob",
    "kl_to_standard_normal",
    "gaussian_kl",
    "LinearGaussianModel",
    "VAE",
]

LOG_2PI = math.log(2 * math.pi)


def _randn(shape, like: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    dev = generator.device if generator is not None else like.device
    return torch.randn(shape, generator=generator, dtype=like.dtype, device=dev).to(like.device)


def diagonal_gaussian_log_prob(x: torch.Tensor, mean: torch.Tensor, log_std: torch.Tensor) -> torch.Tensor:
    """log N(x; m, diag(e^{2 log_std})) summed over the last axis: ``(N, D) -> (N,)``."""
    return (-0.5 * ((x - mean) * torch.exp(-log_std)) ** 2 - log_std - 0.5 * LOG_2PI).sum(-1)


def aggregated_posterior_log_prob(z: torch.Tensor, mean: torch.Tensor, log_std: torch.Tensor) -> torch.Tensor:
    """log q(z) = log (1/N) Σ_i N(z; m_i, diag e^{2 log_std_i}), the aggregated posterior.

    The mixture of the N encodings of a data set, evaluated at M codes. The square in each
    exponent is expanded, Σ_j (z_j² − 2 z_j m_ij + m_ij²) / s_ij², so the (M, N) table costs
    two matrix products instead of an (M, N, d) tensor. Chapter 12.

    Args:
        z: codes ``(M, d)``. mean, log_std: the encodings ``(N, d)``.

    Returns:
        ``(M,)``.
    """
    z = as_points(z, name="z")
    mean = as_points(mean, dim=z.shape[1], name="mean")
    if log_std.shape != mean.shape:
        raise ValueError(f"log_std must have the shape of mean {tuple(mean.shape)}, got {tuple(log_std.shape)}")
    prec = torch.exp(-2 * log_std)                                            # 1 / s², (N, d)
    quad = (z**2) @ prec.T - 2 * z @ (mean * prec).T + (mean**2 * prec).sum(-1)  # (M, N)
    log_n = -0.5 * quad - log_std.sum(-1) - 0.5 * z.shape[1] * LOG_2PI
    return torch.logsumexp(log_n, dim=1) - math.log(mean.shape[0])


def kl_to_standard_normal(mean: torch.Tensor, log_std: torch.Tensor) -> torch.Tensor:
    """KL(N(m, diag s²) ‖ N(0, I)) = ½ Σ_j (m_j² + s_j² − 1 − 2 log s_j): ``(N, d) -> (N,)``."""
    return 0.5 * (mean**2 + torch.exp(2 * log_std) - 1 - 2 * log_std).sum(-1)


def gaussian_kl(m1: torch.Tensor, S1: torch.Tensor, m2: torch.Tensor, S2: torch.Tensor) -> torch.Tensor:
    """KL(N(m1, S1) ‖ N(m2, S2)) = ½ [tr(S2⁻¹ S1) + Δᵀ S2⁻¹ Δ − d + log det S2 − log det S1].

    Means ``(..., d)`` broadcast; covariances ``(d, d)`` (shared by the batch). Returns ``(...)``.
    """
    d = S1.shape[-1]
    P2 = torch.linalg.inv(S2)
    delta = m1 - m2
    quad = ((delta @ P2) * delta).sum(-1)
    return 0.5 * (torch.trace(P2 @ S1) + quad - d + torch.logdet(S2) - torch.logdet(S1))


@dataclass(frozen=True, eq=False)
class LinearGaussianModel:
    """p(z) = N(0, I_d),  p(x | z) = N(W z + b, σ² I_D)  (probabilistic PCA). Chapter 12.

    Everything is Gaussian and exact:
    marginal  p(x) = N(b, W Wᵀ + σ² I);
    posterior p(z | x) = N(S Wᵀ (x − b) / σ², S) with S = (I + Wᵀ W / σ²)⁻¹.

    Args:
        W: ``(D, d)``; b: ``(D,)``; sigma: observation noise σ > 0.
    """

    W: torch.Tensor
    b: torch.Tensor
    sigma: float

    def __post_init__(self):
        W = torch.as_tensor(self.W, dtype=torch.float64)
        b = torch.as_tensor(self.b, dtype=torch.float64)
        if W.ndim != 2 or b.shape != (W.shape[0],):
            raise ValueError(f"W must be (D, d) and b (D,), got {tuple(W.shape)} and {tuple(b.shape)}")
        object.__setattr__(self, "W", W)
        object.__setattr__(self, "b", b)
        object.__setattr__(self, "sigma", positive(self.sigma, "sigma"))

    @property
    def data_dim(self) -> int:
        return self.W.shape[0]

    @property
    def latent_dim(self) -> int:
        return self.W.shape[1]

    def marginal(self) -> Gaussian:
        """p(x) = N(b, W Wᵀ + σ² I)."""
        return Gaussian(self.b, self.W @ self.W.T + self.sigma**2 * torch.eye(self.data_dim, dtype=torch.float64))

    def posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean ``(N, d)`` and covariance ``(d, d)`` of p(z | x)."""
        x = as_points(x, dim=self.data_dim).to(torch.float64)
        S = torch.linalg.inv(torch.eye(self.latent_dim, dtype=torch.float64) + self.W.T @ self.W / self.sigma**2)
        return (x - self.b) @ self.W @ S / self.sigma**2, S

    def elbo(self, x: torch.Tensor, q_mean: torch.Tensor, q_cov: torch.Tensor) -> torch.Tensor:
        """Exact ELBO of q(z | x) = N(q_mean, q_cov): E_q[log p(x|z) + log p(z)] + H(q), ``(N,)``.

        E_q log p(x|z) = −(D/2) log 2πσ² − (|x − b − W m|² + tr(W S Wᵀ)) / 2σ²
        E_q log p(z)   = −(d/2) log 2π − (|m|² + tr S) / 2,   H(q) = ½ log det(2πe S).
        """
        x = as_points(x, dim=self.data_dim).to(torch.float64)
        D, d, s2 = self.data_dim, self.latent_dim, self.sigma**2
        resid = x - self.b - q_mean @ self.W.T
        rec = -0.5 * D * math.log(2 * math.pi * s2) - ((resid**2).sum(-1) + torch.trace(self.W @ q_cov @ self.W.T)) / (2 * s2)
        prior = -0.5 * d * LOG_2PI - 0.5 * ((q_mean**2).sum(-1) + torch.trace(q_cov))
        ent = 0.5 * (d * math.log(2 * math.pi * math.e) + torch.logdet(q_cov))
        return rec + prior + ent

    def sample_joint(self, n: int, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(x, z) from p(z) p(x | z): ``(n, D)``, ``(n, d)``."""
        n = positive_int(n, "n")
        z = _randn((n, self.latent_dim), self.W, generator)
        x = z @ self.W.T + self.b + self.sigma * _randn((n, self.data_dim), self.W, generator)
        return x, z


def _mlp(d_in: int, d_out: int, hidden: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(d_in, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(),
                         nn.Linear(hidden, d_out))


class VAE(nn.Module):
    """A VAE with Gaussian encoder q_φ(z|x) = N(μ_φ(x), diag σ_φ(x)²), prior N(0, I) and
    Gaussian decoder p_θ(x|z) = N(g_θ(z), s² I) with one learned noise level s. Chapter 12.

    Args:
        data_dim: D. latent_dim: d. hidden: MLP width. init_obs_std: the initial s.
    """

    def __init__(self, data_dim: int = 2, latent_dim: int = 2, hidden: int = 64, init_obs_std: float = 0.5):
        super().__init__()
        self.data_dim = positive_int(data_dim, "data_dim")
        self.latent_dim = positive_int(latent_dim, "latent_dim")
        hidden = positive_int(hidden, "hidden")
        self.encoder = _mlp(self.data_dim, 2 * self.latent_dim, hidden)
        self.decoder = _mlp(self.latent_dim, self.data_dim, hidden)
        self.log_obs_std = nn.Parameter(torch.tensor(math.log(positive(init_obs_std, "init_obs_std"))))

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and log-std of q_φ(z|x): ``(N, D) -> ((N, d), (N, d))``."""
        mean, log_std = self.encoder(x).chunk(2, dim=-1)
        return mean, log_std.clamp(-8.0, 4.0)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Decoder mean g_θ(z): ``(N, d) -> (N, D)``."""
        return self.decoder(z)

    def elbo(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """One-sample reparameterised ELBO, z = μ + σ ⊙ ε:
        log p_θ(x | z) − KL(q_φ(z|x) ‖ N(0, I)) (closed-form KL), ``(N, D) -> (N,)``."""
        mean, log_std = self.encode(x)
        z = mean + torch.exp(log_std) * _randn(mean.shape, mean, generator)
        rec = diagonal_gaussian_log_prob(x, self.decode(z), self.log_obs_std.expand_as(x))
        return rec - kl_to_standard_normal(mean, log_std)

    @torch.no_grad()
    def iw_log_likelihood(self, x: torch.Tensor, k: int = 64, generator: torch.Generator | None = None) -> torch.Tensor:
        """Importance-weighted bound log (1/k) Σ_i p(x, z_i)/q(z_i|x), z_i ~ q(z|x): ``(N,)``.

        ELBO ≤ this ≤ log p_θ(x), increasing to log p_θ(x) as k grows (Burda et al.)."""
        k = positive_int(k, "k")
        mean, log_std = self.encode(x)
        eps = _randn((k,) + tuple(mean.shape), mean, generator)
        z = mean + torch.exp(log_std) * eps  # (k, N, d)
        log_q = diagonal_gaussian_log_prob(z, mean, log_std)
        log_prior = diagonal_gaussian_log_prob(z, torch.zeros_like(z), torch.zeros_like(z))
        log_lik = diagonal_gaussian_log_prob(x.expand(k, *x.shape), self.decode(z), self.log_obs_std.expand(k, *x.shape))
        return torch.logsumexp(log_lik + log_prior - log_q, dim=0) - math.log(k)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, z: torch.Tensor | None = None,
               noise: bool = True) -> torch.Tensor:
        """x = g_θ(z) + s ε with z ~ N(0, I) (or the given ``z`` (n, d)); ``noise=False`` gives g_θ(z)."""
        p = self.log_obs_std
        if z is None:
            z = _randn((positive_int(n, "n"), self.latent_dim), p, generator)
        x = self.decode(z)
        return x + torch.exp(p) * _randn(x.shape, x, generator) if noise else x

    @torch.no_grad()
    def aggregated_posterior_sample(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """z ~ q_φ(z) = E_{p_data}[q_φ(z | x)]: one draw of q_φ(z|x_i) per data point, ``(N, d)``."""
        mean, log_std = self.encode(x)
        return mean + torch.exp(log_std) * _randn(mean.shape, mean, generator)
