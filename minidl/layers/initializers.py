"""Weight initializers, exactly as MATLAB's layers define them.

A layer names its initializer with a string (``WeightsInitializer="he"``) or passes a callable
that receives the size of the parameter (MATLAB's ``@(sz) ...``). Every initializer returns a
float32 array of the requested size on the active backend; random numbers come from
``minidl.backend.generator()``, so ``minidl.rng(seed)`` makes initial weights reproducible on
every backend.

    glorot         uniform on [-a, a], a = sqrt(6 / (fanIn + fanOut)): variance 2/(fanIn + fanOut)
    he             normal, mean 0, variance 2 / fanIn
    narrow-normal  normal, mean 0, standard deviation 0.01
    orthogonal     Q of the QR decomposition of a unit-normal matrix (signs fixed by diag(R))
    zeros, ones    constants

Fan-in and fan-out follow MATLAB: for a convolution with fh x fw x C x F weights,
fanIn = fh*fw*C and fanOut = fh*fw*F; for a fully connected layer with Out x In weights,
fanIn = In and fanOut = Out (``fans``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .._matlab import format_value
from ..backend import active_module, array_module, generator, to_module

__all__ = ["glorot", "he", "narrow_normal", "orthogonal", "zeros", "ones", "initialize",
           "check_initializer", "fans", "WEIGHT_INITIALIZERS", "BIAS_INITIALIZERS"]

WEIGHT_INITIALIZERS = ("glorot", "he", "orthogonal", "narrow-normal", "zeros", "ones")
BIAS_INITIALIZERS = ("zeros", "narrow-normal", "ones")
Size = Sequence[int]


def _device(a: np.ndarray) -> Any:
    """A host float32 array moved to the active backend."""
    return to_module(np.ascontiguousarray(a, dtype=np.float32), active_module())


def glorot(sz: Size, fan_in: int, fan_out: int) -> Any:
    """Uniform samples on [-a, a] with a = sqrt(6/(fanIn+fanOut)), so variance 2/(fanIn+fanOut)."""
    bound = math.sqrt(6.0 / (fan_in + fan_out))
    u = generator().random(tuple(sz), dtype=np.float32)
    return _device((2.0 * bound) * u - bound)


def he(sz: Size, fan_in: int) -> Any:
    """Normal samples with mean 0 and variance 2/fanIn."""
    return _device(generator().standard_normal(tuple(sz), dtype=np.float32)
                   * math.sqrt(2.0 / fan_in))


def narrow_normal(sz: Size) -> Any:
    """Normal samples with mean 0 and standard deviation 0.01."""
    return _device(generator().standard_normal(tuple(sz), dtype=np.float32) * 0.01)


def orthogonal(sz: Size) -> Any:
    """An orthogonal matrix Q from Z = QR, Z unit-normal, reshaped to ``sz``.

    The weights are seen as a matrix with the last dimension as columns (fh*fw*C x F for a
    convolution) or, for a 2-D size, as given (Out x In for a fully connected layer). A matrix
    wider than tall is decomposed transposed, so rows (or columns) are orthonormal either way.
    Multiplying Q's columns by sign(diag(R)) makes the result uniformly distributed.
    """
    sz = tuple(sz)
    rows = sz[0] if len(sz) == 2 else math.prod(sz[:-1])
    cols = sz[-1] if len(sz) >= 2 else 1
    wide = rows < cols
    z = generator().standard_normal((cols, rows) if wide else (rows, cols))
    q, r = np.linalg.qr(z)
    q = q * np.sign(np.where(np.diag(r) == 0, 1.0, np.diag(r)))
    return _device((q.T if wide else q).reshape(sz))


def zeros(sz: Size) -> Any:
    return _device(np.zeros(tuple(sz), np.float32))


def ones(sz: Size) -> Any:
    return _device(np.ones(tuple(sz), np.float32))


def fans(sz: Size) -> tuple[int, int]:
    """MATLAB's (fanIn, fanOut) for a weight size: fh x fw x C x F filters give (fh*fw*C, fh*fw*F);
    an Out x In matrix gives (In, Out)."""
    sz = tuple(sz)
    if len(sz) < 2:
        raise ValueError(f"a weight size needs at least 2 dimensions (Out x In), got {sz}")
    if len(sz) == 2:
        return sz[1], sz[0]
    receptive = math.prod(sz[:-2])
    return receptive * sz[-2], receptive * sz[-1]


def check_initializer(name: str, value: Any, choices: Sequence[str]) -> str | Callable:
    """A valid initializer: one of ``choices`` (any case, returned in their spelling) or a callable.
    """
    if callable(value):
        return value
    if isinstance(value, str):
        for choice in choices:
            if value.lower() == choice:
                return choice
    allowed = ", ".join(f"'{c}'" for c in choices)
    raise ValueError(f"{name} must be {allowed} or a function handle (a callable receiving the "
                     f"size), got {format_value(value)}.")


def initialize(initializer: str | Callable, sz: Size, fan_in: int | None = None,
               fan_out: int | None = None, name: str = "initializer") -> Any:
    """Values of size ``sz`` from a named initializer or a callable ``fn(sz)``.

    ``fan_in``/``fan_out`` default to MATLAB's ``fans(sz)``. A callable's result must have size
    ``sz`` (a dlarray, NumPy or CuPy array); it is returned as float32 on the active backend.
    """
    sz = tuple(int(n) for n in sz)
    if callable(initializer):
        return _from_callable(initializer, sz, name)
    def fan(i: int) -> int:  # only glorot and he need them (and a size of 2-D or more)
        given = (fan_in, fan_out)[i]
        return fans(sz)[i] if given is None else given

    makers = {
        "glorot": lambda: glorot(sz, fan(0), fan(1)),
        "he": lambda: he(sz, fan(0)),
        "narrow-normal": lambda: narrow_normal(sz),
        "orthogonal": lambda: orthogonal(sz),
        "zeros": lambda: zeros(sz),
        "ones": lambda: ones(sz),
    }
    return makers[check_initializer(name, initializer, WEIGHT_INITIALIZERS)]()


def _from_callable(fn: Callable, sz: tuple[int, ...], name: str) -> Any:
    value = fn(sz)
    data = getattr(value, "_data", value)  # a dlarray's data
    if array_module(data) is np:
        data = np.asarray(data, dtype=np.float32)
    shape = tuple(data.shape)
    if len(shape) < len(sz) and shape + (1,) * (len(sz) - len(shape)) == sz:
        data = data.reshape(sz)  # MATLAB drops trailing singleton dimensions
    if tuple(data.shape) != sz:
        got = "x".join(map(str, shape)) or "1x1"
        raise ValueError(f"{name}: the function returned an array of size {got}, but the "
                         f"parameter has size {'x'.join(map(str, sz))}.")
    return to_module(data, active_module()).astype(np.float32)
