"""Energy-based models: p_θ(x) = exp(f_θ(x)) / Z(θ), and how to learn them.

Chapter 3 (and chapter 4, which fits the same energies by noise-contrastive estimation).
Following the tutorial, f_θ is a *negative* energy: high f_θ means high density.

The log-likelihood gradient is "data average minus model average":

    ∂_θ log Z(θ) = E_{p_θ}[∂_θ f_θ(X)],
    L'(θ) = E_{p_data}[∂_θ f_θ(X)] − E_{p_θ}[∂_θ f_θ(X)].

:func:`contrastive_loss` is a scalar whose gradient is −L'(θ) once the model average is
replaced by samples (from a grid, from short-run Langevin chains started at noise, or from
persistent chains, :class:`PersistentChains`). In 2-D, :func:`grid_nll` instead computes
log Z exactly by quadrature, so its gradient holds the *exact* model average, and
:func:`kl_gap_on_grid` scores a trained energy by the exact KL(p_data ‖ p_θ).

Shapes: points ``(N, D)``; energies ``f: (N, D) -> (N,)``.
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

import torch

from . import quadrature
from ._validate import as_points, as_vector, positive, positive_int
from .samplers import langevin

__all__ = [
    "MLPEnergy",
    "energy_score",
    "quadratic_features",
    "exp_family_log_partition",
    "exp_family_mean_statistics",
    "contrastive_loss",
    "grid_nll",
    "short_run_samples",
    "PersistentChains",
    "metropolis_grid_kernel",
    "grid_log_density",
    "kl_gap_on_grid",
]

Energy = Callable[[torch.Tensor], torch.Tensor]

_ACTIVATIONS = {"silu": torch.nn.SiLU, "softplus": torch.nn.Softplus, "tanh": torch.nn.Tanh, "elu": torch.nn.ELU}

# φ'(h) times the gradient g flowing back, for each activation: (g, h) -> g φ'(h)
_BACKWARD = {
    "silu": torch.ops.aten.silu_backward,  # σ(h) (1 + h (1 − σ(h))), fused as autograd does
    "softplus": lambda g, h: g * torch.sigmoid(h),
    "tanh": lambda g, h: g * (1.0 - torch.tanh(h) ** 2),
    "elu": lambda g, h: torch.where(h > 0, g, g * torch.exp(h)),
}


class MLPEnergy(torch.nn.Module):
    """A small fully connected negative energy f_θ: ``(N, dim) -> (N,)``.

        f_θ(x) = net_θ(x) − ‖x‖² / (2 s²)      (the second term only if ``base_std = s`` is set)

    net is dim → hidden[0] → … → hidden[-1] → 1 with a smooth activation (SiLU by default),
    so that ∇_x f_θ is continuous and Langevin dynamics on it behaves. A network of this kind
    grows at most linearly far from the data, so exp(net) need not be integrable; the fixed
    Gaussian factor exp(−‖x‖²/2s²) (a *base measure*) makes Z(θ) finite for every θ and keeps
    the far field free of mass no sampler ever visits. The course's default is
    2 → 64 → 64 → 1, used in chapters 3 and 4.

    :meth:`score` is ∇_x f_θ with the backward pass written out. With
    ``analytic_score=True``, :func:`energy_score` (hence :func:`short_run_samples` and
    :class:`PersistentChains`) uses it instead of autograd: the same gradient up to
    rounding, two to three times faster for this small network on a CPU, which is what
    Langevin sampling spends its time on (chapter 3). Off by default, so that chains run
    with autograd stay bit for bit as they were.
    """

    def __init__(self, dim: int = 2, hidden: Sequence[int] = (64, 64), activation: str = "silu",
                 base_std: float | None = None, analytic_score: bool = False):
        super().__init__()
        dim = positive_int(dim, "dim")
        self.base_std = None if base_std is None else positive(base_std, "base_std")
        if activation not in _ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(_ACTIVATIONS)}, got {activation!r}")
        if not isinstance(analytic_score, bool):
            raise ValueError(f"analytic_score must be True or False, got {analytic_score!r}")
        self.activation = activation
        self.analytic_score = analytic_score
        widths = [dim] + [positive_int(h, "hidden") for h in hidden]
        layers: list[torch.nn.Module] = []
        for a, b in zip(widths[:-1], widths[1:]):
            layers += [torch.nn.Linear(a, b), _ACTIVATIONS[activation]()]
        layers.append(torch.nn.Linear(widths[-1], 1))
        self.net = torch.nn.Sequential(*layers)
        self.dim = dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.net[0].weight.dtype)
        out = self.net(x).squeeze(-1)  # (N,)
        if self.base_std is not None:
            out = out - 0.5 * (x**2).sum(-1) / self.base_std**2
        return out

    def score(self, x: torch.Tensor) -> torch.Tensor:
        """∇_x f_θ(x) by a hand-written backward pass: ``(N, dim) -> (N, dim)``, detached.

        With h_l = W_l a_{l−1} + b_l, a_l = φ(h_l) (a_0 = x) and f = w·a_L + b − ‖x‖²/2s²,
        the chain rule runs from g = w back through every layer, g ← (g φ'(h_l)) W_l, and
        ends with ∇_x f = g − x/s². No autograd graph is built.
        """
        backward = _BACKWARD[self.activation]
        with torch.no_grad():
            z = x.to(self.net[0].weight.dtype)
            layers = list(self.net)  # a list, not a slice of the Sequential (a new module)
            linears, acts = layers[:-1:2], layers[1::2]
            pre = [linears[0](z)]  # h_1, (N, width_1)
            for linear, act in zip(linears[1:], acts):
                pre.append(linear(act(pre[-1])))  # h_l; a_L itself is not needed
            g = self.net[-1].weight.expand(z.shape[0], -1)  # ∂f/∂a_L, (N, width_L)
            for linear, h in zip(reversed(linears[1:]), reversed(pre[1:])):
                g = backward(g, h) @ linear.weight  # ∂f/∂a_{l-1}
            # ∂f/∂x, (N, dim), computed as (W_1ᵀ (g φ'(h_1))ᵀ)ᵀ: MKL's product with only
            # `dim` output columns is twice as slow as the transposed one on a CPU
            g = (linears[0].weight.t() @ backward(g, pre[0]).t()).t()
            if self.base_std is not None:
                g = torch.add(g, z, alpha=-1.0 / self.base_std**2)  # g − x/s²
        return g.to(x.dtype)


def energy_score(f: Energy, x: torch.Tensor) -> torch.Tensor:
    """∇_x f(x) = ∇_x log p_θ(x) (Z does not depend on x): ``(N, D) -> (N, D)``, detached.

    The score of an energy model, what Langevin dynamics needs (chapter 3). An
    :class:`MLPEnergy` built with ``analytic_score=True`` supplies it from
    :meth:`MLPEnergy.score` (the same values up to rounding, faster).
    """
    if isinstance(f, MLPEnergy) and f.analytic_score:
        return f.score(x)
    with torch.enable_grad():
        x = x.detach().requires_grad_(True)
        (g,) = torch.autograd.grad(f(x).sum(), x)
    return g.detach()


# --- an exponential family on a grid -------------------------------------------------------

def quadratic_features(x: torch.Tensor) -> torch.Tensor:
    """Sufficient statistics T(x) = (x₁, x₂, x₁², x₁x₂, x₂²) of the 2-D Gaussian family: ``(N, 2) -> (N, 5)``.

    With f_θ(x) = θ·T(x) the EBM p_θ ∝ exp(θ·T) is a Gaussian whenever its quadratic part is
    negative definite (chapter 3).
    """
    x = as_points(x, dim=2)
    return torch.stack([x[:, 0], x[:, 1], x[:, 0] ** 2, x[:, 0] * x[:, 1], x[:, 1] ** 2], dim=1)


def exp_family_log_partition(theta: torch.Tensor, stats: torch.Tensor, grid: quadrature.Grid) -> torch.Tensor:
    """log Z(θ) = log ∫ exp(θ·T(x)) dx by quadrature; differentiable in θ.

    Args:
        theta: natural parameters ``(K,)``.
        stats: T on the grid, ``grid.shape + (K,)``.
    """
    log_f = stats @ theta  # grid.shape
    return quadrature.log_partition(log_f, grid)


def exp_family_mean_statistics(theta: torch.Tensor, stats: torch.Tensor, grid: quadrature.Grid) -> torch.Tensor:
    """E_{p_θ}[T(X)] = ∂_θ log Z(θ), the "model average" of the statistics: ``(K,)``."""
    log_p = quadrature.normalize(stats @ theta, grid)
    return quadrature.expectation(log_p, stats, grid)


# --- learning: data average − model average --------------------------------------------------

def contrastive_loss(f: Energy, x_data: torch.Tensor, x_model: torch.Tensor) -> torch.Tensor:
    """−[mean f(x_data) − mean f(x_model)], a scalar whose θ-gradient is −L'(θ) estimated.

        ∇_θ loss = −( (1/n) Σ_i ∇_θ f(x_i) − (1/m) Σ_j ∇_θ f(x̃_j) ),

    with x̃_j samples of the current model (detached: the samples are treated as constants,
    the model average's own dependence on θ enters only through ∂ log Z). Descending it is
    ascending the log-likelihood; it is also the Wasserstein-GAN critic loss with f as the
    critic (chapter 3).

    Args:
        x_data: ``(n, D)`` data; x_model: ``(m, D)`` samples of p_θ (detached here).
    """
    return -(f(x_data).mean() - f(x_model.detach()).mean())


def grid_nll(f: Energy, x_data: torch.Tensor, grid: quadrature.Grid) -> torch.Tensor:
    """−(1/n) Σ_i log p_θ(x_i) = −mean f(x_data) + log Z(θ), log Z by quadrature on ``grid``.

    Differentiable in θ; its gradient is the exact "data average − model average" (up to the
    sign), because ∂_θ log Z = Σ_c p_θ(x_c) ∂_θ f(x_c) on the grid (chapter 3).
    """
    pts = grid.points(dtype=x_data.dtype, device=x_data.device)
    log_z = torch.logsumexp(f(pts), dim=0) + math.log(grid.cell_volume)
    return -f(x_data).mean() + log_z


def short_run_samples(f: Energy, x0: torch.Tensor, step_size: float, n_steps: int, *,
                      generator: torch.Generator | None = None) -> torch.Tensor:
    """Langevin on ∇_x f from ``x0`` for a fixed, small number of steps: ``(N, D)``.

    x ← x + (Δt/2) ∇_x f(x) + √Δt e. Started at noise this is "short-run MCMC": a biased,
    non-convergent sampler (chapter 3).
    """
    return langevin(lambda x: energy_score(f, x), x0, step_size, n_steps, generator=generator)


class PersistentChains:
    """A bank of Langevin chains that is carried over from one training step to the next.

    Persistent contrastive divergence (Tieleman 2008): the chains are never restarted, so
    after many training steps they have run long enough to approximate the *current* p_θ,
    which changes only a little per step. Optionally a fraction ``reinit`` of the chains is
    restarted at noise each step (keeps exploring; chapter 3).

    Args:
        x0: initial states ``(N, D)``.
        step_size, n_steps: Langevin step Δt and number of steps per call of :meth:`step`.
        reinit: fraction in [0, 1) of chains restarted from ``init_fn`` per call.
        init_fn: ``(n, generator) -> (n, D)`` fresh starting points (needed if reinit > 0).
    """

    def __init__(self, x0: torch.Tensor, step_size: float, n_steps: int, *, reinit: float = 0.0,
                 init_fn: Callable[[int, torch.Generator | None], torch.Tensor] | None = None):
        self.x = as_points(x0, name="x0").detach().clone()
        self.step_size = positive(step_size, "step_size")
        self.n_steps = positive_int(n_steps, "n_steps")
        if not (isinstance(reinit, (int, float)) and 0.0 <= reinit < 1.0):
            raise ValueError(f"reinit must be a number in [0, 1), got {reinit!r}")
        if reinit > 0 and init_fn is None:
            raise ValueError("init_fn is required when reinit > 0")
        self.reinit = float(reinit)
        self.init_fn = init_fn

    def step(self, f: Energy, generator: torch.Generator | None = None) -> torch.Tensor:
        """Advance every chain ``n_steps`` Langevin steps on ∇f; return the states ``(N, D)``."""
        if self.reinit > 0:
            n = self.x.shape[0]
            k = int(round(self.reinit * n))
            if k > 0:
                device = generator.device if generator is not None else self.x.device
                idx = torch.randperm(n, generator=generator, device=device)[:k].to(self.x.device)
                self.x[idx] = self.init_fn(k, generator).to(self.x)
        self.x = short_run_samples(f, self.x, self.step_size, self.n_steps, generator=generator)
        return self.x


def metropolis_grid_kernel(log_p: torch.Tensor, x: torch.Tensor, proposal_std: float) -> torch.Tensor:
    """Exact transition matrix of random-walk Metropolis on 1-D grid points: ``(G, G)``.

    From point i propose j with probability Q_ij ∝ exp(−(x_j − x_i)² / 2s²) (rows normalised),
    accept with probability min{1, p_j Q_ji / (p_i Q_ij)}, else stay. K_ij = Q_ij A_ij for
    j ≠ i and K_ii = 1 − Σ_{j≠i} K_ij. Detailed balance p_i K_ij = p_j K_ji holds exactly, so
    the grid distribution p is invariant: a row vector of probabilities r becomes r K after one
    step. Chapter 3 runs k such steps from the data to show contrastive divergence CD_k.

    Args:
        log_p: log of the target on the grid, up to a constant, ``(G,)``.
        x: grid points ``(G,)``, same dtype.
        proposal_std: s > 0.
    """
    log_p = as_vector(log_p, "log_p", min_len=2)
    x = as_vector(x, "x", min_len=2)
    if x.shape != log_p.shape:
        raise ValueError(f"x and log_p must have the same shape, got {tuple(x.shape)} and "
                         f"{tuple(log_p.shape)}")
    s = positive(proposal_std, "proposal_std")
    log_q = -0.5 * ((x[None, :] - x[:, None]) / s) ** 2                 # (G, G)
    log_q = log_q - torch.logsumexp(log_q, dim=1, keepdim=True)         # proposal rows
    log_accept = (log_p[None, :] + log_q.T - log_p[:, None] - log_q).clamp(max=0.0)
    kernel = (log_q + log_accept).exp()
    kernel.fill_diagonal_(0.0)
    return kernel + torch.diag(1.0 - kernel.sum(dim=1))


# --- exact evaluation on a grid --------------------------------------------------------------

def grid_log_density(f: Energy, grid: quadrature.Grid, dtype=torch.float64, device=None) -> torch.Tensor:
    """Normalised log p_θ = f − log Z on the grid cells: ``grid.shape`` (no gradient)."""
    with torch.no_grad():
        table = grid.evaluate(lambda x: f(x).to(dtype), dtype=dtype, device=device)
    return quadrature.normalize(table.cpu(), grid)


def kl_gap_on_grid(f: Energy, log_p_data: torch.Tensor, grid: quadrature.Grid) -> torch.Tensor:
    """KL(p_data ‖ p_θ) = (grid NLL of p_θ under p_data) − H(p_data), both by quadrature.

    Args:
        log_p_data: the data's normalised log-density on ``grid`` (e.g. from
            ``quadrature.grid_log_prob(ring.log_prob, grid)``).
    Returns:
        0-d float64 tensor, nats (chapter 3's score of every training method).
    """
    device = None
    if isinstance(f, torch.nn.Module):
        p = next(f.parameters(), None)
        device = p.device if p is not None else None
    return quadrature.kl_divergence(log_p_data, grid_log_density(f, grid, device=device), grid)
