"""Wrong answers to chapter 7's questions; each one must lose its points (the tutorial's own
slips included: the √Δt step and the dropped dt of the reverse SDE)."""

import math

import torch

CHAPTER = "07_forward_and_reverse_diffusion"


def _resp(x, w, mu, s, logdet=True, weights=True):
    d = x.shape[1]
    sq = ((x[:, None, :] - mu[None]) ** 2).sum(-1)
    logits = -0.5 * sq / s**2
    if logdet:
        logits = logits - d * torch.log(s)
    if weights:
        logits = logits + torch.log(w / w.sum())
    return torch.softmax(logits, dim=1)


def _score(x, w, mu, s, r=None, power=2):
    r = _resp(x, w, mu, s) if r is None else r
    return (r[:, :, None] * (mu[None] - x[:, None, :]) / (s**power)[None, :, None]).sum(1)


def _naive(x, w, mu, s):
    d = x.shape[1]
    sq = ((x[:, None, :] - mu[None]) ** 2).sum(-1)
    dens = w / w.sum() * torch.exp(-0.5 * sq / s**2) / s**d
    r = dens / dens.sum(1, keepdim=True)
    return _score(x, w, mu, s, r=r)


MUTANTS = {
    "mixture_score": {
        "sign flipped": lambda x, w, mu, s: -_score(x, w, mu, s),
        "divides by s, not s^2": lambda x, w, mu, s: _score(x, w, mu, s, power=1),
        "weights ignored": lambda x, w, mu, s: _score(x, w, mu, s, r=_resp(x, w, mu, s, weights=False)),
        "no -D log s in the responsibilities": lambda x, w, mu, s: _score(x, w, mu, s, r=_resp(x, w, mu, s, logdet=False)),
        "average of component scores": lambda x, w, mu, s: _score(x, w, mu, s, r=torch.full((len(x), len(w)), 1 / len(w), dtype=x.dtype)),
        "exp without log-sum-exp": _naive,
    },
    "reverse_ode_step": {
        "sqrt(dt) (the tutorial's step)": lambda x, t, dt, f, d: x + 0.5 * d**2 * math.sqrt(dt) * f(x, t),
        "missing 1/2": lambda x, t, dt, f, d: x + d**2 * dt * f(x, t),
        "wrong direction (descent)": lambda x, t, dt, f, d: x - 0.5 * d**2 * dt * f(x, t),
        "delta, not delta^2": lambda x, t, dt, f, d: x + 0.5 * d * dt * f(x, t),
        "score at t - dt": lambda x, t, dt, f, d: x + 0.5 * d**2 * dt * f(x, t - dt),
        "dt dropped": lambda x, t, dt, f, d: x + 0.5 * d**2 * f(x, t),
    },
    "reverse_sde_step": {
        "dt dropped from the drift (the tutorial)": lambda x, t, dt, f, d, e: x + d**2 * f(x, t) + d * math.sqrt(dt) * e,
        "half drift": lambda x, t, dt, f, d, e: x + 0.5 * d**2 * dt * f(x, t) + d * math.sqrt(dt) * e,
        "noise scaled by dt": lambda x, t, dt, f, d, e: x + d**2 * dt * f(x, t) + d * dt * e,
        "noise without delta": lambda x, t, dt, f, d, e: x + d**2 * dt * f(x, t) + math.sqrt(dt) * e,
        "noise forgotten": lambda x, t, dt, f, d, e: x + d**2 * dt * f(x, t),
        "score at t - dt": lambda x, t, dt, f, d, e: x + d**2 * dt * f(x, t - dt) + d * math.sqrt(dt) * e,
    },
}
