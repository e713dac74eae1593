"""Wrong answers to chapter 12's questions; each one must lose its points."""

import math

import torch

CHAPTER = "12_variational_autoencoders"


def _elbo(kl_sign=-1.0, z_rule=lambda m, ls, e: m + torch.exp(ls) * e, var_for_std=False, const=True,
          kl_rule=None):
    def fn(x, mean, log_std, eps, decode, obs_std):
        z = z_rule(mean, log_std, eps)
        r = x - decode(z)
        D = x.shape[1]
        s2 = obs_std if var_for_std else obs_std**2
        rec = -0.5 * (r**2).sum(1) / s2 - 0.5 * D * math.log(s2)
        if const:
            rec = rec - 0.5 * D * math.log(2 * math.pi)
        kl = (kl_rule or (lambda m, ls: 0.5 * (m**2 + torch.exp(2 * ls) - 1 - 2 * ls).sum(1)))(mean, log_std)
        return rec + kl_sign * kl
    return fn


def _posterior(prior_term=1.0, power=2, use_b=True, cov_with_sigma=True):
    def fn(x, W, b, sigma):
        d = W.shape[1]
        s2 = sigma**power
        S = torch.linalg.inv(prior_term * torch.eye(d, dtype=x.dtype) + W.T @ W / s2)
        xc = x - b if use_b else x
        return xc @ W @ S / s2, S
    return fn


MUTANTS = {
    "gaussian_elbo": {
        "KL added": _elbo(kl_sign=+1.0),
        "decoder on eps": _elbo(z_rule=lambda m, ls, e: e),
        "no reparameterisation noise": _elbo(z_rule=lambda m, ls, e: m),
        "variance taken for std": _elbo(var_for_std=True),
        "no 2 pi": _elbo(const=False),
        "KL with exp(log_std), not its square": _elbo(kl_rule=lambda m, ls: 0.5 * (m**2 + torch.exp(ls) - 1 - 2 * ls).sum(1)),
        "reverse KL(p || q)": _elbo(kl_rule=lambda m, ls: 0.5 * ((1 + m**2) * torch.exp(-2 * ls) - 1 + 2 * ls).sum(1)),
    },
    "linear_gaussian_posterior": {
        "no prior term": _posterior(prior_term=1e-9),
        "sigma for sigma squared": _posterior(power=1),
        "forgot b": _posterior(use_b=False),
        "cov is the prior": lambda x, W, b, s: (_posterior()(x, W, b, s)[0], torch.eye(W.shape[1], dtype=x.dtype)),
    },
}
