"""A NumPy-backed stand-in for CuPy, so device code paths are tested without a GPU.

Like a CuPy array, a ``FakeDeviceArray`` refuses to turn silently into a NumPy array
(``np.asarray``, NumPy functions and ufuncs, arithmetic with NumPy arrays all raise TypeError),
and is copied back only with ``.get()``. Any hard-coded ``numpy`` call in a code path that
should use the inputs' array module therefore fails loudly in the test suite.
The stand-in module ``fakegpu`` mirrors ``numpy``'s namespace and wraps every result, but only
for the names CuPy has and only with the keywords CuPy's version takes (``cupy_api.txt``): a
NumPy-only function, array method or keyword raises here as it would on a GPU.
"""

from __future__ import annotations

import types
from typing import Any

import numpy as np

from minidl.backend import DeviceBackend, register_device_backend
from tests import cupy_api

CUPY_API = cupy_api.load()
HOST_ENTRY_POINTS = {"asarray", "array", "asanyarray", "ascontiguousarray"}


def _refuse(what: str) -> TypeError:
    return TypeError(f"{what}: implicit conversion of a device array to NumPy is not allowed "
                     "(use the array module of the inputs, or .get())")


def _unwrap(x: Any, allow_host: bool) -> Any:
    if isinstance(x, FakeDeviceArray):
        return x._a
    if isinstance(x, np.ndarray) and not allow_host and x.ndim > 0:
        raise TypeError("a NumPy array was passed to a device function: move it with "
                        "gpuArray/asarray first")
    if isinstance(x, (list, tuple)):
        return type(x)(_unwrap(v, allow_host) for v in x)
    if isinstance(x, dict):
        return {k: _unwrap(v, allow_host) for k, v in x.items()}
    return x


def _wrap(x: Any) -> Any:
    if isinstance(x, (np.ndarray, np.generic)):
        return FakeDeviceArray(np.asarray(x))
    if isinstance(x, tuple):
        return tuple(_wrap(v) for v in x)
    if isinstance(x, list):
        return [_wrap(v) for v in x]
    return x


def _cupy_entry(name: str) -> list[str] | None | bool:
    """CuPy's entry for ``name`` (its keywords, None for any, False for a value); AttributeError
    for a name that CuPy does not have."""
    if name not in CUPY_API:
        raise AttributeError(f"CuPy has no {name!r} (the CuPy double allows only CuPy's names, "
                             "listed in tests/cupy_api.txt)")
    return CUPY_API[name]


class _Function:
    """A NumPy callable (function, ufunc, method) that takes and returns device arrays, and
    only the keywords that CuPy's ``name`` takes."""

    def __init__(self, fn: Any, name: str, allow_host: bool = False):
        self._fn, self._name, self._allow_host = fn, name, allow_host
        entry = CUPY_API.get(name)
        self._keywords = None if entry is None else set(entry or ())

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self._keywords is not None and not self._keywords.issuperset(kwargs):
            unknown = sorted(set(kwargs) - self._keywords)
            raise TypeError(f"CuPy's {self._name} takes no keyword {unknown[0]!r} "
                            f"(it takes {sorted(self._keywords)})")
        return _wrap(self._fn(*_unwrap(args, self._allow_host), **_unwrap(kwargs, False)))

    def __getattr__(self, name: str) -> Any:  # ufunc.at, ufunc.reduce, ...
        return _Function(getattr(self._fn, name), f"{self._name}.{name}")


class _Module(types.ModuleType):
    """Mirror of a NumPy (sub)module whose functions work on FakeDeviceArray."""

    def __init__(self, name: str, source: Any, path: str = ""):
        super().__init__(name)
        self._source, self._path = source, path

    def __getattr__(self, name: str) -> Any:
        qualified = self._path + name
        obj = getattr(self._source, name)
        if isinstance(obj, types.ModuleType):
            if not any(key.startswith(qualified + ".") for key in CUPY_API):
                raise AttributeError(f"the CuPy double has no submodule {qualified!r}")
            return _Module(f"{self.__name__}.{name}", obj, qualified + ".")
        _cupy_entry(qualified)
        if isinstance(obj, type) or not callable(obj):
            return obj  # dtypes, constants
        return _Function(obj, qualified, allow_host=name in HOST_ENTRY_POINTS)


class FakeDeviceArray:
    """An array 'on the device': a NumPy array that will not leave without ``.get()``."""

    __slots__ = ("_a",)
    __array_ufunc__ = None

    def __init__(self, a: np.ndarray):
        self._a = a

    def __array__(self, *args: Any, **kwargs: Any) -> np.ndarray:
        raise _refuse("np.asarray(device array)")

    def __array_function__(self, func: Any, types_: Any, args: Any, kwargs: Any) -> Any:
        raise _refuse(f"numpy.{func.__name__}")

    def get(self) -> np.ndarray:
        return self._a.copy()

    def __getattr__(self, name: str) -> Any:
        _cupy_entry(f"ndarray.{name}")
        attr = getattr(self._a, name)
        return _Function(attr, f"ndarray.{name}") if callable(attr) else _wrap(attr)

    def __getitem__(self, index: Any) -> Any:
        return _wrap(self._a[_unwrap(index, False)])

    def __setitem__(self, index: Any, value: Any) -> None:
        self._a[_unwrap(index, False)] = _unwrap(value, False)

    def __len__(self) -> int:
        return len(self._a)

    def __iter__(self) -> Any:
        return (_wrap(v) for v in self._a)

    def __bool__(self) -> bool:
        return bool(self._a)

    def __float__(self) -> float:
        return float(self._a)

    def __int__(self) -> int:
        return int(self._a)

    def __repr__(self) -> str:
        return f"FakeDeviceArray({self._a!r})"


def _operator(name: str) -> Any:
    def op(self: FakeDeviceArray, *others: Any) -> Any:
        return _wrap(getattr(self._a, name)(*_unwrap(others, False)))
    op.__name__ = name
    return op


for _name in ["add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "matmul", "and", "or",
              "xor", "lshift", "rshift"]:
    for _form in (f"__{_name}__", f"__r{_name}__", f"__i{_name}__"):
        setattr(FakeDeviceArray, _form, _operator(_form))
for _form in ["__lt__", "__le__", "__gt__", "__ge__", "__eq__", "__ne__", "__neg__", "__pos__",
              "__abs__", "__invert__"]:
    setattr(FakeDeviceArray, _form, _operator(_form))
FakeDeviceArray.__hash__ = None  # type: ignore[assignment]

fakegpu = _Module("fakegpu", np)


def _scatter_add(target: FakeDeviceArray, index: Any, values: Any) -> None:
    np.add.at(target._a, _unwrap(index, False), _unwrap(values, False))


BACKEND = DeviceBackend("fakegpu", fakegpu, FakeDeviceArray, _scatter_add)
register_device_backend(BACKEND)
