"""Wrong answers to chapter 14's questions; each one must lose its points."""

import math

import torch

CHAPTER = "14_golf_course"


def _scores(samples, holes, weights, radius, *, squared=False, over_all=False, half=True,
            any_ball=False, equal_weights=False):
    d = torch.cdist(samples, holes)
    if squared:
        d = d**2
    dmin, nearest = d.min(1)
    holed = dmin <= radius
    counts = torch.bincount(nearest[holed], minlength=holes.shape[0]).double()
    freq = counts / (samples.shape[0] if over_all else counts.sum())
    w = torch.full_like(weights, 1 / len(weights)) if equal_weights else weights
    covered = (counts > 0).sum() if any_ball else (freq >= 0.25 * w).sum()
    err = (freq - w).abs().sum() * (0.5 if half else 1.0)
    return torch.stack([holed.double().mean(), covered.double(), err])


def _normal(x, mean, var):
    return -0.5 * (x - mean) ** 2 / var - 0.5 * torch.log(2 * math.pi * torch.as_tensor(var, dtype=x.dtype))


def _chain(path, m, v, a, b, w, *, forward=False, prior=True, prior_at_x0=False, shift=False, std=False):
    if shift:
        a, b = torch.roll(a, 1), torch.roll(b, 1)
    if std:
        w = w**2
    if forward:  # x_{t_n} predicted from x_{t_{n-1}}
        steps = _normal(path[:, 1:], a * path[:, :-1] + b, w).sum(1)
    else:
        steps = _normal(path[:, :-1], a * path[:, 1:] + b, w).sum(1)
    if not prior:
        return steps
    x_prior = path[:, 0] if prior_at_x0 else path[:, -1]
    return steps + _normal(x_prior, m, v)


MUTANTS = {
    "golf_scores": {
        "shares over all balls, not the holed ones": lambda *a: _scores(*a, over_all=True),
        "total variation without the 1/2": lambda *a: _scores(*a, half=False),
        "a hole is covered by a single ball": lambda *a: _scores(*a, any_ball=True),
        "squared distance compared with the radius": lambda *a: _scores(*a, squared=True),
        "equal weights assumed": lambda *a: _scores(*a, equal_weights=True),
    },
    "chain_log_joint": {
        "the chain run forwards": lambda *a: _chain(*a, forward=True),
        "prior term missing": lambda *a: _chain(*a, prior=False),
        "prior evaluated at x_0": lambda *a: _chain(*a, prior_at_x0=True),
        "coefficients shifted by one step": lambda *a: _chain(*a, shift=True),
        "variances used as standard deviations": lambda *a: _chain(*a, std=True),
    },
}
