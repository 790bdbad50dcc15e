"""Normalization: batch, instance, layer and group normalization are one operation.

Every normalization here does the same two steps:

1. **normalize** each element with the mean and variance of the elements it *shares statistics
   with*: x̂ = (x − μ) / sqrt(σ² + ε), with the biased variance σ² = mean((x − μ)²);
2. **scale and shift** per channel: y = γ·x̂ + β (γ is ``scaleFactor``, β is ``offset``).

The four functions differ only in *which* elements share one mean and one variance. That is
decided by two things, both in the table below: the dimension labels the statistics are shared
over, and how the channels are grouped (only elements of the same channel group share).

=========  ================  ==========================  ===================================
kind       shared over       channel groups              one (μ, σ²) per
=========  ================  ==========================  ===================================
batch      S, B, T, U        each channel alone          channel
instance   S, T, U           each channel alone          channel × observation
layer      S, C, T, U        all channels together       observation
group      S, C, T, U        numGroups groups of C/G     channel group × observation
=========  ================  ==========================  ===================================

So layer normalization is group normalization with one group, and instance normalization is
group normalization with one channel per group (MATLAB's ``groupnorm`` accepts "all-channels"
and "channel-wise" for exactly these). Batch normalization is the only one that shares
statistics across observations, which is why it alone keeps running statistics for prediction.

The kernel (``_normalize_forward`` / ``_normalize_backward``) works on a *grouped
channels-last view* of the data: axes in memory order B, S..., C, T, U (free for data made by
convolution, stored N, H, W, C), with the C axis split into (groups, channels per group). In
that view each kind is just a set of axes to reduce over. Two helpers keep the passes over the
data fast without changing the math: ``_sum_over`` sums with BLAS (products with a vector of
ones) and ``_Wide`` gives elementwise steps a long inner loop.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from .._matlab import check_flag, check_in_range, check_positive_int, check_positive_real
from ..backend import array_module, in_parallel, op_chunks, sum_parts
from ..core import channels_last, dlarray, from_channels_last, record
from .args import any_traced, grad_like, labelled, op_options, per_channel

__all__ = ["batchnorm", "instancenorm", "layernorm", "groupnorm", "normalization_axes",
           "channel_groups", "SHARED_LABELS", "layer_shared_labels"]

#: Dimension labels whose elements share one mean and variance, for each kind of normalization.
#: "C" listed means the channels of one *group* share (layer: a single group of all channels,
#: group: numGroups groups); "C" absent means every channel has its own statistics.
SHARED_LABELS = {
    "batch":    "SBTU",   # one (mean, variance) per channel, across the whole mini-batch
    "instance": "STU",    # one per channel of each observation
    "layer":    "SCTU",   # one per observation, across all its channels
    "group":    "SCTU",   # one per group of channels of each observation
}


def channel_groups(kind: str, numChannels: int, numGroups: Any = None) -> int:
    """How many groups the channels form: C for batch/instance, 1 for layer, numGroups for group.

    Consecutive channels form a group: with C channels in G groups, channel c (0-based) is in
    group c // (C/G).
    """
    _check_kind(kind)
    if kind in ("batch", "instance"):
        return numChannels
    if kind == "layer":
        return 1
    return _num_groups(numGroups, numChannels)


def normalization_axes(kind: str, fmt: str, numGroups: Any = None) -> tuple[int, ...]:
    """The axes of an array with format ``fmt`` whose elements share one mean and variance.

    ``normalization_axes("batch", "SSCB")`` is (0, 1, 3); ``("instance", "SSCB")`` is (0, 1).
    When C is among the axes (layer, group), only channels of the same group share: C splits
    into ``channel_groups(kind, C, numGroups)`` blocks of consecutive channels (``numGroups``
    only matters there). ``fmt`` is a format such as "SSCB" (any label order) with a "C" label.
    """
    _check_kind(kind)
    if "C" not in fmt.upper():
        raise ValueError(f"normalization_axes: format {fmt!r} has no channel ('C') dimension")
    return tuple(i for i, label in enumerate(fmt.upper()) if label in SHARED_LABELS[kind])


#: layernorm's OperationDimension: the labels that share one mean and variance per observation.
#: "auto" (the layer's default, as MATLAB's since R2023a) picks "spatial-channel" for 2-D and 3-D
#: images (two or more S, no T) and "channel-only" otherwise: per time step for sequences.
LAYER_OPERATION_DIMENSIONS = {
    "channel-only": "C",          # each time step / pixel of each observation on its own
    "spatial-channel": "SC",      # all pixels and channels of one observation (one time step)
    "batch-excluded": "SCTU",     # everything but B: minidl's layernorm before OperationDimension
}


def layer_shared_labels(operationDimension: Any, fmt: str, where: str = "layernorm") -> str:
    """The labels layer normalization shares statistics over, for an OperationDimension value.

    ``operationDimension`` is "auto", "channel-only", "spatial-channel" or "batch-excluded";
    ``fmt`` is the data's format (only "auto" looks at it).
    """
    key = operationDimension.lower() if isinstance(operationDimension, str) else None
    if key == "auto":
        fmt = fmt.upper()
        key = "spatial-channel" if fmt.count("S") >= 2 and "T" not in fmt else "channel-only"
    if key not in LAYER_OPERATION_DIMENSIONS:
        raise ValueError(f"{where}: OperationDimension must be 'auto', 'channel-only', "
                         f"'spatial-channel' or 'batch-excluded', got {operationDimension!r}")
    return LAYER_OPERATION_DIMENSIONS[key]


def _check_kind(kind: str) -> None:
    if kind not in SHARED_LABELS:
        raise ValueError(f"unknown normalization {kind!r}: expected one of "
                         + ", ".join(repr(k) for k in SHARED_LABELS))


def _num_groups(numGroups: Any, C: int, where: str = "groupnorm") -> int:
    if isinstance(numGroups, str):
        key = numGroups.lower()
        if key == "all-channels":
            return 1
        if key == "channel-wise":
            return C
        raise ValueError(f"{where}: numGroups must be a positive integer, 'all-channels' or "
                         f"'channel-wise', got '{numGroups}'")
    G = check_positive_int(f"{where}: numGroups", numGroups)
    if C % G:
        raise ValueError(f"{where}: numGroups ({G}) must divide the number of channels ({C}): "
                         f"{C} channels cannot form {G} equal groups")
    return G


# ---- the two kinds of pass over the data: sums over axes, and elementwise steps --------------

def _sum_over(x: Any, reduce: list[bool]) -> Any:
    """Sum ``x`` over the axes where ``reduce`` is True, keeping them as singletons.

    Each sum is a product with a vector of ones (BLAS), much faster than NumPy's reduction over
    leading axes. Neighbouring axes with the same role are merged (free for contiguous data),
    except the first and the innermost axis, which stay on their own: each reduced block but
    the innermost is then summed by a batch of small products ``ones · (block x inner)``, one
    per index of the axes before it, which stay in cache and single-threaded. The innermost
    axis, if reduced, is summed last, on what is left.
    """
    xp = array_module(x)
    out_shape = tuple(1 if r else n for n, r in zip(x.shape, reduce))
    if x.size == 0:  # an empty batch: sums of nothing (the size-1 axes below assume data)
        return xp.zeros(out_shape, x.dtype)
    dims = [(n, r) for n, r in zip(x.shape, reduce) if n > 1]
    blocks: list[list] = []  # [size, reduced?]
    for i, (n, r) in enumerate(dims):
        if len(blocks) > 1 and blocks[-1][1] == r and i < len(dims) - 1:
            blocks[-1][0] *= n
        else:
            blocks.append([n, r])
    if not any(r for _, r in blocks):
        return x.reshape(out_shape).copy()
    sizes = [n for n, _ in blocks]
    y = x.reshape(sizes)
    for i in reversed(range(len(blocks) - 1)):
        if blocks[i][1]:
            n = sizes.pop(i)
            y = xp.matmul(xp.ones(n, dtype=x.dtype),
                          y.reshape(math.prod(sizes[:i]), n, math.prod(sizes[i:])))
    if blocks[-1][1]:
        n = sizes[-1]
        y = y.reshape(-1, n) @ xp.ones(n, dtype=x.dtype)
    return y.reshape(out_shape)


def _sum_of_products(a: Any, b: Any, reduce: list[bool]) -> Any:
    """``_sum_over(a * b, reduce)`` without writing the product: one read of a and b.

    Neighbouring axes of the same role are merged (free for contiguous data); when that leaves
    at most three blocks (instance: kept N, summed H*W, kept C; batch: summed N*H*W, kept C;
    layer: kept N, summed the rest) ``einsum`` forms the sums of products directly, half the
    memory traffic of a product array and its sum. Other patterns (group normalization's
    alternating blocks, where einsum's loops are short) and other array modules use the product.
    """
    xp = array_module(a)
    blocks: list[list] = []  # [size, reduced?]
    for n, r in zip(a.shape, reduce):
        if n == 1:
            continue
        if blocks and blocks[-1][1] == r:
            blocks[-1][0] *= n
        else:
            blocks.append([n, r])
    if xp is not np or not 0 < len(blocks) <= 3 or a.size == 0:
        return _sum_over(xp.multiply(a, b), reduce)
    letters = "abc"[:len(blocks)]
    kept = "".join(letter for letter, (_, r) in zip(letters, blocks) if not r)
    shape = [n for n, _ in blocks]
    out = np.einsum(f"{letters},{letters}->{kept}", a.reshape(shape), b.reshape(shape))
    return out.reshape(tuple(1 if r else n for n, r in zip(a.shape, reduce)))


class _Wide:
    """Puts the operands of an elementwise step in a layout with a long inner axis.

    NumPy's inner loop runs along the trailing axes that all operands share unbroadcast. With
    statistics per channel on N, H, W, C data that is only C elements, and the per-loop
    overhead dominates. ``e = _Wide(shape)`` merges the trailing axes of ``shape`` (and part of
    the axis before them) into one inner axis of a few hundred to a few thousand elements;
    ``e(big)`` reshapes a contiguous array of ``shape`` to it (free), ``e(small)`` expands a
    broadcastable statistic or parameter over it (a small copy; 0-d when it has one element).
    An array of ``shape`` is always ``big``, even of one element: it stays an array that
    ``out=`` can write to.
    """

    def __init__(self, shape: tuple, low: int = 256, high: int = 4096):
        self.shape = tuple(shape)
        i, inner = len(shape), 1
        while i > 0 and inner * shape[i - 1] <= high:
            i -= 1
            inner *= shape[i]
        self.split, self.k = None, 1
        if i > 0 and inner < low:  # take part k of the axis before: the largest divisor that fits
            n = shape[i - 1]
            self.k = max((d for d in range(1, n + 1) if n % d == 0 and inner * d <= high),
                         default=1)
            self.split = i - 1
        split = self.split
        self.fine = shape if split is None else \
            shape[:split] + (shape[split] // self.k, self.k) + shape[split + 1:]
        self.start = i if split is None else split + 1  # first axis of ``fine`` in the inner axis
        self.wide = self.fine[:self.start] + (math.prod(self.fine[self.start:]),)

    def __call__(self, a: Any) -> Any:
        if not hasattr(a, "shape"):
            return a
        if tuple(a.shape) == self.shape:
            return a.reshape(self.wide)
        if a.size == 1:
            return a.reshape(())
        shape, s = (1,) * (len(self.shape) - a.ndim) + tuple(a.shape), self.split
        if s is not None:
            shape = shape[:s] + ((1, 1) if shape[s] == 1 else (shape[s] // self.k, self.k)) \
                + shape[s + 1:]
        full = array_module(a).broadcast_to(a.reshape(shape),
                                            shape[:self.start] + self.fine[self.start:])
        return full.reshape(shape[:self.start] + (self.wide[-1],))


# ---- the kernel: forward and its fused backward, side by side --------------------------------

def _normalize_forward(x: Any, shared: list[bool], gamma: Any, beta: Any, epsilon: float,
                       keep_centred: bool, out: Any = None) -> tuple:
    """y = γ·(x − μ)/sqrt(σ² + ε) + β with μ, σ² over the ``shared`` axes of x.

    Returns (y, mu, var, rstd, xc); xc = x − μ is what backward needs (None unless
    ``keep_centred``): backward works with x̂ = xc·rstd without it being stored, which saves a
    pass over the data here. The variance is two-pass (from the centred data), in x's dtype, its
    sums of squares formed without writing the squares (``_sum_of_products``). Four passes in
    all: the mean, the centring, the sums of squares, and y = xc·(γ·rstd) + β (two ufuncs). y
    goes to ``out`` if given (contiguous, of x's shape); without ``keep_centred`` the centred
    data is computed in y's buffer.
    """
    xp = array_module(x)
    e = _Wide(x.shape)
    count = max(math.prod(n for n, s in zip(x.shape, shared) if s), 1)  # 0 for an empty batch
    mu = _sum_over(x, shared) / count
    xc = xp.subtract(e(x), e(mu), out=None if keep_centred or out is None else e(out))
    centred = xc.reshape(x.shape)
    var = _sum_of_products(centred, centred, shared) / count
    rstd = 1 / xp.sqrt(var + epsilon)
    y = xp.multiply(xc, e(rstd * gamma),
                    out=xc if not keep_centred else (None if out is None else e(out)))
    y += e(beta)
    return y.reshape(x.shape), mu, var, rstd, centred if keep_centred else None


def _normalize_backward(gy: Any, xc: Any, rstd: Any, gamma: Any, shared: list[bool],
                        channel_axes: tuple[int, int], needs: tuple[bool, bool, bool],
                        out: Any = None) -> tuple:
    """Gradients (dx, dgamma, dbeta) of ``_normalize_forward``, those flagged in ``needs``.

    With x̂ = xc·rstd, dx̂ = γ·gy and means over the shared axes:
        dx = rstd·(dx̂ − mean(dx̂) − x̂·mean(dx̂·x̂)),  dγ = Σ gy·x̂,  dβ = Σ gy  (Σ over all but C).
    Both means come from per-(statistic, channel) partial sums of gy and gy·xc (rstd is constant
    within each sum, so it multiplies the sums), which also give dγ and dβ; the sums of gy·xc
    are formed without writing the products (``_sum_of_products``), so the whole backward reads
    gy and xc for the sums and writes only dx: dx = gy·(γ·rstd) − (xc·k + m) with k, m per
    statistic and channel, three ufuncs and one temporary.
    ``channel_axes`` are the (group, channel-in-group) axes; dγ and dβ come back with their shape;
    dx is written to ``out`` when given (contiguous, of gy's shape).
    """
    xp = array_module(gy)
    e = _Wide(gy.shape)
    need_x, need_gamma, need_beta = needs
    c_axis = channel_axes[1]
    count = max(math.prod(n for n, s in zip(gy.shape, shared) if s), 1)
    partial = [s and i not in channel_axes for i, s in enumerate(shared)]
    others = tuple(i for i in range(gy.ndim) if i not in channel_axes)
    dx = dgamma = dbeta = None
    gsum = _sum_over(gy, partial) if (need_x or need_beta) else None        # Σ gy
    if need_beta:
        dbeta = gsum.sum(axis=others)
    if need_x or need_gamma:
        gxsum = _sum_of_products(gy, xc, partial) * rstd                    # Σ gy·x̂
        if need_gamma:
            dgamma = gxsum.sum(axis=others)
        if need_x:
            # the means of dx̂ and dx̂·x̂ over the shared axes: sum the partial sums over the
            # channels of a group (a single channel for batch and instance normalization)
            mean_dxh = (gamma * gsum).sum(axis=c_axis, keepdims=True) / count
            mean_dxh_xh = (gamma * gxsum).sum(axis=c_axis, keepdims=True) / count
            t = e(xc) * e(rstd * rstd * mean_dxh_xh)
            t += e(rstd * mean_dxh)
            dx = xp.multiply(e(gy), e(rstd * gamma), out=None if out is None else e(out))
            dx -= t
            dx = dx.reshape(gy.shape)
    return dx, dgamma, dbeta


def _affine_forward(x: Any, mu: Any, var: Any, gamma: Any, beta: Any, epsilon: float) -> tuple:
    """Normalization with given statistics (batchnorm prediction): y = a·x + b, two passes."""
    e = _Wide(x.shape)
    rstd = 1 / array_module(x).sqrt(var + epsilon)
    a = rstd * gamma
    y = e(x) * e(a)
    y += e(beta - mu * a)
    return y.reshape(x.shape), rstd, a


def _affine_backward(gy: Any, x: Any, mu: Any, rstd: Any, a: Any, per_channel: list[bool],
                     needs: tuple[bool, bool, bool]) -> tuple:
    """Gradients of ``_affine_forward``: dx = a·gy, dγ = Σ gy·(x − μ)·rstd, dβ = Σ gy."""
    e = _Wide(gy.shape)
    dx = (e(gy) * e(a)).reshape(gy.shape) if needs[0] else None
    dgamma = dbeta = None
    if needs[1]:
        t = e(x) - e(mu)
        t *= e(gy)
        dgamma = _sum_over(t.reshape(gy.shape), per_channel) * rstd
    if needs[2]:
        dbeta = _sum_over(gy, per_channel)
    return dx, dgamma, dbeta


# ---- the grouped channels-last view ----------------------------------------------------------

class _View:
    """Data seen as (B, S..., groups, channels per group, T, U), and the way back.

    ``labels`` has one letter per axis of the view, with "G" for the group axis and "C" for the
    channel-within-group axis.
    """

    def __init__(self, data: Any, fmt: str, groups: int):
        v, self.perm = channels_last(data, fmt)
        labels = "".join(fmt[i] for i in self.perm)
        c = labels.index("C")
        C = v.shape[c]
        self.flat_shape = tuple(v.shape)
        self.shape = v.shape[:c] + (groups, C // groups) + v.shape[c + 1:]
        self.labels = labels[:c] + "GC" + labels[c + 1:]
        self.channel_axes = (c, c + 1)
        self.groups, self.C = groups, C

    def of(self, data: Any) -> Any:
        """The grouped view of canonical data (contiguous: copied once if it is not)."""
        v = data.transpose(self.perm)
        return array_module(v).ascontiguousarray(v).reshape(self.shape)

    def back(self, v: Any) -> Any:
        """Canonical-order view of an array in the grouped view's layout."""
        return from_channels_last(v.reshape(self.flat_shape), self.perm)

    def mask(self, labels: str) -> list[bool]:
        return [label in labels for label in self.labels]

    def param(self, p: Any) -> Any:
        """A per-channel vector (C,) or a scalar, shaped to broadcast against the view."""
        if not hasattr(p, "shape") or p.size == 1:
            return p
        shape = [1] * len(self.shape)
        g, c = self.channel_axes
        shape[g], shape[c] = self.groups, self.C // self.groups
        return p.reshape(shape)


# ---- arguments -------------------------------------------------------------------------------

def _channels(data: Any, fmt: str, where: str) -> int:
    """The number of channels of X; a ValueError for none (nothing to normalize over)."""
    C = data.shape[fmt.index("C")]
    if C == 0:
        raise ValueError(f"{where}: X has no channels (its C dimension has size 0); expected at "
                         "least one channel to normalize")
    return C


def _run(where: str, kind: str, X: Any, offset: Any, scaleFactor: Any, epsilon: Any,
         DataFormat: Any, numGroups: Any = None, operationDimension: Any = None) -> tuple:
    """The one normalization behind the four functions: returns (Y, batch mean, batch var).

    ``operationDimension`` (layer normalization only) replaces the kind's shared labels.
    """
    data, fmt, out_fmt, shape = labelled(X, DataFormat, where, need="C")
    epsilon = check_positive_real(f"{where}: Epsilon", epsilon)
    C = _channels(data, fmt, where)
    groups = _num_groups(numGroups, C, where) if kind == "group" else channel_groups(kind, C)
    view = _View(data, fmt, groups)
    gamma = view.param(per_channel(scaleFactor, C, "scaleFactor", where, data.dtype))
    beta = view.param(per_channel(offset, C, "offset", where, data.dtype))
    labels = SHARED_LABELS[kind] if operationDimension is None else \
        layer_shared_labels(operationDimension, fmt, where)
    shared = view.mask(labels)
    _check_statistics_size(where, kind, view, shared, fmt, data.shape)
    traced = any_traced(X, offset, scaleFactor)
    x = view.of(data)
    xp = array_module(x)
    # Kinds whose statistics are per observation split over the observations (axis 0 of the
    # view) to run on several threads (backend.threads); each chunk is the same computation.
    chunks = op_chunks(x.shape[0], x.size, xp) \
        if view.labels[0] == "B" and not shared[0] else [(0, x.shape[0])]
    y = xp.empty(x.shape, x.dtype) if len(chunks) > 1 else None
    parts = in_parallel(lambda b: _normalize_forward(
        x[b[0]:b[1]], shared, gamma, beta, epsilon, keep_centred=traced,
        out=None if y is None else y[b[0]:b[1]]), chunks)
    if y is None:
        y = parts[0][0]
    mu, var = (parts[0][i] if len(parts) == 1 else xp.concatenate([p[i] for p in parts])
               for i in (1, 2))
    out = view.back(y).reshape(shape)
    if not traced:
        return dlarray._wrap(out, out_fmt), mu, var

    def backward(gy: Any, needs: tuple) -> tuple:  # needs: X, offset (β), scaleFactor (γ)
        g = view.of(gy.reshape(data.shape))
        dx = xp.empty(g.shape, g.dtype) if len(chunks) > 1 and needs[0] else None
        grads = in_parallel(lambda k: _normalize_backward(
            g[chunks[k][0]:chunks[k][1]], parts[k][4], parts[k][3], gamma, shared,
            view.channel_axes, (needs[0], needs[2], needs[1]),
            out=None if dx is None else dx[chunks[k][0]:chunks[k][1]]), range(len(chunks)))
        if len(chunks) == 1:
            dx = grads[0][0]
        dgamma, dbeta = (sum_parts([p[i] for p in grads]) for i in (1, 2))
        return (view.back(dx).reshape(shape) if dx is not None else None,
                grad_like(dbeta, offset), grad_like(dgamma, scaleFactor))

    return record(out, out_fmt, (X, offset, scaleFactor), backward), mu, var


def _check_statistics_size(where: str, kind: str, view: _View, shared: list[bool], fmt: str,
                           shape: tuple) -> None:
    """Statistics of a single element make x̂ = 0, so Y = offset whatever X is (and dY/dX = 0).

    For batch normalization that happens only with one observation and no S or T elements (a
    mini-batch of one feature vector, e.g. the last one of an epoch): a RuntimeWarning, since
    the next mini-batch may be fine. For the other kinds it follows from the format alone (e.g.
    instance normalization of "CB" data, which has no S or T dimension to average over): every
    call would return the offset, so it is a ValueError.
    """
    count = math.prod(n for n, s in zip(view.shape, shared) if s)
    if count != 1 or math.prod(shape) == 0:
        return
    size = "x".join(str(n) for n in shape)
    if kind == "batch":
        warnings.warn(f"{where}: each channel's statistics cover a single element (X is {size} "
                      f"'{fmt}': one observation and no S or T elements), so the output is the "
                      "offset for every input and the gradient with respect to X is 0; train with "
                      "mini-batches of two or more observations", RuntimeWarning, stacklevel=4)
        return
    raise ValueError(f"{where}: X ({size} '{fmt}') gives statistics of a single element, so the "
                     "output would be the offset for every input; X must have more than one "
                     "element per statistic (for instancenorm an S or T dimension of size > 1, "
                     "e.g. 'SSCB' or 'CBT' data, not 'CB')")


# ---- public functions: they differ only in which dimensions share statistics -----------------

def instancenorm(X: Any, offset: Any, scaleFactor: Any, *args: Any, Epsilon: float = 1e-5,
                 DataFormat: str | None = None) -> dlarray:
    """Instance normalization: each channel of each observation over its S, T (and U) elements.

    ``Y = instancenorm(X, offset, scaleFactor)``; ``offset`` and ``scaleFactor`` have one value
    per channel (any shape, e.g. C or 1x1xC) or are scalars. Name-Value: Epsilon (1e-5),
    DataFormat (labels for unformatted X; the result is then unformatted).
    """
    o = op_options("instancenorm", args, {"Epsilon": Epsilon, "DataFormat": DataFormat})
    return _run("instancenorm", "instance", X, offset, scaleFactor, o["Epsilon"],
                o["DataFormat"])[0]


def layernorm(X: Any, offset: Any, scaleFactor: Any, *args: Any, Epsilon: float = 1e-5,
              DataFormat: str | None = None, OperationDimension: str = "batch-excluded") -> dlarray:
    """Layer normalization: each observation over all its S, C, T and U elements.

    ``Y = layernorm(X, offset, scaleFactor)``, scale and offset per channel. Name-Value: Epsilon
    (1e-5), DataFormat, OperationDimension: "batch-excluded" (the default here: S, C, T and U
    together), "channel-only" (C alone: each time step and pixel separately, like PyTorch's
    LayerNorm(C)), "spatial-channel" (S and C: each time step separately) or "auto"
    (layerNormalizationLayer's default: "spatial-channel" for 2-D/3-D images, else
    "channel-only").
    """
    o = op_options("layernorm", args, {"Epsilon": Epsilon, "DataFormat": DataFormat,
                                     "OperationDimension": OperationDimension})
    layer_shared_labels(o["OperationDimension"], "", "layernorm")  # a bad value: ValueError
    return _run("layernorm", "layer", X, offset, scaleFactor, o["Epsilon"], o["DataFormat"],
                operationDimension=o["OperationDimension"])[0]


def groupnorm(X: Any, numGroups: Any, offset: Any, scaleFactor: Any, *args: Any,
              Epsilon: float = 1e-5, DataFormat: str | None = None) -> dlarray:
    """Group normalization: each group of consecutive channels of each observation, with S/T/U.

    ``Y = groupnorm(X, numGroups, offset, scaleFactor)``; numGroups is a positive integer that
    divides the number of channels, "all-channels" (one group: layer normalization) or
    "channel-wise" (one channel per group: instance normalization). Name-Value: Epsilon (1e-5),
    DataFormat.
    """
    o = op_options("groupnorm", args, {"Epsilon": Epsilon, "DataFormat": DataFormat})
    return _run("groupnorm", "group", X, offset, scaleFactor, o["Epsilon"], o["DataFormat"],
                numGroups)[0]


def batchnorm(X: Any, offset: Any, scaleFactor: Any, *args: Any, Epsilon: float = 1e-5,
              MeanDecay: float = 0.1, VarianceDecay: float = 0.1, Training: bool = True,
              DataFormat: str | None = None) -> Any:
    """Batch normalization: each channel over all its S, B, T and U elements.

    * ``Y = batchnorm(X, offset, scaleFactor)`` normalizes with the mini-batch statistics.
    * ``Y, runMean, runVar = batchnorm(X, offset, scaleFactor, runMean, runVar)`` (training)
      also returns the updated running statistics
      ``new = decay·batch + (1 − decay)·old`` with MeanDecay and VarianceDecay (0.1 each).
      The batch variance in the update is the same biased (1/N) variance used to normalize,
      as MATLAB's documented update formula reads (MATLAB does not say it uses N/(N−1)).
    * ``Y = batchnorm(X, offset, scaleFactor, trainedMean, trainedVar, Training=False)``
      (prediction) normalizes with the given statistics. MATLAB tells the two five-argument
      forms apart by the number of outputs, which Python cannot see, hence ``Training``.

    Statistics have one value per channel (any shape); updated ones come back in the shape and
    type (dlarray or raw array) they were given, in X's dtype. Name-Value: Epsilon (1e-5),
    MeanDecay, VarianceDecay, Training (True), DataFormat.
    """
    where = "batchnorm"
    stats = []
    while args and not isinstance(args[0], str) and len(stats) < 2:
        stats.append(args[0])
        args = args[1:]
    if len(stats) == 1:
        raise ValueError("batchnorm: give both the mean and the variance statistics "
                         "(batchnorm(X, offset, scaleFactor, mean, variance)), got only one")
    o = op_options(where, args, {"Epsilon": Epsilon, "MeanDecay": MeanDecay,
                               "VarianceDecay": VarianceDecay, "Training": Training,
                               "DataFormat": DataFormat})
    training = check_flag("batchnorm: Training", o["Training"])
    if not stats:
        if not training:
            raise ValueError("batchnorm: Training=False (prediction) needs the trained mean and "
                             "variance: batchnorm(X, offset, scaleFactor, trainedMean, "
                             "trainedVar, Training=False)")
        return _run(where, "batch", X, offset, scaleFactor, o["Epsilon"], o["DataFormat"])[0]
    if not training:
        return _batchnorm_predict(X, offset, scaleFactor, stats[0], stats[1], o["Epsilon"],
                                  o["DataFormat"])
    mean_decay = check_in_range("batchnorm: MeanDecay", o["MeanDecay"], 0, 1)
    var_decay = check_in_range("batchnorm: VarianceDecay", o["VarianceDecay"], 0, 1)
    data, fmt, _, _ = labelled(X, o["DataFormat"], where, need="C")
    C = data.shape[fmt.index("C")]
    old_mean = per_channel(stats[0], C, "runMean", where, data.dtype)
    old_var = per_channel(stats[1], C, "runVar", where, data.dtype)
    Y, mu, var = _run(where, "batch", X, offset, scaleFactor, o["Epsilon"], o["DataFormat"])
    if data.size == 0:  # an empty mini-batch has no statistics: the running ones stay
        mean_decay = var_decay = 0.0
    new_mean = mean_decay * mu.reshape(-1) + (1 - mean_decay) * old_mean
    new_var = var_decay * var.reshape(-1) + (1 - var_decay) * old_var
    return Y, _like(new_mean, stats[0]), _like(new_var, stats[1])


def _like(values: Any, template: Any) -> Any:
    """Updated statistics in the shape and kind (dlarray or raw array) of the ones given."""
    raw = template._data if isinstance(template, dlarray) else template
    shape = getattr(raw, "shape", ())
    out = values.reshape(shape) if values.size == math.prod(shape) else values
    return dlarray._wrap(out, template._fmt) if isinstance(template, dlarray) else out


def _batchnorm_predict(X: Any, offset: Any, scaleFactor: Any, trainedMean: Any, trainedVar: Any,
                       epsilon: Any, DataFormat: Any) -> dlarray:
    where = "batchnorm"
    data, fmt, out_fmt, shape = labelled(X, DataFormat, where, need="C")
    epsilon = check_positive_real(f"{where}: Epsilon", epsilon)
    C = _channels(data, fmt, where)
    view = _View(data, fmt, C)
    gamma = view.param(per_channel(scaleFactor, C, "scaleFactor", where, data.dtype))
    beta = view.param(per_channel(offset, C, "offset", where, data.dtype))
    mu = view.param(per_channel(trainedMean, C, "trainedMean", where, data.dtype))
    var = view.param(per_channel(trainedVar, C, "trainedVar", where, data.dtype))
    x = view.of(data)
    y, rstd, a = _affine_forward(x, mu, var, gamma, beta, epsilon)
    out = view.back(y).reshape(shape)
    if not any_traced(X, offset, scaleFactor):
        return dlarray._wrap(out, out_fmt)
    channel_sums = view.mask("SBTU")

    def backward(gy: Any, needs: tuple) -> tuple:
        g = view.of(gy.reshape(data.shape))
        dx, dgamma, dbeta = _affine_backward(g, x, mu, rstd, a, channel_sums,
                                             (needs[0], needs[2], needs[1]))
        return (view.back(dx).reshape(shape) if dx is not None else None,
                grad_like(dbeta, offset), grad_like(dgamma, scaleFactor))

    return record(out, out_fmt, (X, offset, scaleFactor), backward)
