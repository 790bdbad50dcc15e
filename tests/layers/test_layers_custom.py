"""Custom layers written by subclassing Layer, as minidl.layers.base documents it."""

import textwrap

import numpy as np

import minidl.layers.base
from minidl import dlarray, dlfeval, dlgradient, relu
from minidl.core import gradcheck
from minidl.layers import (
    Layer,
    featureInputLayer,
    fullyConnectedLayer,
    imageInputLayer,
    register_layer,
)
from minidl.networks import setLearnRateFactor
from minidl.networks.network import dlnetwork
from tests.conftest import dev, host


@register_layer                      # only needed to save and load it with minidl.networks.io
class PReLULayer(Layer):
    """y = relu(x) - Alpha * relu(-x), with one learnable slope Alpha."""

    learnables = ("Alpha",)
    default_name = "prelu"

    def __init__(self, alpha=0.25, Name=""):
        super().__init__(Name=Name)
        self.Alpha = dlarray([[alpha]])   # 1x1; stored as a dlarray

    def predict(self, X):
        return relu(X) - self.Alpha * relu(-X)


class ChannelScale(Layer):
    """y = Scale .* x with one learnable scale per channel, sized when the network is built."""

    learnables = ("Scale",)
    Type = "Channel Scale"
    Description = "learned channel scale"

    def __init__(self, Name=""):
        super().__init__(Name=Name)
        self.Scale = None

    def initialize(self, input_size, fmt):
        if self.Scale is None:
            self.Scale = np.full((1, 1, input_size[fmt.index("C")]), 2.0, np.float32)
        return super().initialize(input_size, fmt)

    def predict(self, X):
        return X * dlarray(self.Scale, "SSC")


def test_the_documented_custom_layer_learns_alpha(xp, rng):
    net = dlnetwork([featureInputLayer(3), PReLULayer(), fullyConnectedLayer(2)])
    assert net.Learnables.Layer[0] == "prelu" and net.Learnables.Parameter[0] == "Alpha"
    assert net.learnable_factors()[0] == (1.0, 1.0)
    x = rng.standard_normal((3, 5)).astype(np.float32)
    X = dlarray(dev(xp, x), "CB")
    np.testing.assert_allclose(host(net.Layers[1].predict(X)),
                               np.maximum(x, 0) + 0.25 * np.minimum(x, 0), rtol=1e-6)

    def loss_of(net, X):
        loss = net.predict(X).sum()
        return dlgradient(loss, net.Learnables)

    grads = dlfeval(loss_of, net, X)
    assert grads.Value[0].shape == (1, 1) and float(grads.Value[0]) != 0
    leaves, rebuild = net._tree_flatten()
    X64 = dlarray(dev(xp, rng.standard_normal((3, 4))), "CB")
    assert gradcheck(lambda x, *ls: rebuild(list(ls)).predict(x), X64, *leaves, tol=1e-5) < 1e-5


def test_custom_layer_sized_by_its_input_and_displayed(xp, rng):
    layers = [imageInputLayer([3, 3, 4], Normalization="none"), ChannelScale()]
    net = dlnetwork(layers)
    assert layers[1].Scale is None and net.Layers[1].Scale.shape == (1, 1, 4)
    assert net.Layers[1].Name == "layer"
    X = dlarray(dev(xp, rng.standard_normal((3, 3, 4, 2)).astype(np.float32)), "SSCB")
    np.testing.assert_allclose(host(net.predict(X)), 2 * host(X), rtol=1e-6)
    row = repr(net.Layers).splitlines()[-1]
    assert row == "     2   'layer'        Channel Scale   learned channel scale"
    text = repr(net.Layers[1])
    assert text.startswith("  ChannelScale with properties:\n\n     Name: 'layer'\n")
    assert "   Learnable Parameters\n    Scale: [1×1×4 single]" in text
    assert setLearnRateFactor(net.Layers[1], "Scale", 0).factors("Scale") == (0.0, 1.0)


def test_the_docstring_example_runs_as_written(monkeypatch):
    base = minidl.layers.base
    monkeypatch.setattr(base, "_REGISTRY", dict(base._REGISTRY))  # keep the test's PReLULayer
    doc = base.__doc__
    code = textwrap.dedent(doc.split("::\n\n", 1)[1].split("\n\n``dlnetwork``", 1)[0])
    namespace: dict = {}
    exec(compile(code, "minidl.layers.base docstring", "exec"), namespace)
    layer = namespace["PReLULayer"]()
    X = dlarray(np.array([[-2.0, 3.0]], np.float32), "CB")
    np.testing.assert_allclose(host(layer.predict(X)), [[-0.5, 3.0]])
