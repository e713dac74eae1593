"""Wrong answers to chapter 5's questions; each one must lose its points."""

import math

CHAPTER = "05_langevin_and_hmc"


def _frog(x, p, score_fn, eps, n, kick=0.5, sign=1.0, last_half=True):
    for _ in range(n):
        p = p + kick * sign * eps * score_fn(x)
        x = x + eps * p
        if last_half:
            p = p + 0.5 * sign * eps * score_fn(x)
    return x, p


def _euler(x, p, score_fn, eps, n):
    for _ in range(n):
        x, p = x + eps * p, p + eps * score_fn(x)
    return x, p


def _in_place(x, score_fn, dt, noise):
    x += 0.5 * dt * score_fn(x) + math.sqrt(dt) * noise
    return x


MUTANTS = {
    "langevin_step": {
        "missing 1/2 on the drift": lambda x, s, dt, e: x + dt * s(x) + math.sqrt(dt) * e,
        "dt instead of sqrt(dt) on the noise": lambda x, s, dt, e: x + 0.5 * dt * s(x) + dt * e,
        "gradient descent (wrong sign)": lambda x, s, dt, e: x - 0.5 * dt * s(x) + math.sqrt(dt) * e,
        "the other convention, dt s + sqrt(2 dt) e": lambda x, s, dt, e: x + dt * s(x) + math.sqrt(2 * dt) * e,
        "noise ignored": lambda x, s, dt, e: x + 0.5 * dt * s(x),
        "changes x in place": _in_place,
    },
    "leapfrog": {
        "no half steps (full kick, drift)": lambda x, p, s, eps, n: _frog(x, p, s, eps, n, kick=1.0, last_half=False),
        "kick with the wrong sign": lambda x, p, s, eps, n: _frog(x, p, s, eps, n, sign=-1.0),
        "explicit Euler": _euler,
        "final half kick missing": lambda x, p, s, eps, n: _frog(x, p, s, eps, n, last_half=False),
        "a single step whatever n_steps": lambda x, p, s, eps, n: _frog(x, p, s, eps, 1),
        "returns only x": lambda x, p, s, eps, n: _frog(x, p, s, eps, n)[0],
    },
}
