"""MPI for minidl: which process this is, and collective operations on NumPy and CuPy arrays.

Data-parallel training runs one copy of the same script per process (``mpiexec -n 4 python -m
mpi4py train.py``); the processes ("ranks", numbered from 0 here, from 1 in the spmd functions
of ``training.spmd``) talk through MPI, by way of mpi4py. This module is the only place that
touches mpi4py, and it works on raw arrays only (NumPy, CuPy or a registered device stand-in),
so that it can live next to the array backends.

* **Lazy.** Importing mpi4py initializes MPI, so nothing here imports it at module level:
  ``world()`` does, the first time it is asked for the communicator, and only when the process
  was started by an MPI launcher (its environment says so: ``PMI_RANK``, ``OMPI_COMM_WORLD_SIZE``
  and the like) or mpi4py was already imported (the ``-m mpi4py`` runner imports it). A plain
  ``python train.py`` is one worker, with or without mpi4py installed.
* **One call per reduction.** ``allreduce_sum`` packs a list of arrays into one contiguous
  buffer, sums it over the ranks with one MPI_Allreduce and cuts the result back into arrays of
  the original shapes: per-call latency (tens of microseconds) is paid once, not per layer.
* **An exception on one rank ends all.** Collectives wait for every rank, so a rank that dies
  would leave the others waiting forever. When a process joins a world of several ranks,
  ``world()`` wraps ``sys.excepthook`` so that an uncaught exception prints its traceback and
  then calls MPI_Abort, which ends every rank with a nonzero exit status (mpi4py's ``-m mpi4py``
  runner does the same).
* **Threads.** Ranks that share a machine share its cores: each gets ``cores // ranks`` threads
  (``threads_per_rank``); ``minidl.backend.thread_count`` never exceeds it, whatever
  ``MINIDL_THREADS`` says, and on joining the world BLAS and OpenMP are capped to it with
  threadpoolctl (several ranks each running a BLAS with all the cores made a step 10x slower).
* **GPUs.** With CuPy, each rank uses device ``local_rank % device_count`` (``select_device``,
  called before anything is allocated), and device buffers are summed with NCCL
  (``cupy.cuda.nccl``; rank 0 makes the unique id and MPI broadcasts it), or, without NCCL,
  copied to the host, summed with MPI and copied back. **This path has not run on a GPU**: it is
  tested with a stand-in for CuPy and NCCL (tests/training/mpi_scripts/fake_nccl.py) that checks the
  calls, pointers, counts and data types and sums the data over MPI.
"""

from __future__ import annotations

import functools
import importlib
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .arrays import array_module

__all__ = ["world", "rank", "size", "local_rank", "local_size", "is_distributed",
           "allreduce_sum", "broadcast_arrays", "broadcast_object", "allgather_object", "reduce",
           "barrier", "any_true", "any_of", "threads_per_rank", "cap_threads", "select_device",
           "install_abort_hook", "LAUNCHER_VARIABLES"]

#: Environment variables an MPI launcher sets in the processes it starts (MPICH's and Intel
#: MPI's Hydra and Slurm's PMI/PMI2: PMI_*; Open MPI: OMPI_*; PMIx launchers, srun --mpi=pmix
#: among them: PMIX_RANK; MVAPICH: MV2_*).
LAUNCHER_VARIABLES = ("PMI_RANK", "PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_RANK",
                      "MV2_COMM_WORLD_SIZE")
#: Environment variables that give the number of ranks on this machine before MPI starts.
LOCAL_SIZE_VARIABLES = ("MPI_LOCALNRANKS", "OMPI_COMM_WORLD_LOCAL_SIZE",
                        "MV2_COMM_WORLD_LOCAL_SIZE", "SLURM_NTASKS_PER_NODE")

_state: dict[str, Any] = {}  # "comm": COMM_WORLD or None; "local": (rank, size); "nccl": ...


def launched_by_mpi() -> bool:
    """True when an MPI launcher started this process, or mpi4py is already imported (read
    from the environment and ``sys.modules``; does not import mpi4py)."""
    return "mpi4py.MPI" in sys.modules or any(v in os.environ for v in LAUNCHER_VARIABLES)


def world() -> Any:
    """MPI's COMM_WORLD (an ``mpi4py.MPI.Comm``), or None in a process not started by an MPI
    launcher. The first call that finds a launcher imports mpi4py (which initializes MPI) and,
    when there are several ranks, installs the abort hook and caps the threads of this rank.

    Raises RuntimeError naming the fix when an MPI launcher started the process but mpi4py is
    not installed: the ranks would otherwise each train alone, unaware of the others."""
    if "comm" in _state:
        return _state["comm"]
    comm = None
    if launched_by_mpi():
        try:
            # The one import of mpi4py in minidl: importing mpi4py.MPI initializes MPI, so it
            # happens here, on first use, and never on `import minidl`.
            from mpi4py import MPI
        except ImportError as err:
            raise RuntimeError(
                "this process was started by an MPI launcher (mpiexec, srun) but mpi4py is not "
                "installed: pip install 'minidl[parallel]' (mpi4py, and mpich for mpiexec)"
            ) from err
        comm = MPI.COMM_WORLD
    _state["comm"] = comm
    if comm is not None and comm.Get_size() > 1:
        install_abort_hook(comm)
        cap_threads()
    return comm


def rank() -> int:
    """This process's rank, 0 .. size() - 1 (0 in a single process)."""
    comm = world()
    return 0 if comm is None else comm.Get_rank()


def size() -> int:
    """Number of ranks (1 in a single process)."""
    comm = world()
    return 1 if comm is None else comm.Get_size()


def is_distributed() -> bool:
    """True when several ranks run this program together."""
    return size() > 1


def _local() -> tuple[int, int]:
    """(rank among the ranks on this machine, their number), from MPI's shared-memory split."""
    if "local" not in _state:
        comm = world()
        if comm is None:
            _state["local"] = (0, 1)
        else:
            from mpi4py import MPI  # already imported by world()

            node = comm.Split_type(MPI.COMM_TYPE_SHARED, key=comm.Get_rank())
            _state["local"] = (node.Get_rank(), node.Get_size())
            node.Free()
    return _state["local"]


def local_rank() -> int:
    """This rank's number among the ranks on its machine (picks its GPU)."""
    return _local()[0]


def local_size() -> int:
    """Number of ranks on this machine."""
    return _local()[1]


# ---- threads -----------------------------------------------------------------------------------

def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def threads_per_rank() -> int | None:
    """The threads each rank may use when several ranks share this machine: its usable cores
    divided by the ranks on it (at least 1); None for a lone process. Read from MPI once this
    process has joined the world, else from the launcher's environment (MPI_LOCALNRANKS, ...),
    so asking never imports mpi4py."""
    comm = _state.get("comm")
    if comm is not None:
        n = local_size()
    else:
        n = next((int(os.environ[v]) for v in LOCAL_SIZE_VARIABLES
                  if os.environ.get(v, "").strip().isdigit()), 1)
    return max(1, _cpus() // n) if n > 1 else None


def cap_threads() -> int | None:
    """Limit BLAS and OpenMP in this process to ``threads_per_rank()`` threads (threadpoolctl,
    kept for the life of the process); returns the cap, or None when there is nothing to cap.
    minidl's own thread count follows ``threads_per_rank`` directly."""
    share = threads_per_rank()
    if share is None or "limits" in _state:
        return share
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # minidl depends on it, but a broken install should not stop MPI
        return share
    _state["limits"] = threadpool_limits(limits=share)
    return share


# ---- the abort hook ----------------------------------------------------------------------------

def install_abort_hook(comm: Any) -> None:
    """Make an uncaught exception on this rank print its traceback and then end every rank
    (MPI_Abort with status 1), instead of leaving the other ranks waiting in a collective."""
    if getattr(sys.excepthook, "_minidl_abort", False):
        return
    previous = sys.excepthook

    def hook(kind: type, value: BaseException, tb: Any) -> None:
        try:
            previous(kind, value, tb)
            sys.stderr.flush()
            sys.stdout.flush()
        finally:
            comm.Abort(1)

    hook._minidl_abort = True  # type: ignore[attr-defined]
    sys.excepthook = hook


# ---- collectives on host and device arrays -----------------------------------------------------

def _is_host(a: Any) -> bool:
    return isinstance(a, (np.ndarray, np.generic))


def _module(a: Any) -> Any:

    return array_module(a)


def _sum_dtype(dtype: np.dtype) -> np.dtype:
    """The dtype a sum of arrays of ``dtype`` has: the same, but booleans count (int64) and
    float16, which MPI cannot add, is carried as float32."""
    if dtype.kind == "b":
        return np.dtype(np.int64)
    if dtype.kind not in "iufc":
        raise TypeError(f"allreduce_sum: arrays must be numeric or logical, got dtype {dtype}")
    return dtype


def _pack(arrays: Sequence[Any], xp: Any,
          reuse: bool = False) -> tuple[Any, list[tuple[int, tuple, np.dtype]]]:
    """One contiguous 1-D buffer holding ``arrays`` one after another (in their common sum
    dtype), and (size, shape, result dtype) of each to cut it up again. With ``reuse`` the
    buffer is a work buffer kept for the next call (valid until then: ``_unpack`` copies out):
    a new multi-megabyte buffer per call costs more than the sum itself here (fresh pages,
    and MPI meeting a new address), 2-3x the time of an Allreduce of a kept one."""
    kinds = {np.dtype(a.dtype) for a in arrays}
    sums = {k: _sum_dtype(k) for k in kinds}  # per distinct dtype, not per array
    common = np.result_type(*sums.values())
    if common == np.float16:
        common = np.dtype(np.float32)
    layout = [(int(a.size), tuple(a.shape), sums[np.dtype(a.dtype)]) for a in arrays]
    total = sum(n for n, _, _ in layout)
    key = ("work", xp.__name__, common.str)
    work = _state.get(key) if reuse else None
    if work is None or work.size < total:
        work = xp.empty(total, common)
        if reuse:
            _state[key] = work
    buf = work[:total]
    xp.concatenate([a.reshape(-1) for a in arrays], out=buf, casting="unsafe")
    return buf, layout


def _unpack(buf: Any, layout: list[tuple[int, tuple, np.dtype]]) -> list[Any]:
    """Arrays of the given sizes, shapes and dtypes cut from ``buf`` in order: views into one
    copy of it (one copy in all, whatever the number of arrays), cast where their dtype is not
    the buffer's."""
    whole, out, start = buf.copy(), [], 0
    for n, shape, dtype in layout:
        piece = whole[start:start + n].reshape(shape)
        out.append(piece if piece.dtype == dtype else piece.astype(dtype))
        start += n
    return out


def allreduce_sum(arrays: Sequence[Any], root: int | None = None) -> list[Any] | None:
    """The elementwise sums over all ranks of a list of arrays (each rank gives arrays of the
    same shapes and dtypes, in the same order), in one collective call.

    Host (NumPy) arrays are packed into one buffer and summed with one MPI_Allreduce (MPI_Reduce
    to ``root`` when it is given: then only rank ``root`` gets the sums and the others None).
    Device arrays are packed on the device and summed with NCCL, or through the host when NCCL
    is missing (see ``DeviceReducer``); a list mixing host and device arrays is summed in one
    call for each. Each sum has its input's shape and dtype (a boolean array sums to int64).
    In a single process the arrays are returned as they are.
    """
    arrays = list(arrays)
    comm = world()
    if comm is None or comm.Get_size() == 1:
        return arrays if root in (None, 0) else None
    host = [i for i, a in enumerate(arrays) if _is_host(a)]
    device = [i for i, a in enumerate(arrays) if not _is_host(a)]
    out: list[Any] = [None] * len(arrays)
    for where, reduce in ((host, _host_sum), (device, _device_sum)):
        if where:  # every rank makes both calls, the root's or not
            sums = reduce(comm, [arrays[i] for i in where], root)
            for i, s in zip(where, sums or [None] * len(where)):
                out[i] = s
    return None if root is not None and comm.Get_rank() != root else out


def _host_sum(comm: Any, arrays: list[Any], root: int | None) -> list[Any] | None:
    from mpi4py import MPI  # already imported by world()

    buf, layout = _pack([np.asarray(a) for a in arrays], np, reuse=True)
    if root is None:
        comm.Allreduce(MPI.IN_PLACE, buf, op=MPI.SUM)
    elif comm.Get_rank() == root:
        comm.Reduce(MPI.IN_PLACE, buf, op=MPI.SUM, root=root)
    else:
        comm.Reduce(buf, None, op=MPI.SUM, root=root)
        return None
    return _unpack(buf, layout)


def _device_sum(comm: Any, arrays: list[Any], root: int | None) -> list[Any] | None:
    xp = _module(arrays[0])
    reducer = _state.get("device_reducer")
    if reducer is None or reducer.xp is not xp:
        reducer = DeviceReducer(comm, xp)
        _state["device_reducer"] = reducer
    buf, layout = _pack(arrays, xp, reuse=True)
    buf = reducer.sum(buf)
    if root is not None and comm.Get_rank() != root:
        return None
    return _unpack(buf, layout)


class DeviceReducer:
    """Sums a 1-D device buffer over the ranks: with NCCL when the array module has it
    (``xp.cuda.nccl``, or the ``nccl`` module given), else through host memory and MPI.

    The NCCL communicator is made once: rank 0 makes a unique id, MPI broadcasts it, and every
    rank joins with (size, id, rank). ``pointer`` (a buffer's device address) and ``stream``
    (the current CUDA stream's handle) are CuPy's by default; tests pass their own, with a
    stand-in for NCCL. Not run on a GPU yet: only with that stand-in.
    """

    NCCL_TYPES = {"float16": "NCCL_FLOAT16", "float32": "NCCL_FLOAT32",
                  "float64": "NCCL_FLOAT64", "int32": "NCCL_INT32", "int64": "NCCL_INT64",
                  "uint8": "NCCL_UINT8", "int8": "NCCL_INT8", "uint32": "NCCL_UINT32",
                  "uint64": "NCCL_UINT64"}

    def __init__(self, comm: Any, xp: Any, nccl: Any = None,
                 pointer: Callable[[Any], int] | None = None,
                 stream: Callable[[], int] | None = None) -> None:
        self.comm, self.xp = comm, xp
        self.nccl = nccl if nccl is not None else _find_nccl(xp)
        self.pointer = pointer or (lambda a: a.data.ptr)
        self.stream = stream or (lambda: xp.cuda.get_current_stream().ptr)
        self.nccl_comm = None
        if self.nccl is not None:
            uid = self.nccl.get_unique_id() if comm.Get_rank() == 0 else None
            uid = comm.bcast(uid, root=0)
            self.nccl_comm = self.nccl.NcclCommunicator(comm.Get_size(), uid, comm.Get_rank())

    @property
    def uses_nccl(self) -> bool:
        return self.nccl_comm is not None

    def sum(self, buf: Any) -> Any:
        """``buf`` (1-D, contiguous, on the device) summed over the ranks, in place with NCCL
        (returns ``buf``), or as a new device array through the host."""
        name = self.NCCL_TYPES.get(np.dtype(buf.dtype).name)
        if self.nccl_comm is not None and name is not None:
            ptr = self.pointer(buf)
            self.nccl_comm.allReduce(ptr, ptr, int(buf.size), getattr(self.nccl, name),
                                     self.nccl.NCCL_SUM, self.stream())
            return buf
        from mpi4py import MPI  # already imported by world()

        host = np.ascontiguousarray(buf.get())  # host staging: one copy each way
        self.comm.Allreduce(MPI.IN_PLACE, host, op=MPI.SUM)
        return self.xp.asarray(host)


def _find_nccl(xp: Any) -> Any:
    """The NCCL binding of array module ``xp`` (``cupy.cuda.nccl``) when it is there and
    usable, else None (then sums go through the host)."""
    try:
        nccl = importlib.import_module(f"{xp.__name__}.cuda.nccl")
    except ImportError:
        return None
    return nccl if getattr(nccl, "available", True) else None


def select_device(xp: Any) -> int | None:
    """Make device ``local_rank() % device_count`` current for this rank, before anything is
    allocated (ranks on one machine otherwise all crowd onto device 0); returns its number, or
    None for an array module without CUDA devices (NumPy)."""
    cuda = getattr(xp, "cuda", None)
    if cuda is None:
        return None
    count = cuda.runtime.getDeviceCount()
    if count < 1:
        return None
    device = local_rank() % count
    cuda.Device(device).use()
    return device


def broadcast_arrays(arrays: Sequence[Any] | None, root: int = 0, xp: Any = None) -> list[Any]:
    """Rank ``root``'s arrays on every rank: their shapes and dtypes first (a small message),
    then their data in one buffer with one MPI_Bcast. Other ranks pass None (or anything; it
    is ignored) and get new arrays of module ``xp`` (NumPy by default). Device arrays travel
    through the host."""
    comm = world()
    if comm is None or comm.Get_size() == 1:
        return list(arrays or [])
    me = comm.Get_rank()
    if me == root:
        arrays = list(arrays or [])
        host = [np.asarray(a if _is_host(a) else a.get()) for a in arrays]
        buf, layout = _pack(host, np) if host else (None, [])
        comm.bcast((layout, None if buf is None else buf.dtype.str), root=root)
    else:
        layout, common = comm.bcast(None, root=root)
        buf = np.empty(sum(n for n, _, _ in layout), np.dtype(common)) if layout else None
    if buf is not None:
        comm.Bcast(buf, root=root)
    if me == root:
        return arrays
    xp = np if xp is None else xp
    return [a if xp is np else xp.asarray(a) for a in (_unpack(buf, layout) if layout else [])]


def broadcast_object(obj: Any, root: int = 0) -> Any:
    """A small picklable Python object of rank ``root`` on every rank (MPI's bcast of its
    pickle; arrays go by ``broadcast_arrays``)."""
    comm = world()
    if comm is None or comm.Get_size() == 1:
        return obj
    return comm.bcast(obj, root=root)


def allgather_object(obj: Any) -> list[Any]:
    """Every rank's (picklable) object, in rank order, on every rank."""
    comm = world()
    if comm is None or comm.Get_size() == 1:
        return [obj]
    return comm.allgather(obj)


def reduce(fcn: Callable[[Any, Any], Any], obj: Any, root: int | None = None) -> Any:
    """``fcn`` folded over every rank's (picklable) ``obj`` in rank order,
    ``fcn(fcn(obj_0, obj_1), obj_2) ...``, on every rank (or on ``root`` only; the others get
    None). Each rank folds the gathered values itself, so all get the same result; for sums of
    arrays ``allreduce_sum`` is the fast way (MPI adds them, nothing is pickled)."""
    values = allgather_object(obj)
    if root is not None and rank() != root:
        return None
    return functools.reduce(fcn, values)


def barrier() -> None:
    """Wait until every rank reaches this call."""
    comm = world()
    if comm is not None and comm.Get_size() > 1:
        comm.Barrier()


def any_true(flag: bool) -> bool:
    """True on every rank when ``flag`` is true on any rank (a logical or; one small
    MPI_Allreduce): how a stop request (Ctrl-C, OutputFcn, a NaN loss) stops all ranks at once."""
    return any_of([flag])[0]


def any_of(flags: Sequence[bool]) -> list[bool]:
    """Each of several flags or-ed over the ranks, in one small MPI_Allreduce: every rank gets
    the same list, so all ranks take the same branch (stop, and for which reason)."""
    flags = [bool(f) for f in flags]
    comm = world()
    if comm is None or comm.Get_size() == 1 or not flags:
        return flags
    from mpi4py import MPI  # already imported by world()

    buf = np.array(flags, np.int32)
    comm.Allreduce(MPI.IN_PLACE, buf, op=MPI.MAX)
    return [bool(v) for v in buf]


def _reset_for_tests() -> None:
    """Forget the communicator and caches (tests that fake a world)."""
    _state.clear()
