"""Array backends: NumPy on the host, CuPy (or a registered stand-in) on a device.

Ops never ask which library they run on: they call ``array_module(*arrays)`` and write
``xp.exp(x)``, so one body of code serves NumPy and CuPy. The few real differences between the
two (moving data, scatter-add) have one named helper each, here and nowhere else.

The *active* backend only decides where new arrays are made (initial weights, ``gpuArray``,
mini-batches in ``trainnet``). Choose it with ``use_backend`` or the ``MINIDL_BACKEND``
environment variable. CuPy is imported only when asked for.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["use_backend", "canUseGPU"]


class BackendUnavailableError(RuntimeError):
    """Raised when a backend is asked for but its library or device is missing."""


@dataclass(frozen=True)
class DeviceBackend:
    """A device array library: its module, its array type and its scatter-add."""

    name: str
    module: Any
    array_type: type
    scatter_add: Callable[[Any, Any, Any], None]


_devices: dict[str, DeviceBackend] = {}
_active: str | None = None


def register_device_backend(backend: DeviceBackend) -> None:
    """Make a device backend known by name (CuPy registers itself; tests register a stand-in)."""
    _devices[backend.name] = backend


def _load_cupy() -> DeviceBackend:
    if "cupy" in _devices:
        return _devices["cupy"]
    try:
        import cupy
        import cupyx
    except ImportError as err:
        raise BackendUnavailableError(
            "the 'cupy' backend needs CuPy, which is not installed: "
            "pip install 'minidl[gpu]' (CuPy for CUDA 12)") from err
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as err:  # CUDA driver missing or broken
        raise BackendUnavailableError(
            f"CuPy is installed but no CUDA device is usable: {err}") from err
    if count == 0:
        raise BackendUnavailableError("CuPy is installed but no CUDA device was found")
    backend = DeviceBackend("cupy", cupy, cupy.ndarray, cupyx.scatter_add)
    register_device_backend(backend)
    return backend


def canUseGPU() -> bool:
    """True when CuPy imports and sees a CUDA device (MATLAB's canUseGPU)."""
    try:
        _load_cupy()
    except BackendUnavailableError:
        return False
    return True


def use_backend(name: str) -> str:
    """Choose where new arrays are made: "numpy", "cupy", "auto" (CuPy if usable, else NumPy).

    Returns the name of the backend now active. Asking for "cupy" without CuPy or without a
    CUDA device raises BackendUnavailableError naming what is missing.
    """
    global _active
    if not isinstance(name, str):
        raise TypeError(f"backend name must be a string, got {type(name).__name__}")
    key = name.lower()
    if key == "auto":
        key = "cupy" if canUseGPU() else "numpy"
    elif key == "cupy":
        _load_cupy()
    elif key != "numpy" and key not in _devices:
        valid = ", ".join(repr(n) for n in ["numpy", "cupy", "auto", *_devices])
        raise ValueError(f"unknown backend {name!r}: expected one of {valid}")
    _active = key
    return key


def active_name() -> str:
    """Name of the active backend, reading MINIDL_BACKEND on first use."""
    if _active is None:
        use_backend(os.environ.get("MINIDL_BACKEND", "numpy"))
    return _active


def active_module() -> Any:
    """The array module new arrays are made with."""
    name = active_name()
    return np if name == "numpy" else _devices[name].module


def device_backend() -> DeviceBackend:
    """The device backend ``gpuArray`` moves data to: the active one, else CuPy."""
    name = active_name()
    return _devices[name] if name != "numpy" else _load_cupy()


def module_of(a: Any) -> Any:
    """The array module of one array (numpy, cupy, ...), or None for a scalar or None."""
    if isinstance(a, (np.ndarray, np.generic)):
        return np
    for backend in _devices.values():
        if isinstance(a, backend.array_type):
            return backend.module
    if "cupy" in sys.modules and type(a).__module__.startswith("cupy"):
        return _load_cupy().module
    return None


def array_module(*arrays: Any) -> Any:
    """The array module (numpy, cupy, ...) of the given arrays; scalars and None are ignored.

    Mixing host and device arrays in one operation is a TypeError, as in CuPy.
    """
    found = None
    for a in arrays:
        xp = module_of(a)
        if xp is None:
            continue
        if found is not None and xp is not found:
            raise TypeError(
                f"cannot mix {found.__name__} and {xp.__name__} arrays in one operation: "
                "move them to one device first with gpuArray(...) or gather(...)")
        found = xp
    return np if found is None else found


def to_module(a: Any, xp: Any) -> Any:
    """Return raw array ``a`` as an array of module ``xp`` (copying across devices if needed)."""
    if array_module(a) is xp:
        return a
    if xp is np:
        return a.get()
    return xp.asarray(a)


def scatter_add(target: Any, index: Any, values: Any) -> None:
    """target[index] += values, with repeated indices accumulating (np.add.at on the host)."""
    xp = array_module(target)
    if xp is np:
        np.add.at(target, index, values)
        return
    for backend in _devices.values():
        if backend.module is xp:
            backend.scatter_add(target, index, values)
            return
    raise TypeError(f"no scatter-add known for arrays of {xp.__name__}")


def backend_name(xp: Any) -> str:
    """The name (for ``use_backend``) of an array module: "numpy", "cupy", ..."""
    if xp is np:
        return "numpy"
    for name, backend in _devices.items():
        if backend.module is xp:
            return name
    raise ValueError(f"{getattr(xp, '__name__', xp)!r} is not a registered array module; the "
                     "backends are " + ", ".join(repr(n) for n in ("numpy", *_devices)))


def backend_module(name: str) -> Any:
    """The array module of a registered backend, by name ("numpy", "cupy", ...)."""
    if name == "numpy":
        return np
    if name not in _devices:
        raise ValueError(f"no backend named {name!r} is registered; the backends are "
                         + ", ".join(repr(n) for n in ("numpy", *_devices)))
    return _devices[name].module


@contextmanager
def using_backend(xp: Any) -> Iterator[None]:
    """Make the backend of array module ``xp`` the active one inside a ``with`` block."""
    previous = active_name()
    use_backend(backend_name(xp))
    try:
        yield
    finally:
        use_backend(previous)
