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
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["use_backend", "gpuArray", "gather", "canUseGPU", "rng"]


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


def _module_of(a: Any) -> Any:
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
        xp = _module_of(a)
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


def _map_raw(x: Any, move: Callable[[Any], Any]) -> Any:
    from .dlarray import dlarray

    if isinstance(x, dlarray):
        return dlarray._wrap(move(x._data), x._fmt)
    return move(x)


def gpuArray(x: Any) -> Any:
    """Copy an array (or a dlarray's data) to the device backend (MATLAB's gpuArray)."""
    backend = device_backend()
    return _map_raw(x, lambda a: to_module(np.asarray(a) if _module_of(a) is None else a,
                                           backend.module))


def gather(x: Any) -> Any:
    """Copy an array (or a dlarray's data) back to host memory as NumPy (MATLAB's gather)."""
    return _map_raw(x, lambda a: a if _module_of(a) in (np, None) else a.get())


# Random numbers come from one NumPy generator on the host, so a seed gives the same weights and
# the same shuffles on every backend; arrays are then moved to the active device.
_generator = np.random.default_rng(0)
_thread = threading.local()  # .generator: a run's own generator (own_generator)


GENERATORS = ("twister", "simdTwister", "combRecursive", "multFibonacci", "philox",
              "threefry", "v5uniform", "v5normal", "v4")
"""MATLAB's generator names: accepted by ``rng`` so transcribed calls run; all use NumPy's."""


def rng(seed: int | str = "default", generator: str = "twister") -> None:
    """Seed minidl's random numbers (initial weights, shuffling, dropout), like MATLAB's rng.

    ``rng("default")`` is ``rng(0)``; ``rng("shuffle")`` seeds from the operating system.
    ``generator`` takes MATLAB's names ("twister", "philox", ...) but every one seeds NumPy's
    default generator (PCG64): the same seed gives the same numbers in minidl, not MATLAB's.
    """
    global _generator
    if not (isinstance(generator, str) and generator.lower() in
            {g.lower() for g in GENERATORS}):
        raise ValueError(f"rng: generator must be one of {', '.join(GENERATORS)}, got "
                         f"{generator!r}")
    if isinstance(seed, str) and seed == "default":
        seed = 0
    elif isinstance(seed, str) and seed == "shuffle":
        seed = None
    elif not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValueError("rng seed must be a nonnegative integer, 'default' or 'shuffle', "
                         f"got {seed!r}")
    _generator = np.random.default_rng(seed)


def generator() -> np.random.Generator:
    """The generator behind minidl's random numbers (see ``rng``): the global one, or on a
    thread inside ``own_generator`` (a trainnet run), that run's own."""
    return getattr(_thread, "generator", None) or _generator


@contextmanager
def own_generator() -> Iterator[np.random.Generator]:
    """Inside the block, this thread draws from a generator of its own, seeded once from the
    global generator on entry: a training run's shuffles, dropout and augmentation then depend
    on ``rng`` and not on what other threads draw meanwhile."""
    before = getattr(_thread, "generator", None)
    _thread.generator = np.random.default_rng(int(generator().integers(2**63)))
    try:
        yield _thread.generator
    finally:
        _thread.generator = before


# ---- the host allocator ------------------------------------------------------------------------
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # mallopt parameters, from glibc's <malloc.h>
_MALLOC_SETTINGS = ((_M_MMAP_THRESHOLD, 32 << 20), (_M_TRIM_THRESHOLD, 512 << 20))
_malloc_tuned: bool | None = None  # None: not tried yet


def tune_malloc() -> bool:
    """Tell glibc's malloc to keep freed large blocks for reuse (once per process); True if set.

    Why: a training step allocates and frees the same large temporaries every step (patch
    matrix, activations, gradients: 1-15 MB each at batch 128). By default glibc unmaps blocks
    above its mmap threshold when they are freed and gives the free top of the heap back to the
    kernel, so the next step touches fresh pages that the kernel must fault in and zero: about
    3,000 minor page faults per batch-128 step of the documented CNN, 40-45 ms per step instead
    of about 30 ms, and 4.5 s instead of 2.3 s per 10,000-image trainnet epoch (2-core EPYC,
    benchmarks/README.md). So: ``mallopt(M_MMAP_THRESHOLD, 32 MiB)`` and
    ``mallopt(M_TRIM_THRESHOLD, 512 MiB)``, both (raising only the trim threshold was measured
    slower than changing nothing). Blocks above 32 MiB still come from mmap, and at most 512 MiB
    of free heap stays with the process: a batch-512 step frees about 150 MiB of activations and
    gradients at once, and with 128 MiB it was trimmed and faulted back every step (6,000 faults,
    120 instead of 84 ms).

    Called lazily by the first dlnetwork predict/forward (which trainnet, minibatchpredict and
    custom loops all go through), never at import. A no-op returning False when the environment
    variable ``MINIDL_MALLOC_TUNING`` is "0", when the user set glibc's thresholds themselves
    (``MALLOC_MMAP_THRESHOLD_``, ``MALLOC_TRIM_THRESHOLD_``, or in ``GLIBC_TUNABLES``), and
    where there is no glibc ``mallopt`` (macOS, Windows, musl).
    """
    global _malloc_tuned
    if _malloc_tuned is None:
        _malloc_tuned = _apply_malloc_settings()
    return _malloc_tuned


def _apply_malloc_settings() -> bool:
    env = os.environ
    if env.get("MINIDL_MALLOC_TUNING", "1").strip() == "0" or not sys.platform.startswith("linux"):
        return False
    tunables = env.get("GLIBC_TUNABLES", "")
    if "MALLOC_MMAP_THRESHOLD_" in env or "MALLOC_TRIM_THRESHOLD_" in env \
            or "malloc.mmap_threshold" in tunables or "malloc.trim_threshold" in tunables:
        return False  # the user's own allocator settings win
    import ctypes  # here, not at import: most imports of minidl never get this far

    try:
        libc = ctypes.CDLL(None)
        if not hasattr(libc, "gnu_get_libc_version"):  # not glibc (musl's mallopt is a stub)
            return False
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return all(mallopt(param, value) == 1 for param, value in _MALLOC_SETTINGS)
