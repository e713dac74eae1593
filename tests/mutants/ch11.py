"""Wrong answers to chapter 11's questions; each one must lose its points."""

import math

import torch

CHAPTER = "11_autoregressive_and_flows"


def _coupling(y_rule, ld_rule, feed=lambda x, m: x * m):
    def fn(x, mask, scale_shift):
        m = mask.to(x.dtype)
        s, t = scale_shift(feed(x, m))
        return y_rule(x, m, s, t), ld_rule(m, s)
    return fn


_Y = lambda x, m, s, t: m * x + (1 - m) * (x * torch.exp(s) + t)  # noqa: E731
_LD = lambda m, s: ((1 - m) * s).sum(1)  # noqa: E731


def _jac_logdet(f, x, absolute=True):
    rows = [torch.autograd.functional.jacobian(lambda v: f(v[None])[0], xi) for xi in x]
    det = torch.linalg.det(torch.stack(rows))
    return torch.log(det.abs()) if absolute else torch.log(det)


def _log_prob(with_det=True, sign=1.0, const=True, absolute=True):
    def fn(x, f):
        z = f(x)
        out = -0.5 * (z**2).sum(1)
        if const:
            out = out - 0.5 * x.shape[1] * math.log(2 * math.pi)
        if with_det:
            out = out + sign * _jac_logdet(f, x, absolute)
        return out
    return fn


MUTANTS = {
    "affine_coupling": {
        "log det over every coordinate": _coupling(_Y, lambda m, s: s.sum(1)),
        "log det with the wrong sign": _coupling(_Y, lambda m, s: -((1 - m) * s).sum(1)),
        "log det of exp(s), not s": _coupling(_Y, lambda m, s: ((1 - m) * torch.exp(s)).sum(1)),
        "conditioner sees all of x": _coupling(_Y, _LD, feed=lambda x, m: x),
        "kept coordinates scaled too": _coupling(lambda x, m, s, t: m * x * torch.exp(s) + (1 - m) * (x * torch.exp(s) + t), _LD),
        "shift before scale": _coupling(lambda x, m, s, t: m * x + (1 - m) * ((x + t) * torch.exp(s)), _LD),
        "mask roles swapped": _coupling(lambda x, m, s, t: (1 - m) * x + m * (x * torch.exp(s) + t),
                                        lambda m, s: (m * s).sum(1), feed=lambda x, m: x * (1 - m)),
    },
    "change_of_variables_log_prob": {
        "forgot the log-determinant": _log_prob(with_det=False),
        "minus the log-determinant": _log_prob(sign=-1.0),
        "no normalising constant": _log_prob(const=False),
        "det without absolute value": _log_prob(absolute=False),
    },
}
