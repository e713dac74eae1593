"""Oracle tests of gm_course.ddpm: schedules, the forward marginal, the ε-loss and samplers.

For Gaussian data x_0 ~ N(0, s² I) the exact noise predictor is known in closed form:
x_t ~ N(0, v_t I) with v_t = ᾱ_t s² + 1 − ᾱ_t, and E[z | x_t] = √(1 − ᾱ_t) x_t / v_t. The
samplers run with it must return N(0, s² I).
"""

import math

import pytest
import torch

from gm_course import ddpm

S2 = 0.25  # data variance of the Gaussian oracle


def oracle_eps(schedule, s2=S2):
    a_bar = schedule.alphas_bar

    def model(x, t):
        ab = a_bar.to(x)[t.long()][:, None]
        return (1 - ab).sqrt() * x / (ab * s2 + 1 - ab)

    return model


def test_linear_schedule_coefficients():
    s = ddpm.linear_schedule(1000)
    assert s.T == 1000 and s.betas.shape == s.alphas.shape == s.alphas_bar.shape == (1000,)
    assert s.betas[0].item() == pytest.approx(1e-4) and s.betas[-1].item() == pytest.approx(0.02)
    torch.testing.assert_close(s.alphas_bar, torch.cumprod(1 - s.betas, 0))
    assert s.alpha_bar_T < 1e-4  # T = 1000 reaches N(0, I)
    assert 0.55 < ddpm.linear_schedule(50).alpha_bar_T < 0.65  # T = 50 does not
    assert s.posterior_variance[0].item() == 0.0
    torch.testing.assert_close(s.sigmas() ** 2, (1 - s.alphas_bar) / s.alphas_bar)


def test_cosine_schedule_ends_near_zero():
    s = ddpm.cosine_schedule(200)
    assert s.alpha_bar_T < 1e-3 and (s.betas > 0).all()


def test_q_sample_moments():
    s = ddpm.linear_schedule(100)
    g = torch.Generator().manual_seed(0)
    x0 = torch.full((20_000, 2), 1.5, dtype=torch.float64)
    noise = torch.randn(x0.shape, generator=g, dtype=torch.float64)
    xt = ddpm.q_sample(s, x0, 30, noise)
    ab = s.alphas_bar[30].item()
    assert xt.mean().item() == pytest.approx(1.5 * math.sqrt(ab), abs=0.01)
    assert xt.var().item() == pytest.approx(1 - ab, rel=0.02)
    t = torch.full((20_000,), 30)
    torch.testing.assert_close(ddpm.q_sample(s, x0, t, noise), xt)


def test_eps_loss_is_seeded_and_differentiable():
    s = ddpm.linear_schedule(50)
    lin = torch.nn.Linear(2, 2)
    model = lambda x, t: lin(x) * (1 + t[:, None] / 50)  # noqa: E731
    x0 = torch.randn(64, 2)
    a = ddpm.eps_loss(model, s, x0, torch.Generator().manual_seed(3))
    b = ddpm.eps_loss(model, s, x0, torch.Generator().manual_seed(3))
    assert a.ndim == 0 and a.item() == b.item()
    a.backward()
    assert lin.weight.grad is not None


def test_eps_loss_oracle_value():
    # the exact predictor's loss: E_t[1 − (1 − ᾱ_t)/v_t] per coordinate
    s = ddpm.linear_schedule(200)
    g = torch.Generator().manual_seed(1)
    x0 = math.sqrt(S2) * torch.randn(40_000, 2, generator=g, dtype=torch.float64)
    loss = ddpm.eps_loss(oracle_eps(s), s, x0, g).item()
    ab = s.alphas_bar
    expected = (1 - (1 - ab) / (ab * S2 + 1 - ab)).mean().item()
    assert loss == pytest.approx(expected, rel=0.02)


@pytest.mark.parametrize("variance", ["beta", "posterior"])
def test_ancestral_sampler_recovers_gaussian(variance):
    s = ddpm.linear_schedule(1000)
    x = ddpm.ancestral_sample(oracle_eps(s), s, (4000, 2), torch.Generator().manual_seed(2),
                              variance=variance, dtype=torch.float64)
    assert x.shape == (4000, 2)
    assert x.var(0).mean().item() == pytest.approx(S2, rel=0.06)
    assert x.mean().abs().item() < 0.03


def test_ddim_recovers_gaussian_and_is_deterministic():
    s = ddpm.linear_schedule(1000)
    # deterministic DDIM is a first-order ODE solver: 200 steps bring the variance within 3 %
    # (50 steps: 11 % too narrow), so test with 200
    kw = dict(n_steps=200, dtype=torch.float64)
    x = ddpm.ddim_sample(oracle_eps(s), s, (4000, 2), generator=torch.Generator().manual_seed(4), **kw)
    y = ddpm.ddim_sample(oracle_eps(s), s, (4000, 2), generator=torch.Generator().manual_seed(4), **kw)
    assert torch.equal(x, y)
    assert x.var(0).mean().item() == pytest.approx(S2, rel=0.07)
    z = ddpm.ddim_sample(oracle_eps(s), s, (4000, 2), generator=torch.Generator().manual_seed(4), eta=1.0, **kw)
    assert z.var(0).mean().item() == pytest.approx(S2, rel=0.08)


@pytest.mark.parametrize("eta", [0.0, 1.0])
def test_dpm_solver_first_order_is_ddim(eta):
    s = ddpm.cosine_schedule(100)
    kw = dict(n_steps=12, eta=eta, dtype=torch.float64)
    x = ddpm.dpm_solver_sample(oracle_eps(s), s, (500, 2), generator=torch.Generator().manual_seed(5), order=1, **kw)
    y = ddpm.ddim_sample(oracle_eps(s), s, (500, 2), generator=torch.Generator().manual_seed(5), **kw)
    torch.testing.assert_close(x, y, rtol=1e-9, atol=1e-9)


def test_dpm_solver_second_order_recovers_gaussian():
    # For N(0, s² I) data the probability-flow ODE is linear: x_0 = s x_T / √v_T exactly,
    # v_T = ᾱ_T s² + 1 − ᾱ_T; compare the deterministic solvers with that map point by point.
    s = ddpm.cosine_schedule(100)
    x_T = torch.randn(100, 2, generator=torch.Generator().manual_seed(6), dtype=torch.float64)
    exact = x_T * math.sqrt(S2 / (s.alpha_bar_T * S2 + 1 - s.alpha_bar_T))
    errors = {}
    for order in (1, 2):
        x = ddpm.dpm_solver_sample(oracle_eps(s), s, (100, 2), n_steps=50, eta=0.0, order=order,
                                   generator=torch.Generator().manual_seed(6), dtype=torch.float64)
        errors[order] = float((x / exact - 1).abs().max())
    # same start, same 50 steps: DDIM's map is 3 % off, the second-order step's 0.5 %
    assert errors[2] < 0.01 and errors[2] < 0.25 * errors[1]
    x = ddpm.dpm_solver_sample(oracle_eps(s), s, (4000, 2), n_steps=100, eta=1.0,
                               generator=torch.Generator().manual_seed(7), dtype=torch.float64)
    assert x.var(0).mean().item() == pytest.approx(S2, rel=0.08)
    assert x.mean().abs().item() < 0.03


def test_bad_input():
    s = ddpm.linear_schedule(10)
    with pytest.raises(ValueError, match="betas"):
        ddpm.DDPMSchedule(torch.tensor([0.1, 1.0]))
    with pytest.raises(ValueError, match="T"):
        ddpm.linear_schedule(0)
    with pytest.raises(ValueError, match="t_index"):
        ddpm.q_sample(s, torch.zeros(3, 2), 10, torch.zeros(3, 2))
    with pytest.raises(ValueError, match="t_index"):
        ddpm.q_sample(s, torch.zeros(3, 2), torch.tensor([0.5, 1.0, 2.0]), torch.zeros(3, 2))
    with pytest.raises(ValueError, match="noise"):
        ddpm.q_sample(s, torch.zeros(3, 2), 1, torch.zeros(3, 1))
    with pytest.raises(ValueError, match="n_steps"):
        ddpm.ddim_sample(lambda x, t: x, s, (2, 2), 20)
    for bad in (dict(n_steps=20), dict(n_steps=3, eta=-1.0), dict(n_steps=3, order=3)):
        with pytest.raises(ValueError, match=next(iter(bad)) if len(bad) == 1 else list(bad)[1]):
            ddpm.dpm_solver_sample(lambda x, t: x, s, (2, 2), **bad)
    with pytest.raises(ValueError, match="variance"):
        ddpm.ancestral_sample(lambda x, t: x, s, (2, 2), variance="other")
