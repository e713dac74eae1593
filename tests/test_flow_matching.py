"""Oracle tests of gm_course.flow_matching (chapter 15): the closed-form velocity against a
Monte Carlo average of x_1 − x_0 given x_t, the continuity equation by autograd, the score
form, chapter 7's drift, the CFM loss identity, integrators, straightness, bad input."""

import math

import pytest
import torch

from gm_course import diffusion, flow_matching as fm
from gm_course.densities import GaussianMixture, eight_gaussians
from gm_course.metrics import energy_distance

MIX = GaussianMixture(torch.tensor([0.2, 0.5, 0.3]),
                      torch.tensor([[-2.0, 0.0], [1.0, 1.5], [2.0, -2.0]]),
                      torch.tensor([0.5, 1.0, 0.3]))


def _posterior_draws(mix, x, t, m, gen):
    # m draws of (x_0, x_1) given x_t = x, one point x (D,): component, then Gaussian x_1
    v = (1 - t) ** 2 + t**2 * mix.stds**2
    logits = mix.weights.log() - 0.5 * ((x - t * mix.means) ** 2).sum(1) / v - v.log()
    k = torch.multinomial(torch.softmax(logits, 0), m, replacement=True, generator=gen)
    s2 = mix.stds[k, None] ** 2
    mean = mix.means[k] + t * s2 / v[k, None] * (x - t * mix.means[k])
    sd = torch.sqrt(s2 * (1 - t) ** 2 / v[k, None])
    x1 = mean + sd * torch.randn(m, 2, generator=gen, dtype=torch.float64)
    x0 = (x - t * x1) / (1 - t)
    return x0, x1


@pytest.mark.parametrize("t", [0.1, 0.5, 0.85])
def test_closed_form_velocity_is_the_monte_carlo_average_of_x1_minus_x0(t):
    gen = torch.Generator().manual_seed(0)
    pts = torch.tensor([[0.3, -0.2], [1.5, 1.0], [-1.0, 0.4]], dtype=torch.float64)
    exact = fm.marginal_velocity(MIX, pts, t)
    for i, x in enumerate(pts):
        x0, x1 = _posterior_draws(MIX, x, t, 200_000, gen)
        d = x1 - x0
        se = d.std(0) / math.sqrt(len(d))
        assert ((d.mean(0) - exact[i]).abs() < 5 * se + 1e-9).all()


def test_velocity_solves_the_continuity_equation():
    gen = torch.Generator().manual_seed(1)
    x = (2 * torch.randn(300, 2, generator=gen, dtype=torch.float64)).requires_grad_(True)
    t = (0.02 + 0.96 * torch.rand(300, generator=gen, dtype=torch.float64)).requires_grad_(True)
    tt = t[:, None]
    v = (1 - tt) ** 2 + tt**2 * MIX.stds**2
    sq = ((x[:, None, :] - tt[:, :, None] * MIX.means) ** 2).sum(-1)
    logp = torch.logsumexp(MIX.weights.log() - 0.5 * sq / v - torch.log(2 * math.pi * v), 1)
    gx, gt = torch.autograd.grad(logp.sum(), (x, t))
    u = fm.marginal_velocity(MIX, x, t)
    div = sum(torch.autograd.grad(u[:, i].sum(), x, retain_graph=True)[0][:, i] for i in range(2))
    assert (gt + div + (u * gx).sum(1)).abs().max() < 1e-9


def test_marginal_density_is_the_law_of_the_path():
    gen = torch.Generator().manual_seed(2)
    t = 0.6
    xt = fm.linear_path(torch.randn(4000, 2, generator=gen, dtype=torch.float64), MIX.sample(4000, gen), t)
    ref = fm.marginal_density(MIX, t).sample(4000, gen)
    other = fm.marginal_density(MIX, 0.3).sample(4000, gen)
    assert energy_distance(xt, ref) < 0.01 < energy_distance(xt, other)


@pytest.mark.parametrize("t", [0.05, 0.4, 0.9, 1.0])
def test_score_form_and_end_points(t):
    x = 3 * torch.randn(200, 2, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    u = fm.marginal_velocity(MIX, x, t)
    assert torch.allclose(fm.velocity_from_score(x, fm.marginal_density(MIX, t).score(x), t), u, atol=1e-10)
    assert torch.allclose(fm.marginal_velocity(MIX, x, 0.0), MIX.mean() - x, atol=1e-12)
    assert torch.allclose(fm.marginal_velocity(MIX, x, 1.0), x, atol=1e-12)


def test_ve_velocity_is_chapter_7_drift():
    x = 3 * torch.randn(100, 2, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    for delta in (0.5, 2.0):
        score = diffusion.mixture_score_fn(MIX, delta)
        for s in (0.01, 1.0, 9.0):
            assert torch.allclose(fm.ve_velocity(MIX, x, s, delta), -0.5 * delta**2 * score(x, s), atol=1e-10)


def test_cfm_loss_minus_its_minimum_is_the_velocity_error():
    ring = eight_gaussians()
    n = 200_000
    gen = torch.Generator().manual_seed(5)
    x1 = ring.sample(n, gen)

    def u(x, t):
        return fm.marginal_velocity(ring, x, t)

    def wrong(x, t):
        return -x

    l_u = fm.cfm_loss(u, x1, generator=torch.Generator().manual_seed(6))
    l_w = fm.cfm_loss(wrong, x1, generator=torch.Generator().manual_seed(6))
    # the same draws as cfm_loss (noise first, then times, from one generator)
    g = torch.Generator().manual_seed(6)
    x0 = torch.randn(x1.shape, generator=g, dtype=x1.dtype)
    t = torch.rand(n, generator=g, dtype=x1.dtype)
    xt = (1 - t[:, None]) * x0 + t[:, None] * x1
    gap = ((wrong(xt, t) - u(xt, t)) ** 2).sum(1)
    target = x1 - x0
    cross = 2 * ((u(xt, t) - target) * (wrong(xt, t) - u(xt, t))).sum(1)
    se = float(cross.std() / math.sqrt(n))
    assert abs(float(l_w - l_u - gap.mean())) < 4 * se


def test_integrators_carry_noise_to_the_mixture_and_heun_is_second_order():
    gen = torch.Generator().manual_seed(7)
    x0 = torch.randn(3000, 2, generator=gen, dtype=torch.float64)

    def u(x, t):
        return fm.marginal_velocity(MIX, x, t)

    fine = fm.integrate(u, x0, 256, "heun")
    assert energy_distance(fine, MIX.sample(3000, gen)) < 0.01
    err = {k: float((fm.integrate(u, x0, k, "heun") - fine).norm(dim=1).mean()) for k in (16, 32)}
    assert 3.0 < err[16] / err[32] < 5.5
    e_eu = {k: float((fm.integrate(u, x0, k, "euler") - fine).norm(dim=1).mean()) for k in (32, 64)}
    assert 1.6 < e_eu[32] / e_eu[64] < 2.5


def test_straightness_is_zero_for_straight_paths_and_positive_otherwise():
    x0 = torch.randn(50, 2, generator=torch.Generator().manual_seed(8), dtype=torch.float64)
    x1 = x0 + 3.0
    straight = torch.stack([(1 - s) * x0 + s * x1 for s in torch.linspace(0, 1, 9).tolist()])
    assert float(fm.straightness(straight)) < 1e-20
    path = fm.integrate(lambda x, t: fm.marginal_velocity(MIX, x, t), x0, 16, "heun", return_path=True)
    assert path.shape == (17, 50, 2) and float(fm.straightness(path)) > 0.1


def test_reflow_pairs_of_an_affine_flow_are_its_exact_end_points():
    gen = torch.Generator().manual_seed(9)
    z, x1 = fm.reflow_pairs(lambda x, t: torch.ones_like(x), 10, 3, n_steps=4, method="euler", generator=gen)
    assert z.shape == x1.shape == (10, 3) and torch.allclose(x1, z + 1.0)


def test_seeded_loss_repeats():
    x1 = MIX.sample(64, torch.Generator().manual_seed(0))
    f = lambda x, t: x * t[:, None]  # noqa: E731
    a = fm.cfm_loss(f, x1, generator=torch.Generator().manual_seed(3))
    b = fm.cfm_loss(f, x1, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)


@pytest.mark.parametrize("call, name", [
    (lambda: fm.marginal_velocity(MIX, torch.zeros(3, 2), 1.5), "t"),
    (lambda: fm.marginal_velocity(MIX, torch.zeros(3, 3), 0.5), "x"),
    (lambda: fm.marginal_velocity(MIX, torch.zeros(3, 2), torch.zeros(4)), "t"),
    (lambda: fm.marginal_density(MIX, -0.1), "t"),
    (lambda: fm.velocity_from_score(torch.zeros(3, 2), torch.zeros(3, 2), 0.0), "t"),
    (lambda: fm.linear_path(torch.zeros(3, 2), torch.zeros(4, 2), 0.5), "x0 and x1"),
    (lambda: fm.cfm_loss(lambda x, t: x, torch.zeros(3, 2), x0=torch.zeros(2, 2)), "x0"),
    (lambda: fm.integrate(lambda x, t: x, torch.zeros(3, 2), 0), "n_steps"),
    (lambda: fm.integrate(lambda x, t: x, torch.zeros(3, 2), 4, "rk4"), "method"),
    (lambda: fm.straightness(torch.zeros(1, 3, 2)), "path"),
    (lambda: fm.ve_velocity(MIX, torch.zeros(3, 2), 0.0, 1.0), "s"),
    (lambda: fm.linear_path(torch.full((2, 2), float("nan")), torch.zeros(2, 2), 0.5), "x0"),
])
def test_bad_input_raises_value_error_naming_the_argument(call, name):
    with pytest.raises(ValueError, match=name):
        call()


def test_flow_paths_plot_draws_lines_and_rejects_bad_shapes():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from gm_course import plots

    path = torch.randn(5, 7, 2, generator=torch.Generator().manual_seed(0))
    fig, ax = plt.subplots()
    out = plots.flow_paths(path, ax=ax, n_paths=3)
    assert out is ax and len(ax.lines) == 3 and ax.get_xlabel() == "x"
    with pytest.raises(ValueError, match="path"):
        plots.flow_paths(torch.zeros(5, 7, 3), ax=ax)
    plt.close(fig)
