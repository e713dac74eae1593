"""Oracle tests of gm_course.gan: stable losses, the optimal discriminator, the loop."""

import math

import pytest
import torch

from gm_course import densities, gan


def test_losses_match_binary_cross_entropy_and_stay_finite():
    g = torch.Generator().manual_seed(0)
    real, fake = torch.randn(30, generator=g), torch.randn(20, generator=g)
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    ref = bce(real, torch.ones(30)) + bce(fake, torch.zeros(20))
    torch.testing.assert_close(gan.discriminator_loss(real, fake), ref)
    torch.testing.assert_close(gan.generator_loss(fake), bce(fake, torch.ones(20)))
    torch.testing.assert_close(gan.generator_loss(fake, non_saturating=False), -bce(fake, torch.zeros(20)))
    big = torch.tensor([500.0, -500.0])
    assert torch.isfinite(gan.discriminator_loss(big, big))
    assert float(gan.discriminator_loss(torch.zeros(4), torch.zeros(4))) == pytest.approx(2 * math.log(2))


def test_optimal_discriminator_maximises_the_value_pointwise():
    lp, lq = torch.tensor([-1.0, 0.5, -3.0]), torch.tensor([-2.0, 0.5, 1.0])
    d_star = torch.sigmoid(gan.optimal_discriminator_logit(lp, lq))
    torch.testing.assert_close(d_star, lp.exp() / (lp.exp() + lq.exp()))
    for eps in (-0.05, 0.05):
        d = (d_star + eps).clamp(1e-6, 1 - 1e-6)
        v = lp.exp() * d.log() + lq.exp() * (1 - d).log()
        v_star = lp.exp() * d_star.log() + lq.exp() * (1 - d_star).log()
        assert bool((v <= v_star + 1e-7).all())


def test_train_gan_is_seeded_and_moves_towards_data():
    ring = densities.eight_gaussians()

    def run():
        torch.manual_seed(0)
        G, D = gan.make_generator(2, 2, 16), gan.make_discriminator(2, 16)
        data_gen = torch.Generator().manual_seed(1)
        result = gan.train_gan(G, D, lambda n: ring.sample(n, data_gen).float(), 60, latent_dim=2, batch=64,
                               generator=torch.Generator().manual_seed(2), snapshot_every=30, snapshot_size=50)
        return result

    a, b = run(), run()
    assert a.g_losses == b.g_losses and len(a.d_losses) == 60
    assert sorted(a.snapshots) == [0, 30, 59] and torch.equal(a.snapshots[59], b.snapshots[59])
    frozen = gan.train_gan(gan.make_generator(2, 2, 8), gan.make_discriminator(2, 8), lambda n: torch.zeros(n, 2), 3,
                           latent_dim=2, train_discriminator=False)
    assert frozen.d_losses == [] and len(frozen.g_losses) == 3


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="steps"):
        gan.train_gan(gan.make_generator(), gan.make_discriminator(), lambda n: torch.zeros(n, 2), 0, latent_dim=2)
    with pytest.raises(ValueError, match="hidden"):
        gan.make_discriminator(2, 0)
