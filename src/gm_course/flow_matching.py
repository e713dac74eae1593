"""Flow matching: conditional paths, the exact marginal velocity, the CFM loss, reflow.

Time runs from noise to data (Lipman et al.'s and Liu et al.'s convention, the opposite of
chapter 7's): x_0 ~ N(0, I) is the source, x_1 ~ p_data the target, and the **linear
path** joins them,

    x_t = (1 − t) x_0 + t x_1,   t ∈ [0, 1],   d x_t / dt = x_1 − x_0.

The velocity that moves the whole distribution p_t (the law of x_t) is the average of the
conditional ones,

    u_t(x) = E[x_1 − x_0 | x_t = x],

and the ODE dx/dt = u_t(x), started from N(0, I) at t = 0, has marginal p_t at every t
(it solves the continuity equation ∂_t p_t + ∇·(p_t u_t) = 0). For a Gaussian-mixture
target both p_t and u_t are closed-form (:func:`marginal_density`,
:func:`marginal_velocity`). The same u_t in terms of the score (Tweedie for the linear
path, E[x_0 | x_t] = −(1 − t) ∇log p_t) is the probability-flow ODE's velocity,

    u_t(x) = x/t + ((1 − t)/t) ∇log p_t(x)   (:func:`velocity_from_score`).

Chapter 7's variance-exploding path x_s = x_data + δ√s z, run in chapter 7's own time s,
has the marginal velocity (x − E[x_data | x_s = x])/(2s) = −(δ²/2) ∇log p_s(x)
(:func:`ve_velocity`): its flow is chapter 7's ODE, one flow among many.

A velocity model is called as ``velocity_fn(x, t)``: x ``(N, D)``, t a tensor ``(N,)``
(same dtype and device as x) -> ``(N, D)``. Chapter 15.
"""

from __future__ import annotations

import math
from typing import Callable

import torch

from ._validate import as_points, as_tensor, positive, positive_int
from .densities import GaussianMixture

__all__ = [
    "linear_path", "conditional_velocity", "marginal_density", "marginal_velocity",
    "velocity_from_score", "ve_velocity", "cfm_loss", "euler_step", "heun_step",
    "integrate", "reflow_pairs", "straightness",
]

VelocityFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def _times(t, x: torch.Tensor, name: str = "t", closed: tuple[bool, bool] = (True, True)):
    """t as a column ``(N, 1)`` on x's dtype and device, checked to lie in [0, 1]."""
    if isinstance(t, (int, float)) and not isinstance(t, bool):
        t = torch.tensor(float(t), dtype=x.dtype, device=x.device)  # no float32 rounding
    t = as_tensor(t, name).to(x)
    if t.ndim == 0:
        t = t.expand(x.shape[0])
    if t.shape != (x.shape[0],):
        raise ValueError(f"{name} must be a number or have shape ({x.shape[0]},), got {tuple(t.shape)}")
    lo_ok = (t >= 0) if closed[0] else (t > 0)
    hi_ok = (t <= 1) if closed[1] else (t < 1)
    if not bool((lo_ok & hi_ok).all()):
        bounds = ("[" if closed[0] else "(") + "0, 1" + ("]" if closed[1] else ")")
        raise ValueError(f"{name} must lie in {bounds}")
    return t[:, None]


def linear_path(x0: torch.Tensor, x1: torch.Tensor, t) -> torch.Tensor:
    """x_t = (1 − t) x_0 + t x_1: x0, x1 ``(N, D)``, t a number or ``(N,)`` in [0, 1]."""
    x0, x1 = as_points(x0, name="x0"), as_points(x1, name="x1")
    if x0.shape != x1.shape:
        raise ValueError(f"x0 and x1 must have the same shape, got {tuple(x0.shape)} and {tuple(x1.shape)}")
    t = _times(t, x0)
    return (1 - t) * x0 + t * x1


def conditional_velocity(x0: torch.Tensor, x1: torch.Tensor) -> torch.Tensor:
    """d x_t/dt = x_1 − x_0 along the linear path (the same at every t): ``(N, D)``."""
    x0, x1 = as_points(x0, name="x0"), as_points(x1, name="x1")
    if x0.shape != x1.shape:
        raise ValueError(f"x0 and x1 must have the same shape, got {tuple(x0.shape)} and {tuple(x1.shape)}")
    return x1 - x0


def marginal_density(mixture: GaussianMixture, t: float) -> GaussianMixture:
    """p_t, the law of (1 − t) x_0 + t x_1 with x_0 ~ N(0, I) and x_1 ~ the mixture:

        p_t = Σ_k w_k N(t μ_k, ((1 − t)² + t² s_k²) I)   (again a mixture).
    """
    if isinstance(t, bool) or not isinstance(t, (int, float)) or not 0 <= t <= 1:
        raise ValueError(f"t must be a number in [0, 1], got {t!r}")
    return GaussianMixture(mixture.weights, t * mixture.means,
                           torch.sqrt((1 - t) ** 2 + t**2 * mixture.stds**2))


def marginal_velocity(mixture: GaussianMixture, x: torch.Tensor, t) -> torch.Tensor:
    """The exact u_t(x) = E[x_1 − x_0 | x_t = x] for a mixture target and N(0, I) source.

    Given component k, (x_0, x_1, x_t) are jointly Gaussian; with v_k = (1 − t)² + t² s_k²,

        E[x_1 − x_0 | x_t = x, k] = μ_k + (t s_k² − (1 − t))/v_k · (x − t μ_k),

    and u_t(x) = Σ_k r_k(x) E[x_1 − x_0 | x, k] with r_k the responsibilities under p_t.
    Finite on all of [0, 1] (u_0(x) = E[x_1] − x, u_1(x) = x). x ``(N, D)``, t a number or
    ``(N,)`` in [0, 1] -> ``(N, D)``.
    """
    x = as_points(x, dim=mixture.dim)
    t = _times(t, x)  # (N, 1)
    w, mu, s2 = mixture.weights.to(x), mixture.means.to(x), (mixture.stds**2).to(x)
    v = (1 - t) ** 2 + t**2 * s2  # (N, K)
    diff = x[:, None, :] - t[:, :, None] * mu[None]  # (N, K, D)
    logits = w.log() - 0.5 * (diff**2).sum(-1) / v - 0.5 * mixture.dim * v.log()
    r = torch.softmax(logits, dim=1)  # (N, K)
    per_k = mu[None] + ((t * s2 - (1 - t)) / v)[:, :, None] * diff  # (N, K, D)
    return (r[:, :, None] * per_k).sum(1)


def velocity_from_score(x: torch.Tensor, score: torch.Tensor, t) -> torch.Tensor:
    """u_t(x) = a(t) x + b(t) ∇log p_t(x) with a = 1/t, b = (1 − t)/t (linear path).

    The probability-flow velocity f x − ½ g² ∇log p of the diffusion whose marginals are the
    law of t x_1 + (1 − t) z: f = α'/α = 1/t and ½ g² = σ²α'/α − σσ' = −(1 − t)/t for
    α = t, σ = 1 − t. x, score ``(N, D)``, t a number or ``(N,)`` in (0, 1].
    """
    x = as_points(x)
    score = as_points(score, dim=x.shape[1], name="score")
    if score.shape != x.shape:
        raise ValueError(f"score must have the shape of x {tuple(x.shape)}, got {tuple(score.shape)}")
    t = _times(t, x, closed=(False, True))
    return x / t + (1 - t) / t * score


def ve_velocity(mixture: GaussianMixture, x: torch.Tensor, s: float, delta: float) -> torch.Tensor:
    """Chapter 7's path x_s = x_data + δ√s z in its own time s > 0: the marginal velocity

        E[d x_s/ds | x_s = x] = E[δ z/(2√s) | x] = (x − E[x_data | x_s = x]) / (2 s),

    from the closed-form posterior mean (:func:`gm_course.diffusion.mixture_posterior_mean`).
    By Tweedie it equals −(δ²/2) ∇log p_s(x), the probability-flow ODE of chapter 7."""
    from .diffusion import mixture_posterior_mean

    x = as_points(x, dim=mixture.dim)
    s = positive(s, "s")
    return (x - mixture_posterior_mean(mixture, x, s, delta)) / (2 * s)


def _noise(shape, like: torch.Tensor, generator) -> torch.Tensor:
    device = generator.device if generator is not None else torch.device("cpu")
    return torch.randn(shape, generator=generator, device=device, dtype=like.dtype).to(like.device)


def _uniform(n: int, like: torch.Tensor, generator) -> torch.Tensor:
    device = generator.device if generator is not None else torch.device("cpu")
    return torch.rand(n, generator=generator, device=device, dtype=like.dtype).to(like.device)


def cfm_loss(velocity_fn: VelocityFn, x1: torch.Tensor, x0: torch.Tensor | None = None,
             t: torch.Tensor | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
    """The conditional flow-matching loss  mean_n ‖v_θ(x_t, t_n) − (x_1 − x_0)‖²,
    x_t = (1 − t_n) x_0 + t_n x_1.

    ``x0`` defaults to fresh N(0, I) draws (the independent coupling); pass the paired
    sources for reflow. ``t`` defaults to U(0, 1) draws ``(N,)``. Its minimiser is u_t
    (E‖v − (x_1 − x_0)‖² = E‖v − u_t‖² + a constant). x1 ``(N, D)`` -> a scalar."""
    x1 = as_points(x1, name="x1")
    x0 = _noise(x1.shape, x1, generator) if x0 is None else as_points(x0, dim=x1.shape[1], name="x0")
    if x0.shape != x1.shape:
        raise ValueError(f"x0 must have the shape of x1 {tuple(x1.shape)}, got {tuple(x0.shape)}")
    t = _uniform(x1.shape[0], x1, generator) if t is None else _times(t, x1)[:, 0]
    xt = (1 - t[:, None]) * x0 + t[:, None] * x1
    return ((velocity_fn(xt, t) - (x1 - x0)) ** 2).sum(1).mean()


def euler_step(velocity_fn: VelocityFn, x: torch.Tensor, t: float, dt: float) -> torch.Tensor:
    """x_{t+Δt} = x_t + Δt v(x_t, t): ``(N, D)``."""
    return x + dt * velocity_fn(x, torch.full((x.shape[0],), t, dtype=x.dtype, device=x.device))


def heun_step(velocity_fn: VelocityFn, x: torch.Tensor, t: float, dt: float) -> torch.Tensor:
    """Heun (trapezoid predictor-corrector): x̃ = x + Δt v(x, t), then
    x_{t+Δt} = x + (Δt/2)(v(x, t) + v(x̃, t + Δt)). Two evaluations, second order."""
    full = lambda s: torch.full((x.shape[0],), s, dtype=x.dtype, device=x.device)  # noqa: E731
    d1 = velocity_fn(x, full(t))
    d2 = velocity_fn(x + dt * d1, full(t + dt))
    return x + 0.5 * dt * (d1 + d2)


def integrate(velocity_fn: VelocityFn, x0: torch.Tensor, n_steps: int, method: str = "euler",
              t0: float = 0.0, t1: float = 1.0, return_path: bool = False) -> torch.Tensor:
    """Solve dx/dt = v(x, t) from ``t0`` to ``t1`` on ``n_steps`` uniform steps.

    ``method``: ``"euler"`` (n_steps evaluations) or ``"heun"`` (2 n_steps). Returns x at
    ``t1`` ``(N, D)``, or the path ``(n_steps + 1, N, D)`` with ``return_path=True``."""
    x = as_points(x0, name="x0")
    n_steps = positive_int(n_steps, "n_steps")
    if method not in ("euler", "heun"):
        raise ValueError(f"method must be 'euler' or 'heun', got {method!r}")
    if not (0 <= t0 < t1 <= 1):
        raise ValueError(f"t0 and t1 must satisfy 0 <= t0 < t1 <= 1, got {t0!r} and {t1!r}")
    step = euler_step if method == "euler" else heun_step
    dt = (t1 - t0) / n_steps
    path = [x]
    with torch.no_grad():
        for i in range(n_steps):
            x = step(velocity_fn, x, t0 + i * dt, dt)
            if return_path:
                path.append(x)
    return torch.stack(path) if return_path else x


def reflow_pairs(velocity_fn: VelocityFn, n: int, dim: int, n_steps: int = 32,
                 method: str = "heun", generator: torch.Generator | None = None,
                 dtype: torch.dtype = torch.float64, device=None):
    """Couplings for rectified flow: x_0 ~ N(0, I) ``(n, dim)`` and x_1 = the ODE's end
    point from x_0. Training on these pairs with :func:`cfm_loss` (``x0=``) is one reflow
    step (Liu et al., 2023). Returns ``(x0, x1)``."""
    n, dim = positive_int(n, "n"), positive_int(dim, "dim")
    like = torch.empty(0, dtype=dtype, device=device)
    x0 = _noise((n, dim), like, generator)
    return x0, integrate(velocity_fn, x0, n_steps, method)


def straightness(path: torch.Tensor) -> torch.Tensor:
    """Liu et al.'s straightness S = ∫_0^1 E‖(X_1 − X_0) − Ẋ_t‖² dt of a path on a uniform
    grid, ``(M + 1, N, D)`` (from :func:`integrate` with ``return_path=True``): the segment
    velocities M (x_{i+1} − x_i) against the chord x_M − x_0, averaged over segments and
    points. Zero exactly for straight paths at constant speed. Returns a 0-d tensor."""
    path = as_tensor(path, "path")
    if path.ndim != 3 or path.shape[0] < 2:
        raise ValueError(f"path must have shape (M + 1, N, D) with M >= 1, got {tuple(path.shape)}")
    m = path.shape[0] - 1
    seg = m * (path[1:] - path[:-1])  # (M, N, D)
    chord = path[-1] - path[0]  # (N, D)
    return ((seg - chord[None]) ** 2).sum(-1).mean()
