"""Primitive ops: arithmetic, elementwise functions, reductions, reshaping and indexing.

Each op computes its result on raw arrays of the inputs' module (``xp``) and records, right
next to it, the closure that turns the output gradient ``gy`` into input gradients. Python
scalars stay Python scalars, so float32 data stays float32 (NumPy treats them as weak types);
NumPy scalars become Python scalars and other non-dlarray operands take the dlarray's dtype.
"""

from __future__ import annotations

import builtins
import math
from typing import Any

import numpy as np

from ..backend import array_module, matmul, scatter_add
from .dlarray import LABEL_ORDER, canonical_format, dlarray, inverse_permutation, record

__all__ = ["exp", "log", "sqrt", "maximum", "minimum"]


def _raw(x: Any) -> Any:
    return x._data if isinstance(x, dlarray) else x


def _fmt(x: Any) -> str:
    return x._fmt if isinstance(x, dlarray) else ""


def _shape(x: Any) -> tuple:
    """Shape of a raw array, () for a Python scalar."""
    return tuple(getattr(x, "shape", ()))


# ---- broadcasting between labelled operands -------------------------------------------------

def _operands(a: Any, b: Any) -> tuple[Any, Any, str]:
    """Raw operands of a binary op, aligned for broadcasting, and the output format.

    Two formatted operands are matched by label; otherwise dimensions align from the left, as
    in MATLAB's implicit expansion (the shorter operand gets trailing singletons). Shapes that do
    not broadcast are a ValueError naming both sizes and formats.
    """
    af, bf = _fmt(a), _fmt(b)
    ad, bd = _same_dtype(a, b)
    if af and bf and af != bf:
        fmt = "".join(label * builtins.max(af.count(label), bf.count(label))
                      for label in LABEL_ORDER)
        ad, bd = _expand(ad, af, fmt), _expand(bd, bf, fmt)
    else:
        fmt = af or bf
        sa, sb = _shape(ad), _shape(bd)
        if sa == sb or not sa or not sb:  # nothing to align (the common case)
            return ad, bd, fmt
        if fmt:  # the unformatted one may not have more dimensions than there are labels
            ad, bd = _fit(ad, len(fmt), a, b), _fit(bd, len(fmt), a, b)
        ad, bd = _pad_right(ad, len(_shape(bd))), _pad_right(bd, len(_shape(ad)))
    _check_broadcast(ad, bd, a, b)
    return ad, bd, fmt


def _same_dtype(a: Any, b: Any) -> tuple[Any, Any]:
    """Raw operands in one float dtype (MATLAB: single op double is single).

    A NumPy scalar becomes a Python scalar (weak, like MATLAB's double scalars); another array
    operand takes the dlarray's dtype; between two dlarrays of different float dtypes the
    narrower one (float32) wins. Host and device operands may not mix: a clear TypeError.
    """
    ad, bd = _constant(a), _constant(b)
    xp = array_module(ad, bd)
    da, db = getattr(ad, "dtype", None), getattr(bd, "dtype", None)
    if da is None or db is None or da == db:
        return ad, bd
    if isinstance(a, dlarray) == isinstance(b, dlarray):
        dtype = builtins.min(da, db, key=lambda d: (d.kind != "f", d.itemsize))
    else:
        dtype = da if isinstance(a, dlarray) else db
    return tuple(x if x.dtype == dtype else xp.asarray(x, dtype=dtype) for x in (ad, bd))


def _constant(x: Any) -> Any:
    """The raw array of an operand: a NumPy scalar (``np.sqrt(4.0)``) as the Python scalar it
    holds, a list or tuple as a NumPy array."""
    if isinstance(x, dlarray):
        return x._data
    if isinstance(x, np.generic):
        x = x.item()
    elif isinstance(x, (list, tuple)):
        try:
            x = np.asarray(x)
        except ValueError:
            raise ValueError("a dlarray's operand must be numeric of one size per dimension, "
                             "got a ragged nested list") from None
    kind = getattr(getattr(x, "dtype", None), "kind", "f")
    if isinstance(x, (str, bytes)) or kind in "USOVc" or not (
            hasattr(x, "dtype") or isinstance(x, (int, float, bool))):
        what = f"dtype {x.dtype}" if hasattr(x, "dtype") else type(x).__name__
        raise TypeError(f"a dlarray's operand must be real numbers (a dlarray, an array or a "
                        f"number), got {what}")
    return x


def _fit(data: Any, ndim: int, a: Any, b: Any) -> Any:
    """Drop trailing singletons beyond ``ndim``; more non-singleton dimensions are an error."""
    shape = _shape(data)
    if len(shape) <= ndim:
        return data
    if any(n != 1 for n in shape[ndim:]):
        formatted, other = (a, b) if _fmt(a) else (b, a)
        raise ValueError(
            f"cannot combine a dlarray of size {_describe(formatted)} with an unformatted operand "
            f"of size {_size(other)}: it has more dimensions than the format "
            f"{_fmt(formatted)!r} has labels; give it a format (dlarray(Y, fmt)) or reshape it")
    return data.reshape(shape[:ndim])


def _pad_right(data: Any, ndim: int) -> Any:
    """Append singleton dimensions up to ``ndim`` (MATLAB's trailing singletons)."""
    shape = _shape(data)
    if 0 < len(shape) < ndim:
        return data.reshape(shape + (1,) * (ndim - len(shape)))
    return data


def _check_broadcast(ad: Any, bd: Any, a: Any, b: Any) -> None:
    """Aligned shapes must agree in each dimension or be 1 there (a 0-d operand always fits)."""
    sa, sb = _shape(ad), _shape(bd)
    if sa == sb or not sa or not sb:
        return
    if len(sa) != len(sb) or any(m != n and m != 1 and n != 1 for m, n in zip(sa, sb)):
        what = "dlarrays" if isinstance(a, dlarray) and isinstance(b, dlarray) else "operands"
        raise ValueError(f"cannot combine {what} of size {_describe(a)} and {_describe(b)}: "
                         "each dimension must have the same size in both, or size 1 in one "
                         "(dimensions align by label, else from the left)")


def _describe(x: Any) -> str:
    """MATLAB-style size and format of an operand, e.g. "3x4 (CB)", "3x4 (unformatted)"."""
    if isinstance(x, dlarray):
        return f"{_size(x)} ({x._fmt or 'unformatted'})"
    return f"{_size(x)} ({_type_name(x)})"


def _size(x: Any) -> str:
    shape = _shape(_raw(x))
    return "x".join(str(n) for n in shape) if shape else "1x1"


def _type_name(x: Any) -> str:
    """``numpy.ndarray``, ``list``, ...: the qualified name of a value's type."""
    kind = type(x)
    return kind.__qualname__ if kind.__module__ == "builtins" else \
        f"{kind.__module__.split('.')[0]}.{kind.__qualname__}"


def _expand(data: Any, fmt: str, target: str) -> Any:
    """Insert singleton dimensions so canonical ``data`` labelled ``fmt`` is labelled ``target``."""
    shape, sizes = [], list(zip(fmt, data.shape))
    for label in LABEL_ORDER:
        mine = [n for lab, n in sizes if lab == label]
        shape += mine + [1] * (target.count(label) - len(mine))
    return data.reshape(shape)


def sum_to(g: Any, shape: tuple) -> Any:
    """Sum a broadcast gradient back down to ``shape`` (the inverse of broadcasting)."""
    shape = tuple(shape)
    if g.shape == shape:
        return g
    lead = g.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(lead + i for i, n in enumerate(shape)
                                      if n == 1 and g.shape[lead + i] != 1)
    return g.sum(axis=axes, keepdims=True).reshape(shape)


def _binary(a: Any, b: Any, y: Any, fmt: str, ad: Any, bd: Any,
            grad_a: Any, grad_b: Any) -> dlarray:
    """Record a broadcasting binary op. ``grad_a(gy)``/``grad_b(gy)`` give the gradient at the
    broadcast shape; it is summed back to each operand's (aligned) shape, then its own shape and
    dtype (a float64 operand of a float32 op gets a float64 gradient)."""
    own = [(_shape(_raw(x)), getattr(_raw(x), "dtype", None)) for x in (a, b)]
    shapes = ((_shape(ad), *own[0]), (_shape(bd), *own[1]))

    def backward(gy: Any, needs: tuple) -> tuple:
        return tuple(_cast(sum_to(grad(gy), aligned).reshape(shape), dtype) if need else None
                     for grad, (aligned, shape, dtype), need
                     in zip((grad_a, grad_b), shapes, needs))

    return record(y, fmt, (a, b), backward)


def _cast(g: Any, dtype: Any) -> Any:
    return g if dtype is None or g.dtype == dtype else g.astype(dtype)


# ---- arithmetic --------------------------------------------------------------------------------

def plus(a: Any, b: Any) -> dlarray:
    ad, bd, fmt = _operands(a, b)
    return _binary(a, b, ad + bd, fmt, ad, bd, lambda gy: gy, lambda gy: gy)


def minus(a: Any, b: Any) -> dlarray:
    ad, bd, fmt = _operands(a, b)
    return _binary(a, b, ad - bd, fmt, ad, bd, lambda gy: gy, lambda gy: -gy)


def times(a: Any, b: Any) -> dlarray:
    ad, bd, fmt = _operands(a, b)
    return _binary(a, b, ad * bd, fmt, ad, bd, lambda gy: gy * bd, lambda gy: gy * ad)


def rdivide(a: Any, b: Any) -> dlarray:
    ad, bd, fmt = _operands(a, b)
    y = ad / bd
    return _binary(a, b, y, fmt, ad, bd, lambda gy: gy / bd, lambda gy: -gy * y / bd)


def power(a: Any, b: Any) -> dlarray:
    """a .^ b. As in PyTorch, the gradient with respect to b is 0 where a == 0 (the limit of
    a^b log(a) for b > 0, NaN only for a negative base) and the one with respect to a is 0 where
    b == 0 (a^0 is constant), instead of the NaN of 0 * log(0) and 0 * 0^-1."""
    ad, bd, fmt = _operands(a, b)
    xp = array_module(ad, bd)
    y = ad ** bd
    return _binary(a, b, y, fmt, ad, bd, lambda gy: gy * _dpower_dbase(xp, ad, bd),
                   lambda gy: gy * _dpower_dexponent(xp, y, ad))


def _dpower_dbase(xp: Any, a: Any, b: Any) -> Any:
    """b a^(b-1), 0 where b == 0."""
    if not hasattr(b, "shape"):
        return b * a ** (b - 1) if b != 0 else 0
    return b * a ** xp.where(b == 0, 1, b - 1)


def _dpower_dexponent(xp: Any, y: Any, a: Any) -> Any:
    """a^b log(a): 0 where a == 0, NaN where a < 0 (no real logarithm)."""
    if not hasattr(a, "shape"):
        return y * (math.log(a) if a > 0 else 0.0 if a == 0 else math.nan)
    positive = a > 0
    out = xp.where(positive, y, 0) * xp.log(xp.where(positive, a, 1))
    return xp.where(a >= 0, out, math.nan)


def uminus(x: dlarray) -> dlarray:
    check_dlarray(x, "uminus")
    return record(-x._data, x._fmt, (x,), lambda gy, needs: (-gy,))


def maximum(a: Any, b: Any) -> dlarray:
    """Elementwise maximum; where the two are equal the gradient goes to ``a``.

    NaN is omitted, as by MATLAB's max: where one operand is NaN the result is the other (NaN
    only where both are), in either argument order, and the gradient goes to the operand taken.
    """
    ad, bd, fmt = _operands(a, b)
    return _select(a, b, ad, bd, fmt, (ad >= bd) | _isnan(bd))


def minimum(a: Any, b: Any) -> dlarray:
    """Elementwise minimum; where the two are equal the gradient goes to ``a``.

    NaN is omitted, as by MATLAB's min (see ``maximum``)."""
    ad, bd, fmt = _operands(a, b)
    return _select(a, b, ad, bd, fmt, (ad <= bd) | _isnan(bd))


def _isnan(x: Any) -> Any:
    return x != x  # elementwise for arrays, a bool for Python scalars


def _select(a: Any, b: Any, ad: Any, bd: Any, fmt: str, take_a: Any) -> dlarray:
    """``a`` where ``take_a``, else ``b``; the gradient follows the choice."""
    xp = array_module(ad, bd)
    return _binary(a, b, xp.where(take_a, ad, bd), fmt, ad, bd,
                   lambda gy: xp.where(take_a, gy, 0), lambda gy: xp.where(take_a, 0, gy))


def mtimes(a: Any, b: Any) -> dlarray:
    """Matrix product of two 2-D arrays (``a @ b``); the result is unformatted."""
    ad, bd = _same_dtype(a, b)
    if len(_shape(ad)) != 2 or len(_shape(bd)) != 2:
        raise ValueError(f"@ (mtimes) needs two matrices, got {len(_shape(ad))}-D and "
                         f"{len(_shape(bd))}-D "
                         "operands: use reshape first")
    if ad.shape[1] != bd.shape[0]:
        raise ValueError(f"@ (mtimes): inner sizes differ: {ad.shape[0]}x{ad.shape[1]} times "
                         f"{bd.shape[0]}x{bd.shape[1]}")
    dtypes = [getattr(_raw(x), "dtype", None) for x in (a, b)]
    return record(matmul(ad, bd), "", (a, b), lambda gy, needs: (
        _cast(matmul(gy, bd.T), dtypes[0]) if needs[0] else None,
        _cast(matmul(ad.T, gy), dtypes[1]) if needs[1] else None))


# ---- elementwise functions ---------------------------------------------------------------------

def check_dlarray(X: Any, fname: str) -> None:
    """MATLAB's dlarray functions take dlarrays: plain arrays are a TypeError, not a crash."""
    if not isinstance(X, dlarray):
        raise TypeError(f"{fname}: X must be a dlarray, got {_type_name(X)}: wrap the data "
                        "first, dlarray(X)")


def exp(x: dlarray) -> dlarray:
    """e^x; gradient gy * e^x."""
    check_dlarray(x, "exp")
    y = array_module(x._data).exp(x._data)
    return record(y, x._fmt, (x,), lambda gy, needs: (gy * y,))


def log(x: dlarray) -> dlarray:
    """Natural logarithm; gradient gy / x."""
    check_dlarray(x, "log")
    xd = x._data
    return record(array_module(xd).log(xd), x._fmt, (x,), lambda gy, needs: (gy / xd,))


def sqrt(x: dlarray) -> dlarray:
    """Square root; gradient gy / (2 sqrt(x))."""
    check_dlarray(x, "sqrt")
    y = array_module(x._data).sqrt(x._data)
    return record(y, x._fmt, (x,), lambda gy, needs: (gy / (2 * y),))


def abs(x: dlarray) -> dlarray:  # noqa: A001  (MATLAB's name)
    """|x|; gradient gy * sign(x) (0 at 0)."""
    check_dlarray(x, "abs")
    xp = array_module(x._data)
    sign = xp.sign(x._data)
    return record(xp.abs(x._data), x._fmt, (x,), lambda gy, needs: (gy * sign,))


# ---- reductions and reshaping ------------------------------------------------------------------

def _axes(x: dlarray, dims: Any, fname: str) -> tuple[int, ...] | None:
    """Axes named by labels ("S", "SC"), by 0-based integers, or None for all."""
    if dims is None:
        return None
    if isinstance(dims, str):
        axes = tuple(i for i, label in enumerate(x._fmt) if label in dims.upper())
        missing = [label for label in dims.upper() if label not in x._fmt]
        if missing:
            raise ValueError(f"cannot reduce over label(s) {''.join(missing)!r}: "
                             f"the dlarray has format {x._fmt or 'none (unformatted)'!r}")
        return axes
    several = isinstance(dims, (tuple, list, range)) or getattr(dims, "ndim", 0) == 1
    axes = tuple(dims) if several else (dims,)
    if not all(isinstance(ax, (int, np.integer)) and not isinstance(ax, bool) for ax in axes):
        raise TypeError(f"{fname}: dims must be labels such as 'S' or 'SB', a 0-based integer "
                        f"axis or a tuple of them, got {dims!r}")
    for ax in axes:
        if not -x.ndim <= ax < x.ndim:
            raise ValueError(f"axis {ax} is out of range for a {x.ndim}-D dlarray")
    return tuple(ax % x.ndim for ax in axes)


def sum(x: dlarray, dims: Any = None) -> dlarray:  # noqa: A001
    """Sum of all elements (an unformatted scalar), or over some dimensions (kept as singletons)."""
    axes = _axes(x, dims, "sum")
    xp, shape = array_module(x._data), x._data.shape
    y = x._data.sum() if axes is None else x._data.sum(axis=axes, keepdims=True)
    fmt = "" if axes is None else x._fmt
    return record(y, fmt, (x,), lambda gy, needs: (xp.broadcast_to(gy, shape),))


def mean(x: dlarray, dims: Any = None) -> dlarray:
    """Mean of all elements (an unformatted scalar), or over some dimensions (kept as singletons).
    """
    axes = _axes(x, dims, "mean")
    xp, shape = array_module(x._data), x._data.shape
    count = x._data.size if axes is None else int(np.prod([shape[a] for a in axes]))
    y = x._data.mean() if axes is None else x._data.mean(axis=axes, keepdims=True)
    fmt = "" if axes is None else x._fmt
    return record(y, fmt, (x,), lambda gy, needs: (xp.broadcast_to(gy / count, shape),))


def reshape(x: dlarray, *shape: Any) -> dlarray:
    """Reshape (C order, like NumPy); the result is unformatted."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    old = x._data.shape
    try:
        y = x._data.reshape(shape)
    except ValueError as err:
        raise ValueError(f"cannot reshape a dlarray of size {tuple(old)} into {shape}") from err
    return record(y, "", (x,), lambda gy, needs: (gy.reshape(old),))


def _is_basic(index: Any) -> bool:
    parts = index if isinstance(index, tuple) else (index,)
    return all(isinstance(p, (slice, int, np.integer)) or p is Ellipsis or p is None for p in parts)


def _integer_index(index: dlarray) -> Any:
    """The integer array behind an index dlarray (dlarray data is float: 2.0 means 2)."""
    data = index._data
    if data.dtype.kind in "iub":
        return data
    xp = array_module(data)
    if not bool((xp.isfinite(data) & (xp.floor(data) == data)).all()):
        raise TypeError("an index dlarray must hold integer values (dlarray stores them as "
                        f"floats), got non-integer {data.dtype} values")
    return data.astype(xp.int64)


def subsref(x: dlarray, index: Any) -> dlarray:
    """Indexing; keeps the format when only slices are used, else gives an unformatted result."""
    if isinstance(index, dlarray):
        index = _integer_index(index)
    elif isinstance(index, tuple):
        index = tuple(_integer_index(i) if isinstance(i, dlarray) else i for i in index)
    parts = index if isinstance(index, tuple) else (index,)
    keep = all(isinstance(p, slice) or p is Ellipsis for p in parts)
    y = x._data[index]
    xp, shape, dtype = array_module(x._data), x._data.shape, x._data.dtype
    basic = _is_basic(index)

    def backward(gy: Any, needs: tuple) -> tuple:
        g = xp.zeros(shape, dtype=dtype)
        if basic:
            g[index] = gy
        else:
            scatter_add(g, index, gy)
        return (g,)

    return record(y, x._fmt if keep else "", (x,), backward)


def relabel(x: dlarray, fmt: str) -> dlarray:
    """Give unformatted data (in its current order) the labels ``fmt``, permuting to canonical."""
    out_fmt, perm = canonical_format(fmt, x.ndim)
    old = x._data.shape
    expanded = old + (1,) * (len(perm) - len(old))
    y = x._data.reshape(expanded).transpose(perm)
    inverse = inverse_permutation(perm)
    return record(y, out_fmt, (x,), lambda gy, needs: (gy.transpose(inverse).reshape(old),))
