"""Wrong answers to chapter 13's questions; each one must lose its points."""

import torch
from torch.nn import functional as F

CHAPTER = "13_gans"

MUTANTS = {
    "discriminator_loss": {
        "labels swapped": lambda r, f: F.softplus(r).mean() + F.softplus(-f).mean(),
        "not negated (the value V itself)": lambda r, f: -(F.softplus(-r).mean() + F.softplus(f).mean()),
        "naive log of sigmoid": lambda r, f: -torch.log(torch.sigmoid(r)).mean() - torch.log(1 - torch.sigmoid(f)).mean(),
        "sums instead of means": lambda r, f: F.softplus(-r).sum() + F.softplus(f).sum(),
        "one mean over both batches": lambda r, f: torch.cat([F.softplus(-r), F.softplus(f)]).mean(),
        "generator's loss on the fakes": lambda r, f: F.softplus(-r).mean() + F.softplus(-f).mean(),
    },
    "optimal_discriminator": {
        "q / (p + q)": lambda lp, lq: torch.sigmoid(lq - lp),
        "p / q": lambda lp, lq: torch.exp(lp - lq),
        "exp of the log-densities": lambda lp, lq: torch.exp(lp) / (torch.exp(lp) + torch.exp(lq)),
        "sigmoid of log p only": lambda lp, lq: torch.sigmoid(lp),
    },
}
