"""Input layers: ``imageInputLayer`` (H x W x C images, "SSCB") and ``featureInputLayer`` ("CB").

An input layer labels and checks what enters the network and normalizes it on every pass:

    'zerocenter'          X - Mean
    'zscore'              (X - Mean) / StandardDeviation
    'rescale-symmetric'   2 (X - Min) / (Max - Min) - 1        (to [-1, 1])
    'rescale-zero-one'    (X - Min) / (Max - Min)              (to [0, 1])
    'none', or a callable fn(X) -> Y

Statistics not yet computed (an empty Mean, ...) count as "no change" (Mean 0, StandardDeviation
1, no rescaling): MATLAB computes them in ``trainnet`` (which calls ``fit_normalization`` on the
training data), so a network used directly before training passes data through unnormalized.
Statistics are host NumPy float32 arrays: 1x1xC per channel ('auto'/'channel'), HxWxC per element
('element') or a scalar ('all'); for feature input C x 1 or a scalar.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from .._matlab import check_choice, check_positive_int, format_value, size_str
from ..backend import array_module, to_module
from ..core import dlarray
from ..data import feature_rows
from .base import Layer, Spec, check_input, name_option, parse_options, register_layer, show

__all__ = ["imageInputLayer", "featureInputLayer", "ImageInputLayer", "FeatureInputLayer"]

NORMALIZATIONS = ("zerocenter", "zscore", "rescale-symmetric", "rescale-zero-one", "none")
DIMENSIONS = ("auto", "channel", "element", "all")
STATISTICS = ("Mean", "StandardDeviation", "Min", "Max")
_NEEDS = {"zerocenter": ("Mean",), "zscore": ("Mean", "StandardDeviation"),
          "rescale-symmetric": ("Min", "Max"), "rescale-zero-one": ("Min", "Max")}
_BLOCK = 1 << 16  # values _moments reads at a time (a block stays in cache)


def check_normalization(name: str, v: Any) -> str | Callable:
    return v if callable(v) else check_choice(name, v, NORMALIZATIONS)


def input_options(default_norm: str) -> Spec:
    stat = (None, lambda _n, v: v)  # checked against the input size by the layer
    return {"Normalization": (default_norm, check_normalization),
            "NormalizationDimension": ("auto", lambda n, v: check_choice(n, v, DIMENSIONS)),
            "Mean": stat, "StandardDeviation": stat, "Min": stat, "Max": stat, **name_option()}


class InputLayer(Layer):
    """Shared behaviour of the input layers: statistics, normalization, input checks."""

    default_name = "input"
    fmt: str = ""
    constructor = ""  # the function that makes the layer, for error messages

    def __init__(self, opts: dict) -> None:
        super().__init__(Name=opts["Name"])
        self.Normalization = opts["Normalization"]
        self.NormalizationDimension = opts["NormalizationDimension"]
        for stat in STATISTICS:
            try:
                setattr(self, stat, opts[stat])
            except ValueError as err:
                raise ValueError(f"{self.constructor}: {err}") from None

    def __setattr__(self, name: str, value: Any) -> None:
        if name in STATISTICS and value is not None:
            value = self._check_statistic(name, value)
        super().__setattr__(name, value)

    @property
    def sample_size(self) -> tuple[int, ...]:
        """The size of one observation, e.g. (H, W, C) or (C,)."""
        raise NotImplementedError

    def _check_statistic(self, name: str, value: Any) -> np.ndarray:
        """A statistic as host float32: a scalar, one value per channel or one per element."""
        data = value.extractdata() if isinstance(value, dlarray) else value
        try:
            a = np.asarray(to_module(data, np) if array_module(data) is not np else data,
                           dtype=np.float32)
        except (TypeError, ValueError):
            raise ValueError(f"{name} must be numeric, got {format_value(value)}.") from None
        if not np.isfinite(a).all():
            raise ValueError(f"{name} must be finite, got {format_value(value)}.")
        if name == "StandardDeviation" and (a <= 0).any():  # zscore divides by it
            raise ValueError(f"StandardDeviation must be positive (zscore divides by it), got "
                             f"{format_value(value)}.")
        size, channels = self.sample_size, self.sample_size[-1]
        if a.size == 1:
            return a.reshape(())
        if a.size == channels:
            return a.reshape((1,) * (len(size) - 1) + (channels,) if len(size) > 1
                             else (channels, 1))
        padded = a.shape + (1,) * (len(size) - a.ndim)  # MATLAB drops trailing singletons
        if a.size == math.prod(size) and len(size) > 1 and padded[:len(size)] == size:
            return a.reshape(size)
        raise ValueError(f"{name} must be a scalar, have one value per channel "
                         f"({channels}) or have the input size {size_str(size)}, got an array of "
                         f"size {size_str(a.shape) or '1x1'}.")

    # ---- network hooks ------------------------------------------------------------------------
    def initialize(self, input_size: Any = None, fmt: Any = None) -> tuple[tuple[int, ...], str]:
        """An input layer defines the network's input: its size (B = 1) and format."""
        return self.sample_size + (1,), self.fmt

    def prepare(self, X: Any) -> dlarray:
        """X as a dlarray in this layer's format: raw arrays and unformatted dlarrays are read
        in MATLAB's layout (see ``_layout``) and labelled; float64 raw data becomes float32."""
        if not isinstance(X, dlarray):
            X = dlarray(X)
            if X.dtype == "float64":
                X = dlarray._wrap(X._data.astype("float32"))
        if not X.fmt:
            if X.ndim > len(self.fmt):
                raise ValueError(f"layer '{self.Name}' ({self.type_name}) expects data of at "
                                 f"most {len(self.fmt)} dimensions ({self._layout(raw=True)}), "
                                 f"got size {size_str(X.shape)}.")
            X = self._label(X)
        elif X.fmt == self.fmt[:-1]:
            X = dlarray(X, self.fmt)  # one observation: add the batch dimension
        return X

    def predict(self, X: dlarray) -> dlarray:
        X = check_input(self, X, (self.fmt,))
        if tuple(X.shape[:-1]) != self.sample_size:
            raise ValueError(f"layer '{self.Name}' ({self.type_name}) expects input of size "
                             f"{size_str(self.sample_size)} ({self._layout()}), got "
                             f"{size_str(X.shape[:-1])} (input size {size_str(X.shape)}, format "
                             f"'{X.fmt}').")
        return self._normalize(X)

    def _layout(self, raw: bool = False) -> str:
        """The order of the dimensions of formatted data, or of raw data (MATLAB's layout)."""
        if self.fmt == "CB":
            return "observations x features" if raw else "features x observations"
        return "height x width x channels x observations"

    def _label(self, X: dlarray) -> dlarray:
        """Unformatted X labelled in MATLAB's layout: H x W x C x N images; N x numFeatures
        features, where a vector is one observation when it has numFeatures values, else one
        feature of many observations."""
        if self.fmt != "CB":
            return dlarray(X, self.fmt)
        X = feature_rows(X, self.sample_size[0])
        if X.shape[1] != self.sample_size[0]:
            n = self.sample_size[0]
            raise ValueError(f"layer '{self.Name}' ({self.type_name}) expects raw data of size "
                             f"N x {n} (observations x features, one row per observation), got "
                             f"{size_str(X.shape)}; give a formatted dlarray (e.g. dlarray(X, "
                             "\"CB\")) for data with the features in columns")
        return dlarray(X, "BC")

    def _normalize(self, X: dlarray) -> dlarray:
        norm = self.Normalization
        if callable(norm):
            return norm(X)
        if norm == "zerocenter":
            return X - self._stat("Mean", X) if self.Mean is not None else X
        if norm == "zscore":
            Y = X - self._stat("Mean", X) if self.Mean is not None else X
            return Y / self._stat("StandardDeviation", X) if self.StandardDeviation is not None \
                else Y
        if norm.startswith("rescale") and self.Min is not None and self.Max is not None:
            lo, hi = self._stat("Min", X), self._stat("Max", X)
            Y = (X - lo) / (hi - lo)
            return Y * 2 - 1 if norm == "rescale-symmetric" else Y
        return X

    def _stat(self, name: str, X: dlarray) -> Any:
        """A statistic on X's device, shaped to broadcast against X (trailing batch axis)."""
        a = getattr(self, name)
        a = a.reshape(a.shape + (1,) * (len(self.fmt) - a.ndim)) if a.ndim else a
        return to_module(a, array_module(X._data))

    def missing_statistics(self) -> bool:
        """True when the Normalization needs a statistic (Mean, Min, ...) that is not set."""
        needs = _NEEDS.get(self.Normalization) if isinstance(self.Normalization, str) else ()
        return any(getattr(self, stat) is None for stat in needs or ())

    def fit_normalization(self, X: Any) -> None:
        """Compute the statistics the Normalization needs from the training data, in place.

        ``X`` holds all training observations in the layer's format order (H x W x C x N for
        images, C x N for features, as a formatted dlarray has them; NumPy, or anything
        ``np.asarray`` accepts). The statistics are per channel (NormalizationDimension 'auto'
        or 'channel'), per element ('element') or over everything ('all'): mean and the
        population standard deviation in one pass over cache-sized blocks (``_moments``), min
        and max directly, and stored as float32. A zero standard deviation
        or range becomes 1 (constant inputs stay finite).
        """
        needs = _NEEDS.get(self.Normalization) if isinstance(self.Normalization, str) else None
        if not needs:
            return
        data = X.extractdata() if isinstance(X, dlarray) else X
        x = np.asarray(to_module(data, np) if array_module(data) is not np else data)
        size = self.sample_size
        if x.ndim == len(size):
            x = x[..., None]
        if tuple(x.shape[:-1]) != size:
            raise ValueError(f"fit_normalization: layer '{self.Name}' expects data of size "
                             f"{size_str(size)} x N ({self._layout()}), got {size_str(x.shape)}.")
        axes = self._axes(len(size))
        if "Mean" in needs:
            mean, std = _moments(x, axes, "StandardDeviation" in needs)
            self.Mean = mean
            if "StandardDeviation" in needs:
                self.StandardDeviation = np.where(std == 0, 1, std)
        else:
            lo = x.min(axis=axes, keepdims=True).astype(np.float32)
            hi = x.max(axis=axes, keepdims=True).astype(np.float32)
            self.Min, self.Max = lo[..., 0], np.where(hi == lo, lo + 1, hi)[..., 0]

    def _axes(self, ndim: int) -> tuple[int, ...]:
        """Axes of the (size..., N) data a statistic is taken over."""
        if self.NormalizationDimension == "all":
            return tuple(range(ndim + 1))
        if self.NormalizationDimension == "element" or ndim == 1:
            return (ndim,)
        return tuple(range(ndim - 1)) + (ndim,)

    # ---- display --------------------------------------------------------------------------------
    def _suffix(self) -> str:
        norm = self.Normalization
        if callable(norm):
            return " with custom normalization"
        return "" if norm == "none" else f" with '{norm}' normalization"

    def _hyper_rows(self) -> list[tuple[str, str]]:
        norm = self.Normalization
        rows = [("Normalization", format_value(norm)),
                ("NormalizationDimension", show(self.NormalizationDimension))]
        stats = _NEEDS.get(norm, ()) if isinstance(norm, str) else ()
        return rows + [(s, show(getattr(self, s))) for s in stats]


def _moments(x: np.ndarray, axes: tuple[int, ...],
             need_std: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
    """Mean and population standard deviation (None unless ``need_std``) over ``axes`` of the
    (size..., N) data x (the N axis always among them), float32.

    x is read once (a layout whose element axes cannot merge is copied first), in blocks of
    contiguous memory (rows of N observations for C-ordered H x W x C x N data, whole
    observations for channels-last memory), so every pass stays in cache. Per element (one
    value of size..., over the observations) each block gives float32 sums, pairwise and
    short, combined in float64 with Chan's parallel-variance formula (squares around each
    block's own mean: no cancellation of large means); then the elements of one statistic are
    combined the same way. About 10x faster than summing float64 copies over several axes.
    """
    n = x.shape[-1]
    m = x.reshape(-1, n)  # (elements, N): a view for contiguous data of either order
    f = m.shape[0]
    mean = np.zeros(f)
    m2 = np.zeros(f) if need_std else None
    if m.strides[1] == m.itemsize and f > 1:
        # observations contiguous (C-ordered H x W x C x N): blocks of whole rows
        step = max(1, _BLOCK // n)
        for r in range(0, f, step):
            _block_moments(m[r:r + step], mean[r:r + step], None if m2 is None else m2[r:r + step])
    else:
        # elements contiguous (channels-last memory) or other strides: blocks of observations
        # merged into the running statistics (Chan et al.)
        step = max(16, _BLOCK // max(f, 1))
        bmean, bm2 = np.empty(f), np.empty(f) if need_std else None
        for c in range(0, n, step):
            k = min(step, n - c)
            _block_moments(m[:, c:c + k], bmean, bm2)
            delta = bmean - mean
            mean += delta * (k / (c + k))
            if m2 is not None:
                m2 += bm2 + delta * delta * (c * k / (c + k))
    # the elements of one statistic (N observations each) combined the same way
    shape = x.shape[:-1] + (1,)
    mean, keep = mean.reshape(shape), tuple(a for a in axes if a != x.ndim - 1)
    total = mean.mean(axis=keep, keepdims=True) if keep else mean
    std = None
    if m2 is not None:
        spread = np.square(mean - total).sum(axis=keep, keepdims=True) * n if keep else 0.0
        m2 = m2.reshape(shape).sum(axis=keep, keepdims=True) + spread
        std = np.sqrt(m2 / (x.size / total.size))[..., 0].astype(np.float32)
    return total[..., 0].astype(np.float32), std


def _block_moments(b: np.ndarray, mean: np.ndarray, m2: np.ndarray | None) -> None:
    """Per row of the block b (elements x observations): its mean, and its sum of squares
    around that mean, written to ``mean`` and ``m2`` (float64)."""
    k, work = b.shape[1], np.result_type(b.dtype, np.float32)  # float32 for float32 or uint8
    np.divide(b.sum(axis=1, dtype=work), k, out=mean)
    if m2 is not None:
        d = b - mean.astype(work)[:, None]
        np.square(d, out=d)
        m2[...] = d.sum(axis=1)


@register_layer
class ImageInputLayer(InputLayer):
    """2-D image input: labels H x W x C x N data "SSCB", checks its size and normalizes it."""

    Type = "Image Input"
    constructor = "imageInputLayer"
    default_name = "imageinput"
    fmt = "SSCB"

    def __init__(self, inputSize: Any, *args: Any, **kwargs: Any) -> None:
        opts = parse_options("imageInputLayer", args, kwargs, input_options("zerocenter"))
        self.InputSize = _image_size(inputSize)
        super().__init__(opts)

    @property
    def sample_size(self) -> tuple[int, ...]:
        return tuple(self.InputSize)

    def description(self) -> str:
        return f"{size_str(self.InputSize)} images{self._suffix()}"

    def _groups(self) -> list:
        return [(None, [("Name", show(self.Name)), ("InputSize", show(self.InputSize))]),
                ("Hyperparameters", self._hyper_rows())]


@register_layer
class FeatureInputLayer(InputLayer):
    """Feature vectors ("CB"; raw data N x numFeatures): checks the feature count, normalizes."""

    Type = "Feature Input"
    constructor = "featureInputLayer"
    default_name = "input"
    fmt = "CB"

    def __init__(self, numFeatures: Any, *args: Any, **kwargs: Any) -> None:
        opts = parse_options("featureInputLayer", args, kwargs, input_options("none"))
        self.InputSize = _checked("featureInputLayer", check_positive_int, "numFeatures",
                                  numFeatures)
        super().__init__(opts)

    @property
    def sample_size(self) -> tuple[int, ...]:
        return (self.InputSize,)

    def description(self) -> str:
        return f"{self.InputSize} features{self._suffix()}"

    def _groups(self) -> list:
        return [(None, [("Name", show(self.Name)), ("InputSize", show(self.InputSize))]),
                ("Hyperparameters", self._hyper_rows())]


def _checked(where: str, check: Callable, name: str, value: Any) -> Any:
    try:
        return check(name, value)
    except ValueError as err:
        raise ValueError(f"{where}: {err}") from None


def _image_size(v: Any) -> tuple[int, int, int]:
    """inputSize [h w] or [h w c] as (h, w, c)."""
    items = np.asarray(v, dtype=object).ravel().tolist() if not isinstance(v, str) else None
    ok = items is not None and len(items) in (2, 3) and all(
        isinstance(n, (int, float, np.integer, np.floating)) and not isinstance(n, bool)
        and float(n).is_integer() and n >= 1 for n in items)
    if not ok:
        raise ValueError("imageInputLayer: inputSize must be a vector [h w] or [h w c] of "
                         f"positive integers, got {format_value(v)}.")
    size = [int(n) for n in items]
    return tuple(size + [1] * (3 - len(size)))


def imageInputLayer(inputSize: Any, *args: Any, **kwargs: Any) -> ImageInputLayer:
    """``imageInputLayer(inputSize, Normalization="zerocenter", NormalizationDimension="auto",
    Mean=, StandardDeviation=, Min=, Max=, Name="")``: input of H x W x C images ("SSCB").

    inputSize is [h w] (one channel) or [h w c]. See the module docstring for the
    normalizations and when their statistics are computed.
    """
    return ImageInputLayer(inputSize, *args, **kwargs)


def featureInputLayer(numFeatures: int, *args: Any, **kwargs: Any) -> FeatureInputLayer:
    """``featureInputLayer(numFeatures, Normalization="none", ...)``: features, "CB".

    Raw arrays given to the network are N x numFeatures, one row per observation (MATLAB's
    layout); a formatted dlarray may come in any order.
    """
    return FeatureInputLayer(numFeatures, *args, **kwargs)
