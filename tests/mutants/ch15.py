"""Wrong answers to chapter 15's questions; each one must lose its points."""

import torch

CHAPTER = "15_flow_matching"


def _xt(x0, x1, t):
    return (1 - t[:, None]) * x0 + t[:, None] * x1


MUTANTS = {
    "interpolate": {
        "roles of x0 and x1 swapped": lambda x0, x1, t: t[:, None] * x0 + (1 - t[:, None]) * x1,
        "adds instead of interpolating": lambda x0, x1, t: x0 + t[:, None] * x1,
        "square-root weights (variance-preserving)": lambda x0, x1, t: (
            torch.sqrt(1 - t[:, None]) * x0 + torch.sqrt(t[:, None]) * x1),
        "the midpoint whatever t": lambda x0, x1, t: 0.5 * (x0 + x1),
    },
    "cfm_loss": {
        "target x0 - x1": lambda x0, x1, t, v: ((v(_xt(x0, x1, t), t) - (x0 - x1)) ** 2).sum(1).mean(),
        "mean over coordinates too": lambda x0, x1, t, v: ((v(_xt(x0, x1, t), t) - (x1 - x0)) ** 2).mean(),
        "velocity at the data x1": lambda x0, x1, t, v: ((v(x1, t) - (x1 - x0)) ** 2).sum(1).mean(),
        "time 1 - t": lambda x0, x1, t, v: ((v(_xt(x0, x1, t), 1 - t) - (x1 - x0)) ** 2).sum(1).mean(),
        "no square": lambda x0, x1, t, v: (v(_xt(x0, x1, t), t) - (x1 - x0)).norm(dim=1).mean(),
        "target x1 (predicts the data)": lambda x0, x1, t, v: ((v(_xt(x0, x1, t), t) - x1) ** 2).sum(1).mean(),
    },
    "euler_step": {
        "velocity at t + dt": lambda x, t, dt, v: x + dt * v(x, torch.full((len(x),), t + dt, dtype=x.dtype)),
        "dt dropped": lambda x, t, dt, v: x + v(x, torch.full((len(x),), t, dtype=x.dtype)),
        "wrong sign": lambda x, t, dt, v: x - dt * v(x, torch.full((len(x),), t, dtype=x.dtype)),
        "time 0 always": lambda x, t, dt, v: x + dt * v(x, torch.zeros(len(x), dtype=x.dtype)),
    },
}
