"""Loss functions, as MATLAB names them: crossentropy, indexcrossentropy, mse, l1loss, l2loss,
huber.

Every loss is the same three steps: an elementwise penalty of the predictions Y against the
targets T, multiplied by optional weights (and a mask), then summed and divided by a
normalization factor, usually the number of observations (the size of Y's "B" dimension).
The regression losses differ only in the penalty of d = Y − T:

    l2loss   d²                                   (mse: d² / 2)
    l1loss   |d|
    huber    d² / 2 where |d| <= δ, else δ(|d| − δ/2)

The results are unformatted scalar dlarrays in Y's dtype; ``Reduction="none"`` returns the
weighted elementwise losses instead, with Y's size and format. Weights and masks are constants:
no gradient flows to them.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from typing import Any

import numpy as np

from .._matlab import check_choice, format_value, size_str
from ..backend import array_module, to_module
from ..core import canonical_format, dlarray, inverse_permutation, record
from .args import labelled, op_options

__all__ = ["crossentropy", "indexcrossentropy", "mse", "l1loss", "l2loss", "huber"]

NORMALIZATIONS = ["batch-size", "all-elements", "none"]


# ---- shared pieces ---------------------------------------------------------------------------

def _targets(Y: Any, T: Any, where: str, fmt: str, data: Any) -> tuple[Any, Callable]:
    """T's raw data laid out like Y's data (labels ``fmt``), in Y's dtype and on Y's device, and
    a function that turns a gradient in that layout into dT (T's own layout, dtype, device).

    T is a numeric array of Y's size, or a dlarray: with Y's format when Y is formatted; in
    canonical order (as every formatted dlarray is stored) when Y is unformatted and labelled
    by DataFormat, in which case it is permuted into DataFormat's order.
    """
    if isinstance(T, dlarray):
        t, t_fmt = T._data, T._fmt
    elif hasattr(T, "shape"):
        t, t_fmt = T, ""
    else:
        raise TypeError(f"{where}: targets must be a dlarray or a numeric array, "
                        f"got {type(T).__name__}")
    perm = None
    if t_fmt and Y._fmt and t_fmt != Y._fmt:
        raise ValueError(f"{where}: targets have format '{t_fmt}' but Y has format "
                         f"'{Y._fmt}': give them the same labels")
    if t_fmt and not Y._fmt:
        canonical, perm = canonical_format(fmt, data.ndim)
        if t_fmt != canonical:
            raise ValueError(f"{where}: targets have format '{t_fmt}' but DataFormat '{fmt}' "
                             f"labels Y as '{canonical}': give them the same labels")
        t = t.reshape(tuple(t.shape) + (1,) * (len(fmt) - t.ndim))
        t = t.transpose(inverse_permutation(perm))
    padded = tuple(t.shape) + (1,) * (data.ndim - t.ndim)
    if t.ndim > data.ndim or padded != tuple(data.shape):
        raise ValueError(f"{where}: Y and targets must have the same size: Y is "
                         f"{size_str(Y.shape)} ({fmt}) but targets are {size_str(T.shape)}")
    home = array_module(t)
    raw = to_module(t.reshape(data.shape), array_module(data)).astype(data.dtype, copy=False)

    def target_grad(g: Any) -> Any:
        if perm is not None:
            g = g.reshape(t.shape).transpose(perm)
        return to_module(g, home).reshape(T.shape).astype(T.dtype, copy=False)

    return raw, target_grad


def _as_dlarray(Y: Any) -> dlarray:
    return Y if isinstance(Y, dlarray) else dlarray(Y)


def _scalar(total: Any, divisor: int, dtype: Any) -> Any:
    """``total / divisor`` as a 0-d array of ``dtype`` (NumPy 1.x turns a float32 scalar divided
    by an int into float64)."""
    return (total / divisor).astype(dtype, copy=False)


def _weights_and_pairs(weights: Any, args: tuple) -> tuple[Any, tuple]:
    """``f(Y, T, "Reduction", "none")``: a string where the weights go starts the Name-Value
    pairs (MATLAB's weights argument is optional)."""
    return (None, (weights, *args)) if isinstance(weights, str) else (weights, args)


def _observations(data: Any, fmt: str) -> int:
    """The number of observations: the size of the "B" dimension (1 when there is none)."""
    return math.prod(n for n, label in zip(data.shape, fmt) if label == "B")


def _normalization(where: str, value: Any) -> str:
    if isinstance(value, str) and value.lower() == "mask-included":
        raise ValueError(f'{where}: NormalizationFactor "mask-included" is not supported in '
                         'minidl: use "batch-size", "all-elements" or "none"')
    return check_choice(f"{where}: NormalizationFactor", value, NORMALIZATIONS)


def _aligned(w: Any, what: str, fmt: str, data: Any, Y_shape: tuple, wfmt: Any,
             where: str) -> Any:
    """Weights or a mask as a raw array that broadcasts against Y's data (labels ``fmt``).

    Accepted: None; a number; an array of Y's size; a formatted dlarray, or an unformatted one
    labelled by WeightsFormat, whose dimensions are among Y's with Y's size or 1 (e.g. "C" for
    one weight per channel, "B" for one per observation).
    """
    if w is None:
        return None
    if isinstance(w, numbers.Real) and not isinstance(w, bool):
        return data.dtype.type(w)
    raw, labels = (w._data, w._fmt) if isinstance(w, dlarray) else (w, "")
    if not hasattr(raw, "shape") or getattr(raw, "dtype", np.dtype(object)).kind not in "biuf":
        raise TypeError(f"{where}: {what} must be a number, a numeric array or a dlarray, "
                        f"got {type(w).__name__} of {getattr(raw, 'dtype', 'objects')}")
    raw = to_module(raw, array_module(data)).astype(data.dtype, copy=False)
    if wfmt is not None:
        if labels:
            raise ValueError(f"{where}: WeightsFormat is only for unformatted {what}, but it "
                             f"has format '{labels}'")
        labels = str(wfmt).upper()
    if not labels:
        if raw.size == 1:
            return raw.reshape(())
        if tuple(raw.shape) == tuple(Y_shape):
            return raw.reshape(data.shape)
        raise ValueError(f"{where}: {what} of size {size_str(raw.shape)} does not match Y "
                         f"({size_str(Y_shape)}, format '{fmt}'): give an array of Y's size, "
                         "or label its dimensions, e.g. WeightsFormat=\"C\" for one weight per "
                         "channel or \"B\" for one per observation")
    return _by_labels(raw, labels, what, fmt, data.shape, where)


def _by_labels(raw: Any, labels: str, what: str, fmt: str, shape: tuple, where: str) -> Any:
    """``raw`` (axes labelled ``labels``) permuted and reshaped to broadcast against ``shape``
    (axes labelled ``fmt``); the k-th "S" of one meets the k-th "S" of the other."""
    if len(labels) < raw.ndim or any(ch not in "SCBTU" for ch in labels):
        raise ValueError(f"{where}: the format '{labels}' of {what} must label each of its "
                         f"{raw.ndim} dimensions with S, C, B, T or U")
    raw = raw.reshape(tuple(raw.shape) + (1,) * (len(labels) - raw.ndim))
    order, out_shape = [], []
    for j, label in enumerate(fmt):
        mine = [i for i, ch in enumerate(labels) if ch == label]
        k = fmt[:j].count(label)
        if k < len(mine):
            order.append(mine[k])
            out_shape.append(raw.shape[mine[k]])
        else:
            out_shape.append(1)
    for i in set(range(len(labels))) - set(order):
        if raw.shape[i] != 1:
            raise ValueError(f"{where}: {what} has {labels.count(labels[i])} '{labels[i]}' "
                             f"dimension(s) but Y (format '{fmt}') has "
                             f"{fmt.count(labels[i])}")
    for n, m, label in zip(out_shape, shape, fmt):
        if n not in (1, m):
            raise ValueError(f"{where}: {what} has {n} elements along '{label}' but Y has "
                             f"{m}: give {m} (or 1)")
    rest = [i for i in range(len(labels)) if i not in order]
    return raw.transpose(order + rest).reshape(out_shape)


def _scale(weights: Any, mask: Any) -> Any:
    """The product of weights and mask (either may be None; None when both are)."""
    if weights is None or mask is None:
        return mask if weights is None else weights
    return weights * mask


# ---- crossentropy ----------------------------------------------------------------------------

def crossentropy(Y: Any, T: Any, weights: Any = None, *args: Any,
                 ClassificationMode: str = "single-label", NormalizationFactor: str = "batch-size",
                 Mask: Any = None, Reduction: str = "sum", DataFormat: str | None = None,
                 WeightsFormat: str | None = None) -> dlarray:
    """Cross-entropy loss between probabilities Y (e.g. softmax output) and targets T.

    * "single-label" (default): loss = −Σ w·T·log(Y), the sum over classes and S/T positions;
    * "multilabel": loss = −Σ w·[T·log(Y) + (1 − T)·log(1 − Y)] (each class is a yes/no).

    The sum is divided by NormalizationFactor: "batch-size" (default; "batch" is accepted too)
    the number of observations (size of B), "all-elements" the number of predictions (elements
    of Y / channels for single-label, elements of Y for multilabel), "none" 1. T is one-hot (or
    binary) with Y's format, or a numeric array of Y's size. ``weights`` and ``Mask`` multiply
    each term, as for ``l2loss`` (``dlarray(w, "C")`` weighs the classes); ``Reduction="none"``
    returns the weighted terms, with Y's size and format. Y is clamped below at eps of its
    float type (1.19e-7 for single) before the log, so Y = 0 gives a large finite loss rather
    than Inf; MATLAB's classification layer bounds Y away from zero the same way. Returns an
    unformatted scalar.
    """
    where = "crossentropy"
    weights, args = _weights_and_pairs(weights, args)
    o = op_options(where, args, {"ClassificationMode": ClassificationMode,
                               "NormalizationFactor": NormalizationFactor, "Mask": Mask,
                               "Reduction": Reduction, "DataFormat": DataFormat,
                               "WeightsFormat": WeightsFormat})
    mode = check_choice(f"{where}: ClassificationMode", o["ClassificationMode"],
                        ["single-label", "multilabel"])
    reduction = check_choice(f"{where}: Reduction", o["Reduction"], ["sum", "none"])
    norm = o["NormalizationFactor"]
    norm = "batch-size" if isinstance(norm, str) and norm.lower() == "batch" else \
        _normalization(where, norm)
    data, fmt, out_fmt, shape = labelled(Y, o["DataFormat"], where, need="C", name="Y")
    if data.shape[fmt.index("C")] == 0 or data.size == 0:
        what = "classes (its C dimension has size 0)" if data.shape[fmt.index("C")] == 0 \
            else f"observations (size {'x'.join(map(str, data.shape))})"
        raise ValueError(f"{where}: Y has no {what}; expected at least one class and one "
                         "observation")
    Y_shape = tuple(_as_dlarray(Y).shape)
    t, target_grad = _targets(_as_dlarray(Y), T, where, fmt, data)
    scale = _scale(_aligned(weights, "weights", fmt, data, Y_shape, o["WeightsFormat"], where),
                   _aligned(o["Mask"], "Mask", fmt, data, Y_shape, None, where))
    xp = array_module(data)
    eps = float(np.finfo(data.dtype).eps)
    y_safe = xp.maximum(data, eps)
    log_y = xp.log(y_safe)
    if mode == "single-label":
        terms = -(t * log_y)
    else:
        one_minus = xp.maximum(1 - data, eps)
        log_1my = xp.log(one_minus)
        terms = -(t * log_y + (1 - t) * log_1my)
    if scale is not None:
        terms = terms * scale
    factor = 1
    if reduction == "none":
        out, result_fmt = terms.reshape(shape), out_fmt
    else:
        per_c = data.size // data.shape[fmt.index("C")]
        n = {"batch-size": _observations(data, fmt), "none": 1,
             "all-elements": data.size if mode == "multilabel" else per_c}[norm]
        factor = max(n, 1)
        out, result_fmt = _scalar(terms.sum(), factor, data.dtype), ""

    def backward(gy: Any, needs: tuple) -> tuple:
        g = gy.reshape(data.shape) if reduction == "none" else gy / factor
        if scale is not None:
            g = g * scale
        dY = dT = None
        if needs[0]:
            d = -t / y_safe if mode == "single-label" else (1 - t) / one_minus - t / y_safe
            dY = (d * g).reshape(shape)
        if needs[1]:
            d = -log_y if mode == "single-label" else log_1my - log_y
            dT = target_grad(d * g)
        return dY, dT

    return record(out, result_fmt, (Y, T), backward)


# ---- indexcrossentropy -----------------------------------------------------------------------

def indexcrossentropy(Y: Any, T: Any, weights: Any = None, *args: Any, Reduction: str = "sum",
                      NormalizationFactor: str = "batch-size", DataFormat: str | None = None,
                      WeightsFormat: str | None = None) -> dlarray:
    """Cross-entropy against integer class indices: loss = −Σ w·log(Y[c = T]) / factor.

    Y holds probabilities with K channels ("C"); T holds one class index in 1..K (MATLAB's
    numbering) per element of Y without its C dimension: Y's size with C removed or set to 1
    (a vector of N indices for "CB" data). The result equals ``crossentropy`` with one-hot
    targets, without building them. ``weights`` follow Y's layout: ``dlarray(w, "C")`` (or
    WeightsFormat="C") gives each class a weight, picked by the target class; "B" one per
    observation. NormalizationFactor: "batch-size" (default, the number of observations),
    "all-elements" (the number of indices), "none". ``Reduction="none"`` returns the weighted
    losses with Y's format and a C dimension of size 1. Y is clamped below at eps as in
    crossentropy. Gradients flow to Y only.
    """
    where = "indexcrossentropy"
    weights, args = _weights_and_pairs(weights, args)
    o = op_options(where, args, {"Reduction": Reduction, "NormalizationFactor": NormalizationFactor,
                               "DataFormat": DataFormat, "WeightsFormat": WeightsFormat})
    reduction = check_choice(f"{where}: Reduction", o["Reduction"], ["sum", "none"])
    norm = _normalization(where, o["NormalizationFactor"])
    data, fmt, out_fmt, shape = labelled(Y, o["DataFormat"], where, need="C", name="Y")
    xp = array_module(data)
    c = fmt.index("C")
    k = data.shape[c]
    index = _class_indices(T, data, c, where)
    eps = float(np.finfo(data.dtype).eps)
    p_safe = xp.maximum(xp.take_along_axis(data, index, axis=c), eps)
    losses = -xp.log(p_safe)
    w = _aligned(weights, "weights", fmt, data, tuple(_as_dlarray(Y).shape),
                 o["WeightsFormat"], where)
    if w is not None and w.ndim and w.shape[c] == k > 1:  # class weights: each target's own
        w = xp.take_along_axis(xp.broadcast_to(w, data.shape), index, axis=c)
    if w is not None:
        losses = losses * w
    factor = 1
    if reduction == "none":
        out_shape = tuple(1 if i == c else n for i, n in enumerate(data.shape))
        out = losses.reshape(out_shape if out_fmt else out_shape[:len(shape)])
        result_fmt = out_fmt
    else:
        n = {"batch-size": _observations(data, fmt), "all-elements": data.size // k,
             "none": 1}[norm]
        factor = max(n, 1)
        out = _scalar(losses.sum(), factor, data.dtype)
        result_fmt = ""

    def backward(gy: Any, needs: tuple) -> tuple:
        g = gy.reshape(losses.shape) if reduction == "none" else gy / factor
        d = -g / p_safe
        if w is not None:
            d = d * w
        classes = xp.arange(k).reshape((1,) * c + (k,) + (1,) * (data.ndim - c - 1))
        return (xp.where(classes == index, d, 0).astype(data.dtype, copy=False).reshape(shape)
                if needs[0] else None, None)

    return record(out, result_fmt, (Y, T), backward)


def _class_indices(T: Any, data: Any, c: int, where: str) -> Any:
    """T as 0-based int64 indices shaped like Y's data with its C dimension set to 1, on Y's
    device.

    T must hold one whole number in 1..K per element of Y without C (any arrangement of
    singleton dimensions: Y's size with C removed, or with C set to 1). The values are checked
    where T lives, before it moves: host targets cost no device synchronization.
    """
    raw = T._data if isinstance(T, dlarray) else T
    if isinstance(raw, numbers.Real) and not isinstance(raw, bool):
        raw = np.asarray(raw)
    if not hasattr(raw, "shape") or isinstance(raw, bool):
        raise TypeError(f"{where}: targets must be a numeric array or dlarray of class indices, "
                        f"got {type(T).__name__}")
    k = data.shape[c]
    want = tuple(1 if i == c else n for i, n in enumerate(data.shape))
    if [n for n in raw.shape if n != 1] != [n for n in want if n != 1]:
        without_c = want[:c] + want[c + 1:]
        raise ValueError(f"{where}: targets of size {size_str(raw.shape) or '1x1'} do not fit Y "
                         f"of size {size_str(data.shape)}: give one class index per element "
                         f"of Y without its C dimension (size {size_str(without_c) or '1x1'})")
    if raw.dtype.kind not in "biuf":
        raise TypeError(f"{where}: targets must be numeric class indices, got dtype {raw.dtype}")
    values = raw.reshape(want)
    xt = array_module(values)
    bad = (values < 1) | (values > k) | (values != xt.floor(values))
    if bool(bad.any()):
        first = to_module(values[bad][:1], np)[0]
        raise ValueError(f"{where}: targets must be whole numbers from 1 to {k} (the number of "
                         f"classes, the size of Y's C dimension), got {format_value(first)}")
    return to_module(values.astype(np.int64) - 1, array_module(data))


# ---- the regression losses -------------------------------------------------------------------

Penalty = Callable[[Any, Any], tuple[Any, Any]]
"""``penalty(d, xp) -> (values, slopes)``: the elementwise loss of d = Y − T and its derivative."""


def _regression_loss(where: str, penalty: Penalty, Y: Any, T: Any, weights: Any,
                     o: dict) -> dlarray:
    """Σ scale · penalty(Y − T) / factor (or the elementwise losses, for Reduction "none")."""
    reduction = check_choice(f"{where}: Reduction", o["Reduction"], ["sum", "none"])
    norm = _normalization(where, o["NormalizationFactor"])
    data, fmt, out_fmt, shape = labelled(Y, o["DataFormat"], where, name="Y")
    Y_shape = tuple(_as_dlarray(Y).shape)
    t, target_grad = _targets(_as_dlarray(Y), T, where, fmt, data)
    xp = array_module(data)
    scale = _scale(_aligned(weights, "weights", fmt, data, Y_shape, o["WeightsFormat"], where),
                   _aligned(o["Mask"], "Mask", fmt, data, Y_shape, None, where))
    values, slopes = penalty(data - t, xp)
    if scale is not None:
        values = values * scale
        slopes = slopes * scale
    if reduction == "none":
        factor, out, result_fmt = 1, values.reshape(shape), out_fmt
    else:
        n = {"batch-size": _observations(data, fmt), "all-elements": data.size, "none": 1}[norm]
        factor = max(n, 1)
        out, result_fmt = _scalar(values.sum(), factor, data.dtype), ""

    def backward(gy: Any, needs: tuple) -> tuple:
        g = slopes * (gy.reshape(data.shape) if reduction == "none" else gy / factor)
        return (g.reshape(shape) if needs[0] else None,
                target_grad(-g) if needs[1] else None)

    return record(out, result_fmt, (Y, T), backward)


def l2loss(Y: Any, T: Any, weights: Any = None, *args: Any, Mask: Any = None,
           Reduction: str = "sum", NormalizationFactor: str = "batch-size",
           DataFormat: str | None = None, WeightsFormat: str | None = None) -> dlarray:
    """L2 loss: Σ w·(Y − T)² / factor; by default the mean squared error over observations.

    The sum runs over every element (responses, S and T positions); NormalizationFactor is
    "batch-size" (default: the number of observations), "all-elements" (Y's element count) or
    "none". ``weights`` and ``Mask`` multiply each element: a number, an array of Y's size, or
    a dlarray labelled (or WeightsFormat) "C" for one weight per response, "B" per observation.
    Not halved: this is what trainnet's "mse" minimizes (the function ``mse`` is half of it).
    """
    weights, args = _weights_and_pairs(weights, args)
    o = op_options("l2loss", args, {"Mask": Mask, "Reduction": Reduction,
                                 "NormalizationFactor": NormalizationFactor,
                                 "DataFormat": DataFormat, "WeightsFormat": WeightsFormat})
    return _regression_loss("l2loss", lambda d, xp: (d * d, 2 * d), Y, T, weights, o)


def l1loss(Y: Any, T: Any, weights: Any = None, *args: Any, Mask: Any = None,
           Reduction: str = "sum", NormalizationFactor: str = "batch-size",
           DataFormat: str | None = None, WeightsFormat: str | None = None) -> dlarray:
    """L1 loss: Σ w·|Y − T| / factor; by default the mean absolute error over observations.

    Options as for ``l2loss``. The gradient at Y = T is 0 (the subgradient sign(0)).
    """
    weights, args = _weights_and_pairs(weights, args)
    o = op_options("l1loss", args, {"Mask": Mask, "Reduction": Reduction,
                                 "NormalizationFactor": NormalizationFactor,
                                 "DataFormat": DataFormat, "WeightsFormat": WeightsFormat})
    return _regression_loss("l1loss", lambda d, xp: (xp.abs(d), xp.sign(d)), Y, T, weights, o)


def huber(Y: Any, T: Any, weights: Any = None, *args: Any, TransitionPoint: float = 1,
          Mask: Any = None, Reduction: str = "sum", NormalizationFactor: str = "batch-size",
          DataFormat: str | None = None, WeightsFormat: str | None = None) -> dlarray:
    """Huber loss: quadratic near the target, linear beyond δ = TransitionPoint.

    Each element of d = Y − T costs d²/2 where |d| <= δ and δ(|d| − δ/2) elsewhere (the two
    pieces meet with equal value and slope at |d| = δ); δ = 1 is the smooth L1 loss. Options
    as for ``l2loss``.
    """
    where = "huber"
    weights, args = _weights_and_pairs(weights, args)
    o = op_options(where, args, {"TransitionPoint": TransitionPoint, "Mask": Mask,
                               "Reduction": Reduction, "NormalizationFactor": NormalizationFactor,
                               "DataFormat": DataFormat, "WeightsFormat": WeightsFormat})
    delta = o["TransitionPoint"]
    if not (isinstance(delta, numbers.Real) and not isinstance(delta, bool)
            and math.isfinite(delta) and delta > 0):
        raise ValueError(f"{where}: TransitionPoint must be a positive finite number, got "
                         f"{format_value(delta)}")
    delta = float(delta)

    def penalty(d: Any, xp: Any) -> tuple:
        inside = xp.abs(d) <= delta
        values = xp.where(inside, 0.5 * d * d, delta * (xp.abs(d) - 0.5 * delta))
        slopes = xp.where(inside, d, delta * xp.sign(d))
        return values.astype(d.dtype, copy=False), slopes.astype(d.dtype, copy=False)

    return _regression_loss(where, penalty, Y, T, weights, o)


# ---- mse -------------------------------------------------------------------------------------

def mse(Y: Any, T: Any, *args: Any, DataFormat: str | None = None) -> dlarray:
    """MATLAB's half mean squared error: loss = Σ (Y − T)² / (2N), N the number of observations.

    The sum runs over every element; N is the size of the B dimension (1 when there is none).
    T has Y's format (or is a numeric array of Y's size). Returns an unformatted scalar. MATLAB
    recommends ``l2loss`` (not halved, with weights and masks) over this function.
    """
    where = "mse"
    o = op_options(where, args, {"DataFormat": DataFormat})
    data, fmt, _, shape = labelled(Y, o["DataFormat"], where, name="Y")
    t, target_grad = _targets(_as_dlarray(Y), T, where, fmt, data)
    n_obs = max(_observations(data, fmt), 1)
    diff = data - t
    loss = _scalar((diff * diff).sum(), 2 * n_obs, data.dtype)

    def backward(gy: Any, needs: tuple) -> tuple:
        g = diff * (gy / n_obs)
        return (g.reshape(shape) if needs[0] else None,
                target_grad(-g) if needs[1] else None)

    return record(loss, "", (Y, T), backward)
