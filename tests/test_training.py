"""Tests of the course's single training loop (gm_course.training.fit)."""

import math

import pytest
import torch

from gm_course.training import FitResult, fit, learning_rate


def _quadratic_problem(seed=0):
    """A linear least-squares fit whose optimum is known: w* = (2, -3), b* = 0.5."""
    gen = torch.Generator().manual_seed(seed)
    model = torch.nn.Linear(2, 1)
    w_true = torch.tensor([[2.0, -3.0]])

    def loss_fn(step):
        x = torch.randn(256, 2, generator=gen)
        y = x @ w_true.T + 0.5
        return ((model(x) - y) ** 2).mean()

    return model, loss_fn


def test_fit_reaches_least_squares_optimum():
    torch.manual_seed(0)
    model, loss_fn = _quadratic_problem()
    result = fit(model, loss_fn, steps=600, lr=0.05, lr_final=1e-3)
    assert isinstance(result, FitResult)
    assert result.model is model
    assert len(result.losses) == 600 and len(result.lrs) == 600
    assert result.losses[-1] < 1e-6 and result.losses[-1] < result.losses[0]
    torch.testing.assert_close(model.weight.detach(), torch.tensor([[2.0, -3.0]]), atol=1e-3, rtol=0)
    assert abs(model.bias.item() - 0.5) < 1e-3


def test_schedules_start_and_end_at_given_rates():
    for schedule in ("cosine", "exponential"):
        rates = [learning_rate(s, 11, 0.1, 0.001, schedule) for s in range(11)]
        assert rates[0] == pytest.approx(0.1) and rates[-1] == pytest.approx(0.001)
        assert all(a >= b for a, b in zip(rates, rates[1:]))
    assert learning_rate(5, 11, 0.1, 0.001, "exponential") == pytest.approx(math.sqrt(0.1 * 0.001))
    assert learning_rate(5, 11, 0.1, 0.001, "cosine") == pytest.approx(0.0505)
    assert learning_rate(3, 10, 0.1, None) == 0.1
    model, loss_fn = _quadratic_problem()
    result = fit(model, loss_fn, steps=5, lr=0.1, lr_final=0.01, schedule="exponential")
    assert result.lrs[0] == pytest.approx(0.1) and result.lrs[-1] == pytest.approx(0.01)


def test_ema_is_running_average_of_parameters():
    # One parameter, loss = theta: after one step the EMA is d * start + (1 - d) * new.
    torch.manual_seed(0)
    model = torch.nn.Linear(1, 1, bias=False)

    def loss_fn(step):
        return model.weight.sum()

    d = 0.9
    start = model.weight.item()
    result = fit(model, loss_fn, steps=1, lr=0.1, ema_decay=d)
    ema = d * start + (1 - d) * model.weight.item()
    assert result.ema_model is not model
    assert result.ema_model.weight.item() == pytest.approx(ema, abs=1e-7)
    assert not result.ema_model.weight.requires_grad
    # Longer run: the EMA lags behind the parameter moving in one direction.
    result = fit(model, loss_fn, steps=50, lr=0.01, ema_decay=d)
    assert result.ema_model.weight.item() > model.weight.item()
    assert fit(model, loss_fn, steps=2, lr=0.01).ema_model is None


def test_ema_of_every_tensor_matches_the_recursion_exactly():
    # Several parameter tensors: the EMA copy equals d θ̄ + (1 − d) θ, step by step, bit for bit.
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2))
    gen = torch.Generator().manual_seed(1)
    d, history = 0.8, []

    def loss_fn(step):
        history.append([p.detach().clone() for p in model.parameters()])
        return model(torch.randn(16, 3, generator=gen)).square().mean()

    result = fit(model, loss_fn, steps=5, lr=0.05, ema_decay=d)
    expected = [p.clone() for p in history[0]]
    for k in range(1, 5):
        for e, p in zip(expected, history[k]):
            e.lerp_(p, 1 - d)
    for e, p in zip(expected, model.parameters()):
        e.lerp_(p.detach(), 1 - d)
    for e, p in zip(expected, result.ema_model.parameters()):
        assert torch.equal(e, p)


def test_fused_adam_takes_the_same_steps():
    runs = []
    for fused in (False, True):
        torch.manual_seed(0)
        model, loss_fn = _quadratic_problem()
        result = fit(model, loss_fn, steps=50, lr=0.05, lr_final=1e-3, ema_decay=0.9, fused=fused)
        runs.append((torch.tensor(result.losses), model.weight.detach().clone(), result.ema_model.weight.clone()))
    for a, b in zip(*runs):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


def test_grad_clip_limits_gradient_norm():
    model = torch.nn.Linear(3, 1)
    fit(model, lambda s: 1e3 * (model(torch.ones(4, 3)) ** 2).mean(), steps=1, lr=1e-3, grad_clip=0.5)
    norm = torch.linalg.vector_norm(torch.cat([p.grad.flatten() for p in model.parameters()]))
    assert norm.item() <= 0.5 + 1e-6


def test_seeded_runs_are_identical():
    runs = []
    for _ in range(2):
        torch.manual_seed(3)
        model, loss_fn = _quadratic_problem(seed=7)
        runs.append(fit(model, loss_fn, steps=30, lr=0.01).losses)
    assert runs[0] == runs[1]


def test_progress_bar_runs():
    model, loss_fn = _quadratic_problem()
    result = fit(model, loss_fn, steps=3, lr=0.01, progress=True)
    assert len(result.losses) == 3


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(steps=0), "steps"),
        (dict(steps=2.5), "steps"),
        (dict(lr=0.0), "lr"),
        (dict(lr=-1.0), "lr"),
        (dict(lr_final=0.0), "lr_final"),
        (dict(ema_decay=1.0), "ema_decay"),
        (dict(ema_decay=-0.1), "ema_decay"),
        (dict(grad_clip=0.0), "grad_clip"),
        (dict(schedule="linear"), "schedule"),
        (dict(weight_decay=-1.0), "weight_decay"),
        (dict(fused=1), "fused"),
    ],
)
def test_bad_arguments_raise(kwargs, match):
    model, loss_fn = _quadratic_problem()
    args = dict(steps=3, lr=0.01)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        fit(model, loss_fn, **args)


def test_bad_model_and_loss_raise():
    model, loss_fn = _quadratic_problem()
    with pytest.raises(ValueError, match="model"):
        fit("not a model", loss_fn, steps=2, lr=0.1)
    with pytest.raises(ValueError, match="loss_fn"):
        fit(model, 3, steps=2, lr=0.1)
    with pytest.raises(ValueError, match="trainable"):
        frozen = torch.nn.Linear(2, 1).requires_grad_(False)
        fit(frozen, lambda s: torch.tensor(0.0), steps=2, lr=0.1)
    with pytest.raises(ValueError, match="scalar"):
        fit(model, lambda s: model(torch.ones(3, 2)), steps=2, lr=0.1)
    with pytest.raises(ValueError, match="non-finite"):
        fit(model, lambda s: model(torch.ones(1, 2)).sum() * float("nan"), steps=2, lr=0.1)
