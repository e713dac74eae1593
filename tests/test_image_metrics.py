"""Tests of gm_course.image_metrics: the digits split, Fréchet distance, KDE baseline, memorisation."""

import numpy as np
import pytest
import scipy.linalg
import torch

from gm_course import image_metrics as im


@pytest.fixture(scope="module")
def digits():
    return im.load_digits_split()


def test_split(digits):
    assert digits.x_train.shape == (1347, 64) and digits.x_test.shape == (450, 64)
    assert digits.x_train.min() >= 0 and digits.x_train.max() == 1
    # stratified: each class's share is the same in both parts to within one image
    for k in range(10):
        n_tr, n_te = int((digits.y_train == k).sum()), int((digits.y_test == k).sum())
        assert abs(n_te - 450 * (n_tr + n_te) / 1797) <= 1
    again = im.load_digits_split()
    assert torch.equal(again.x_test, digits.x_test)


def test_frechet_distance_against_scipy():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(300, 5)) @ rng.normal(size=(5, 5))
    b = rng.normal(size=(200, 5)) @ rng.normal(size=(5, 5)) + 0.5
    m1, m2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    ref = ((m1 - m2) ** 2).sum() + np.trace(s1 + s2 - 2 * np.real(scipy.linalg.sqrtm(s1 @ s2)))
    assert im.frechet_distance(torch.tensor(a), torch.tensor(b)) == pytest.approx(ref, rel=1e-6)
    assert im.frechet_distance(torch.tensor(a), torch.tensor(a)) == pytest.approx(0.0, abs=1e-8)
    shift = torch.tensor([1.0, 2.0, 0.0, 0.0, -1.0], dtype=torch.float64)
    assert im.frechet_distance(torch.tensor(a), torch.tensor(a) + shift) == pytest.approx(6.0, rel=1e-8)
    with pytest.raises(ValueError, match="features"):
        im.frechet_distance(torch.zeros(4, 2), torch.zeros(4, 3))


def test_nearest_and_memorisation(digits):
    x_tr, x_te = digits.x_train, digits.x_test
    d = im.nearest_distances(x_te[:20], x_tr)
    brute = torch.stack([(x_tr.double() - x.double()).norm(dim=1).min() for x in x_te[:20]])
    assert torch.allclose(d, brute, atol=1e-6)
    self_d = im.nearest_distances(x_tr[:50], x_tr[:50], exclude_self=True)
    assert (self_d > 0).all() or (self_d == 0).sum() < 50  # duplicates may exist, never all
    share, threshold = im.memorisation_share(x_te, x_tr, x_te)
    assert share == pytest.approx(0.05, abs=0.003) and threshold > 0
    copies, _ = im.memorisation_share(x_tr[:100], x_tr, x_te)
    assert copies == 1.0
    far, _ = im.memorisation_share(torch.full((10, 64), 5.0), x_tr, x_te)
    assert far == 0.0


def test_pca_kde_sampler(digits):
    sample = im.pca_kde_sampler(digits.x_train)
    a = sample(30, torch.Generator().manual_seed(0))
    b = sample(30, torch.Generator().manual_seed(0))
    assert a.shape == (30, 64) and torch.equal(a, b)
    assert a.min() >= 0 and a.max() <= 1
    assert 0.1 <= sample.bandwidth <= 1.0 and sample.n_components == 15


def test_classifier_learns(digits):
    clf = im.train_classifier(digits.x_train, digits.y_train, steps=120)
    label, conf = clf.predict(digits.x_test)
    assert float((label == digits.y_test).float().mean()) > 0.9
    assert conf.shape == (450,) and ((conf > 0) & (conf <= 1)).all()
    assert clf.features(digits.x_test).shape == (450, 64)
