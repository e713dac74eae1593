"""Toy densities with exact log-density, score and sampler.

Every target of the course is known in closed form, so each demonstration can be checked
against the truth: ``log_prob`` for likelihoods and KL gaps, ``score`` (the gradient of the
log-density in x) for samplers and diffusion, ``sample`` for data.

For a Gaussian mixture the diffusion-noised density p_t = p_0 * N(0, σ_t² I) is again a
Gaussian mixture whose component variances grow by σ_t² (:meth:`GaussianMixture.noised`), so
exact scores of p_t are available for every diffusion chapter.

Shapes: points are ``(N, D)``; ``log_prob`` returns ``(N,)``; ``score`` returns ``(N, D)``.
Parameters are moved to the dtype and device of the input (the device follows the data).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ._validate import as_points, positive, positive_int

LOG_2PI = math.log(2 * math.pi)


def softmax_rows(a: torch.Tensor) -> torch.Tensor:
    """softmax over the last axis of ``a`` ``(N, K)``, for the few components of a mixture.

    The same numbers as ``torch.softmax(a, dim=1)`` to rounding, 2-5× faster on a CPU for
    K ≤ 8 and N in the thousands (torch's kernel is slow along so short an axis), which
    matters in samplers that ask for responsibilities at every step.
    """
    e = (a - a.amax(-1, keepdim=True)).exp()
    return e / e.sum(-1, keepdim=True)


@dataclass(frozen=True, eq=False)
class GaussianMixture:
    """p(x) = Σ_k w_k N(x; μ_k, s_k² I) in D dimensions (isotropic components).

    Args:
        weights: ``(K,)`` non-negative, normalised on construction.
        means: ``(K, D)`` component means.
        stds: ``(K,)`` component standard deviations (one per component).

    Used from chapter 1 on; chapters 7-10 use :meth:`noised` for exact diffusion scores.
    """

    weights: torch.Tensor
    means: torch.Tensor
    stds: torch.Tensor

    def __post_init__(self):
        w = torch.as_tensor(self.weights, dtype=torch.float64)
        mu = torch.as_tensor(self.means, dtype=torch.float64)
        s = torch.as_tensor(self.stds, dtype=torch.float64)
        if mu.ndim != 2:
            raise ValueError(f"means must have shape (K, D), got {tuple(mu.shape)}")
        k = mu.shape[0]
        if w.shape != (k,) or s.shape != (k,):
            raise ValueError(
                f"weights and stds must have shape ({k},) to match means {tuple(mu.shape)}, "
                f"got {tuple(w.shape)} and {tuple(s.shape)}"
            )
        if not (torch.isfinite(w).all() and torch.isfinite(mu).all() and torch.isfinite(s).all()):
            raise ValueError("weights, means and stds must be finite")
        if (w < 0).any() or w.sum() <= 0:
            raise ValueError("weights must be non-negative with a positive sum")
        if (s <= 0).any():
            raise ValueError("stds must be positive")
        object.__setattr__(self, "weights", w / w.sum())
        object.__setattr__(self, "means", mu)
        object.__setattr__(self, "stds", s)

    @property
    def dim(self) -> int:
        return self.means.shape[1]

    @property
    def num_components(self) -> int:
        return self.means.shape[0]

    def _params_like(self, x: torch.Tensor):
        return (self.weights.to(x), self.means.to(x), self.stds.to(x))

    def component_log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """log w_k + log N(x; μ_k, s_k² I) for every point and component: ``(N, D) -> (N, K)``."""
        x = as_points(x, dim=self.dim)
        w, mu, s = self._params_like(x)
        sq = ((x[:, None, :] - mu[None]) ** 2).sum(-1)  # (N, K)
        d = self.dim
        return torch.log(w) - 0.5 * sq / s**2 - d * torch.log(s) - 0.5 * d * LOG_2PI

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """log p(x) = logsumexp_k [log w_k + log N(x; μ_k, s_k² I)]: ``(N, D) -> (N,)``."""
        return torch.logsumexp(self.component_log_prob(x), dim=1)

    def responsibilities(self, x: torch.Tensor) -> torch.Tensor:
        """Posterior component probabilities r_k(x) = p(k | x): ``(N, D) -> (N, K)``."""
        return softmax_rows(self.component_log_prob(x))

    def score(self, x: torch.Tensor) -> torch.Tensor:
        """∇_x log p(x) = Σ_k r_k(x) (μ_k − x) / s_k²: ``(N, D) -> (N, D)``."""
        x = as_points(x, dim=self.dim)
        _, mu, s = self._params_like(x)
        r = self.responsibilities(x)  # (N, K)
        pull = (mu[None] - x[:, None, :]) / s[None, :, None] ** 2  # (N, K, D)
        return (r[:, :, None] * pull).sum(1)

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Draw ``n`` points ``(n, D)`` (float64, CPU unless the generator lives elsewhere)."""
        n = positive_int(n, "n")
        device = generator.device if generator is not None else torch.device("cpu")
        k = torch.multinomial(self.weights.to(device), n, replacement=True, generator=generator)
        z = torch.randn(n, self.dim, generator=generator, dtype=torch.float64, device=device)
        return self.means.to(device)[k] + self.stds.to(device)[k, None] * z

    def noised(self, sigma: float) -> "GaussianMixture":
        """The density of x + σ e, e ~ N(0, I): p * N(0, σ² I), again a mixture with s_k² + σ²."""
        if not (isinstance(sigma, (int, float)) and math.isfinite(sigma) and sigma >= 0):
            raise ValueError(f"sigma must be a finite number >= 0, got {sigma!r}")
        return GaussianMixture(self.weights, self.means, torch.sqrt(self.stds**2 + sigma**2))

    def mean(self) -> torch.Tensor:
        """E[x]: ``(D,)``."""
        return self.weights @ self.means

    def covariance(self) -> torch.Tensor:
        """Cov[x] = Σ_k w_k (s_k² I + μ_k μ_kᵀ) − E[x] E[x]ᵀ: ``(D, D)``."""
        m = self.mean()
        second = (self.weights[:, None, None] * self.means[:, :, None] * self.means[:, None, :]).sum(0)
        second = second + (self.weights * self.stds**2).sum() * torch.eye(self.dim, dtype=m.dtype)
        return second - torch.outer(m, m)


@dataclass(frozen=True, eq=False)
class Gaussian:
    """N(μ, Σ) with a full covariance: exact log-density, score, sampler and entropy.

    Args:
        mean: ``(D,)``; cov: ``(D, D)`` symmetric positive definite.

    log p(x) = −½ (x − μ)ᵀ Σ⁻¹ (x − μ) − ½ log det(2π Σ);  score = −Σ⁻¹ (x − μ);
    H = ½ log det(2π e Σ). Used for maximum likelihood (chapter 2) and wherever a correlated
    Gaussian is the exact answer.
    """

    mean: torch.Tensor
    cov: torch.Tensor

    def __post_init__(self):
        mu = torch.as_tensor(self.mean, dtype=torch.float64)
        cov = torch.as_tensor(self.cov, dtype=torch.float64)
        if mu.ndim != 1 or cov.shape != (mu.shape[0], mu.shape[0]):
            raise ValueError(
                f"mean must have shape (D,) and cov (D, D), got {tuple(mu.shape)} and {tuple(cov.shape)}"
            )
        if not (torch.isfinite(mu).all() and torch.isfinite(cov).all()):
            raise ValueError("mean and cov must be finite")
        if not torch.allclose(cov, cov.T, rtol=1e-10, atol=1e-12):
            raise ValueError("cov must be symmetric")
        chol, info = torch.linalg.cholesky_ex(cov)
        if info != 0:
            raise ValueError("cov must be positive definite")
        object.__setattr__(self, "mean", mu)
        object.__setattr__(self, "cov", cov)
        object.__setattr__(self, "_chol", chol)

    @property
    def dim(self) -> int:
        return self.mean.shape[0]

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, D) -> (N,)``."""
        x = as_points(x, dim=self.dim)
        chol = self._chol.to(x)
        z = torch.linalg.solve_triangular(chol, (x - self.mean.to(x)).T, upper=False)  # (D, N)
        half_log_det = torch.log(torch.diagonal(chol)).sum()
        return -0.5 * (z**2).sum(0) - half_log_det - 0.5 * self.dim * LOG_2PI

    def score(self, x: torch.Tensor) -> torch.Tensor:
        """−Σ⁻¹ (x − μ): ``(N, D) -> (N, D)``."""
        x = as_points(x, dim=self.dim)
        return -torch.cholesky_solve((x - self.mean.to(x)).T, self._chol.to(x)).T

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """μ + L z with Σ = L Lᵀ and z ~ N(0, I): ``(n, D)``."""
        n = positive_int(n, "n")
        device = generator.device if generator is not None else torch.device("cpu")
        z = torch.randn(n, self.dim, generator=generator, dtype=torch.float64, device=device)
        return self.mean.to(device) + z @ self._chol.to(device).T

    def entropy(self) -> float:
        """½ log det(2π e Σ)."""
        return 0.5 * self.dim * math.log(2 * math.pi * math.e) + torch.log(torch.diagonal(self._chol)).sum().item()


def gaussian_mixture_1d(weights, means, stds) -> GaussianMixture:
    """A 1-D mixture from flat lists: ``means`` of shape ``(K,)`` become ``(K, 1)``."""
    means = torch.as_tensor(means, dtype=torch.float64)
    if means.ndim != 1:
        raise ValueError(f"means must be 1-D of shape (K,), got {tuple(means.shape)}")
    return GaussianMixture(weights, means[:, None], stds)


def eight_gaussians(radius: float = 2 * math.sqrt(2), std: float = 1 / (2 * math.sqrt(2))) -> GaussianMixture:
    """The 8-Gaussian ring (FFJORD's toy data): equal weights, means on a circle of ``radius``.

    With the default scale its entropy is H(p) ≈ 2.831 nats.
    """
    positive(radius, "radius")
    positive(std, "std")
    angles = torch.arange(8, dtype=torch.float64) * (2 * math.pi / 8)
    means = radius * torch.stack([torch.cos(angles), torch.sin(angles)], dim=1)
    return GaussianMixture(torch.ones(8), means, torch.full((8,), float(std)))


@dataclass(frozen=True)
class Banana:
    """A curved, non-Gaussian 2-D density with exact log-density, score and sampler.

    x₁ ~ N(0, a²) and x₂ | x₁ ~ N(b (x₁² − a²), c²), so

        log p(x) = log N(x₁; 0, a²) + log N(x₂ − b (x₁² − a²); 0, c²).

    Its entropy is exact too: the map (x₁, u) ↦ (x₁, u + b(x₁² − a²)) has unit Jacobian, so
    H = log(2π e a c) (:meth:`entropy`). The defaults keep all but ~1e-6 of the mass inside
    the course's standard grid box [−5.5, 5.5]².
    """

    a: float = 1.0
    b: float = 0.3
    c: float = 0.3

    def __post_init__(self):
        positive(self.a, "a")
        positive(self.c, "c")
        if not math.isfinite(self.b):
            raise ValueError(f"b must be finite, got {self.b!r}")

    dim = 2

    def _residual(self, x):
        return x[:, 1] - self.b * (x[:, 0] ** 2 - self.a**2)

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, 2) -> (N,)``."""
        x = as_points(x, dim=2)
        u = self._residual(x)
        return (
            -0.5 * (x[:, 0] / self.a) ** 2 - 0.5 * (u / self.c) ** 2
            - math.log(self.a * self.c) - LOG_2PI
        )

    def score(self, x: torch.Tensor) -> torch.Tensor:
        """∇ log p = (−x₁/a² + 2 b x₁ u / c², −u / c²) with u = x₂ − b(x₁² − a²): ``(N, 2) -> (N, 2)``."""
        x = as_points(x, dim=2)
        u = self._residual(x)
        g1 = -x[:, 0] / self.a**2 + 2 * self.b * x[:, 0] * u / self.c**2
        g2 = -u / self.c**2
        return torch.stack([g1, g2], dim=1)

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        n = positive_int(n, "n")
        device = generator.device if generator is not None else torch.device("cpu")
        z = torch.randn(n, 2, generator=generator, dtype=torch.float64, device=device)
        x1 = self.a * z[:, 0]
        return torch.stack([x1, self.b * (x1**2 - self.a**2) + self.c * z[:, 1]], dim=1)

    def entropy(self) -> float:
        return math.log(2 * math.pi * math.e * self.a * self.c)


@dataclass(frozen=True)
class Checkerboard:
    """Uniform density on the dark squares of a 4×4 board of side ``2 * scale`` cells.

    FFJORD's checkerboard at scale 2 ("FFJORD scale"): support [−4, 4]², 8 squares of side 2,
    density 1/32 there, so H = log 32 ≈ 3.4657. The density is piecewise constant, so it has
    no useful score (zero inside, undefined on the edges); :meth:`score` raises.
    """

    scale: float = 2.0

    def __post_init__(self):
        positive(self.scale, "scale")

    dim = 2

    @property
    def support_area(self) -> float:
        return 8 * self.scale**2

    def _inside(self, x):
        cells = torch.floor(x / self.scale)  # integer cell indices, board spans −2..1
        in_box = ((cells >= -2) & (cells <= 1)).all(dim=1)
        dark = (cells[:, 0] + cells[:, 1]).remainder(2) == 0
        return in_box & dark

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """−log(32 scale²/4) on the dark squares, −inf elsewhere: ``(N, 2) -> (N,)``."""
        x = as_points(x, dim=2)
        out = torch.full((x.shape[0],), -math.inf, dtype=x.dtype, device=x.device)
        out[self._inside(x)] = -math.log(self.support_area)
        return out

    def score(self, x: torch.Tensor) -> torch.Tensor:
        raise ValueError("Checkerboard is piecewise constant: its score is zero or undefined")

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        n = positive_int(n, "n")
        device = generator.device if generator is not None else torch.device("cpu")
        u = torch.rand(n, 2, generator=generator, dtype=torch.float64, device=device)
        row = torch.randint(0, 4, (n,), generator=generator, device=device)
        col = 2 * torch.randint(0, 2, (n,), generator=generator, device=device) + row.remainder(2)
        cells = torch.stack([col, row], dim=1).to(torch.float64) - 2  # dark: col + row even
        return (cells + u) * self.scale

    def entropy(self) -> float:
        return math.log(self.support_area)
