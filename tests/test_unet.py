"""Tests of the small U-Net: shapes, separate encoder/decoder weights, time injection, blocks."""

import pytest
import torch
from torch.nn import functional as F

from gm_course.unet import TimeBlock, UNet, UNetConfig, count_parameters, time_conditioned_conv, upsample_concat


@pytest.mark.parametrize("channels,side", [((16, 32), 8), ((8,), 8), ((8, 16, 16), 16)])
def test_unet_output_shape(channels, side):
    torch.manual_seed(0)
    model = UNet(UNetConfig(channels=channels))
    x = torch.randn(3, 1, side, side)
    out = model(x, torch.tensor([0.0, 5.0, 99.0]))
    assert out.shape == x.shape and torch.isfinite(out).all()


def test_encoder_and_decoder_do_not_share_parameters():
    model = UNet(UNetConfig(channels=(16, 32)))
    enc = {id(p) for p in model.encoder_parameters()}
    dec = {id(p) for p in model.decoder_parameters()}
    assert enc and dec and not enc & dec
    storages = {p.untyped_storage().data_ptr() for p in model.encoder_parameters()}
    assert not storages & {p.untyped_storage().data_ptr() for p in model.decoder_parameters()}
    # every parameter is counted once, and no tensor is registered twice
    assert len({id(p) for p in model.parameters()}) == len(list(model.parameters()))


def test_time_is_injected_in_every_block_and_matters():
    torch.manual_seed(1)
    model = UNet(UNetConfig(channels=(16, 32)))
    blocks = [m for m in model.modules() if isinstance(m, TimeBlock)]
    assert len(blocks) == 2 * 2 + 1  # encoder levels + middle + decoder levels
    x = torch.randn(2, 1, 8, 8)
    a, b = model(x, torch.tensor([1.0, 1.0])), model(x, torch.tensor([50.0, 50.0]))
    assert (a - b).abs().max() > 1e-4
    model(x, torch.tensor([3.0, 7.0])).pow(2).mean().backward()
    assert all(blk.time.weight.grad is not None and blk.time.weight.grad.abs().sum() > 0 for blk in blocks)
    assert all(p.grad is not None for p in model.parameters())


def test_decoder_blocks_see_concatenated_skips():
    model = UNet(UNetConfig(channels=(16, 32)))
    # deepest decoder block: mid output (32) + skip (32); finest: 32 + 16
    assert [blk.conv1.in_channels for blk in model.decoder] == [64, 48]
    assert count_parameters(model) == sum(p.numel() for p in model.parameters())


def test_time_conditioned_conv_against_loops():
    gen = torch.Generator().manual_seed(2)
    n, c_in, c_out, e, h, w = 2, 3, 4, 5, 6, 6
    x = torch.randn(n, c_in, h, w, generator=gen, dtype=torch.float64)
    emb = torch.randn(n, e, generator=gen, dtype=torch.float64)
    weight = torch.randn(c_out, c_in, 3, 3, generator=gen, dtype=torch.float64)
    bias, tw, tb = (torch.randn(c_out, generator=gen, dtype=torch.float64),
                    torch.randn(c_out, e, generator=gen, dtype=torch.float64),
                    torch.randn(c_out, generator=gen, dtype=torch.float64))
    padded = F.pad(x, (1, 1, 1, 1))
    ref = torch.empty(n, c_out, h, w, dtype=torch.float64)
    for i in range(h):
        for j in range(w):
            patch = padded[:, :, i:i + 3, j:j + 3]  # (n, c_in, 3, 3)
            ref[:, :, i, j] = torch.einsum("nchw,ochw->no", patch, weight) + bias + emb @ tw.T + tb
    assert torch.allclose(time_conditioned_conv(x, emb, weight, bias, tw, tb), F.silu(ref), atol=1e-10)


def test_upsample_concat():
    h = torch.arange(8.0).reshape(1, 2, 2, 2)
    skip = -torch.ones(1, 3, 4, 4)
    out = upsample_concat(h, skip)
    assert out.shape == (1, 5, 4, 4)
    assert torch.equal(out[:, :2], h.repeat_interleave(2, -1).repeat_interleave(2, -2))
    assert torch.equal(out[:, 2:], skip)
    with pytest.raises(ValueError):
        upsample_concat(torch.zeros(1, 2, 3, 3), skip)


def test_bad_input():
    model = UNet(UNetConfig(channels=(8, 16)))
    with pytest.raises(ValueError, match="x must have shape"):
        model(torch.zeros(2, 8, 8), torch.zeros(2))
    with pytest.raises(ValueError, match="divisible"):
        model(torch.zeros(2, 1, 7, 7), torch.zeros(2))
    with pytest.raises(ValueError, match="emb_dim"):
        UNetConfig(emb_dim=7)


def test_one_conv_blocks():
    model = UNet(UNetConfig(channels=(8, 16), convs=1))
    assert all(blk.second is None for blk in model.modules() if isinstance(blk, TimeBlock))
    assert model(torch.randn(2, 1, 8, 8), torch.tensor([1.0, 2.0])).shape == (2, 1, 8, 8)
    assert count_parameters(model) < count_parameters(UNet(UNetConfig(channels=(8, 16))))
    with pytest.raises(ValueError, match="convs"):
        TimeBlock(4, 4, 8, convs=3)


def test_class_conditional_unet_labels_and_guidance():
    import pytest
    from gm_course.unet import UNet, UNetConfig, drop_labels, guided

    torch.manual_seed(0)
    model = UNet(UNetConfig(channels=(8, 8), emb_dim=8, groups=4, convs=1, n_classes=3))
    torch.nn.init.normal_(model.label_emb.weight)
    x, t = torch.randn(4, 1, 8, 8), torch.full((4,), 5.0)
    y = torch.tensor([0, 1, 2, 0])
    with torch.no_grad():
        cond, null = model(x, t, y), model(x, t, None)
        assert torch.allclose(model(x, t, torch.full((4,), 3)), null)
        assert torch.allclose(guided(model, y, 0.0)(x, t), null)
        assert torch.allclose(guided(model, y, 1.0)(x, t), cond)
        assert torch.allclose(guided(model, y, 3.0)(x, t), null + 3 * (cond - null),
                              atol=1e-5)
    with pytest.raises(ValueError, match="null label"):
        model(x, t, torch.tensor([0, 1, 4, 0]))
    with pytest.raises(ValueError, match="unconditional"):
        UNet(UNetConfig(channels=(8, 8), emb_dim=8, groups=4, convs=1))(x, t, y)
    dropped = drop_labels(torch.zeros(20000, dtype=torch.long), 0.2, 3,
                          torch.Generator().manual_seed(0))
    assert abs((dropped == 3).double().mean().item() - 0.2) < 0.015  # ~5 standard errors
    with pytest.raises(ValueError, match="p must"):
        drop_labels(y, 1.0, 3)
