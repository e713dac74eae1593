"""The course's continuous-time diffusion: forward noising, reverse ODE and SDE, EDM sampling.

The process (chapters 7-8; the tutorial's δ is the noise rate):

    forward   x_{t+Δt} = x_t + δ √Δt e_t,  e_t ~ N(0, I),   so p_t = p_0 * N(0, σ_t² I), σ_t² = δ² t.

Its exact time reversal needs only the score ∇ log p_t, passed in as ``score_fn(x, t)``
(``(N, D), float -> (N, D)``; the exact mixture score in chapter 7, a network in chapter 8):

    probability-flow ODE   dx = −(δ²/2) ∇log p_t(x) dt, integrated from t = T down to 0;
                           Euler step  x_{t−Δt} = x_t + (δ² Δt / 2) ∇log p_t(x_t)  (Δt, not √Δt)
    reverse SDE            x_{t−Δt} = x_t + δ² Δt ∇log p_t(x_t) + δ √Δt ẽ,  ẽ ~ N(0, I).

Time grids are explicit 1-D tensors ``ts`` (decreasing for sampling, increasing to encode
data with the ODE); :func:`time_grid` makes uniform or EDM-spaced ones. Every sampler takes
the score as an argument; nothing here knows about networks. Losses that train a score
model (:func:`dsm_loss`, :func:`edm_loss`) take the model as an argument too.
"""

from __future__ import annotations

import math
from typing import Callable

import torch

from ._validate import as_points, as_vector, positive, positive_int
from .densities import softmax_rows

__all__ = [
    "sigma_t", "time_grid", "edm_sigmas", "forward", "reverse_ode_step", "heun_step",
    "reverse_sde_step", "pf_ode", "reverse_sde", "edm_sample", "gaussian_flow_map",
    "mixture_score_fn", "mixture_posterior_mean", "dsm_loss", "edm_loss",
]

ScoreFn = Callable[[torch.Tensor, float], torch.Tensor]


def sigma_t(t: float, delta: float) -> float:
    """σ_t = δ √t, the standard deviation of the noise accumulated by time t."""
    if not (isinstance(t, (int, float)) and t >= 0):
        raise ValueError(f"t must be a number >= 0, got {t!r}")
    return positive(delta, "delta") * math.sqrt(t)


def time_grid(t_max: float, n_steps: int, t_min: float = 0.0, rho: float | None = None) -> torch.Tensor:
    """A decreasing grid of ``n_steps + 1`` times from ``t_max`` to ``t_min`` (float64).

    ``rho=None``: uniform in t (Δt = (t_max − t_min)/n_steps, the tutorial's grid).
    ``rho=ρ``: uniform in σ^{1/ρ} with σ = √t (Karras et al.'s spacing, dense near t_min).
    """
    t_max = positive(t_max, "t_max")
    n_steps = positive_int(n_steps, "n_steps")
    if not (isinstance(t_min, (int, float)) and 0 <= t_min < t_max):
        raise ValueError(f"t_min must be a number in [0, t_max), got {t_min!r}")
    u = torch.linspace(0, 1, n_steps + 1, dtype=torch.float64)
    if rho is None:
        return t_max + u * (t_min - t_max)
    rho = positive(rho, "rho")
    a, b = math.sqrt(t_max) ** (1 / rho), math.sqrt(t_min) ** (1 / rho)
    return (a + u * (b - a)) ** (2 * rho)


def edm_sigmas(n_steps: int, sigma_min: float = 0.002, sigma_max: float = 80.0, rho: float = 7.0) -> torch.Tensor:
    """Karras et al.'s noise levels σ_i = (σ_max^{1/ρ} + i/(n−1) (σ_min^{1/ρ} − σ_max^{1/ρ}))^ρ,
    i = 0..n−1, followed by σ_n = 0: ``(n_steps + 1,)`` float64, decreasing."""
    n_steps = positive_int(n_steps, "n_steps")
    lo, hi, rho = positive(sigma_min, "sigma_min"), positive(sigma_max, "sigma_max"), positive(rho, "rho")
    if lo >= hi:
        raise ValueError(f"sigma_min must be < sigma_max, got {lo} and {hi}")
    u = torch.linspace(0, 1, n_steps, dtype=torch.float64) if n_steps > 1 else torch.zeros(1, dtype=torch.float64)
    s = (hi ** (1 / rho) + u * (lo ** (1 / rho) - hi ** (1 / rho))) ** rho
    return torch.cat([s, torch.zeros(1, dtype=torch.float64)])


def _grid(ts) -> list[float]:
    ts = as_vector(ts, "ts", min_len=2)
    if (ts < 0).any():
        raise ValueError("ts must hold times >= 0")
    diffs = ts[1:] - ts[:-1]
    if not ((diffs < 0).all() or (diffs > 0).all()):
        raise ValueError("ts must be strictly monotone (decreasing to sample, increasing to encode)")
    return ts.tolist()


def _noise(x: torch.Tensor, generator) -> torch.Tensor:
    device = generator.device if generator is not None else torch.device("cpu")
    return torch.randn(x.shape, generator=generator, device=device, dtype=x.dtype).to(x.device)


def forward(x0: torch.Tensor, ts, delta: float, generator: torch.Generator | None = None,
            return_path: bool = False) -> torch.Tensor:
    """Simulate the forward process x_{t+Δt} = x_t + δ √Δt e on the increasing grid ``ts``
    (``ts[0]`` is the time of ``x0``). Returns x at ``ts[-1]`` ``(N, D)``, or the whole path
    ``(len(ts), N, D)`` with ``return_path=True``. Chapter 7."""
    x = as_points(x0, name="x0")
    delta, grid = positive(delta, "delta"), _grid(ts)
    if grid[1] < grid[0]:
        raise ValueError("ts must increase for the forward process")
    path = [x]
    for t, t_next in zip(grid[:-1], grid[1:]):
        x = x + delta * math.sqrt(t_next - t) * _noise(x, generator)
        if return_path:
            path.append(x)
    return torch.stack(path) if return_path else x


def reverse_ode_step(x: torch.Tensor, t: float, dt: float, score_fn: ScoreFn, delta: float) -> torch.Tensor:
    """One Euler step of the probability-flow ODE backwards in time, from t to t − Δt:

        x_{t−Δt} = x_t + (δ² Δt / 2) ∇log p_t(x_t).

    (The tutorial writes √Δt; that step grows as Δt → 0 and collapses the samples.)"""
    return x + 0.5 * delta**2 * dt * score_fn(x, t)


def heun_step(x: torch.Tensor, t: float, t_next: float, score_fn: ScoreFn, delta: float) -> torch.Tensor:
    """One Heun (trapezoidal predictor-corrector) step of dx/dt = −(δ²/2) ∇log p_t(x) from
    ``t`` to ``t_next`` (either direction). Second order; at ``t_next == 0`` it falls back to
    Euler, since a learned score is not defined at t = 0."""
    h = t_next - t
    d1 = -0.5 * delta**2 * score_fn(x, t)
    x_euler = x + h * d1
    if t_next == 0:
        return x_euler
    d2 = -0.5 * delta**2 * score_fn(x_euler, t_next)
    return x + 0.5 * h * (d1 + d2)


def reverse_sde_step(x: torch.Tensor, t: float, dt: float, score_fn: ScoreFn, delta: float,
                     generator: torch.Generator | None = None) -> torch.Tensor:
    """One Euler-Maruyama step of the reverse SDE from t to t − Δt:

        x_{t−Δt} = x_t + δ² Δt ∇log p_t(x_t) + δ √Δt ẽ,   ẽ ~ N(0, I).

    The drift is twice the ODE's: one half undoes the forward spreading, the other half
    pulls back the fresh noise δ√Δt ẽ (a Langevin step at p_t)."""
    return x + delta**2 * dt * score_fn(x, t) + delta * math.sqrt(dt) * _noise(x, generator)


def pf_ode(score_fn: ScoreFn, x: torch.Tensor, ts, delta: float, method: str = "heun",
           return_path: bool = False) -> torch.Tensor:
    """Integrate the probability-flow ODE dx/dt = −(δ²/2) ∇log p_t(x) along the grid ``ts``.

    A decreasing grid samples (noise -> data: from ``ts[0] = T`` down to ``ts[-1]``); an
    increasing grid encodes (data -> noise). ``method`` is ``"euler"`` or ``"heun"``.
    Returns ``(N, D)``, or the path ``(len(ts), N, D)`` with ``return_path=True``."""
    x = as_points(x)
    delta, grid = positive(delta, "delta"), _grid(ts)
    if method not in ("euler", "heun"):
        raise ValueError(f"method must be 'euler' or 'heun', got {method!r}")
    path = [x]
    for t, t_next in zip(grid[:-1], grid[1:]):
        if method == "euler":
            x = x - 0.5 * delta**2 * (t_next - t) * score_fn(x, t)
        else:
            x = heun_step(x, t, t_next, score_fn, delta)
        if return_path:
            path.append(x)
    return torch.stack(path) if return_path else x


def reverse_sde(score_fn: ScoreFn, x: torch.Tensor, ts, delta: float,
                generator: torch.Generator | None = None, return_path: bool = False) -> torch.Tensor:
    """Euler-Maruyama on the reverse SDE (:func:`reverse_sde_step`) along the decreasing grid
    ``ts``. Returns ``(N, D)`` or the path ``(len(ts), N, D)``."""
    x = as_points(x)
    delta, grid = positive(delta, "delta"), _grid(ts)
    if grid[1] > grid[0]:
        raise ValueError("ts must decrease for the reverse SDE")
    path = [x]
    for t, t_next in zip(grid[:-1], grid[1:]):
        x = reverse_sde_step(x, t, t - t_next, score_fn, delta, generator)
        if return_path:
            path.append(x)
    return torch.stack(path) if return_path else x


def edm_sample(score_fn: ScoreFn, x: torch.Tensor, sigmas, delta: float = 1.0) -> torch.Tensor:
    """Heun's method on the probability-flow ODE written in the noise level σ = δ√t,

        dx/dσ = −σ ∇log p_σ(x)   (the same ODE: dσ/dt = δ²/(2σ)),

    over the decreasing levels ``sigmas`` (e.g. :func:`edm_sigmas`, ending at 0; the last
    step is Euler, which lands on Tweedie's x + σ² ∇log p). ``score_fn(x, t)`` is called
    at t = σ²/δ². ``x`` is the start, ~ N(0, sigmas[0]² I). Returns ``(N, D)``."""
    x = as_points(x)
    delta, levels = positive(delta, "delta"), _grid(sigmas)
    if levels[1] > levels[0]:
        raise ValueError("sigmas must decrease")
    t_of = lambda s: (s / delta) ** 2  # noqa: E731
    for s, s_next in zip(levels[:-1], levels[1:]):
        d1 = -s * score_fn(x, t_of(s))
        x_euler = x + (s_next - s) * d1
        if s_next == 0:
            x = x_euler
        else:
            d2 = -s_next * score_fn(x_euler, t_of(s_next))
            x = x + 0.5 * (s_next - s) * (d1 + d2)
    return x


def gaussian_flow_map(x: torch.Tensor, t_from: float, t_to: float, mean: torch.Tensor,
                      cov: torch.Tensor, delta: float) -> torch.Tensor:
    """The exact probability-flow map for Gaussian data p_0 = N(m, Σ):

        x_{t'} = m + (Σ + σ_{t'}² I)^{1/2} (Σ + σ_t² I)^{−1/2} (x_t − m),

    the solution of the ODE between any two times (both matrices share Σ's eigenvectors).
    x ``(N, D)``, mean ``(D,)``, cov ``(D, D)``. Chapter 7's check of the ODE integrators."""
    x = as_points(x)
    mean = torch.as_tensor(mean).to(x)
    cov = torch.as_tensor(cov).to(x)
    d2 = positive(delta, "delta") ** 2
    evals, evecs = torch.linalg.eigh(cov)
    gain = torch.sqrt((evals + d2 * t_to) / (evals + d2 * t_from))  # (D,)
    return mean + ((x - mean) @ evecs * gain) @ evecs.T


def mixture_score_fn(mixture, delta: float) -> ScoreFn:
    """The exact score of p_t = p_0 * N(0, σ_t² I) for a Gaussian-mixture p_0, as a fast
    ``score_fn(x, t)``:

        ∇ log p_t(x) = Σ_k r_k(x) (μ_k − x)/v_k,   v_k = s_k² + δ² t,
        r_k(x) ∝ w_k N(x; μ_k, v_k I)  (softmax over k).

    The same numbers as ``mixture.noised(δ√t).score(x)`` to rounding, computed with matrix
    products (no ``(N, K, D)`` intermediate), which matters inside samplers that call it
    thousands of times. For one time t the normalisation of r is folded into the product
    (1.6× faster than normalising first for two components in 1-D, chapter 7's case).
    ``t`` may be a number or a tensor ``(N,)`` of per-point times. Chapter 7."""
    delta = positive(delta, "delta")
    w, mu, s2 = mixture.weights, mixture.means, mixture.stds**2
    d = mixture.dim

    def score_fn(x: torch.Tensor, t) -> torch.Tensor:
        mu_, s2_, logw = mu.to(x), s2.to(x), w.log().to(x)
        t = torch.as_tensor(t, dtype=x.dtype, device=x.device)
        v = s2_ + delta**2 * (t.reshape(-1, 1) if t.ndim else t)  # (K,) or (N, K)
        sq = (x * x).sum(1, keepdim=True) - 2 * x @ mu_.T + (mu_ * mu_).sum(1)  # (N, K)
        a = logw - 0.5 * sq / v - 0.5 * d * torch.log(v)  # log r_k up to a constant
        if v.ndim == 2:  # per-point times: v is (N, K)
            rv = softmax_rows(a) / v
            return rv @ mu_ - rv.sum(1, keepdim=True) * x
        e = (a - a.amax(1, keepdim=True)).exp()  # r_k times Σ_k e_k
        # one product gives Σ e μ/v, Σ e/v and Σ e: (N, D + 2)
        m = e @ torch.cat([mu_ / v[:, None], (1 / v)[:, None], torch.ones_like(v)[:, None]], 1)
        return (m[:, :d] - m[:, d:d + 1] * x) / m[:, d + 1:]

    return score_fn


def mixture_posterior_mean(mixture, x: torch.Tensor, t: float, delta: float) -> torch.Tensor:
    """E[x_0 | x_t] for p_0 a :class:`~gm_course.densities.GaussianMixture`, in closed form:

        Σ_k r_k(x_t) [μ_k + s_k²/(s_k² + σ_t²) (x_t − μ_k)],

    with r_k the responsibilities under the noised mixture p_t. Chapter 8 checks Tweedie's
    formula x_t + σ_t² ∇log p_t(x_t) against it."""
    x = as_points(x, dim=mixture.dim)
    s2 = sigma_t(t, delta) ** 2
    r = mixture.noised(math.sqrt(s2)).responsibilities(x)  # (N, K)
    mu, var = mixture.means.to(x), (mixture.stds**2).to(x)
    shrink = (var / (var + s2))[None, :, None]  # (1, K, 1)
    comp = mu[None] + shrink * (x[:, None, :] - mu[None])  # (N, K, D)
    return (r[:, :, None] * comp).sum(1)


def dsm_loss(score_fn: ScoreFn, x0: torch.Tensor, t: torch.Tensor, delta: float,
             generator: torch.Generator | None = None) -> torch.Tensor:
    """Denoising score matching, ε-weighted:  mean_n ‖z_n + σ_{t_n} s_θ(x_0 + σ_{t_n} z_n, t_n)‖².

    This is (1/σ_t²) ‖ε + σ_t² s_θ(x_0 + ε, t)‖² with ε = σ_t z, the tutorial's denoising
    objective divided by σ_t² so that every t weighs alike; with ε_θ = −σ_t s_θ it is DDPM's
    ‖z − ε_θ‖². Here ``score_fn(x, t)`` takes a time tensor ``t`` of shape ``(N,)``."""
    x0 = as_points(x0, name="x0")
    t = torch.as_tensor(t).to(x0).reshape(-1)
    if t.shape != (x0.shape[0],) or (t <= 0).any():
        raise ValueError(f"t must have shape ({x0.shape[0]},) with positive times")
    s = positive(delta, "delta") * t.sqrt()[:, None]
    z = _noise(x0, generator)
    return ((z + s * score_fn(x0 + s * z, t)) ** 2).sum(1).mean()


def edm_loss(denoiser, x0: torch.Tensor, generator: torch.Generator | None = None,
             p_mean: float = -1.2, p_std: float = 1.2) -> torch.Tensor:
    """Karras et al.'s training loss: ln σ ~ N(p_mean, p_std²), n ~ N(0, I),

        mean λ(σ) ‖D(x_0 + σ n, σ) − x_0‖²,   λ(σ) = (σ² + σ_d²)/(σ σ_d)².

    Since D = x + σ² s (Tweedie), ‖D − x_0‖² = ‖ε + σ² s‖²: this is denoising score matching
    with a weight per σ. ``denoiser`` is an :class:`~gm_course.nets.EDMDenoiser`."""
    x0 = as_points(x0, name="x0")
    sigma = (p_mean + p_std * _noise(x0[:, :1], generator)).exp()  # (N, 1)
    sd2 = denoiser.sigma_data**2
    weight = (sigma**2 + sd2) / (sigma**2 * sd2)
    x = x0 + sigma * _noise(x0, generator)
    return (weight * (denoiser(x, sigma.reshape(-1)) - x0) ** 2).sum(1).mean()
