"""dlarray: an array with dimension labels, the value every minidl op takes and returns.

Labels (MATLAB's data format):
    S spatial, C channel, B batch (observations), T time, U unspecified.
S and U may repeat; C, B and T appear at most once. On construction the data is permuted to
MATLAB's canonical order, all S, then C, B, T, U, so ``dlarray(x_nchw, "BCSS")`` has format
"SSCB" and shape (H, W, C, N): ``X.shape`` is MATLAB's ``size(X)``.

Format rules, in one place:
    * elementwise ops keep the format; two formatted operands are matched by label, a label
      missing from one acts as a singleton (a "C" bias broadcasts over "SSCB" data);
      otherwise dimensions align from the left, as MATLAB's implicit expansion does (a 1x1xC
      array broadcasts over H x W x C x N data, a 3-vector over 3x1x5 data); an unformatted
      operand with more non-singleton dimensions than a formatted one has labels is an error;
    * an operand that is not a dlarray (NumPy array or scalar) takes the dlarray's dtype, and
      float32 wins over float64 between two dlarrays (MATLAB: single op double is single);
    * a full reduction (``X.sum()``) gives an unformatted scalar; a reduction over labels
      (``X.sum("S")``) keeps those dimensions as singletons with their labels;
    * reshape, ``@`` and indexing that drops dimensions give unformatted results;
    * loss functions return unformatted scalars.

Memory layout (a speed choice, invisible to users): ops that produce images store them with the
batch outermost and channels innermost (N, H, W, C in memory), and return a transposed *view*
in canonical order. Elementwise NumPy ops preserve that layout, and convolution, pooling and
normalization then read contiguous memory without copying. ``channels_last`` gives that view.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._matlab import check_format_text
from ..backend import array_module
from .tape import child, is_tracing, leaf

__all__ = ["dlarray", "dims", "finddim", "stripdims", "extractdata"]

LABEL_ORDER = "SCBTU"


def canonical_format(fmt: str, ndim: int) -> tuple[str, tuple[int, ...]]:
    """Validate a format string; return the canonical format and the permutation to reach it.

    ``fmt`` may be longer than ``ndim`` (missing trailing dimensions are singletons).
    """
    if not isinstance(fmt, str):
        raise TypeError(f"dlarray format must be a string such as 'SSCB', got {type(fmt).__name__}")
    fmt = check_format_text("format", fmt)  # ASCII only: "ſ".upper() is "S"
    for label in fmt:
        if label not in LABEL_ORDER:
            raise ValueError(f"invalid dimension label {label!r} in format {fmt!r}: "
                             "labels are S (spatial), C (channel), B (batch), T (time), "
                             "U (unspecified)")
    for label in "CBT":
        if fmt.count(label) > 1:
            raise ValueError(f"format {fmt!r} has more than one {label!r} label: "
                             "C, B and T may appear at most once")
    if len(fmt) < ndim:
        raise ValueError(f"format {fmt!r} has {len(fmt)} labels but the data has {ndim} "
                         "dimensions: give one label per dimension")
    perm = tuple(sorted(range(len(fmt)), key=lambda i: (LABEL_ORDER.index(fmt[i]), i)))
    return "".join(fmt[i] for i in perm), perm


def _numeric(X: Any) -> Any:
    """The backend array behind X: bool and integer data become float32; others are kept."""
    xp = array_module(X)
    if xp is np and not isinstance(X, np.ndarray):
        if isinstance(X, (str, bytes)) or (isinstance(X, (list, tuple)) and _has_str(X)):
            raise TypeError(f"dlarray data must be numeric, got {type(X).__name__} of text")
        try:
            X = np.asarray(X)
        except ValueError:
            raise ValueError("dlarray data must be an array with one size per dimension, got "
                             f"a ragged nested {type(X).__name__}") from None
    kind = X.dtype.kind
    if kind in "bui":
        return X.astype(xp.float32)
    if kind == "c":
        raise TypeError("dlarray data must be real: complex data is not supported")
    if kind != "f":
        raise TypeError(f"dlarray data must be numeric (float, int or bool), got dtype {X.dtype}")
    return X.astype(xp.float32) if X.dtype == xp.float16 else X


def _has_str(seq: Any) -> bool:
    return any(isinstance(v, (str, bytes)) or (isinstance(v, (list, tuple)) and _has_str(v))
               for v in seq)


class dlarray:
    """A numeric array with optional dimension labels, traced for autograd inside dlfeval.

    ``dlarray(X)`` is unformatted; ``dlarray(X, "SSCB")`` labels X's dimensions and permutes
    them to canonical order. ``dlarray(dlX, fmt)`` relabels an existing dlarray.
    """

    __slots__ = ("_data", "_fmt", "_node")
    __array_ufunc__ = None  # numpy operands defer to dlarray's operators

    def __init__(self, X: Any, fmt: str | None = None):
        if isinstance(X, dlarray):
            if fmt is None:
                self._data, self._fmt, self._node = X._data, X._fmt, X._node
                return
            relabelled = X.stripdims()._relabel(fmt)
            self._data, self._fmt, self._node = relabelled._data, relabelled._fmt, relabelled._node
            return
        data = _numeric(X)
        out_fmt = ""
        if fmt is not None and not (isinstance(fmt, str) and fmt == ""):  # str: checked there
            out_fmt, perm = canonical_format(fmt, data.ndim)
            data = data.reshape(data.shape + (1,) * (len(perm) - data.ndim)).transpose(perm)
        self._data, self._fmt = data, out_fmt
        self._node = leaf() if is_tracing() else None

    @classmethod
    def _wrap(cls, data: Any, fmt: str = "", node: Any = None) -> dlarray:
        """Internal constructor: no validation, no copy (NumPy scalars become 0-d arrays)."""
        if isinstance(data, np.generic):
            data = np.asarray(data)
        out = cls.__new__(cls)
        out._data, out._fmt, out._node = data, fmt, node
        return out

    # ---- properties --------------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self._data.shape)

    @property
    def dtype(self) -> Any:
        return self._data.dtype

    @property
    def ndim(self) -> int:
        return self._data.ndim

    @property
    def size(self) -> int:
        return int(self._data.size)

    @property
    def fmt(self) -> str:
        """The format, e.g. "SSCB" ("" when unformatted)."""
        return self._fmt

    def dims(self) -> str:
        return self._fmt

    def finddim(self, label: str) -> list[int]:
        return finddim(self, label)

    def extractdata(self) -> Any:
        return self._data

    def stripdims(self) -> dlarray:
        return stripdims(self)

    def __len__(self) -> int:
        if not self.ndim:
            raise TypeError("len() of unsized object: the dlarray is 0-d (a scalar); "
                            "use X.size or X.shape")
        return self.shape[0]

    def __float__(self) -> float:
        if self.size != 1:
            raise TypeError(f"only a dlarray of one element converts to float, got size "
                            f"{self.shape}")
        return float(self._data.reshape(()))

    def __format__(self, spec: str) -> str:
        """``f"{loss:.4f}"`` formats a one-element dlarray as its number (MATLAB's
        ``fprintf("%.4f", loss)``); an empty spec gives the full display."""
        if not spec:
            return str(self)
        if self.size != 1:
            raise TypeError(f"format spec {spec!r} needs a dlarray of one element, got size "
                            f"{self.shape}: format extractdata(X) or an element of it")
        value = self._data.reshape(()).item()
        if spec[-1] in "bcdoxX" and float(value).is_integer():  # f"{n:d}" of a whole number
            value = int(value)
        return format(value, spec)

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        """The data as NumPy, by NumPy 2's protocol: ``copy=None`` may share the dlarray's
        memory, ``copy=True`` never does, ``copy=False`` shares it or raises ValueError."""
        on_host = array_module(self._data) is np
        out = self._data if on_host else self._data.get()
        converted = dtype is not None and np.dtype(dtype) != out.dtype
        if copy is False and (converted or not on_host):
            raise ValueError("cannot give this dlarray's data as NumPy without a copy "
                             f"({'device data' if not on_host else 'another dtype'}): "
                             "use copy=None or copy=True")
        if converted:
            return out.astype(dtype)
        return out.copy() if copy and on_host else out

    def __repr__(self) -> str:
        xp = array_module(self._data)
        if self._fmt:
            sizes = " × ".join(f"{n}({label})" for n, label in zip(self.shape, self._fmt))
        else:
            sizes = "×".join(str(n) for n in self.shape) if self.ndim else "1×1"
        precision = {"float32": "single ", "float64": ""}.get(str(self.dtype), f"{self.dtype} ")
        where = "" if xp is np else f" ({xp.__name__})"
        body = np.array2string(np.asarray(self), precision=4, threshold=50, edgeitems=2)
        return f"  {sizes} {precision}dlarray{where}\n\n{body}"

    # ---- arithmetic, delegated to minidl.ops.math --------------------------------------------
    def __add__(self, other: Any) -> dlarray:
        return _math.plus(self, other)

    def __radd__(self, other: Any) -> dlarray:
        return _math.plus(other, self)

    def __sub__(self, other: Any) -> dlarray:
        return _math.minus(self, other)

    def __rsub__(self, other: Any) -> dlarray:
        return _math.minus(other, self)

    def __mul__(self, other: Any) -> dlarray:
        return _math.times(self, other)

    def __rmul__(self, other: Any) -> dlarray:
        return _math.times(other, self)

    def __truediv__(self, other: Any) -> dlarray:
        return _math.rdivide(self, other)

    def __rtruediv__(self, other: Any) -> dlarray:
        return _math.rdivide(other, self)

    def __pow__(self, other: Any) -> dlarray:
        return _math.power(self, other)

    def __rpow__(self, other: Any) -> dlarray:
        return _math.power(other, self)

    def __neg__(self) -> dlarray:
        return _math.uminus(self)

    def __pos__(self) -> dlarray:
        return self

    def __abs__(self) -> dlarray:
        return _math.abs(self)

    def __matmul__(self, other: Any) -> dlarray:
        return _math.mtimes(self, other)

    def __rmatmul__(self, other: Any) -> dlarray:
        return _math.mtimes(other, self)

    def __getitem__(self, index: Any) -> dlarray:
        return _math.subsref(self, index)

    # Comparisons give plain boolean arrays (not differentiable, not dlarrays).
    def __lt__(self, other: Any) -> Any:
        return self._data < _raw(other)

    def __le__(self, other: Any) -> Any:
        return self._data <= _raw(other)

    def __gt__(self, other: Any) -> Any:
        return self._data > _raw(other)

    def __ge__(self, other: Any) -> Any:
        return self._data >= _raw(other)

    def __eq__(self, other: Any) -> Any:  # type: ignore[override]
        return self._data == _raw(other)

    def __ne__(self, other: Any) -> Any:  # type: ignore[override]
        return self._data != _raw(other)

    __hash__ = None  # type: ignore[assignment]

    # ---- methods that mirror MATLAB functions -------------------------------------------------
    def sum(self, dims: str | int | tuple | None = None) -> dlarray:
        return _math.sum(self, dims)

    def mean(self, dims: str | int | tuple | None = None) -> dlarray:
        return _math.mean(self, dims)

    def reshape(self, *shape: Any) -> dlarray:
        return _math.reshape(self, *shape)

    def exp(self) -> dlarray:
        return _math.exp(self)

    def log(self) -> dlarray:
        return _math.log(self)

    def sqrt(self) -> dlarray:
        return _math.sqrt(self)

    def _relabel(self, fmt: str) -> dlarray:
        return _math.relabel(self, fmt)


def record(data: Any, fmt: str, inputs: tuple, backward: Any) -> dlarray:
    """Wrap an op's raw result as a dlarray, linking it to its inputs while tracing.

    ``backward(gy, needs)`` gets the output gradient (same shape as ``data``) and a tuple of
    booleans, one per input, saying which input gradients are wanted. This is the one bridge
    between arrays and the tape: every differentiable op ends by calling it.
    """
    if not is_tracing():
        return dlarray._wrap(data, fmt)
    node = child(tuple(x._node if isinstance(x, dlarray) else None for x in inputs))
    if node is not None:
        node.backward = backward
    return dlarray._wrap(data, fmt, node)


def _raw(x: Any) -> Any:
    return x._data if isinstance(x, dlarray) else x


def dims(X: dlarray) -> str:
    """The format of X as a string ("" when X is unformatted), MATLAB's dims."""
    _check(X, "dims")
    return X._fmt


def finddim(X: dlarray, label: str) -> list[int]:
    """0-based indices of the dimensions of X labelled ``label`` (empty when there are none)."""
    _check(X, "finddim")
    if not isinstance(label, str) or len(label) != 1 or label.upper() not in LABEL_ORDER:
        raise ValueError(f"finddim: label must be one of S, C, B, T, U, got {label!r}")
    return [i for i, c in enumerate(X._fmt) if c == label.upper()]


def stripdims(X: dlarray) -> dlarray:
    """X without its labels (the data and its order are unchanged; still differentiable)."""
    _check(X, "stripdims")
    return dlarray._wrap(X._data, "", X._node)


def extractdata(X: Any) -> Any:
    """The backend array (NumPy or CuPy) behind a dlarray, in format order. Not traced."""
    return X._data if isinstance(X, dlarray) else X


def _check(X: Any, fname: str) -> None:
    if not isinstance(X, dlarray):
        raise TypeError(f"{fname} expects a dlarray, got {type(X).__name__}")


def channels_last(data: Any, fmt: str) -> tuple[Any, tuple[int, ...]]:
    """A view of canonical-order ``data`` with axes ordered B, S..., C, T, U (memory order).

    Returns the view and the permutation that was applied; ``view.transpose(argsort(perm))``
    gives the canonical order back.
    """
    perm = tuple(sorted(range(len(fmt)), key=lambda i: ("BSCTU".index(fmt[i]), i)))
    return data.transpose(perm), perm


def from_channels_last(data: Any, perm: tuple[int, ...]) -> Any:
    """Undo ``channels_last``: a view of memory-order data in canonical order."""
    return data.transpose(inverse_permutation(perm))


def inverse_permutation(perm: tuple[int, ...]) -> tuple[int, ...]:
    """The permutation that undoes ``perm`` (``np.argsort`` of a few axes, without the 10 µs of
    a NumPy call: this runs several times per op)."""
    inverse = [0] * len(perm)
    for i, p in enumerate(perm):
        inverse[p] = i
    return tuple(inverse)


from . import primitives as _math  # noqa: E402  (operators above call into it)
