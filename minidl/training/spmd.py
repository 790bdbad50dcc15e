"""MATLAB's spmd functions for custom training loops run on several processes with MPI.

MATLAB runs the body of an ``spmd ... end`` block on every worker of a parallel pool; here the
whole script is that body, started once per worker by an MPI launcher::

    mpiexec -n 4 python -m mpi4py train.py

and the workers talk through these functions (MATLAB's names and meanings; see
``backend.mpi`` for the transport):

* ``spmdIndex()`` (1-based, as MATLAB's) and ``spmdSize()``;
* ``spmdPlus(x)``: the sum over the workers of a number, a NumPy/CuPy array, a dlarray, or a
  whole tree of them (a gradients or Learnables ``Table``, a dict, list or tuple), returned in
  the same form: all the arrays are packed into one buffer and summed with one collective
  call, however many parameters the network has;
* ``spmdBroadcast(source, x)``: worker ``source``'s value on every worker;
* ``spmdReduce(fcn, x)``: ``fcn`` folded over the workers' values in worker order;
* ``spmdBarrier()``;
* ``partition(ds, n, i)``: part i of n of a datastore or minibatchqueue, as MATLAB's partition;
* ``merge_batchnorm_state`` and ``merge_network_state``: batch normalization statistics merged
  over the workers as MATLAB's custom-loop example does (its ``aggregateState``).

In a single process (no MPI launcher) they act as on a pool of one worker: ``spmdIndex()`` is
1, ``spmdSize()`` is 1, and ``spmdPlus(x)``, ``spmdBroadcast(1, x)`` and ``spmdReduce(f, x)``
return x. Every worker must make the same calls in the same order with values of the same
shapes (as in MATLAB); a worker that raises ends all of them (``backend.mpi``).
"""

from __future__ import annotations

import functools
import numbers
from collections.abc import Callable
from typing import Any

import numpy as np

from ..backend import array_module, mpi
from ..core import dlarray, gpuArray
from ..data import DATASTORE_TYPES, MiniBatchQueue, partition_bounds
from ..networks import Table

__all__ = ["spmdIndex", "spmdSize", "spmdPlus", "spmdBroadcast", "spmdReduce", "spmdBarrier",
           "partition", "worker_batch_sizes", "merge_batchnorm_state",
           "merge_batchnorm_formula", "merge_network_state"]


def spmdIndex() -> int:
    """This worker's index, 1 .. spmdSize() (MATLAB's spmdIndex; MPI's rank + 1)."""
    return mpi.rank() + 1


def spmdSize() -> int:
    """The number of workers running this program together (1 without an MPI launcher)."""
    return mpi.size()


def spmdBarrier() -> None:
    """Wait until every worker reaches this call (MATLAB's spmdBarrier)."""
    mpi.barrier()


# ---- trees of arrays ---------------------------------------------------------------------------
# A value is split into leaves (raw arrays) and a picklable spec that rebuilds it from them:
#   ("number", type) a Python number      ("host",) a NumPy array    ("scalar",) a NumPy scalar
#   ("device",) a device (CuPy) array     ("dlarray", fmt, spec of its data)
#   ("none",)                             ("const", value) anything else (broadcast, reduce only)
#   ("table", columns, [spec per Value])  ("dict", type, keys, specs)  ("seq", type, specs)

def _flatten(x: Any, leaves: list, what: str, constants: bool) -> Any:
    if x is None:
        return ("none",)
    if isinstance(x, dlarray):
        return ("dlarray", x.fmt, _flatten(x.extractdata(), leaves, what, constants))
    if isinstance(x, np.ndarray):
        leaves.append(x)
        return ("host",)
    if isinstance(x, np.generic) and not isinstance(x, (np.str_, np.bytes_, np.void)):
        leaves.append(np.asarray(x))
        return ("scalar",)
    if isinstance(x, numbers.Number) and not isinstance(x, np.generic):
        leaves.append(np.asarray(x))
        return ("number", type(x))
    if _is_device_array(x):
        leaves.append(x)
        return ("device",)
    table = _table_type()
    if isinstance(x, table):
        columns = {name: getattr(x, name) for name in x.VariableNames if name != "Value"}
        values = x.Value if "Value" in x.VariableNames else []
        return ("table", columns, [_flatten(v, leaves, what, constants) for v in values])
    if isinstance(x, dict):
        keys = list(x)
        return ("dict", type(x), keys, [_flatten(x[k], leaves, what, constants) for k in keys])
    if isinstance(x, (list, tuple)):
        return ("seq", type(x), [_flatten(v, leaves, what, constants) for v in x])
    if constants:
        return ("const", x)
    raise TypeError(f"{what}: x must be a number, an array, a dlarray, a Table (such as "
                    f"gradients or net.Learnables) or a dict, list or tuple of them, got "
                    f"{type(x).__name__}")


def _build(spec: Any, leaves: Any, device: bool, summed: bool = False) -> Any:
    """Rebuild a value from ``spec`` and an iterator of raw arrays; with ``device`` the
    "device" leaves (which arrive as NumPy arrays) are moved to the device backend; with
    ``summed`` the leaves are sums (a sum of Python bools is an int)."""
    kind = spec[0]
    if kind == "none":
        return None
    if kind == "const":
        return spec[1]
    if kind == "host":
        return next(leaves)
    if kind == "scalar":
        return next(leaves)[()]
    if kind == "number":
        value = next(leaves)[()]
        if spec[1] is bool:
            return int(value) if summed else bool(value)
        return spec[1](value) if spec[1] in (int, float, complex) else value
    if kind == "device":
        value = next(leaves)
        if device:
            value = gpuArray(value)
        return value
    if kind == "dlarray":
        return dlarray._wrap(_build(spec[2], leaves, device, summed), spec[1])
    if kind == "table":
        values = [_build(s, leaves, device, summed) for s in spec[2]]
        return _table_type()({**spec[1], "Value": values})
    if kind == "dict":
        items = dict(zip(spec[2], (_build(s, leaves, device, summed) for s in spec[3])))
        return items if spec[1] is dict else spec[1](items)
    values = [_build(s, leaves, device, summed) for s in spec[2]]
    seq_type = spec[1]
    if seq_type in (list, tuple):
        return seq_type(values)
    return seq_type(*values) if hasattr(seq_type, "_fields") else seq_type(values)


def _is_device_array(x: Any) -> bool:

    try:
        return hasattr(x, "shape") and hasattr(x, "dtype") and array_module(x) is not np
    except TypeError:
        return False


def _table_type() -> type:

    return Table


def _check_worker(name: str, value: Any) -> int:
    """A worker index (1-based) given as ``name``: an integer from 1 to spmdSize()."""
    n = spmdSize()
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not 1 <= value <= n:
        raise ValueError(f"{name} must be a worker index, an integer from 1 to spmdSize() "
                         f"({n}), got {value!r}")
    return int(value)


# ---- the reductions ----------------------------------------------------------------------------

def spmdPlus(x: Any, destination: int | None = None) -> Any:
    """The sum of ``x`` over all workers, on every worker (MATLAB's ``spmdPlus(A)``), or on
    worker ``destination`` only (``spmdPlus(A, destination)``; the others get None, MATLAB's []).

    ``x`` is a number, a NumPy or CuPy array, a dlarray, or a tree of them: a Table with a Value
    column (gradients from ``dlgradient(loss, net.Learnables)``, ``net.Learnables``,
    ``net.State``), a dict, list or tuple. The result has the same form (a Table with the same
    Layer and Parameter columns, dlarrays with the same formats, arrays of the same shapes,
    dtypes and devices; a sum of logical values counts, as an integer). All the arrays of x
    travel in one buffer, summed with one collective call; every worker must give arrays of
    the same shapes in the same order. The result is not traced by autodiff: sum gradients
    after ``dlfeval``, not inside it.
    """
    if destination is not None:
        destination = _check_worker("spmdPlus: destination", destination)
    leaves: list = []
    spec = _flatten(x, leaves, "spmdPlus", constants=False)
    if spmdSize() == 1:
        return x
    sums = mpi.allreduce_sum(leaves, None if destination is None else destination - 1)
    if sums is None:
        return None
    return _build(spec, iter(sums), device=False, summed=True)


def spmdBroadcast(source: int, x: Any = None) -> Any:
    """Worker ``source``'s ``x`` on every worker (MATLAB's ``spmdBroadcast(source, A)`` on the
    source and ``spmdBroadcast(source)`` on the others, whose x is ignored).

    ``x`` may be anything ``spmdPlus`` takes (its arrays travel in one buffer; device arrays
    arrive on each worker's device, dlarrays keep their formats) and, around them, any
    picklable Python values (strings, options). On the source worker the result is x itself.
    """
    source = _check_worker("spmdBroadcast: source", source)
    if spmdSize() == 1:
        return x
    root = source - 1
    if mpi.rank() == root:
        leaves: list = []
        spec = _flatten(x, leaves, "spmdBroadcast", constants=True)
        mpi.broadcast_object(spec, root)
        mpi.broadcast_arrays(leaves, root)
        return x
    spec = mpi.broadcast_object(None, root)
    arrays = mpi.broadcast_arrays(None, root)
    return _build(spec, iter(arrays), device=True)


def spmdReduce(fcn: Callable[[Any, Any], Any], x: Any, destination: int | None = None) -> Any:
    """``fcn`` folded over the workers' values in worker order, ``fcn(fcn(x1, x2), x3) ...``,
    on every worker (MATLAB's ``spmdReduce(fcn, A)``), or on ``destination`` only (the others
    get None). ``fcn`` is called spmdSize() - 1 times, on every worker alike; give an
    associative function (``operator.add``, ``max``, ``np.maximum``, ``operator.and_``) for
    results that do not depend on the grouping. With one worker the result is x.

    The values travel whole to every worker (an all-gather of their arrays): for sums of large
    arrays use ``spmdPlus``, which adds them inside MPI.
    """
    if not callable(fcn):
        raise TypeError(f"spmdReduce: fcn must be a function of two values, got "
                        f"{type(fcn).__name__}")
    if destination is not None:
        destination = _check_worker("spmdReduce: destination", destination)
    leaves: list = []
    spec = _flatten(x, leaves, "spmdReduce", constants=True)
    if spmdSize() == 1:
        return x
    host = [a if isinstance(a, np.ndarray) else a.get() for a in leaves]
    gathered = mpi.allgather_object((spec, host))
    if destination is not None and spmdIndex() != destination:
        return None
    values = [_build(s, iter(arrays), device=True) for s, arrays in gathered]
    return functools.reduce(fcn, values)


# ---- batch normalization statistics ------------------------------------------------------------

def merge_batchnorm_formula(means: list[Any], variances: list[Any],
                            counts: list[float]) -> tuple[np.ndarray, np.ndarray]:
    """Batch normalization statistics of workers merged into those of their union: with
    f_r = n_r / sum(n), mean M = sum_r f_r m_r and variance V = sum_r f_r (v_r + (m_r - M)^2)
    (MATLAB's ``aggregateState``). ``means[r]``, ``variances[r]`` are worker r's arrays (any
    equal shapes, e.g. 1 x 1 x C), ``counts[r]`` its observations. Computed in float64 on the
    host, returned in the dtype of ``means[0]``: the reference that the distributed
    ``merge_batchnorm_state`` is tested against."""
    if not (len(means) == len(variances) == len(counts)) or not means:
        raise ValueError("merge_batchnorm_formula: means, variances and counts need one entry "
                         f"per worker, got {len(means)}, {len(variances)} and {len(counts)}")
    n = np.asarray(counts, np.float64)
    if np.any(n < 0) or n.sum() <= 0:
        raise ValueError(f"merge_batchnorm_formula: counts must be nonnegative with a positive "
                         f"sum, got {list(counts)}")
    f = (n / n.sum()).reshape((-1,) + (1,) * np.ndim(means[0]))
    m = np.stack([np.asarray(a, np.float64) for a in means])
    v = np.stack([np.asarray(a, np.float64) for a in variances])
    mean = (f * m).sum(axis=0)
    variance = (f * (v + (m - mean) ** 2)).sum(axis=0)
    dtype = np.asarray(means[0]).dtype
    return mean.astype(dtype), variance.astype(dtype)


def merge_batchnorm_state(means: list[Any], variances: list[Any],
                          fraction: float) -> tuple[list[Any], list[Any]]:
    """This worker's batch normalization statistics (one mean and one variance array per
    layer, NumPy or CuPy) merged over all workers, returned on every worker.

    ``fraction`` is f_r = n_r / M, this worker's share of the global mini-batch. Merged as
    MATLAB's ``aggregateState``: M = sum_r f_r m_r, then V = sum_r f_r (v_r + (m_r - M)^2);
    two sums (the second needs M), each one call for all the layers, in float64; results in
    each input's dtype and on its device. With one worker (fraction 1) the inputs come back.
    """
    means, variances = list(means), list(variances)
    if len(means) != len(variances):
        raise ValueError(f"merge_batchnorm_state: {len(means)} means but {len(variances)} "
                         "variances: give one of each per layer")
    fraction = float(fraction)
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"merge_batchnorm_state: fraction must be this worker's share of the "
                         f"mini-batch, from 0 to 1, got {fraction}")
    if spmdSize() == 1 or not means:
        return means, variances
    wide = [a.astype(np.float64) for a in means]
    merged = mpi.allreduce_sum([fraction * a for a in wide])
    terms = [fraction * (v.astype(np.float64) + (m - big) ** 2)
             for v, m, big in zip(variances, wide, merged)]
    spread = mpi.allreduce_sum(terms)
    return ([b.astype(a.dtype) for b, a in zip(merged, means)],
            [b.astype(a.dtype) for b, a in zip(spread, variances)])


def merge_network_state(state: Any, fraction: float) -> Any:
    """``net.State`` with every batch normalization layer's TrainedMean and TrainedVariance
    merged over the workers (``merge_batchnorm_state``; MATLAB's ``aggregateState``); other
    rows (recurrent states) are this worker's own. ``state`` is a Table with columns Layer,
    Parameter and Value; the result is a new Table with the same rows."""
    table = _table_type()
    if not isinstance(state, table) or not {"Layer", "Parameter", "Value"} <= set(
            state.VariableNames):
        raise TypeError("merge_network_state: state must be a network's State table (columns "
                        f"Layer, Parameter, Value), got {type(state).__name__}")
    rows = {(layer, p): i for i, (layer, p) in enumerate(zip(state.Layer, state.Parameter))}
    pairs = [(i, rows[layer, "TrainedVariance"]) for (layer, p), i in rows.items()
             if p == "TrainedMean" and (layer, "TrainedVariance") in rows]
    values = list(state.Value)
    if not pairs or spmdSize() == 1:
        return state
    means = [values[i].extractdata() for i, _ in pairs]
    variances = [values[j].extractdata() for _, j in pairs]
    means, variances = merge_batchnorm_state(means, variances, fraction)
    for (i, j), m, v in zip(pairs, means, variances):
        values[i] = dlarray._wrap(m, values[i].fmt)
        values[j] = dlarray._wrap(v, values[j].fmt)
    return state.with_values(values)


# ---- splitting the data ------------------------------------------------------------------------

def worker_batch_sizes(mini_batch_size: int, workers: int) -> list[int]:
    """Each worker's share of a global mini-batch: floor(M / workers), one more for each of
    the first M mod workers workers (MATLAB's rule for parallel training). A mini-batch
    smaller than the number of workers is an error: some worker would get no observation."""
    if isinstance(mini_batch_size, bool) or not isinstance(mini_batch_size, numbers.Integral) \
            or mini_batch_size < 1:
        raise ValueError(f"MiniBatchSize must be a positive integer, got {mini_batch_size!r}")
    if mini_batch_size < workers:
        raise ValueError(f"MiniBatchSize ({mini_batch_size}) must be at least the number of "
                         f"workers ({workers}): each worker computes on a part of the "
                         "mini-batch")
    return [b - a for a, b in (partition_bounds(mini_batch_size, workers, i + 1)
                               for i in range(workers))]


def partition(ds: Any, n: int, index: int) -> Any:
    """Part ``index`` (1-based) of ``n`` of a datastore or minibatchqueue (MATLAB's
    ``partition(ds, n, index)``): a new object of the same kind over a contiguous block of the
    observations in their current order, floor(N / n) of them, plus one for each of the first
    N mod n parts; the n parts hold every observation exactly once.

    Works for imageDatastore, arrayDatastore, augmentedImageDatastore, combine(...) and
    minibatchqueue (same settings; its shuffle reorders only its own part, as in MATLAB: to
    shuffle across parts, shuffle the whole and partition again). The typical use gives each
    worker its own part: ``partition(ds, spmdSize(), spmdIndex())``. The new object reads from
    its start.
    """
    if not isinstance(ds, (*DATASTORE_TYPES, MiniBatchQueue)):
        raise TypeError(f"partition: ds must be a datastore (imageDatastore, arrayDatastore, "
                        f"augmentedImageDatastore, combine) or a minibatchqueue, got "
                        f"{type(ds).__name__}")
    return ds.partition(n, index)
