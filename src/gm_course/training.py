"""One training loop for the whole course.

Every chapter that trains a network (energy models in chapters 3-4, score models in
chapters 8-9, flows, VAEs, GANs) calls :func:`fit` with a model and a *loss function of the
step number*. The loss function draws its own batch with its own ``torch.Generator``, so a
run is reproducible and the loop knows nothing about data:

.. code-block:: python

    gen = torch.Generator().manual_seed(0)

    def loss_fn(step: int) -> torch.Tensor:
        x = target.sample(512, generator=gen)
        return -model(x).mean()

    result = fit(model, loss_fn, steps=2000, lr=1e-2, lr_final=1e-4, ema_decay=0.99)
    result.losses[-1], result.ema_model

The loop is plain Adam with a learning rate that decays from ``lr`` to ``lr_final``
(cosine by default, or exponential), optional clipping of the gradient norm and an optional
exponential moving average (EMA) of the weights, kept in a separate copy of the model.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Callable

import torch

from ._validate import positive, positive_int

__all__ = ["FitResult", "fit", "learning_rate"]


@dataclass
class FitResult:
    """What :func:`fit` returns.

    Attributes:
        model: the trained model (the same object that was passed in, trained in place).
        losses: the loss of every step, as Python floats (length ``steps``).
        lrs: the learning rate used at every step (length ``steps``).
        ema_model: a copy of the model holding the exponential moving average of its
            parameters (and a copy of its buffers), or ``None`` when ``ema_decay`` was not set.
    """

    model: torch.nn.Module
    losses: list[float] = field(default_factory=list)
    lrs: list[float] = field(default_factory=list)
    ema_model: torch.nn.Module | None = None


def learning_rate(step: int, steps: int, lr: float, lr_final: float | None, schedule: str = "cosine") -> float:
    """Learning rate at ``step`` (0-based) of ``steps``, decaying from ``lr`` to ``lr_final``.

    cosine:       lr_final + (lr − lr_final) · (1 + cos(π s)) / 2,   s = step / (steps − 1)
    exponential:  lr · (lr_final / lr)^s

    With ``lr_final=None`` the rate is constant. The first step uses ``lr`` and the last
    ``lr_final`` exactly.
    """
    if lr_final is None or steps <= 1:
        return lr
    s = step / (steps - 1)
    if schedule == "cosine":
        return lr_final + (lr - lr_final) * 0.5 * (1.0 + math.cos(math.pi * s))
    if schedule == "exponential":
        return lr * (lr_final / lr) ** s
    raise ValueError(f"schedule must be 'cosine' or 'exponential', got {schedule!r}")


def fit(
    model: torch.nn.Module,
    loss_fn: Callable[[int], torch.Tensor],
    steps: int,
    lr: float,
    *,
    lr_final: float | None = None,
    schedule: str = "cosine",
    ema_decay: float | None = None,
    grad_clip: float | None = None,
    weight_decay: float = 0.0,
    betas: tuple[float, float] = (0.9, 0.999),
    fused: bool = False,
    progress: bool = False,
) -> FitResult:
    """Train ``model`` in place with Adam for ``steps`` steps of ``loss_fn(step)``.

    Each step: ``loss = loss_fn(step)``; back-propagate; clip the gradient norm to
    ``grad_clip`` if set; one Adam step at ``learning_rate(step, ...)``; update the EMA copy
    θ_ema ← d θ_ema + (1 − d) θ if ``ema_decay = d`` is set. Used by chapters 3 (energy
    models), 4 (NCE) and every later chapter that trains a network.

    Args:
        model: the module whose parameters are trained (all parameters with
            ``requires_grad``).
        loss_fn: ``step -> scalar tensor``; draws its own batch (with its own generator).
        steps: number of optimisation steps (>= 1).
        lr: initial learning rate (> 0).
        lr_final: learning rate at the last step (> 0), or ``None`` for a constant rate.
        schedule: ``"cosine"`` or ``"exponential"`` decay from ``lr`` to ``lr_final``.
        ema_decay: decay d in [0, 1) of the weight average, or ``None`` for no EMA copy.
        grad_clip: maximal global gradient norm (> 0), or ``None``.
        weight_decay: Adam's L2 penalty (>= 0).
        betas: Adam's moment decays.
        fused: use torch's fused Adam (one kernel updates every parameter; the same update up
            to rounding). 5-10 % faster per step for a network of many small tensors
            such as chapter 9's U-Net on a CPU; off by default, so results of the other
            chapters stay bit for bit as they were.
        progress: show a tqdm progress bar (for interactive use; off in the built book).

    Returns:
        :class:`FitResult` with the per-step losses, learning rates and the EMA model.

    Raises:
        ValueError: on a bad argument, a model without trainable parameters, or a loss that
            is not a finite scalar tensor (the message names the step).
    """
    if not isinstance(model, torch.nn.Module):
        raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not callable(loss_fn):
        raise ValueError(f"loss_fn must be callable as loss_fn(step) -> scalar tensor, got {type(loss_fn).__name__}")
    steps = positive_int(steps, "steps")
    lr = positive(lr, "lr")
    if lr_final is not None:
        lr_final = positive(lr_final, "lr_final")
    if schedule not in ("cosine", "exponential"):
        raise ValueError(f"schedule must be 'cosine' or 'exponential', got {schedule!r}")
    if ema_decay is not None:
        if isinstance(ema_decay, bool) or not isinstance(ema_decay, (int, float)) or not 0.0 <= ema_decay < 1.0:
            raise ValueError(f"ema_decay must be a number in [0, 1) or None, got {ema_decay!r}")
    if grad_clip is not None:
        grad_clip = positive(grad_clip, "grad_clip")
    if isinstance(weight_decay, bool) or not isinstance(weight_decay, (int, float)) or not weight_decay >= 0:
        raise ValueError(f"weight_decay must be a number >= 0, got {weight_decay!r}")
    if not isinstance(fused, bool):
        raise ValueError(f"fused must be True or False, got {fused!r}")
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("model has no trainable parameters (none with requires_grad=True)")

    # fused=None (torch's default) rather than False keeps torch's own choice of implementation
    opt = torch.optim.Adam(params, lr=lr, betas=betas, weight_decay=weight_decay, fused=fused or None)
    ema_model = None
    if ema_decay is not None:
        ema_model = copy.deepcopy(model)
        for p in ema_model.parameters():
            p.requires_grad_(False)
        ema_params = list(ema_model.parameters())
    result = FitResult(model=model, ema_model=ema_model)

    iterator = range(steps)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(iterator, total=steps, leave=False)
        iterator = bar
    for step in iterator:
        rate = learning_rate(step, steps, lr, lr_final, schedule)
        for group in opt.param_groups:
            group["lr"] = rate
        loss = loss_fn(step)
        if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
            raise ValueError(f"loss_fn({step}) must return a scalar tensor, got {type(loss).__name__}")
        if not bool(torch.isfinite(loss.detach())):
            raise ValueError(f"loss_fn({step}) returned a non-finite loss ({loss.item()}); lower lr or clip gradients")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(params, grad_clip)
        opt.step()
        if ema_model is not None:
            with torch.no_grad():
                # one fused call for every tensor: the same values as a lerp_ per parameter
                torch._foreach_lerp_(ema_params, [p.detach() for p in model.parameters()],
                                     1.0 - ema_decay)
                for b_ema, b in zip(ema_model.buffers(), model.buffers()):
                    b_ema.copy_(b)
        value = float(loss.detach())
        result.losses.append(value)
        result.lrs.append(rate)
        if bar is not None and (step % 50 == 0 or step == steps - 1):
            bar.set_postfix(loss=f"{value:.4g}")
    return result
