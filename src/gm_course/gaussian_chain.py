"""Diffusion of 1-D Gaussian data as a linear-Gaussian chain: every density in closed form.

Chapter 14 uses this case to check the relations between diffusion and the other models
exactly. The data are p_0 = N(m, s²); the forward process of chapters 7-10 runs on an
increasing grid 0 = t_0 < t_1 < … < t_N = T,

    forward (the fixed encoder)   x_{t_n} = x_{t_{n−1}} + δ √Δt_n e_n,    Δt_n = t_n − t_{n−1},

so that p_t = N(m, v_t) with v_t = s² + δ² t and ∇log p_t(x) = −(x − m)/v_t. The model is
the reverse SDE's Euler-Maruyama chain with this exact score, started at the exact p_T:

    x_T ~ N(m, v_T),
    x_{t_{n−1}} | x_{t_n} ~ N(a_n x_{t_n} + b_n, δ² Δt_n),
    a_n = 1 − δ² Δt_n / v_{t_n},   b_n = δ² Δt_n m / v_{t_n}

(the mean is x + δ²Δt ∇log p_t(x)). Because every step is linear with Gaussian noise:

* :func:`forward_joint` — q(x_{t_0}, …, x_{t_N}) is one Gaussian, Cov = s² + δ² min(t_i, t_j);
* :func:`reverse_chain` — the coefficients (a_n, b_n, δ²Δt_n) and the prior N(m, v_T);
* :func:`chain_joint` — the model's joint p_θ(x_{t_0}, …, x_{t_N}) as one Gaussian, built by
  propagating the noises (x = μ + A e), independently of the factorisation;
* :func:`chain_log_joint` — the same joint's log-density as the autoregressive product in
  reverse time, log p(x_T) + Σ_n log p_θ(x_{t_{n−1}} | x_{t_n});
* :func:`model_marginal` — p_θ(x_0) = N(μ_0, V_0) by the scalar recursion
  μ_{n−1} = a_n μ_n + b_n, V_{n−1} = a_n² V_n + δ²Δt_n;
* :func:`elbo` — the evidence lower bound of the chain read as a hierarchical VAE with the
  fixed encoder q(x_{t_1:t_N} | x_0), per datum, in closed form:

      ELBO(x_0) = E_q[log p_θ(x_{t_0:t_N}) − log q(x_{t_1:t_N} | x_0)] ≤ log p_θ(x_0).

Shapes: a path is ``(M, N + 1)`` with column n holding x_{t_n} (column 0 the data); data
points ``(M,)``. Everything is float64 on the CPU.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ._validate import as_tensor, as_vector, positive
from .densities import Gaussian

__all__ = [
    "ReverseChain",
    "forward_joint",
    "reverse_chain",
    "chain_joint",
    "chain_log_joint",
    "model_marginal",
    "elbo",
]

LOG_2PI = math.log(2 * math.pi)


def _grid(ts) -> torch.Tensor:
    ts = as_vector(ts, "ts", min_len=2).to(torch.float64).cpu()
    if float(ts[0]) != 0.0:
        raise ValueError(f"ts must start at 0 (the time of the data), got ts[0] = {float(ts[0])}")
    if not bool((ts[1:] > ts[:-1]).all()):
        raise ValueError("ts must be strictly increasing")
    return ts


@dataclass(frozen=True)
class ReverseChain:
    """The reverse chain of :func:`reverse_chain`. Index n = 1..N is stored at position n − 1.

    Attributes:
        ts: the grid ``(N + 1,)``, increasing from 0 to T.
        a, b, step_var: ``(N,)`` — x_{t_{n−1}} | x_{t_n} ~ N(a_n x_{t_n} + b_n, step_var_n).
        prior_mean, prior_var: x_T ~ N(prior_mean, prior_var).
        data_mean, data_var: m and s² of p_0; delta: δ.
    """

    ts: torch.Tensor
    a: torch.Tensor
    b: torch.Tensor
    step_var: torch.Tensor
    prior_mean: float
    prior_var: float
    data_mean: float
    data_var: float
    delta: float

    @property
    def n_steps(self) -> int:
        return self.a.shape[0]


def forward_joint(mean: float, var: float, ts, delta: float = 1.0) -> Gaussian:
    """q(x_{t_0}, …, x_{t_N}) for p_0 = N(mean, var): mean m·1, Cov_ij = var + δ² min(t_i, t_j).

    Returns a :class:`~gm_course.densities.Gaussian` of dimension N + 1."""
    ts = _grid(ts)
    var, delta = positive(var, "var"), positive(delta, "delta")
    cov = var + delta**2 * torch.minimum(ts[:, None], ts[None, :])
    return Gaussian(torch.full_like(ts, float(mean)), cov)


def reverse_chain(mean: float, var: float, ts, delta: float = 1.0) -> ReverseChain:
    """Euler-Maruyama steps of the reverse SDE with the exact score of p_t = N(mean, var + δ² t):

        x_{t_{n−1}} = x_{t_n} + δ² Δt_n ∇log p_{t_n}(x_{t_n}) + δ √Δt_n ẽ
                    = a_n x_{t_n} + b_n + δ √Δt_n ẽ,

    a_n = 1 − δ²Δt_n/v_n, b_n = δ²Δt_n m/v_n, v_n = var + δ² t_n; prior x_T ~ N(m, v_T)."""
    ts = _grid(ts)
    var, delta = positive(var, "var"), positive(delta, "delta")
    if not math.isfinite(float(mean)):
        raise ValueError(f"mean must be finite, got {mean!r}")
    dt = ts[1:] - ts[:-1]  # (N,)
    v = var + delta**2 * ts[1:]  # v_{t_n}, n = 1..N
    step = delta**2 * dt
    return ReverseChain(ts=ts, a=1 - step / v, b=step * float(mean) / v, step_var=step,
                        prior_mean=float(mean), prior_var=float(var + delta**2 * ts[-1]),
                        data_mean=float(mean), data_var=float(var), delta=float(delta))


def chain_joint(chain: ReverseChain) -> Gaussian:
    """The model's joint over (x_{t_0}, …, x_{t_N}) as one Gaussian, by linear propagation.

    With independent standard noises e_0..e_N, x_T = μ_T + √V_T e_N and
    x_{t_{n−1}} = a_n x_{t_n} + b_n + √(δ²Δt_n) e_{n−1}; so x = μ + A e and Cov = A Aᵀ.
    This does not use the factorisation, so it checks :func:`chain_log_joint`."""
    n = chain.n_steps
    mean = torch.zeros(n + 1, dtype=torch.float64)
    A = torch.zeros(n + 1, n + 1, dtype=torch.float64)  # row i: x_{t_i} as a combination of the noises
    mean[n] = chain.prior_mean
    A[n, n] = math.sqrt(chain.prior_var)
    for k in range(n, 0, -1):  # from x_{t_k} to x_{t_{k−1}}
        mean[k - 1] = chain.a[k - 1] * mean[k] + chain.b[k - 1]
        A[k - 1] = chain.a[k - 1] * A[k]
        A[k - 1, k - 1] = chain.step_var[k - 1].sqrt()
    return Gaussian(mean, A @ A.T)


def _log_normal(x: torch.Tensor, mean, var) -> torch.Tensor:
    return -0.5 * (x - mean) ** 2 / var - 0.5 * torch.log(2 * math.pi * torch.as_tensor(var, dtype=x.dtype))


def chain_log_joint(path: torch.Tensor, chain: ReverseChain) -> torch.Tensor:
    """log p_θ(x_{t_0}, …, x_{t_N}) = log N(x_T; μ_T, V_T) + Σ_n log N(x_{t_{n−1}}; a_n x_{t_n} + b_n, δ²Δt_n).

    The autoregressive factorisation in reverse time: each factor conditions on the state
    one step later only (the chain is Markov). ``path`` ``(M, N + 1)`` -> ``(M,)``."""
    path = as_tensor(path, "path").to(torch.float64)
    n = chain.n_steps
    if path.ndim != 2 or path.shape[1] != n + 1:
        raise ValueError(f"path must have shape (M, {n + 1}), got {tuple(path.shape)}")
    out = _log_normal(path[:, n], chain.prior_mean, chain.prior_var)
    means = chain.a * path[:, 1:] + chain.b  # (M, N): the mean of x_{t_{n−1}} given x_{t_n}
    return out + _log_normal(path[:, :-1], means, chain.step_var).sum(1)


def model_marginal(chain: ReverseChain) -> tuple[float, float]:
    """Mean and variance of p_θ(x_0): μ_{n−1} = a_n μ_n + b_n, V_{n−1} = a_n² V_n + δ²Δt_n."""
    mu, var = chain.prior_mean, chain.prior_var
    for k in range(chain.n_steps, 0, -1):
        mu = float(chain.a[k - 1]) * mu + float(chain.b[k - 1])
        var = float(chain.a[k - 1]) ** 2 * var + float(chain.step_var[k - 1])
    return mu, var


def elbo(x0, chain: ReverseChain) -> torch.Tensor:
    """ELBO(x_0) of the chain seen as a hierarchical VAE with the fixed encoder
    q(x_{t_1:t_N} | x_0) (the forward process), in closed form: ``(M,) -> (M,)``.

    Under q, every x_{t_n} has mean x_0 and Cov(x_{t_i}, x_{t_j}) = δ² min(t_i, t_j), so

        E_q log N(x_T; μ_T, V_T)                     = −½ log 2πV_T − [(x_0 − μ_T)² + δ²T]/(2V_T),
        E_q log N(x_{t_{n−1}}; a_n x_{t_n} + b_n, w_n) = −½ log 2πw_n
              − [((1 − a_n) x_0 − b_n)² + δ²(t_{n−1} − 2a_n t_{n−1} + a_n² t_n)]/(2w_n),
        −E_q log q(x_{t_1:t_N} | x_0)                = Σ_n ½ log(2πe δ²Δt_n)   (independent increments).

    ELBO(x_0) ≤ log p_θ(x_0), with the gap KL(q(x_{t_1:t_N} | x_0) ‖ p_θ(x_{t_1:t_N} | x_0))."""
    x0 = as_tensor(x0, "x0").to(torch.float64).reshape(-1)
    ts, d2 = chain.ts, chain.delta**2
    T = float(ts[-1])
    out = -0.5 * math.log(2 * math.pi * chain.prior_var) - ((x0 - chain.prior_mean) ** 2 + d2 * T) / (2 * chain.prior_var)
    a, b, w = chain.a, chain.b, chain.step_var
    t_prev, t_next = ts[:-1], ts[1:]
    resid_var = d2 * (t_prev - 2 * a * t_prev + a**2 * t_next)  # Var_q(x_{t_{n−1}} − a_n x_{t_n}), (N,)
    mean_term = ((1 - a) * x0[:, None] - b) ** 2  # (M, N)
    out = out + (-0.5 * torch.log(2 * math.pi * w) - (mean_term + resid_var) / (2 * w)).sum(1)
    entropy = (0.5 * torch.log(2 * math.pi * math.e * d2 * (t_next - t_prev))).sum()
    return out + entropy
