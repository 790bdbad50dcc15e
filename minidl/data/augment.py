"""Random geometric image augmentation, as MATLAB's imageDataAugmenter.

``imageDataAugmenter(RandRotation=[-10, 10], RandXReflection=True, ...)`` describes a random
affine transform; ``aug.augment(X)`` applies a fresh one to every image of a batch.
augmentedImageDatastore (minidl/data/augmented_datastore.py) uses it to perturb a data set anew
every epoch.

What MATLAB does, as its documentation describes it (MathWorks reference pages for
imageDataAugmenter and augment; the R2017b-era source of the class, found in the code index;
read through the search tool and paraphrased here):

* Options and defaults: FillValue 0 (a scalar, or one value per channel); RandXReflection and
  RandYReflection false (true: reflect with probability 1/2); RandRotation [0 0] degrees;
  RandScale, RandXScale, RandYScale [1 1] (RandScale is isotropic, and when it is given the X
  and Y scales are ignored); RandXShear, RandYShear [0 0], shear angles in degrees inside
  (-90, 90); RandXTranslation, RandYTranslation [0 0] pixels. A range [min max] is sampled
  uniformly; a function handle with no inputs may replace a range and returns the value itself.
  The display lists the properties in that order.
* The transform of one image is a rotation, then a shear, a scale and a reflection, each about
  the image centre, then a translation. Positive angles turn the image counterclockwise on
  screen (x to the right, y down). Images are resampled with bilinear ("linear")
  interpolation; points that fall outside are FillValue.

What minidl does differently, and why: `augment(X)` takes an H x W x C x N batch and gives
every image its own transform (MATLAB's augment gives all images of a cell array the same
one). Rotation and the rest are about the exact centre ((W-1)/2, (H-1)/2 in 0-based pixels), so
a 90-degree turn of a square image is exactly ``np.rot90``. Pixels next to the border blend
with FillValue (the image is padded with it; `minidl.data.image.sample_bilinear`).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from typing import Any

import numpy as np

from .._matlab import check_flag, format_properties, format_value, parse_name_value
from ..backend import array_module, generator, to_module
from ..core import dlarray
from .image import sample_bilinear

__all__ = ["ImageDataAugmenter", "imageDataAugmenter"]

Range = tuple[float, float] | Callable[[], float]

_AUG_DEFAULTS: dict[str, Any] = {
    "FillValue": 0.0, "RandXReflection": False, "RandYReflection": False,
    "RandRotation": (0.0, 0.0), "RandScale": (1.0, 1.0), "RandXScale": (1.0, 1.0),
    "RandYScale": (1.0, 1.0), "RandXShear": (0.0, 0.0), "RandYShear": (0.0, 0.0),
    "RandXTranslation": (0.0, 0.0), "RandYTranslation": (0.0, 0.0),
}
_RANGES = ("RandRotation", "RandScale", "RandXScale", "RandYScale", "RandXShear", "RandYShear",
           "RandXTranslation", "RandYTranslation")


# ---- option checks ---------------------------------------------------------------------------
def _is_number(v: Any) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, (bool, np.bool_))


def _check_range(name: str, value: Any) -> Range:
    """A [min max] range as a float pair (min <= max, in the option's domain) or a callable."""
    if callable(value):
        return value
    items = None if isinstance(value, str) else np.asarray(value, dtype=object).ravel().tolist()
    if not items or len(items) != 2 or not all(_is_number(v) and math.isfinite(v) for v in items):
        raise ValueError(f"{name} must be a vector [min max] of two finite numbers or a function "
                         f"(a callable with no arguments), got {value!r}")
    lo, hi = float(items[0]), float(items[1])
    if lo > hi:
        raise ValueError(f"{name} must be [min max] with min <= max, got [{lo:g} {hi:g}]")
    _check_domain(name, np.array([lo, hi]))
    return lo, hi


def _check_domain(name: str, values: np.ndarray) -> None:
    """Scales must be positive, shear angles inside (-90, 90) degrees."""
    if "Scale" in name and not np.all(values > 0):
        raise ValueError(f"{name} values must be positive scale factors, got "
                         f"{values.ravel()[:4].tolist()}")
    if "Shear" in name and not np.all(np.abs(values) < 90):
        raise ValueError(f"{name} values must be shear angles in degrees inside (-90, 90), got "
                         f"{values.ravel()[:4].tolist()}")



def _check_fill(name: str, value: Any) -> float | tuple[float, ...]:
    items = None if isinstance(value, str) else np.asarray(value, dtype=object).ravel().tolist()
    if not items or not all(_is_number(v) for v in items):
        raise ValueError(f"{name} must be a number or a vector of one number per channel, got "
                         f"{value!r}")
    return float(items[0]) if len(items) == 1 else tuple(float(v) for v in items)


# ---- imageDataAugmenter ----------------------------------------------------------------------
class ImageDataAugmenter:
    """A random affine transform per image (MATLAB's imageDataAugmenter); see `augment`.

    Properties keep MATLAB's names; setting one checks it as the constructor does.
    """

    def __init__(self, options: dict[str, Any]) -> None:
        self._scale_given = False
        for name, value in options.items():
            setattr(self, name, value)

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "FillValue":
            value = _check_fill(name, value)
        elif name in ("RandXReflection", "RandYReflection"):
            value = check_flag(name, value)
        elif name in _RANGES:
            value = _check_range(name, value)
            if name == "RandScale":
                object.__setattr__(self, "_scale_given", callable(value) or value != (1.0, 1.0))
        elif not name.startswith("_"):
            raise AttributeError(f"imageDataAugmenter has no property {name!r}; properties: "
                                 f"{', '.join(_AUG_DEFAULTS)}")
        object.__setattr__(self, name, value)

    def __repr__(self) -> str:
        def shown(name: str) -> str:
            v = getattr(self, name)
            return format_value(list(v) if isinstance(v, tuple) else v)
        return format_properties("imageDataAugmenter", [(None, [(n, shown(n))
                                                                for n in _AUG_DEFAULTS])])

    @property
    def is_identity(self) -> bool:
        """True when every option leaves images unchanged (the default augmenter)."""
        return all(getattr(self, n) == _AUG_DEFAULTS[n] for n in _AUG_DEFAULTS
                   if n != "FillValue")

    def draw(self, n: int) -> np.ndarray:
        """Host parameters of n random transforms: a (9, n) float64 array of rows x-reflection,
        y-reflection (+1/-1), rotation (degrees), x-scale, y-scale, x-shear, y-shear (degrees),
        x-translation, y-translation (pixels). Drawn from minidl's generator (``rng`` repeats
        them), in this fixed order, skipping options whose range is one value."""
        g = generator()
        rows = np.ones((9, n))
        for k, name in enumerate(("RandXReflection", "RandYReflection")):
            if getattr(self, name):
                rows[k] = np.where(g.random(n) < 0.5, -1.0, 1.0)
        rows[2] = _sample("RandRotation", self.RandRotation, n, g)
        if self._scale_given:  # one isotropic scale; RandXScale and RandYScale are ignored
            rows[3] = rows[4] = _sample("RandScale", self.RandScale, n, g)
        else:
            rows[3] = _sample("RandXScale", self.RandXScale, n, g)
            rows[4] = _sample("RandYScale", self.RandYScale, n, g)
        for k, name in enumerate(("RandXShear", "RandYShear", "RandXTranslation",
                                  "RandYTranslation"), start=5):
            rows[k] = _sample(name, getattr(self, name), n, g)
        return rows

    def augment(self, X: Any) -> Any:
        """A randomly transformed copy of an H x W x C x N batch (or one H x W x C image).

        Each image gets its own transform (see the module docstring), resampled bilinearly on
        the array module of X (NumPy or CuPy) with FillValue outside. Shape and dtype are kept
        (integer images are rounded back). A dlarray gives a dlarray of the same format.
        """
        if isinstance(X, dlarray):
            return dlarray._wrap(self.augment(X._data), X.fmt)
        if X.ndim == 3:
            return self.augment(X[..., None])[..., 0]
        if X.ndim != 4:
            raise ValueError(f"augment: X must be an H x W x C x N batch or an H x W x C image, "
                             f"got an array of shape {tuple(X.shape)}")
        if self.is_identity or X.shape[3] == 0:
            return X.copy()
        return warp(X, self.draw(X.shape[3]), self.FillValue)


def _sample(name: str, spec: Range, n: int, g: np.random.Generator) -> np.ndarray:
    """n values of one option: uniform in [min, max], or n calls of the user's function."""
    if callable(spec):
        values = np.array([spec() for _ in range(n)], dtype=object)  # one call per image
        if not all(_is_number(v) and math.isfinite(v) for v in values):
            raise ValueError(f"the {name} function must return a finite number, got "
                             f"{values[:3].tolist()}")
        values = values.astype(np.float64)
        _check_domain(name, values)
        return values
    lo, hi = spec
    return np.full(n, lo) if lo == hi else lo + (hi - lo) * g.random(n)


def imageDataAugmenter(*name_value: Any, **options: Any) -> ImageDataAugmenter:
    """Configure random image augmentation, as MATLAB's imageDataAugmenter.

    ``imageDataAugmenter(RandRotation=[-10, 10], RandXTranslation=[-3, 3])`` or MATLAB's
    name-value pairs (case-insensitive). Options (defaults give the identity): FillValue 0,
    RandXReflection/RandYReflection False, RandRotation [0 0] (degrees), RandScale,
    RandXScale, RandYScale [1 1], RandXShear/RandYShear [0 0] (degrees, inside (-90, 90)),
    RandXTranslation/RandYTranslation [0 0] (pixels). Ranges may be functions with no
    arguments that return the value. Raises ValueError naming the option for a bad value.
    """
    return ImageDataAugmenter(parse_name_value(name_value, options, _AUG_DEFAULTS,
                                               "imageDataAugmenter"))


# ---- the warp: vectorized inverse mapping, then the bilinear sampler ---------------------------
IDENTITY_PARAMS = np.array([1.0, 1.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0])  # draw()'s 9 rows


def warp(X: Any, params: np.ndarray, fill: Any, scale: Any = 1.0, shift: Any = 0.0) -> Any:
    """Warp every image of X (H x W x C x N) by its affine transform; output of the same shape.

    ``params`` (9 x N, host) are `ImageDataAugmenter.draw`'s rows (`IDENTITY_PARAMS` is the
    identity's column). ``scale`` = (ky, kx), scalars or length-N arrays of module X, conjugates
    the transform (K A K^-1, translation K t: the transform of a source image that was resized
    by K); ``shift`` = (dy, dx) is added to the translation. Output pixel p takes the bilinear
    value (`sample_bilinear`, `fill` outside) at A^-1 (p - c - t) + c.
    """
    xp = array_module(X)
    H, W, C, N = X.shape
    dtype = X.dtype if X.dtype.kind == "f" else np.dtype(np.float32)
    fx, fy, rot, sx, sy, shx, shy, tx, ty = to_module(params.astype(dtype), xp)[:, :, None, None]
    ky, kx = (scale, scale) if np.isscalar(scale) else (_column(s, xp) for s in scale)
    dy, dx = (shift, shift) if np.isscalar(shift) else (_column(s, xp) for s in shift)
    rad = math.pi / 180
    c, s = xp.cos(rot * rad), xp.sin(rot * rad)
    a, b = xp.tan(shx * rad), xp.tan(shy * rad)
    gx, gy = fx * sx, fy * sy
    # A = reflect * scale * shear * rotate (column vectors, x right, y down), conjugated by K
    a00, a01 = gx * (c - a * s), gx * (s + a * c) * (kx / ky)
    a10, a11 = gy * (b * c - s) * (ky / kx), gy * (b * s + c)
    det = a00 * a11 - a01 * a10
    cx, cy = (W - 1) / 2, (H - 1) / 2
    u = xp.arange(W, dtype=dtype)[None, None, :] - (cx + tx * kx + dx)
    v = xp.arange(H, dtype=dtype)[None, :, None] - (cy + ty * ky + dy)
    xs = (a11 * u - a01 * v) / det + cx   # (N, H, W) source coordinates
    ys = (a00 * v - a10 * u) / det + cy
    return sample_bilinear(X, xs, ys, fill)


def _column(a: Any, xp: Any) -> Any:
    """A length-N vector as an (N, 1, 1) array of module xp, for broadcasting over pixels."""
    return to_module(a, xp)[:, None, None] if not np.isscalar(a) else a
