"""MATLAB's argument conventions: Name-Value parsing and the option validators.

Every room checks its options with these, so the same mistake gets the same error type and the
same wording everywhere: a ValueError naming the option, what was expected and what was given.
"""

from __future__ import annotations

import difflib
import math
import numbers
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .display import format_scalar, format_value, is_int, is_real


def closest(name: str, names: Sequence[str]) -> str | None:
    """The entry of ``names`` nearest to ``name`` (case-insensitive), or None if none is close."""
    lowered = {n.lower(): n for n in names}
    match = difflib.get_close_matches(name.lower(), list(lowered), n=1, cutoff=0.6)
    return lowered[match[0]] if match else None


def unknown_name_message(name: str, names: Sequence[str], what: str) -> str:
    """``'X' is not <what>. Did you mean 'Y'?``, or the list of valid names when none is close."""
    guess = closest(name, names)
    hint = f"Did you mean '{guess}'?" if guess else "Valid names are " + ", ".join(
        f"'{n}'" for n in names) + "."
    return f"'{name}' is not {what}. {hint}"


def parse_name_value(args: tuple, kwargs: dict, allowed: Mapping[str, Any] | Sequence[str],
                     where: str) -> dict:
    """Merge MATLAB Name-Value pairs ``("Stride", 2)`` with keywords ``Stride=2``.

    Names match case-insensitively and come back in the spelling of ``allowed``. When ``allowed``
    is a mapping of defaults, the result starts from those defaults; otherwise it holds only the
    names given. A repeated positional name keeps the last value, as MATLAB does; a name given
    both positionally and as a keyword is an error.
    """
    canon = {n.lower(): n for n in allowed}
    if len(args) % 2:
        raise ValueError(f"Name-value arguments for {where} must come in pairs; "
                         f"got {len(args)} positional values.")

    def resolve(name: Any) -> str:
        if not isinstance(name, str):
            raise TypeError(f"Expected an option name (a string) for {where}, "
                            f"got {type(name).__name__} {name!r}.")
        if name.lower() not in canon:
            raise ValueError(unknown_name_message(name, list(allowed),
                                                  f"an option for {where}"))
        return canon[name.lower()]

    positional = {resolve(args[i]): args[i + 1] for i in range(0, len(args), 2)}
    result = dict(allowed) if isinstance(allowed, Mapping) else {}
    result.update(positional)
    seen: set[str] = set()
    for key, value in kwargs.items():
        name = resolve(key)
        if name in positional or name in seen:
            raise ValueError(f"Option '{name}' for {where} is given more than once.")
        seen.add(name)
        result[name] = value
    return result


MAX_DIMENSIONS = 32  # the most dimensions every supported NumPy gives an array (2.x: 64)
MAX_INT = 2**53  # larger strides, paddings and filter sizes are nonsense (NumPy overflows)


def _fail(name: str, expected: str, v: Any) -> ValueError:
    shown = str(bool(v)).lower() if isinstance(v, bool | np.bool_) else format_value(v)
    return ValueError(f"{name} must be {expected}, got {shown}.")


def check_positive_int(name: str, v: Any) -> int:
    """``v`` as an int, if it is an integer-valued number >= 1 (bools are not numbers here)."""
    if not (is_int(v) and v >= 1):
        raise _fail(name, "a positive integer", v)
    return int(v)


def check_nonneg_int(name: str, v: Any) -> int:
    """``v`` as an int, if it is an integer-valued number >= 0."""
    if not (is_int(v) and v >= 0):
        raise _fail(name, "a nonnegative integer", v)
    return int(v)


def check_positive_real(name: str, v: Any, allow_inf: bool = False) -> float:
    """``v`` as a float, if it is a real number > 0 (Inf only with ``allow_inf``)."""
    if not (is_real(v) and v > 0 and (allow_inf or math.isfinite(v))):
        raise _fail(name, "a positive number" + (" or Inf" if allow_inf else ""), v)
    return float(v)


def check_nonneg_real(name: str, v: Any, allow_inf: bool = False) -> float:
    """``v`` as a float, if it is a real number >= 0 (Inf only with ``allow_inf``)."""
    if not (is_real(v) and v >= 0 and (allow_inf or math.isfinite(v))):
        raise _fail(name, "a nonnegative number" + (" or Inf" if allow_inf else ""), v)
    return float(v)


def check_in_range(name: str, v: Any, lo: float, hi: float, lo_open: bool = False,
                   hi_open: bool = False) -> float:
    """``v`` as a float, if it lies in the interval from ``lo`` to ``hi`` (closed by default)."""
    ok = is_real(v) and (lo < v if lo_open else lo <= v) and (v < hi if hi_open else v <= hi)
    if not ok:
        interval = f"{'(' if lo_open else '['}{format_scalar(lo)}, {format_scalar(hi)}" \
                   f"{')' if hi_open else ']'}"
        raise _fail(name, f"a number in the range {interval}", v)
    return float(v)


def check_choice(name: str, v: Any, choices: Sequence[str]) -> str:
    """The entry of ``choices`` equal to ``v`` ignoring case (so its spelling and str type win)."""
    for choice in choices:
        if isinstance(v, str) and v.lower() == choice.lower():
            return choice
    raise _fail(name, "one of " + ", ".join(format_value(c) for c in choices), v)


def _int_vector(v: Any) -> list[int] | None:
    """The elements of a scalar or 1-D sequence as ints, or None when any is not an integer."""
    items = np.asarray(v, dtype=object).ravel().tolist() if not isinstance(v, str) else [v]
    ok = items and all(is_int(x) and abs(x) <= MAX_INT for x in items)
    return [int(x) for x in items] if ok else None


def to_pair(name: str, v: Any) -> tuple[int, int]:
    """A positive scalar or 2-vector (Stride, FilterSize, PoolSize) as a 2-tuple of ints."""
    items = _int_vector(v)
    if items is None or len(items) not in (1, 2) or min(items) < 1:
        raise _fail(name, "a positive integer or a vector of 2 positive integers", v)
    return (items[0], items[-1])


def to_padding(name: str, v: Any) -> tuple[int, int, int, int] | str:
    """MATLAB Padding as (top, bottom, left, right): p, [a b] -> (a, a, b, b), [t b l r], 'same'."""
    if isinstance(v, str) and v.lower() == "same":
        return "same"
    items = _int_vector(v)
    if items is None or len(items) not in (1, 2, 4) or min(items) < 0:
        raise _fail(name, "'same', a nonnegative integer or a vector of 2 or 4 nonnegative "
                          "integers", v)
    if len(items) == 2:
        return (items[0], items[0], items[1], items[1])
    return (items[0],) * 4 if len(items) == 1 else tuple(items)


def check_flag(name: str, v: Any) -> bool:
    """A logical option: True/False, 1/0 (MATLAB's logical), or MATLAB's "on"/"off"."""
    if isinstance(v, np.ndarray) and v.ndim == 0:  # a 0-d array is its value
        v = v.item()
    if isinstance(v, str) and v.lower() in ("on", "off"):
        return v.lower() == "on"
    if isinstance(v, bool | np.bool_) or (is_real(v) and v in (0, 1)):
        return bool(v)
    raise ValueError(f"{name} must be true or false (1 or 0), got {_shown(v)}.")


def check_text(name: str, v: Any) -> str:
    """A text option: a character vector or string (a Python str)."""
    if not isinstance(v, str):
        raise ValueError(f"{name} must be a character vector or string, got {_shown(v)}.")
    return str(v)


def _shown(v: Any) -> str:
    """A short description of a bad value for an error message."""
    if isinstance(v, str | numbers.Number | np.generic) or v is None:
        return repr(v)
    shape = getattr(v, "shape", None)
    kind = type(v).__name__
    return f"a {kind} of size {'x'.join(map(str, shape))}" if shape is not None else f"a {kind}"


FORMAT_LABELS = "SCBTU"


def check_format_text(name: str, v: Any) -> str:
    """A dlarray format as upper-case ASCII labels. Only the letters S, C, B, T, U (either case)
    count: ``str.upper`` maps other characters onto them ("ſ" -> "S", "ß" -> "SS")."""
    if not isinstance(v, str):
        raise TypeError(f"{name} must be a string of the labels S, C, B, T, U (such as 'SSCB'), "
                        f"got {type(v).__name__}.")
    for label in v:
        if label not in "SCBTUscbtu":
            raise ValueError(f"invalid dimension label {label!r} in {name} {v!r}: labels are S "
                             "(spatial), C (channel), B (batch), T (time), U (unspecified)")
    return v.upper()


def as_numeric(X: Any, name: str) -> np.ndarray:
    """Host data ``X`` as a NumPy array of numbers (bool, integer or float); a ValueError for a
    ragged nested list and a TypeError for text, None or objects, naming ``name``."""
    if isinstance(X, np.ndarray):
        a = X
    else:
        try:
            a = np.asarray(X)
        except (ValueError, TypeError):
            raise ValueError(f"{name} must be a numeric array with one size per dimension, got "
                             f"a ragged nested {type(X).__name__}") from None
    if a.dtype.kind not in "biuf":
        got = type(X).__name__ if a.dtype.kind == "O" else f"dtype {a.dtype}"
        raise TypeError(f"{name} must be a numeric array, got {got}.")
    return a


def check_class_names(name: str, v: Any) -> np.ndarray:
    """Class names as a 1-D NumPy array: one string, or a list, tuple or vector of strings,
    numbers or booleans; a TypeError naming the argument for anything else (a number, None)."""
    if isinstance(v, str):
        return np.asarray([v])
    if isinstance(v, np.ndarray) and (v.ndim == 1 or (v.ndim == 2 and 1 in v.shape)):
        items = v.ravel()
    elif isinstance(v, (list, tuple)):
        try:
            items = np.asarray(v)
        except ValueError:
            items = None
        if items is not None and items.ndim != 1:
            items = None
    else:
        items = None
    if items is None or items.dtype.kind not in "biufUS":
        raise TypeError(f"{name} must be a list or vector of class names (strings or numbers), "
                        f"got {type(v).__name__}.")
    return items


def check_finite_real(name: str, v: Any) -> float:
    """``v`` as a float, if it is a finite real number (leakyReluLayer's scale)."""
    if not (is_real(v) and math.isfinite(v)):
        raise _fail(name, "a finite real number", v)
    return float(v)
