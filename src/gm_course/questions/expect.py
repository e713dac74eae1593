"""Assertions shared by the chapters' checks: call, type, shape, finiteness, value.

Each helper raises :class:`~gm_course.grading.CheckFailed` with a short reason a learner can
act on. Input cases are described as ``input case k (what is special about it)`` so the
learner can rebuild the failing input.

Policy on return types: a graded function must return a ``torch.Tensor`` of a floating
dtype, as its statement says. A list or a numpy array fails with a reason that says how to
convert it (``torch.as_tensor``), rather than being converted silently: the rest of the
course passes these results on to torch code, where an array would break later and less
clearly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import torch

from ..grading import CheckFailed


@dataclass(frozen=True)
class Case:
    """One input case of a check: positional arguments and a description for the learner."""

    args: tuple
    description: str

    def label(self, k: int) -> str:
        return f"input case {k} ({self.description})"


def call(fn: Callable, case: Case, k: int) -> Any:
    """``fn(*case.args)`` on copies of the inputs; fails if ``fn`` changes an input in place.

    ``NotImplementedError`` passes through (the grader reports "not attempted"); other errors
    pass through too and the grader reports them with their type and message.
    """
    args = tuple(a.clone() if isinstance(a, torch.Tensor) else a for a in case.args)
    out = fn(*args)
    for a, original in zip(args, case.args):
        if isinstance(a, torch.Tensor) and not (
            a.shape == original.shape and torch.equal(a, original)
        ):
            raise CheckFailed(
                f"{case.label(k)}: your function changed one of its input tensors in place; "
                "work on a copy (or use out-of-place operations)"
            )
    return out


def tensor(value: Any, where: str, shape: Sequence[int]) -> torch.Tensor:
    """Check that ``value`` is a finite floating tensor of ``shape``; return it as float64 on CPU."""
    if not isinstance(value, torch.Tensor):
        hint = " (convert it with torch.as_tensor)" if isinstance(value, (np.ndarray, list, tuple, float, int)) else ""
        raise CheckFailed(f"{where}: expected a torch.Tensor, got {type(value).__name__}{hint}")
    shape = tuple(shape)
    got = tuple(value.shape)
    if got != shape:
        hint = ""
        if len(shape) == 2 and got == shape[::-1]:
            hint = ": is your result transposed (are the two axes swapped)?"
        raise CheckFailed(f"{where}: expected shape {shape}, got {got}{hint}")
    if not value.is_floating_point():
        raise CheckFailed(f"{where}: expected a floating-point tensor, got dtype {value.dtype}")
    value = value.detach().to("cpu", torch.float64)
    bad = ~torch.isfinite(value)
    if bad.any():
        index = tuple(int(i) for i in bad.nonzero()[0])
        raise CheckFailed(f"{where}: the result contains NaN or inf (first at index {index})")
    return value


def close(got: torch.Tensor, expected: Any, where: str, rtol: float = 1e-4, atol: float = 1e-6) -> None:
    """Fail unless ``|got - expected| <= atol + rtol |expected|`` everywhere (float64 tensors)."""
    expected = torch.as_tensor(np.asarray(expected, dtype=np.float64))
    err = (got - expected).abs()
    if bool((err <= atol + rtol * expected.abs()).all()):
        return
    worst = int(err.argmax())
    index = np.unravel_index(worst, tuple(expected.shape)) if expected.ndim else ()
    at = f" at index {tuple(int(i) for i in index)}" if expected.ndim else ""
    reason = (
        f"{where}: values differ, max error {float(err.max()):.3g}{at} "
        f"(expected {float(expected.flatten()[worst]):.6g}, got {float(got.flatten()[worst]):.6g})"
    )
    raise CheckFailed(reason + _factor_hint(got, expected))


def _factor_hint(got: torch.Tensor, expected: torch.Tensor) -> str:
    """A hint when the answer is the expected one times a constant (a normalisation slip)."""
    mask = expected.abs() > 1e-12
    if int(mask.sum()) < 2 or bool((got[~mask].abs() > 1e-9).any()):
        return ""
    ratio = got[mask] / expected[mask]
    factor = float(ratio.mean())
    if abs(factor - 1) > 1e-3 and bool(((ratio - factor).abs() <= 1e-6 * max(1.0, abs(factor))).all()):
        return f"; your result is {factor:.4g} times the expected one everywhere: check the normalisation"
    return ""


def check_cases(fn: Callable, cases: Sequence[Case], reference: Callable, rtol: float = 1e-7,
                atol: float = 1e-9, rtol_float32: float | None = None) -> None:
    """The usual check: for each case, ``fn`` must return a tensor close to the reference.

    ``reference(*case.args)`` computes the expected array independently of the package; the
    learner's result must have its shape and agree within ``atol + rtol |expected|``
    (``rtol_float32`` instead when a tensor input is float32, whose rounding is coarser).
    """
    for k, case in enumerate(cases, start=1):
        where = case.label(k)
        expected = np.asarray(reference(*case.args), dtype=np.float64)
        got = tensor(call(fn, case, k), where, expected.shape)
        single = any(isinstance(a, torch.Tensor) and a.dtype == torch.float32 for a in case.args)
        tol = rtol_float32 if single and rtol_float32 is not None else rtol
        close(got, expected, where, rtol=tol, atol=atol)


def float64(values: Any) -> torch.Tensor:
    """Numbers, nested lists or an array as a new float64 tensor (the checks' input cases)."""
    return torch.tensor(np.asarray(values, dtype=np.float64))


def local_rng(seed: int) -> np.random.Generator:
    """The checks' own random generator: fixed seeds, no global state touched."""
    return np.random.default_rng(seed)
