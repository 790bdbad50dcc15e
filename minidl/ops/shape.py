"""Shape ops: ``flatten`` and ``concatenate``, which move elements without changing them.

Their forward copies (or views) the data and their backward routes each gradient element back
to the input element it came from, so gradients are exact. ``flattenLayer`` is a thin object
over ``flatten``; ``concatenationLayer``, ``depthConcatenationLayer`` and ``bilstmLayer``
(which stacks its two directions as channels) over ``concatenate``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..backend import array_module
from ..core import channels_last, dlarray, inverse_permutation, record

__all__ = ["flatten", "concatenate"]


def flatten(X: dlarray) -> dlarray:
    """Collapse the S and C dimensions into one C dimension in MATLAB's column-major order.

    An H x W x C x N "SSCB" array becomes (H·W·C) x N "CB", element (h, w, c) going to row
    h + H·w + H·W·c (0-based), as MATLAB's reshape would; B and T stay. Backward reverses it.
    X: a formatted dlarray.
    """
    fmt = X.fmt
    lead = [i for i, label in enumerate(fmt) if label in "SC"]
    rest = [i for i, label in enumerate(fmt) if label not in "SC"]
    shape = X.shape
    # column-major over the leading axes is row-major over them reversed
    perm = tuple(rest) + tuple(reversed(lead))
    n_rest = len(rest)
    rest_shape = tuple(shape[i] for i in rest)
    y = X._data.transpose(perm).reshape(rest_shape + (-1,))
    y = y.transpose((n_rest,) + tuple(range(n_rest)))
    moved = tuple(shape[i] for i in perm)
    inverse = inverse_permutation(perm)

    def backward(gy: Any, needs: tuple) -> tuple:
        g = gy.transpose(tuple(range(1, n_rest + 1)) + (0,)).reshape(moved)
        return (g.transpose(inverse),)

    return record(y, "C" + "".join(fmt[i] for i in rest), (X,), backward)


def concatenate(Xs: Sequence[dlarray], axis: int, keep_layout: bool = False) -> dlarray:
    """dlarrays of one format joined along canonical ``axis`` (0-based), in order.

    The inputs' sizes must agree except along ``axis`` (the layers check that and name
    themselves in the error). The result is one buffer in channels-last memory order
    (B, S..., C, T, U: how the image ops keep their data, ``core.channels_last``) whatever the
    inputs' orders. With ``keep_layout`` it is in the memory order the inputs share, so the next
    op reads it as it would have read them (bilstmLayer joins two ``lstm`` outputs, which are
    time-major: T, B, C), and channels-last only when their orders differ. Backward: each input
    gets its slice of the output gradient along ``axis``.
    """
    fmt = Xs[0].fmt
    datas = [X._data for X in Xs]
    perm = _buffer_order(datas, fmt, keep_layout)
    parts = [d.transpose(perm) for d in datas]
    memory_axis = perm.index(axis)
    xp = array_module(*parts)
    shape = list(parts[0].shape)
    shape[memory_axis] = sum(p.shape[memory_axis] for p in parts)
    # into a buffer of that memory order: concatenate alone could pick another one
    joined = xp.empty(tuple(shape), dtype=xp.result_type(*parts))
    xp.concatenate(parts, axis=memory_axis, out=joined)
    bounds, start = [], 0
    for X in Xs:
        bounds.append((start, start + X.shape[axis]))
        start += X.shape[axis]

    def backward(gy: Any, needs: tuple) -> tuple:
        index = [slice(None)] * gy.ndim
        out = []
        for (lo, hi), need in zip(bounds, needs):
            index[axis] = slice(lo, hi)
            out.append(gy[tuple(index)] if need else None)
        return tuple(out)

    return record(joined.transpose(inverse_permutation(perm)), fmt, tuple(Xs), backward)


def _buffer_order(datas: list, fmt: str, keep_layout: bool) -> tuple[int, ...]:
    """The axes of the result from the outermost in memory to the innermost: the inputs' shared
    order (``keep_layout``), else channels-last (canonical order for unformatted data)."""
    orders = {_memory_order(d) for d in datas} if keep_layout else set()
    if len(orders) == 1:
        return orders.pop()
    return channels_last(datas[0], fmt)[1] if fmt else tuple(range(datas[0].ndim))


def _memory_order(data: Any) -> tuple[int, ...]:
    """The axes of ``data`` from the outermost in memory to the innermost (largest stride
    first; ties, as size-1 axes make, in axis order)."""
    return tuple(sorted(range(data.ndim), key=lambda i: -abs(data.strides[i])))
