"""Tests for the shared argument checks in gm_course._validate."""

import numpy as np
import pytest
import torch

from gm_course import _validate as V


def test_as_points_keeps_float_tensors_and_converts_others():
    x = torch.zeros(3, 2, dtype=torch.float32)
    assert V.as_points(x, dim=2) is x
    assert V.as_points(np.zeros((3, 2))).dtype == torch.float64
    assert V.as_points([[1, 2]]).dtype == torch.get_default_dtype()


def test_as_vector_and_interval_and_numbers():
    assert V.as_vector(torch.arange(3)).shape == (3,)
    assert V.interval((0, 2)) == (0.0, 2.0)
    assert V.positive(np.float32(0.5), "h") == 0.5
    assert V.positive(torch.tensor(2.0), "h") == 2.0
    assert V.positive_int(np.int64(3), "n") == 3


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: V.as_points(torch.zeros(3), name="pts"), r"pts must have shape \(N, D\)"),
        (lambda: V.as_points(torch.zeros(3, 2), dim=3), r"must have shape \(N, 3\), got last dimension 2"),
        (lambda: V.as_points(torch.zeros(3, 0)), "at least one coordinate"),
        (lambda: V.as_points(torch.zeros(0, 2)), "at least 1 point"),
        (lambda: V.as_points(torch.tensor([[float("nan"), 0.0]])), "only finite values; found 1"),
        (lambda: V.as_points(torch.zeros(2, 2, dtype=torch.complex64)), "real-valued"),
        (lambda: V.as_points("abc"), "tensor or array-like"),
        (lambda: V.as_vector(torch.zeros(2, 2), name="v"), r"v must have shape \(N,\)"),
        (lambda: V.positive(0, "step"), "step must be a finite number > 0"),
        (lambda: V.positive(float("inf"), "step"), "step must be a finite number > 0"),
        (lambda: V.positive("1", "step"), "step must be a positive number"),
        (lambda: V.positive(True, "step"), "step must be a positive number"),
        (lambda: V.positive(torch.ones(2), "step"), "single positive number"),
        (lambda: V.positive_int(0, "n"), "n must be a positive integer"),
        (lambda: V.positive_int(2.0, "n"), "n must be a positive integer"),
        (lambda: V.positive_int(True, "n"), "n must be a positive integer"),
        (lambda: V.interval((1, 0), "box"), "box must satisfy lo < hi"),
        (lambda: V.interval((0, float("nan")), "box"), "box must have finite bounds"),
        (lambda: V.interval(3, "box"), r"box must be a pair \(lo, hi\)"),
    ],
)
def test_value_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()
