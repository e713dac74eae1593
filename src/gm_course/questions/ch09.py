"""Checks for chapter 9, a U-Net denoiser on digits (``09_unet_on_digits``).

References are written in numpy with explicit loops, not with :mod:`gm_course.nets` or
:mod:`gm_course.unet`, so a bug in the package cannot hide the same bug in an answer. The input
cases are built to expose the usual slips:

- ``sinusoidal_embedding``: several dims and large step indices, so a sum sin + cos instead of
  the concatenation [sin, cos] (the tutorial's slip), interleaving, cosines first, or the
  frequency exponent k/dim instead of k/(dim/2) all give other numbers;
- ``time_conditioned_conv``: C_in ≠ C_out ≠ E and H ≠ W, so a missing padding, an
  unprojected or ignored embedding, the activation applied before the time term, or a
  transposed weight fail on shape or value;
- ``upsample_concat``: C_h ≠ C_s and distinct values, so a sum instead of a concatenation,
  the skip placed first, bilinear instead of nearest upsampling or the wrong axis fail.
"""

from __future__ import annotations

import numpy as np
import torch

from ..grading import CheckFailed, Question
from . import expect
from .expect import Case

CHAPTER = "09_unet_on_digits"


def _embedding_cases() -> list[Case]:
    rng = expect.local_rng(901)
    return [
        Case((torch.tensor([0.0, 1.0, 2.0]), 2), "t = 0, 1, 2 and dim = 2 (one frequency, omega = 1)"),
        Case((torch.tensor([0.0, 3.0, 17.0, 99.0]), 8), "four step indices, dim = 8"),
        Case((torch.tensor(rng.uniform(0, 1000, 6), dtype=torch.float64), 32), "six float64 times in [0, 1000), dim = 32"),
        Case((torch.tensor([250.0]), 6), "a single t = 250, dim = 6 (three frequencies)"),
    ]


def check_sinusoidal_embedding(fn) -> None:
    """[sin(ω_0 t) … sin(ω_{h−1} t), cos(ω_0 t) … cos(ω_{h−1} t)], ω_k = 10000^(−k/h), h = dim/2."""
    for k, case in enumerate(_embedding_cases(), start=1):
        t, dim = case.args
        tt = t.double().numpy()
        half = dim // 2
        expected = np.zeros((len(tt), dim))
        for i, ti in enumerate(tt):
            for j in range(half):
                omega = 10000.0 ** (-j / half)
                expected[i, j] = np.sin(omega * ti)
                expected[i, half + j] = np.cos(omega * ti)
        where = case.label(k)
        out = expect.call(fn, case, k)
        if isinstance(out, torch.Tensor) and tuple(out.shape) == (len(tt), half):
            raise CheckFailed(f"{where}: expected shape {(len(tt), dim)}, got {tuple(out.shape)}: "
                              "concatenate the sines and the cosines, do not add them")
        got = expect.tensor(out, where, expected.shape)
        expect.close(got, expected, where, rtol=1e-4, atol=2e-4 if t.dtype == torch.float32 else 1e-8)


def _conv_cases() -> list[Case]:
    rng = expect.local_rng(902)

    def t(*shape):
        return torch.tensor(rng.normal(size=shape))

    return [
        Case((t(2, 3, 4, 5), t(2, 6), t(4, 3, 3, 3), t(4), t(4, 6), t(4)),
             "N = 2, C_in = 3, H = 4, W = 5, E = 6, C_out = 4"),
        Case((t(1, 1, 3, 3), t(1, 2), t(5, 1, 3, 3), t(5), t(5, 2), t(5)),
             "one 3x3 image with one channel, E = 2, C_out = 5"),
        Case((t(3, 2, 6, 2), t(3, 7), t(3, 2, 3, 3), t(3), t(3, 7), t(3)),
             "N = 3, a 6x2 image, E = 7, C_out = 3"),
    ]


def _conv_reference(x, emb, weight, bias, tw, tb) -> np.ndarray:
    n, c_in, h, w = x.shape
    c_out = weight.shape[0]
    pad = np.zeros((n, c_in, h + 2, w + 2))
    pad[:, :, 1:-1, 1:-1] = x
    out = np.zeros((n, c_out, h, w))
    time = emb @ tw.T + tb  # (n, c_out)
    for i in range(h):
        for j in range(w):
            patch = pad[:, :, i:i + 3, j:j + 3]
            out[:, :, i, j] = np.einsum("nchw,ochw->no", patch, weight) + bias + time
    return out / (1.0 + np.exp(-out))  # SiLU


def check_time_conditioned_conv(fn) -> None:
    """SiLU(conv3x3(x, padding 1) + bias + (emb @ time_weightᵀ + time_bias) per channel)."""
    for k, case in enumerate(_conv_cases(), start=1):
        expected = _conv_reference(*(a.numpy() for a in case.args))
        got = expect.tensor(expect.call(fn, case, k), case.label(k), expected.shape)
        expect.close(got, expected, case.label(k), rtol=1e-6, atol=1e-8)


def _concat_cases() -> list[Case]:
    rng = expect.local_rng(903)
    return [
        Case((torch.arange(8.0).reshape(1, 2, 2, 2), torch.tensor(rng.normal(size=(1, 3, 4, 4)), dtype=torch.float32)),
             "h of shape (1, 2, 2, 2) holding 0..7, skip of shape (1, 3, 4, 4)"),
        Case((torch.tensor(rng.normal(size=(2, 4, 4, 2))), torch.tensor(rng.normal(size=(2, 1, 8, 4)))),
             "h (2, 4, 4, 2), skip (2, 1, 8, 4): a non-square feature map"),
        Case((torch.tensor(rng.normal(size=(3, 5, 1, 1))), torch.tensor(rng.normal(size=(3, 5, 2, 2)))),
             "h (3, 5, 1, 1), skip (3, 5, 2, 2): equal channel counts"),
    ]


def check_upsample_concat(fn) -> None:
    """cat([nearest-upsample(h) ×2, skip], channel axis)."""
    def reference(h, skip):
        up = h.double().numpy().repeat(2, axis=2).repeat(2, axis=3)
        return np.concatenate([up, skip.double().numpy()], axis=1)

    expect.check_cases(fn, _concat_cases(), reference, rtol=1e-6, atol=1e-7)


QUESTIONS = {
    "sinusoidal_embedding": Question(
        2, check_sinusoidal_embedding,
        "embed step indices t (N,) as the concatenation [sin(omega_k t), cos(omega_k t)] of shape (N, dim)",
    ),
    "time_conditioned_conv": Question(
        2, check_time_conditioned_conv,
        "a U-Net block's core: SiLU(conv3x3(x) + projected time embedding), shape (N, C_out, H, W)",
    ),
    "upsample_concat": Question(
        1, check_upsample_concat,
        "a decoder's input: upsample h x2 (nearest) and concatenate the encoder's skip on the channel axis",
    ),
}
