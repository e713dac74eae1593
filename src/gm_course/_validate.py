"""Small argument checks shared by the package modules.

Every public function of :mod:`gm_course` validates its inputs with these helpers so that
bad input fails early with a ``ValueError`` that names the argument and says what was
expected, instead of an obscure broadcasting error three calls later.

The helpers only check and convert; they never copy data unnecessarily and never move it
to another device (the device follows the data).
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import torch

__all__ = [
    "as_tensor",
    "as_points",
    "as_vector",
    "check_finite",
    "positive",
    "positive_int",
    "interval",
]


def as_tensor(x: Any, name: str = "x") -> torch.Tensor:
    """Return ``x`` as a floating-point tensor (no copy if it already is one).

    Tensors keep their dtype and device when they are floating point; integer or boolean
    tensors and array-likes (lists, numpy arrays) become floating tensors (numpy float64
    stays float64, other input gets ``torch.get_default_dtype()``).

    Raises:
        ValueError: if ``x`` cannot be turned into a numeric tensor.
    """
    if not isinstance(x, torch.Tensor):
        try:
            x = torch.as_tensor(x)
        except (TypeError, ValueError, RuntimeError) as err:
            raise ValueError(f"{name} must be a tensor or array-like of numbers, got {type(x).__name__}") from err
    if x.is_complex():
        raise ValueError(f"{name} must be real-valued, got dtype {x.dtype}")
    if not x.is_floating_point():
        x = x.to(torch.get_default_dtype())
    return x


def check_finite(x: torch.Tensor, name: str = "x") -> torch.Tensor:
    """Raise ``ValueError`` if ``x`` holds NaN or ±inf; otherwise return ``x`` unchanged."""
    if x.numel() and not bool(torch.isfinite(x).all()):
        bad = int((~torch.isfinite(x)).sum())
        raise ValueError(f"{name} must contain only finite values; found {bad} NaN/inf entries")
    return x


def as_points(x: Any, dim: int | None = None, name: str = "x", min_rows: int = 1) -> torch.Tensor:
    """Validate a batch of points: a finite floating tensor of shape (N, D).

    Args:
        x: points, shape (N, D).
        dim: required number of coordinates D, or ``None`` for any D >= 1.
        name: argument name used in error messages.
        min_rows: smallest allowed N (default 1).

    Returns:
        ``x`` as a floating tensor of shape (N, D) (same device as the input).

    Raises:
        ValueError: wrong number of dimensions, wrong D, fewer than ``min_rows`` points, or
            non-finite values.
    """
    x = as_tensor(x, name)
    if x.ndim != 2:
        expected = f"(N, {dim})" if dim is not None else "(N, D)"
        raise ValueError(f"{name} must have shape {expected}, got a {x.ndim}-D tensor of shape {tuple(x.shape)}")
    if dim is not None and x.shape[1] != dim:
        raise ValueError(f"{name} must have shape (N, {dim}), got last dimension {x.shape[1]} (shape {tuple(x.shape)})")
    if x.shape[1] < 1:
        raise ValueError(f"{name} must have at least one coordinate, got shape {tuple(x.shape)}")
    if x.shape[0] < min_rows:
        raise ValueError(f"{name} must contain at least {min_rows} point(s), got {x.shape[0]}")
    return check_finite(x, name)


def as_vector(x: Any, name: str = "x", min_len: int = 1) -> torch.Tensor:
    """Validate a finite 1-D floating tensor of shape (N,) with N >= ``min_len``.

    Raises:
        ValueError: if ``x`` is not 1-D, is too short, or holds non-finite values.
    """
    x = as_tensor(x, name)
    if x.ndim != 1:
        raise ValueError(f"{name} must have shape (N,), got a {x.ndim}-D tensor of shape {tuple(x.shape)}")
    if x.shape[0] < min_len:
        raise ValueError(f"{name} must contain at least {min_len} value(s), got {x.shape[0]}")
    return check_finite(x, name)


def positive(value: Any, name: str) -> float:
    """Return ``value`` as a Python float after checking it is finite and > 0.

    Raises:
        ValueError: if ``value`` is not a real number, not finite, or <= 0.
    """
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise ValueError(f"{name} must be a single positive number, got a tensor of shape {tuple(value.shape)}")
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a positive number, got {value!r}")
    value = float(value)
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value}")
    return value


def positive_int(value: Any, name: str) -> int:
    """Return ``value`` as a Python int after checking it is an integer >= 1.

    Accepts Python and numpy integers (not bools, not floats such as ``2.0``).

    Raises:
        ValueError: if ``value`` is not an integer or is <= 0.
    """
    if isinstance(value, torch.Tensor) and value.numel() == 1 and not value.is_floating_point():
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    value = int(value)
    if value <= 0:
        raise ValueError(f"{name} must be a positive integer (>= 1), got {value}")
    return value


def interval(bounds: Any, name: str = "range") -> tuple[float, float]:
    """Validate an interval ``(lo, hi)`` of finite numbers with lo < hi.

    Returns:
        ``(lo, hi)`` as Python floats.

    Raises:
        ValueError: if ``bounds`` is not a pair, holds non-finite numbers, or lo >= hi.
    """
    try:
        lo, hi = bounds
        lo, hi = float(lo), float(hi)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must be a pair (lo, hi) of numbers, got {bounds!r}") from err
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ValueError(f"{name} must have finite bounds, got ({lo}, {hi})")
    if lo >= hi:
        raise ValueError(f"{name} must satisfy lo < hi, got lo={lo}, hi={hi}")
    return lo, hi
