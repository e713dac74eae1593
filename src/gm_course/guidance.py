"""Classifier-free guidance with exact fields on a class-labelled Gaussian mixture.

Each class c owns a sub-mixture of a :class:`~gm_course.densities.GaussianMixture`
(``labels[k]`` is the class of component k). Under the course's forward process
p_t = p_0 * N(0, δ² t I) (chapters 7-8) both p_t(x) and p_t(x | c) stay mixtures, so

    unconditional score   ∇log p_t(x)
    conditional score     ∇log p_t(x | c)
    guided score          s_w = (1 − w) ∇log p_t(x) + w ∇log p_t(x | c)
                              = ∇log p_t(x) + w ∇log p_t(c | x)

are exact (Ho & Salimans 2022 for classifier-free guidance; Dhariwal & Nichol 2021 for
the classifier form). At t = 0, s_w is the score of the tilted density
p(x | c)^w p(x)^{1−w}; at t > 0 it is NOT the score of the noised tilted density, which is
why guided samples for w ≠ 1 are not distributed as the tilt. Chapter 16.
"""

from __future__ import annotations

import math

import torch

from ._validate import as_points, positive, positive_int
from .densities import GaussianMixture
from .diffusion import ScoreFn, mixture_score_fn, sigma_t

__all__ = [
    "check_labels", "class_prior", "conditional_mixture", "guided_score",
    "guided_score_fn", "class_posterior", "tilted_log_prob", "sample_grid",
]


def _weight(w) -> float:
    if isinstance(w, bool) or not isinstance(w, (int, float)) or not math.isfinite(w):
        raise ValueError(f"guidance weight w must be a finite number, got {w!r}")
    return float(w)


def check_labels(mixture: GaussianMixture, labels) -> torch.Tensor:
    """Validate per-component class labels: ``(K,)`` integers 0..C−1, every class used."""
    if not isinstance(mixture, GaussianMixture):
        raise ValueError(f"mixture must be a GaussianMixture, got {type(mixture).__name__}")
    lab = torch.as_tensor(labels)
    if lab.shape != (mixture.num_components,):
        raise ValueError(f"labels must have shape ({mixture.num_components},), one per "
                         f"component, got {tuple(lab.shape)}")
    if lab.dtype.is_floating_point or lab.dtype == torch.bool:
        raise ValueError(f"labels must be integers, got dtype {lab.dtype}")
    lab = lab.long()
    if (lab < 0).any():
        raise ValueError("labels must be >= 0")
    n_classes = int(lab.max()) + 1
    missing = sorted(set(range(n_classes)) - set(lab.tolist()))
    if missing:
        raise ValueError(f"every class 0..{n_classes - 1} needs a component; missing {missing}")
    return lab


def _class(c, n_classes: int) -> int:
    if isinstance(c, bool) or not isinstance(c, int) or not 0 <= c < n_classes:
        raise ValueError(f"class c must be an integer in 0..{n_classes - 1}, got {c!r}")
    return c


def class_prior(mixture: GaussianMixture, labels) -> torch.Tensor:
    """p(c) = Σ_{k: labels[k] = c} w_k: ``(C,)``."""
    lab = check_labels(mixture, labels)
    return torch.zeros(int(lab.max()) + 1, dtype=mixture.weights.dtype).index_add_(
        0, lab, mixture.weights)


def conditional_mixture(mixture: GaussianMixture, labels, c: int) -> GaussianMixture:
    """p(x | c): the class's components with their weights renormalised."""
    lab = check_labels(mixture, labels)
    keep = lab == _class(c, int(lab.max()) + 1)
    return GaussianMixture(mixture.weights[keep], mixture.means[keep], mixture.stds[keep])


def guided_score(uncond: torch.Tensor, cond: torch.Tensor, w: float) -> torch.Tensor:
    """s_w = (1 − w) uncond + w cond, the classifier-free combination (shapes must match)."""
    w = _weight(w)
    uncond, cond = torch.as_tensor(uncond), torch.as_tensor(cond)
    if uncond.shape != cond.shape:
        raise ValueError(f"uncond and cond must have the same shape, got "
                         f"{tuple(uncond.shape)} and {tuple(cond.shape)}")
    return (1 - w) * uncond + w * cond


def guided_score_fn(mixture: GaussianMixture, labels, c: int, w: float,
                    delta: float) -> ScoreFn:
    """The exact guided score s_w(x, t) for class c as a ``score_fn(x, t)`` for the
    samplers of :mod:`gm_course.diffusion` (w = 0: unconditional; w = 1: conditional)."""
    w = _weight(w)
    delta = positive(delta, "delta")
    uncond = mixture_score_fn(mixture, delta)
    cond = mixture_score_fn(conditional_mixture(mixture, labels, c), delta)

    def score_fn(x: torch.Tensor, t) -> torch.Tensor:
        return (1 - w) * uncond(x, t) + w * cond(x, t)

    return score_fn


def class_posterior(mixture: GaussianMixture, labels, x: torch.Tensor, t: float = 0.0,
                    delta: float = 1.0) -> torch.Tensor:
    """The exact p_t(c | x): responsibilities of p_t summed over each class, ``(N, C)``."""
    lab = check_labels(mixture, labels)
    x = as_points(x, dim=mixture.dim)
    r = mixture.noised(sigma_t(t, delta)).responsibilities(x)  # (N, K)
    out = torch.zeros(len(x), int(lab.max()) + 1, dtype=r.dtype, device=r.device)
    return out.index_add_(1, lab.to(r.device), r)


def tilted_log_prob(mixture: GaussianMixture, labels, c: int, w: float):
    """Unnormalised log of the tilted density, x ↦ w log p(x | c) + (1 − w) log p(x)
    (``(N, D) -> (N,)``); normalise it on a grid with :func:`gm_course.quadrature.normalize`."""
    w = _weight(w)
    cond = conditional_mixture(mixture, labels, c)

    def log_f(x: torch.Tensor) -> torch.Tensor:
        return w * cond.log_prob(x) + (1 - w) * mixture.log_prob(x)

    return log_f


def sample_grid(log_p: torch.Tensor, grid, n: int,
                generator: torch.Generator | None = None) -> torch.Tensor:
    """Exact draws from a 2-D grid density: pick a cell by its mass, then a uniform point in
    it. ``log_p`` has the grid's shape; returns ``(n, 2)`` float64."""
    n = positive_int(n, "n")
    if grid.dim != 2:
        raise ValueError(f"sample_grid needs a 2-D grid, got dim={grid.dim}")
    log_p = grid._check_table(log_p, "log_p").to(torch.float64)
    probs = torch.softmax(log_p.reshape(-1), 0)
    idx = torch.multinomial(probs, n, replacement=True, generator=generator)
    ij = torch.stack([idx // grid.n, idx % grid.n], dim=1).to(torch.float64)  # x slowest
    u = torch.rand(n, 2, generator=generator, dtype=torch.float64)
    return grid.lo + grid.spacing * (ij + u)
