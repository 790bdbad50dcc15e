"""Work split over threads on the CPU: mini-batches (trainnet, minibatchpredict) and single ops.

NumPy runs its elementwise loops (normalization, relu, pooling, copies) on one core and releases
the GIL inside them, so work cut into chunks of observations and computed at the same time on a
few threads uses all the cores. Two levels use that, never both at once:

* **Mini-batches** (``minidl.prediction.split_plan``): trainnet and minibatchpredict compute
  the chunks of a mini-batch through the whole network at the same time, when that is exact.
* **Ops** (``op_chunks``): otherwise, inside a ``scope`` (``dlfeval``, a dlnetwork's
  ``forward`` and ``predict``), the heavy ops (convolution with its GEMMs, the per-observation
  normalizations, max pooling, large matrix products through ``matmul``) split their own work
  over the observations, so a custom training loop uses the cores too. An op inside a part of
  ``in_parallel`` (a chunk of a mini-batch, or of another op) does not split again.

While chunks run, and throughout a scope, BLAS is kept to one thread (threadpoolctl): chunks
whose GEMMs each start threads of their own oversubscribe the cores, and OpenBLAS's threads
keep spinning for a while after each multi-threaded call, taking the core a chunk needs; both
made a split step slower than no splitting at all (32 vs 25 ms at batch 128, against 22 ms with
BLAS on one thread for the whole step).
``MINIDL_THREADS`` sets the number of threads (1 turns all splitting off). By default minidl
splits work only on machines of at most ``MAX_DEFAULT_THREADS`` usable CPUs (the 2-core machines
it was measured on), using them all, and only when BLAS can be kept to one thread
(threadpoolctl is installed, or OPENBLAS_NUM_THREADS, MKL_NUM_THREADS or OMP_NUM_THREADS is 1);
on larger machines BLAS keeps the cores unless ``MINIDL_THREADS`` asks for splitting.
Splitting is for NumPy only: CuPy runs each op on the whole GPU already.
"""

from __future__ import annotations

import ctypes
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from .arrays import array_module
from .mpi import threads_per_rank

__all__ = ["thread_count", "chunk_bounds", "in_parallel", "scope", "op_chunks", "sum_parts",
           "matmul", "contiguous", "THREADS_VARIABLE"]

THREADS_VARIABLE = "MINIDL_THREADS"
MAX_DEFAULT_THREADS = 2
MIN_CHUNK = 32  # observations per mini-batch chunk: smaller ones cost more than they gain

_local = threading.local()  # .inside: running a part of in_parallel; .threads: in a scope


def thread_count() -> int:
    """Threads work may be split over: ``MINIDL_THREADS`` if set (1 = no splitting), else the
    CPUs this process may run on when there are at most ``MAX_DEFAULT_THREADS`` of them and BLAS
    can be kept to one thread meanwhile, else 1; never more than this rank's share of the cores
    when several MPI ranks share the machine (``backend.mpi.threads_per_rank``)."""
    share = threads_per_rank()  # reads the environment or a joined world; never imports mpi4py
    n = _thread_count()
    return n if share is None else min(n, share)


def _thread_count() -> int:
    value = os.environ.get(THREADS_VARIABLE, "").strip()
    if value:
        n = int(value) if value.isdigit() else 0  # not int(): it reads "2_0" as 20
        if n < 1:
            raise ValueError(f"the environment variable {THREADS_VARIABLE} must be a positive "
                             f"integer (1 turns splitting work over threads off), got "
                             f"{value!r}")
        return n
    if not _SingleThreadedBLAS.possible():
        return 1
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    # minidl's threads replace BLAS's own only where that was measured to win, on machines of
    # at most MAX_DEFAULT_THREADS CPUs. With more cores, BLAS keeps its threads (with BLAS held
    # to one thread, a large GEMM would use 2 of, say, 16 cores); MINIDL_THREADS opts in.
    return cpus if cpus <= MAX_DEFAULT_THREADS else 1


def chunk_bounds(n: int, threads: int) -> list[tuple[int, int]]:
    """(start, stop) of the chunks of a mini-batch of ``n`` observations: up to ``threads``
    nearly equal chunks of at least ``MIN_CHUNK`` observations (one chunk: no splitting)."""
    return _even_chunks(n, max(1, min(threads, n // MIN_CHUNK)))


def _even_chunks(n: int, k: int) -> list[tuple[int, int]]:
    """(start, stop) of ``k`` nearly equal chunks of ``range(n)``, in order."""
    cuts = [n * i // k for i in range(k + 1)]
    return list(zip(cuts[:-1], cuts[1:]))


def sum_parts(parts: Sequence[Any]) -> Any:
    """The sum of the parts' terms of a parameter gradient, in part order (the first term
    itself when there is one part; None when the gradient was not asked for: all None)."""
    if parts[0] is None:
        return None
    total = parts[0]
    for p in parts[1:]:
        total = total + p
    return total


class _SingleThreadedBLAS:
    """Context manager: BLAS on one thread while chunks run on several (else each chunk's GEMMs
    would start threads of their own and the cores would be oversubscribed). Uses threadpoolctl
    when it is installed, else changes nothing (then ``thread_count`` is 1 unless BLAS is set to
    one thread or MINIDL_THREADS asks for more). Re-entrant across threads: the first to enter
    sets the limit, the last to leave restores the previous setting."""

    _lock = threading.Lock()
    _users = 0
    _limiter: Any = None
    _controller: Any = None

    def __enter__(self) -> None:
        cls = type(self)
        with cls._lock:
            if cls._users == 0:
                controller = cls._get_controller()
                cls._limiter = controller.limit(limits=1, user_api="blas") if controller else None
            cls._users += 1
            _local.blas_depth = getattr(_local, "blas_depth", 0) + 1
            if _local.blas_depth == 1:
                _local.blas_before = cls.cap_thread()

    def __exit__(self, *exc: Any) -> None:
        cls = type(self)
        with cls._lock:
            cls._users -= 1
            _local.blas_depth -= 1
            if _local.blas_depth == 0:
                cls.cap_thread(getattr(_local, "blas_before", None))
            if cls._users == 0:
                cls._restore()

    _thread_setters: list | None = None

    @classmethod
    def cap_thread(cls, values: list | None = None) -> list:
        """Limit BLAS to one thread for the calling thread only (OpenBLAS's
        ``openblas_set_num_threads_local``), or set back the ``values`` an earlier call returned;
        returns the previous values. The global limit above does not reach a thread other
        than the main one once the main thread has set it (OpenBLAS 0.3.31 ignores the call):
        without this, predict from a worker thread would run BLAS on all cores under
        minidl's own threads."""
        if cls._thread_setters is None:
            setters = []
            controller = cls._get_controller()
            for lib in getattr(controller, "lib_controllers", []) if controller else []:
                fn = getattr(getattr(lib, "dynlib", None), "openblas_set_num_threads_local",
                             None) if getattr(lib, "internal_api", "") == "openblas" else None
                if fn is not None:
                    fn.restype, fn.argtypes = ctypes.c_int, [ctypes.c_int]
                    setters.append(fn)
            cls._thread_setters = setters
        if values is None:
            return [fn(1) for fn in cls._thread_setters]
        return [fn(v) for fn, v in zip(cls._thread_setters, values)]

    @classmethod
    def _restore(cls) -> None:
        if cls._limiter is not None:
            cls._limiter.restore_original_limits()
            cls._limiter = None

    @classmethod
    def after_fork(cls) -> None:
        """In a forked child only the forking thread lives on: the lock may have been held by
        another thread, and only this thread's entries will ever be left."""
        cls._lock = threading.Lock()
        cls._users = getattr(_local, "blas_depth", 0)
        if cls._users == 0:
            cls._restore()

    @classmethod
    def possible(cls) -> bool:
        """True when BLAS can be limited to one thread (or is already told to use one)."""
        if any(os.environ.get(v, "").strip() == "1"
               for v in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS")):
            return True
        return bool(cls._get_controller())

    @classmethod
    def _get_controller(cls) -> Any:
        if cls._controller is None:
            try:
                from threadpoolctl import ThreadpoolController
            except ImportError:
                cls._controller = False
            else:
                cls._controller = ThreadpoolController()
        return cls._controller


class _Worker:
    """A thread that runs one part at a time for ``in_parallel``: ``start(fn, part)``, then
    ``finish()`` gives (True, result) or (False, exception).

    Two plain locks hand the part over and back, with almost no Python in between on either
    side; ThreadPoolExecutor's futures run more Python after each part, during which the two
    threads wait for each other's GIL, and cost about 50 µs more per split op here."""

    def __init__(self) -> None:
        self._go, self._done = threading.Lock(), threading.Lock()
        self._go.acquire()
        self._done.acquire()
        self._task: Any = None
        self._result: Any = None
        threading.Thread(target=self._loop, name="minidl-worker", daemon=True).start()

    def _loop(self) -> None:
        _SingleThreadedBLAS.cap_thread()  # a worker only runs parts: BLAS on one thread, always
        while True:
            self._go.acquire()
            fn, part = self._task
            try:
                self._result = (True, _inside(fn, part))
            except BaseException as err:  # handed to the caller, which re-raises it
                self._result = (False, err)
            self._task = None
            self._done.release()

    def start(self, fn: Callable[[Any], Any], part: Any) -> None:
        self._task = (fn, part)
        self._go.release()

    def finish(self) -> tuple[bool, Any]:
        self._done.acquire()
        result, self._result = self._result, None
        return result


_idle_lock = threading.Lock()
_idle: list[_Worker] = []  # workers not running a part now; more are made when all are busy


def _after_fork() -> None:
    """A forked child has none of the parent's worker threads, and none of its locks may be
    held by a thread that no longer exists there."""
    global _idle_lock
    _idle_lock = threading.Lock()
    _idle.clear()
    _SingleThreadedBLAS.after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)


def _take_workers(k: int) -> list[_Worker]:
    with _idle_lock:
        workers = [_idle.pop() for _ in range(min(k, len(_idle)))]
    return workers + [_Worker() for _ in range(k - len(workers))]


def in_parallel(fn: Callable[[Any], Any], parts: Sequence[Any]) -> list:
    """``[fn(p) for p in parts]`` with the parts computed at the same time: the first on the
    calling thread, the others on worker threads, BLAS on one thread meanwhile. Each part's
    result is what ``fn`` gives alone; the first exception raised (in part order) is re-raised
    after all parts have finished."""
    if len(parts) <= 1:
        return [fn(part) for part in parts]
    workers = _take_workers(len(parts) - 1)
    with _SingleThreadedBLAS():
        for worker, part in zip(workers, parts[1:]):
            worker.start(fn, part)
        try:
            first = (True, _inside(fn, parts[0]))
        except BaseException as err:
            first = (False, err)
        results = [first]
        try:
            for worker in workers:
                results.append(worker.finish())
        finally:  # a Ctrl+C while waiting: only the workers that are done can be used again
            with _idle_lock:
                _idle.extend(workers[:len(results) - 1])
    for ok, value in results:
        if not ok:
            raise value
    return [value for _, value in results]


def _inside(fn: Callable[[Any], Any], part: Any) -> Any:
    """``fn(part)`` with this thread marked as running a part (ops in it do not split)."""
    before = getattr(_local, "inside", False)
    _local.inside = True
    try:
        return fn(part)
    finally:
        _local.inside = before


# ---- ops split over their observations -------------------------------------------------------

#: Values an op's chunk must have at least. On the 2-core VMs we measure on, handing a chunk to
#: another thread and waiting for it costs 100-200 µs (waking a thread is slow there), and the
#: two threads then also wait for each other's GIL between NumPy calls: splitting ops of 64K
#: values per chunk made a batch-32 step slower (8.2 vs 6.8 ms), 256K values per chunk did not.
MIN_OP_ELEMENTS = 1 << 18

@contextmanager
def scope() -> Iterator[None]:
    """Ops called by this thread inside the ``with`` block may split over threads, and BLAS
    runs on one thread meanwhile (all the threads are the ops' own). Re-entrant; does nothing
    inside a part of ``in_parallel`` or when only one thread is allowed."""
    threads = 0 if getattr(_local, "inside", False) or getattr(_local, "threads", 0) \
        else thread_count()
    if threads < 2:
        yield
        return
    _local.threads = threads
    try:
        with _SingleThreadedBLAS():
            yield
    finally:
        _local.threads = 0


def op_chunks(n: int, elements: int, xp: Any) -> list[tuple[int, int]]:
    """(start, stop) ranges of the ``n`` observations an op over ``elements`` values is computed
    in, on as many threads: one range (no splitting) outside a ``scope``, inside a part of
    ``in_parallel``, on a GPU module, or when a chunk would hold fewer than ``MIN_OP_ELEMENTS``
    values."""
    threads = getattr(_local, "threads", 0)
    if threads < 2 or xp is not np or n < 2 or getattr(_local, "inside", False):
        return [(0, n)]
    return _even_chunks(n, max(1, min(threads, n, elements // MIN_OP_ELEMENTS)))


#: Multiply-adds of a GEMM that cost about what one value of an elementwise pass does (a GEMM
#: runs some 20 G multiply-adds/s on a core, a NumPy pass 1-2 G values/s): a GEMM's work in
#: the units of ``MIN_OP_ELEMENTS``.
GEMM_FMA_PER_VALUE = 16


def matmul(a: Any, b: Any) -> Any:
    """``a @ b`` for 2-D arrays. In a scope BLAS runs on one thread, so a large product is cut
    here instead: into blocks of rows of a (or of columns of b, when b has more columns than a
    has rows), each one GEMM writing its block of the C-ordered result, computed at the same
    time. The blocks give the whole product's values to float32 rounding."""
    m, k = a.shape
    n = b.shape[1]
    by_rows = m >= n
    xp = _module(a, b)
    chunks = op_chunks(m if by_rows else n, m * k * n // GEMM_FMA_PER_VALUE, xp)
    if len(chunks) == 1:
        return a @ b
    out = xp.empty((m, n), xp.result_type(a.dtype, b.dtype))

    def block(c: tuple[int, int]) -> None:
        if by_rows:
            xp.matmul(a[c[0]:c[1]], b, out=out[c[0]:c[1]])
        else:
            xp.matmul(a, b[:, c[0]:c[1]], out=out[:, c[0]:c[1]])

    in_parallel(block, chunks)
    return out


def _module(a: Any, b: Any) -> Any:
    """NumPy for two NumPy arrays, else something that is not NumPy (no splitting)."""
    return np if isinstance(a, np.ndarray) and isinstance(b, np.ndarray) else None


# ---- layout conversion -------------------------------------------------------------------------

#: Side of the square tiles ``contiguous`` copies a transposed matrix in (256 x 256 float32
#: values: 256 KB read and written per tile, which stays in a core's L2 cache).
TILE = 256


def contiguous(a: Any, dtype: Any) -> Any:
    """A C-contiguous copy of ``a`` in ``dtype`` (``a`` itself when it already is one).

    For a NumPy view whose memory is a transposition (an H x W x C x N array seen as
    N x H x W x C: the first axis strided, the others merged into one contiguous axis) the
    copy goes tile by tile, the tiles on the threads: copying whole rows at once reads each
    value from another page (TLB misses; 160 ms for 10,000 28x28x3 images, 45 ms in tiles)."""
    if not isinstance(a, np.ndarray) or a.ndim < 2 or a.size < TILE * TILE:
        return array_module(a).ascontiguousarray(a, dtype=dtype)
    n = a.shape[0]
    m = a.reshape(n, -1)
    if m.shape[1] < TILE or not np.may_share_memory(m, a) or m.strides[0] >= m.strides[1]:
        return np.ascontiguousarray(a, dtype=dtype)  # a copy or row order: the plain copy
    out = np.empty(m.shape, dtype)
    f = m.shape[1]

    def rows(bounds: tuple[int, int]) -> None:
        for r in range(bounds[0], bounds[1], TILE):
            for c in range(0, f, TILE):
                out[r:r + TILE, c:c + TILE] = m[r:r + TILE, c:c + TILE]

    # no more threads inside a part of in_parallel (a chunk already has its core)
    threads = 1 if getattr(_local, "inside", False) else max(1, min(thread_count(), n // TILE))
    cuts = [TILE * (n // TILE * i // threads) for i in range(threads)] + [n]  # whole tiles
    in_parallel(rows, list(zip(cuts[:-1], cuts[1:])))
    return out.reshape(a.shape)

