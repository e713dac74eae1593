"""Animations that play in the static book, in Colab and in JupyterLab.

A chapter computes frames from the real dynamics (a Langevin particle cloud, a forward or
reverse diffusion, an annealing schedule, a reverse process on images) and hands them to

- :func:`particles` — frames ``(T, N, 2)`` of a point cloud in a box, optionally over a
  density table per frame (chapters 5, 6, 7);
- :func:`images` — frames ``(T, H, W)`` or ``(T, B, H, W)`` of images shown as a grid
  (chapter 9).

Each returns an :class:`Animation`: a notebook displays it (it has ``_repr_html_``) as one
small self-contained HTML block — a ``<figure>`` with the current frame as an image (with alt
text), a play/pause button, a frame slider, a per-frame label and a caption. The frames are
palette PNGs embedded as ``data:`` URIs and a 30-line script swaps them.

Why not ``FuncAnimation.to_jshtml``: its player loads an icon font from a CDN (the site must
make no request to another host) and stores full-colour PNGs; palette PNGs of the same
frames are 2-4 times smaller, so a page with several animations stays well under a few MB.
:attr:`Animation.nbytes` gives the size so a chapter can keep it in check.

Drawing conventions follow :mod:`gm_course.plots`: ``table[i, j]`` is the value at x-cell i,
y-cell j of the box; points use ``COLORS["data"]``. Only this module and :mod:`plots` draw.
"""

from __future__ import annotations

import base64
import html
import io
import itertools
import json
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch

from .plots import COLORS, _box

__all__ = ["Animation", "particles", "images", "frame_indices"]

_COUNTER = itertools.count()
_PALETTE_COLORS = 64


@dataclass(frozen=True)
class Animation:
    """A rendered animation: ``html`` is the self-contained block a notebook displays.

    Attributes:
        html: the HTML (figure, controls, embedded frames, script).
        n_frames: number of frames kept (after subsampling to ``max_frames``).
        width, height: frame size in pixels.
    """

    html: str
    n_frames: int
    width: int
    height: int

    @property
    def nbytes(self) -> int:
        """Size of the HTML in bytes (what the animation adds to a page)."""
        return len(self.html.encode())

    def _repr_html_(self) -> str:
        return self.html

    def __repr__(self) -> str:
        return f"<Animation: {self.n_frames} frames of {self.width}x{self.height} px, {self.nbytes / 1e3:.0f} kB>"


def frame_indices(n_total: int, max_frames: int) -> np.ndarray:
    """Evenly spaced frame indices from 0 to ``n_total - 1`` (both kept), at most ``max_frames``."""
    if n_total <= max_frames:
        return np.arange(n_total)
    return np.unique(np.linspace(0, n_total - 1, max_frames).round().astype(int))


# ----------------------------------------------------------------------------- checks

def _array(a: Any, name: str) -> np.ndarray:
    if isinstance(a, torch.Tensor):
        a = a.detach().cpu().to(torch.float64).numpy()
    try:
        arr = np.asarray(a, dtype=float)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must be a tensor or array of numbers, got {type(a).__name__}") from err
    return arr


def _count(value: Any, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _positive(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) or not np.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return float(value)


def _labels(labels: Sequence[str] | None, n_total: int, keep: np.ndarray) -> list[str]:
    if labels is None:
        return [f"frame {i + 1} of {n_total}" for i in keep]
    labels = list(labels)
    if len(labels) != n_total or not all(isinstance(s, str) for s in labels):
        raise ValueError(f"labels must be {n_total} strings (one per frame), got {len(labels)} items")
    return [labels[i] for i in keep]


# ----------------------------------------------------------------------------- encoding

def _png(rgb: np.ndarray) -> str:
    """A data: URI of an (H, W, 3) or (H, W) uint8 image as a palette PNG."""
    from PIL import Image

    image = Image.fromarray(rgb)
    if image.mode == "RGB":
        image = image.quantize(colors=_PALETTE_COLORS, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    buf = io.BytesIO()
    image.save(buf, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


_SCRIPT = """(function () {
  var root = document.getElementById("%(id)s");
  if (!root) { return; }
  var frames = %(frames)s, labels = %(labels)s, interval = %(interval)d;
  var img = root.querySelector("img"), slider = root.querySelector("input");
  var button = root.querySelector("button"), label = root.querySelector(".gmc-anim-label");
  var timer = null, k = 0;
  function show(i) { k = i; img.src = frames[i]; slider.value = i; label.textContent = labels[i]; }
  function stop() { clearTimeout(timer); timer = null; button.textContent = "\\u25B6 play"; button.setAttribute("aria-pressed", "false"); }
  function tick() { show((k + 1) %% frames.length); timer = setTimeout(tick, k === frames.length - 1 ? 4 * interval : interval); }
  button.addEventListener("click", function () {
    if (timer !== null) { stop(); return; }
    button.textContent = "\\u275A\\u275A pause"; button.setAttribute("aria-pressed", "true");
    if (k === frames.length - 1) { show(0); }
    timer = setTimeout(tick, interval);
  });
  slider.addEventListener("input", function () { stop(); show(parseInt(slider.value, 10)); });
  show(%(start)d);
})();"""


def _html(uris: list[str], labels: list[str], width: int, height: int, *, title: str | None,
          caption: str | None, alt: str | None, interval_ms: float, start: int) -> str:
    uid = f"gmc-anim-{next(_COUNTER)}-{abs(hash(uris[0])) % 10**8}"
    text = caption or title or f"Animation in {len(uris)} frames."
    alt = alt or text
    esc = html.escape
    parts = [
        f'<figure class="gmc-animation" id="{uid}" style="margin:1em 0;max-width:{max(width, 480)}px">',
    ]
    if title:
        parts.append(f'<div class="gmc-anim-title" style="font-weight:600;margin-bottom:.3em">{esc(title)}</div>')
    parts += [
        f'<img src="{uris[start]}" alt="{esc(alt)}" width="{width}" height="{height}" '
        'style="max-width:100%;height:auto;display:block">',
        '<div class="gmc-anim-controls" style="display:flex;align-items:center;gap:.5em;margin-top:.3em">',
        '<button type="button" aria-pressed="false" style="min-width:6em">&#9654; play</button>',
        f'<input type="range" min="0" max="{len(uris) - 1}" value="{start}" step="1" '
        f'aria-label="frame" style="flex:1">',
        f'<span class="gmc-anim-label" aria-live="off" style="font-size:.85em;white-space:nowrap;min-width:7em">{esc(labels[start])}</span>',
        "</div>",
    ]
    if caption:
        parts.append(f'<figcaption style="font-size:.9em;margin-top:.3em">{esc(caption)}</figcaption>')
    parts.append("</figure>")
    script = _SCRIPT % {"id": uid, "frames": json.dumps(uris), "labels": json.dumps(labels),
                        "interval": round(interval_ms), "start": start}
    return "\n".join(parts) + f"\n<script>\n{script}\n</script>\n"


# ----------------------------------------------------------------------------- particles

def particles(frames, lo, hi, *, background=None, from_log: bool = False, interval_ms: float = 100,
              title: str | None = None, caption: str | None = None, alt: str | None = None,
              labels: Sequence[str] | None = None, max_frames: int = 40, dpi: int = 80,
              size: float = 3.2, color: str = COLORS["data"], point_size: float = 3.0,
              alpha: float = 0.7, cmap: str = "Greys", start: str = "first") -> Animation:
    """Animate a cloud of 2-D points, optionally over a density that changes with the frame.

    Used by chapter 5 (a Langevin cloud staying at π), chapter 6 (annealing) and chapter 7
    (forward and reverse diffusion).

    Args:
        frames: (T, N, 2) positions of N points at T times (T >= 1).
        lo, hi: the box [lo, hi]², scalars or pairs (x, y); points outside are cut off.
        background: None, a (n, m) table drawn under every frame, or (T, n', m') tables, one
            per frame; ``table[i, j]`` at x-cell i, y-cell j (as in :mod:`gm_course.plots`).
            Each frame's table is scaled to its own maximum (the picture shows the shape) and
            drawn in light greys (``cmap``) so that the points stand out.
        from_log: the background holds log-densities (exp is shown; -inf is blank).
        interval_ms: time between frames when playing (the last frame is held 4× longer).
        title, caption: text above and below the animation; ``alt`` (default: the caption,
            else the title) is the image's alternative text — say what the animation shows.
        labels: T strings, one per frame (e.g. ``"t = 0.50"``); default ``"frame k of T"``.
        max_frames: at most this many evenly spaced frames are kept (first and last included).
        dpi, size: frame resolution and size in inches (square); size × dpi pixels a side.
        start: ``"first"`` or ``"last"``: the frame shown before playing.

    Returns:
        An :class:`Animation` (display it, or leave it as a cell's last expression).
    """
    pts = _array(frames, "frames")
    if pts.ndim != 3 or pts.shape[2] != 2 or pts.shape[0] < 1 or pts.shape[1] < 1:
        raise ValueError(f"frames must have shape (T, N, 2) with T, N >= 1, got {pts.shape}")
    if not np.isfinite(pts).all():
        raise ValueError("frames must contain only finite values")
    (xlo, xhi), (ylo, yhi) = _box(lo, hi)
    max_frames = _count(max_frames, "max_frames", 1)
    interval_ms = _positive(interval_ms, "interval_ms")
    dpi = _count(dpi, "dpi", 20)
    size = _positive(size, "size")
    if start not in ("first", "last"):
        raise ValueError(f"start must be 'first' or 'last', got {start!r}")
    T = pts.shape[0]
    keep = frame_indices(T, max_frames)
    texts = _labels(labels, T, keep)

    tables = None
    if background is not None:
        bg = _array(background, "background")
        if bg.ndim == 2:
            bg = bg[None]
        if bg.ndim != 3 or bg.shape[0] not in (1, T) or min(bg.shape[1:]) < 1:
            raise ValueError(f"background must have shape (n, m) or ({T}, n, m), got {bg.shape}")
        if np.isnan(bg).any():
            raise ValueError("background contains NaN")
        if from_log:
            bg = np.exp(bg - np.max(np.where(np.isfinite(bg), bg, -np.inf), axis=(1, 2), keepdims=True))
        elif (bg < 0).any() or not np.isfinite(bg).all():
            raise ValueError("background must be finite and >= 0 (pass from_log=True for log-densities)")
        peak = bg.max(axis=(1, 2), keepdims=True)
        tables = bg / np.where(peak > 0, peak, 1.0)

    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(size, size), dpi=dpi)
    canvas = FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    image = None
    if tables is not None:
        image = ax.imshow(tables[0].T, origin="lower", extent=(xlo, xhi, ylo, yhi), cmap=cmap,
                          vmin=0.0, vmax=1.6, interpolation="bilinear", aspect="auto")
    cloud = ax.scatter(pts[0, :, 0], pts[0, :, 1], s=point_size, color=color, alpha=alpha, linewidths=0)
    ax.set_xlim(xlo, xhi)
    ax.set_ylim(ylo, yhi)
    ax.set_aspect("equal")
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    fig.tight_layout(pad=0.3)

    uris = []
    for i in keep:
        cloud.set_offsets(pts[i])
        if image is not None:
            image.set_data(tables[i if tables.shape[0] > 1 else 0].T)
        canvas.draw()
        uris.append(_png(np.asarray(canvas.buffer_rgba())[..., :3].copy()))
    width, height = canvas.get_width_height()
    return Animation(_html(uris, texts, width, height, title=title, caption=caption, alt=alt,
                           interval_ms=interval_ms, start=0 if start == "first" else len(uris) - 1),
                     len(uris), width, height)


# ----------------------------------------------------------------------------- images

def images(frames, *, ncols: int | None = None, vmin: float | None = None, vmax: float | None = None,
           cmap: str = "gray", scale: int | None = None, interval_ms: float = 100,
           title: str | None = None, caption: str | None = None, alt: str | None = None,
           labels: Sequence[str] | None = None, max_frames: int = 40, start: str = "first",
           target_width: int = 320) -> Animation:
    """Animate an image, or a grid of B images, over T frames (e.g. a reverse diffusion).

    Used by chapter 9 (the U-Net's reverse process on 8×8 digits).

    Args:
        frames: (T, H, W) one image per frame, or (T, B, H, W) B images per frame (a grid of
            ``ncols`` columns, default ⌈√B⌉). Row 0 of an image is drawn at the top.
        vmin, vmax: the value range mapped to the colour map (default: the range over all
            frames, so brightness is comparable between frames).
        cmap: a matplotlib colour map name.
        scale: pixels per image pixel (nearest neighbour); default fits ``target_width``.
        interval_ms, title, caption, alt, labels, max_frames, start: as in :func:`particles`.

    Returns:
        An :class:`Animation`.
    """
    arr = _array(frames, "frames")
    if arr.ndim == 3:
        arr = arr[:, None]
    if arr.ndim != 4 or min(arr.shape) < 1:
        raise ValueError(f"frames must have shape (T, H, W) or (T, B, H, W), got {np.shape(frames)}")
    if not np.isfinite(arr).all():
        raise ValueError("frames must contain only finite values")
    T, B, H, W = arr.shape
    ncols = int(np.ceil(np.sqrt(B))) if ncols is None else _count(ncols, "ncols", 1)
    nrows = int(np.ceil(B / ncols))
    max_frames = _count(max_frames, "max_frames", 1)
    interval_ms = _positive(interval_ms, "interval_ms")
    if start not in ("first", "last"):
        raise ValueError(f"start must be 'first' or 'last', got {start!r}")
    lo = float(arr.min()) if vmin is None else float(vmin)
    hi = float(arr.max()) if vmax is None else float(vmax)
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise ValueError(f"vmin and vmax must be finite, got {vmin!r}, {vmax!r}")
    if hi <= lo:
        hi = lo + 1.0
    pad = 1
    if scale is None:
        scale = max(1, (_count(target_width, "target_width", 8) - pad * (ncols + 1)) // (ncols * W))
    scale = _count(scale, "scale", 1)
    keep = frame_indices(T, max_frames)
    texts = _labels(labels, T, keep)

    import matplotlib

    lut = (matplotlib.colormaps[cmap](np.linspace(0.0, 1.0, 256))[:, :3] * 255).round().astype(np.uint8)
    cell_h, cell_w = H * scale, W * scale
    height, width = nrows * cell_h + pad * (nrows + 1), ncols * cell_w + pad * (ncols + 1)
    uris = []
    for i in keep:
        levels = np.clip((arr[i] - lo) / (hi - lo), 0.0, 1.0)
        idx = (levels * 255).round().astype(np.uint8)  # (B, H, W)
        canvas = np.full((height, width, 3), 255, dtype=np.uint8)
        for b in range(B):
            r, c = divmod(b, ncols)
            y0, x0 = pad + r * (cell_h + pad), pad + c * (cell_w + pad)
            big = np.repeat(np.repeat(idx[b], scale, axis=0), scale, axis=1)
            canvas[y0:y0 + cell_h, x0:x0 + cell_w] = lut[big]
        uris.append(_png(canvas))
    return Animation(_html(uris, texts, width, height, title=title, caption=caption, alt=alt,
                           interval_ms=interval_ms, start=0 if start == "first" else len(uris) - 1),
                     len(uris), width, height)
