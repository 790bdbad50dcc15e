"""The backend room: where arrays live and how work runs.

``arrays`` chooses NumPy or CuPy and moves raw arrays between them, ``random`` holds the one
generator behind ``rng``, ``threads`` splits work over the CPU's cores, and ``malloc`` tunes the
host allocator. Nothing here knows what a dlarray is.
"""

from . import mpi
from .arrays import (
    BackendUnavailableError,
    DeviceBackend,
    active_module,
    active_name,
    array_module,
    backend_module,
    backend_name,
    canUseGPU,
    device_backend,
    module_of,
    register_device_backend,
    scatter_add,
    to_module,
    use_backend,
    using_backend,
)
from .malloc import malloc_tuned, tune_malloc
from .random import GENERATORS, generator, own_generator, permutation, rng
from .threads import (
    MIN_CHUNK,
    chunk_bounds,
    contiguous,
    in_parallel,
    matmul,
    op_chunks,
    scope,
    sum_parts,
    thread_count,
)

__all__ = [
    "mpi", "MIN_CHUNK", "chunk_bounds", "contiguous", "in_parallel", "matmul", "op_chunks",
    "scope", "sum_parts", "thread_count", "BackendUnavailableError", "DeviceBackend", "GENERATORS",
    "active_module", "active_name", "array_module", "backend_module", "backend_name", "canUseGPU",
    "device_backend", "generator", "malloc_tuned", "module_of", "own_generator", "permutation",
    "register_device_backend", "rng", "scatter_add", "to_module", "tune_malloc", "use_backend",
    "using_backend",
]
