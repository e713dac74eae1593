"""Tests for gm_course.runtime (the setup cell)."""

import numpy as np
import pytest
import torch

from gm_course import runtime as R


@pytest.fixture(autouse=True)
def keep_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_seed_everything_repeats_exactly():
    g1 = R.seed_everything(123)
    a = torch.randn(5, generator=g1), torch.randn(3), np.random.rand(2)
    g2 = R.seed_everything(123)
    b = torch.randn(5, generator=g2), torch.randn(3), np.random.rand(2)
    assert isinstance(g1, torch.Generator)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) and np.array_equal(a[2], b[2])
    assert not torch.equal(torch.randn(5, generator=R.seed_everything(124)), a[0])


def test_seeded_network_init_repeats():
    R.seed_everything(0)
    w1 = torch.nn.Linear(2, 4).weight.detach().clone()
    R.seed_everything(0)
    assert torch.equal(torch.nn.Linear(2, 4).weight, w1)


def test_pick_device():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert R.pick_device().type == expected
    assert R.pick_device("cpu") == torch.device("cpu")
    assert R.pick_device(torch.device("cpu")) == torch.device("cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="tests the error when CUDA is missing")
def test_pick_device_rejects_missing_cuda():
    with pytest.raises(ValueError, match="CUDA is not available"):
        R.pick_device("cuda")


def test_configure_threads():
    assert R.configure_threads() == 1 and torch.get_num_threads() == 1
    assert R.configure_threads(2) == 2 and torch.get_num_threads() == 2


def test_time_mlp_step_restores_state():
    torch.set_num_threads(1)
    state = torch.get_rng_state()
    t = R.time_mlp_step(2, steps=3, width=16, warmup=1)
    assert 0 < t < 1.0
    assert torch.get_num_threads() == 1
    assert torch.equal(torch.get_rng_state(), state)


def test_setup_returns_device_and_seeds():
    device = R.setup(seed=7, device="cpu")
    assert device == torch.device("cpu") and torch.get_num_threads() == 1
    a = torch.randn(3)
    R.setup(seed=7, device="cpu")
    assert torch.equal(torch.randn(3), a)
    assert torch.get_default_dtype() == torch.float32  # setup leaves the default dtype alone


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: R.seed_everything(-1), "seed must be an integer"),
        (lambda: R.seed_everything(1.5), "seed must be an integer"),
        (lambda: R.seed_everything(2**32), "seed must be an integer"),
        (lambda: R.pick_device("gpu0"), "prefer must"),
        (lambda: R.pick_device(3.5), "prefer must"),
        (lambda: R.configure_threads(0), "num_threads must be a positive integer"),
        (lambda: R.time_mlp_step(1, steps=0), "steps must be a positive integer"),
        (lambda: R.time_mlp_step(1, warmup=-1), "warmup must be a non-negative integer"),
        (lambda: R.setup(device="nonsense"), "prefer must"),
    ],
)
def test_value_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()
