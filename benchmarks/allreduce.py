"""How long summing a gradient over MPI ranks takes: one MPI_Allreduce of a float32 buffer, and
``minidl.mpi.allreduce_sum`` of the same floats as a network's list of parameters (packed into
one buffer, one call, unpacked), beside one Allreduce per parameter.

    mpiexec -n 2 python -m mpi4py benchmarks/allreduce.py [--json out.json]

Each number is the median over 5 rounds of the mean time of a round's calls (the ranks meet at a
barrier before each round). On one machine MPICH moves the data through shared memory, so this
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

from minidl import mpi  # noqa: E402

SIZES = (60_000, 1_000_000)
ROUNDS = 5


def timed(fn, calls: int) -> float:
    """Median over ROUNDS of the mean seconds per call of ``fn`` (same on every rank)."""
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
    return statistics.median(comm.allreduce(s, op=_max()) for s in samples)


def _max():
    from mpi4py import MPI

    return MPI.MAX


def parameter_shapes(total: int) -> list[int]:
    """Sizes of 10 parameters adding up to ``total``, as a small CNN's weights and biases."""
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
    for n in SIZES:
        calls = 400 if n < 100_000 else 40
        buf = np.ones(n, np.float32)
        raw = timed(lambda b=buf: comm.Allreduce(MPI.IN_PLACE, b, op=MPI.SUM), calls)
        params = [np.ones(k, np.float32) for k in parameter_shapes(n)]
        packed = timed(lambda p=params: mpi.allreduce_sum(p), calls)
        each = timed(lambda p=params: [comm.Allreduce(MPI.IN_PLACE, a, op=MPI.SUM)
                                       for a in p], calls)
        rows.append({"floats": n, "MB": n * 4 / 1e6, "allreduce_ms": raw * 1e3,
                     "allreduce_sum_10_params_ms": packed * 1e3,
                     "one_call_per_param_ms": each * 1e3})
    if comm.Get_rank() == 0:
        print(f"MPI: {MPI.Get_library_version().splitlines()[0].strip()}, "
              f"{comm.Get_size()} ranks, {os.cpu_count()} CPUs")
        print(f"{'floats':>10} {'MB':>6} {'Allreduce':>11} {'allreduce_sum':>14} "
              f"{'per-param':>10}   (ms per call; 10 parameters for the last two)")
        for r in rows:
            print(f"{r['floats']:>10} {r['MB']:>6.2f} {r['allreduce_ms']:>11.4f} "
                  f"{r['allreduce_sum_10_params_ms']:>14.4f} {r['one_call_per_param_ms']:>10.4f}")
        if "--json" in sys.argv:
            path = sys.argv[sys.argv.index("--json") + 1]
            tmp = path + ".tmp"
            with open(tmp, "w") as f:
                json.dump({"ranks": comm.Get_size(), "rows": rows}, f, indent=1)
            os.replace(tmp, path)


if __name__ == "__main__":
    main()
