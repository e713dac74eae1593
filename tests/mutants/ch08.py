"""Wrong answers to chapter 8's questions; each one must lose its points (the tutorial's
literal denoising objective included)."""

import math

CHAPTER = "08_denoising_score_matching"


def _dsm(score_fn, x0, t, z, delta, eps_scale="std", at_clean=False, s2_factor=True, sign=1, reduce="mean",
         weighted=False, literal=False):
    s2 = (delta**2 * t)[:, None]
    eps = (s2.sqrt() if eps_scale == "std" else s2) * z
    x_t = x0 if at_clean else x0 + eps
    s = score_fn(x_t, t)
    if literal:
        r = eps - (x_t + s2 * s)
    else:
        r = eps + sign * (s2 if s2_factor else 1.0) * s
    per = (r**2).sum(1)
    if weighted:
        per = per / s2[:, 0]
    return per.mean() if reduce == "mean" else per.sum()


MUTANTS = {
    "tweedie_denoise": {
        "minus sign": lambda x, t, f, d: x - d**2 * t * f(x, t),
        "sigma, not sigma^2": lambda x, t, f, d: x + d * math.sqrt(t) * f(x, t),
        "delta^2 dropped": lambda x, t, f, d: x + t * f(x, t),
        "x_t dropped": lambda x, t, f, d: d**2 * t * f(x, t),
        "score at t = 1": lambda x, t, f, d: x + d**2 * t * f(x, 1.0),
    },
    "dsm_loss": {
        "variance used as the noise scale": lambda x0, t, z, f, d: _dsm(f, x0, t, z, d, eps_scale="var"),
        "score at the clean point": lambda x0, t, z, f, d: _dsm(f, x0, t, z, d, at_clean=True),
        "sigma^2 missing": lambda x0, t, z, f, d: _dsm(f, x0, t, z, d, s2_factor=False),
        "sign slip": lambda x0, t, z, f, d: _dsm(f, x0, t, z, d, sign=-1),
        "eps-weighted (divided by sigma^2)": lambda x0, t, z, f, d: _dsm(f, x0, t, z, d, weighted=True),
        "sum over the batch": lambda x0, t, z, f, d: _dsm(f, x0, t, z, d, reduce="sum"),
        "the tutorial's literal eps - (x_t + sigma^2 s)": lambda x0, t, z, f, d: _dsm(f, x0, t, z, d, literal=True),
    },
}
