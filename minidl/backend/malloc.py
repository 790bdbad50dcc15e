"""Tuning glibc's allocator for a training loop's large, repeated temporaries."""

from __future__ import annotations

import ctypes
import os
import sys

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
    try:
        libc = ctypes.CDLL(None)
        if not hasattr(libc, "gnu_get_libc_version"):  # not glibc (musl's mallopt is a stub)
            return False
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return all(mallopt(param, value) == 1 for param, value in _MALLOC_SETTINGS)


def malloc_tuned() -> bool | None:
    """Whether ``tune_malloc`` set the allocator (None: not tried yet in this process)."""
    return _malloc_tuned
