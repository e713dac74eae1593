"""Tests of gm_course.nets: the sinusoidal embedding's exact values, shapes, seeding, and the
EDM preconditioning, whose zero network is the exact denoiser of Gaussian data N(0, σ_d² I)."""

import math

import pytest
import torch

from gm_course import nets


def test_sinusoidal_embedding_values():
    t = torch.tensor([0.0, 1.0, 7.5], dtype=torch.float64)
    e = nets.sinusoidal_embedding(t, 6, max_period=100.0)
    assert e.shape == (3, 6) and e.dtype == torch.float64
    omega = torch.tensor([100.0 ** (-k / 3) for k in range(3)], dtype=torch.float64)
    expected = torch.cat([torch.sin(t[:, None] * omega), torch.cos(t[:, None] * omega)], 1)
    torch.testing.assert_close(e, expected)
    assert torch.equal(e[0], torch.tensor([0.0, 0, 0, 1, 1, 1], dtype=torch.float64))
    # concatenated, so every pair lies on the unit circle
    torch.testing.assert_close(e[:, :3] ** 2 + e[:, 3:] ** 2, torch.ones(3, 3, dtype=torch.float64))


def test_sinusoidal_embedding_integer_input_and_errors():
    e = nets.sinusoidal_embedding(torch.arange(4), 8)
    assert e.shape == (4, 8) and e.is_floating_point()
    with pytest.raises(ValueError, match="dim"):
        nets.sinusoidal_embedding(torch.zeros(3), 5)
    with pytest.raises(ValueError, match="t"):
        nets.sinusoidal_embedding(torch.zeros(3, 1), 4)


def test_fourier_features_and_mlps_are_seeded():
    x, c = torch.randn(5, 2), torch.rand(5)
    f = nets.FourierFeatures(2, 8, generator=torch.Generator().manual_seed(0))
    assert f(x).shape == (5, 16) and f.out_dim == 16
    a = nets.ScoreMLP(2, 32, 2, 8, fourier=4, generator=torch.Generator().manual_seed(1))
    b = nets.ScoreMLP(2, 32, 2, 8, fourier=4, generator=torch.Generator().manual_seed(1))
    assert a(x, c).shape == (5, 2) and torch.equal(a(x, c), b(x, c))
    r = nets.ResidualMLP(generator=torch.Generator().manual_seed(2))
    assert r(x, torch.arange(5.0)).shape == (5, 2)
    assert nets.ResidualMLP(norm=True)(x, torch.arange(5.0)).shape == (5, 2)


class _Zero(torch.nn.Module):
    def forward(self, x, c):
        return torch.zeros_like(x)


def test_edm_zero_network_is_the_exact_gaussian_denoiser():
    sd = 1.7
    den = nets.EDMDenoiser(_Zero(), sigma_data=sd)
    x = torch.randn(6, 2, dtype=torch.float64)
    for sigma in (0.01, 0.5, 3.0):
        # p_σ = N(0, (σ_d² + σ²) I): score −x/(σ_d² + σ²), E[x_0 | x] = σ_d²/(σ_d² + σ²) x
        torch.testing.assert_close(den.score(x, sigma), -x / (sd**2 + sigma**2))
        torch.testing.assert_close(den(x, sigma), sd**2 / (sd**2 + sigma**2) * x)
    sig = torch.tensor([0.1, 0.2, 0.3, 1.0, 2.0, 4.0], dtype=torch.float64)
    torch.testing.assert_close(den.score(x, sig), -x / (sd**2 + sig[:, None] ** 2))


def test_edm_preconditioning_passes_noise_level():
    seen = {}

    class Spy(torch.nn.Module):
        def forward(self, x, c):
            seen["x"], seen["c"] = x, c
            return torch.ones_like(x)

    den = nets.EDMDenoiser(Spy(), sigma_data=2.0)
    x = torch.full((3, 2), 4.0, dtype=torch.float64)
    out = den(x, 1.5)
    torch.testing.assert_close(seen["c"], torch.full((3,), math.log(1.5) / 4, dtype=torch.float64))
    torch.testing.assert_close(seen["x"], x / math.sqrt(1.5**2 + 4))
    c_skip, c_out = 4 / (1.5**2 + 4), 1.5 * 2 / math.sqrt(1.5**2 + 4)
    torch.testing.assert_close(out, c_skip * x + c_out)
