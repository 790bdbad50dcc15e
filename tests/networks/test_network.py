"""dlnetwork: construction, naming, tables, autodiff through it, predict/forward and summary."""

import copy
import subprocess
import sys

import numpy as np
import pytest

import minidl
from minidl import dlarray, dlfeval, dlgradient
from minidl.core import gradcheck
from minidl.layers import (
    batchNormalizationLayer,
    convolution2dLayer,
    dropoutLayer,
    featureInputLayer,
    fullyConnectedLayer,
    imageInputLayer,
    instanceNormalizationLayer,
    maxPooling2dLayer,
    reluLayer,
    softmaxLayer,
)
from minidl.networks.network import Table, dlnetwork, forward, initialize, predict
from minidl.networks.summary import analyzeNetwork, summary
from minidl.ops.loss import crossentropy
from tests.conftest import dev, host


def example_layers():
    return [imageInputLayer([28, 28, 3]), convolution2dLayer(5, 20), instanceNormalizationLayer(),
            reluLayer(), maxPooling2dLayer(2, "Stride", 2), fullyConnectedLayer(10),
            softmaxLayer()]


def tiny_layers():
    """A small image classifier for value and gradient checks (no kinks at the conv bias)."""
    return [imageInputLayer([5, 5, 2], Normalization="none"), convolution2dLayer(3, 3),
            reluLayer(), instanceNormalizationLayer(), maxPooling2dLayer(2),
            fullyConnectedLayer(4), softmaxLayer()]


def batch(xp, rng, shape=(5, 5, 2, 3)):
    return dlarray(dev(xp, rng.standard_normal(shape).astype(np.float32)), "SSCB")


# ---- construction ---------------------------------------------------------------------------

def test_initialization_infers_sizes_and_keeps_the_users_layers():
    layers = example_layers()
    net = dlnetwork(layers)
    assert net.Initialized and layers[1].Weights is None and layers[1].Name == ""
    assert layers[1].NumChannels == "auto"
    conv, norm, fc = net.Layers[1], net.Layers[2], net.Layers[5]
    assert conv.NumChannels == 3 and conv.Weights.shape == (5, 5, 3, 20)
    assert norm.NumChannels == 20 and norm.Scale.shape == (1, 1, 20)
    assert fc.InputSize == 12 * 12 * 20 and fc.Weights.shape == (10, 2880)
    assert net.InputNames == ["imageinput"] and net.OutputNames == ["softmax"]
    assert net.Connections.Source[:2] == ["imageinput", "conv"]
    assert net.ClassNames is None


def test_unnamed_layers_are_named_as_matlab_does():
    net = dlnetwork([imageInputLayer([8, 8, 1]), convolution2dLayer(3, 2), reluLayer(),
                     convolution2dLayer(3, 2), reluLayer(Name="relu_1"), reluLayer(),
                     fullyConnectedLayer(2), softmaxLayer()], Initialize=False)
    assert [layer.Name for layer in net.Layers] == [
        "imageinput", "conv_1", "relu_2", "conv_2", "relu_1", "relu_3", "fc", "softmax"]
    with pytest.raises(ValueError, match="layer names must be unique, but 'a' names layers 1, 3"):
        dlnetwork([reluLayer(Name="a"), reluLayer(), reluLayer(Name="a")], Initialize=False)


def test_uninitialized_network_and_initialize():
    net = dlnetwork(example_layers(), "Initialize", False)
    assert not net.Initialized and net.Learnables.Value == [None] * 6
    with pytest.raises(ValueError, match="predict: the network is not initialized"):
        net.predict(np.zeros((28, 28, 3, 1)))
    ready = initialize(net)
    assert ready.Initialized and not net.Initialized
    assert ready.Learnables.Value[0].shape == (5, 5, 3, 20)


def test_network_without_input_layer_needs_example_data(xp, rng):
    layers = [convolution2dLayer(3, 2), reluLayer(), fullyConnectedLayer(3)]
    with pytest.raises(ValueError, match="the network has no input layer"):
        dlnetwork(layers)
    X = batch(xp, rng)
    net = dlnetwork(layers, X)
    assert net.Layers[0].NumChannels == 2 and net.predict(X).shape == (3, 3)
    with pytest.raises(ValueError, match="layer 'conv' expects a dlarray with format 'SSCB'"):
        net.predict(host(X))


def test_initialization_errors_name_the_layer():
    with pytest.raises(TypeError, match="expected a layer or a list of layers, got int"):
        dlnetwork(5)
    with pytest.raises(ValueError, match=r"layer 'input_2' \(Feature Input\) is an input layer "
                                         "but not the first layer"):
        dlnetwork([featureInputLayer(3), fullyConnectedLayer(3), featureInputLayer(3)])
    with pytest.raises(ValueError, match=r"layer 'conv' \(2-D Convolution\) has NumChannels 1 "
                                         r"but its input has 3 channels"):
        dlnetwork([imageInputLayer([8, 8, 3]), convolution2dLayer(3, 2, NumChannels=1)])
    with pytest.raises(ValueError, match=r"layer 'fc' \(Fully Connected\) has InputSize 5 but "
                                         r"its input has 4 elements"):
        dlnetwork([featureInputLayer(4), fullyConnectedLayer(2, Weights=np.zeros((2, 5)))])


# ---- tables ---------------------------------------------------------------------------------

def test_learnables_table_api_and_factors():
    net = dlnetwork(example_layers())
    t = net.Learnables
    assert len(t) == 6 and t.VariableNames == ["Layer", "Parameter", "Value"]
    assert t.Layer == ["conv", "conv", "instancenorm", "instancenorm", "fc", "fc"]
    assert t.Parameter == ["Weights", "Bias", "Offset", "Scale", "Weights", "Bias"]
    rows = list(t)
    assert rows[0][:2] == ("conv", "Weights") and t[5][1] == "Bias"
    doubled = t.with_values([2 * v for v in t.Value])
    assert doubled.Layer == t.Layer and np.allclose(host(doubled.Value[0]), 2 * host(t.Value[0]))
    assert net.learnable_factors() == [(1, 1), (1, 0), (1, 1), (1, 1), (1, 1), (1, 0)]
    custom = dlnetwork([featureInputLayer(2), fullyConnectedLayer(
        3, WeightLearnRateFactor=2, BiasL2Factor=0.5)])
    assert custom.learnable_factors() == [(2, 1), (1, 0.5)]
    with pytest.raises(AttributeError, match="Table has no column 'Values'"):
        t.Values  # noqa: B018


def test_assigning_learnables_and_state_checks_rows_and_sizes(xp):
    net = dlnetwork(example_layers())
    before = host(net.Learnables.Value[0]).copy()
    other = copy.copy(net)
    other.Learnables = net.Learnables.with_values([v * 0 for v in net.Learnables.Value])
    assert np.all(host(other.Learnables.Value[0]) == 0)
    np.testing.assert_array_equal(host(net.Learnables.Value[0]), before)  # original untouched
    values = net.Learnables.Value
    values[1] = dlarray(np.zeros((1, 1, 7), np.float32))
    with pytest.raises(ValueError, match=r"layer 'conv' parameter 'Bias' has size 1x1x20, but "
                                         r"the new value has size 1x1x7"):
        net.Learnables = net.Learnables.with_values(values)
    partial = Table({"Layer": ["conv"], "Parameter": ["Weights"], "Value": [None]})
    with pytest.raises(ValueError, match="the table's rows must match the network's"):
        net.Learnables = partial
    with pytest.raises(TypeError, match="must be a table with columns Layer, Parameter"):
        net.State = [1, 2]


def test_dlgradient_of_learnables_and_dlfeval_of_the_network(xp, rng):
    net = dlnetwork(tiny_layers())
    X = batch(xp, rng)
    T = dlarray(dev(xp, np.eye(4, dtype=np.float32)[:, [0, 1, 3]]), "CB")

    def model_loss(net, X, T):
        Y, state = net.forward(X)
        loss = crossentropy(Y, T)
        return loss, dlgradient(loss, net.Learnables), state

    loss, grads, state = dlfeval(model_loss, net, X, T)
    assert isinstance(grads, Table) and grads.Layer == net.Learnables.Layer
    assert [g.shape for g in grads.Value] == [v.shape for v in net.Learnables.Value]
    assert all(g._node is None for g in grads.Value) and len(state) == 0
    assert float(np.abs(host(grads.Value[0])).sum()) > 0
    whole = dlfeval(lambda n, x: dlgradient(crossentropy(n.predict(x), T), n), net, X)
    assert isinstance(whole, dlnetwork)
    np.testing.assert_allclose(host(whole.Learnables.Value[4]), host(grads.Value[4]), rtol=1e-5)


def test_gradients_through_the_network_pass_gradcheck(xp, rng):
    net = dlnetwork(tiny_layers() + [])
    leaves, rebuild = net._tree_flatten()
    X = dlarray(dev(xp, rng.standard_normal((5, 5, 2, 2))), "SSCB")
    assert gradcheck(lambda x, *ls: rebuild(list(ls)).predict(x), X, *leaves, tol=1e-5) < 1e-5


def test_batch_norm_network_gradcheck_in_training_mode(xp, rng):
    net = dlnetwork([featureInputLayer(3), fullyConnectedLayer(4), reluLayer(),
                     batchNormalizationLayer(), fullyConnectedLayer(2)])
    leaves, rebuild = net._tree_flatten()
    X = dlarray(dev(xp, rng.standard_normal((3, 6))), "CB")
    assert gradcheck(lambda x, *ls: rebuild(list(ls)).forward(x)[0], X, *leaves,
                     tol=1e-5) < 1e-5


# ---- predict and forward --------------------------------------------------------------------

def test_predict_accepts_raw_matlab_layout_and_builds_no_graph(xp, rng):
    net = dlnetwork(tiny_layers())
    X = batch(xp, rng)
    Y = predict(net, X)
    assert Y.fmt == "CB" and Y.shape == (4, 3) and Y._node is None
    np.testing.assert_allclose(host(Y).sum(axis=0), 1, rtol=1e-5)
    np.testing.assert_array_equal(host(net.predict(host(X).astype(np.float64))), host(Y))
    one = net.predict(host(X)[..., 0])  # a single H x W x C image
    np.testing.assert_allclose(host(one)[:, 0], host(Y)[:, 0], rtol=1e-5)


def test_inputs_that_do_not_fit_are_errors_naming_the_layer(xp, rng):
    net = dlnetwork(tiny_layers())
    with pytest.raises(ValueError, match=r"layer 'imageinput' \(Image Input\) expects input of "
                                         r"size 5x5x2 .* got 6x5x2"):
        net.predict(np.zeros((6, 5, 2, 1)))
    with pytest.raises(ValueError, match=r"expects input of size 5x5x2 .* got 5x5x3"):
        net.predict(batch(xp, rng, (5, 5, 3, 2)))
    with pytest.raises(ValueError, match=r"layer 'imageinput' \(Image Input\) expects input "
                                         r"with format 'SSCB', got 'CB'"):
        net.predict(dlarray(np.zeros((50, 2), np.float32), "CB"))
    with pytest.raises(ValueError, match="expects data of at most 4 dimensions"):
        net.predict(np.zeros((5, 5, 2, 1, 2)))


def test_forward_uses_batch_statistics_dropout_and_returns_state(xp, rng):
    net = dlnetwork([featureInputLayer(3), fullyConnectedLayer(4), batchNormalizationLayer(),
                     dropoutLayer(0.5), fullyConnectedLayer(2)])
    X = dlarray(dev(xp, rng.standard_normal((3, 16)).astype(np.float32) + 2), "CB")
    Y1 = net.predict(X)
    np.testing.assert_array_equal(host(net.predict(X)), host(Y1))
    minidl.rng(0)
    Y, state = forward(net, X)
    assert state.Layer == ["batchnorm"] * 2
    assert state.Parameter == ["TrainedMean", "TrainedVariance"]
    assert not np.allclose(host(Y), host(Y1))
    h = host(net.Layers[1].predict(X))
    np.testing.assert_allclose(host(state.Value[0]).ravel(), 0.1 * h.mean(axis=1), rtol=1e-4,
                               atol=1e-6)
    assert np.all(host(net.State.Value[0]) == 0)  # forward does not change the network
    net.State = state
    np.testing.assert_array_equal(host(net.State.Value[0]), host(state.Value[0]))
    assert not np.allclose(host(net.predict(X)), host(Y1))


def test_zerocenter_network_normalizes_after_fit_normalization(rng):
    data = rng.standard_normal((4, 4, 1, 10)).astype(np.float32) + 3
    layers = [imageInputLayer([4, 4, 1]), fullyConnectedLayer(2)]
    net = dlnetwork(layers)
    raw = host(net.predict(data))
    net.input_layer().fit_normalization(data)
    centred = host(net.predict(data))
    fc = net.Layers[1]
    expected = host(fc.Weights) @ (data - data.mean()).reshape(16, 10, order="F")
    np.testing.assert_allclose(centred, expected, rtol=1e-4, atol=1e-4)
    assert not np.allclose(raw, centred)


def test_weights_live_on_the_active_backend(xp):
    net = dlnetwork(tiny_layers())
    assert all(minidl.backend.array_module(v._data) is xp for v in net.Learnables.Value)
    Y = net.predict(np.zeros((5, 5, 2, 1), np.float32))  # host data is moved to the device
    assert minidl.backend.array_module(Y._data) is xp


# ---- summary --------------------------------------------------------------------------------

def test_analyze_network_accepts_layer_arrays_and_draws_a_figure():
    info = analyzeNetwork(tiny_layers())
    assert info.TotalLearnables == 3 * 3 * 2 * 3 + 3 + 6 + 4 * 12 + 4
    assert info.LayerInfo[1]["Activations"] == "3(S) × 3(S) × 3(C) × 1(B)"
    assert repr(summary(dlnetwork(tiny_layers(), Initialize=False))) == repr(info)
    figure = analyzeNetwork(dlnetwork(tiny_layers()), Plots="figure").Figure
    assert type(figure).__name__ == "Figure"
    import matplotlib.pyplot as plt
    plt.close(figure)
    with pytest.raises(ValueError, match="analyzeNetwork: Plots must be one of 'none', 'figure'"):
        analyzeNetwork(tiny_layers(), Plots="window")
    assert repr(analyzeNetwork(tiny_layers(), "Plots", "none")) == repr(info)  # MATLAB's form
    headless = analyzeNetwork([fullyConnectedLayer(3)], dlarray(np.ones((4, 2), np.float32), "CB"))
    assert headless.TotalLearnables == 3 * 4 + 3  # its input size came from the example


def test_importing_minidl_does_not_import_matplotlib():
    code = ("import sys, minidl, minidl.networks.network, minidl.networks.io, "
            "minidl.networks.summary; "
            "print('matplotlib' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"


def test_values_set_before_initialization_must_fit_the_input():
    u = dlnetwork([featureInputLayer(4), fullyConnectedLayer(3, Name="fc")], Initialize=False)
    u.Learnables = u.Learnables.with_values([np.zeros((5, 7), np.float32), None])
    with pytest.raises(ValueError, match=r"layer 'fc' \(Fully Connected\) has Weights of size "
                                         r"5x7, but its input \(size 4x1, format 'CB'\) needs "
                                         r"Weights of size 3x4"):
        u.initialize()
    u = dlnetwork([featureInputLayer(4), fullyConnectedLayer(3, Name="fc")], Initialize=False)
    u.Learnables = u.Learnables.with_values([np.ones((3, 4), np.float32), None])
    minidl.rng(0)
    net = u.initialize()  # a fitting value is kept, and the random draws are those of no check
    np.testing.assert_array_equal(net.Learnables.Value[0].extractdata(), np.ones((3, 4)))
    minidl.rng(0)
    bias = minidl.layers.initializers.initialize("zeros", (3, 1))
    np.testing.assert_array_equal(net.Learnables.Value[1].extractdata(), bias)


def test_learnables_cannot_be_emptied_and_layers_without_them_say_so():
    net = dlnetwork([featureInputLayer(4), fullyConnectedLayer(3, Name="fc")])
    values = list(net.Learnables.Value)
    with pytest.raises(ValueError, match="layer 'fc' parameter 'Weights' cannot be emptied in an "
                                         "initialized network; give a value of size 3x4"):
        net.Learnables = net.Learnables.with_values([None, values[1]])
    X = dlarray(np.ones((4, 4, 2, 1), np.float32), "SSCB")
    for layer, name in [(convolution2dLayer(3, 2), "Weights"), (fullyConnectedLayer(3), "Weights"),
                        (minidl.layers.batchNormalizationLayer(), "Offset")]:
        with pytest.raises(ValueError, match=f"has no {name}: initialize it first"):
            layer.predict(X)
