"""The variational view of diffusion (chapter 10), in the course's continuous convention.

Forward process: x_{t+Δt} = x_t + δ√Δt e, so x_t = x_0 + δ√t z and σ_t² = δ² t
(variance exploding). Everything here is exact Gaussian algebra:

* :func:`posterior_mean_var` — q(x_{t−Δt} | x_t, x_0) by conditioning a Brownian path,

      q(x_{t−Δt} | x_t, x_0) = N( ((t−Δt)/t) x_t + (Δt/t) x_0,  δ² Δt (t−Δt)/t · I ),

  a Gaussian with a non-zero variance (the tutorial writes 0, which makes every KL infinite);
* :func:`gaussian_kl` — KL between isotropic/diagonal Gaussians given by means and
  **variances**, elementwise; :func:`step_kl` — the per-step term
  KL(q(x_{t−Δt} | x_t, x_0) ‖ N(M, s² I)) summed over the data dimensions;
* :func:`prior_kl` and :func:`decoder_nll` — the first and last terms of the decomposition
  KL(q(x_{0:T}) ‖ p_θ(x_{0:T})) = −H(p_data) + E KL(q(x_T|x_0) ‖ p(x_T))
  + Σ E KL(q(x_{t−Δt}|x_t,x_0) ‖ p_θ(x_{t−Δt}|x_t)) + E[−log p_θ(x_0 | x_Δt)];
* :func:`convert` — the ε-, x_0- and score-parameterisations of one denoiser, for
  x_t = a x_0 + σ z (a = 1 here; a = √ᾱ_t, σ = √(1−ᾱ_t) for DDPM):
  x̂_0 = (x_t − σ ε̂)/a,  ŝ = −ε̂/σ;
* :class:`ClippedEps` — a noise predictor whose implied x̂_0 is clipped to the data range
  (DDPM's "clipped denoised" trick), used by chapter 9's samplers;
* :func:`exact_reverse_conditional` — p(x_{t−Δt} | x_t) without x_0, for Gaussian-mixture
  data: again a Gaussian mixture, so its distance to a Gaussian approximation is computable.

Shapes: batches ``(N, D)``; t, dt, δ positive numbers with 0 < dt < t (dt = t is allowed
where stated). Used by chapter 10 (and :class:`ClippedEps`, :func:`convert` by chapter 9).
"""

from __future__ import annotations

import math

import torch

from ._validate import as_points, as_tensor, positive
from .densities import GaussianMixture

__all__ = [
    "posterior_mean_var",
    "gaussian_kl",
    "step_kl",
    "prior_kl",
    "decoder_nll",
    "convert",
    "reverse_mean_from_eps",
    "exact_reverse_conditional",
    "ClippedEps",
]

LOG_2PI = math.log(2 * math.pi)


def _times(t, dt, allow_equal: bool = False) -> tuple[float, float]:
    t, dt = positive(t, "t"), positive(dt, "dt")
    if dt > t or (dt == t and not allow_equal):
        raise ValueError(f"dt must satisfy 0 < dt < t, got t={t}, dt={dt}")
    return t, dt


def posterior_mean_var(x_t, x_0, t: float, dt: float, delta: float = 1.0) -> tuple[torch.Tensor, float]:
    """Mean and variance of q(x_{t−Δt} | x_t, x_0) for the forward process x_t = x_0 + δ√t z.

    mean = ((t − Δt)/t) x_t + (Δt/t) x_0   (the shape of the broadcast x_t, x_0),
    var  = δ² Δt (t − Δt)/t                 (a number, the same for every coordinate).

    Derivation: given x_0, (x_{t−Δt}, x_t) is Gaussian with Var x_{t−Δt} = δ²(t−Δt),
    Var x_t = δ² t and covariance δ²(t−Δt); condition the first on the second.
    ``dt = t`` is allowed (then the mean is x_0 and the variance 0: the last step is exact).
    """
    t, dt = _times(t, dt, allow_equal=True)
    delta = positive(delta, "delta")
    x_t, x_0 = as_tensor(x_t, "x_t"), as_tensor(x_0, "x_0")
    mean = ((t - dt) / t) * x_t + (dt / t) * x_0
    return mean, delta**2 * dt * (t - dt) / t


def gaussian_kl(mu1, var1, mu2, var2) -> torch.Tensor:
    """KL(N(μ_1, v_1) ‖ N(μ_2, v_2)) per coordinate, with **variances** v (not standard deviations):

        ½ [ log(v_2/v_1) + (v_1 + (μ_1 − μ_2)²)/v_2 − 1 ],

    elementwise over broadcastable tensors/numbers. v_1 → 0 sends it to +∞ (as −½ log v_1).
    Sum over coordinates for an isotropic Gaussian in D dimensions.
    """
    mu1, mu2 = as_tensor(mu1, "mu1"), as_tensor(mu2, "mu2")
    var1 = torch.as_tensor(var1, dtype=mu1.dtype, device=mu1.device)
    var2 = torch.as_tensor(var2, dtype=mu1.dtype, device=mu1.device)
    if (var2 <= 0).any() or (var1 < 0).any():
        raise ValueError("var1 must be >= 0 and var2 > 0")
    return 0.5 * (torch.log(var2 / var1) + (var1 + (mu1 - mu2) ** 2) / var2 - 1.0)


def step_kl(x_t, x_0, model_mean, t: float, dt: float, delta: float = 1.0,
            model_var: float | None = None) -> torch.Tensor:
    """KL(q(x_{t−Δt} | x_t, x_0) ‖ N(model_mean, s² I)) for each row: ``(N, D) -> (N,)``.

    ``model_var`` s² defaults to δ²Δt (the reverse-SDE step's variance). Then

        KL = ‖M − μ‖²/(2δ²Δt) + (D/2)[(t−Δt)/t − 1 − log((t−Δt)/t)],

    and with M built from a noise estimate ε̂ (:func:`reverse_mean_from_eps`) the first term is
    (Δt/2t)‖z − ε̂‖². With s² equal to the posterior variance δ²Δt(t−Δt)/t the constant is 0
    and the first term is ‖M − μ‖²/(2δ²Δt(t−Δt)/t) = (Δt/2(t−Δt))‖z − ε̂‖².
    """
    x_t = as_points(x_t, name="x_t")
    mu, var = posterior_mean_var(x_t, as_points(x_0, x_t.shape[1], "x_0"), t, dt, delta)
    model_mean = as_points(model_mean, x_t.shape[1], "model_mean")
    s2 = delta**2 * dt if model_var is None else positive(model_var, "model_var")
    return gaussian_kl(mu, var, model_mean, s2).sum(dim=1)


def prior_kl(x_0, T: float, delta: float = 1.0, prior_var: float | None = None) -> torch.Tensor:
    """KL(q(x_T | x_0) ‖ p(x_T)) with q(x_T | x_0) = N(x_0, δ²T I) and p(x_T) = N(0, v I),
    v = ``prior_var`` (default δ²T): ``(N, D) -> (N,)``. Small when δ²T dwarfs the data's scale."""
    x_0 = as_points(x_0, name="x_0")
    T, delta = positive(T, "T"), positive(delta, "delta")
    v = delta**2 * T if prior_var is None else positive(prior_var, "prior_var")
    return gaussian_kl(x_0, delta**2 * T, torch.zeros_like(x_0), v).sum(dim=1)


def decoder_nll(x_0, mean, var: float) -> torch.Tensor:
    """The final term −log p_θ(x_0 | x_Δt) for p_θ = N(mean, var I): ``(N, D) -> (N,)``."""
    x_0 = as_points(x_0, name="x_0")
    mean = as_points(mean, x_0.shape[1], "mean")
    var = positive(var, "var")
    d = x_0.shape[1]
    return 0.5 * (((x_0 - mean) ** 2).sum(1) / var + d * (math.log(var) + LOG_2PI))


def convert(x_t, sigma: float, *, eps=None, x0=None, score=None, scale: float = 1.0) -> dict[str, torch.Tensor]:
    """One denoiser in its three parameterisations, for x_t = a x_0 + σ z (a = ``scale``).

    Give exactly one of ``eps`` (ε̂), ``x0`` (x̂_0) or ``score`` (ŝ ≈ ∇ log p_t); returns the
    dict ``{"eps", "x0", "score"}`` of tensors shaped like ``x_t``:

        x̂_0 = (x_t − σ ε̂)/a,   ŝ = −ε̂/σ,   ε̂ = (x_t − a x̂_0)/σ = −σ ŝ.

    With the exact score, x̂_0 is Tweedie's E[x_0 | x_t] and ε̂ = E[z | x_t].
    """
    x_t = as_tensor(x_t, "x_t")
    sigma, a = positive(sigma, "sigma"), positive(scale, "scale")
    given = {k: v for k, v in (("eps", eps), ("x0", x0), ("score", score)) if v is not None}
    if len(given) != 1:
        raise ValueError(f"give exactly one of eps, x0, score; got {sorted(given) or 'none'}")
    (kind, value), = given.items()
    value = as_tensor(value, kind)
    if value.shape != x_t.shape:
        raise ValueError(f"{kind} must have the shape of x_t {tuple(x_t.shape)}, got {tuple(value.shape)}")
    e = {"eps": lambda v: v, "x0": lambda v: (x_t - a * v) / sigma, "score": lambda v: -sigma * v}[kind](value)
    return {"eps": e, "x0": (x_t - sigma * e) / a, "score": -e / sigma}


def reverse_mean_from_eps(x_t, eps, t: float, dt: float, delta: float = 1.0) -> torch.Tensor:
    """M_θ = the posterior mean with x_0 replaced by x̂_0 = x_t − δ√t ε̂:

        M_θ = ((t−Δt)/t) x_t + (Δt/t) x̂_0 = x_t − (δ Δt/√t) ε̂ = x_t + δ²Δt ŝ.
    """
    t, dt = _times(t, dt, allow_equal=True)
    delta = positive(delta, "delta")
    x_t, eps = as_tensor(x_t, "x_t"), as_tensor(eps, "eps")
    return x_t - (delta * dt / math.sqrt(t)) * eps


def exact_reverse_conditional(data: GaussianMixture, x_t, t: float, dt: float,
                              delta: float = 1.0) -> list[GaussianMixture]:
    """p(x_{t−Δt} | x_t) ∝ p_{t−Δt}(x_{t−Δt}) N(x_t; x_{t−Δt}, δ²Δt I) for mixture data p_0.

    p_{t−Δt} is the mixture with variances s_k² + δ²(t−Δt); multiplying each component by the
    Gaussian likelihood gives again a mixture, one per row of ``x_t (N, D)``:

        weights  r_k(x_t) = p(k | x_t) under p_t (variances s_k² + δ² t),
        means    (v_k x_t + δ²Δt μ_k)/(v_k + δ²Δt),   v_k = s_k² + δ²(t−Δt),
        variances v_k δ²Δt/(v_k + δ²Δt).

    Returns a list of N :class:`GaussianMixture` (exact log-density, sampler).
    """
    t, dt = _times(t, dt)
    delta = positive(delta, "delta")
    x_t = as_points(x_t, data.dim, "x_t").double()
    r = data.noised(delta * math.sqrt(t)).responsibilities(x_t)  # (N, K)
    v = data.stds**2 + delta**2 * (t - dt)  # (K,)
    w = delta**2 * dt
    means = (v[None, :, None] * x_t[:, None, :] + w * data.means[None]) / (v + w)[None, :, None]  # (N, K, D)
    stds = torch.sqrt(v * w / (v + w))
    return [GaussianMixture(r[i], means[i], stds) for i in range(x_t.shape[0])]


class ClippedEps(torch.nn.Module):
    """ε̂ with its implied x̂_0 clipped to [lo, hi], for the DDPM convention x_t = √ᾱ_t x_0 + √(1−ᾱ_t) z.

    x̂_0 = clip((x_t − √(1−ᾱ_t) ε̂)/√ᾱ_t, lo, hi), then ε̂' = (x_t − √ᾱ_t x̂_0)/√(1−ᾱ_t)
    (:func:`convert` both ways). Near the start of sampling ᾱ_t is tiny and dividing by √ᾱ_t
    multiplies any error of ε̂ a thousandfold; when the data are known to lie in [lo, hi]
    clipping removes that error. ``forward(x, t)`` takes the integer step indices t ``(N,)``
    as floats, like the wrapped model (see :mod:`gm_course.ddpm`).
    """

    def __init__(self, model: torch.nn.Module, alphas_bar: torch.Tensor, lo: float = -1.0, hi: float = 1.0):
        super().__init__()
        if not lo < hi:
            raise ValueError(f"need lo < hi, got {lo} and {hi}")
        self.model, self.lo, self.hi = model, float(lo), float(hi)
        self.register_buffer("alphas_bar", as_tensor(alphas_bar, "alphas_bar").detach().clone())

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        a = self.alphas_bar.to(x)[t.long()].reshape(-1, *([1] * (x.ndim - 1)))  # (N, 1, …)
        eps = self.model(x, t)
        x0 = ((x - (1 - a).sqrt() * eps) / a.sqrt()).clamp(self.lo, self.hi)
        return (x - a.sqrt() * x0) / (1 - a).sqrt()
