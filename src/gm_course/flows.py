"""Normalizing flows: invertible maps with an exact log-likelihood (chapter 11).

A flow is an invertible map f from data x to a base variable z = f(x) with z ~ N(0, I). By
the change of variables

    log p(x) = log N(f(x); 0, I) + log |det ∂f/∂x (x)|,

and the map is built from layers whose Jacobian determinant is cheap. Here:

- :class:`AffineCoupling` (RealNVP): keep the coordinates in ``mask``, move the others by
  y = x · exp(s(x_masked)) + t(x_masked); log |det| = Σ s over the moved coordinates.
- :class:`SplineCoupling`: the moved coordinates go through a monotone rational-quadratic
  spline on [−B, B] (identity outside) whose knots are predicted from the kept ones
  (Durkan et al., neural spline flows). Much more flexible per layer than an affine map.
- :class:`Flow`: a stack of layers and the standard normal base: ``log_prob``, ``sample``.
- :func:`continuous_flow`: a *free-form* flow dx/dt = v(x, t) integrated with Heun's method,
  carrying d log p/dt = −∇·v (the instantaneous change of variables), for the
  probability-flow ODE of diffusion seen as a flow.

Shapes: points are ``(N, D)``; log-determinants and log-densities ``(N,)``.
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

import torch
from torch import nn
from torch.nn import functional as F

from ._validate import as_points, positive, positive_int

__all__ = [
    "AffineCoupling",
    "SplineCoupling",
    "Flow",
    "rational_quadratic_spline",
    "standard_normal_log_prob",
    "spline_flow",
    "affine_flow",
    "continuous_flow",
]

LOG_2PI = math.log(2 * math.pi)


def standard_normal_log_prob(z: torch.Tensor) -> torch.Tensor:
    """log N(z; 0, I) = −½ |z|² − (D/2) log 2π: ``(N, D) -> (N,)``."""
    return -0.5 * (z**2).sum(-1) - 0.5 * z.shape[-1] * LOG_2PI


def _mlp(d_in: int, d_out: int, hidden: int) -> nn.Sequential:
    net = nn.Sequential(nn.Linear(d_in, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(),
                        nn.Linear(hidden, d_out))
    nn.init.zeros_(net[-1].weight)  # every layer starts as the identity map
    nn.init.zeros_(net[-1].bias)
    return net


def _check_mask(mask: Sequence[int] | torch.Tensor) -> torch.Tensor:
    mask = torch.as_tensor(mask, dtype=torch.bool)
    if mask.ndim != 1 or mask.all() or not mask.any():
        raise ValueError(f"mask must be 1-D with at least one kept (True) and one moved (False) entry, got {mask.tolist()}")
    return mask


class AffineCoupling(nn.Module):
    """RealNVP coupling layer  x -> y,  y_kept = x_kept,  y_moved = x_moved · e^{s} + t.

    ``(s, t) = net(x_kept)``; s is squashed by ``scale_bound · tanh(s / scale_bound)`` for
    stability. log |det ∂y/∂x| = Σ_moved s (triangular Jacobian). Chapter 11.

    Args:
        mask: ``(D,)`` booleans, True for the coordinates kept (they condition the others).
        hidden: width of the conditioner MLP.
    """

    def __init__(self, mask, hidden: int = 64, scale_bound: float = 3.0):
        super().__init__()
        mask = _check_mask(mask)
        self.register_buffer("kept", mask.nonzero().flatten())
        self.register_buffer("moved", (~mask).nonzero().flatten())
        self.scale_bound = positive(scale_bound, "scale_bound")
        self.net = _mlp(len(self.kept), 2 * len(self.moved), positive_int(hidden, "hidden"))

    def _params(self, x_kept):
        s, t = self.net(x_kept).chunk(2, dim=-1)
        return self.scale_bound * torch.tanh(s / self.scale_bound), t

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(N, D) -> (y (N, D), log |det ∂y/∂x| (N,))``."""
        s, t = self._params(x[:, self.kept])
        y = x.clone()
        y[:, self.moved] = x[:, self.moved] * torch.exp(s) + t
        return y, s.sum(-1)

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        """x_moved = (y_moved − t) e^{−s}: ``(N, D) -> (N, D)``."""
        s, t = self._params(y[:, self.kept])
        x = y.clone()
        x[:, self.moved] = (y[:, self.moved] - t) * torch.exp(-s)
        return x


def rational_quadratic_spline(x: torch.Tensor, widths: torch.Tensor, heights: torch.Tensor,
                              derivatives: torch.Tensor, bound: float, inverse: bool = False,
                              min_size: float = 1e-3) -> tuple[torch.Tensor, torch.Tensor]:
    """Monotone rational-quadratic spline on [−B, B], the identity outside (elementwise).

    Bin k maps [x_k, x_{k+1}] onto [y_k, y_{k+1}]; with w, h its width and height,
    s = h / w, ξ = (x − x_k) / w and end slopes δ_k, δ_{k+1}:

        y = y_k + h (s ξ² + δ_k ξ(1−ξ)) / (s + (δ_{k+1} + δ_k − 2s) ξ(1−ξ)),
        dy/dx = s² (δ_{k+1} ξ² + 2 s ξ(1−ξ) + δ_k (1−ξ)²) / (s + (δ_{k+1} + δ_k − 2s) ξ(1−ξ))².

    The inverse solves the quadratic in ξ. Slopes at ±B are 1 (smooth join with the identity).

    Args:
        x: values ``(N,)``.
        widths, heights: unnormalised ``(N, K)`` (softmax, then scaled to 2B with a minimum).
        derivatives: unnormalised ``(N, K − 1)`` inner slopes (softplus).
        bound: B > 0. inverse: evaluate the inverse map instead.

    Returns:
        ``(y (N,), log |dy/dx| (N,))``; for ``inverse=True`` the log-derivative of the
        inverse map (the negative of the forward one at the output).
    """
    k = widths.shape[-1]
    w = min_size + (1 - min_size * k) * F.softmax(widths, dim=-1)
    h = min_size + (1 - min_size * k) * F.softmax(heights, dim=-1)
    w, h = 2 * bound * w, 2 * bound * h
    one = torch.ones_like(derivatives[..., :1])
    d = torch.cat([one, min_size + F.softplus(derivatives), one], dim=-1)  # (N, K + 1), slope 1 at the ends
    xk = F.pad(torch.cumsum(w, -1), (1, 0)) - bound  # (N, K + 1) knots
    yk = F.pad(torch.cumsum(h, -1), (1, 0)) - bound
    inside = (x > -bound) & (x < bound)
    xc = x.clamp(-bound, bound)
    knots = yk if inverse else xk
    b = (torch.searchsorted(knots[:, 1:-1].contiguous(), xc[:, None].contiguous())).squeeze(-1)  # bin index
    pick = lambda t: t.gather(-1, b[:, None]).squeeze(-1)  # noqa: E731
    x0, y0, wk, hk = pick(xk), pick(yk), pick(w), pick(h)
    d0, d1 = pick(d), d.gather(-1, (b + 1)[:, None]).squeeze(-1)
    s = hk / wk
    if not inverse:
        xi = (xc - x0) / wk
        t = xi * (1 - xi)
        den = s + (d1 + d0 - 2 * s) * t
        y = y0 + hk * (s * xi**2 + d0 * t) / den
        logdet = 2 * torch.log(s) + torch.log(d1 * xi**2 + 2 * s * t + d0 * (1 - xi) ** 2) - 2 * torch.log(den)
    else:
        dy = xc - y0
        c_ = d1 + d0 - 2 * s
        a = hk * (s - d0) + dy * c_
        bb = hk * d0 - dy * c_
        c = -s * dy
        disc = (bb**2 - 4 * a * c).clamp_min(0)
        xi = (2 * c) / (-bb - torch.sqrt(disc))
        t = xi * (1 - xi)
        den = s + c_ * t
        y = x0 + xi * wk
        logdet = -(2 * torch.log(s) + torch.log(d1 * xi**2 + 2 * s * t + d0 * (1 - xi) ** 2) - 2 * torch.log(den))
    y = torch.where(inside, y, x)
    logdet = torch.where(inside, logdet, torch.zeros_like(logdet))
    return y, logdet


class SplineCoupling(nn.Module):
    """Coupling layer whose moved coordinates pass through :func:`rational_quadratic_spline`
    with knots predicted by an MLP of the kept coordinates. Chapter 11.

    Args:
        mask: ``(D,)`` booleans, True for the kept coordinates.
        bins: number of spline bins K. bound: the spline acts on [−B, B].
    """

    def __init__(self, mask, hidden: int = 64, bins: int = 12, bound: float = 5.0):
        super().__init__()
        mask = _check_mask(mask)
        self.register_buffer("kept", mask.nonzero().flatten())
        self.register_buffer("moved", (~mask).nonzero().flatten())
        self.bins = positive_int(bins, "bins")
        self.bound = positive(bound, "bound")
        self.net = _mlp(len(self.kept), len(self.moved) * (3 * self.bins - 1), positive_int(hidden, "hidden"))

    def _transform(self, x: torch.Tensor, inverse: bool):
        params = self.net(x[:, self.kept]).reshape(x.shape[0], len(self.moved), 3 * self.bins - 1)
        y, logdet = x.clone(), torch.zeros(x.shape[0], dtype=x.dtype, device=x.device)
        for j, col in enumerate(self.moved.tolist()):
            p = params[:, j]
            w, h, d = p[:, : self.bins], p[:, self.bins: 2 * self.bins], p[:, 2 * self.bins:]
            y[:, col], ld = rational_quadratic_spline(x[:, col], w, h, d, self.bound, inverse=inverse)
            logdet = logdet + ld
        return y, logdet

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(N, D) -> (y (N, D), log |det ∂y/∂x| (N,))``."""
        return self._transform(x, inverse=False)

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        return self._transform(y, inverse=True)[0]


class Flow(nn.Module):
    """z = f_L ∘ … ∘ f_1 (x) with base N(0, I); log p(x) = log N(z) + Σ_l log |det J_l|.

    Each layer maps ``x -> (y, logdet)`` and has ``inverse(y)``. Chapter 11.
    """

    def __init__(self, layers: Sequence[nn.Module]):
        super().__init__()
        if len(layers) == 0:
            raise ValueError("layers must contain at least one layer")
        self.layers = nn.ModuleList(layers)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Data to base: ``(N, D) -> (z (N, D), Σ log |det| (N,))``."""
        logdet = torch.zeros(x.shape[0], dtype=x.dtype, device=x.device)
        for layer in self.layers:
            x, ld = layer(x)
            logdet = logdet + ld
        return x, logdet

    def inverse(self, z: torch.Tensor) -> torch.Tensor:
        """Base to data: ``(N, D) -> (N, D)``."""
        for layer in reversed(self.layers):
            z = layer.inverse(z)
        return z

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """Exact log-density by the change of variables: ``(N, D) -> (N,)``."""
        z, logdet = self(x)
        return standard_normal_log_prob(z) + logdet

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """x = f⁻¹(z), z ~ N(0, I): ``(n, D)`` on the model's device."""
        n = positive_int(n, "n")
        p = next(self.parameters())
        dim = int(self.layers[0].kept.numel() + self.layers[0].moved.numel())
        dev = generator.device if generator is not None else p.device
        z = torch.randn(n, dim, generator=generator, dtype=p.dtype, device=dev).to(p.device)
        return self.inverse(z)


def _alternating_masks(dim: int, n_layers: int):
    for i in range(n_layers):
        mask = torch.zeros(dim, dtype=torch.bool)
        mask[(i % 2)::2] = True
        yield mask


def spline_flow(dim: int = 2, n_layers: int = 4, hidden: int = 64, bins: int = 12, bound: float = 5.0) -> Flow:
    """A stack of :class:`SplineCoupling` layers with alternating masks (dim >= 2)."""
    if positive_int(dim, "dim") < 2:
        raise ValueError(f"dim must be at least 2 for a coupling flow, got {dim}")
    return Flow([SplineCoupling(m, hidden, bins, bound) for m in _alternating_masks(dim, positive_int(n_layers, "n_layers"))])


def affine_flow(dim: int = 2, n_layers: int = 8, hidden: int = 64) -> Flow:
    """A stack of :class:`AffineCoupling` layers with alternating masks (RealNVP)."""
    if positive_int(dim, "dim") < 2:
        raise ValueError(f"dim must be at least 2 for a coupling flow, got {dim}")
    return Flow([AffineCoupling(m, hidden) for m in _alternating_masks(dim, positive_int(n_layers, "n_layers"))])


def continuous_flow(velocity_fn: Callable[[torch.Tensor, float], torch.Tensor], x: torch.Tensor,
                    ts: torch.Tensor | Sequence[float], with_logdet: bool = False):
    """Integrate a free-form flow dx/dt = v(x, t) along the time grid ``ts`` with Heun's method.

    With ``with_logdet=True`` it also integrates d/dt log |det ∂x_t/∂x_{t_0}| = ∇·v(x_t, t)
    (the divergence by autograd, exact in low dimension), so that

        log p_{t_0}(x_{t_0}) = log p_{t_1}(x_{t_1}) + ∫_{t_0}^{t_1} ∇·v(x_t, t) dt.

    Used in chapter 11 with the probability-flow ODE v = −(δ²/2) ∇log p_t of chapter 7: the
    map is invertible (run it back along the reversed grid) though no layer is constrained.

    Args:
        velocity_fn: ``(x (N, D), t) -> (N, D)``.
        x: start points ``(N, D)`` at time ``ts[0]``.
        ts: strictly monotone times ``(K + 1,)`` (increasing or decreasing); K Heun steps.

    Returns:
        x at ``ts[-1]`` ``(N, D)``, or ``(x, logdet (N,))``.
    """
    x = as_points(x, name="x").detach()
    ts = torch.as_tensor(ts, dtype=torch.float64)
    if ts.ndim != 1 or ts.numel() < 2:
        raise ValueError(f"ts must be a 1-D grid of at least 2 times, got shape {tuple(ts.shape)}")
    steps = ts[1:] - ts[:-1]
    if not ((steps > 0).all() or (steps < 0).all()):
        raise ValueError("ts must be strictly monotone")

    def v_and_div(y, t):
        if not with_logdet:
            with torch.no_grad():
                return velocity_fn(y, t), None
        with torch.enable_grad():
            y = y.detach().requires_grad_(True)
            v = velocity_fn(y, t)
            div = sum(torch.autograd.grad(v[:, i].sum(), y, retain_graph=i < y.shape[1] - 1)[0][:, i]
                      for i in range(y.shape[1]))
        return v.detach(), div.detach()

    logdet = torch.zeros(x.shape[0], dtype=x.dtype, device=x.device)
    grid = ts.tolist()
    for t, t_next in zip(grid[:-1], grid[1:]):
        h = t_next - t
        v1, div1 = v_and_div(x, t)
        v2, div2 = v_and_div(x + h * v1, t_next)
        x = x + 0.5 * h * (v1 + v2)
        if with_logdet:
            logdet = logdet + 0.5 * h * (div1 + div2)
    return (x, logdet) if with_logdet else x
