"""Tests for gm_course.animations: frames are the given dynamics, pages stay light and offline."""

import base64
import io
import re

import numpy as np
import pytest
import torch
from PIL import Image

from gm_course import animations as A

DATA_URI = re.compile(r"data:image/png;base64,([A-Za-z0-9+/=]+)")


def decoded_frames(anim):
    """The distinct frames of an animation's script, decoded to (H, W, 3) uint8 arrays."""
    script = anim.html.split("<script>")[1]
    return [np.asarray(Image.open(io.BytesIO(base64.b64decode(u))).convert("RGB")) for u in DATA_URI.findall(script)]


def cloud(T=5, N=200, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(T, N, 2, generator=g, dtype=torch.float64)


def test_frame_indices_keep_first_and_last_and_are_evenly_spaced():
    assert A.frame_indices(10, 40).tolist() == list(range(10))
    idx = A.frame_indices(1001, 41)
    assert idx[0] == 0 and idx[-1] == 1000 and len(idx) == 41
    assert np.all(np.diff(idx) == 25)


def test_particles_frames_follow_the_points():
    # all points on the left in frame 0, on the right in frame 1: the drawn points move right
    T, N = 2, 50
    frames = torch.zeros(T, N, 2)
    frames[0, :, 0], frames[1, :, 0] = -2.0, 2.0
    anim = A.particles(frames, -3, 3, point_size=20)
    assert anim.n_frames == 2
    first, second = decoded_frames(anim)
    assert first.shape == (anim.height, anim.width, 3)

    def blue_column(img):  # mean column of the data colour (#0072B2: blue high, red low)
        mask = (img[..., 2].astype(int) - img[..., 0].astype(int)) > 60
        assert mask.sum() > 10
        return np.nonzero(mask)[1].mean()

    assert blue_column(second) - blue_column(first) > 0.4 * anim.width


def test_particles_subsamples_frames_and_labels():
    frames = cloud(T=101, N=20)
    labels = [f"t = {k / 100:.2f}" for k in range(101)]
    anim = A.particles(frames, -4, 4, labels=labels, max_frames=11, dpi=40, size=2)
    assert anim.n_frames == 11
    assert len(decoded_frames(anim)) == 11
    assert '"t = 0.00"' in anim.html and '"t = 1.00"' in anim.html and '"t = 0.10"' in anim.html
    assert '"t = 0.05"' not in anim.html


def test_background_per_frame_is_drawn_and_light():
    n = 30
    c = torch.linspace(-3, 3, n)
    gx, gy = torch.meshgrid(c, c, indexing="ij")
    # frame 0: mass at the left edge (x first index); frame 1: at the right edge
    bg = torch.stack([torch.exp(-((gx + 2.5) ** 2 + gy**2)), torch.exp(-((gx - 2.5) ** 2 + gy**2))])
    frames = torch.full((2, 1, 2), 10.0)  # the one point lies outside the box
    anim = A.particles(frames, -3, 3, background=bg, dpi=50, size=3)
    first, second = decoded_frames(anim)
    darkness = lambda img: 255 - img.mean(axis=2)  # noqa: E731
    h, w = first.shape[:2]
    left, right = slice(int(0.2 * w), int(0.45 * w)), slice(int(0.6 * w), int(0.95 * w))
    rows = slice(int(0.1 * h), int(0.8 * h))
    assert darkness(first)[rows, left].mean() > darkness(first)[rows, right].mean() + 5
    assert darkness(second)[rows, right].mean() > darkness(second)[rows, left].mean() + 5
    # log-densities give the same picture
    log_anim = A.particles(frames, -3, 3, background=torch.log(bg), from_log=True, dpi=50, size=3)
    assert np.abs(decoded_frames(log_anim)[0].astype(int) - first.astype(int)).mean() < 2


def test_images_grid_shows_the_values():
    T, B, H, W = 3, 4, 8, 8
    frames = torch.zeros(T, B, H, W)
    frames[1] = 1.0
    frames[2, 0, 0, 0] = 1.0  # one bright pixel, top-left of the first image
    anim = A.images(frames, scale=4, cmap="gray")
    assert anim.n_frames == 3
    black, white, dot = decoded_frames(anim)
    assert anim.width == 2 * 8 * 4 + 3 and anim.height == anim.width  # 2x2 grid, 1-px gaps
    assert black[1:33, 1:33].max() == 0 and white[1:33, 1:33].min() == 255
    assert dot[1:5, 1:5].min() == 255 and dot[5:33, 5:33].max() == 0  # row 0 is at the top


def test_html_is_self_contained_accessible_and_light():
    frames = cloud(T=200, N=500)
    anim = A.particles(frames, -4, 4, title="A cloud", caption="Five hundred Gaussian points jittering.")
    html = anim.html
    assert anim.n_frames == 40
    assert "http://" not in html and "https://" not in html  # nothing loaded from elsewhere
    assert 'alt="Five hundred Gaussian points jittering."' in html
    assert "<figcaption" in html and "<button" in html and 'type="range"' in html
    assert anim._repr_html_() == html
    assert anim.nbytes < 600_000, anim
    # two animations on one page do not share an element id
    other = A.particles(frames, -4, 4)
    ids = re.findall(r'id="(gmc-anim-[^"]+)"', html + other.html)
    assert len(ids) == len(set(ids)) == 2


def test_seeded_frames_give_identical_images():
    a, b = A.particles(cloud(), -3, 3), A.particles(cloud(), -3, 3)
    assert [f.tobytes() for f in decoded_frames(a)] == [f.tobytes() for f in decoded_frames(b)]


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(frames=torch.zeros(3, 4)), "frames must have shape"),
        (dict(frames=torch.full((2, 3, 2), float("nan"))), "finite"),
        (dict(lo=2, hi=1), "grid_lo must be below grid_hi"),
        (dict(max_frames=0), "max_frames"),
        (dict(interval_ms=0), "interval_ms"),
        (dict(background=torch.ones(3, 5, 5)), "background must have shape"),
        (dict(background=-torch.ones(5, 5)), "background must be finite and >= 0"),
        (dict(labels=["a"]), "labels must be 2 strings"),
        (dict(start="middle"), "start must be"),
    ],
)
def test_particles_bad_input(kwargs, match):
    args = dict(frames=torch.zeros(2, 3, 2), lo=-1, hi=1)
    args.update(kwargs)
    frames, lo, hi = args.pop("frames"), args.pop("lo"), args.pop("hi")
    with pytest.raises(ValueError, match=match):
        A.particles(frames, lo, hi, **args)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(frames=torch.zeros(4, 4)), "frames must have shape"),
        (dict(frames=torch.zeros(2, 1, 1, 4, 4)), "frames must have shape"),
        (dict(frames=torch.full((2, 4, 4), float("inf"))), "finite"),
        (dict(ncols=0), "ncols"),
        (dict(scale=0), "scale"),
    ],
)
def test_images_bad_input(kwargs, match):
    args = dict(frames=torch.zeros(2, 4, 4))
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        A.images(args.pop("frames"), **args)
