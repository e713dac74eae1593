"""A small U-Net noise predictor ε_θ(x_t, t) for small images (chapter 9).

The architecture, level by level (``channels = (c_0, c_1, …)``, image side halved per level):

* an input convolution 3×3 to c_0 channels;
* the **encoder**: at each level a :class:`TimeBlock` (the time embedding is injected into
  *every* block), its output kept as a *skip*, then a stride-2 convolution that halves the
  side (except at the deepest level);
* a middle :class:`TimeBlock` at the deepest level;
* the **decoder**: at each level, from the deepest up, a nearest-neighbour upsampling (except
  at the deepest level), the skip of the same level **concatenated** on the channel axis
  (:func:`upsample_concat`) and a :class:`TimeBlock` with its own weights;
* a GroupNorm, SiLU and a 3×3 convolution back to the image's channels.

Encoder and decoder have separate parameters (the tutorial says they share them; they do
not: the encoder maps an image to features, the decoder features plus skips back to an
image, with different shapes). The step index t enters as the sinusoidal embedding
[sin ω_k t, cos ω_k t] (:func:`gm_course.nets.sinusoidal_embedding`, a concatenation, not a
sum), passed through a two-layer MLP; each block adds its own linear projection of it, one
number per channel.

Interface (:mod:`gm_course.ddpm`): ``model(x, t)`` with x ``(N, C, H, W)`` and t ``(N,)``
float step indices; returns ε̂ ``(N, C, H, W)``. H and W must be divisible by 2^(levels − 1).

**Class conditioning** (``UNetConfig(n_classes=K)``, chapter 16's classifier-free guidance):
``model(x, t, y)`` with labels y ``(N,)`` in 0..K, where the extra label K is the *null*
label ∅ ("no class given"). A learned embedding of y is added to the time embedding, so
every block sees both. ``y=None`` means ∅ for every image: the unconditional model.
Training replaces each label by ∅ with a probability p (:func:`drop_labels`), so one network
learns both ε(x, t | c) and ε(x, t | ∅); :func:`guided` combines them,
ε_w = ε(· | ∅) + w (ε(· | c) − ε(· | ∅)).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from ._validate import positive_int
from .nets import sinusoidal_embedding

__all__ = ["UNetConfig", "TimeBlock", "UNet", "upsample_concat", "time_conditioned_conv",
           "count_parameters", "drop_labels", "Guided", "guided"]


def time_conditioned_conv(x: torch.Tensor, emb: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor,
                          time_weight: torch.Tensor, time_bias: torch.Tensor) -> torch.Tensor:
    """The core of a U-Net block: SiLU(conv3×3(x) + W_t emb + b_t), the time term per channel.

    Shapes: x ``(N, C_in, H, W)``, emb ``(N, E)``, weight ``(C_out, C_in, 3, 3)``, bias
    ``(C_out,)``, time_weight ``(C_out, E)``, time_bias ``(C_out,)`` -> ``(N, C_out, H, W)``
    (padding 1 keeps H × W). The projected embedding ``(N, C_out)`` is broadcast over H and W.
    """
    h = F.conv2d(x, weight, bias, padding=1)  # (N, C_out, H, W)
    t = F.linear(emb, time_weight, time_bias)  # (N, C_out)
    return F.silu(h + t[:, :, None, None])


def upsample_concat(h: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
    """A decoder's input: h ``(N, C_h, H/2, W/2)`` upsampled ×2 (nearest) and concatenated with
    the encoder's skip ``(N, C_s, H, W)`` on the channel axis -> ``(N, C_h + C_s, H, W)``.

    Concatenation (not a sum) keeps the encoder's fine detail in its own channels.
    """
    if h.shape[-2] * 2 == skip.shape[-2]:
        h = F.interpolate(h, scale_factor=2, mode="nearest")
    if h.shape[0] != skip.shape[0] or h.shape[-2:] != skip.shape[-2:]:
        raise ValueError(f"h {tuple(h.shape)} does not match skip {tuple(skip.shape)} after upsampling")
    return torch.cat([h, skip], dim=1)


class TimeBlock(nn.Module):
    """A residual block with time injection:

        h = SiLU(GN(conv(x)) + W_t e),   out = SiLU(GN(conv(h))) + skip(x)

    with ``skip`` a 1×1 convolution when the channel count changes; with ``convs=1`` the
    second convolution is left out (out = h + skip(x)). ``forward(x, e)``:
    x ``(N, C_in, H, W)``, e ``(N, E)`` -> ``(N, C_out, H, W)``.
    """

    def __init__(self, c_in: int, c_out: int, emb_dim: int, groups: int = 8, convs: int = 2):
        super().__init__()
        if convs not in (1, 2):
            raise ValueError(f"convs must be 1 or 2, got {convs!r}")
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.norm1 = nn.GroupNorm(min(groups, c_out), c_out)
        self.time = nn.Linear(emb_dim, c_out)
        self.second = nn.Sequential(nn.Conv2d(c_out, c_out, 3, padding=1),
                                    nn.GroupNorm(min(groups, c_out), c_out), nn.SiLU()) if convs == 2 else None
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = F.silu(self.norm1(self.conv1(x)) + self.time(emb)[:, :, None, None])  # (N, C_out, H, W)
        if self.second is not None:
            h = self.second(h)
        return h + self.skip(x)


@dataclass(frozen=True)
class UNetConfig:
    """Sizes of a :class:`UNet`.

    Attributes:
        in_channels: image channels (1 for grey digits).
        channels: feature channels per level, finest first; the number of levels is its length.
        emb_dim: size of the sinusoidal embedding of t (even).
        groups: GroupNorm groups (at most the channel count).
        convs: 3×3 convolutions per block (1 or 2).
        n_classes: number of classes K for a class-conditional network (labels 0..K−1,
            plus the null label K); 0 (default) for an unconditional one.
    """

    in_channels: int = 1
    channels: tuple[int, ...] = (32, 64)
    emb_dim: int = 32
    groups: int = 8
    convs: int = 2
    n_classes: int = 0

    def __post_init__(self):
        positive_int(self.in_channels, "in_channels")
        if not self.channels:
            raise ValueError("channels must name at least one level")
        for c in self.channels:
            positive_int(c, "channels")
        if positive_int(self.emb_dim, "emb_dim") % 2:
            raise ValueError(f"emb_dim must be even, got {self.emb_dim}")
        if isinstance(self.n_classes, bool) or not isinstance(self.n_classes, int) or self.n_classes < 0:
            raise ValueError(f"n_classes must be an integer >= 0, got {self.n_classes!r}")


class UNet(nn.Module):
    """ε_θ(x, t): a U-Net with separate encoder and decoder weights, skip connections and the
    time embedding injected in every block (see the module docstring).

    ``forward(x, t)``: x ``(N, C, H, W)``, t ``(N,)`` float step indices -> ``(N, C, H, W)``.
    """

    def __init__(self, config: UNetConfig = UNetConfig()):
        super().__init__()
        self.config = config
        ch, e = config.channels, config.emb_dim
        self.time_mlp = nn.Sequential(nn.Linear(e, 2 * e), nn.SiLU(), nn.Linear(2 * e, 2 * e))
        # one learned vector per class and one for the null label (index n_classes)
        self.label_emb = nn.Embedding(config.n_classes + 1, 2 * e) if config.n_classes else None
        if self.label_emb is not None:  # start as the unconditional network; training tells labels apart
            nn.init.zeros_(self.label_emb.weight)
        self.inc = nn.Conv2d(config.in_channels, ch[0], 3, padding=1)
        self.encoder = nn.ModuleList()
        self.down = nn.ModuleList()
        prev = ch[0]
        for i, c in enumerate(ch):
            self.encoder.append(TimeBlock(prev, c, 2 * e, config.groups, config.convs))
            if i < len(ch) - 1:
                self.down.append(nn.Conv2d(c, c, 3, stride=2, padding=1))
            prev = c
        self.mid = TimeBlock(prev, prev, 2 * e, config.groups, config.convs)
        self.decoder = nn.ModuleList()
        for c in reversed(ch):  # deepest level first
            self.decoder.append(TimeBlock(prev + c, c, 2 * e, config.groups, config.convs))
            prev = c
        self.out = nn.Sequential(nn.GroupNorm(min(config.groups, prev), prev), nn.SiLU(),
                                 nn.Conv2d(prev, config.in_channels, 3, padding=1))

    def forward(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        levels = len(self.config.channels)
        if x.ndim != 4 or x.shape[1] != self.config.in_channels:
            raise ValueError(f"x must have shape (N, {self.config.in_channels}, H, W), got {tuple(x.shape)}")
        if x.shape[-1] % 2 ** (levels - 1) or x.shape[-2] % 2 ** (levels - 1):
            raise ValueError(f"H and W must be divisible by {2 ** (levels - 1)}, got {tuple(x.shape[-2:])}")
        emb = self.time_mlp(sinusoidal_embedding(t.reshape(-1).to(x), self.config.emb_dim))  # (N, 2E)
        if self.label_emb is not None:
            emb = emb + self.label_emb(self._labels(y, x))  # (N, 2E): time plus class
        elif y is not None:
            raise ValueError("this UNet is unconditional (n_classes=0): call it without labels y")
        h = self.inc(x)
        skips = []
        for i, block in enumerate(self.encoder):
            h = block(h, emb)
            skips.append(h)  # (N, c_i, H / 2^i, W / 2^i)
            if i < levels - 1:
                h = self.down[i](h)
        h = self.mid(h, emb)
        for block in self.decoder:
            h = block(upsample_concat(h, skips.pop()), emb)
        return self.out(h)

    def _labels(self, y: torch.Tensor | None, x: torch.Tensor) -> torch.Tensor:
        k = self.config.n_classes
        if y is None:
            return torch.full((x.shape[0],), k, dtype=torch.long, device=x.device)
        y = torch.as_tensor(y, device=x.device)
        if y.is_floating_point() or y.shape != (x.shape[0],):
            raise ValueError(f"y must hold integer labels of shape ({x.shape[0]},), got {y.dtype} {tuple(y.shape)}")
        if ((y < 0) | (y > k)).any():
            raise ValueError(f"labels y must lie in 0..{k} ({k} is the null label)")
        return y.long()

    def encoder_parameters(self) -> list[nn.Parameter]:
        """Parameters of the encoder path (input conv, encoder blocks, downsamplers)."""
        return [*self.inc.parameters(), *self.encoder.parameters(), *self.down.parameters()]

    def decoder_parameters(self) -> list[nn.Parameter]:
        """Parameters of the decoder path (decoder blocks, output head)."""
        return [*self.decoder.parameters(), *self.out.parameters()]


def count_parameters(module: nn.Module) -> int:
    """Number of trainable scalars of ``module``."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def drop_labels(y: torch.Tensor, p: float, null_label: int,
                generator: torch.Generator | None = None) -> torch.Tensor:
    """Label dropout: each label of ``y (N,)`` is replaced by ``null_label`` with probability
    ``p`` in [0, 1), independently (draws from ``generator``, on ``y``'s device).

    Training on the result teaches one network the conditional ε(x, t | c) and, on the
    dropped share, the unconditional ε(x, t | ∅) (Ho and Salimans' classifier-free guidance).
    """
    if not isinstance(y, torch.Tensor) or y.ndim != 1 or y.is_floating_point():
        raise ValueError("y must be a 1-D tensor of integer labels")
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p < 1.0:
        raise ValueError(f"p must be a number in [0, 1), got {p!r}")
    if isinstance(null_label, bool) or not isinstance(null_label, int) or null_label < 0:
        raise ValueError(f"null_label must be an integer >= 0, got {null_label!r}")
    gen_device = generator.device if generator is not None else torch.device("cpu")
    drop = torch.rand(y.shape, generator=generator, device=gen_device).to(y.device) < p
    return torch.where(drop, torch.full_like(y, null_label), y)


class Guided(nn.Module):
    """Classifier-free guidance of a class-conditional noise predictor, for a fixed class each
    image: ε_w(x, t) = ε(x, t | ∅) + w (ε(x, t | y) − ε(x, t | ∅)).

    w = 0 is the unconditional model, w = 1 plain conditional sampling, w > 1 guidance. The
    same combination holds for the implied clean image x̂_0, which is affine in ε̂. With w not
    in {0, 1} the two predictions come from one network call on a doubled batch.
    ``forward(x, t)``: x ``(N, C, H, W)``, t ``(N,)`` -> ``(N, C, H, W)``; ``y`` ``(N,)`` labels.
    """

    def __init__(self, model: nn.Module, y: torch.Tensor, w: float, null_label: int):
        super().__init__()
        if isinstance(w, bool) or not isinstance(w, (int, float)) or not math.isfinite(w):
            raise ValueError(f"w must be a finite number, got {w!r}")
        self.model, self.y, self.w, self.null = model, y, float(w), int(null_label)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        y = self.y.to(x.device)
        if y.shape != (x.shape[0],):
            raise ValueError(f"y must have shape ({x.shape[0]},), got {tuple(y.shape)}")
        null = torch.full_like(y, self.null)
        if self.w == 0.0:
            return self.model(x, t, null)
        if self.w == 1.0:
            return self.model(x, t, y)
        both = self.model(torch.cat([x, x]), torch.cat([t, t]), torch.cat([y, null]))
        cond, uncond = both.chunk(2)
        return uncond + self.w * (cond - uncond)


def guided(model: nn.Module, y: torch.Tensor, w: float) -> Guided:
    """:class:`Guided` for a :class:`UNet` with ``n_classes`` > 0 (its null label is n_classes)."""
    k = getattr(getattr(model, "config", None), "n_classes", 0)
    if not k:
        raise ValueError("guided needs a class-conditional UNet (UNetConfig(n_classes=K), K > 0)")
    return Guided(model, y, w, k)
