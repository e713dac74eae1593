"""Wrong answers to chapter 9's questions; each one must lose its points."""

import math

import torch
from torch.nn import functional as F

CHAPTER = "09_unet_on_digits"


def _angles(t, dim, exponent_dim=None, start=0):
    half = dim // 2
    k = torch.arange(start, start + half, dtype=t.dtype)
    omega = torch.exp(-math.log(10000.0) * k / (exponent_dim or half))
    return t[:, None] * omega[None]


def _ok_emb(t, dim):
    a = _angles(t, dim)
    return torch.cat([torch.sin(a), torch.cos(a)], dim=1)


def _conv(x, emb, w, b, tw, tb, act=F.silu, padding=1, time=True, before=False):
    h = F.conv2d(x, w, b, padding=padding)
    tt = F.linear(emb, tw, tb)[:, :, None, None] if time else 0.0
    return act(h) + tt if before else act(h + tt)


def _zero_stuff(h):
    n, c, hh, ww = h.shape
    z = torch.zeros(n, c, hh, 2, ww, 2, dtype=h.dtype)
    z[:, :, :, 0, :, 0] = h
    return z.reshape(n, c, 2 * hh, 2 * ww)


MUTANTS = {
    "sinusoidal_embedding": {
        "sum sin + cos (the tutorial's slip)": lambda t, dim: torch.sin(_angles(t, dim)) + torch.cos(_angles(t, dim)),
        "sum, tiled to dim": lambda t, dim: (torch.sin(_angles(t, dim)) + torch.cos(_angles(t, dim))).repeat(1, 2),
        "interleaved sin, cos": lambda t, dim: torch.stack(
            [torch.sin(_angles(t, dim)), torch.cos(_angles(t, dim))], dim=2).reshape(len(t), dim),
        "cosines first": lambda t, dim: torch.cat([torch.cos(_angles(t, dim)), torch.sin(_angles(t, dim))], dim=1),
        "exponent k/dim": lambda t, dim: torch.cat(
            [torch.sin(_angles(t, dim, dim)), torch.cos(_angles(t, dim, dim))], dim=1),
        "k from 1": lambda t, dim: torch.cat(
            [torch.sin(_angles(t, dim, start=1)), torch.cos(_angles(t, dim, start=1))], dim=1),
        "sines only": lambda t, dim: torch.sin(_angles(t, 2 * dim)),
    },
    "time_conditioned_conv": {
        "no padding": lambda x, e, w, b, tw, tb: _conv(x, e, w, b, tw, tb, padding=0),
        "time embedding ignored": lambda x, e, w, b, tw, tb: _conv(x, e, w, b, tw, tb, time=False),
        "activation before the time term": lambda x, e, w, b, tw, tb: _conv(x, e, w, b, tw, tb, before=True),
        "ReLU": lambda x, e, w, b, tw, tb: _conv(x, e, w, b, tw, tb, act=F.relu),
        "time weight transposed": lambda x, e, w, b, tw, tb: F.silu(
            F.conv2d(x, w, b, padding=1) + (e @ tw + tb)[:, :, None, None]),
        "time broadcast over the wrong axes": lambda x, e, w, b, tw, tb: F.silu(
            F.conv2d(x, w, b, padding=1) + F.linear(e, tw, tb)[:, None, None, :]),
    },
    "upsample_concat": {
        "sum instead of concatenation": lambda h, s: F.interpolate(h, scale_factor=2, mode="nearest") + s,
        "skip first": lambda h, s: torch.cat([s, F.interpolate(h, scale_factor=2, mode="nearest")], dim=1),
        "bilinear upsampling": lambda h, s: torch.cat(
            [F.interpolate(h, scale_factor=2, mode="bilinear", align_corners=False), s], dim=1),
        "zero-stuffing instead of repeating": lambda h, s: torch.cat([_zero_stuff(h), s], dim=1),
        "concatenated on the width axis": lambda h, s: torch.cat(
            [F.interpolate(h, scale_factor=2, mode="nearest"), s], dim=3),
    },
}
