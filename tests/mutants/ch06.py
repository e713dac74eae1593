"""Wrong answers to chapter 6's questions; each one must lose its points."""

import math

import torch

CHAPTER = "06_tempering_and_annealing"


def _log_q(x):
    return -0.5 * (x**2).sum(1) - 0.5 * x.shape[1] * math.log(2 * math.pi)


MUTANTS = {
    "tempered_log_prob": {
        "q left out": lambda x, beta, f: beta * f(x),
        "beta on log q too": lambda x, beta, f: beta * (f(x) + _log_q(x)),
        "(1 - beta) on log q": lambda x, beta, f: beta * f(x) + (1 - beta) * _log_q(x),
        "q not normalised": lambda x, beta, f: beta * f(x) - 0.5 * (x**2).sum(1),
        "log 2pi counted once, not D/2 times": lambda x, beta, f: beta * f(x) - 0.5 * (x**2).sum(1) - 0.5 * math.log(2 * math.pi),
        "-|x|^2 instead of -|x|^2/2": lambda x, beta, f: beta * f(x) - (x**2).sum(1) - 0.5 * x.shape[1] * math.log(2 * math.pi),
    },
    "swap_accept_prob": {
        "wrong sign in the exponent": lambda fi, fj, bi, bj: torch.clamp(torch.exp((bi - bj) * (fi - fj)), max=1.0),
        "no min with 1": lambda fi, fj, bi, bj: torch.exp((bi - bj) * (fj - fi)),
        "log-probability returned": lambda fi, fj, bi, bj: torch.clamp((bi - bj) * (fj - fi), max=0.0),
        "beta_i f_j - beta_j f_i": lambda fi, fj, bi, bj: torch.clamp(torch.exp(bi * fj - bj * fi), max=1.0),
        "betas summed": lambda fi, fj, bi, bj: torch.clamp(torch.exp((bi + bj) * (fj - fi)), max=1.0),
    },
}
