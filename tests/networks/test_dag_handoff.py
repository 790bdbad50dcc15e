"""DAG behaviour that needs the handoff's changes to trainnet.py, prediction.py and the exports."""

import numpy as np
import pytest

import minidl as dl
from minidl.networks import split_plan
from tests.networks.test_dag import residual_net, stripes


def two_output_net():
    net = dl.addLayers(dl.dlnetwork(), [dl.featureInputLayer(3), dl.fullyConnectedLayer(2)])
    net = dl.addLayers(net, dl.fullyConnectedLayer(2, Name="fc_b"))
    return dl.connectLayers(net, "input", "fc_b")


def test_the_graph_functions_and_layers_are_exported():
    net = dl.connectLayers(dl.addLayers(dl.dlnetwork(), [dl.featureInputLayer(2),
                                                          dl.additionLayer(2, Name="a")]),
                           "input", "a/in2")
    assert dl.initialize(net).predict(np.ones((1, 2))).shape == (2, 1)
    assert isinstance(dl.layerGraph(), dl.LayerGraph)
    assert dl.depthConcatenationLayer(2).NumInputs == dl.concatenationLayer(1, 3).NumInputs - 1


def test_networks_with_several_inputs_or_outputs_are_refused_by_trainnet():
    X = np.random.default_rng(0).standard_normal((20, 3)).astype(np.float32)
    opts = dl.trainingOptions("sgdm", MaxEpochs=1, Verbose=False)
    with pytest.raises(ValueError, match=r"trainnet: the network has 1 input \('input'\) and 2 "
                                         r"outputs \('fc', 'fc_b'\); trainnet takes a network "
                                         "with one input and one output"):
        dl.trainnet(X, X[:, :2], two_output_net(), "mse", opts)
    with pytest.raises(ValueError, match=r"trainnet: the network has 1 input .* and 2 outputs"):
        dl.trainnet(X, X[:, :2], dl.layerGraph(two_output_net()), "mse", opts)
    two_in = dl.addLayers(dl.dlnetwork(), [dl.featureInputLayer(3), dl.additionLayer(2)])
    two_in = dl.addLayers(two_in, dl.featureInputLayer(3, Name="input_b"))
    two_in = dl.connectLayers(two_in, "input_b", "addition/in2")
    with pytest.raises(ValueError, match=r"trainnet: the network has 2 inputs \('input', "
                                         r"'input_b'\) and 1 output"):
        dl.trainnet(X, X, two_in, "mse", opts)
    net = dl.initialize(two_output_net())
    with pytest.raises(ValueError, match="minibatchpredict: the network has 1 input"):
        dl.minibatchpredict(net, X)
    with pytest.raises(ValueError, match="testnet: the network has 1 input"):
        dl.testnet(net, X, X[:, :2], "mse")


def test_graphs_of_per_observation_layers_are_split_and_match(monkeypatch):
    monkeypatch.setenv("MINIDL_THREADS", "2")
    layers = [dl.imageInputLayer([8, 8, 1], Normalization="none"),
              dl.convolution2dLayer(3, 4, Padding="same"), dl.instanceNormalizationLayer(),
              dl.reluLayer(Name="relu_1"), dl.convolution2dLayer(3, 4, Padding="same"),
              dl.additionLayer(2, Name="add"), dl.reluLayer(), dl.maxPooling2dLayer(2, Stride=2),
              dl.fullyConnectedLayer(2), dl.softmaxLayer()]
    net = dl.dlnetwork(dl.connectLayers(dl.layerGraph(layers), "relu_1", "add/in2"))
    assert split_plan(net, np, 128, training=True) == [(0, 64), (64, 128)]
    assert split_plan(net, np, 128) == [(0, 64), (64, 128)]
    assert split_plan(residual_net(), np, 128, training=True) == [(0, 128)]  # batch norm
    assert split_plan(dl.initialize(two_output_net()), np, 128) == [(0, 128)]
    X, labels = stripes(200)
    got = dl.minibatchpredict(net, X, MiniBatchSize=200)
    np.testing.assert_allclose(got, dl.extractdata(net.predict(X)).T, rtol=1e-5, atol=1e-6)
    opts = dl.trainingOptions("sgdm", MaxEpochs=2, MiniBatchSize=128, Verbose=False)
    dl.rng(0)
    split, _ = dl.trainnet(X, labels, net, "crossentropy", opts)
    monkeypatch.setenv("MINIDL_THREADS", "1")
    dl.rng(0)
    whole, _ = dl.trainnet(X, labels, net, "crossentropy", opts)
    np.testing.assert_allclose(dl.minibatchpredict(split, X), dl.minibatchpredict(whole, X),
                               rtol=1e-4, atol=1e-5)  # float32 rounding apart
