"""Threads: per-thread tracing in dlfeval, and mini-batches split over threads on the CPU.

trainnet, minibatchpredict and testnet compute a mini-batch in chunks on several threads when
that is exact (split_plan); MINIDL_THREADS=1 turns it off. A split step must
give the unsplit step's loss, gradients and predictions to float32 rounding, and be
reproducible run to run.
"""

import importlib
import threading
import time

import numpy as np
import pytest

import minidl
from minidl.backend import threads as parallel
from minidl.core import dlarray, dlfeval, dlgradient, is_tracing
from minidl.core.primitives import exp
from minidl.layers import (
    batchNormalizationLayer,
    convolution2dLayer,
    dropoutLayer,
    featureInputLayer,
    fullyConnectedLayer,
    functionLayer,
    imageInputLayer,
    instanceNormalizationLayer,
    maxPooling2dLayer,
    reluLayer,
    softmaxLayer,
)
from minidl.networks import split_plan
from minidl.networks.network import dlnetwork
from minidl.ops.loss import crossentropy
from minidl.training import minibatchpredict
from minidl.training import testnet as evaluate
from minidl.training.options import trainingOptions
from minidl.training.training_data import training_data
from minidl.training.trainnet import TrainingRun, loss_function, trainnet
from tests.conftest import host

TRAINNET = importlib.import_module("minidl.training.trainnet")  # the module, not minidl.trainnet()


@pytest.fixture
def threads(monkeypatch):
    """Set MINIDL_THREADS for the test: threads("2"), threads("1")."""
    def set_threads(value):
        monkeypatch.setenv("MINIDL_THREADS", value)
    return set_threads


def cnn(*extra):
    return [imageInputLayer([12, 12, 3]), convolution2dLayer(3, 6), instanceNormalizationLayer(),
            reluLayer(), maxPooling2dLayer(2, Stride=2), *extra, fullyConnectedLayer(4),
            softmaxLayer()]


def images(n, seed=0):
    rng = np.random.default_rng(seed)
    k = rng.integers(0, 4, n)
    X = rng.uniform(0, 1, (12, 12, 3, n)).astype(np.float32)
    for i, c in enumerate(k):
        X[2 * c: 2 * c + 3, :, c % 3, i] += 2.0
    return X, k


def close(a, b, rtol=1e-5, scale=0.0):
    """a == b to float32 rounding: relative to b's elements, or to ``scale`` (the size of the
    values b is computed with) for elements that are rounding noise around zero, such as the
    gradient of a convolution bias that instance normalization removes."""
    a, b = host(a), host(b)
    np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * max(float(np.abs(b).max()), scale))


def largest(arrays):
    return max(float(np.abs(host(a)).max()) for a in arrays)


# ---------------------------------------------------------------------------------------------
# dlfeval in several threads

def test_concurrent_dlfeval_in_two_threads_each_get_their_own_gradients():
    barrier = threading.Barrier(2)
    results, errors = {}, []

    def loss(x, k):
        y = x * float(k)
        barrier.wait(timeout=10)  # both threads are tracing now
        for _ in range(50):
            y = y + 0.0 * exp(x)
        barrier.wait(timeout=10)
        return dlgradient((y * x).sum(), x), is_tracing()

    def work(k):
        try:
            x = dlarray(np.arange(1.0, 5.0, dtype=np.float32) * k)
            results[k] = dlfeval(loss, x, k)
        except Exception as err:  # noqa: BLE001  (reported below)
            errors.append(err)

    workers = [threading.Thread(target=work, args=(k,)) for k in (1, 2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert not errors, errors
    for k in (1, 2):
        grad, tracing = results[k]
        assert tracing
        np.testing.assert_allclose(host(grad), 2 * k * k * np.arange(1.0, 5.0))
    assert not is_tracing()


def test_tracing_is_per_thread():
    seen = {}
    inside, done = threading.Event(), threading.Event()

    def other():
        inside.wait(timeout=10)
        seen["tracing"] = is_tracing()
        y = exp(dlarray(np.ones(3, np.float32)))
        seen["node"] = y._node
        done.set()

    def fun(x):
        inside.set()
        done.wait(timeout=10)
        return x.sum()

    t = threading.Thread(target=other)
    t.start()
    dlfeval(fun, dlarray(np.ones(3, np.float32)))
    t.join()
    assert seen == {"tracing": False, "node": None}


def test_dlgradient_outside_dlfeval_in_another_thread_is_an_error():
    errors = []

    def fun(x):
        def other():
            try:
                dlgradient(x.sum(), x)
            except RuntimeError as err:
                errors.append(err)
        t = threading.Thread(target=other)
        t.start()
        t.join()
        return x.sum()

    dlfeval(fun, dlarray(np.ones(3, np.float32)))
    assert len(errors) == 1 and "inside a function evaluated by dlfeval" in str(errors[0])


# ---------------------------------------------------------------------------------------------
# When a mini-batch is split

def test_thread_count_from_the_environment(threads, monkeypatch):
    threads("3")
    assert parallel.thread_count() == 3
    threads("1")
    assert parallel.thread_count() == 1
    for bad in ("0", "two", "-1", "2_0", "1.5"):
        threads(bad)
        with pytest.raises(ValueError, match="MINIDL_THREADS must be a positive integer"):
            parallel.thread_count()
    monkeypatch.delenv("MINIDL_THREADS")
    assert 1 <= parallel.thread_count() <= parallel.MAX_DEFAULT_THREADS


def test_no_default_splitting_when_blas_cannot_be_limited(monkeypatch):
    monkeypatch.delenv("MINIDL_THREADS", raising=False)
    for name in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(parallel._SingleThreadedBLAS, "_controller", False)
    assert parallel.thread_count() == 1
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")
    monkeypatch.setattr(parallel.os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    assert parallel.thread_count() == 2
    # more CPUs than MAX_DEFAULT_THREADS: BLAS keeps them unless MINIDL_THREADS asks
    monkeypatch.setattr(parallel.os, "sched_getaffinity", lambda pid: set(range(16)),
                        raising=False)
    assert parallel.thread_count() == 1
    monkeypatch.setenv("MINIDL_THREADS", "4")
    assert parallel.thread_count() == 4


def test_chunk_bounds():
    assert parallel.chunk_bounds(63, 2) == [(0, 63)]
    assert parallel.chunk_bounds(64, 2) == [(0, 32), (32, 64)]
    assert parallel.chunk_bounds(129, 2) == [(0, 64), (64, 129)]
    assert parallel.chunk_bounds(100, 4) == [(0, 33), (33, 66), (66, 100)]
    assert parallel.chunk_bounds(512, 4) == [(0, 128), (128, 256), (256, 384), (384, 512)]


def test_which_networks_are_split(threads):
    threads("2")
    plain = dlnetwork(cnn())
    assert split_plan(plain, np, 128, training=True) == [(0, 64), (64, 128)]
    assert split_plan(plain, np, 63, training=True) == [(0, 63)]
    with_bn = dlnetwork(cnn(batchNormalizationLayer()))
    with_dropout = dlnetwork(cnn(dropoutLayer(0.5)))
    for net in (with_bn, with_dropout):
        assert split_plan(net, np, 128, training=True) == [(0, 128)]
        assert split_plan(net, np, 128) == [(0, 64), (64, 128)]  # prediction is per observation
    with_fn = dlnetwork(cnn(functionLayer(lambda x: x)))
    assert split_plan(with_fn, np, 128) == [(0, 128)]
    fn_input = dlnetwork([featureInputLayer(4, Normalization=lambda x: x),
                          fullyConnectedLayer(3), softmaxLayer()])
    assert split_plan(fn_input, np, 128) == [(0, 128)]
    assert split_plan(plain, object(), 128) == [(0, 128)]  # not NumPy: never split
    threads("1")
    assert split_plan(plain, np, 128, training=True) == [(0, 128)]


def step(layers, X, labels, loss="crossentropy", batch=None):
    """(loss value, raw gradients, outputs, targets) of trainnet's step on all of X."""
    loss_fcn, name = loss_function(loss)
    opts = trainingOptions("sgdm", MiniBatchSize=X.shape[-1], Verbose=False,
                           Metrics="accuracy")
    minidl.rng(0)
    net = dlnetwork(layers)
    data = training_data(X, labels, net, name, opts, None, "training data")
    run = TrainingRun(net, data, None, loss_fcn, opts, time.monotonic(), bool(name))
    value, grads, _state, Y, T = run.step(np.arange(X.shape[-1]))
    return value, grads, Y(), T()


@pytest.mark.parametrize("n", [64, 128, 201])
def test_split_step_matches_the_unsplit_step(threads, monkeypatch, n):
    X, k = images(n)
    threads("1")
    ref = step(cnn(), X, k)
    calls = []
    original = parallel.in_parallel

    def spy(fn, parts):
        calls.append(len(parts))
        return original(fn, parts)

    monkeypatch.setattr(TRAINNET, "in_parallel", spy)
    threads("2")
    got = step(cnn(), X, k)
    assert calls == [2]
    assert got[0] == pytest.approx(ref[0], rel=1e-5)
    assert len(got[1]) == len(ref[1]) == 6
    for g, r in zip(got[1], ref[1]):
        assert g.dtype == np.float32 and g.shape == r.shape
        close(g, r, scale=largest(ref[1]))
    close(got[2]._data, ref[2]._data)
    assert got[2].fmt == ref[2].fmt and got[3].fmt == ref[3].fmt
    np.testing.assert_array_equal(host(got[3]._data), host(ref[3]._data))


@pytest.mark.parametrize("loss", ["mse", "binary-crossentropy"])
def test_split_step_matches_for_the_other_builtin_losses(threads, loss):
    rng = np.random.default_rng(1)
    X = rng.standard_normal((128, 5)).astype(np.float32)
    T = (rng.uniform(size=(128, 3)) > 0.5).astype(np.float32)
    last = [softmaxLayer()] if loss == "binary-crossentropy" else []
    layers = [featureInputLayer(5), fullyConnectedLayer(16), reluLayer(),
              fullyConnectedLayer(3), *last]
    threads("1")
    ref = step(layers, X, T, loss)
    threads("4")  # 4 chunks of 32
    got = step(layers, X, T, loss)
    assert got[0] == pytest.approx(ref[0], rel=1e-5)
    for g, r in zip(got[1], ref[1]):
        close(g, r, scale=largest(ref[1]))


def test_a_custom_loss_is_not_split(threads, monkeypatch):
    calls = []
    original = parallel.in_parallel
    monkeypatch.setattr(TRAINNET, "in_parallel",
                        lambda fn, parts: calls.append(len(parts)) or original(fn, parts))
    threads("2")
    X, k = images(128)
    step(cnn(), X, k, loss=lambda Y, T: crossentropy(Y, T))
    assert calls == [1]


def train(X, k, layers=None, **kw):
    minidl.rng(0)
    opts = trainingOptions("sgdm", MaxEpochs=2, MiniBatchSize=64, Verbose=False,
                           InitialLearnRate=0.05, **kw)
    net, info = trainnet(X, k, layers or cnn(), "crossentropy", opts)
    return [host(v._data).copy() for v in net.Learnables.Value], info


def test_trainnet_with_and_without_splitting_gives_the_same_network(threads):
    X, k = images(192)
    Xv, kv = images(80, seed=1)
    threads("1")
    ref, ref_info = train(X, k, ValidationData=(Xv, kv), Metrics="accuracy")
    threads("2")
    got, info = train(X, k, ValidationData=(Xv, kv), Metrics="accuracy")
    assert len(info.TrainingHistory["Loss"]) == 6
    np.testing.assert_allclose(info.TrainingHistory["Loss"], ref_info.TrainingHistory["Loss"],
                               rtol=1e-4)
    np.testing.assert_allclose(info.TrainingHistory["Accuracy"],
                               ref_info.TrainingHistory["Accuracy"])
    np.testing.assert_allclose(info.ValidationHistory["Loss"],
                               ref_info.ValidationHistory["Loss"], rtol=1e-4)
    for g, r in zip(got, ref):
        close(g, r, rtol=1e-4, scale=largest(ref))


def test_split_training_is_reproducible(threads):
    X, k = images(128)
    threads("2")
    a, info_a = train(X, k)
    b, info_b = train(X, k)
    np.testing.assert_array_equal(info_a.TrainingHistory["Loss"], info_b.TrainingHistory["Loss"])
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


def test_training_with_batch_norm_and_dropout_is_not_split_by_mini_batch(threads, monkeypatch):
    # batch statistics couple the observations: no chunks of the mini-batch; the ops inside may
    # still split their own work (minidl.backend.threads), which changes only float32 rounding
    X, k = images(128)
    layers = cnn(batchNormalizationLayer(), dropoutLayer(0.2))
    threads("1")
    ref, _ = train(X, k, layers)
    threads("2")
    calls = []
    original = parallel.in_parallel
    monkeypatch.setattr(TRAINNET, "in_parallel",
                        lambda fn, parts: calls.append(len(parts)) or original(fn, parts))
    got, _ = train(X, k, layers)
    assert calls and set(calls) == {1}
    for x, y in zip(got, ref):
        close(x, y, rtol=1e-4, scale=largest(ref))


@pytest.mark.parametrize("extra", [(), (batchNormalizationLayer(), dropoutLayer(0.3))])
def test_split_predictions_match(threads, extra):
    X, k = images(300)
    minidl.rng(0)
    net = dlnetwork(cnn(*extra))
    threads("1")
    ref = minibatchpredict(net, X, MiniBatchSize=128)
    ref_acc = evaluate(net, X, k, ["accuracy", "crossentropy"], MiniBatchSize=128)
    threads("2")
    got = minibatchpredict(net, X, MiniBatchSize=128)
    assert got.shape == ref.shape == (300, 4) and got.dtype == np.float32
    close(got, ref)
    acc = evaluate(net, X, k, ["accuracy", "crossentropy"], MiniBatchSize=128)
    assert acc[0] == ref_acc[0]
    assert acc[1] == pytest.approx(ref_acc[1], rel=1e-5)
    np.testing.assert_array_equal(got, minibatchpredict(net, X, MiniBatchSize=128))


def test_predictions_from_two_user_threads_at_once(threads):
    X, _ = images(256)
    minidl.rng(0)
    net = dlnetwork(cnn())
    threads("2")
    ref = minibatchpredict(net, X, MiniBatchSize=128)
    out = [None, None]

    def work(i):
        out[i] = minibatchpredict(net, X, MiniBatchSize=128)

    workers = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    for y in out:
        np.testing.assert_array_equal(y, ref)


# ---------------------------------------------------------------------------------------------
# The machinery

def test_in_parallel_keeps_order_and_reraises_after_all_parts_finished():
    assert parallel.in_parallel(lambda x: x * 2, [1, 2, 3]) == [2, 4, 6]
    finished = []

    def fn(x):
        if x == 2:
            raise KeyError("chunk 2")
        time.sleep(0.05)
        finished.append(x)
        return x

    with pytest.raises(KeyError, match="chunk 2"):
        parallel.in_parallel(fn, [1, 2, 3])
    assert sorted(finished) == [1, 3]


def test_blas_is_single_threaded_during_the_split_and_restored_after():
    threadpoolctl = pytest.importorskip("threadpoolctl")

    def blas_threads():
        return [i["num_threads"] for i in threadpoolctl.threadpool_info()
                if i["user_api"] == "blas"]

    before = blas_threads()
    if not before:
        pytest.skip("no BLAS library that threadpoolctl can control")
    with threadpoolctl.threadpool_limits(limits=2, user_api="blas"):
        expected = blas_threads()
        inside = parallel.in_parallel(lambda _: blas_threads(), [0, 1])
        assert inside == [[1] * len(before)] * 2
        assert blas_threads() == expected
    assert blas_threads() == before
