"""Oracle tests for gm_course.metrics."""

import itertools
import math

import pytest
import torch

from gm_course import densities
from gm_course import metrics as M


def gauss(n, generator, shift=0.0, scale=1.0, dim=2):
    return shift + scale * torch.randn(n, dim, generator=generator, dtype=torch.float64)


def sampler(n, generator=None):
    return torch.randn(n, 2, generator=generator, dtype=torch.float64)


def brute_energy(x, y):
    d = lambda a, b: sum(float(torch.linalg.vector_norm(a[i] - b[j])) for i in range(len(a)) for j in range(len(b)))
    return 2 * d(x, y) / (len(x) * len(y)) - d(x, x) / len(x) ** 2 - d(y, y) / len(y) ** 2


def brute_mmd2(x, y, hs):
    k = lambda a, b: sum(math.exp(-float(((a - b) ** 2).sum()) / (2 * h * h)) for h in hs)
    n, m = len(x), len(y)
    kxx = sum(k(x[i], x[j]) for i, j in itertools.permutations(range(n), 2)) / (n * (n - 1))
    kyy = sum(k(y[i], y[j]) for i, j in itertools.permutations(range(m), 2)) / (m * (m - 1))
    kxy = sum(k(x[i], y[j]) for i in range(n) for j in range(m)) / (n * m)
    return kxx + kyy - 2 * kxy


def test_energy_distance_matches_brute_force_and_chunking():
    g = torch.Generator().manual_seed(0)
    x, y = gauss(7, g), gauss(5, g, shift=0.3)
    expected = brute_energy(x, y)
    assert float(M.energy_distance(x, y)) == pytest.approx(expected, rel=1e-12)
    assert float(M.energy_distance(x, y, chunk=2)) == pytest.approx(expected, rel=1e-12)


def test_energy_distance_zero_for_identical_and_large_for_shifted():
    g = torch.Generator().manual_seed(1)
    x = gauss(500, g)
    assert float(M.energy_distance(x, x)) == pytest.approx(0.0, abs=1e-12)
    same = float(M.energy_distance(x, gauss(500, g)))
    shifted = float(M.energy_distance(x, gauss(500, g, shift=1.0)))
    assert 0 <= same < 0.02
    assert shifted > 0.3 > 10 * same


def test_energy_distance_float32_and_mixed_dtypes():
    g = torch.Generator().manual_seed(2)
    x, y = gauss(300, g), gauss(300, g, shift=0.5)
    ref = float(M.energy_distance(x, y))
    assert float(M.energy_distance(x.float(), y.float())) == pytest.approx(ref, rel=1e-4)
    assert float(M.energy_distance(x.float(), y)) == pytest.approx(ref, rel=1e-4)


def test_mmd2_unbiased_excludes_diagonal_like_brute_force():
    g = torch.Generator().manual_seed(3)
    x, y = gauss(6, g), gauss(4, g, shift=0.2)
    hs = (0.1, 0.2, 0.5, 1.0, 2.0)
    assert float(M.mmd2_unbiased(x, y)) == pytest.approx(brute_mmd2(x, y, hs), rel=1e-10, abs=1e-14)
    assert float(M.mmd2_unbiased(x, y, bandwidths=(0.7,), chunk=3)) == pytest.approx(
        brute_mmd2(x, y, (0.7,)), rel=1e-10, abs=1e-14)


def test_mmd2_unbiased_near_zero_for_same_distribution_and_can_be_negative():
    g = torch.Generator().manual_seed(4)
    values = torch.stack([M.mmd2_unbiased(gauss(300, g), gauss(300, g)) for _ in range(8)])
    assert values.abs().max() < 0.03
    assert (values < 0).any()  # unbiased: centred on 0, so some draws fall below it
    assert float(M.mmd2_unbiased(gauss(300, g), gauss(300, g, shift=1.0))) > 0.1


def test_two_sample_floor_is_seeded_and_small():
    mean, std = M.two_sample_floor(sampler, 200, repeats=4, generator=torch.Generator().manual_seed(5))
    mean2, std2 = M.two_sample_floor(sampler, 200, repeats=4, generator=torch.Generator().manual_seed(5))
    assert torch.equal(mean, mean2) and torch.equal(std, std2)
    assert 0 < float(mean) < 0.05 and float(std) > 0
    m_mean, _ = M.two_sample_floor(sampler, 200, 4, M.mmd2_unbiased, torch.Generator().manual_seed(5))
    assert abs(float(m_mean)) < 5e-3


def test_kl_gap_and_paired_kl_against_closed_form():
    # p = N(0, 1), q = N(0.5, 1): KL(p || q) = 0.5² / 2 = 0.125
    g = torch.Generator().manual_seed(6)
    x = torch.randn(20000, generator=g, dtype=torch.float64)
    log_p = -0.5 * x**2 - 0.5 * math.log(2 * math.pi)
    log_q = -0.5 * (x - 0.5) ** 2 - 0.5 * math.log(2 * math.pi)
    est, se = M.paired_kl(log_p, log_q)
    assert 0 < float(se) < 0.01
    assert abs(float(est) - 0.125) < 4 * float(se)
    entropy = 0.5 * math.log(2 * math.pi * math.e)
    nll = entropy + 0.125  # E_p[-log q] = H(p) + KL
    assert float(M.kl_gap(nll, entropy)) == pytest.approx(0.125)
    assert float(M.kl_gap(-log_q.mean(), entropy)) == pytest.approx(0.125, abs=0.03)


def test_mode_counts_and_chi2():
    centers = torch.tensor([[0.0, 0.0], [5.0, 0.0], [0.0, 5.0]], dtype=torch.float64)
    g = torch.Generator().manual_seed(7)
    k = torch.multinomial(torch.ones(3), 3000, replacement=True, generator=g)
    samples = centers[k] + 0.3 * torch.randn(3000, 2, generator=g, dtype=torch.float64)
    samples[:30] = 20.0  # 1% far from every mode
    counts, far = M.mode_counts(samples, centers, radius=1.5)
    assert counts.dtype == torch.int64 and counts.shape == (3,)
    assert int(counts.sum()) == 2970 and float(far) == pytest.approx(0.01)
    assert M.chi2_mode_test(counts, torch.ones(3)) > 0.001
    dropped = samples[k != 2]  # a missing mode
    counts, _ = M.mode_counts(dropped, centers, radius=1.5)
    assert counts[2] == 0
    assert M.chi2_mode_test(counts, torch.ones(3)) < 1e-10


def test_mode_counts_nearest_center_wins():
    centers = torch.tensor([[0.0], [1.0]])
    counts, far = M.mode_counts(torch.tensor([[0.4], [0.6], [0.9], [3.0]]), centers, radius=1.0)
    assert counts.tolist() == [1, 2] and float(far) == 0.25


def test_mode_summary_on_exact_and_collapsed_samples():
    ring = densities.eight_gaussians()
    exact = M.mode_summary(ring.sample(8000, torch.Generator().manual_seed(3)), ring)
    assert exact["coverage"] == 8 and exact["precision"] > 0.98 and exact["weight_error"] < 0.03
    collapsed = M.mode_summary(ring.means[:1].repeat(100, 1), ring)
    assert collapsed == {"precision": 1.0, "coverage": 1.0, "weight_error": pytest.approx(7 / 8)}
    # half the samples far from every mode: precision 1/2, weights from the other half only
    far = torch.cat([ring.means.repeat(10, 1), torch.zeros(80, 2, dtype=torch.float64)])
    half = M.mode_summary(far, ring)
    assert half == {"precision": 0.5, "coverage": 8.0, "weight_error": pytest.approx(0.0, abs=1e-12)}
    # a float32 sample on another dtype gives the same numbers
    assert M.mode_summary(ring.means.float().repeat(3, 1), ring)["precision"] == 1.0


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: M.energy_distance(torch.zeros(5), torch.zeros(5, 2)), r"x must have shape \(N, D\)"),
        (lambda: M.energy_distance(torch.zeros(5, 2), torch.zeros(5, 3)), "same dimension D"),
        (lambda: M.energy_distance(torch.zeros(5, 2), torch.full((5, 2), float("nan"))), "y must contain only finite"),
        (lambda: M.energy_distance(torch.zeros(0, 2), torch.zeros(5, 2)), "at least 1 point"),
        (lambda: M.energy_distance(torch.zeros(5, 2), torch.zeros(5, 2), chunk=0), "chunk must be a positive"),
        (lambda: M.mmd2_unbiased(torch.zeros(5, 2), torch.zeros(5, 3)), "same dimension D"),
        (lambda: M.mmd2_unbiased(torch.zeros(1, 2), torch.zeros(5, 2)), "at least 2 samples"),
        (lambda: M.mmd2_unbiased(torch.zeros(5, 2), torch.zeros(5, 2), bandwidths=(1.0, 0.0)), "bandwidths must be"),
        (lambda: M.mmd2_unbiased(torch.zeros(5, 2), torch.zeros(5, 2), bandwidths=()), "at least one bandwidth"),
        (lambda: M.mmd2_unbiased(torch.zeros(5, 2, 1), torch.zeros(5, 2)), r"x must have shape \(N, D\)"),
        (lambda: M.two_sample_floor(sampler, 0, 3), "n must be a positive integer"),
        (lambda: M.two_sample_floor(sampler, 10, 1), "repeats must be at least 2"),
        (lambda: M.kl_gap(float("nan"), 1.0), "nll must contain only finite"),
        (lambda: M.kl_gap(1.0, float("inf")), "entropy must contain only finite"),
        (lambda: M.paired_kl(torch.zeros(5), torch.zeros(4)), "same shape"),
        (lambda: M.paired_kl(torch.zeros(5, 1), torch.zeros(5, 1)), r"log_p_samples must have shape \(N,\)"),
        (lambda: M.paired_kl(torch.zeros(1), torch.zeros(1)), "at least 2"),
        (lambda: M.paired_kl(torch.zeros(3), torch.tensor([0.0, -float("inf"), 0.0])), "log_q_samples must contain only finite"),
        (lambda: M.mode_counts(torch.zeros(5, 2), torch.zeros(3, 3), 1.0), "samples and centers must have the same dimension"),
        (lambda: M.mode_counts(torch.zeros(5, 2), torch.zeros(3, 2), -1.0), "radius must be a finite number > 0"),
        (lambda: M.chi2_mode_test(torch.tensor([1.0, 2.0]), torch.ones(3)), "same shape"),
        (lambda: M.chi2_mode_test(torch.tensor([1.0, -2.0]), torch.ones(2)), "non-negative"),
        (lambda: M.chi2_mode_test(torch.tensor([1.0, 2.0]), torch.tensor([1.0, 0.0])), "weights must be positive"),
        (lambda: M.chi2_mode_test(torch.zeros(2), torch.ones(2)), "at least one sample"),
        (lambda: M.mode_summary(torch.zeros(5, 2), densities.eight_gaussians(), n_std=0.0), "n_std"),
        (lambda: M.mode_summary(torch.zeros(5, 2), densities.eight_gaussians(), min_share=-1.0), "min_share"),
        (lambda: M.mode_summary(torch.zeros(5), densities.eight_gaussians()), r"samples must have shape"),
    ],
)
def test_value_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()
