"""Oracle tests of gm_course.gaussian_chain: joints, the reverse-time factorisation, the ELBO."""

import math

import pytest
import torch

from gm_course import diffusion
from gm_course import gaussian_chain as gc
from gm_course import vae

M, S2, T = 0.7, 0.3, 3.0


def grid(n, t_max=T):
    return torch.linspace(0, t_max, n + 1, dtype=torch.float64)


def log_normal(x, mean, var):
    return -0.5 * (x - mean) ** 2 / var - 0.5 * math.log(2 * math.pi * var)


def test_forward_joint_matches_simulated_paths():
    ts = torch.tensor([0.0, 0.2, 0.9, 2.0], dtype=torch.float64)
    g = torch.Generator().manual_seed(0)
    x0 = M + math.sqrt(S2) * torch.randn(200_000, 1, generator=g, dtype=torch.float64)
    paths = diffusion.forward(x0, ts, 1.5, generator=g, return_path=True)[:, :, 0].T  # (M, 4)
    joint = gc.forward_joint(M, S2, ts, delta=1.5)
    torch.testing.assert_close(paths.mean(0), joint.mean, atol=0.02, rtol=0)
    torch.testing.assert_close(torch.cov(paths.T), joint.cov, atol=0.03, rtol=0.01)


def test_chain_log_joint_is_the_joint_gaussian():
    ts = torch.tensor([0.0, 0.1, 0.5, 1.2, 3.0], dtype=torch.float64)  # a non-uniform grid
    chain = gc.reverse_chain(M, S2, ts, delta=0.8)
    joint = gc.chain_joint(chain)
    path = joint.sample(300, torch.Generator().manual_seed(1)) + 0.5  # any points, not only typical ones
    torch.testing.assert_close(gc.chain_log_joint(path, chain), joint.log_prob(path), rtol=0, atol=1e-10)
    mu0, v0 = gc.model_marginal(chain)
    assert mu0 == pytest.approx(float(joint.mean[0]), abs=1e-12)
    assert v0 == pytest.approx(float(joint.cov[0, 0]), rel=1e-12)


def test_ancestral_samples_follow_the_model_marginal():
    chain = gc.reverse_chain(M, S2, grid(20))
    g = torch.Generator().manual_seed(2)
    x = chain.prior_mean + math.sqrt(chain.prior_var) * torch.randn(100_000, generator=g, dtype=torch.float64)
    for k in range(chain.n_steps, 0, -1):
        x = chain.a[k - 1] * x + chain.b[k - 1] + chain.step_var[k - 1].sqrt() * torch.randn(x.shape, generator=g, dtype=torch.float64)
    mu0, v0 = gc.model_marginal(chain)
    assert abs(float(x.mean()) - mu0) < 4 * math.sqrt(v0 / len(x))
    assert float(x.var()) / v0 == pytest.approx(1.0, abs=0.02)


def test_model_marginal_tends_to_the_data_as_steps_shrink():
    kls = []
    for n in (2, 8, 32, 128):
        mu0, v0 = gc.model_marginal(gc.reverse_chain(M, S2, grid(n)))
        kls.append(0.5 * (math.log(v0 / S2) + (S2 + (M - mu0) ** 2) / v0 - 1))
    assert all(b < a for a, b in zip(kls, kls[1:])) and kls[-1] < 2e-3


def test_elbo_gap_is_the_posterior_kl_and_matches_monte_carlo():
    ts = grid(3)
    chain = gc.reverse_chain(M, S2, ts)
    joint = gc.chain_joint(chain)
    mu0, v0 = gc.model_marginal(chain)
    x0 = torch.tensor([-1.0, 0.7, 2.5], dtype=torch.float64)
    gap = log_normal(x0, mu0, v0) - gc.elbo(x0, chain)
    S, mu = joint.cov, joint.mean
    cond_cov = S[1:, 1:] - S[1:, :1] @ S[:1, 1:] / S[0, 0]
    q_cov = torch.minimum(ts[1:, None], ts[None, 1:])
    for x, g_ in zip(x0, gap):
        cond_mean = mu[1:] + S[1:, 0] / S[0, 0] * (x - mu[0])
        kl = vae.gaussian_kl(x * torch.ones(3, dtype=torch.float64), q_cov, cond_mean, cond_cov)
        assert float(g_) == pytest.approx(float(kl), abs=1e-10) and float(g_) > 0
    # Monte Carlo: E_q[log p(x_0:N) - log q(x_1:N | x_0)] with forward paths from x_0
    g = torch.Generator().manual_seed(3)
    x_start = torch.full((400_000, 1), 0.7, dtype=torch.float64)
    path = diffusion.forward(x_start, ts, 1.0, generator=g, return_path=True)[:, :, 0].T
    log_q = sum(log_normal(path[:, k], path[:, k - 1], float(ts[k] - ts[k - 1])) for k in range(1, 4))
    w = gc.chain_log_joint(path, chain) - log_q
    assert abs(float(w.mean() - gc.elbo(torch.tensor([0.7]), chain))) < 4 * float(w.std()) / math.sqrt(len(w))


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: gc.reverse_chain(0.0, 1.0, torch.tensor([0.1, 1.0])), "ts must start at 0"),
        (lambda: gc.reverse_chain(0.0, 1.0, torch.tensor([0.0, 1.0, 1.0])), "strictly increasing"),
        (lambda: gc.reverse_chain(0.0, -1.0, grid(2)), "var must be"),
        (lambda: gc.forward_joint(0.0, 1.0, grid(2), delta=0.0), "delta must be"),
        (lambda: gc.chain_log_joint(torch.zeros(4, 2), gc.reverse_chain(0.0, 1.0, grid(2))), r"path must have shape \(M, 3\)"),
    ],
)
def test_bad_arguments_raise(call, match):
    with pytest.raises(ValueError, match=match):
        call()
