"""The data room's one bilinear sampler and one resizer (minidl.data.image), against
independent formulas, Pillow, and the sampling that the digit set was generated with."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from minidl.backend import array_module
from minidl.data.image import resize, sample_bilinear
from tests.conftest import dev, host


# ---- resize -----------------------------------------------------------------------------------
def test_resize_matches_a_case_worked_by_hand():
    # rows 4 -> 2: output row 0 sits at source 0.5 and the triangle is twice as wide (k = 1/2),
    # weights 1 - |0.5 - j| / 2 = 3/4, 3/4, 1/4, 0, normalized by their sum 7/4: (3, 3, 1, 0)/7
    rows = np.array([[3, 3, 1, 0], [0, 1, 3, 3]]) / 7
    # columns 2 -> 4: outputs at source -0.25, 0.25, 0.75, 1.25 (the outer two renormalized)
    cols = np.array([[1, 0], [0.75, 0.25], [0.25, 0.75], [0, 1]])
    X = np.arange(8.0).reshape(4, 2) ** 2
    np.testing.assert_allclose(resize(X, 2, 4), rows @ X @ cols.T, rtol=1e-12)


def triangle_resize(X: np.ndarray, height: int, width: int) -> np.ndarray:
    """Per output pixel, the normalized triangle-weighted sum written out (float64 loops)."""
    def weights(n_in: int, n_out: int, i: int) -> np.ndarray:
        k = n_out / n_in
        centre = (i + 0.5) * n_in / n_out - 0.5
        half = 1 / min(k, 1)  # the triangle's half-width in source pixels
        w = np.array([max(0.0, 1 - abs(centre - j) / half) for j in range(n_in)])
        return w / w.sum()

    H, W = X.shape[:2]
    out = np.zeros((height, width) + X.shape[2:])
    for i in range(height):
        for j in range(width):
            w = np.outer(weights(H, height, i), weights(W, width, j))
            out[i, j] = np.tensordot(w, X, axes=([0, 1], [0, 1]))
    return out


@pytest.mark.parametrize("size", [(3, 4), (9, 11), (12, 16), (5, 8), (7, 3)])
def test_resize_matches_the_triangle_formula(size, rng):
    X = rng.random((5, 8, 2, 3))
    np.testing.assert_allclose(resize(X, *size), triangle_resize(X, *size), rtol=1e-12)


def test_resize_matches_pillow_bilinear(rng):
    image = (rng.random((6, 8)) * 255).astype(np.float32)
    for h, w in ((12, 16), (9, 11), (3, 4)):
        pillow = np.asarray(Image.fromarray(image).resize((w, h), Image.Resampling.BILINEAR))
        np.testing.assert_allclose(resize(image[..., None, None], h, w)[..., 0, 0], pillow,
                                   atol=1e-3)


def test_resize_keeps_constants_float_dtypes_and_arrays_of_that_size(xp):
    X = dev(xp, np.full((5, 7, 2, 3), 3.0))
    out = resize(X, 4, 11)
    assert array_module(out) is xp and out.shape == (4, 11, 2, 3) and out.dtype == np.float64
    np.testing.assert_allclose(host(out), 3.0)
    assert resize(X, 5, 7) is X
    assert resize(np.ones((4, 4, 1), np.uint8), 2, 2).dtype == np.float32


# ---- sample_bilinear --------------------------------------------------------------------------
def test_sampling_between_pixels_blends_the_four_neighbours(xp):
    X = np.arange(12.0).reshape(3, 4, 1, 1)                  # value = 4 y + x
    xs = np.array([[[0.0, 1.5, 2.25, 3.0]]])                 # one image: 1 x 1 x 4 points
    ys = np.array([[[0.0, 0.5, 1.75, 2.0]]])
    out = host(sample_bilinear(dev(xp, X), dev(xp, xs), dev(xp, ys)))
    assert out.shape == (1, 4, 1, 1)
    np.testing.assert_allclose(out[0, :, 0, 0], 4 * ys[0, 0] + xs[0, 0], rtol=1e-12)


def test_sampling_outside_reads_the_fill_of_each_channel(xp):
    X = np.ones((2, 2, 2, 1), np.float32)
    xs = np.array([[[-0.5, -3.0, 5.0, np.nan, 1.0]]], np.float32)
    ys = np.array([[[0.0, 0.0, 1.0, 0.0, np.inf]]], np.float32)
    out = host(sample_bilinear(dev(xp, X), dev(xp, xs), dev(xp, ys), fill=[5.0, -1.0]))
    np.testing.assert_array_equal(out[0, :, 0, 0], [3.0, 5.0, 5.0, 5.0, 5.0])
    np.testing.assert_array_equal(out[0, :, 1, 0], [0.0, -1.0, -1.0, -1.0, -1.0])
    with pytest.raises(ValueError, match="one value per channel"):
        sample_bilinear(X, xs, ys, fill=[1.0, 2.0, 3.0])


def test_source_picks_the_image_and_integers_are_rounded(xp):
    X = np.stack([np.full((2, 2, 1), v, np.uint8) for v in (10, 20, 255)], axis=3)
    xs = np.full((4, 1, 1), 0.5, np.float32)
    out = host(sample_bilinear(dev(xp, X), dev(xp, xs), dev(xp, xs), fill=300,
                               source=np.array([2, 0, 1, 2])))
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out.ravel(), [255, 10, 20, 255])
    out = sample_bilinear(X[..., :1], xs[:1] - 1, xs[:1] - 1, fill=0)  # a quarter of 10
    np.testing.assert_array_equal(out.ravel(), [2])


def clamped_bilinear(templates, glyph, x, y):
    """The digit set's original sampler: points clamped into the template (no fill)."""
    side = templates.shape[-1]
    x, y = np.clip(x, 0, side - 1.001), np.clip(y, 0, side - 1.001)
    x0, y0 = np.floor(x), np.floor(y)
    fx, fy = x - x0, y - y0
    index = y0.astype(np.intp) * side + x0.astype(np.intp)
    index += (glyph.astype(np.intp) * side * side)[:, None, None]
    flat = templates.reshape(-1)
    top = np.take(flat, index)
    top += (np.take(flat, index + 1) - top) * fx
    index += side
    bottom = np.take(flat, index)
    bottom += (np.take(flat, index + 1) - bottom) * fx
    return top + (bottom - top) * fy


def test_fill_zero_on_a_zero_border_is_bit_for_bit_the_clamped_sampling(rng):
    """Why dl.digits() is unchanged: its templates have a zero border (at least 6 px)."""
    templates = np.zeros((7, 16, 16), np.float32)
    templates[:, 2:-2, 2:-2] = rng.random((7, 12, 12))
    glyph = rng.integers(0, 7, 50)
    x = (rng.random((50, 9, 9)) * 24 - 4).astype(np.float32)
    y = (rng.random((50, 9, 9)) * 24 - 4).astype(np.float32)
    ours = sample_bilinear(templates.transpose(1, 2, 0)[:, :, None, :], x, y, source=glyph)
    np.testing.assert_array_equal(ours[:, :, 0, :].transpose(2, 0, 1),
                                  clamped_bilinear(templates, glyph, x, y))
