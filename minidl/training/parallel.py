"""trainnet on several MPI processes: MATLAB's "parallel", "parallel-auto", "parallel-cpu",
"parallel-gpu" and "multi-gpu" execution environments.

``ParallelPlan`` holds what trainnet does differently when several ranks train together
(trainnet calls it at six places; for a serial run every call gives back its input):

* MiniBatchSize M is the global mini-batch: rank r computes on its block of it,
  floor(M / ranks) observations, one more on the first M mod ranks ranks (``my_part``);
  M below the number of ranks is an error (``check_batch``).
* Each rank's loss and gradients are weighted by its share n_r / M and summed over the ranks
  in one call (``sum_step``): the mean over the whole mini-batch, as one process computes it
  (for every loss that is a mean over the observations of its mini-batch, built-in or not).
  L2 regularization, clipping and the solver then run identically on every rank, so the
  weights stay the same everywhere without being sent again; rank 0's initial weights and
  state are (``same_start``), and rank 0's shuffles are (``same_order``).
* Batch normalization statistics: each rank normalizes with its own sub-batch's statistics;
  the running TrainedMean and TrainedVariance are merged every iteration
  (``training.spmd.merge_network_state``, MATLAB's aggregateState).
* Stop requests (Ctrl-C, OutputFcn, validation patience) are or-ed over the ranks each
  iteration in one small call (``stop_flags``); a NaN loss is the same on every rank already.
  Only rank 0 (worker 1) prints, plots, writes checkpoints and calls OutputFcn (``reports``).

In a single process the parallel environments train as the serial one ("parallel-cpu" as
"cpu", "multi-gpu" and "parallel-gpu" as "gpu", the others as "auto"), after a one-line note.
"""

from __future__ import annotations

import signal
import threading
from typing import Any

import numpy as np

from ..backend import array_module, mpi, to_module
from ..data import partition_bounds
from .spmd import merge_network_state, spmdBroadcast, worker_batch_sizes

__all__ = ["ParallelPlan", "PARALLEL_ENVIRONMENTS"]

#: MATLAB's parallel execution environments -> the device environment each rank trains on.
PARALLEL_ENVIRONMENTS = {"parallel": "auto", "parallel-auto": "auto", "parallel-cpu": "cpu",
                         "parallel-gpu": "gpu", "multi-gpu": "gpu"}


class ParallelPlan:
    """What one trainnet call does about the other ranks (nothing, for a serial run)."""

    def __init__(self, environment: str, say: Any = print) -> None:
        self.environment = environment
        self.device_environment = PARALLEL_ENVIRONMENTS.get(environment, environment)
        wanted = environment in PARALLEL_ENVIRONMENTS
        self.active = wanted and mpi.size() > 1
        self.ranks = mpi.size() if self.active else 1
        self.rank = mpi.rank() if self.active else 0
        self.share = 1.0
        self._interrupted = False
        self._previous_handler: Any = None
        if wanted and not self.active:
            say(f'trainnet: ExecutionEnvironment "{environment}" in a single process: training '
                f'on it alone ("{self.device_environment}"); start several with mpiexec -n N '
                "python -m mpi4py script.py")

    @property
    def reports(self) -> bool:
        """True on the rank that prints, plots, checkpoints and calls OutputFcn (rank 0)."""
        return self.rank == 0

    def select_device(self, xp: Any) -> None:
        """Each rank on its own GPU (local rank modulo the devices), before any allocation."""
        if self.active:
            mpi.select_device(xp)

    def check_batch(self, batch: int) -> None:
        if self.active:
            worker_batch_sizes(batch, self.ranks)

    def same_start(self, net: Any) -> Any:
        """``net`` with rank 0's learnables and state on every rank."""
        if not self.active:
            return net
        learnables, state = spmdBroadcast(1, (net.Learnables, net.State))
        net.Learnables = learnables
        net.State = state
        return net

    def same_order(self, order: Any) -> Any:
        """Rank 0's observation order (one broadcast per shuffle), on ``order``'s device."""
        if not self.active:
            return order
        xp = type(order) if not isinstance(order, np.ndarray) else None
        host = order if isinstance(order, np.ndarray) else order.get()
        got = mpi.broadcast_arrays([host], 0)[0]
        return got if xp is None else _like(got, order)

    def my_part(self, idx: Any) -> Any:
        """This rank's block of the global mini-batch ``idx``; sets ``share`` = n_r / M."""
        if not self.active:
            self.share = 1.0
            return idx
        start, stop = partition_bounds(len(idx), self.ranks, self.rank + 1)
        self.share = (stop - start) / len(idx)
        return idx[start:stop]

    def sum_step(self, value: float, grads: list) -> tuple[float, list]:
        """The mini-batch's loss and raw gradients: each rank's weighted by its share and
        summed over the ranks, loss and gradients in one call."""
        if not self.active:
            return value, grads

        f = self.share
        xp = array_module(*grads) if grads else np
        dtype = np.dtype(grads[0].dtype) if grads else np.dtype(np.float32)
        scaled = [g * dtype.type(f) for g in grads]  # float32 stays float32
        # the loss rides in the gradients' buffer (their dtype and device): one call for all
        loss = xp.asarray(np.array([value * f], dtype)) if xp is np else \
            xp.full((1,), value * f, dtype)
        sums = mpi.allreduce_sum([loss, *scaled])
        return float(sums[0][0]), sums[1:]

    def sum_metrics(self, values: dict[str, float]) -> dict[str, float]:
        """Metrics of this rank's part combined into the whole mini-batch's (each a mean
        over its part; rmse through its square), in one call."""
        if not self.active or not values:
            return values
        keys = list(values)
        sq = [k.lower().endswith("rmse") for k in keys]
        terms = np.array([self.share * (values[k] ** 2 if s else values[k])
                          for k, s in zip(keys, sq)], np.float64)
        sums = mpi.allreduce_sum([terms])[0]
        return {k: float(np.sqrt(v) if s else v) for k, s, v in zip(keys, sq, sums)}

    def merge_state(self, state: Any) -> Any:
        """Batch normalization statistics merged over the ranks (aggregateState)."""
        return merge_network_state(state, self.share) if self.active else state

    # ---- stopping together -------------------------------------------------------------------
    def __enter__(self) -> ParallelPlan:
        """While training on several ranks, Ctrl-C sets a flag instead of raising: a rank
        interrupted elsewhere than its peers would leave them waiting in a collective."""
        if self.active and threading.current_thread() is threading.main_thread():
            self._previous_handler = signal.signal(signal.SIGINT, self._interrupt)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._previous_handler is not None:
            signal.signal(signal.SIGINT, self._previous_handler)
            self._previous_handler = None

    def _interrupt(self, signum: int, frame: Any) -> None:
        self._interrupted = True

    def stop_flags(self, *flags: bool) -> list[bool]:
        """``flags`` or-ed over the ranks (serial: as given), followed by whether any rank was
        interrupted (Ctrl-C): one small call per iteration."""
        if not self.active:
            return [bool(f) for f in flags] + [False]
        return mpi.any_of([*flags, self._interrupted])


def _like(host: np.ndarray, device_array: Any) -> Any:

    return to_module(host, array_module(device_array))
