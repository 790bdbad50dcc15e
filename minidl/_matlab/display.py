"""MATLAB's displays: numbers as ``format short`` shows them, sizes, and object property lists."""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np

PropertyGroup = tuple[str | None, Sequence[tuple[str, str]]]
"""A titled (or untitled) block of ``(name, value_text)`` pairs for format_properties."""

_DTYPE_NAMES = {"float32": "single", "float64": "double", "bool": "logical"}


def is_real(v: Any) -> bool:
    if isinstance(v, np.ndarray) and v.ndim == 0:  # a 0-d array is its number
        v = v.item()
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


def is_int(v: Any) -> bool:
    return is_real(v) and math.isfinite(v) and float(v).is_integer()


class MString(str):
    """A str that MATLAB would hold as a ``string`` (displayed "double quoted"), not a char."""


def format_scalar(x: Any) -> str:
    """One number as MATLAB ``format short`` shows it in a property display."""
    if isinstance(x, bool | np.bool_):
        return "1" if x else "0"
    x = float(x)
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Inf" if x > 0 else "-Inf"
    if x.is_integer() and abs(x) <= 1e9:
        return str(int(x))
    return f"{x:.4f}" if 1e-3 < abs(x) < 1e3 else f"{x:.4e}"  # 0.001 shows as 1.0000e-03


def size_str(shape: Sequence[int], sep: str = "x") -> str:
    """A size vector as MATLAB writes it: ``28x28x3`` (or with ``sep='×'``)."""
    return sep.join(str(int(d)) for d in shape)


def mat2str(v: Any) -> str:
    """A vector in the Layer-array description style, two spaces apart: ``[1  1]``."""
    items = np.asarray(v).ravel().tolist()
    text = [str(int(x)) if is_int(x) else f"{x:.15g}" for x in items]
    return text[0] if len(text) == 1 else "[" + "  ".join(text) + "]"


def format_value(v: Any) -> str:
    """Any property value as MATLAB's object display shows it (``'none'``, ``[2 2]``, ``@f``...)."""
    if isinstance(v, MString):
        return f'"{v}"'
    if isinstance(v, str):
        return f"'{v}'"
    if v is None:
        return "[]"
    if isinstance(v, bool | np.bool_) or is_real(v):
        return format_scalar(v)
    if hasattr(v, "shape") and hasattr(v, "dtype"):
        return _format_array(v)
    if isinstance(v, list | tuple):
        return _format_sequence(v)
    if isinstance(v, dict):
        return "[1×1 struct]"
    if callable(v) and hasattr(v, "__name__"):
        return "@" + v.__name__
    return f"[1×1 {type(v).__name__}]"


def _format_array(a: Any) -> str:
    """An ndarray (or any array with shape, dtype and tolist, e.g. CuPy): short vectors inline."""
    shape, dtype = tuple(a.shape), np.dtype(a.dtype)
    if math.prod(shape) == 0:
        return "[]"
    if not shape:
        return format_value(a.tolist())
    if len(shape) == 1 and shape[0] <= 4 and dtype.kind in "biuf":
        return "[" + " ".join(format_scalar(x) for x in a.tolist()) + "]"
    shape = (1, shape[0]) if len(shape) == 1 else shape
    return f"[{size_str(shape, '×')} {_DTYPE_NAMES.get(dtype.name, dtype.name)}]"


def _format_sequence(items: list | tuple) -> str:
    if not items:
        return "[]"
    if all(is_real(x) or isinstance(x, bool | np.bool_) for x in items):
        if len(items) > 4:
            return f"[1×{len(items)} double]"
        return "[" + " ".join(format_scalar(x) for x in items) + "]"
    if all(isinstance(x, MString) for x in items):
        quoted = [f'"{x}"' for x in items]
        return quoted[0] if len(quoted) == 1 else "[" + "    ".join(quoted) + "]"
    return f"{{1×{len(items)} cell}}"


def format_properties(class_name: str, groups: Sequence[PropertyGroup],
                      footer: str | None = None) -> str:
    """MATLAB's object display: a header, then names right-aligned on one colon column.

    ``groups`` is ``[(title or None, [(name, value_text), ...]), ...]``; groups are separated by
    a blank line and a titled group starts with its title indented by 3 spaces.
    """
    width = max((len(name) for _, props in groups for name, _ in props), default=0) + 4
    lines = [f"  {class_name} with properties:"]
    for title, props in groups:
        lines.append("")
        if title:
            lines.append(f"   {title}")
        lines.extend(f"{name:>{width}}: {value}".rstrip() for name, value in props)
    if footer:
        lines += ["", f"  {footer}"]
    return "\n".join(lines)
