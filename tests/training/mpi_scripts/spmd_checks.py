"""Each spmd function against its definition, on every rank of an MPI launch.

Run by tests/test_spmd.py as ``mpiexec -n 2 python -m mpi4py spmd_checks.py``. Every rank
makes its own value from a seed of its rank, so every rank can also make every other rank's
value and compute the expected result itself. Rank 0 prints ``PASS <check>`` after each check
has passed on all ranks; a failure raises, which ends the launch with a nonzero status and a
traceback (the -m mpi4py runner aborts all ranks).
"""

from __future__ import annotations

import operator
import os
import sys
import time
from collections import OrderedDict, namedtuple

import numpy as np

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
sys.path.insert(0, ROOT)

import minidl as dl  # noqa: E402
from minidl.backend import mpi  # noqa: E402
from minidl.training import spmd  # noqa: E402
from minidl.training.spmd import (  # noqa: E402
    partition,
    spmdBarrier,
    spmdBroadcast,
    spmdIndex,
    spmdPlus,
    spmdReduce,
    spmdSize,
)

N = spmdSize()
ME = spmdIndex()
CHECKS = []


def check(fn):
    CHECKS.append(fn)
    return fn


def value_of(worker: int, shape=(3, 4), dtype=np.float32) -> np.ndarray:
    """Worker ``worker``'s (1-based) array of a check: random, from a seed of its index."""
    return np.random.default_rng(100 + worker).standard_normal(shape).astype(dtype)


def total(make) -> np.ndarray:
    """The sum over the workers, added in worker order (as two float32 values add exactly the
    same way in either order, this is what MPI gives for 2 ranks)."""
    out = make(1)
    for w in range(2, N + 1):
        out = out + make(w)
    return out


def same_sum(got, make) -> None:
    """``got`` is the sum over the workers of ``make(w)``: bit for bit with 2 workers (a + b is
    b + a in floating point); with more, MPI may group the terms otherwise, so to within the
    rounding of the sum, (workers - 1) * eps * sum |terms|."""
    got = np.asarray(got)
    want = total(make)
    if N == 2 or got.dtype.kind not in "fc":
        equal(got, want)
        return
    scale = total(lambda w: np.abs(make(w)))
    assert np.all(np.abs(got - want) <= (N - 1) * np.finfo(got.dtype).eps * scale), (got, want)


def equal(a, b) -> None:
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


class Counting:
    """COMM_WORLD with a count of each collective's calls (mpi4py's methods are C-level, so the
    communicator is wrapped instead of patched)."""

    def __init__(self, comm):
        self._comm, self.calls = comm, {}

    def __getattr__(self, name):
        attr = getattr(self._comm, name)
        if not callable(attr) or name.startswith("Get_"):
            return attr

        def counted(*args, **kwargs):
            self.calls[name] = self.calls.get(name, 0) + 1
            return attr(*args, **kwargs)

        return counted


def counting():
    counter = Counting(mpi.world())
    mpi._state["comm"] = counter
    return counter


def restore(counter) -> None:
    mpi._state["comm"] = counter._comm


# ---- the checks -------------------------------------------------------------------------------

@check
def index_and_size():
    assert N == int(os.environ.get("EXPECT_RANKS", "2")), N
    assert mpi.allgather_object(spmdIndex()) == list(range(1, N + 1))
    assert spmdIndex() == mpi.rank() + 1 and mpi.is_distributed()
    assert mpi.local_size() == N and 0 <= mpi.local_rank() < N  # one machine


@check
def plus_numbers():
    s = spmdPlus(ME)
    assert s == N * (N + 1) // 2 and type(s) is int, s
    f = spmdPlus(0.5 * ME)
    assert f == 0.5 * N * (N + 1) / 2 and type(f) is float, f
    b = spmdPlus(ME == 1)  # logical values count
    assert b == 1 and type(b) is int, b
    g = spmdPlus(np.float32(ME))
    assert g == np.float32(N * (N + 1) / 2) and g.dtype == np.float32, g


@check
def plus_arrays():
    for dtype in (np.float32, np.float64, np.int32):
        s = spmdPlus(value_of(ME, dtype=dtype))
        assert s.dtype == dtype and s.shape == (3, 4)
        same_sum(s, lambda w, d=dtype: value_of(w, dtype=d))
    s = spmdPlus(value_of(ME, ()) )  # a 0-d array
    assert s.shape == () and s.dtype == np.float32
    same_sum(s, lambda w: value_of(w, ()))
    s = spmdPlus(np.array([ME == 1, True]))  # logical arrays count
    equal(s, [1, N])
    assert s.dtype == np.int64


@check
def plus_dlarray():
    x = dl.dlarray(value_of(ME, (2, 3, 4, 5)), "SSCB")
    s = spmdPlus(x)
    assert isinstance(s, dl.dlarray) and s.fmt == "SSCB" and s.dtype == np.float32
    same_sum(s.extractdata(), lambda w: value_of(w, (2, 3, 4, 5)))


def learnables_of(worker: int):
    """A real network's Learnables table, made from a seed of the worker."""
    dl.rng(worker)
    net = dl.dlnetwork([dl.featureInputLayer(3), dl.fullyConnectedLayer(4), dl.reluLayer(),
                        dl.fullyConnectedLayer(2)])
    return net.Learnables


@check
def plus_table_one_call():
    mine = learnables_of(ME)
    counter = counting()
    try:
        s = spmdPlus(mine)
    finally:
        restore(counter)
    assert counter.calls == {"Allreduce": 1}, counter.calls  # 4 parameters, one call
    assert isinstance(s, dl.Table)
    assert s.Layer == mine.Layer and s.Parameter == mine.Parameter
    everyone = [learnables_of(w) for w in range(1, N + 1)]
    for k, v in enumerate(s.Value):
        assert isinstance(v, dl.dlarray) and v.fmt == mine.Value[k].fmt
        same_sum(v.extractdata(), lambda w, k=k: everyone[w - 1].Value[k].extractdata())


Pair = namedtuple("Pair", "a b")


@check
def plus_tree():
    def tree(w):
        return {"w": [value_of(w, (2,), np.float64), np.arange(3, dtype=np.int32) * w],
                "t": (w, 1.5 * w), "p": Pair(np.float32(w), dl.dlarray(value_of(w, (3, 2)),
                                                                     "CB")),
                "o": OrderedDict(z=value_of(w, (1,)))}

    counter = counting()
    try:
        s = spmdPlus(tree(ME))
    finally:
        restore(counter)
    assert counter.calls == {"Allreduce": 1}, counter.calls  # mixed dtypes: still one buffer
    same_sum(s["w"][0], lambda w: tree(w)["w"][0])
    equal(s["w"][1], np.arange(3) * (N * (N + 1) // 2))
    assert s["w"][1].dtype == np.int32 and s["w"][0].dtype == np.float64
    assert s["t"] == (N * (N + 1) // 2, 1.5 * N * (N + 1) / 2)
    assert isinstance(s["p"], Pair) and s["p"].b.fmt == "CB"
    same_sum(s["p"].b.extractdata(), lambda w: value_of(w, (3, 2)))
    assert isinstance(s["o"], OrderedDict)


@check
def plus_destination():
    s = spmdPlus(value_of(ME), N)
    if ME == N:
        same_sum(s, value_of)
    else:
        assert s is None


@check
def broadcast():
    mine = {"name": f"worker {ME}", "x": dl.dlarray(value_of(ME, (2, 2)), "CB"),
            "table": learnables_of(ME), "n": ME, "none": None}
    for source in range(1, N + 1):
        got = spmdBroadcast(source, mine if ME == source else None)
        if ME == source:
            assert got is mine
            continue
        want = {"name": f"worker {source}", "n": source}
        assert {k: got[k] for k in want} == want and got["none"] is None
        assert got["x"].fmt == "CB"
        equal(got["x"].extractdata(), value_of(source, (2, 2)))
        ref = learnables_of(source)
        assert got["table"].Layer == ref.Layer and got["table"].Parameter == ref.Parameter
        for a, b in zip(got["table"].Value, ref.Value):
            equal(a.extractdata(), b.extractdata())
            assert a.fmt == b.fmt


@check
def reduce():
    assert spmdReduce(max, ME) == N
    # a function that is not commutative shows the order: fcn(fcn(x1, x2), x3) ...
    digits = spmdReduce(lambda a, b: 10 * a + b, ME)
    assert digits == int("".join(str(w) for w in range(1, N + 1))), digits
    assert spmdReduce(operator.and_, ME >= 1) is True
    assert spmdReduce(operator.and_, ME == 1) is False
    m = spmdReduce(np.maximum, value_of(ME))
    equal(m, np.max([value_of(w) for w in range(1, N + 1)], axis=0))
    x = spmdReduce(operator.add, dl.dlarray(value_of(ME), "CB"))
    assert isinstance(x, dl.dlarray) and x.fmt == "CB"
    same_sum(x.extractdata(), value_of)
    assert mpi.reduce(lambda a, b: a + b, [ME]) == list(range(1, N + 1))  # the raw form
    assert mpi.reduce(max, ME, root=1) == (N if ME == 2 else None)
    got = spmdReduce(operator.add, [ME], 1)
    assert got == (list(range(1, N + 1)) if ME == 1 else None), got


@check
def barrier():
    if ME == N:
        time.sleep(0.4)
    start = time.monotonic()
    spmdBarrier()
    waited = time.monotonic() - start
    if ME == 1:  # worker 1 waited for the sleeping worker
        assert waited > 0.2, waited


@check
def stop_flags():
    assert mpi.any_true(ME == N) is True
    assert mpi.any_true(False) is False
    assert mpi.any_true(True) is True
    assert mpi.any_of([ME == 1, False, ME == N]) == [True, False, True]


@check
def worker_checks():
    for bad in (0, N + 1, 1.5, True):
        try:
            spmdBroadcast(bad, 1)
        except ValueError as err:
            assert "source" in str(err)
        else:
            raise AssertionError(f"spmdBroadcast accepted source {bad!r}")


@check
def batchnorm_merge():
    counts = [5 + 2 * w for w in range(1, N + 1)]  # unequal shares of the mini-batch
    frac = counts[ME - 1] / sum(counts)

    def stats(w):
        rng = np.random.default_rng(7 + w)
        return ([rng.standard_normal((1, 1, 4)).astype(np.float32) + w,
                 rng.standard_normal((6, 1)).astype(np.float32)],
                [rng.uniform(0.5, 2, (1, 1, 4)).astype(np.float32),
                 rng.uniform(0.5, 2, (6, 1)).astype(np.float32)])

    means, variances = stats(ME)
    counter = counting()
    try:
        M, V = spmd.merge_batchnorm_state(means, variances, frac)
    finally:
        restore(counter)
    assert counter.calls == {"Allreduce": 2}, counter.calls  # all layers, two sums
    everyone = [stats(w) for w in range(1, N + 1)]
    for k in range(2):
        want_m, want_v = spmd.merge_batchnorm_formula([e[0][k] for e in everyone],
                                                      [e[1][k] for e in everyone], counts)
        assert M[k].dtype == np.float32 and M[k].shape == means[k].shape
        # both in float64, then rounded to float32: at most a rounding apart
        np.testing.assert_allclose(M[k], want_m, rtol=2e-7, atol=2e-7 * np.abs(want_m).max())
        np.testing.assert_allclose(V[k], want_v, rtol=2e-7, atol=0)


@check
def network_state_merge():
    dl.rng(0)  # the same weights on every worker
    net = dl.dlnetwork([dl.featureInputLayer(3), dl.fullyConnectedLayer(4),
                        dl.batchNormalizationLayer(), dl.reluLayer(), dl.fullyConnectedLayer(2),
                        dl.batchNormalizationLayer()])
    sizes = spmd.worker_batch_sizes(7, N)

    def state_of(w):
        X = dl.dlarray(value_of(w, (3, sizes[w - 1])), "CB")
        return dl.forward(net, X)[1]

    merged = spmd.merge_network_state(state_of(ME), sizes[ME - 1] / 7)
    everyone = [state_of(w) for w in range(1, N + 1)]
    assert merged.Layer == everyone[0].Layer and merged.Parameter == everyone[0].Parameter
    rows = list(zip(merged.Layer, merged.Parameter))
    for layer in {name for name, _ in rows}:
        i, j = rows.index((layer, "TrainedMean")), rows.index((layer, "TrainedVariance"))
        want_m, want_v = spmd.merge_batchnorm_formula(
            [e.Value[i].extractdata() for e in everyone],
            [e.Value[j].extractdata() for e in everyone], sizes)
        got_m, got_v = merged.Value[i].extractdata(), merged.Value[j].extractdata()
        np.testing.assert_allclose(got_m, want_m, rtol=2e-7, atol=2e-7 * np.abs(want_m).max())
        np.testing.assert_allclose(got_v, want_v, rtol=2e-7, atol=0)
    all_values = mpi.allgather_object([v.extractdata() for v in merged.Value])
    for other in all_values[1:]:  # every worker holds the same merged state
        for a, b in zip(all_values[0], other):
            equal(a, b)


@check
def partitions_cover_once():
    X = np.arange(23.0)
    seen = []
    ads = dl.arrayDatastore(X)
    seen.append(("array", [float(v) for v in partition(ads, N, ME).readall()]))
    shuffled = dl.shuffle(ads)  # a part is a block of the current order
    seen.append(("shuffled", [float(v) for v in partition(shuffled, N, ME).readall()]))
    cds = dl.combine(dl.arrayDatastore(X), dl.arrayDatastore(-X))
    part = partition(cds, N, ME).readall()
    assert all(float(a) == -float(b) for a, b in zip(*part))  # pairs stay matched
    seen.append(("combined", [float(v) for v in part[0]]))
    mbq = dl.minibatchqueue(dl.arrayDatastore(X), MiniBatchSize=4, OutputAsDlarray=False)
    mine = partition(mbq, N, ME)
    assert mine.MiniBatchSize == 4 and mine.OutputAsDlarray == [False]
    got = []
    while dl.hasdata(mine):
        got += np.asarray(next(mine)).ravel().tolist()
    seen.append(("minibatchqueue", got))
    for name, values in seen:
        parts = mpi.allgather_object(values)
        union = sorted(v for p in parts for v in p)
        assert union == sorted(X.tolist()), (name, parts)  # each observation exactly once
        sizes = [len(p) for p in parts]
        assert sizes == spmd.worker_batch_sizes(23, N), (name, sizes)


@check
def threads_capped():
    share = max(1, len(os.sched_getaffinity(0)) // N)
    assert mpi.threads_per_rank() == share
    from minidl.backend import thread_count

    os.environ["MINIDL_THREADS"] = "16"  # asks for more than this rank's share
    try:
        assert thread_count() == min(16, share), thread_count()
    finally:
        del os.environ["MINIDL_THREADS"]
    from threadpoolctl import threadpool_info

    blas = [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]
    assert blas and all(n <= share for n in blas), (blas, share)


@check
def device_nccl_path():
    from tests import fakegpu
    from tests.training.mpi_scripts.fake_nccl import FakeNccl

    xp = fakegpu.fakegpu
    nccl = FakeNccl(mpi.world(), xp)
    reducer = mpi.DeviceReducer(mpi.world(), xp, nccl=nccl, pointer=nccl.pointer,
                                stream=nccl.stream)
    assert reducer.uses_nccl and nccl.unique_ids_made == (1 if ME == 1 else 0)
    mpi._state["device_reducer"] = reducer  # allreduce_sum's device path uses this one
    try:
        grads = [xp.asarray(value_of(ME, (3, 4))), xp.asarray(value_of(ME, (5,)))]
        s = spmdPlus(dl.Table({"Layer": ["fc", "fc"], "Parameter": ["Weights", "Bias"],
                               "Value": [dl.dlarray(g) for g in grads]}))
    finally:
        mpi._state.pop("device_reducer")
    assert nccl.communicators[0].calls == 1  # both parameters in one allReduce
    for v, shape in zip(s.Value, [(3, 4), (5,)]):
        assert isinstance(v.extractdata(), fakegpu.FakeDeviceArray)
        same_sum(v.extractdata().get(), lambda w, shape=shape: value_of(w, shape))


@check
def device_host_staging():
    from tests import fakegpu

    xp = fakegpu.fakegpu
    dl.use_backend("fakegpu")  # the active device: where broadcast device leaves arrive
    reducer = mpi.DeviceReducer(mpi.world(), xp)  # the fake has no NCCL: through the host
    assert not reducer.uses_nccl
    x = xp.asarray(value_of(ME, (7,)))
    s = spmdPlus(x)  # allreduce_sum makes its own reducer, as in training
    assert isinstance(s, fakegpu.FakeDeviceArray)
    same_sum(s.get(), lambda w: value_of(w, (7,)))
    mixed = spmdPlus([x, value_of(ME, (2,))])  # host and device leaves: one call each
    assert isinstance(mixed[0], fakegpu.FakeDeviceArray) and isinstance(mixed[1], np.ndarray)
    to_last = spmdPlus([x, value_of(ME, (2,))], N)  # both calls on every worker, then None
    assert (to_last is None) == (ME != N)
    if ME == N:
        same_sum(to_last[0].get(), lambda w: value_of(w, (7,)))
        same_sum(to_last[1], lambda w: value_of(w, (2,)))
    got = spmdBroadcast(1, {"g": x})  # device leaves arrive on the device
    assert isinstance(got["g"], fakegpu.FakeDeviceArray)
    equal(got["g"].get(), value_of(1, (7,)))


@check
def device_selection():
    class Device:
        used: list = []

        def __init__(self, k):
            self.k = k

        def use(self):
            Device.used.append(self.k)

    class Runtime:
        @staticmethod
        def getDeviceCount():
            return 8

    class FakeCupy:
        cuda = type("cuda", (), {"runtime": Runtime, "Device": Device})

    assert mpi.select_device(FakeCupy) == mpi.local_rank() and Device.used == [mpi.local_rank()]
    assert mpi.select_device(np) is None


if __name__ == "__main__":
    import minidl.backend

    only = sys.argv[1:]
    for fn in CHECKS:
        if only and fn.__name__ not in only:
            continue
        fn()
        minidl.backend.use_backend("numpy")
        spmdBarrier()
        if ME == 1:
            print(f"PASS {fn.__name__}", flush=True)
