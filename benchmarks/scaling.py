"""trainnet on 1 and on several MPI ranks: seconds per iteration of the README's network
(imageInputLayer 28x28x3, convolution 5x5x20, instance normalization, relu, max pooling, fully
connected 10, softmax) at MiniBatchSize 128, and the time of the gradient sum per iteration.

    python benchmarks/scaling.py                                   # 1 process, "cpu"
    mpiexec -n 2 python -m mpi4py benchmarks/scaling.py            # 2 ranks, "parallel-cpu"

The first epoch is a warm-up; the second is timed (trainnet's TrainingHistory has no clock per
iteration, so two runs of 1 and 2 epochs are subtracted). The gradient sum is timed by wrapping
minidl.backend's ``mpi.allreduce_sum``: its time includes waiting for the slowest rank to
arrive, which on a machine shared with other work is most of it (the transfer of this network's
31k gradient floats takes ~0.1 ms). `make bench` runs it on 1 and 2 ranks; on 2 shared cores
the numbers swing by 30% between runs.
"""

from __future__ import annotations

import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import minidl as dl  # noqa: E402
from minidl.backend import mpi  # noqa: E402

N, BATCH = 2560, 128
spent = [0.0, 0]


def timed_sum(original):
    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        out = original(*args, **kwargs)
        spent[0] += time.perf_counter() - start
        spent[1] += 1
        return out
    return wrapper


def run(epochs: int, environment: str) -> float:
    rng = np.random.default_rng(0)
    X = rng.random((28, 28, 3, N), dtype=np.float32)
    T = rng.integers(0, 10, N)
    layers = [dl.imageInputLayer([28, 28, 3]), dl.convolution2dLayer(5, 20),
              dl.instanceNormalizationLayer(), dl.reluLayer(),
              dl.maxPooling2dLayer(2, Stride=2), dl.fullyConnectedLayer(10), dl.softmaxLayer()]
    options = dl.trainingOptions("sgdm", MaxEpochs=epochs, MiniBatchSize=BATCH, Verbose=False,
                                 Shuffle="every-epoch", ExecutionEnvironment=environment)
    dl.rng(0)
    mpi.barrier()
    start = time.perf_counter()
    dl.trainnet(X, T, layers, "crossentropy", options)
    mpi.barrier()
    return time.perf_counter() - start


def main() -> None:
    ranks = mpi.size()
    environment = "parallel-cpu" if ranks > 1 else "cpu"
    mpi.allreduce_sum = timed_sum(mpi.allreduce_sum)
    one = run(1, environment)
    spent[:] = [0.0, 0]
    two = run(2, environment)
    per_epoch = N // BATCH
    step = (two - one) / per_epoch
    sums = spent[1] and spent[0] / spent[1]
    if mpi.rank() == 0:
        print(f"ranks {ranks}: {step * 1e3:.1f} ms per iteration (batch {BATCH}, "
              f"{BATCH // ranks} per rank); gradient sum {sums * 1e3:.2f} ms per iteration "
              f"({100 * sums / step:.1f}% of the step)")


if __name__ == "__main__":
    main()
