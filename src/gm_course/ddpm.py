"""The discrete variance-preserving diffusion recipe (DDPM) with ε-prediction.

The standard recipe of Ho, Jain and Abbeel (2020), written out so that schedules and
samplers take the network as an argument (no sampler hidden inside a model class).

Conventions (shared by every function here and by chapters 8-10):

* Steps are indexed ``t_index = 0, …, T−1`` (Python indices; the paper's t = t_index + 1).
  ``betas[i] = β_{i+1}``, ``alphas = 1 − betas`` and ``alphas_bar[i] = Π_{j ≤ i} alphas[j]``,
  all of shape ``(T,)``, float64 on the CPU (moved to the data's device and dtype when used).
* Forward marginal (:func:`q_sample`):  x_t = √ᾱ_t x_0 + √(1 − ᾱ_t) z,  z ~ N(0, I).
  It ends at ≈ N(0, I) only when ᾱ_T is small: with the linear β from 1e-4 to 0.02,
  T = 1000 gives ᾱ_T ≈ 4e-5 but T = 50 gives ᾱ_T ≈ 0.6 (:meth:`DDPMSchedule.alpha_bar_T`).
* The network is called as ``model(x_t, t)`` with ``x_t`` of shape ``(N, *data_shape)``
  and ``t`` a **float** tensor of shape ``(N,)`` holding the integer step indices
  ``t_index`` (values 0, …, T−1, same dtype and device as ``x_t``); it returns the noise
  estimate ε̂ of the shape of ``x_t``. A model that wants t/T divides by ``schedule.T``
  itself; :func:`gm_course.nets.sinusoidal_embedding` embeds the raw index directly.
* Loss (:func:`eps_loss`):  E_{t, x_0, z} ‖z − ε_θ(x_t, t)‖², averaged over all entries.
  With the course's continuous notation this is the denoising objective of chapter 8
  (ε_θ = −σ s_θ); the variational derivation is chapter 10.

Samplers: :func:`ancestral_sample` (DDPM), :func:`ddim_sample` (DDIM, deterministic or
stochastic) and :func:`dpm_solver_sample` (a second-order multistep solver of the same
reverse process, deterministic or stochastic).

Used by chapter 8 (the DDPM-recipe baseline), chapter 9 (the U-Net on digits) and
chapter 10 (the variational view).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import torch

from ._validate import as_vector, positive, positive_int

__all__ = [
    "DDPMSchedule",
    "linear_schedule",
    "cosine_schedule",
    "q_sample",
    "eps_loss",
    "ancestral_sample",
    "ddim_sample",
    "dpm_solver_sample",
]

Model = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass(frozen=True, eq=False)
class DDPMSchedule:
    """A noise schedule β_1..β_T with its precomputed coefficients.

    Attributes (all ``(T,)`` float64 tensors):
        betas: β_t ∈ (0, 1).
        alphas: α_t = 1 − β_t.
        alphas_bar: ᾱ_t = Π_{s ≤ t} α_s (the signal fraction kept after step t).
        posterior_variance: β̃_t = β_t (1 − ᾱ_{t−1}) / (1 − ᾱ_t), with ᾱ_{−1} = 1, the variance
            of q(x_{t−1} | x_t, x_0) (0 at the first step).
    """

    betas: torch.Tensor

    def __post_init__(self):
        b = as_vector(torch.as_tensor(self.betas, dtype=torch.float64), "betas")
        if ((b <= 0) | (b >= 1)).any():
            raise ValueError("betas must lie strictly between 0 and 1")
        a = 1.0 - b
        a_bar = torch.cumprod(a, 0)
        a_bar_prev = torch.cat([torch.ones(1, dtype=torch.float64), a_bar[:-1]])
        object.__setattr__(self, "betas", b)
        object.__setattr__(self, "alphas", a)
        object.__setattr__(self, "alphas_bar", a_bar)
        object.__setattr__(self, "posterior_variance", b * (1.0 - a_bar_prev) / (1.0 - a_bar))

    @property
    def T(self) -> int:
        """Number of steps."""
        return self.betas.shape[0]

    @property
    def alpha_bar_T(self) -> float:
        """ᾱ_T: how much of x_0 survives the whole forward process (should be ≤ 1e-3)."""
        return float(self.alphas_bar[-1])

    def sigmas(self) -> torch.Tensor:
        """The equivalent variance-exploding noise levels σ_t = √((1 − ᾱ_t)/ᾱ_t): ``(T,)``.

        x_t / √ᾱ_t = x_0 + σ_t z, so DDPM step t is the course's process at σ_t.
        """
        return torch.sqrt((1.0 - self.alphas_bar) / self.alphas_bar)


def linear_schedule(T: int = 1000, beta_start: float = 1e-4, beta_end: float = 0.02) -> DDPMSchedule:
    """β_t linear from ``beta_start`` to ``beta_end`` over ``T`` steps (Ho et al., 2020)."""
    T = positive_int(T, "T")
    lo = positive(beta_start, "beta_start")
    hi = positive(beta_end, "beta_end")
    if hi < lo or hi >= 1:
        raise ValueError(f"need beta_start <= beta_end < 1, got {lo} and {hi}")
    return DDPMSchedule(torch.linspace(lo, hi, T, dtype=torch.float64))


def cosine_schedule(T: int = 1000, s: float = 0.008, max_beta: float = 0.999) -> DDPMSchedule:
    """ᾱ_t = f(t)/f(0), f(t) = cos²((t/T + s)/(1 + s) · π/2) (Nichol and Dhariwal, 2021),
    β_t = min(1 − ᾱ_t/ᾱ_{t−1}, ``max_beta``)."""
    T = positive_int(T, "T")
    s = positive(s, "s")
    steps = torch.arange(T + 1, dtype=torch.float64) / T
    f = torch.cos((steps + s) / (1 + s) * math.pi / 2) ** 2
    betas = (1 - f[1:] / f[:-1]).clamp(min=1e-8, max=max_beta)
    return DDPMSchedule(betas)


def _index(t_index, n: int, T: int, device) -> torch.Tensor:
    t = torch.as_tensor(t_index, device=device)
    if t.is_floating_point() or t.is_complex():
        raise ValueError(f"t_index must hold integers (long tensor or int), got dtype {t.dtype}")
    t = t.long().expand(n) if t.ndim == 0 else t.long()
    if t.shape != (n,):
        raise ValueError(f"t_index must be an int or have shape ({n},), got {tuple(t.shape)}")
    if ((t < 0) | (t >= T)).any():
        raise ValueError(f"t_index must lie in 0..{T - 1}")
    return t


def _bcast(coef: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """(N,) coefficients shaped (N, 1, …, 1) to multiply a batch like ``x``."""
    return coef.to(x).reshape(-1, *([1] * (x.ndim - 1)))


def q_sample(schedule: DDPMSchedule, x0: torch.Tensor, t_index, noise: torch.Tensor) -> torch.Tensor:
    """x_t = √ᾱ_t x_0 + √(1 − ᾱ_t) noise.

    Args:
        schedule: the :class:`DDPMSchedule`.
        x0: clean data ``(N, *data_shape)``.
        t_index: step indices, an int or a long tensor ``(N,)`` with values in 0..T−1.
        noise: standard normal noise of the shape of ``x0``.

    Returns:
        x_t of the shape of ``x0``.
    """
    if not isinstance(x0, torch.Tensor) or x0.ndim < 1:
        raise ValueError("x0 must be a tensor of shape (N, *data_shape)")
    if not isinstance(noise, torch.Tensor) or noise.shape != x0.shape:
        raise ValueError(f"noise must be a tensor of the shape of x0 {tuple(x0.shape)}")
    t = _index(t_index, x0.shape[0], schedule.T, x0.device)
    a_bar = schedule.alphas_bar.to(x0.device)[t]
    return _bcast(a_bar.sqrt(), x0) * x0 + _bcast((1 - a_bar).sqrt(), x0) * noise


def eps_loss(model: Model, schedule: DDPMSchedule, x0: torch.Tensor,
             generator: torch.Generator | None = None) -> torch.Tensor:
    """The ε-prediction loss  mean ‖z − ε_θ(x_t, t)‖²  with t ~ U{0..T−1}, z ~ N(0, I).

    Random draws come from ``generator`` (on its own device) and are moved to ``x0``'s
    device. The mean runs over the batch and every data coordinate. Returns a 0-d tensor
    (differentiable in the model's parameters).
    """
    if not isinstance(x0, torch.Tensor) or x0.ndim < 1:
        raise ValueError("x0 must be a tensor of shape (N, *data_shape)")
    gen_device = generator.device if generator is not None else torch.device("cpu")
    n = x0.shape[0]
    t = torch.randint(0, schedule.T, (n,), generator=generator, device=gen_device).to(x0.device)
    z = torch.randn(x0.shape, generator=generator, device=gen_device, dtype=x0.dtype).to(x0.device)
    x_t = q_sample(schedule, x0, t, z)
    return ((z - model(x_t, t.to(x0.dtype))) ** 2).mean()


def _start(shape: Sequence[int], generator, device, dtype) -> torch.Tensor:
    shape = tuple(int(s) for s in shape)
    if not shape or any(s < 1 for s in shape):
        raise ValueError(f"shape must be a non-empty tuple of positive sizes (N, *data_shape), got {shape}")
    gen_device = generator.device if generator is not None else torch.device("cpu")
    return torch.randn(shape, generator=generator, device=gen_device, dtype=dtype).to(device)


@torch.no_grad()
def ancestral_sample(model: Model, schedule: DDPMSchedule, shape: Sequence[int],
                     generator: torch.Generator | None = None, device=None,
                     variance: str = "beta", dtype: torch.dtype | None = None) -> torch.Tensor:
    """DDPM's ancestral sampler (Ho et al., Algorithm 2): x_T ~ N(0, I), then for t = T..1

        x_{t−1} = (x_t − β_t/√(1 − ᾱ_t) ε_θ(x_t, t)) / √α_t + σ_t z,   z ~ N(0, I),

    with no noise at the last step. ``variance="beta"`` uses σ_t² = β_t, ``"posterior"``
    σ_t² = β̃_t (:attr:`DDPMSchedule.posterior_variance`). Returns ``shape``-shaped samples
    on ``device`` (default CPU) in ``dtype`` (default torch's default dtype).
    """
    if variance not in ("beta", "posterior"):
        raise ValueError(f"variance must be 'beta' or 'posterior', got {variance!r}")
    dtype = dtype or torch.get_default_dtype()
    device = torch.device(device) if device is not None else torch.device("cpu")
    x = _start(shape, generator, device, dtype)
    var = schedule.betas if variance == "beta" else schedule.posterior_variance
    coef = (schedule.betas / (1 - schedule.alphas_bar).sqrt()).tolist()
    inv_sqrt_a = (1 / schedule.alphas.sqrt()).tolist()
    std = var.sqrt().tolist()
    for i in range(schedule.T - 1, -1, -1):
        t = torch.full((x.shape[0],), float(i), dtype=dtype, device=device)
        x = inv_sqrt_a[i] * (x - coef[i] * model(x, t))
        if i > 0:
            x = x + std[i] * _start(x.shape, generator, device, dtype)
    return x


def _sampling_indices(schedule: DDPMSchedule, n_steps: int, eta: float) -> list[int]:
    """Validate a fast sampler's arguments; return its ``n_steps`` indices, evenly spaced from T−1 to 0."""
    n_steps = positive_int(n_steps, "n_steps")
    if n_steps > schedule.T:
        raise ValueError(f"n_steps must be at most T = {schedule.T}, got {n_steps}")
    if isinstance(eta, bool) or not (isinstance(eta, (int, float)) and 0 <= eta):
        raise ValueError(f"eta must be a number >= 0, got {eta!r}")
    return torch.linspace(schedule.T - 1, 0, n_steps, dtype=torch.float64).round().long().tolist()


@torch.no_grad()
def ddim_sample(model: Model, schedule: DDPMSchedule, shape: Sequence[int], n_steps: int,
                generator: torch.Generator | None = None, device=None, eta: float = 0.0,
                dtype: torch.dtype | None = None) -> torch.Tensor:
    """DDIM (Song, Meng and Ermon, 2021) on ``n_steps`` indices evenly spaced from T−1 to 0.

    With x̂_0 = (x_t − √(1 − ᾱ_t) ε̂)/√ᾱ_t and the next index s < t (ᾱ_s = 1 after the last):

        x_s = √ᾱ_s x̂_0 + √(1 − ᾱ_s − c²) ε̂ + c z,
        c = η √((1 − ᾱ_s)/(1 − ᾱ_t)) √(1 − ᾱ_t/ᾱ_s).

    η = 0 (default) is deterministic, the discretised probability-flow ODE; η = 1 matches
    ancestral sampling's variance. Returns ``shape``-shaped samples.
    """
    idx = _sampling_indices(schedule, n_steps, eta)
    dtype = dtype or torch.get_default_dtype()
    device = torch.device(device) if device is not None else torch.device("cpu")
    x = _start(shape, generator, device, dtype)
    a_bar = schedule.alphas_bar.tolist()
    for k, i in enumerate(idx):
        a_t = a_bar[i]
        a_s = a_bar[idx[k + 1]] if k + 1 < len(idx) else 1.0
        t = torch.full((x.shape[0],), float(i), dtype=dtype, device=device)
        eps = model(x, t)
        x0_hat = (x - math.sqrt(1 - a_t) * eps) / math.sqrt(a_t)
        c = eta * math.sqrt((1 - a_s) / (1 - a_t) * (1 - a_t / a_s)) if k + 1 < len(idx) else 0.0
        x = math.sqrt(a_s) * x0_hat + math.sqrt(max(1 - a_s - c * c, 0.0)) * eps
        if c > 0:
            x = x + c * _start(x.shape, generator, device, dtype)
    return x


@torch.no_grad()
def dpm_solver_sample(model: Model, schedule: DDPMSchedule, shape: Sequence[int], n_steps: int,
                      generator: torch.Generator | None = None, device=None, eta: float = 1.0,
                      order: int = 2, dtype: torch.dtype | None = None) -> torch.Tensor:
    """DPM-Solver++(2M) (Lu et al., 2022), deterministic (η = 0) or stochastic (η > 0), on the
    ``n_steps`` indices of :func:`ddim_sample` (evenly spaced from T−1 to 0, then ᾱ = 1).

    With α = √ᾱ, σ = √(1 − ᾱ), the log signal-to-noise ratio λ = log(α/σ), the clean-image
    estimate x̂_0 = (x_t − σ_t ε̂)/α_t at the current index t, the next index s (λ_s > λ_t)
    and h = λ_s − λ_t, one step is

        x_s = (σ_s/σ_t) e^{−ηh} x_t + α_s (1 − e^{−(1+η)h}) D + σ_s √(1 − e^{−2ηh}) z,

    with D = x̂_0 (``order=1``) or, from the second step on, the multistep correction
    D = x̂_0 + (x̂_0 − x̂_0^prev)/(2r), r = h_prev/h (``order=2``), which cancels the
    first-order error of treating x̂_0 as constant over the step. The last step returns x̂_0.
    ``order=1`` is exactly :func:`ddim_sample` with the same η ∈ {0, 1} (η = 0: DDIM; η = 1:
    DDPM's posterior noise), draw for draw. η = 1 injects fresh noise at every step, which
    corrects part of the errors of an imperfect ε̂; η = 0 is the probability-flow ODE.
    Uses one network call per step. Returns ``shape``-shaped samples on ``device`` (default
    CPU) in ``dtype`` (default torch's default dtype). Used by chapter 9.
    """
    idx = _sampling_indices(schedule, n_steps, eta)
    if order not in (1, 2):
        raise ValueError(f"order must be 1 or 2, got {order!r}")
    dtype = dtype or torch.get_default_dtype()
    device = torch.device(device) if device is not None else torch.device("cpu")
    x = _start(shape, generator, device, dtype)
    a_bar = schedule.alphas_bar.tolist()
    x0_prev, h_prev = None, None
    for k, i in enumerate(idx):
        a_t, s_t = math.sqrt(a_bar[i]), math.sqrt(1 - a_bar[i])
        t = torch.full((x.shape[0],), float(i), dtype=dtype, device=device)
        x0_hat = (x - s_t * model(x, t)) / a_t
        if k + 1 == len(idx):  # the last step lands on ᾱ = 1: return the clean estimate
            return x0_hat
        a_s, s_s = math.sqrt(a_bar[idx[k + 1]]), math.sqrt(1 - a_bar[idx[k + 1]])
        h = math.log(a_s / s_s) - math.log(a_t / s_t)
        d = x0_hat
        if order == 2 and x0_prev is not None:
            d = x0_hat + (x0_hat - x0_prev) * (h / (2 * h_prev))
        x = (s_s / s_t) * math.exp(-eta * h) * x - a_s * math.expm1(-(1 + eta) * h) * d
        if eta > 0:
            x = x + s_s * math.sqrt(-math.expm1(-2 * eta * h)) * _start(x.shape, generator, device, dtype)
        x0_prev, h_prev = x0_hat, h
    return x  # not reached: the loop returns at its last index
