"""Wrong answers to chapter 16's questions; each one must lose its points."""

import math

import torch

CHAPTER = "16_guidance"


def _tilt(log_p_cond, log_p, w):
    return w * log_p_cond + (1 - w) * log_p


MUTANTS = {
    "guided_eps": {
        "weights swapped": lambda eu, ec, w: w * eu + (1 - w) * ec,
        "the other convention (1 + w) eps_c - w eps_null": lambda eu, ec, w: (1 + w) * ec - w * eu,
        "unconditional term dropped": lambda eu, ec, w: w * ec,
        "eps_null + w eps_c": lambda eu, ec, w: eu + w * ec,
    },
    "class_posterior": {
        "prior forgotten": lambda ll, prior: torch.softmax(ll, dim=1),
        "softmax over the points": lambda ll, prior: torch.softmax(ll + prior.log(), dim=0),
        "naive exp (0 / 0 far out)": lambda ll, prior: (
            (ll.exp() * prior) / (ll.exp() * prior).sum(1, keepdim=True)),
        "prior added, not its log": lambda ll, prior: torch.softmax(ll + prior, dim=1),
        "unnormalised": lambda ll, prior: (ll + prior.log()).exp(),
    },
    "tilted_log_density": {
        "cell area forgotten": lambda lc, lp, w, a: (
            _tilt(lc, lp, w) - torch.logsumexp(_tilt(lc, lp, w).reshape(-1), 0)),
        "weights swapped": lambda lc, lp, w, a: (
            _tilt(lp, lc, w) - torch.logsumexp(_tilt(lp, lc, w).reshape(-1), 0) - math.log(a)),
        "not normalised": lambda lc, lp, w, a: _tilt(lc, lp, w),
        "naive sum of exponentials": lambda lc, lp, w, a: (
            _tilt(lc, lp, w) - _tilt(lc, lp, w).exp().sum().log() - math.log(a)),
        "area multiplied in": lambda lc, lp, w, a: (
            _tilt(lc, lp, w) - torch.logsumexp(_tilt(lc, lp, w).reshape(-1), 0) + math.log(a)),
    },
}
