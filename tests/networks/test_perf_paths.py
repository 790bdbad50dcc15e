"""Fast paths taken for speed: each must give exactly what the plain computation gives."""

import subprocess
import sys

import numpy as np
import pytest

from minidl import backend, dlarray, dlfeval, dlgradient
from minidl.layers import (
    convolution2dLayer,
    fullyConnectedLayer,
    imageInputLayer,
    maxPooling2dLayer,
    reluLayer,
    softmaxLayer,
)
from minidl.networks import dlnetwork, pool_before_relu
from tests.conftest import dev, host

# ---- the allocator settings (minidl.backend.tune_malloc) -----------------------------------


def _fresh_tune(monkeypatch, **env):
    monkeypatch.setattr(backend.malloc, "_malloc_tuned", None)
    for name in ("MINIDL_MALLOC_TUNING", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_",
                 "GLIBC_TUNABLES"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return backend.tune_malloc()


def test_malloc_tuning_switched_off_by_the_environment_is_a_no_op(monkeypatch):
    import ctypes

    def fail(*args, **kwargs):
        raise AssertionError("mallopt must not be looked up when tuning is off")

    monkeypatch.setattr(ctypes, "CDLL", fail)
    assert _fresh_tune(monkeypatch, MINIDL_MALLOC_TUNING="0") is False
    assert backend.tune_malloc() is False  # decided once
    assert _fresh_tune(monkeypatch, MALLOC_TRIM_THRESHOLD_="0") is False  # the user's own wins


def test_malloc_tuning_never_fails(monkeypatch):
    applied = _fresh_tune(monkeypatch)
    assert isinstance(applied, bool)
    assert applied == (sys.platform.startswith("linux") and _is_glibc())
    import ctypes

    def no_libc(*args, **kwargs):
        raise OSError("no C library here")

    monkeypatch.setattr(ctypes, "CDLL", no_libc)
    assert _fresh_tune(monkeypatch) is False  # silently skipped


def _is_glibc():
    import platform
    return platform.libc_ver()[0] == "glibc"


def test_malloc_tuning_is_lazy_and_done_by_the_first_prediction():
    code = ("import numpy as np, minidl, minidl.backend as b; t0 = b.malloc_tuned(); "
            "from minidl.layers import featureInputLayer, fullyConnectedLayer; "
            "net = minidl.dlnetwork([featureInputLayer(3), fullyConnectedLayer(2)]); "
            "net.predict(np.ones((4, 3), np.float32)); print(t0, b.malloc_tuned() is not None)")
    for env in ({}, {"MINIDL_MALLOC_TUNING": "0"}):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             check=True, env={"PATH": "", **env})
        assert out.stdout.split() == ["None", "True"]


# ---- reluLayer feeding maxPooling2dLayer runs after the pooling --------------------------------

def _relu_pool_layers(pool_args):
    return [imageInputLayer([6, 6, 2], Normalization="none"), convolution2dLayer(1, 3),
            reluLayer(), maxPooling2dLayer(*pool_args), fullyConnectedLayer(4), softmaxLayer()]


def _unfused(net, X, train):
    """The layers one after the other in their own order (no swap)."""
    X = net._prepare(X, "test")
    for layer in net._layers:
        X = layer.forward(X) if train else layer.predict(X)
    return X


@pytest.mark.parametrize("pool_args", [(2, "Stride", 2), (2,), (3, "Stride", 2, "Padding", 1),
                                       ((2, 3), "Stride", (2, 3))])
def test_relu_after_maxpool_gives_identical_values_and_gradients(xp, pool_args):
    net = dlnetwork(_relu_pool_layers(pool_args))
    assert [type(layer).__name__ for layer in pool_before_relu(net._layers)][2:4] == \
        ["MaxPooling2DLayer", "ReLULayer"]
    # 1x1 convolution with weight 1, bias 0: the pooled data is the input itself, with many
    # ties (equal maxima, windows of zeros, windows of negative numbers only).
    w = np.zeros((1, 1, 2, 3), np.float32)
    w[0, 0, 0, 0] = w[0, 0, 1, 1] = 1
    w[0, 0, :, 2] = -1
    table = net.Learnables
    values = [dlarray(dev(xp, w)) if (layer, p) == ("conv", "Weights") else v
              for layer, p, v in table]
    net.Learnables = table.with_values(values)
    rng = np.random.default_rng(3)
    x = rng.integers(-2, 3, size=(6, 6, 2, 5)).astype(np.float32)
    X = dlarray(dev(xp, x), "SSCB")
    T = dlarray(dev(xp, np.eye(4, 5, dtype=np.float32)), "CB")

    def loss(net, X, run):
        Y = run(net, X)
        L = ((Y - T) * (Y - T)).sum()
        return L, dlgradient(L, X, net.Learnables)

    def fused(net, X):
        return net.forward(X)[0]

    L1, (gx1, g1) = dlfeval(loss, net, X, fused)
    L2, (gx2, g2) = dlfeval(loss, net, X, lambda n, x: _unfused(n, x, True))
    assert float(L1) == float(L2)
    np.testing.assert_array_equal(host(gx1._data), host(gx2._data))
    assert np.abs(host(gx1._data)).sum() > 0
    for a, b in zip(g1.Value, g2.Value):
        np.testing.assert_array_equal(host(a._data), host(b._data))
    np.testing.assert_array_equal(host(net.predict(X)._data), host(_unfused(net, X, False)._data))


def test_only_a_relu_layer_directly_before_max_pooling_moves():
    a, b, c = reluLayer(), maxPooling2dLayer(2), fullyConnectedLayer(2)
    assert pool_before_relu([a, b, c]) == [b, a, c]
    assert pool_before_relu([b, a, c]) == [b, a, c]
    assert pool_before_relu([a, c, b]) == [a, c, b]
    a2 = reluLayer()
    assert pool_before_relu([a, a2, b]) == [a, b, a2]


# ---- the trusted path for learnable values minidl makes itself ---------------------------------

def _small_net():
    from minidl.layers import featureInputLayer
    return dlnetwork([featureInputLayer(3), fullyConnectedLayer(2), reluLayer(),
                      fullyConnectedLayer(2)])


def test_solver_update_returns_a_new_network_and_leaves_the_callers_alone():
    from minidl import sgdmupdate
    net = _small_net()
    before = [host(v._data).copy() for v in net.Learnables.Value]
    grads = net.Learnables.with_values([v * 0 + 1 for v in net.Learnables.Value])
    new, vel = sgdmupdate(net, grads, None, 0.5, 0.9)
    for old, value, v in zip(before, new.Learnables.Value, vel.Value):
        np.testing.assert_allclose(host(value._data), old - 0.5)
        np.testing.assert_allclose(host(v._data), -0.5 + 0 * old)
    for old, value in zip(before, net.Learnables.Value):
        np.testing.assert_array_equal(host(value._data), old)
    assert new._layers[1] is not net._layers[1]
    assert list(vel.Layer) == list(net.Learnables.Layer)


def test_solver_update_with_a_gradient_of_the_wrong_size_still_fails_clearly():
    from minidl import sgdmupdate
    net = _small_net()
    values = list(net.Learnables.Value)
    values[0] = dlarray(np.ones((4, 2, 3), np.float32))  # broadcasts against 2x3
    with pytest.raises(ValueError, match=r"grad 1 \(layer 'fc_1', parameter 'Weights'\) has size "
                                         r"4x2x3 but its parameter has size 2x3"):
        sgdmupdate(net, net.Learnables.with_values(values), None)


def test_user_assigned_learnables_are_still_checked():
    net = _small_net()
    table = net.Learnables
    with pytest.raises(ValueError, match="has size 2x3"):
        net.Learnables = table.with_values([np.ones((3, 3), np.float32)] + table.Value[1:])
    with pytest.raises(ValueError, match="rows must match"):
        net.Learnables = type(table)({"Layer": table.Layer[:1], "Parameter": table.Parameter[:1],
                                      "Value": table.Value[:1]})
    new = net._with_learnable_values([np.ones((2, 3), np.float32)] + table.Value[1:])
    assert isinstance(new.Learnables.Value[0], dlarray)  # not trusted: converted, then checked
    np.testing.assert_array_equal(host(new.Learnables.Value[0]._data), np.ones((2, 3)))


def test_traced_network_holds_traced_copies_of_its_learnables():
    net = _small_net()
    seen = {}

    def fun(n):
        seen["values"] = n.Learnables.Value
        return n

    out = dlfeval(fun, net)
    assert all(v._node is not None for v in seen["values"])
    assert all(v._node is None for v in out.Learnables.Value)
    assert all(v._node is None for v in net.Learnables.Value)
    for a, b in zip(out.Learnables.Value, net.Learnables.Value):
        assert a._data is b._data


# ---- leakyrelu multiplies by a slope instead of using where -----------------------------------

@pytest.mark.parametrize("scale", [0.01, 0.2, 0.0, -0.5, 3.0])
def test_leakyrelu_matches_where_exactly(xp, scale):
    from minidl.ops.activations import leakyrelu
    x = np.array([-2.5, -1e-30, -0.0, 0.0, 1e-30, 0.7, 3.0], np.float32)
    x = np.concatenate([x, np.random.default_rng(0).standard_normal(50).astype(np.float32)])
    gy = np.random.default_rng(1).standard_normal(x.size).astype(np.float32)

    def fun(X):
        Y = leakyrelu(X, scale)
        return Y, dlgradient((Y * dev(xp, gy)).sum(), X)

    Y, G = dlfeval(fun, dlarray(dev(xp, x)))
    assert host(Y._data).dtype == np.float32 and host(G._data).dtype == np.float32
    np.testing.assert_array_equal(host(Y._data), np.where(x > 0, x, x * np.float32(scale)))
    np.testing.assert_array_equal(host(G._data), np.where(x > 0, gy, gy * np.float32(scale)))


# ---- normalization of an empty mini-batch -----------------------------------------------------

@pytest.mark.parametrize("kind", ["instance", "layer", "group", "batch"])
def test_normalization_of_an_empty_batch_gives_empty_results(xp, kind):
    import warnings

    from minidl.ops.norm import batchnorm, groupnorm, instancenorm, layernorm
    run = {"instance": instancenorm, "layer": layernorm, "batch": batchnorm,
           "group": lambda X, o, s: groupnorm(X, 2, o, s)}[kind]
    X = dlarray(dev(xp, np.zeros((4, 5, 4, 0), np.float32)), "SSCB")
    o = dlarray(dev(xp, np.arange(4, dtype=np.float32)))
    s = dlarray(dev(xp, np.ones(4, np.float32)))

    def fun(X, o, s):
        Y = run(X, o, s)
        return Y, dlgradient(Y.sum(), X, o, s)

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Y, (gx, go, gs) = dlfeval(fun, X, o, s)
        assert Y.shape == (4, 5, 4, 0) and Y.fmt == "SSCB" and gx.shape == (4, 5, 4, 0)
        np.testing.assert_array_equal(host(go._data), np.zeros(4))
        np.testing.assert_array_equal(host(gs._data), np.zeros(4))
        Yp = run(X, o, s)
        assert Yp.shape == (4, 5, 4, 0)
        if kind == "batch":  # no statistics in an empty batch: the running ones are kept
            mean, var = dev(xp, np.full(4, 0.5, np.float32)), dev(xp, np.full(4, 2, np.float32))
            _, new_mean, new_var = batchnorm(X, o, s, mean, var)
            np.testing.assert_array_equal(host(new_mean), host(mean))
            np.testing.assert_array_equal(host(new_var), host(var))


def test_remembered_options_still_validate_every_call():
    from minidl.ops.conv import dlconv, maxpool

    X = dlarray(np.random.default_rng(0).standard_normal((6, 6, 2, 3)).astype(np.float32),
                "SSCB")
    W = np.ones((2, 2, 2, 1), np.float32)
    first = dlconv(X, W, 0, Stride=2, Padding=(1, 0)).extractdata()
    again = dlconv(X, W, 0, Stride=2, Padding=(1, 0)).extractdata()
    np.testing.assert_array_equal(first, again)
    assert first.shape == (4, 3, 1, 3)
    for _ in range(2):  # errors are never remembered as results
        with pytest.raises(ValueError, match="dlconv: Stride must be a positive integer"):
            dlconv(X, W, 0, Stride=0)
        with pytest.raises(ValueError, match="maxpool: Padding must be"):
            maxpool(X, 2, Padding=(1, -1))
    assert maxpool(X, 2, Stride=[1, 2]).shape == (5, 3, 2, 3)  # a list is checked, not cached


def test_layer_copies_are_independent_shallow_copies():
    import copy

    layer = convolution2dLayer(3, 4, Name="c")
    twin = copy.copy(layer)
    assert type(twin) is type(layer) and twin is not layer
    assert twin.Name == "c" and twin.FilterSize == layer.FilterSize
    twin.Name = "other"
    assert layer.Name == "c"
