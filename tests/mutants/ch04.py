"""Wrong answers to chapter 4's questions; each one must lose its points."""

import math

import torch
from torch.nn.functional import softplus

CHAPTER = "04_noise_contrastive_estimation"

MUTANTS = {
    "nce_logits": {
        "+log nu": lambda f, c, log_q, nu: f + c - log_q + math.log(nu),
        "no log nu": lambda f, c, log_q, nu: f + c - log_q,
        "+log q": lambda f, c, log_q, nu: f + c + log_q - math.log(nu),
        "c left out": lambda f, c, log_q, nu: f - log_q - math.log(nu),
        "log(1 + nu)": lambda f, c, log_q, nu: f + c - log_q - math.log(1 + nu),
    },
    "nce_loss": {
        "no nu on the noise term": lambda hd, hn, nu: softplus(-hd).mean() + softplus(hn).mean(),
        "data and noise swapped": lambda hd, hn, nu: softplus(-hn).mean() + nu * softplus(hd).mean(),
        "naive log sigmoid": lambda hd, hn, nu:
            -(torch.log(torch.sigmoid(hd)).mean() + nu * torch.log(1 - torch.sigmoid(hn)).mean()),
        "pooled mean": lambda hd, hn, nu: torch.cat([softplus(-hd), softplus(hn)]).mean(),
        "J instead of -J": lambda hd, hn, nu: -(softplus(-hd).mean() + nu * softplus(hn).mean()),
        "sums instead of means": lambda hd, hn, nu: softplus(-hd).sum() + nu * softplus(hn).sum(),
    },
}
