"""Argument helpers shared by the ops: how an op reads its input, its options and a per-channel
parameter, and how it hands a parameter its gradient.

Every op in this room takes X as a formatted dlarray or as an unformatted array with
``DataFormat``, MATLAB's Name-Value pairs besides keywords, and parameters as dlarrays, raw
arrays or numbers; these functions give all ops the same rules and the same error messages.
"""

from __future__ import annotations

from typing import Any

from .._matlab import parse_name_value
from ..core import canonical_format, dlarray, is_tracing

__all__ = ["labelled", "op_options", "per_channel", "grad_like", "any_traced"]


def labelled(X: Any, DataFormat: Any, where: str, need: str | None = None,
             name: str = "X") -> tuple:
    """(data, labels, out_fmt, shape): X's raw data with one label per axis.

    A formatted X gives its canonical data and format. An unformatted X (or a numeric array)
    needs ``DataFormat``, which labels its axes as they are (MATLAB's option); the result of
    the op is then unformatted (``out_fmt`` is X's own format, "" here). ``need`` names a label
    X must have (e.g. "C"). ``shape`` is X's own shape, for putting gradients back.
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
        fmt = _data_format(DataFormat, data.ndim, where, name)
        data = data.reshape(tuple(data.shape) + (1,) * (len(fmt) - data.ndim))
    if need and need not in fmt:
        raise ValueError(f"{where}: {name} has format '{fmt}' with no channel ('C') dimension, "
                         f"which {where} needs")
    return data, fmt, X._fmt, tuple(X._data.shape)


def _data_format(DataFormat: Any, ndim: int, where: str, name: str) -> str:
    """The checked, upper-case DataFormat labelling an unformatted array of ``ndim`` axes."""
    if DataFormat is None:
        raise ValueError(f"{where}: {name} is unformatted: give it dimension labels with "
                         f"dlarray({name}, 'SSCB') (for example) or pass DataFormat")
    if not isinstance(DataFormat, str):
        raise TypeError(f"{where}: DataFormat must be a string such as 'SSCB', got "
                        f"{type(DataFormat).__name__}")
    try:
        canonical_format(DataFormat, ndim)  # validates the labels
    except ValueError as err:
        raise ValueError(f"{where}: DataFormat: {err}") from None
    return DataFormat.upper()


def op_options(where: str, args: tuple, keywords: dict) -> dict:
    """Keyword options overridden by MATLAB-style Name-Value pairs given positionally.

    ``keywords`` maps each option name to the value its keyword argument had; the pairs in
    ``args`` (e.g. ``("DataFormat", "CB")``) are checked against those names.
    """
    opts = dict(keywords)
    opts.update(parse_name_value(args, {}, list(keywords), where))
    return opts


def per_channel(p: Any, n: int, name: str, where: str, dtype: Any,
                what: str | None = None) -> Any:
    """The raw data of a per-channel parameter (offset, scale, statistics, bias) in ``dtype``.

    ``p`` (a dlarray, a numeric array or a number) has ``n`` elements in any shape, returned as
    an (n,) vector, or one element, returned as a 0-d array (a Python number stays a number).
    ``what`` says what ``n`` counts, for the error ("the output size (weights rows)"); by
    default n is X's number of channels.
    """
    raw = p._data if isinstance(p, dlarray) else p
    if isinstance(raw, (int, float)) and not isinstance(raw, bool):
        return raw
    if not hasattr(raw, "shape") or not hasattr(raw, "dtype") or raw.dtype.kind not in "biuf":
        raise TypeError(f"{where}: {name} must be a dlarray, a numeric array or a number, "
                        f"got {type(p).__name__} of {getattr(raw, 'dtype', 'objects')}")
    if raw.size not in (1, n):
        if what is None:
            raise ValueError(f"{where}: {name} has {raw.size} elements but X has {n} "
                             f"channels: give one {name} value per channel (or a scalar)")
        raise ValueError(f"{where}: {name} has {raw.size} elements but {what} is {n}")
    return raw.reshape(-1 if raw.size == n else ()).astype(dtype, copy=False)


def grad_like(g: Any, p: Any) -> Any:
    """The gradient ``g`` of parameter ``p`` in p's shape and dtype; None when p is no dlarray
    (a raw array or a number gets no gradient).

    ``g`` has one value per element of p in any shape, or, for a scalar p broadcast over all
    channels, one per channel: those are summed.
    """
    if g is None or not isinstance(p, dlarray):
        return None
    raw = p._data
    if g.size != raw.size:  # a scalar parameter broadcast over all channels
        g = g.sum()
    return g.reshape(raw.shape).astype(raw.dtype, copy=False)


def any_traced(*values: Any) -> bool:
    """Whether an op on ``values`` must be recorded: tracing is on (inside ``dlfeval``) and one
    of them is a dlarray on the tape. An op may skip its backward's bookkeeping otherwise."""
    return is_tracing() and any(isinstance(v, dlarray) and v._node is not None for v in values)
