"""Small networks for diffusion: time embeddings, score/denoiser MLPs, EDM preconditioning.

Networks only: every process, loss and sampler lives in :mod:`gm_course.diffusion` or
:mod:`gm_course.ddpm` and takes the network as an argument.

* :func:`sinusoidal_embedding` — the Transformer/DDPM time embedding, the **concatenation**
  [sin ω_k t, cos ω_k t] (not a sum), ω_k = max_period^(−k/half).
* :class:`FourierFeatures` — random Fourier features [sin 2π Bx, cos 2π Bx] of the input
  (Tancik et al., 2020), which let a small MLP bend sharply.
* :class:`ScoreMLP` — an MLP ``(x, c) -> (N, D)`` conditioned on one scalar per point
  (a time t, a step index or a noise level c_noise) through a sinusoidal embedding.
* :class:`EDMDenoiser` — Karras et al.'s (2022) preconditioning of a network F into a
  denoiser D(x, σ) = c_skip x + c_out F(c_in x, c_noise), with the score (D − x)/σ².
* :class:`ResidualMLP` — the standard 2-D DDPM baseline: 128 wide, residual blocks,
  sinusoidal embeddings of the step index.

Used by chapter 8 (score models on 2-D data) and chapter 9 (the embedding in a U-Net).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ._validate import positive, positive_int

__all__ = ["sinusoidal_embedding", "FourierFeatures", "ScoreMLP", "EDMDenoiser", "ResidualMLP"]


def sinusoidal_embedding(t: torch.Tensor, dim: int, max_period: float = 10_000.0) -> torch.Tensor:
    """Embed scalars t ``(N,)`` into ``(N, dim)``: [sin(ω_0 t) … sin(ω_{h−1} t), cos(ω_0 t) … cos(ω_{h−1} t)].

    h = dim/2 and ω_k = max_period^(−k/h), k = 0..h−1: frequencies from 1 down to nearly
    1/max_period, so the embedding resolves t on scales from 1 to ~max_period (use step
    indices 0..T−1, or multiply a t in [0, 1] by ~1000). The sines and cosines are
    concatenated, not added (a sum would lose information: sin a + cos a is not one-to-one
    in a over a period). Output dtype and device follow ``t`` (float32 for integer ``t``).

    Raises:
        ValueError: if ``t`` is not 1-D or ``dim`` is not a positive even integer.
    """
    dim = positive_int(dim, "dim")
    if dim % 2:
        raise ValueError(f"dim must be even (half sines, half cosines), got {dim}")
    max_period = positive(max_period, "max_period")
    t = torch.as_tensor(t)
    if t.ndim != 1:
        raise ValueError(f"t must have shape (N,), got {tuple(t.shape)}")
    if not t.is_floating_point():
        t = t.to(torch.get_default_dtype())
    half = dim // 2
    k = torch.arange(half, dtype=t.dtype, device=t.device)
    omega = torch.exp(-math.log(max_period) * k / half)  # (half,)
    angles = t[:, None] * omega[None]  # (N, half)
    return torch.cat([torch.sin(angles), torch.cos(angles)], dim=1)


class FourierFeatures(nn.Module):
    """x ``(N, D)`` -> [sin 2π xBᵀ, cos 2π xBᵀ] ``(N, 2 n_features)`` with fixed B ~ N(0, scale²).

    B is a buffer (not trained), drawn from ``generator`` so the features are reproducible.
    """

    def __init__(self, dim: int, n_features: int = 16, scale: float = 1.0,
                 generator: torch.Generator | None = None):
        super().__init__()
        dim, n_features = positive_int(dim, "dim"), positive_int(n_features, "n_features")
        scale = positive(scale, "scale")
        self.register_buffer("B", scale * torch.randn(n_features, dim, generator=generator))

    @property
    def out_dim(self) -> int:
        return 2 * self.B.shape[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        angles = 2 * math.pi * x @ self.B.T  # (N, n_features)
        return torch.cat([torch.sin(angles), torch.cos(angles)], dim=1)


class ScoreMLP(nn.Module):
    """f(x, c): an MLP on [x, its Fourier features (optional), sinusoidal_embedding(c·c_scale)].

    Args:
        dim: data dimension D (input and output ``(N, D)``).
        hidden: width of the hidden layers.
        depth: number of hidden layers (SiLU activations).
        emb_dim: size of the time/noise embedding (even).
        c_scale: multiplies the conditioning scalar before the embedding (e.g. 1000 for t in
            [0, 1]; 250 for EDM's c_noise = log(σ)/4).
        max_period: of the embedding.
        fourier: number of Fourier features of x, fed next to x itself (0: x alone). Keeping
            x lets the network extrapolate away from the data, where the periodic features
            alone would alias far points onto near ones.
        fourier_scale: standard deviation of the Fourier frequencies.
        generator: draws the initial weights and the Fourier matrix (reproducible).

    ``forward(x, c)``: x ``(N, D)``, c ``(N,)`` -> ``(N, D)``. What the output means (a
    score, a noise estimate ε̂, a preconditioned denoiser output) is fixed by the loss.
    """

    def __init__(self, dim: int = 2, hidden: int = 64, depth: int = 3, emb_dim: int = 32,
                 c_scale: float = 1.0, max_period: float = 10_000.0, fourier: int = 0,
                 fourier_scale: float = 1.0, generator: torch.Generator | None = None):
        super().__init__()
        dim, hidden, depth = positive_int(dim, "dim"), positive_int(hidden, "hidden"), positive_int(depth, "depth")
        self.emb_dim, self.c_scale, self.max_period = positive_int(emb_dim, "emb_dim"), positive(c_scale, "c_scale"), max_period
        self.features = FourierFeatures(dim, fourier, fourier_scale, generator) if fourier else None
        in_dim = dim + 2 * fourier + self.emb_dim
        layers, width = [], in_dim
        for _ in range(depth):
            layers += [nn.Linear(width, hidden), nn.SiLU()]
            width = hidden
        layers.append(nn.Linear(width, dim))
        self.net = nn.Sequential(*layers)
        if generator is not None:
            _init_(self, generator)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        h = torch.cat([x, self.features(x)], dim=1) if self.features is not None else x
        emb = sinusoidal_embedding(c.reshape(-1).to(x) * self.c_scale, self.emb_dim, self.max_period)
        return self.net(torch.cat([h, emb], dim=1))


class EDMDenoiser(nn.Module):
    """D(x, σ) = c_skip(σ) x + c_out(σ) F(c_in(σ) x, c_noise(σ))  (Karras et al., 2022).

    c_skip = σ_d²/(σ² + σ_d²), c_out = σ σ_d/√(σ² + σ_d²), c_in = 1/√(σ² + σ_d²),
    c_noise = log(σ)/4, with σ_d = ``sigma_data`` the data's standard deviation. The
    scalings keep F's input and target at unit variance for every σ, which is what lets a
    tiny network learn all noise levels at once.

    ``forward(x, sigma)``: x ``(N, D)``, sigma ``(N,)`` or a number -> the denoised estimate
    of E[x_0 | x_σ] ``(N, D)``. :meth:`score` returns Tweedie's (D(x, σ) − x)/σ².
    """

    def __init__(self, net: nn.Module, sigma_data: float = 1.0):
        super().__init__()
        self.net = net
        self.sigma_data = positive(sigma_data, "sigma_data")

    def forward(self, x: torch.Tensor, sigma) -> torch.Tensor:
        sigma = torch.as_tensor(sigma, dtype=x.dtype, device=x.device).reshape(-1).expand(x.shape[0])
        sd2 = self.sigma_data**2
        s = sigma[:, None]
        c_skip = sd2 / (s**2 + sd2)
        c_out = s * self.sigma_data / (s**2 + sd2).sqrt()
        c_in = 1 / (s**2 + sd2).sqrt()
        return c_skip * x + c_out * self.net(c_in * x, sigma.log() / 4)

    def score(self, x: torch.Tensor, sigma) -> torch.Tensor:
        """∇ log p_σ(x) ≈ (D(x, σ) − x)/σ² (Tweedie): ``(N, D) -> (N, D)``."""
        sigma = torch.as_tensor(sigma, dtype=x.dtype, device=x.device).reshape(-1, 1)
        return (self(x, sigma.reshape(-1)) - x) / sigma**2


class _ResBlock(nn.Module):
    def __init__(self, width: int, norm: bool):
        super().__init__()
        self.norm = nn.LayerNorm(width) if norm else nn.Identity()
        self.fc = nn.Linear(width, width)
        self.act = nn.GELU()

    def forward(self, h):
        return h + self.act(self.fc(self.norm(h)))


class ResidualMLP(nn.Module):
    """The 2-D DDPM baseline ε_θ(x, t): sinusoidal embeddings of the step index t and of
    each coordinate of x (scaled by ``x_scale``), concatenated, a linear layer to ``width``,
    ``n_blocks`` residual blocks h + GELU(W h) (W LayerNorm(h) with ``norm=True``), and a
    linear head to ``(N, D)``.

    ``forward(x, t)``: x ``(N, D)``, t ``(N,)`` float step indices (see :mod:`gm_course.ddpm`).
    """

    def __init__(self, dim: int = 2, width: int = 128, n_blocks: int = 3, emb_dim: int = 128,
                 x_scale: float = 25.0, norm: bool = False, generator: torch.Generator | None = None):
        super().__init__()
        dim, width = positive_int(dim, "dim"), positive_int(width, "width")
        self.emb_dim, self.x_scale = positive_int(emb_dim, "emb_dim"), positive(x_scale, "x_scale")
        self.inp = nn.Linear((dim + 1) * self.emb_dim, width)
        self.blocks = nn.Sequential(*[_ResBlock(width, norm) for _ in range(positive_int(n_blocks, "n_blocks"))])
        self.out = nn.Linear(width, dim)
        if generator is not None:
            _init_(self, generator)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        n, d = x.shape
        ex = sinusoidal_embedding((x * self.x_scale).reshape(-1), self.emb_dim).reshape(n, d * self.emb_dim)
        et = sinusoidal_embedding(t.reshape(-1).to(x), self.emb_dim)
        return self.out(self.blocks(self.inp(torch.cat([ex, et], dim=1))))


def _init_(module: nn.Module, generator: torch.Generator) -> None:
    """Re-draw every Linear layer's weights from ``generator`` (PyTorch's default uniform
    ranges), so a model is reproducible without touching the global seed."""
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, nn.Linear):
                bound = 1 / math.sqrt(m.in_features)
                m.weight.copy_(torch.empty_like(m.weight).uniform_(-bound, bound, generator=generator))
                m.bias.copy_(torch.empty_like(m.bias).uniform_(-bound, bound, generator=generator))
