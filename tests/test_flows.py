"""Oracle tests of gm_course.flows: log-determinants against autograd, invertibility, normalisation."""

import math

import pytest
import torch

from gm_course import densities, flows, quadrature


def _perturbed(module, scale=0.2, seed=0):
    g = torch.Generator().manual_seed(seed)
    module = module.double()
    with torch.no_grad():
        for p in module.parameters():
            p.add_(scale * torch.randn(p.shape, dtype=p.dtype, generator=g))
    return module


@pytest.mark.parametrize("make", [lambda: flows.spline_flow(2, 3, 16, 6), lambda: flows.affine_flow(2, 3, 16),
                                  lambda: flows.spline_flow(3, 2, 16, 5)])
def test_logdet_matches_autograd_and_inverse_undoes_forward(make):
    torch.manual_seed(0)
    flow = _perturbed(make())
    dim = int(flow.layers[0].kept.numel() + flow.layers[0].moved.numel())
    x = 1.5 * torch.randn(20, dim, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    z, logdet = flow(x)
    jac = torch.stack([torch.autograd.functional.jacobian(lambda v: flow(v[None])[0][0], xi) for xi in x])
    torch.testing.assert_close(torch.linalg.slogdet(jac).logabsdet, logdet.detach(), atol=1e-8, rtol=0)
    torch.testing.assert_close(flow.inverse(z).detach(), x, atol=1e-7, rtol=0)


def test_spline_identity_outside_and_inverse_log_derivative():
    g = torch.Generator().manual_seed(2)
    n, k = 300, 7
    x = torch.linspace(-7, 7, n, dtype=torch.float64)
    w, h, d = (torch.randn(1, m, dtype=torch.float64, generator=g).expand(n, m) for m in (k, k, k - 1))
    y, ld = flows.rational_quadratic_spline(x, w, h, d, bound=4.0)
    outside = x.abs() >= 4.0
    assert torch.equal(y[outside], x[outside]) and torch.all(ld[outside] == 0)
    assert torch.all(y[1:] > y[:-1])  # monotone
    xb, ldi = flows.rational_quadratic_spline(y, w, h, d, bound=4.0, inverse=True)
    torch.testing.assert_close(xb, x, atol=1e-10, rtol=0)
    torch.testing.assert_close(ldi, -ld, atol=1e-10, rtol=0)


def test_flow_density_integrates_to_one_and_samples_are_seeded():
    torch.manual_seed(0)
    flow = _perturbed(flows.spline_flow(2, 2, 16, 6), scale=0.1)
    grid = quadrature.Grid(-9.0, 9.0, 300)
    with torch.no_grad():
        log_q = grid.evaluate(flow.log_prob)
    assert abs(float(quadrature.log_partition(log_q, grid))) < 1e-3
    a = flow.sample(10, torch.Generator().manual_seed(3))
    b = flow.sample(10, torch.Generator().manual_seed(3))
    assert torch.equal(a, b) and a.shape == (10, 2)


def test_continuous_flow_of_a_gaussian_is_exact():
    # p_0 = N(0, s^2), the PF-ODE velocity -(1/2) grad log p_t = x / (2 (s^2 + t)): exact map and density
    s2 = 0.5
    mix = densities.GaussianMixture(torch.ones(1), torch.zeros(1, 2), torch.tensor([math.sqrt(s2)]))
    velocity = lambda x, t: -0.5 * mix.noised(math.sqrt(t)).score(x)  # noqa: E731
    x0 = torch.randn(50, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    xT, logdet = flows.continuous_flow(velocity, x0, torch.linspace(0, 3, 401, dtype=torch.float64), with_logdet=True)
    torch.testing.assert_close(xT, x0 * math.sqrt((s2 + 3) / s2), atol=3e-4, rtol=0)
    log_p0 = mix.noised(math.sqrt(3)).log_prob(xT) + logdet
    torch.testing.assert_close(log_p0, mix.log_prob(x0), atol=3e-4, rtol=0)
    back = flows.continuous_flow(velocity, xT, torch.linspace(3, 0, 401, dtype=torch.float64))
    torch.testing.assert_close(back, x0, atol=3e-4, rtol=0)


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="mask"):
        flows.AffineCoupling([True, True])
    with pytest.raises(ValueError, match="dim"):
        flows.spline_flow(dim=1)
    with pytest.raises(ValueError, match="ts"):
        flows.continuous_flow(lambda x, t: x, torch.zeros(3, 2), torch.tensor([0.0, 1.0, 0.5]))
    with pytest.raises(ValueError, match="x"):
        flows.continuous_flow(lambda x, t: x, torch.zeros(3), torch.tensor([0.0, 1.0]))
