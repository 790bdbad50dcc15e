"""Neural-network ops: fully connected, softmax and one-hot encoding (the losses are in
``minidl.ops.loss``).

Each op computes on the raw arrays of its inputs' module and records its backward beside it.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .._matlab import (
    MAX_DIMENSIONS,
    check_class_names,
    check_positive_int,
    parse_name_value,
    size_str,
)
from ..autodiff import is_tracing, record
from ..backend import array_module, to_module
from ..dlarray import canonical_format, dlarray, inverse_permutation
from ..parallel import matmul

__all__ = ["fullyconnect", "softmax", "onehotencode", "onehotdecode"]


# ---- shared argument helpers (also used by minidl.ops.norm) ----------------------------------

def _labelled(X: Any, DataFormat: Any, where: str, need: str | None = None,
              name: str = "X") -> tuple:
    """(data, labels, out_fmt, shape): X's raw data with one label per axis.

    A formatted X gives its canonical data and format. An unformatted X (or a numeric array)
    needs ``DataFormat``, which labels its axes as they are (MATLAB's option); the result of
    the op is then unformatted. ``need`` names a label X must have (e.g. "C").
    """
    if not isinstance(X, dlarray):
        if not hasattr(X, "shape"):
            raise TypeError(f"{where}: {name} must be a dlarray or a numeric array, "
                            f"got {type(X).__name__}")
        X = dlarray(X)
    data = X._data
    if X._fmt:
        if DataFormat is not None:
            raise ValueError(f"{where}: DataFormat is only for unformatted input, but {name} "
                             f"already has format '{X._fmt}'")
        fmt = X._fmt
    else:
        if DataFormat is None:
            raise ValueError(f"{where}: {name} is unformatted: give it dimension labels with "
                             f"dlarray({name}, 'SSCB') (for example) or pass DataFormat")
        if not isinstance(DataFormat, str):
            raise TypeError(f"{where}: DataFormat must be a string such as 'SSCB', got "
                            f"{type(DataFormat).__name__}")
        try:
            canonical_format(DataFormat, data.ndim)  # validates the labels
        except ValueError as err:
            raise ValueError(f"{where}: DataFormat: {err}") from None
        fmt = DataFormat.upper()
        data = data.reshape(tuple(data.shape) + (1,) * (len(fmt) - data.ndim))
    if need and need not in fmt:
        raise ValueError(f"{where}: {name} has format '{fmt}' with no channel ('C') dimension, "
                         f"which {where} needs")
    return data, fmt, X._fmt, tuple(X._data.shape)


def _own_grad(g: Any, p: Any) -> Any:
    """A gradient computed per channel/output, in the shape and dtype of parameter ``p``."""
    if g is None or not isinstance(p, dlarray):
        return None
    raw = p._data
    if g.size != raw.size:  # a scalar parameter broadcast over all channels
        g = g.sum()
    return g.reshape(raw.shape).astype(raw.dtype, copy=False)


def _raw_param(p: Any, n: int, name: str, what: str, where: str, dtype: Any) -> Any:
    """Raw data of a per-element parameter: ``n`` elements (any shape) or a scalar, in dtype."""
    raw = p._data if isinstance(p, dlarray) else p
    if isinstance(raw, (int, float)) and not isinstance(raw, bool):
        return raw
    if not hasattr(raw, "shape") or getattr(raw, "dtype", np.dtype(object)).kind not in "biuf":
        raise TypeError(f"{where}: {name} must be a dlarray, a numeric array or a number, "
                        f"got {type(p).__name__} of {getattr(raw, 'dtype', 'objects')}")
    if raw.size not in (1, n):
        raise ValueError(f"{where}: {name} has {raw.size} elements but {what} is {n}")
    return raw.reshape(-1 if raw.size == n else ()).astype(dtype, copy=False)


def _options(where: str, args: tuple, keywords: dict) -> dict:
    """Keyword options overridden by MATLAB-style Name-Value pairs given positionally."""
    opts = dict(keywords)
    opts.update(parse_name_value(args, {}, list(keywords), where))
    return opts


def _traced(*values: Any) -> bool:
    return is_tracing() and any(isinstance(v, dlarray) and v._node is not None for v in values)


# ---- fullyconnect ----------------------------------------------------------------------------

def fullyconnect(X: Any, weights: Any, bias: Any, *args: Any,
                 DataFormat: str | None = None) -> dlarray:
    """``Y = fullyconnect(X, weights, bias)``: weights times the S, C and U elements, plus bias.

    Each observation (and time step) is flattened over its S, C and U dimensions in MATLAB's
    column-major order (h fastest, then w, then c), so ``weights`` exported from MATLAB, either
    OutputSize x InputSize or OutputSize x H x W x C, apply unchanged. ``bias`` has OutputSize
    elements (or is a scalar). The output has format "CB" ("CBT" when X has a T dimension).

    Data made by convolution is stored N, H, W, C in memory. Rather than copying activations
    into MATLAB's order, the (small) weight matrix is permuted into that memory order, so the
    product is a single GEMM on the activations as they lie (other layouts are copied once).
    """
    where = "fullyconnect"
    o = _options(where, args, {"DataFormat": DataFormat})
    data, fmt, out_fmt, shape = _labelled(X, o["DataFormat"], where)
    # memory order: observations (B, T) outermost, then the features S..., C, U... ; this is
    # the channels-last order, so conv output (N, H, W, C) needs no copy
    perm = sorted(range(len(fmt)), key=lambda i: ("BTSCU".index(fmt[i]), i))
    lead_n = sum(fmt[i] in "BT" for i in perm)
    xv = data.transpose(perm)
    lead, features = tuple(xv.shape[:lead_n]), tuple(xv.shape[lead_n:])
    n_in = math.prod(features)
    x2 = xv.reshape(math.prod(lead), n_in)

    W = weights._data if isinstance(weights, dlarray) else weights
    if hasattr(W, "dtype") and W.dtype.kind not in "biuf":
        raise TypeError(f"{where}: weights must be numeric, got dtype {W.dtype}")
    if not hasattr(W, "shape") or W.ndim < 2:
        raise ValueError(f"{where}: weights must be an OutputSize x InputSize matrix (or "
                         f"OutputSize x H x W x C), got size "
                         f"{size_str(getattr(W, 'shape', ())) or 'scalar'}")
    array_module(data, W)  # a TypeError when X and the weights live on different devices
    n_out, n_w = W.shape[0], math.prod(W.shape[1:])
    if n_w != n_in:
        feat_labels = ", ".join(fmt[i] for i in perm[lead_n:]) or "none"
        raise ValueError(f"{where}: the weights (size {size_str(W.shape)}) expect input size "
                         f"{n_w}, but X has input size {n_in} ({size_str(features) or '1'} "
                         f"from its {feat_labels} dimensions)")
    # MATLAB's column-major feature index -> memory order: reshape the weights to
    # OutputSize x H x W x C in column-major order, then flatten that in row-major order
    Wm = W.reshape((n_out,) + features, order="F").reshape(n_out, n_in).astype(data.dtype,
                                                                               copy=False)
    b = _raw_param(bias, n_out, "bias", "the output size (weights rows)", where, data.dtype)

    y2 = matmul(x2, Wm.T)  # large products run in blocks on several threads (minidl.parallel)
    y2 += b
    out_perm = (lead_n,) + tuple(range(lead_n))  # (N, T, O) -> canonical (O, N, T)
    y = y2.reshape(lead + (n_out,)).transpose(out_perm)
    labels = "C" + "".join(label for label in "BT" if label in fmt)
    out_fmt = labels if out_fmt else ""

    def backward(gy: Any, needs: tuple) -> tuple:
        g2 = gy.transpose(inverse_permutation(out_perm)).reshape(-1, n_out)
        dx = dW = db = None
        if needs[0]:
            dx = matmul(g2, Wm)
            dx = dx.reshape(xv.shape).transpose(inverse_permutation(perm)).reshape(shape)
        if needs[1]:
            dWm = matmul(g2.T, x2)
            dW = dWm.reshape((n_out,) + features).reshape(W.shape, order="F")
            dW = dW.astype(W.dtype, copy=False)
        if needs[2]:
            db = _own_grad(g2.sum(axis=0), bias)
        return dx, dW, db

    return record(y, out_fmt, (X, weights, bias), backward)


# ---- softmax ---------------------------------------------------------------------------------

def softmax(X: Any, *args: Any, DataFormat: str | None = None) -> dlarray:
    """Softmax over the channel dimension: y = exp(x − max) / Σ_C exp(x − max).

    Subtracting the per-position maximum keeps exp from overflowing. Gradient: y·(g − Σ_C g·y).
    """
    where = "softmax"
    o = _options(where, args, {"DataFormat": DataFormat})
    data, fmt, out_fmt, shape = _labelled(X, o["DataFormat"], where, need="C")
    xp = array_module(data)
    c = fmt.index("C")
    y = xp.exp(data - data.max(axis=c, keepdims=True))
    y /= y.sum(axis=c, keepdims=True)
    y = y.reshape(shape)

    def backward(gy: Any, needs: tuple) -> tuple:
        t = (gy * y).reshape(data.shape)
        dx = t - y.reshape(data.shape) * t.sum(axis=c, keepdims=True)
        return (dx.reshape(shape),)

    return record(y, out_fmt, (X,), backward)


# ---- one-hot encoding ------------------------------------------------------------------------

def _host_labels(labels: Any, name: str = "labels") -> np.ndarray:
    if isinstance(labels, dlarray):
        labels = labels._data
    if array_module(labels) is not np:
        return to_module(labels, np)
    try:
        return np.asarray(labels)
    except ValueError:
        raise ValueError(f"{name} must be an array with one size per dimension, got a ragged "
                         f"nested {type(labels).__name__}") from None


def onehotencode(labels: Any, featureDim: int, ClassNames: Any = None,
                 *args: Any) -> Any:
    """One-hot encode ``labels`` (ints or strings) along the 1-based dimension ``featureDim``.

    The classes are ``ClassNames`` in the order given, or the sorted unique labels. A vector of
    N labels gives K x N for featureDim 1 and N x K for featureDim 2; for an array of labels,
    dimension featureDim must be a singleton (MATLAB's rule) and becomes K long, and a
    featureDim past the last dimension appends singletons. Returns float32, on the labels'
    device for numeric labels on a GPU, else NumPy. A label not among ClassNames is an error.
    """
    where = "onehotencode"
    if args:
        ClassNames = parse_name_value((ClassNames,) + args, {}, ["ClassNames"],
                                      where)["ClassNames"]
    dim = check_positive_int(f"{where}: featureDim", featureDim) - 1
    if dim >= MAX_DIMENSIONS:  # dimensions past the labels' are appended singletons
        raise ValueError(f"{where}: featureDim must be at most {MAX_DIMENSIONS}, got "
                         f"{featureDim}")
    xp = array_module(labels._data if isinstance(labels, dlarray) else labels)
    lab = _host_labels(labels, f"{where}: labels")
    if ClassNames is None:
        classes = np.unique(lab)
    else:
        classes = check_class_names(f"{where}: ClassNames (classes)", ClassNames)
        if len(set(classes.tolist())) != classes.size:
            raise ValueError(f"{where}: ClassNames must not repeat a class")
    index = {c: i for i, c in enumerate(classes.tolist())}
    uniq, inverse = np.unique(lab, return_inverse=True)
    missing = [u for u in uniq.tolist() if u not in index]
    if missing:
        raise ValueError(f"{where}: label {missing[0]!r} is not one of the class names "
                         f"{classes.tolist()}")
    codes = np.array([index[u] for u in uniq.tolist()], dtype=np.intp)[inverse]
    codes = codes.reshape(lab.shape)
    K = classes.size
    onehot = np.eye(K, dtype=np.float32)[codes]  # class axis last
    shape = lab.shape
    if lab.ndim <= 1:
        out = np.moveaxis(onehot, -1, min(dim, lab.ndim))
        if dim > lab.ndim:
            out = out.reshape(out.shape[:-1] + (1,) * (dim - lab.ndim) + (K,))
    else:
        if dim < len(shape) and shape[dim] != 1:
            raise ValueError(f"{where}: featureDim {featureDim} must be a singleton dimension "
                             f"of the labels (size {size_str(shape)})")
        padded = shape + (1,) * (dim + 1 - len(shape))
        onehot = onehot.reshape(padded + (K,))
        out = np.moveaxis(onehot, -1, dim).reshape(padded[:dim] + (K,) + padded[dim + 1:])
    out = np.ascontiguousarray(out)
    return out if xp is np else to_module(out, xp)


def onehotdecode(B: Any, classes: Any, featureDim: int) -> np.ndarray:
    """Labels from one-hot (or score) array ``B``: the class with the largest value along the
    1-based dimension ``featureDim`` (the first one on ties).

    Returns a NumPy array of labels (the type of ``classes``) with that dimension removed, so
    ``onehotdecode(onehotencode(labels, 1), classes, 1)`` gives ``labels`` back.
    """
    where = "onehotdecode"
    dim = check_positive_int(f"{where}: featureDim", featureDim) - 1
    scores = _host_labels(B, f"{where}: B")
    classes = check_class_names(f"{where}: classes", classes)
    if dim >= scores.ndim:
        raise ValueError(f"{where}: featureDim {featureDim} is beyond the {scores.ndim} "
                         f"dimensions of B (size {size_str(scores.shape)})")
    if scores.shape[dim] != classes.size:
        raise ValueError(f"{where}: B has {scores.shape[dim]} classes along dimension "
                         f"{featureDim} but {classes.size} class names were given")
    return classes[np.argmax(scores, axis=dim)]
