"""MCMC samplers for a target π known up to its normalising constant.

Every sampler takes the target as a function, ``score_fn(x) = ∇_x log π(x)`` or
``log_prob_fn(x) = log π(x) + const`` (its gradient is taken by autograd), runs N independent
chains at once (points ``(N, D)``), draws its randomness from an explicit ``torch.Generator``
and validates its arguments.

- :func:`langevin` (chapters 3, 5): unadjusted Langevin, x ← x + (Δt/2) ∇log π(x) + √Δt e.
- :func:`mala` (chapter 5): the same proposal with a Metropolis-Hastings test (no O(Δt) bias).
- :func:`leapfrog`, :func:`hmc` (chapter 5): Hamiltonian Monte Carlo.
- :func:`parallel_tempering` (chapter 6): replica exchange over π_β ∝ exp(β f) q.
- :func:`annealed_importance_sampling` (chapter 6): log Z(1) − log Z(β_0) along π_β.
- :func:`autocorrelation`, :func:`effective_sample_size`, :func:`log_mean_exp`: diagnostics.
"""

from __future__ import annotations

import math
from typing import Callable, NamedTuple

import torch

from ._validate import as_points, as_tensor, as_vector, check_finite, positive, positive_int

__all__ = [
    "MCMCResult", "PTResult", "AISResult",
    "langevin", "mala", "leapfrog", "hmc", "parallel_tempering", "annealed_importance_sampling",
    "autocorrelation", "effective_sample_size", "log_mean_exp",
]

Fn = Callable[[torch.Tensor], torch.Tensor]


class MCMCResult(NamedTuple):
    """``samples``: final points (N, D) or the path (K + 1, N, D); ``accept_rate``: (N,)."""

    samples: torch.Tensor
    accept_rate: torch.Tensor


class PTResult(NamedTuple):
    """``states``: (R, N, D) or path (K + 1, R, N, D), replica r at β_r; ``accept_rate``: (R,)
    local-move acceptance per temperature; ``swap_rate``: (R − 1,) per adjacent pair."""

    states: torch.Tensor
    accept_rate: torch.Tensor
    swap_rate: torch.Tensor


class AISResult(NamedTuple):
    """``samples`` (N, D) at β_K (or the path (K + 1, N, D)); ``log_weights`` (N,);
    ``log_Z`` = log mean exp(log_weights)."""

    samples: torch.Tensor
    log_weights: torch.Tensor
    log_Z: torch.Tensor


# ----------------------------------------------------------------------------- helpers

def _noise(x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """N(0, I) noise shaped like ``x``, drawn on the generator's device, then moved to x's."""
    if generator is None:
        return torch.randn_like(x)
    return torch.randn(x.shape, generator=generator, dtype=x.dtype, device=generator.device).to(x.device)


def _uniform(n: int, like: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    device = generator.device if generator is not None else like.device
    return torch.rand(n, generator=generator, dtype=like.dtype, device=device).to(like.device)


def _keep_accepted(accept: torch.Tensor, proposed: tuple, current: tuple) -> tuple:
    """Metropolis-Hastings bookkeeping: per chain, the proposed state where ``accept`` (N,) holds,
    else the current one; states are (N, ...) tensors (position, log-density, gradient)."""
    return tuple(torch.where(accept.reshape(-1, *[1] * (new.ndim - 1)), new, old)
                 for new, old in zip(proposed, current))


def _callable(fn, name: str) -> None:
    if not callable(fn):
        raise ValueError(f"{name} must be a callable, got {type(fn).__name__}")


def _score(score_fn: Fn, x: torch.Tensor) -> torch.Tensor:
    g = score_fn(x.detach())
    if not isinstance(g, torch.Tensor) or g.shape != x.shape:
        got = tuple(g.shape) if isinstance(g, torch.Tensor) else type(g).__name__
        raise ValueError(f"score_fn must return a tensor of shape {tuple(x.shape)} (like x), got {got}")
    return g.detach()


def _value_and_grad(log_prob_fn: Fn, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """log π(x) ``(N,)`` and ∇_x log π(x) ``(N, D)`` by autograd (one gradient evaluation)."""
    with torch.enable_grad():
        x = x.detach().requires_grad_(True)
        lp = log_prob_fn(x)
        if not isinstance(lp, torch.Tensor) or lp.shape != x.shape[:1]:
            got = tuple(lp.shape) if isinstance(lp, torch.Tensor) else type(lp).__name__
            raise ValueError(f"log_prob_fn must return a tensor of shape ({x.shape[0]},), got {got}")
        (g,) = torch.autograd.grad(lp.sum(), x)
    return lp.detach(), g.detach()


def _start(x0, return_path: bool):
    x = as_points(x0, name="x0").detach()
    return x, ([x] if return_path else None)


def _finish(x, path, name: str) -> torch.Tensor:
    check_finite(x, f"{name}'s final state (is the step size too large?)")
    return torch.stack(path) if path is not None else x


# ----------------------------------------------------------------------------- Langevin and MALA

def langevin(score_fn: Fn, x0: torch.Tensor, step_size: float, n_steps: int, *,
             generator: torch.Generator | None = None, return_path: bool = False) -> torch.Tensor:
    """Unadjusted Langevin dynamics toward π, ``n_steps`` steps on N chains at once.

    x_{k+1} = x_k + (Δt/2) ∇log π(x_k) + √Δt e_k,   e_k ~ N(0, I),

    the Euler-Maruyama step of dX = ½ ∇log π(X) dt + dW, whose law p_t obeys the Fokker-Planck
    equation ∂_t p = ½ ∇·(p ∇log(p/π)) and converges to π. The discrete chain is biased by
    O(Δt): on N(0, 1) its stationary variance is 1/(1 − Δt/4) (chapter 5; :func:`mala` removes
    the bias). Used by chapter 3 (EBM training) and chapter 5.

    Args:
        score_fn: x ``(N, D)`` -> ∇_x log π(x) ``(N, D)``. It is called on a detached x with
            autograd enabled (it may compute −∇E with ``torch.autograd.grad``); its output is
            detached, so no graph is kept across steps.
        x0: starting points ``(N, D)``.
        step_size: Δt > 0.
        n_steps: number of steps K >= 1.
        generator: ``torch.Generator`` for the noise.
        return_path: return every state instead of the last.

    Returns:
        final points ``(N, D)``, or the path ``(K + 1, N, D)`` starting with ``x0``.
    """
    _callable(score_fn, "score_fn")
    dt, n_steps = positive(step_size, "step_size"), positive_int(n_steps, "n_steps")
    x, path = _start(x0, return_path)
    for _ in range(n_steps):
        x = x + 0.5 * dt * _score(score_fn, x) + math.sqrt(dt) * _noise(x, generator)
        if path is not None:
            path.append(x)
    return _finish(x, path, "langevin")


def mala(log_prob_fn: Fn, x0: torch.Tensor, step_size: float, n_steps: int, *,
         generator: torch.Generator | None = None, return_path: bool = False) -> MCMCResult:
    """Metropolis-adjusted Langevin: the Langevin step as a proposal, then an MH test.

    y = x + (Δt/2) g(x) + √Δt e,  g = ∇log π,  q(y | x) = N(y; x + (Δt/2) g(x), Δt I);
    accept with probability min{1, π(y) q(x | y) / (π(x) q(y | x))}, else stay at x.
    π is then exactly invariant for any Δt (chapter 5). One gradient evaluation per step.

    Args:
        log_prob_fn: x ``(N, D)`` -> log π(x) + const ``(N,)``, differentiable in x.
        x0 ``(N, D)``; step_size Δt > 0; n_steps >= 1; generator; return_path as in
        :func:`langevin`.

    Returns:
        :class:`MCMCResult` (samples ``(N, D)`` or ``(K + 1, N, D)``, accept_rate ``(N,)``).
    """
    _callable(log_prob_fn, "log_prob_fn")
    dt, n_steps = positive(step_size, "step_size"), positive_int(n_steps, "n_steps")
    x, path = _start(x0, return_path)
    lp, g = _value_and_grad(log_prob_fn, x)
    accepted = torch.zeros(x.shape[0], dtype=x.dtype, device=x.device)
    for _ in range(n_steps):
        y = x + 0.5 * dt * g + math.sqrt(dt) * _noise(x, generator)
        lp_y, g_y = _value_and_grad(log_prob_fn, y)
        log_q_fwd = -((y - x - 0.5 * dt * g) ** 2).sum(1) / (2 * dt)    # log q(y | x) + c
        log_q_bwd = -((x - y - 0.5 * dt * g_y) ** 2).sum(1) / (2 * dt)  # log q(x | y) + c
        accept = torch.log(_uniform(x.shape[0], x, generator)) < lp_y - lp + log_q_bwd - log_q_fwd
        x, lp, g = _keep_accepted(accept, (y, lp_y, g_y), (x, lp, g))
        accepted += accept
        if path is not None:
            path.append(x)
    return MCMCResult(_finish(x, path, "mala"), accepted / n_steps)


# ----------------------------------------------------------------------------- HMC

def _leapfrog(grad_fn, x, p, eps: float, n_steps: int, g):
    """Leapfrog from (x, p) with g = ∇log π(x) known; returns x, p and the final (lp, g)."""
    p = p + 0.5 * eps * g                    # half step in momentum
    for k in range(n_steps):
        x = x + eps * p                      # full step in position
        lp, g = grad_fn(x)
        p = p + (eps if k < n_steps - 1 else 0.5 * eps) * g  # full steps, a half step at the end
    return x, p, lp, g


def leapfrog(score_fn: Fn, x: torch.Tensor, p: torch.Tensor, step_size: float,
             n_steps: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``n_steps`` leapfrog steps of size ε for H(x, p) = −log π(x) + |p|²/2 (chapter 5).

    p ← p + (ε/2) ∇log π(x);  x ← x + ε p;  p ← p + (ε/2) ∇log π(x)   (repeated; the inner
    half steps merge into full ones, so L steps cost L + 1 score evaluations). The map is
    reversible (negate p, run again, negate p: back to the start) and volume-preserving, and
    its energy error is O(ε²). With a fresh p ~ N(0, I), one step moves x exactly as a Langevin
    step with Δt = ε².

    Args:
        score_fn: x ``(N, D)`` -> ∇log π(x) ``(N, D)``.
        x, p: positions and momenta ``(N, D)``.
        step_size: ε > 0. n_steps: L >= 1.

    Returns:
        ``(x_L, p_L)``, each ``(N, D)``.
    """
    _callable(score_fn, "score_fn")
    eps, n_steps = positive(step_size, "step_size"), positive_int(n_steps, "n_steps")
    x = as_points(x, name="x").detach()
    p = as_points(p, dim=x.shape[1], name="p").detach()
    if p.shape != x.shape:
        raise ValueError(f"p must have the shape of x {tuple(x.shape)}, got {tuple(p.shape)}")
    x, p, _, _ = _leapfrog(lambda z: (None, _score(score_fn, z)), x, p, eps, n_steps, _score(score_fn, x))
    return x, p


def hmc(log_prob_fn: Fn, x0: torch.Tensor, step_size: float, n_leapfrog: int, n_steps: int, *,
        generator: torch.Generator | None = None, return_path: bool = False) -> MCMCResult:
    """Hamiltonian Monte Carlo: fresh momentum, leapfrog, Metropolis-Hastings (chapter 5).

    p ~ N(0, I); (x', p') = leapfrog^L(x, p); accept x' with probability min{1, e^{H − H'}},
    H(x, p) = −log π(x) + |p|²/2. L gradient evaluations per iteration (the gradient at the
    current point is kept between iterations).

    Args:
        log_prob_fn: x ``(N, D)`` -> log π(x) + const ``(N,)``, differentiable in x.
        x0 ``(N, D)``; step_size ε > 0; n_leapfrog L >= 1; n_steps: HMC iterations K >= 1.

    Returns:
        :class:`MCMCResult` (samples ``(N, D)`` or ``(K + 1, N, D)``, accept_rate ``(N,)``).
    """
    _callable(log_prob_fn, "log_prob_fn")
    eps = positive(step_size, "step_size")
    n_leapfrog, n_steps = positive_int(n_leapfrog, "n_leapfrog"), positive_int(n_steps, "n_steps")
    x, path = _start(x0, return_path)
    lp, g = _value_and_grad(log_prob_fn, x)
    accepted = torch.zeros(x.shape[0], dtype=x.dtype, device=x.device)
    for _ in range(n_steps):
        p = _noise(x, generator)
        y, q, lp_y, g_y = _leapfrog(lambda z: _value_and_grad(log_prob_fn, z), x, p, eps, n_leapfrog, g)
        log_alpha = (lp_y - 0.5 * (q**2).sum(1)) - (lp - 0.5 * (p**2).sum(1))  # H − H'
        accept = torch.log(_uniform(x.shape[0], x, generator)) < torch.nan_to_num(log_alpha, nan=-math.inf)
        x, lp, g = _keep_accepted(accept, (y, lp_y, g_y), (x, lp, g))
        accepted += accept
        if path is not None:
            path.append(x)
    return MCMCResult(_finish(x, path, "hmc"), accepted / n_steps)


# ----------------------------------------------------------------------------- tempering

def _betas(betas, name: str = "betas") -> torch.Tensor:
    b = as_vector(betas, name, min_len=2).to(torch.float64)
    if (b < 0).any() or (b[1:] <= b[:-1]).any():
        raise ValueError(f"{name} must be non-negative and strictly increasing, got {b.tolist()}")
    return b


def _per_beta(step_size, n: int, name: str) -> torch.Tensor:
    if isinstance(step_size, (int, float)) and not isinstance(step_size, bool):
        return torch.full((n,), positive(step_size, name), dtype=torch.float64)
    s = as_vector(step_size, name)
    if s.shape != (n,) or (s <= 0).any():
        raise ValueError(f"{name} must be a positive number or {n} positive numbers, got {s.tolist()}")
    return s.to(torch.float64)


def _tempered(f_fn: Fn, log_q_fn: Fn, beta: torch.Tensor) -> Fn:
    """log π_β(x) + log Z(β) = β f(x) + log q(x); ``beta`` broadcasts against (N,)."""
    return lambda x: beta * f_fn(x) + log_q_fn(x)


def _f_and_q(f_fn: Fn, log_q_fn: Fn, x: torch.Tensor):
    """f(x), ∇f(x), log q(x), ∇log q(x) (one forward pass each, autograd)."""
    with torch.enable_grad():
        x = x.detach().requires_grad_(True)
        out = []
        for fn, name in ((f_fn, "f_fn"), (log_q_fn, "log_q_fn")):
            v = fn(x)
            if not isinstance(v, torch.Tensor) or v.shape != x.shape[:1]:
                got = tuple(v.shape) if isinstance(v, torch.Tensor) else type(v).__name__
                raise ValueError(f"{name} must return a tensor of shape ({x.shape[0]},), got {got}")
            out += [v.detach(), torch.autograd.grad(v.sum(), x)[0].detach()]
    return out


def parallel_tempering(f_fn: Fn, log_q_fn: Fn, betas, x0: torch.Tensor, step_size, n_steps: int, *,
                       generator: torch.Generator | None = None, return_path: bool = False) -> PTResult:
    """Parallel tempering (replica exchange) over π_β(x) = exp(β f(x)) q(x) / Z(β) (chapter 6).

    R replicas, one per β_r, in each of N independent systems. Each step: one MALA move per
    replica targeting its π_β, then swaps of neighbouring replicas (pairs (0,1), (2,3), ... on
    even steps, (1,2), (3,4), ... on odd steps), each accepted with probability

        min{1, exp((β_i − β_j)(f(x_j) − f(x_i)))},

    which keeps the product ∏_r π_{β_r}(x_r) invariant (q cancels: it does not depend on β).

    Args:
        f_fn: x ``(M, D)`` -> f(x) ``(M,)``, differentiable. log_q_fn: the base log q ``(M,)``.
        betas: ``(R,)`` non-negative, strictly increasing (usually ending at 1).
        x0: ``(R, N, D)`` starting states. step_size: MALA Δt, a number or ``(R,)``.
        n_steps: K >= 1. generator, return_path as in :func:`langevin`.

    Returns:
        :class:`PTResult`; ``states[..., -1, :, :]`` are the chains at the largest β.
    """
    _callable(f_fn, "f_fn"), _callable(log_q_fn, "log_q_fn")
    b = _betas(betas)
    r = b.shape[0]
    x = as_tensor(x0, "x0").detach()
    if x.ndim != 3 or x.shape[0] != r:
        raise ValueError(f"x0 must have shape (R={r}, N, D), got {tuple(x.shape)}")
    check_finite(x, "x0")
    n, d = x.shape[1], x.shape[2]
    dt = _per_beta(step_size, r, "step_size").to(x)[:, None, None]  # (R, 1, 1)
    n_steps = positive_int(n_steps, "n_steps")
    beta = b.to(x)[:, None]                                          # (R, 1)
    # per point: f, ∇f, log q, ∇log q, shaped (R, N) or (R, N, D); log π_β = β f + log q
    f, gf, lq, gq = (v.reshape(r, n, *v.shape[1:]) for v in _f_and_q(f_fn, log_q_fn, x.reshape(-1, d)))
    accepted, swaps = torch.zeros(r, dtype=x.dtype), torch.zeros(r - 1, dtype=x.dtype)
    path = [x] if return_path else None
    for k in range(n_steps):
        g = beta[..., None] * gf + gq                                  # ∇log π_β(x): (R, N, D)
        y = x + 0.5 * dt * g + dt.sqrt() * _noise(x, generator)       # MALA proposals
        f_y, gf_y, lq_y, gq_y = (v.reshape(r, n, *v.shape[1:]) for v in _f_and_q(f_fn, log_q_fn, y.reshape(-1, d)))
        g_y = beta[..., None] * gf_y + gq_y
        log_a = (beta * (f_y - f) + lq_y - lq - ((x - y - 0.5 * dt * g_y) ** 2).sum(-1) / (2 * dt[..., 0])
                 + ((y - x - 0.5 * dt * g) ** 2).sum(-1) / (2 * dt[..., 0]))           # (R, N)
        acc = torch.log(_uniform(r * n, x, generator)).reshape(r, n) < log_a
        x, f, lq = torch.where(acc[..., None], y, x), torch.where(acc, f_y, f), torch.where(acc, lq_y, lq)
        gf, gq = torch.where(acc[..., None], gf_y, gf), torch.where(acc[..., None], gq_y, gq)
        accepted += acc.sum(1).cpu() / n
        i = torch.arange(k % 2, r - 1, 2, device=x.device)            # lower replica of each pair
        if len(i):
            log_s = (beta[i] - beta[i + 1]) * (f[i + 1] - f[i])          # (pairs, N)
            swap = torch.log(_uniform(log_s.numel(), x, generator)).reshape(log_s.shape) < log_s
            perm = torch.arange(r, device=x.device)[:, None].repeat(1, n)  # (R, N) source replica
            perm[i], perm[i + 1] = torch.where(swap, i[:, None] + 1, i[:, None]), torch.where(swap, i[:, None], i[:, None] + 1)
            x, gf, gq = (v.gather(0, perm[..., None].expand_as(v)) for v in (x, gf, gq))
            f, lq = f.gather(0, perm), lq.gather(0, perm)
            swaps[i.cpu()] += swap.sum(1).cpu() / n
        if path is not None:
            path.append(x)
    n_tries = torch.tensor([len(range(j % 2, n_steps, 2)) for j in range(r - 1)], dtype=x.dtype)
    return PTResult(_finish(x, path, "parallel_tempering"), accepted / n_steps, swaps / n_tries.clamp_min(1))


def annealed_importance_sampling(f_fn: Fn, log_q_fn: Fn, x0: torch.Tensor, betas, step_size, *,
                                 n_mcmc: int = 1, generator: torch.Generator | None = None,
                                 return_path: bool = False) -> AISResult:
    """Annealed importance sampling along π_β ∝ exp(β f) q, β_0 < ... < β_K (chapter 6).

    Start from x ~ π_{β_0} (with β_0 = 0: x ~ q). For k = 1..K add (β_k − β_{k−1}) f(x) to the
    log-weight, then move x by ``n_mcmc`` MALA steps that leave π_{β_k} invariant. Then
    E[w] = Z(β_K)/Z(β_0), so log_Z = log mean w estimates log Z(β_K) − log Z(β_0) (log Z(β_K)
    itself when β_0 = 0 and q is normalised). The estimate is biased low by Jensen, by about
    Var(log w)/(2N) for large N.

    Args:
        f_fn, log_q_fn: as in :func:`parallel_tempering`.
        x0: ``(N, D)`` exact samples of π_{β_0}.
        betas: ``(K + 1,)`` strictly increasing. step_size: MALA Δt, a number or ``(K + 1,)``.
        n_mcmc: MALA steps per temperature (>= 1).
        return_path: return the states after every temperature, ``(K + 1, N, D)``.

    Returns:
        :class:`AISResult` (samples ``(N, D)`` or ``(K + 1, N, D)``, log_weights ``(N,)``, log_Z 0-d).
    """
    _callable(f_fn, "f_fn"), _callable(log_q_fn, "log_q_fn")
    b = _betas(betas)
    dts = _per_beta(step_size, b.shape[0], "step_size")
    n_mcmc = positive_int(n_mcmc, "n_mcmc")
    x = as_points(x0, name="x0").detach()
    log_w = torch.zeros(x.shape[0], dtype=x.dtype, device=x.device)
    path = [x] if return_path else None
    for k in range(1, b.shape[0]):
        log_w = log_w + float(b[k] - b[k - 1]) * f_fn(x).detach()
        x = mala(_tempered(f_fn, log_q_fn, float(b[k])), x, float(dts[k]), n_mcmc, generator=generator).samples
        if path is not None:
            path.append(x)
    return AISResult(_finish(x, path, "annealed_importance_sampling"), log_w, log_mean_exp(log_w))


# ----------------------------------------------------------------------------- diagnostics

def log_mean_exp(a: torch.Tensor) -> torch.Tensor:
    """log((1/N) Σ exp(a_n)) computed stably: ``(N,) -> ()``."""
    a = as_vector(a, "a")
    return torch.logsumexp(a, 0) - math.log(a.shape[0])


def autocorrelation(chains: torch.Tensor, max_lag: int | None = None) -> torch.Tensor:
    """Autocorrelation ρ_t of scalar chains ``(T, N)``, pooled over the N chains: ``(max_lag + 1,)``.

    ρ_t = Σ_n Σ_s (y_{s,n} − ȳ)(y_{s+t,n} − ȳ) / Σ_n Σ_s (y_{s,n} − ȳ)², ȳ the pooled mean
    (computed with an FFT per chain). ρ_0 = 1. ``max_lag`` defaults to T − 1.
    """
    y = as_tensor(chains, "chains").detach().to(torch.float64)
    if y.ndim != 2 or y.shape[0] < 2:
        raise ValueError(f"chains must have shape (T, N) with T >= 2, got {tuple(y.shape)}")
    check_finite(y, "chains")
    t = y.shape[0]
    max_lag = t - 1 if max_lag is None else min(positive_int(max_lag, "max_lag"), t - 1)
    y = y - y.mean()
    spec = torch.fft.rfft(y, n=2 * t, dim=0)
    acov = torch.fft.irfft(spec * spec.conj(), n=2 * t, dim=0)[: max_lag + 1].sum(1)  # (lags,)
    if acov[0] <= 0:
        raise ValueError("chains must not be constant")
    return acov / acov[0]


def effective_sample_size(chains: torch.Tensor) -> float:
    """ESS = N T / τ with τ = 1 + 2 Σ_{t≥1} ρ_t for scalar chains ``(T, N)``.

    The sum is truncated by Geyer's initial positive sequence: pairs Γ_m = ρ_{2m} + ρ_{2m+1}
    are summed while positive (and made non-increasing), τ = −1 + 2 Σ_m Γ_m. Chapter 5 compares
    samplers by ESS per gradient evaluation.
    """
    rho = autocorrelation(chains)
    t, n = rho.shape[0], torch.as_tensor(chains).shape[1]
    pairs = rho[: 2 * (t // 2)].reshape(-1, 2).sum(1)  # Γ_0, Γ_1, ...
    stop = int((pairs <= 0).nonzero()[0]) if bool((pairs <= 0).any()) else len(pairs)
    gamma = torch.cummin(pairs[:stop], 0).values
    tau = max(float(-1 + 2 * gamma.sum()), 1.0 / t)
    return n * t / tau
