"""Wrong answers to chapter 10's questions; each one must lose its points."""

import math

import torch

CHAPTER = "10_variational_view"


def _mean(x_t, x_0, t, dt):
    return (t - dt) / t * x_t + dt / t * x_0


def _kl(mu1, v1, mu2, v2):
    v1 = torch.as_tensor(v1, dtype=mu1.dtype)
    v2 = torch.as_tensor(v2, dtype=mu1.dtype)
    return 0.5 * (torch.log(v2 / v1) + (v1 + (mu1 - mu2) ** 2) / v2 - 1.0)


def _var(t, dt, delta):
    return delta**2 * dt * (t - dt) / t


MUTANTS = {
    "posterior_mean_var": {
        "variance 0 (the tutorial's slip)": lambda x_t, x_0, t, dt, delta: (_mean(x_t, x_0, t, dt), 0.0),
        "forward-step variance": lambda x_t, x_0, t, dt, delta: (_mean(x_t, x_0, t, dt), delta**2 * dt),
        "weights swapped": lambda x_t, x_0, t, dt, delta: (dt / t * x_t + (t - dt) / t * x_0, _var(t, dt, delta)),
        "delta not squared": lambda x_t, x_0, t, dt, delta: (_mean(x_t, x_0, t, dt), delta * dt * (t - dt) / t),
        "inverted ratio": lambda x_t, x_0, t, dt, delta: (_mean(x_t, x_0, t, dt), delta**2 * dt * t / (t - dt)),
        "variance as a tensor per coordinate": lambda x_t, x_0, t, dt, delta:
            (_mean(x_t, x_0, t, dt), torch.full_like(x_t, _var(t, dt, delta))),
    },
    "step_kl": {
        "reverse KL": lambda x_t, x_0, m, t, dt, delta:
            _kl(m, delta**2 * dt, _mean(x_t, x_0, t, dt), _var(t, dt, delta)).sum(1),
        "mean term only": lambda x_t, x_0, m, t, dt, delta:
            ((m - _mean(x_t, x_0, t, dt)) ** 2).sum(1) / (2 * delta**2 * dt),
        "posterior variance 0": lambda x_t, x_0, m, t, dt, delta:
            _kl(_mean(x_t, x_0, t, dt), 0.0, m, delta**2 * dt).sum(1),
        "mean over coordinates": lambda x_t, x_0, m, t, dt, delta:
            _kl(_mean(x_t, x_0, t, dt), _var(t, dt, delta), m, delta**2 * dt).mean(1),
        "posterior variance in the model": lambda x_t, x_0, m, t, dt, delta:
            _kl(_mean(x_t, x_0, t, dt), _var(t, dt, delta), m, _var(t, dt, delta)).sum(1),
        "standard deviations read as variances": lambda x_t, x_0, m, t, dt, delta:
            _kl(_mean(x_t, x_0, t, dt), math.sqrt(_var(t, dt, delta)), m, delta * math.sqrt(dt)).sum(1),
    },
    "reverse_mean_from_eps": {
        "sigma_t squared": lambda x_t, e, t, dt, delta: x_t - delta**2 * dt / t * e,
        "sqrt(dt)": lambda x_t, e, t, dt, delta: x_t - delta * math.sqrt(dt) / math.sqrt(t) * e,
        "sign": lambda x_t, e, t, dt, delta: x_t + delta * dt / math.sqrt(t) * e,
        "delta forgotten": lambda x_t, e, t, dt, delta: x_t - dt / math.sqrt(t) * e,
        "x0_hat returned": lambda x_t, e, t, dt, delta: x_t - delta * math.sqrt(t) * e,
    },
}
