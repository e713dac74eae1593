"""Wrong answers to chapter 3's questions; each one must lose its points."""

import torch

CHAPTER = "03_energy_based_models"


def _weights(f):
    return torch.softmax(f, dim=0)


MUTANTS = {
    "log_partition_grad": {
        "no normalisation by Z": lambda f, T, h: (torch.exp(f - f.max()) * h) @ T,
        "plain average of T (ignores f)": lambda f, T, h: T.mean(dim=0),
        "naive exp overflows": lambda f, T, h: (torch.exp(f) / torch.exp(f).sum()) @ T,
        "sign error": lambda f, T, h: -(_weights(f) @ T),
        "extra cell volume": lambda f, T, h: h * (_weights(f) @ T),
        "weighted table, not summed": lambda f, T, h: _weights(f)[:, None] * T,
    },
    "ebm_loss_grad": {
        "wrong sign (data - model)": lambda gd, gm: gd.mean(0) - gm.mean(0),
        "sums instead of means": lambda gd, gm: gm.sum(0) - gd.sum(0),
        "model term left out": lambda gd, gm: -gd.mean(0),
        "pooled mean": lambda gd, gm: torch.cat([-gd, gm]).mean(0),
        "mean over the parameters": lambda gd, gm: gm.mean(1).mean() - gd.mean(1),
    },
}
