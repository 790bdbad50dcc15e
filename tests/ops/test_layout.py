"""Memory-layout invariants of the image ops (a speed contract, see docs/dev/contributing.md).

Image ops store their results N, H, W, C in memory and return the canonical H x W x C x N view;
their backward passes hand back gradients in the layout of their forward input, so the next
elementwise op or reshape runs over contiguous memory instead of copying. Values are checked
elsewhere; these tests only look at strides.
"""

from __future__ import annotations

import numpy as np
import pytest

import minidl as dl
from minidl.core import channels_last


def _nhwc(rng, shape_nhwc):
    """A canonical "SSCB" dlarray whose memory is N, H, W, C (what image ops produce)."""
    return dl.dlarray(rng.standard_normal(shape_nhwc).astype(np.float32).transpose(1, 2, 3, 0),
                      "SSCB")


def _is_nhwc(data):
    return channels_last(data, "SSCB")[0].flags.c_contiguous


def _in_nhwc_order(data):
    """N, H, W, C memory order with contiguous channels, possibly a cropped (padded) view."""
    strides = channels_last(data, "SSCB")[0].strides
    return strides[3] == data.itemsize and strides[0] > strides[1] > strides[2] > strides[3]


OPS = {
    "dlconv": lambda X, w: dl.dlconv(X, w, 0),
    "instancenorm": lambda X, w: dl.instancenorm(X, np.zeros(8, np.float32),
                                                 np.ones(8, np.float32)),
    "relu": lambda X, w: dl.relu(X),
    "maxpool": lambda X, w: dl.maxpool(X, 2, Stride=2),
    "maxpool-overlapping": lambda X, w: dl.maxpool(X, 3, Stride=1, Padding=1),
    "avgpool": lambda X, w: dl.avgpool(X, 2, Stride=2),
}


@pytest.mark.parametrize("name", list(OPS))
def test_forward_output_and_input_gradient_are_nhwc(name):
    rng = np.random.default_rng(0)
    X = _nhwc(rng, (3, 6, 6, 8))  # 8 channels >= 4 output columns: dlconv's NHWC col2im path
    w = dl.dlarray(rng.standard_normal((3, 3, 8, 8)).astype(np.float32))
    op = OPS[name]
    assert _is_nhwc(op(X, w)._data)

    def loss(X):
        Y = op(X, w)
        R = _nhwc(np.random.default_rng(1), (Y.shape[3], Y.shape[0], Y.shape[1], Y.shape[2]))
        return dl.dlgradient((Y * R).sum(), X)

    g = dl.dlfeval(loss, X)
    assert g.dtype == np.float32
    assert _in_nhwc_order(g._data), f"{name}: the gradient is not in its input's N, H, W, C order"


def test_network_gradients_have_their_parameters_shape_and_dtype():
    rng = np.random.default_rng(0)
    net = dl.dlnetwork([dl.imageInputLayer([8, 8, 3]), dl.convolution2dLayer(3, 4),
                        dl.instanceNormalizationLayer(), dl.reluLayer(),
                        dl.maxPooling2dLayer(2, Stride=2), dl.fullyConnectedLayer(5),
                        dl.softmaxLayer()])
    X = _nhwc(rng, (4, 8, 8, 3))
    T = dl.dlarray(np.eye(5, dtype=np.float32)[rng.integers(0, 5, 4)].T, "CB")

    def loss(net, X, T):
        return dl.dlgradient(dl.crossentropy(dl.forward(net, X)[0], T), net.Learnables)

    grads = dl.dlfeval(loss, net, X, T)
    for g, p in zip(grads.Value, net.Learnables.Value):
        assert g.shape == p.shape and g.dtype == p.dtype == np.float32
