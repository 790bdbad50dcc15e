"""Bilinear image sampling and resizing, on NumPy or CuPy: the one copy the data room uses.

* `sample_bilinear` reads images at arbitrary (x, y) points: imageDataAugmenter's warps and
  the glyph warps of the generated digit set.
* `resize` changes the height and width of images: augmentedImageDatastore's "resize" mode and
  imageDatastore's ``read_all(image_size)``.

Images are H x W x C x N (MATLAB's layout; `resize` takes any trailing axes). Pixel (row i,
column j) is the point x = j, y = i: 0-based pixel centres, x to the right, y down.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..backend import array_module, to_module

__all__ = ["sample_bilinear", "resize", "resize_weights"]


def sample_bilinear(X: Any, xs: Any, ys: Any, fill: Any = 0.0, source: Any = None) -> Any:
    """Values of the images X (H x W x C x N) at the points (xs, ys) (each n x h x w, 0-based
    pixels): h x w x C x n, in X's dtype (integer images are rounded and clipped back).

    Point set k reads image ``source[k]`` (an integer array of n indices into N, on the host or
    X's device; default k, so n = N). A point blends its four neighbouring pixels (bilinear);
    neighbours outside the image read `fill` (a scalar or one value per channel), as if the
    image were padded with it, and non-finite points read `fill`. The arithmetic is in xs's
    dtype: two blends along x, then one along y (``top + (bottom - top) * fy``), so points on
    whole pixels give those pixels exactly.
    """
    xp = array_module(X)
    H, W, C, N = X.shape
    flat = _framed(X, fill, xs.dtype)
    # points beyond the image, and non-finite ones (fmin/fmax turn NaN into the bound), are
    # moved to [-2, W] x [-2, H], where all four neighbours are frame: they read `fill` exactly
    xs, ys = xp.fmax(xp.fmin(xs, W), -2), xp.fmax(xp.fmin(ys, H), -2)
    x0, y0 = xp.floor(xs), xp.floor(ys)
    fx, fy = (xs - x0)[..., None], (ys - y0)[..., None]
    images = xp.arange(N) if source is None else to_module(source, xp)
    first = images.astype(np.int64) * ((H + 4) * (W + 4)) + 2 * (W + 4) + 2   # pixel (0, 0)
    index = first[:, None, None] + y0.astype(np.int64) * (W + 4) + x0.astype(np.int64)
    top = _take(flat, index)                       # the top-left neighbours,
    index += 1
    top += (_take(flat, index) - top) * fx         # blended with the top-right ones along x
    index += W + 3
    bottom = _take(flat, index)                    # the bottom-left ones,
    index += 1
    bottom += (_take(flat, index) - bottom) * fx   # with the bottom-right ones
    top += (bottom - top) * fy                     # then the two along y
    return xp.transpose(_cast(top, X.dtype), (1, 2, 3, 0))


def _framed(X: Any, fill: Any, dtype: np.dtype) -> Any:
    """The images of X (H x W x C x N) in `dtype`, each inside a 2-pixel frame of `fill`, as
    rows of C values: (N (H + 4) (W + 4)) x C, image-major."""
    xp = array_module(X)
    H, W, C, N = X.shape
    fill_values = np.atleast_1d(np.asarray(fill, dtype=np.float64))
    if fill_values.size not in (1, C):
        raise ValueError(f"FillValue must be a scalar or have one value per channel ({C}), got "
                         f"{fill_values.size} values")
    padded = xp.empty((N, H + 4, W + 4, C), dtype=dtype)
    padded[...] = to_module(fill_values.astype(dtype), xp)
    padded[:, 2:H + 2, 2:W + 2] = xp.transpose(X, (3, 0, 1, 2))
    return padded.reshape(-1, C)


def _take(flat: Any, index: Any) -> Any:
    """Rows `index` (any shape) of `flat` (M x C): index.shape x C."""
    xp = array_module(flat)
    return xp.take(flat, index.reshape(-1), axis=0).reshape(*index.shape, flat.shape[1])


def _cast(values: Any, dtype: np.dtype) -> Any:
    """Float `values` as `dtype`: integer and logical types are rounded (and clipped) first."""
    if dtype.kind not in "iub":
        return values.astype(dtype, copy=False)
    xp = array_module(values)
    rounded = xp.rint(values)
    if dtype.kind != "b":
        info = np.iinfo(dtype)
        rounded = xp.clip(rounded, info.min, info.max)
    return rounded.astype(dtype)


def resize_weights(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) float64 weights that resize one axis of n_in pixels to n_out.

    Output pixel i sits at source position s = (i + 0.5) * n_in / n_out - 0.5 (pixel centres
    aligned) and takes the triangle weight max(0, 1 - |s - j|) of source pixel j; when
    shrinking (k = n_out / n_in < 1) the triangle is k times wider, max(0, 1 - k |s - j|),
    which antialiases (MATLAB's imresize, Pillow's BILINEAR). Rows are normalized to sum to 1,
    which renormalizes the edges.
    """
    k = n_out / n_in
    source = (np.arange(n_out) + 0.5) / k - 0.5
    distance = np.abs(source[:, None] - np.arange(n_in)[None, :])
    w = np.maximum(0.0, 1.0 - distance * k) if k < 1 else np.maximum(0.0, 1.0 - distance)
    return w / w.sum(axis=1, keepdims=True)


def resize(X: Any, height: int, width: int) -> Any:
    """Bilinear, antialiased resize (`resize_weights`) of H x W x ... images (NumPy or CuPy)
    to height x width x ...: rows, then columns, as two matrix products on X's array module.

    Float images keep their dtype; others give float32. X itself is returned when it already
    has that size.
    """
    xp = array_module(X)
    if X.shape[:2] == (height, width):
        return X
    dtype = X.dtype if X.dtype.kind == "f" else np.dtype(np.float32)
    wy = to_module(resize_weights(X.shape[0], height).astype(dtype), xp)
    wx = to_module(resize_weights(X.shape[1], width).astype(dtype), xp)
    rows = xp.tensordot(wy, X.astype(dtype), axes=(1, 0))            # h x W x ...
    return xp.moveaxis(xp.tensordot(wx, rows, axes=(1, 1)), 0, 1)   # h x w x ...
