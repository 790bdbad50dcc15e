"""Ops that split their work over the observations on several threads (minidl.parallel).

Inside a ``parallel.scope`` (dlfeval, a dlnetwork's forward/predict) dlconv, maxpool and the
per-observation normalizations compute chunks of observations at the same time. These tests
force splitting on small inputs (MIN_OP_ELEMENTS = 1, two threads) and check that every result
and gradient equals the unsplit computation to float32 rounding, that gradients stay exact
(float64 finite differences), and when ops must not split.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest

import minidl
from minidl import parallel
from minidl.autodiff import dlfeval, dlgradient
from minidl.dlarray import dlarray
from minidl.gradcheck import gradcheck
from minidl.ops.conv import avgpool, dlconv, maxpool
from minidl.ops.norm import batchnorm, groupnorm, instancenorm, layernorm


@pytest.fixture
def splitting(monkeypatch):
    """Two threads, splitting on any size; returns the list of chunk counts the ops used."""
    monkeypatch.setenv("MINIDL_THREADS", "2")
    monkeypatch.setattr(parallel, "MIN_OP_ELEMENTS", 1)
    counts: list[int] = []
    original = parallel.op_chunks

    def spy(n, elements, xp):
        chunks = original(n, elements, xp)
        counts.append(len(chunks))
        return chunks

    import minidl.ops.conv as conv_module
    import minidl.ops.norm as norm_module
    monkeypatch.setattr(conv_module, "op_chunks", spy)
    monkeypatch.setattr(norm_module, "op_chunks", spy)
    return counts


def value_and_grads(fn, *inputs):
    """fn's output and the gradients of sum(out * R) for every input, under dlfeval."""
    def loss(*xs):
        y = fn(*xs)
        r = np.random.default_rng(1).standard_normal(y.shape).astype(y.dtype)
        return y, dlgradient((y * dlarray(r, y.fmt)).sum(), list(xs))

    y, grads = dlfeval(loss, *inputs)
    return [y.extractdata(), *(g.extractdata() for g in grads)]


def both_ways(fn, *inputs, monkeypatch):
    monkeypatch.setenv("MINIDL_THREADS", "1")
    ref = value_and_grads(fn, *inputs)
    monkeypatch.setenv("MINIDL_THREADS", "2")
    got = value_and_grads(fn, *inputs)
    return got, ref


def assert_close(got, ref):
    for g, r in zip(got, ref):
        assert g.shape == r.shape and g.dtype == r.dtype
        np.testing.assert_allclose(g, r, rtol=2e-5, atol=2e-5 * float(np.abs(r).max()))


def images(shape, seed=0):
    data = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
    return dlarray(data, "SSCB")


CONV_CASES = [
    dict(),
    dict(Stride=2, Padding=1),
    dict(Padding="same", DilationFactor=2),
    dict(Padding=[1, 0, 2, 1], Stride=[1, 2]),
]


@pytest.mark.parametrize("opts", CONV_CASES)
@pytest.mark.parametrize("channels", [2, 7])  # fewer channels than output columns, and more
def test_split_dlconv_matches_unsplit(splitting, monkeypatch, opts, channels):
    X = images((9, 8, channels, 5))
    W = dlarray(np.random.default_rng(2).standard_normal((3, 3, channels, 4)).astype(np.float32))
    b = dlarray(np.random.default_rng(3).standard_normal(4).astype(np.float32))
    got, ref = both_ways(lambda x, w, c: dlconv(x, w, c, **opts), X, W, b,
                         monkeypatch=monkeypatch)
    assert max(splitting) > 1
    assert_close(got, ref)


def test_split_dlconv_scalar_bias_and_no_bias(splitting, monkeypatch):
    X = images((6, 6, 3, 4))
    W = dlarray(np.random.default_rng(2).standard_normal((2, 2, 3, 5)).astype(np.float32))
    for bias in (0, 0.5):
        got, ref = both_ways(lambda x, w, b=bias: dlconv(x, w, b), X, W, monkeypatch=monkeypatch)
        assert_close(got, ref)
    assert max(splitting) > 1


@pytest.mark.parametrize("shape", [(8, 8, 3, 6), (7, 9, 2, 5)])  # the second: uncovered edges
@pytest.mark.parametrize("pool", [2, [1, 3], [3, 1]])
def test_split_maxpool_matches_unsplit(splitting, monkeypatch, shape, pool):
    got, ref = both_ways(lambda x: maxpool(x, pool, Stride=pool), images(shape),
                         monkeypatch=monkeypatch)
    assert max(splitting) > 1
    assert_close(got, ref)


@pytest.mark.parametrize("fn", [
    lambda x, o, s: instancenorm(x, o, s),
    lambda x, o, s: layernorm(x, o, s),
    lambda x, o, s: groupnorm(x, 2, o, s),
], ids=["instance", "layer", "group"])
def test_split_normalization_matches_unsplit(splitting, monkeypatch, fn):
    X = images((5, 4, 6, 7))
    offset = dlarray(np.linspace(-1, 1, 6).astype(np.float32))
    scale = dlarray(np.linspace(0.5, 2, 6).astype(np.float32))
    got, ref = both_ways(fn, X, offset, scale, monkeypatch=monkeypatch)
    assert max(splitting) > 1
    assert_close(got, ref)


def test_batchnorm_never_splits(splitting):
    # its statistics are shared across observations
    X = images((5, 4, 6, 7))
    dlfeval(lambda x: batchnorm(x, np.zeros(6, np.float32), np.ones(6, np.float32)), X)
    dlfeval(lambda x: instancenorm(x, np.zeros(6, np.float32), np.ones(6, np.float32)), X)
    assert splitting[-1] == 2 and all(n == 1 for n in splitting[:-1])


def test_split_gradients_are_exact(splitting):
    rng = np.random.default_rng(5)
    X = dlarray(rng.standard_normal((6, 6, 3, 4)), "SSCB")
    W = dlarray(rng.standard_normal((3, 3, 3, 3)))
    b, o, s = (dlarray(rng.standard_normal(3)) for _ in range(3))
    assert gradcheck(lambda x, w, c: dlconv(x, w, c, Padding=1, Stride=2), X, W, b) < 1e-6
    assert gradcheck(lambda x, o, s: maxpool(instancenorm(x, o, s), 2), X, o, s) < 1e-6
    assert max(splitting) > 1


def test_split_training_step_of_a_network_matches(monkeypatch, splitting):
    from minidl.layers import (
        convolution2dLayer,
        fullyConnectedLayer,
        imageInputLayer,
        instanceNormalizationLayer,
        maxPooling2dLayer,
        reluLayer,
        softmaxLayer,
    )
    from minidl.network import dlnetwork, forward
    from minidl.ops.loss import crossentropy

    minidl.rng(0)
    net = dlnetwork([imageInputLayer([10, 10, 3]), convolution2dLayer(3, 4, Padding="same"),
                     instanceNormalizationLayer(), reluLayer(), maxPooling2dLayer(2, Stride=2),
                     convolution2dLayer(3, 5), reluLayer(), fullyConnectedLayer(3),
                     softmaxLayer()])
    X = images((10, 10, 3, 6))
    T = dlarray(np.eye(3, 6, dtype=np.float32), "CB")

    def model_loss(net):
        Y, _ = forward(net, X)
        loss = crossentropy(Y, T)
        return loss, dlgradient(loss, net.Learnables)

    def run():
        loss, grads = dlfeval(model_loss, net)
        return [loss.extractdata(), *(g.extractdata() for g in grads.Value)]

    monkeypatch.setenv("MINIDL_THREADS", "1")
    ref = run()
    monkeypatch.setenv("MINIDL_THREADS", "2")
    got = run()
    assert max(splitting) > 1
    assert_close(got[:2] + got[3:], ref[:2] + ref[3:])
    # The first convolution's bias gradient is mathematically zero (instance normalization
    # removes any per-channel constant): both runs give rounding noise, compared at the scale
    # of the weight gradient of the same layer, whose sums it shares.
    np.testing.assert_allclose(got[2], ref[2], rtol=0, atol=2e-5 * float(np.abs(ref[1]).max()))


def test_avgpool_and_ops_outside_a_scope_do_not_split(splitting):
    X = images((8, 8, 3, 6))
    maxpool(X, 2)
    dlconv(X, np.ones((2, 2, 3, 2), np.float32), 0)
    avgpool(X, 2)
    assert splitting and set(splitting) == {1}


def test_op_chunks_rules(monkeypatch):
    monkeypatch.setenv("MINIDL_THREADS", "2")
    monkeypatch.setattr(parallel, "MIN_OP_ELEMENTS", 100)
    assert parallel.op_chunks(10, 10_000, np) == [(0, 10)]  # outside a scope
    with parallel.scope():
        assert parallel.op_chunks(10, 10_000, np) == [(0, 5), (5, 10)]
        assert parallel.op_chunks(10, 199, np) == [(0, 10)]  # chunks would be too small
        assert parallel.op_chunks(1, 10_000, np) == [(0, 1)]
        assert parallel.op_chunks(10, 10_000, object()) == [(0, 10)]  # not NumPy (a GPU)
        inner = parallel.in_parallel(lambda _: parallel.op_chunks(10, 10_000, np), [0, 1])
        assert inner == [[(0, 10)], [(0, 10)]]  # no splitting inside a part
    assert parallel.op_chunks(10, 10_000, np) == [(0, 10)]  # the scope has ended
    monkeypatch.setenv("MINIDL_THREADS", "1")
    with parallel.scope():
        assert parallel.op_chunks(10, 10_000, np) == [(0, 10)]


def test_scope_is_per_thread_and_re_entrant(monkeypatch):
    monkeypatch.setenv("MINIDL_THREADS", "2")
    monkeypatch.setattr(parallel, "MIN_OP_ELEMENTS", 1)
    seen = []
    with parallel.scope():
        with parallel.scope():
            assert len(parallel.op_chunks(4, 4, np)) == 2
        assert len(parallel.op_chunks(4, 4, np)) == 2  # still in the outer scope
        other = threading.Thread(target=lambda: seen.append(parallel.op_chunks(4, 4, np)))
        other.start()
        other.join()
    assert seen == [[(0, 4)]]


def test_scope_holds_blas_to_one_thread(monkeypatch):
    threadpoolctl = pytest.importorskip("threadpoolctl", reason="BLAS limits need threadpoolctl")
    monkeypatch.setenv("MINIDL_THREADS", "2")

    def blas_threads():
        info = threadpoolctl.threadpool_info()
        return [i["num_threads"] for i in info if i["user_api"] == "blas"]

    before = blas_threads()
    if not before:
        pytest.skip("threadpoolctl finds no BLAS library in this NumPy to limit")
    with parallel.scope():
        assert set(blas_threads()) == {1}
    assert blas_threads() == before


@pytest.mark.parametrize("shape", [(9, 4, 3), (3, 5, 11)])  # split by rows of a / columns of b
def test_parallel_matmul_matches_one_gemm(monkeypatch, shape):
    monkeypatch.setenv("MINIDL_THREADS", "2")
    monkeypatch.setattr(parallel, "MIN_OP_ELEMENTS", 1)
    monkeypatch.setattr(parallel, "GEMM_FMA_PER_VALUE", 1)
    m, k, n = shape
    rng = np.random.default_rng(0)
    a = rng.standard_normal((m, k)).astype(np.float32)
    b = rng.standard_normal((n, k)).astype(np.float32).T  # a transposed (F-order) operand
    calls = []
    original = parallel.in_parallel
    monkeypatch.setattr(parallel, "in_parallel",
                        lambda fn, parts: calls.append(len(parts)) or original(fn, parts))
    assert parallel.matmul(a, b) is not None and calls == []  # outside a scope: one GEMM
    with parallel.scope():
        got = parallel.matmul(a, b)
    assert calls == [2]
    assert got.shape == (m, n) and got.dtype == np.float32 and got.flags.c_contiguous
    np.testing.assert_allclose(got, a @ b, rtol=1e-6, atol=1e-6)


def test_split_fullyconnect_and_mtimes_match_unsplit(splitting, monkeypatch):
    from minidl.ops.math import mtimes
    from minidl.ops.nn import fullyconnect

    monkeypatch.setattr(parallel, "GEMM_FMA_PER_VALUE", 1)
    calls = []
    original = parallel.in_parallel
    monkeypatch.setattr(parallel, "in_parallel",
                        lambda fn, parts: calls.append(len(parts)) or original(fn, parts))
    rng = np.random.default_rng(4)
    X = images((3, 3, 4, 6))
    W = dlarray(rng.standard_normal((5, 36)).astype(np.float32))
    b = dlarray(rng.standard_normal(5).astype(np.float32))
    got, ref = both_ways(fullyconnect, X, W, b, monkeypatch=monkeypatch)
    assert_close(got, ref)
    A = dlarray(rng.standard_normal((7, 3)).astype(np.float32))
    B = dlarray(rng.standard_normal((3, 4)).astype(np.float32))
    got, ref = both_ways(mtimes, A, B, monkeypatch=monkeypatch)
    assert_close(got, ref)
    assert 2 in calls


def _split_in_child(queue):
    with parallel.scope():
        queue.put(parallel.in_parallel(lambda x: x * 2, [1, 2]))


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs fork (POSIX)")
def test_in_parallel_works_in_a_forked_child(monkeypatch):
    monkeypatch.setenv("MINIDL_THREADS", "2")
    assert parallel.in_parallel(lambda x: x + 1, [1, 2]) == [2, 3]  # the parent has workers
    assert _in_forked_child(_split_in_child) == [2, 4]


def _in_forked_child(target):
    """What ``target(queue)`` puts on the queue in a forked child; fails if the child hangs."""
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=target, args=(queue,))
    child.start()
    child.join(timeout=60)
    alive = child.is_alive()
    if alive:
        child.kill()
    assert not alive, "the forked child hung (it waited on a thread or lock of the parent's)"
    return queue.get(timeout=5)


def _blas_users_in_child(queue):
    result = parallel.in_parallel(lambda x: x * 2, [1, 2])
    queue.put((result, parallel._SingleThreadedBLAS._users, parallel.in_parallel(len, [])))


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs fork (POSIX)")
def test_a_fork_while_another_thread_splits_leaves_the_child_clean(monkeypatch):
    # the parent's other thread holds the BLAS limit at the fork; it does not exist in the
    # child, so the child must not keep its count (BLAS would stay on one thread for good)
    monkeypatch.setenv("MINIDL_THREADS", "2")
    started, release = threading.Event(), threading.Event()

    def part(i):
        if i == 0:
            started.set()
            release.wait(30)
        return i

    splitter = threading.Thread(target=parallel.in_parallel, args=(part, [0, 1]))
    splitter.start()
    try:
        assert started.wait(30) and parallel._SingleThreadedBLAS._users == 1
        assert _in_forked_child(_blas_users_in_child) == ([2, 4], 0, [])
    finally:
        release.set()
        splitter.join()
    assert parallel._SingleThreadedBLAS._users == 0


def test_split_normalization_with_constant_scale_and_offset(splitting, monkeypatch):
    # only X is differentiated: the chunks have no parameter gradients to add up
    offset = np.linspace(-1, 1, 6).astype(np.float32)
    scale = np.linspace(0.5, 2, 6).astype(np.float32)
    got, ref = both_ways(lambda x: instancenorm(x, offset, scale), images((5, 4, 6, 7)),
                         monkeypatch=monkeypatch)
    assert max(splitting) > 1
    assert_close(got, ref)


def test_ctrl_c_while_waiting_keeps_the_finished_workers(monkeypatch):
    real_finish, calls = parallel._Worker.finish, []

    def finish(self):
        result = real_finish(self)
        calls.append(self)
        if len(calls) == 2:  # the second worker's result arrives with a Ctrl+C
            raise KeyboardInterrupt
        return result

    parallel.in_parallel(lambda i: i, [0, 1, 2, 3])  # make sure three idle workers exist
    idle = len(parallel._idle)
    monkeypatch.setattr(parallel._Worker, "finish", finish)
    with pytest.raises(KeyboardInterrupt):
        parallel.in_parallel(lambda i: i, [0, 1, 2, 3])
    monkeypatch.setattr(parallel._Worker, "finish", real_finish)
    assert len(parallel._idle) == idle - 3 + 1  # the first worker is back; the others are not
    assert parallel._SingleThreadedBLAS._users == 0
    assert parallel.in_parallel(lambda i: i * 2, [1, 2, 3, 4]) == [2, 4, 6, 8]
