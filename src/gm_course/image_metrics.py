"""Honest metrics for generated images: the 8×8 digits, a feature Fréchet distance with its
floor and a baseline, classifier confidence, and a memorisation check.

An image generator is judged here the way chapter 2 judges a density: against what real data
score with the same ruler. Every number comes in a set, computed with the same features:

* the **floor**: real training digits vs held-out digits (what a perfect model would score);
* a **baseline**: a kernel density estimate (KDE) in a 15-D PCA space of the training digits,
  a model that needs no training at all;
* the **model**.

The ruler is a small classifier trained on the real training digits (:class:`DigitClassifier`,
an MLP 64 → 128 → 64 → 10). Its 64 hidden features of the last layer before the logits feed the
Fréchet distance (FD) between Gaussians fitted to two sets of features,

    FD = ‖μ_1 − μ_2‖² + tr(Σ_1 + Σ_2 − 2 (Σ_1^{1/2} Σ_2 Σ_1^{1/2})^{1/2}),

the recipe of the FID score with a digits classifier in place of Inception. FD is blind to
copying: a model that returns training images scores at the floor. :func:`memorisation_share`
therefore counts the samples that lie closer to a training image than 95 % of held-out digits
do (real held-out digits: 5 % by construction).

Data (:func:`load_digits_split`): scikit-learn's bundled 8×8 digits (no download), pixel
values 0..16 divided by 16, a stratified split with ``random_state=0`` into 1347 training
and 450 held-out images.

Used by chapter 9.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ._validate import as_points, positive, positive_int

__all__ = [
    "DigitsSplit",
    "load_digits_split",
    "DigitClassifier",
    "train_classifier",
    "frechet_distance",
    "pca_kde_sampler",
    "nearest_distances",
    "memorisation_share",
]

N_HELD_OUT = 450


@dataclass(frozen=True)
class DigitsSplit:
    """The digits split: images flattened to 64 pixels in [0, 1] (float32) and labels (int64).

    Attributes:
        x_train: ``(1347, 64)``; y_train: ``(1347,)``.
        x_test: ``(450, 64)`` held out; y_test: ``(450,)``.
    """

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor


def load_digits_split(random_state: int = 0) -> DigitsSplit:
    """scikit-learn's 1797 digits, pixels / 16, stratified split 1347 train / 450 held out."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)
    x_tr, x_te, y_tr, y_te = train_test_split(x, digits.target, test_size=N_HELD_OUT,
                                              stratify=digits.target, random_state=random_state)
    return DigitsSplit(torch.from_numpy(x_tr), torch.from_numpy(y_tr).long(),
                       torch.from_numpy(x_te), torch.from_numpy(y_te).long())


class DigitClassifier(nn.Module):
    """MLP 64 → 128 → 64 → 10 with SiLU; :meth:`features` gives the 64 hidden features.

    ``forward(x)``: x ``(N, 64)`` pixels in [0, 1] -> logits ``(N, 10)``.
    """

    def __init__(self, hidden: int = 128, n_features: int = 64):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(64, hidden), nn.SiLU(), nn.Linear(hidden, n_features), nn.SiLU())
        self.head = nn.Linear(n_features, 10)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, 64) -> (N, n_features)``: the activations the Fréchet distance compares."""
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(predicted label ``(N,)``, confidence = the largest softmax probability ``(N,)``)."""
        prob = torch.softmax(self(x), dim=1)
        conf, label = prob.max(dim=1)
        return label, conf


def train_classifier(x: torch.Tensor, y: torch.Tensor, steps: int = 500, batch: int = 128, lr: float = 3e-3,
                     weight_decay: float = 1e-3, seed: int = 0) -> DigitClassifier:
    """Train :class:`DigitClassifier` on ``x (N, 64)``, labels ``y (N,)``: Adam on the
    cross-entropy (plus a little weight decay), ``steps`` mini-batches of ``batch`` images drawn
    with replacement; weights and batches come from ``seed`` (the global RNG is left alone).

    About a second on one CPU thread; ≈ 97 % held-out accuracy (chapter 9 asserts it).
    Returns the model in eval mode with its parameters frozen.
    """
    x = as_points(x, 64, "x")
    steps, batch = positive_int(steps, "steps"), positive_int(batch, "batch")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = DigitClassifier().to(x.device)
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=positive(lr, "lr"), weight_decay=weight_decay)
    y = y.to(x.device)
    for _ in range(steps):
        idx = torch.randint(0, x.shape[0], (batch,), generator=gen).to(x.device)
        loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def _sqrt_psd(a: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh((a + a.T) / 2)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def frechet_distance(f1, f2) -> float:
    """FD between Gaussians fitted to feature sets ``f1 (N, K)`` and ``f2 (M, K)``.

    FD = ‖μ_1 − μ_2‖² + tr Σ_1 + tr Σ_2 − 2 tr (Σ_1^{1/2} Σ_2 Σ_1^{1/2})^{1/2}, with the
    covariances divided by N − 1, computed in float64 by symmetric eigendecompositions
    (no complex square roots). It is ≥ 0 and 0 for identical sets; like any two-sample score it
    is biased upwards for small N, so compare sets of equal size.
    """
    f1 = as_points(f1, name="f1", min_rows=2).detach().cpu().double().numpy()
    f2 = as_points(f2, name="f2", min_rows=2).detach().cpu().double().numpy()
    if f1.shape[1] != f2.shape[1]:
        raise ValueError(f"f1 and f2 must have the same number of features, got {f1.shape[1]} and {f2.shape[1]}")
    mu1, mu2 = f1.mean(0), f2.mean(0)
    s1, s2 = np.cov(f1, rowvar=False, ddof=1), np.cov(f2, rowvar=False, ddof=1)
    r1 = _sqrt_psd(s1)
    cross = np.sqrt(np.clip(np.linalg.eigvalsh(r1 @ s2 @ r1), 0.0, None)).sum()
    return float(max(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2.0 * cross, 0.0))


def pca_kde_sampler(x_train: torch.Tensor, n_components: int = 15, bandwidths=None,
                    validation: float = 0.2, seed: int = 0):
    """A KDE in PCA space, the no-training baseline: returns ``sample(n, generator) -> (n, 64)``.

    The training images are projected on their first ``n_components`` principal axes,
    z = (x − x̄) V. The KDE places a Gaussian N(z_i, h² Σ_z) on every projected image
    (Σ_z the covariance of the z's, as in scipy's ``gaussian_kde``); the factor h is chosen
    among ``bandwidths`` by the log-likelihood of a random ``validation`` share of the
    training images under a KDE of the rest (held-out digits are never used). Samples are
    mapped back, x = x̄ + z Vᵀ, and clipped to [0, 1].

    The returned function has attributes ``bandwidth`` (the chosen h) and ``n_components``.
    """
    x = as_points(x_train, 64, "x_train", min_rows=10).detach().cpu().double()
    k = positive_int(n_components, "n_components")
    if bandwidths is None:
        bandwidths = np.geomspace(0.1, 1.0, 12)
    mean = x.mean(0)
    _, _, vt = torch.linalg.svd(x - mean, full_matrices=False)
    basis = vt[:k].T  # (64, k)
    z = (x - mean) @ basis  # (N, k)
    chol = torch.linalg.cholesky(torch.cov(z.T))  # Σ_z = L Lᵀ

    rng = np.random.default_rng(seed)
    perm = torch.from_numpy(rng.permutation(len(z)))
    n_val = max(1, int(round(validation * len(z))))
    z_val, z_fit = z[perm[:n_val]], z[perm[n_val:]]
    w_val = torch.linalg.solve_triangular(chol, z_val.T, upper=False).T  # whitened (n_val, k)
    w_fit = torch.linalg.solve_triangular(chol, z_fit.T, upper=False).T
    d2 = torch.cdist(w_val, w_fit) ** 2  # (n_val, n_fit)
    best, best_ll = None, -math.inf
    for h in bandwidths:
        # log KDE density up to constants shared by every h: −k log h + logmeanexp(−d²/2h²)
        ll = float((torch.logsumexp(-d2 / (2 * h * h), dim=1) - math.log(d2.shape[1]) - k * math.log(h)).mean())
        if ll > best_ll:
            best, best_ll = float(h), ll

    def sample(n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        n = positive_int(n, "n")
        idx = torch.randint(0, len(z), (n,), generator=generator)
        e = torch.randn(n, k, generator=generator, dtype=torch.float64)
        zs = z[idx] + best * e @ chol.T  # (n, k)
        return (mean + zs @ basis.T).clamp(0.0, 1.0).float()

    sample.bandwidth = best
    sample.n_components = k
    return sample


def nearest_distances(x: torch.Tensor, reference: torch.Tensor, exclude_self: bool = False) -> torch.Tensor:
    """Euclidean distance from each row of ``x (N, 64)`` to its nearest row of ``reference (M, 64)``.

    ``exclude_self=True`` (when ``x`` is ``reference``) skips the zero distance of each point to
    itself. Returns ``(N,)`` float64.
    """
    x = as_points(x, name="x").detach().cpu().double()
    reference = as_points(reference, x.shape[1], "reference").detach().cpu().double()
    d = torch.cdist(x, reference, compute_mode="donot_use_mm_for_euclid_dist")
    if exclude_self:
        if x.shape != reference.shape:
            raise ValueError("exclude_self=True needs x and reference to be the same set")
        d.fill_diagonal_(math.inf)
    return d.min(dim=1).values


def memorisation_share(samples: torch.Tensor, x_train: torch.Tensor, x_test: torch.Tensor,
                       quantile: float = 0.05) -> tuple[float, float]:
    """Share of ``samples`` closer to their nearest training image than the ``quantile`` of the
    held-out digits' nearest-training distances; returns (share, that threshold).

    Held-out digits score ``quantile`` by construction (5 % by default); a model that copies
    its training images scores near 1.
    """
    if not 0.0 < quantile < 1.0:
        raise ValueError(f"quantile must lie in (0, 1), got {quantile!r}")
    threshold = float(torch.quantile(nearest_distances(x_test, x_train), quantile))
    share = float((nearest_distances(samples, x_train) < threshold).double().mean())
    return share, threshold
