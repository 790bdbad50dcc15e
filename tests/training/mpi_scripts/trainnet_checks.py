"""trainnet with a parallel ExecutionEnvironment on every rank of an MPI launch, against the
same training in one process (run by tests/test_spmd.py with mpiexec -n 2 ... -m mpi4py).

Rank 0 prints ``PASS <check>`` after each check has passed on all ranks.
"""

from __future__ import annotations

import os
import signal
import sys
import tempfile

import numpy as np

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
sys.path.insert(0, ROOT)

import minidl as dl  # noqa: E402
from minidl.backend import mpi  # noqa: E402
from minidl.data import partition_bounds  # noqa: E402
from minidl.training import spmd  # noqa: E402
from minidl.training.spmd import spmdIndex, spmdSize  # noqa: E402

N = spmdSize()
ME = spmdIndex()
CHECKS = []


def check(fn):
    CHECKS.append(fn)
    return fn


def data(n=60, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 3)).astype(np.float32)
    T = np.where(X[:, 0] + 0.5 * X[:, 1] > 0, "yes", "no")
    return X, T


def layers(batchnorm=False):
    out = [dl.featureInputLayer(3, Normalization="none"), dl.fullyConnectedLayer(8)]
    out += [dl.batchNormalizationLayer()] if batchnorm else []
    return out + [dl.reluLayer(), dl.fullyConnectedLayer(2), dl.softmaxLayer()]


def train(environment, X, T, net=None, **options):
    settings = dict(MaxEpochs=3, MiniBatchSize=9, InitialLearnRate=0.1, Shuffle="every-epoch",
                    Verbose=False, ExecutionEnvironment=environment)
    settings.update(options)
    dl.rng(0)
    start = net if net is not None else dl.dlnetwork(layers())
    return dl.trainnet(X, T, start, "crossentropy", dl.trainingOptions("sgdm", **settings))


def host_values(table):
    return [np.asarray(dl.extractdata(v)) for v in table.Value]


def identical_on_all_ranks(net) -> None:
    everyone = mpi.allgather_object(host_values(net.Learnables) + host_values(net.State))
    for other in everyone[1:]:
        for a, b in zip(everyone[0], other):
            np.testing.assert_array_equal(a, b)  # bit for bit


@check
def equals_one_process():
    """No batch normalization: the parallel run is the one-process run (loss history and final
    weights to float32 rounding), and both ranks hold bitwise the same network. MiniBatchSize
    9 splits 5 + 4: unequal shares."""
    X, T = data()
    serial, info1 = train("cpu", X, T)
    parallel, info2 = train("parallel-cpu", X, T)
    identical_on_all_ranks(parallel)
    loss1 = np.array(info1.TrainingHistory.Loss, np.float64)
    loss2 = np.array(info2.TrainingHistory.Loss, np.float64)
    assert loss1.shape == loss2.shape == (3 * (60 // 9),)
    np.testing.assert_allclose(loss2, loss1, rtol=1e-5)
    for a, b in zip(host_values(parallel.Learnables), host_values(serial.Learnables)):
        assert a.dtype == np.float32
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5 * np.abs(b).max())
    assert info2.StopReason == "Max epochs completed"


@check
def batchnorm_state_merged():
    """With batch normalization each rank normalizes with its own sub-batch; the running
    statistics after one iteration are the formula's merge of the ranks' own updates, and the
    ranks hold the same network."""
    X, T = data(n=9)
    dl.rng(1)
    net0 = dl.dlnetwork(layers(batchnorm=True))
    net, _ = train("parallel-cpu", X, T, net=net0, MaxEpochs=1, Shuffle="never")
    identical_on_all_ranks(net)
    sizes = spmd.worker_batch_sizes(9, N)
    states = []
    for w in range(1, N + 1):
        a, b = partition_bounds(9, N, w)
        states.append(dl.forward(net0, dl.dlarray(X[a:b].T, "CB"))[1])
    rows = list(zip(net.State.Layer, net.State.Parameter))
    i, j = rows.index(("batchnorm", "TrainedMean")), rows.index(("batchnorm", "TrainedVariance"))
    want_m, want_v = spmd.merge_batchnorm_formula(
        [s.Value[i].extractdata() for s in states], [s.Value[j].extractdata() for s in states],
        sizes)
    got_m, got_v = net.State.Value[i].extractdata(), net.State.Value[j].extractdata()
    np.testing.assert_allclose(got_m, want_m, rtol=1e-6, atol=1e-6 * np.abs(want_m).max())
    np.testing.assert_allclose(got_v, want_v, rtol=1e-6)


@check
def nan_on_one_rank_stops_all():
    X, T = data()
    X[5] = np.nan  # observation 5: in worker 1's part of the first mini-batch only
    net, info = train("parallel-cpu", X, T, Shuffle="never")
    assert info.StopReason == "Training loss is NaN", info.StopReason
    assert len(info.TrainingHistory.Loss) == 1
    identical_on_all_ranks(net)


@check
def ctrl_c_on_one_rank_stops_all():
    X, T = data()
    calls = []

    def loss(Y, T):
        calls.append(1)
        if ME == N and len(calls) == 4:
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C reaches the last worker only
        return dl.crossentropy(Y, T)

    dl.rng(0)
    net, info = dl.trainnet(X, T, dl.dlnetwork(layers()), loss, dl.trainingOptions(
        "sgdm", MaxEpochs=3, MiniBatchSize=9, Verbose=False,
        ExecutionEnvironment="parallel"))
    assert info.StopReason == "Stopped manually", info.StopReason
    assert len(info.TrainingHistory.Loss) == 4
    identical_on_all_ranks(net)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handler restored


@check
def output_fcn_on_worker_one_stops_all():
    X, T = data()
    seen = []

    def output(info):
        seen.append(info["Iteration"])
        return info["Iteration"] >= 3

    net, info = train("parallel-cpu", X, T, OutputFcn=output)
    assert info.StopReason == "Stopped by OutputFcn", info.StopReason
    assert len(info.TrainingHistory.Loss) == 3
    assert (seen == [0, 1, 2, 3, 3]) if ME == 1 else (seen == []), seen  # worker 1 only


@check
def only_worker_one_reports():
    X, T = data()
    with tempfile.TemporaryDirectory(prefix=f"minidl-rank{ME}-") as folder:
        train("parallel-cpu", X, T, Verbose=True, CheckpointPath=folder,
              Plots="training-progress")
        written = sorted(os.listdir(folder))
    if ME == 1:  # one checkpoint per epoch, and the plot
        assert len([f for f in written if f.startswith("net_checkpoint__")]) == 3, written
        assert "training-progress.png" in written, written
    else:
        assert written == [], written


@check
def batch_smaller_than_workers():
    X, T = data()
    try:
        train("parallel-cpu", X, T, MiniBatchSize=N - 1 if N > 2 else 1)
    except ValueError as err:
        assert "must be at least the number of workers" in str(err), err
    else:
        raise AssertionError("a mini-batch smaller than the number of workers was accepted")


if __name__ == "__main__":
    only = sys.argv[1:]
    for fn in CHECKS:
        if only and fn.__name__ not in only:
            continue
        fn()
        spmd.spmdBarrier()
        if ME == 1:
            print(f"PASS {fn.__name__}", flush=True)
