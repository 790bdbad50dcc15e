"""How long summing a gradient over MPI ranks takes: one MPI_Allreduce of a float32 buffer, and
minidl.backend's ``mpi.allreduce_sum`` of the same floats as a network's list of parameters
(packed into one buffer, one call, unpacked into new arrays), beside one in-place Allreduce per
parameter (the Allreduce column is one call on one buffer of all the floats, no copies).

    mpiexec -n 2 python -m mpi4py benchmarks/allreduce.py [--json out.json]

Each cell is the median and the best of 5 rounds of the mean time of a round's calls (the
ranks meet at a barrier before each round; a round's time is its slowest rank's). On one
machine MPICH moves the data through shared memory, so this
is the floor of what a network adds; over a network, add size / bandwidth (about 0.8 ms per
MB at 10 Gb/s for a ring allreduce's 2 (n - 1) / n transfers of the buffer).
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from minidl.backend import mpi  # noqa: E402

SIZES = ((60_000, 10), (1_000_000, 10), (60_000, 100))  # floats, as how many parameters
ROUNDS = 5


def timed(fn, calls: int) -> tuple[float, float]:
    """(median, best) over ROUNDS of the mean seconds per call of ``fn`` (same on every rank;
    the best round is the one least disturbed by other work on the machine)."""
    comm = mpi.world()
    for _ in range(max(3, calls // 10)):
        fn()
    samples = []
    for _ in range(ROUNDS):
        comm.Barrier()
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        samples.append((time.perf_counter() - start) / calls)
    slowest = [comm.allreduce(s, op=_max()) for s in samples]
    return statistics.median(slowest), min(slowest)


def _max():
    from mpi4py import MPI

    return MPI.MAX


def parameter_shapes(total: int, count: int = 10) -> list[int]:
    """Sizes of ``count`` parameters adding up to ``total``: 10 as a small CNN's weights and
    biases (four large, six small), or ``count`` equal ones."""
    if count != 10:
        return [total // count + (1 if k < total % count else 0) for k in range(count)]
    weights = [total * f // 100 for f in (2, 8, 30, 58)]
    biases = [16, 16, 32, 32, 64, 10]
    weights[-1] += total - sum(weights) - sum(biases)
    return weights + biases


def main() -> None:
    from mpi4py import MPI

    comm = mpi.world()
    if comm is None or comm.Get_size() < 2:
        print("run this with several ranks: mpiexec -n 2 python -m mpi4py "
              "benchmarks/allreduce.py")
        return
    rows = []
    for n, count in SIZES:
        calls = 400 if n < 100_000 else 40
        buf = np.ones(n, np.float32)
        raw = timed(lambda b=buf: comm.Allreduce(MPI.IN_PLACE, b, op=MPI.SUM), calls)
        params = [np.ones(k, np.float32) for k in parameter_shapes(n, count)]
        packed = timed(lambda p=params: mpi.allreduce_sum(p), calls)
        each = timed(lambda p=params: [comm.Allreduce(MPI.IN_PLACE, a, op=MPI.SUM)
                                       for a in p], calls)
        rows.append({"floats": n, "params": count, "MB": n * 4 / 1e6,
                     "allreduce_ms": [t * 1e3 for t in raw],
                     "allreduce_sum_10_params_ms": [t * 1e3 for t in packed],
                     "one_call_per_param_ms": [t * 1e3 for t in each]})
    if comm.Get_rank() == 0:
        print(f"MPI: {MPI.Get_library_version().splitlines()[0].strip()}, "
              f"{comm.Get_size()} ranks, {os.cpu_count()} CPUs")
        print(f"{'floats':>10} {'params':>6} {'MB':>6} {'Allreduce':>16} {'allreduce_sum':>16} "
              f"{'per-param':>16}   (ms per call, median / best round)")
        for r in rows:
            cells = [f"{r[k][0]:.3f} / {r[k][1]:.3f}" for k in
                     ("allreduce_ms", "allreduce_sum_10_params_ms", "one_call_per_param_ms")]
            print(f"{r['floats']:>10} {r['params']:>6} {r['MB']:>6.2f} "
                  + " ".join(f"{c:>16}" for c in cells))
        if "--json" in sys.argv:
            path = sys.argv[sys.argv.index("--json") + 1]
            tmp = path + ".tmp"
            with open(tmp, "w") as f:
                json.dump({"ranks": comm.Get_size(), "rows": rows}, f, indent=1)
            os.replace(tmp, path)


if __name__ == "__main__":
    main()
