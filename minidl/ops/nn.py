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
from ..backend import array_module, matmul, to_module
from ..core import dlarray, inverse_permutation, record
from .args import grad_like, labelled, op_options, per_channel

__all__ = ["fullyconnect", "softmax", "onehotencode", "onehotdecode"]


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
    o = op_options(where, args, {"DataFormat": DataFormat})
    data, fmt, out_fmt, shape = labelled(X, o["DataFormat"], where)
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
    b = per_channel(bias, n_out, "bias", where, data.dtype,
                    what="the output size (weights rows)")

    y2 = matmul(x2, Wm.T)  # large products run in blocks on several threads (backend.threads)
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
            db = grad_like(g2.sum(axis=0), bias)
        return dx, dW, db

    return record(y, out_fmt, (X, weights, bias), backward)


# ---- softmax ---------------------------------------------------------------------------------

def softmax(X: Any, *args: Any, DataFormat: str | None = None) -> dlarray:
    """Softmax over the channel dimension: y = exp(x − max) / Σ_C exp(x − max).

    Subtracting the per-position maximum keeps exp from overflowing. Gradient: y·(g − Σ_C g·y).
    """
    where = "softmax"
    o = op_options(where, args, {"DataFormat": DataFormat})
    data, fmt, out_fmt, shape = labelled(X, o["DataFormat"], where, need="C")
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
