"""Moving arrays between host and device: MATLAB's ``gpuArray`` and ``gather``.

They live in core, not in the backend, because they also move a dlarray's data (keeping its
labels); the backend below knows only raw arrays.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..backend import device_backend, module_of, to_module
from .dlarray import dlarray

__all__ = ["gpuArray", "gather"]


def _map_raw(x: Any, move: Callable[[Any], Any]) -> Any:
    if isinstance(x, dlarray):
        return dlarray._wrap(move(x._data), x._fmt)
    return move(x)


def gpuArray(x: Any) -> Any:
    """Copy an array (or a dlarray's data) to the device backend (MATLAB's gpuArray)."""
    backend = device_backend()
    return _map_raw(x, lambda a: to_module(np.asarray(a) if module_of(a) is None else a,
                                           backend.module))


def gather(x: Any) -> Any:
    """Copy an array (or a dlarray's data) back to host memory as NumPy (MATLAB's gather)."""
    return _map_raw(x, lambda a: a if module_of(a) in (np, None) else a.get())
