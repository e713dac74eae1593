"""Oracle tests of gm_course.nce (noise-contrastive estimation, chapter 4)."""

import math

import pytest
import torch

from gm_course import densities, ebm, nce, quadrature


def test_logits_and_optimal_logits():
    f = torch.tensor([0.0, 1.0, -2.0], dtype=torch.float64)
    log_q = torch.tensor([-1.0, -2.0, -3.0], dtype=torch.float64)
    torch.testing.assert_close(nce.nce_logits(f, log_q, 4.0), f - log_q - math.log(4.0))
    torch.testing.assert_close(nce.optimal_logits(f, log_q, 1.0), f - log_q)
    with pytest.raises(ValueError, match="nu"):
        nce.nce_logits(f, log_q, 0.0)
    with pytest.raises(ValueError, match="same shape"):
        nce.nce_logits(f, log_q[:2], 1.0)


def test_loss_matches_logistic_formula_and_is_stable():
    p = densities.Gaussian(torch.zeros(1), torch.eye(1))
    q = densities.Gaussian(torch.zeros(1), 4.0 * torch.eye(1))
    gen = torch.Generator().manual_seed(0)
    x, y = p.sample(20, gen), q.sample(60, gen)
    loss = nce.nce_loss(p.log_prob, x, y, q.log_prob, 3.0)
    hx = p.log_prob(x) - q.log_prob(x) - math.log(3.0)
    hy = p.log_prob(y) - q.log_prob(y) - math.log(3.0)
    expected = -(torch.log(torch.sigmoid(hx)).mean() + 3.0 * torch.log(1 - torch.sigmoid(hy)).mean())
    torch.testing.assert_close(loss, expected)
    # huge logits: finite
    big = nce.nce_loss(lambda z: 1e3 * torch.ones(len(z), dtype=z.dtype), x, y, q.log_prob, 1.0)
    assert torch.isfinite(big)


def test_population_loss_is_minimised_by_the_true_log_density():
    # 1-D, by quadrature: J(h) is maximal at h* = log p - log q - log nu; shifting log p-hat by
    # a constant or scaling it does worse.
    line = quadrature.Grid(-15.0, 15.0, 3000, dim=1)
    xs = line.axis()[:, None]
    p = densities.gaussian_mixture_1d([0.3, 0.7], [-1.0, 1.5], [0.5, 0.8])
    q = densities.Gaussian(torch.zeros(1, dtype=torch.float64), 9.0 * torch.eye(1, dtype=torch.float64))
    log_p, log_q = p.log_prob(xs), q.log_prob(xs)
    w = line.cell_volume
    nu = 2.0

    def population_loss(log_model):
        h = nce.nce_logits(log_model, log_q, nu)
        sp = torch.nn.functional.softplus
        return (log_p.exp() * sp(-h)).sum() * w + nu * (log_q.exp() * sp(h)).sum() * w

    best = population_loss(log_p)
    for other in (log_p + 0.1, log_p - 0.1, 1.1 * log_p, log_p + 0.05 * xs[:, 0]):
        assert population_loss(other) > best


def test_nce_model_learns_constant_and_density_of_a_gaussian():
    # f(x) = a x + b x^2 in 1-D with a learned c: NCE recovers log N(1, 0.5^2)
    class Quadratic(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(2, dtype=torch.float64))

        def forward(self, x):
            return self.w[0] * x[:, 0] + self.w[1] * x[:, 0] ** 2

    from gm_course.training import fit

    torch.manual_seed(0)
    model = nce.NCEModel(Quadratic())
    p = densities.Gaussian(torch.ones(1), 0.25 * torch.eye(1))
    q = nce.gaussian_noise(2.0, dim=1)
    gen = torch.Generator().manual_seed(1)
    fit(model, lambda s: nce.nce_loss(model, p.sample(128, gen), q.sample(640, gen), q.log_prob, 5.0),
        steps=800, lr=0.08, lr_final=0.01)
    a, b = model.energy.w.tolist()
    assert abs(a - 4.0) < 0.25 and abs(b + 2.0) < 0.15
    assert abs(model.c.item() - (-2.0 - 0.5 * math.log(2 * math.pi * 0.25))) < 0.1


def test_noise_densities():
    q = nce.gaussian_noise(1.5, dim=2, mean=[1.0, -1.0])
    grid = quadrature.Grid(-12.0, 12.0, 240)
    assert abs(float(quadrature.log_partition(grid.evaluate(q.log_prob), grid))) < 1e-8
    box = nce.UniformBox(-2.0, 3.0)
    x = box.sample(1000, torch.Generator().manual_seed(2))
    assert x.min() >= -2.0 and x.max() <= 3.0
    assert torch.allclose(box.log_prob(x), torch.full((1000,), -2 * math.log(5.0), dtype=torch.float64))
    assert box.log_prob(torch.tensor([[4.0, 0.0]])).item() == -math.inf
    fine = quadrature.Grid(-4.0, 5.0, 180)
    assert abs(float(quadrature.log_partition(fine.evaluate(box.log_prob), fine))) < 1e-12
    with pytest.raises(ValueError, match="std"):
        nce.gaussian_noise(0.0)
    with pytest.raises(ValueError):
        nce.UniformBox(1.0, 1.0)


def test_nce_model_wraps_energy():
    f = ebm.MLPEnergy(hidden=(8,))
    m = nce.NCEModel(f, c0=-1.5)
    x = torch.randn(4, 2)
    torch.testing.assert_close(m(x), f(x) - 1.5)
    assert any(p is m.c for p in m.parameters())
    with pytest.raises(ValueError, match="energy"):
        nce.NCEModel(lambda x: x)
