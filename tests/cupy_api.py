"""CuPy's public API as the CuPy test double allows it: names, and the keywords each callable takes.

``tests/cupy_api.txt`` holds one line per name of the ``cupy`` namespace (``sum(a, axis, dtype,
out, keepdims)``, ``ndarray.T``, ``einsum(**)`` for any keyword). The double (``fakegpu.py``)
mirrors NumPy, whose namespace is wider than CuPy's: with this list it refuses what CuPy lacks, so
an op that calls ``xp.nditer`` or ``xp.sum(x, where=...)`` fails here, not first on a GPU.

Regenerate it with CuPy installed (it imports without a GPU)::

    python tests/cupy_api.py > tests/cupy_api.txt
"""

from __future__ import annotations

import inspect
import re
import types
from typing import Any

API_FILE = __file__.replace("cupy_api.py", "cupy_api.txt")
ANY = None  # the keywords of a callable that takes **kwargs
SUBMODULES = {"lib.stride_tricks": ("as_strided", "sliding_window_view")}


def keywords(obj: Any, cupy: Any) -> list[str] | None:
    """The keyword names ``obj`` accepts (``ANY`` for **kwargs), read from its signature or, for
    compiled functions, from the signature line that opens their docstring."""
    if isinstance(obj, cupy.ufunc):
        return ["out", "casting", "dtype"]
    try:
        params = [(p.name, p.kind) for p in inspect.signature(obj).parameters.values()]
    except (TypeError, ValueError):
        first = (obj.__doc__ or "").strip().splitlines()[:1]
        found = re.match(r"^[\w.]+\((.*)\)", first[0]) if first else None
        if found is None:
            raise ValueError(f"cannot read the parameters of {obj!r}") from None
        params = [_doc_param(p.strip()) for p in found.group(1).split(",") if p.strip()]
    if any(kind is inspect.Parameter.VAR_KEYWORD for _, kind in params):
        return ANY
    named = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return [name for name, kind in params if kind in named and name != "self"]


def _doc_param(text: str) -> tuple[str, Any]:
    if text.startswith("**"):
        return text[2:], inspect.Parameter.VAR_KEYWORD
    if text.startswith("*") or text == "/":
        return text, inspect.Parameter.VAR_POSITIONAL
    return re.split(r"[=:]", text)[0].strip(), inspect.Parameter.POSITIONAL_OR_KEYWORD


def api_lines(cupy: Any) -> list[str]:
    """One line per public name of ``cupy`` (modules aside), of two of its submodules, and of
    ``cupy.ndarray``: ``name`` for a value or class, ``name(kw, ...)`` for a callable."""
    spaces = [("", cupy, [n for n in dir(cupy) if not isinstance(getattr(cupy, n),
                                                                  types.ModuleType)]),
              ("ndarray.", cupy.ndarray, dir(cupy.ndarray))]
    for path, names in SUBMODULES.items():
        module = cupy
        for part in path.split("."):
            module = getattr(module, part)
        spaces.append((path + ".", module, names))
    lines = []
    for prefix, space, names in spaces:
        for name in sorted(n for n in names if not n.startswith("_")):
            obj = getattr(space, name)
            if isinstance(obj, type) or not callable(obj):
                lines.append(prefix + name)
            else:
                kws = keywords(obj, cupy)
                lines.append(f"{prefix}{name}({'**' if kws is ANY else ', '.join(kws)})")
    return lines


def parse(lines: list[str]) -> dict[str, list[str] | None | bool]:
    """name -> accepted keywords (``ANY``), or False for a value or class."""
    api: dict[str, list[str] | None | bool] = {}
    for line in lines:
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, _, rest = line.partition("(")
        if not rest:
            api[name] = False
        elif rest == "**)":
            api[name] = ANY
        else:
            api[name] = [k.strip() for k in rest.rstrip(")").split(",") if k.strip()]
    return api


def load() -> dict[str, list[str] | None | bool]:
    with open(API_FILE, encoding="utf-8") as f:
        return parse(f.read().splitlines())


if __name__ == "__main__":
    import cupy as _cupy

    print(f"# CuPy {_cupy.__version__}'s public API, written by tests/cupy_api.py (see there).")
    print("\n".join(api_lines(_cupy)))
