"""Generative adversarial networks: the min-max game and its two alternating optimisers (chapter 13).

A generator G maps noise z ~ N(0, I) to x = G(z) (density p_G, never written down); a
discriminator D(x) = σ(ℓ(x)) with logit ℓ tells data from generated points. They play

    min_G max_D  V(D, G) = E_{p_data}[log D(x)] + E_{z}[log(1 − D(G(z)))].

For a fixed G the best discriminator is D*(x) = p_data(x) / (p_data(x) + p_G(x)), i.e. its
logit is the log density ratio ℓ*(x) = log p_data(x) − log p_G(x) (the classifier of
noise-contrastive estimation, chapter 4), and V(D*, G) = −log 4 + 2 JS(p_data ‖ p_G).

- :func:`discriminator_loss`, :func:`generator_loss`: the two losses, on logits (stable).
- :func:`optimal_discriminator_logit`: ℓ* from two log-densities.
- :func:`train_gan`: the alternating loop (one Adam optimiser per player).

Samples are scored by mode statistics (precision, coverage, mode-weight error) with
:func:`gm_course.metrics.mode_summary`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import nn
from torch.nn import functional as F

from ._validate import positive, positive_int

__all__ = [
    "discriminator_loss",
    "generator_loss",
    "optimal_discriminator_logit",
    "make_generator",
    "make_discriminator",
    "latent",
    "GANResult",
    "train_gan",
]


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """−V for the discriminator: −E log σ(ℓ(x_data)) − E log(1 − σ(ℓ(G(z)))), written with
    softplus (−log σ(a) = softplus(−a), −log(1 − σ(a)) = softplus(a)) so that it never overflows.
    ``(N,), (M,) -> scalar``."""
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


def generator_loss(fake_logits: torch.Tensor, non_saturating: bool = True) -> torch.Tensor:
    """The generator's loss on ``fake_logits`` ``(M,)``.

    ``non_saturating=False``: the min-max objective itself, E log(1 − D(G(z))) = −E softplus(ℓ);
    its gradient vanishes when D confidently rejects the samples (early in training).
    ``non_saturating=True`` (the usual choice): −E log D(G(z)) = E softplus(−ℓ), same fixed point.
    """
    if non_saturating:
        return F.softplus(-fake_logits).mean()
    return -F.softplus(fake_logits).mean()


def optimal_discriminator_logit(log_p_data: torch.Tensor, log_p_model: torch.Tensor) -> torch.Tensor:
    """ℓ*(x) = log p_data(x) − log p_G(x), so D*(x) = σ(ℓ*) = p_data / (p_data + p_G)."""
    return log_p_data - log_p_model


def make_generator(latent_dim: int = 2, data_dim: int = 2, hidden: int = 64) -> nn.Sequential:
    """G: ``(N, latent_dim) -> (N, data_dim)``, an MLP with two hidden layers."""
    latent_dim, data_dim, hidden = (positive_int(v, n) for v, n in
                                    ((latent_dim, "latent_dim"), (data_dim, "data_dim"), (hidden, "hidden")))
    return nn.Sequential(nn.Linear(latent_dim, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, hidden),
                         nn.LeakyReLU(0.2), nn.Linear(hidden, data_dim))


def make_discriminator(data_dim: int = 2, hidden: int = 64) -> nn.Sequential:
    """ℓ: ``(N, data_dim) -> (N, 1)`` logits, an MLP with two hidden layers."""
    data_dim, hidden = positive_int(data_dim, "data_dim"), positive_int(hidden, "hidden")
    return nn.Sequential(nn.Linear(data_dim, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, hidden),
                         nn.LeakyReLU(0.2), nn.Linear(hidden, 1))


def latent(n: int, dim: int, like: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """z ~ N(0, I): ``(n, dim)`` with the dtype and device of ``like`` (e.g. a parameter)."""
    dev = generator.device if generator is not None else like.device
    z = torch.randn(positive_int(n, "n"), positive_int(dim, "dim"), generator=generator, dtype=like.dtype, device=dev)
    return z.to(like.device)


@dataclass
class GANResult:
    """What :func:`train_gan` returns: per-step losses and generated snapshots ``{step: (n, D)}``."""

    d_losses: list[float] = field(default_factory=list)
    g_losses: list[float] = field(default_factory=list)
    snapshots: dict[int, torch.Tensor] = field(default_factory=dict)


def train_gan(
    gen_net: nn.Module,
    disc_net: nn.Module,
    sample_data: Callable[[int], torch.Tensor],
    steps: int,
    *,
    latent_dim: int,
    batch: int = 256,
    lr_g: float = 1e-3,
    lr_d: float = 1e-3,
    d_steps: int = 1,
    betas: tuple[float, float] = (0.5, 0.999),
    non_saturating: bool = True,
    train_discriminator: bool = True,
    snapshot_every: int | None = None,
    snapshot_size: int = 1000,
    generator: torch.Generator | None = None,
) -> GANResult:
    """Alternating gradient steps on the min-max game, one Adam optimiser per player.

    Each step: ``d_steps`` discriminator steps on :func:`discriminator_loss` (real batch from
    ``sample_data(batch)``, fake batch G(z) detached), then one generator step on
    :func:`generator_loss` through the current D. With ``train_discriminator=False`` D stays
    fixed and only G moves (chapter 13 shows what that does). Chapters 13 and 14.

    Args:
        gen_net: G, ``(N, latent_dim) -> (N, D)``. disc_net: ℓ, ``(N, D) -> (N, 1)``.
        sample_data: ``n -> (n, D)`` real points (draws with its own generator).
        steps: number of generator steps.
        generator: ``torch.Generator`` for the latent noise.
        snapshot_every: keep G(z) for a fixed z of ``snapshot_size`` points every that many steps.

    Returns:
        :class:`GANResult`.
    """
    steps, batch, d_steps = positive_int(steps, "steps"), positive_int(batch, "batch"), positive_int(d_steps, "d_steps")
    lr_g, lr_d = positive(lr_g, "lr_g"), positive(lr_d, "lr_d")
    like = next(gen_net.parameters())
    opt_g = torch.optim.Adam(gen_net.parameters(), lr=lr_g, betas=betas)
    opt_d = torch.optim.Adam(disc_net.parameters(), lr=lr_d, betas=betas)
    result = GANResult()
    z_fixed = latent(snapshot_size, latent_dim, like, generator) if snapshot_every else None
    for step in range(steps):
        if train_discriminator:
            for _ in range(d_steps):
                real = sample_data(batch).to(like)
                with torch.no_grad():
                    fake = gen_net(latent(batch, latent_dim, like, generator))
                loss_d = discriminator_loss(disc_net(real).squeeze(-1), disc_net(fake).squeeze(-1))
                opt_d.zero_grad(set_to_none=True)
                loss_d.backward()
                opt_d.step()
            result.d_losses.append(float(loss_d.detach()))
        fake = gen_net(latent(batch, latent_dim, like, generator))
        loss_g = generator_loss(disc_net(fake).squeeze(-1), non_saturating)
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()  # D's parameters get gradients too; opt_d zeroes them before use
        opt_g.step()
        result.g_losses.append(float(loss_g.detach()))
        if z_fixed is not None and (step % snapshot_every == 0 or step == steps - 1):
            with torch.no_grad():
                result.snapshots[step] = gen_net(z_fixed).detach().cpu()
    return result

