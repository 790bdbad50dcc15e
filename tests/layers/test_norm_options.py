"""layernorm's OperationDimension and the checks for statistics of a single element.

* ``layernorm(..., OperationDimension=...)``: "batch-excluded" (the function's default: S, C, T
  and U together), "channel-only" (C alone: each time step of a sequence on its own, PyTorch's
  LayerNorm(C)), "spatial-channel" (S and C, per time step) and "auto", the default of
  layerNormalizationLayer ("spatial-channel" for 2-D/3-D images, "channel-only" otherwise).
* Statistics that cover one element make the output the offset whatever the input: a
  RuntimeWarning for batch normalization (one observation of feature data; the next mini-batch
  may be larger), a ValueError for the other kinds (it follows from the input's format).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import minidl as dl
from minidl.ops.norm import layer_shared_labels


def reference(x, axes, offset, scale, eps=1e-5):
    mu = x.mean(axis=axes, keepdims=True)
    return (x - mu) / np.sqrt(x.var(axis=axes, keepdims=True) + eps) * scale + offset


CASES = [  # format, shape, OperationDimension, the axes that share statistics
    ("CBT", (6, 3, 5), "channel-only", (0,)),
    ("CBT", (6, 3, 5), "auto", (0,)),
    ("CBT", (6, 3, 5), "batch-excluded", (0, 2)),
    ("CBT", (6, 3, 5), "spatial-channel", (0,)),
    ("SCBT", (4, 6, 3, 5), "spatial-channel", (0, 1)),
    ("SCBT", (4, 6, 3, 5), "auto", (1,)),
    ("SSCB", (4, 5, 6, 3), "auto", (0, 1, 2)),
    ("SSCB", (4, 5, 6, 3), "channel-only", (2,)),
    ("CB", (6, 3), "auto", (0,)),
]


@pytest.mark.parametrize("fmt, shape, dim, axes", CASES)
def test_operation_dimension_matches_a_reference(fmt, shape, dim, axes):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape) * 2 + 1
    C = shape[fmt.index("C")]
    pshape = [1] * len(shape)
    pshape[fmt.index("C")] = C
    o, s = rng.standard_normal(C), rng.uniform(0.5, 2, C)
    Y = dl.layernorm(dl.dlarray(x, fmt), o, s, OperationDimension=dim)
    np.testing.assert_allclose(dl.extractdata(Y),
                               reference(x, axes, o.reshape(pshape), s.reshape(pshape)),
                               rtol=1e-10, atol=1e-10)


def test_the_function_default_is_batch_excluded_and_the_layer_default_is_auto():
    x = np.random.default_rng(1).standard_normal((4, 2, 6)).astype(np.float32)
    X = dl.dlarray(x, "CBT")
    np.testing.assert_array_equal(
        dl.extractdata(dl.layernorm(X, 0.0, 1.0)),
        dl.extractdata(dl.layernorm(X, 0.0, 1.0, OperationDimension="batch-excluded")))
    layer = dl.layerNormalizationLayer()
    assert layer.OperationDimension == "auto"
    net = dl.dlnetwork([dl.sequenceInputLayer(4), layer])
    Y = dl.extractdata(dl.predict(net, X))
    np.testing.assert_allclose(
        Y, dl.extractdata(dl.layernorm(X, 0.0, 1.0, OperationDimension="channel-only")),
        rtol=1e-6, atol=1e-6)
    # name-value pairs, MATLAB style, any case
    assert dl.layerNormalizationLayer("OperationDimension", "Channel-Only").OperationDimension \
        == "channel-only"


def test_per_time_step_does_not_look_ahead():
    x = np.random.default_rng(2).standard_normal((5, 2, 7))
    later = x.copy()
    later[:, :, -1] += 3
    for dim, leaks in (("channel-only", False), ("batch-excluded", True)):
        y1 = dl.extractdata(dl.layernorm(dl.dlarray(x, "CBT"), 0.0, 1.0, OperationDimension=dim))
        y2 = dl.extractdata(dl.layernorm(dl.dlarray(later, "CBT"), 0.0, 1.0,
                                         OperationDimension=dim))
        assert (np.abs(y1[:, :, :-1] - y2[:, :, :-1]).max() > 1e-3) == leaks


@pytest.mark.parametrize("dim", ["channel-only", "spatial-channel", "batch-excluded"])
def test_operation_dimension_gradients(dim):
    rng = np.random.default_rng(3)
    X = dl.dlarray(rng.standard_normal((3, 4, 2, 3)) * 2 + 1, "SCBT")
    o, s = dl.dlarray(rng.standard_normal(4)), dl.dlarray(rng.uniform(0.5, 2, 4))
    assert dl.gradcheck(lambda a, b, g: dl.layernorm(a, b, g, OperationDimension=dim),
                        X, o, s) < 1e-6


def test_float32_in_float32_out():
    X = dl.dlarray(np.ones((4, 2, 3), np.float32) * np.arange(3, dtype=np.float32), "CBT")
    assert dl.layernorm(X, 0.0, 1.0, OperationDimension="channel-only").dtype == np.float32


@pytest.mark.parametrize("bad", ["time", "", 3, None])
def test_bad_operation_dimension_is_named(bad):
    X = dl.dlarray(np.ones((4, 2, 3), np.float32), "CBT")
    with pytest.raises(ValueError, match="OperationDimension must be"):
        dl.layernorm(X, 0.0, 1.0, OperationDimension=bad)
    with pytest.raises(ValueError, match="layerNormalizationLayer: OperationDimension"):
        dl.layerNormalizationLayer(OperationDimension=bad)


def test_auto_picks_by_format():
    assert layer_shared_labels("auto", "SSCB") == "SC"
    assert layer_shared_labels("auto", "SSSCB") == "SC"
    for fmt in ("CB", "CBT", "SCB", "SSCBT"):
        assert layer_shared_labels("auto", fmt) == "C"


def test_the_option_is_saved_and_old_networks_keep_their_behaviour(tmp_path):
    layer = dl.layerNormalizationLayer(OperationDimension="spatial-channel")
    net = dl.dlnetwork([dl.sequenceInputLayer(4), layer])
    dl.save(net, tmp_path / "net.mat")
    loaded = dl.load(tmp_path / "net.mat")
    assert loaded.Layers[1].OperationDimension == "spatial-channel"
    # a layer without the attribute (saved before the option existed) keeps the old behaviour
    old = dl.layerNormalizationLayer()
    del old.OperationDimension
    assert old.OperationDimension == "batch-excluded"


def test_display_shows_the_option():
    assert "OperationDimension" in repr(dl.layerNormalizationLayer()) or \
        "OperationDimension" in str(dl.layerNormalizationLayer()._groups())


# ---- statistics of one element ---------------------------------------------------------------

@pytest.mark.parametrize("call", [
    lambda X: dl.instancenorm(X, 0.0, 1.0),
    lambda X: dl.groupnorm(X, "channel-wise", 0.0, 1.0),
    lambda X: dl.layernorm(dl.dlarray(np.ones((1, 3), np.float32), "CB"), 0.0, 1.0),
])
def test_one_element_statistics_are_an_error(call):
    X = dl.dlarray(np.random.default_rng(4).standard_normal((5, 3)).astype(np.float32), "CB")
    with pytest.raises(ValueError, match="statistics of a single element"):
        call(X)


def test_instancenorm_of_features_names_the_input_and_what_is_expected():
    X = dl.dlarray(np.ones((5, 3), np.float32), "CB")
    with pytest.raises(ValueError, match=r"instancenorm: X \(5x3 'CB'\).*'SSCB' or 'CBT'"):
        dl.instancenorm(X, 0.0, 1.0)


def test_batchnorm_of_one_observation_warns_but_runs():
    X = dl.dlarray(np.arange(5, dtype=np.float32).reshape(5, 1), "CB")
    with pytest.warns(RuntimeWarning, match="statistics cover a single element"):
        Y = dl.batchnorm(X, 0.5, 1.0)
    np.testing.assert_allclose(dl.extractdata(Y), 0.5)
    with warnings.catch_warnings():  # two observations, or pixels: no warning
        warnings.simplefilter("error")
        dl.batchnorm(dl.dlarray(np.ones((5, 2), np.float32) * [[1, 2]], "CB"), 0.0, 1.0)
        dl.batchnorm(dl.dlarray(np.ones((2, 2, 5, 1), np.float32), "SSCB"), 0.0, 1.0)
        dl.batchnorm(X, 0.5, 1.0, np.zeros(5), np.ones(5), Training=False)  # prediction


def test_a_network_with_instance_normalization_of_features_fails_clearly():
    net = dl.dlnetwork([dl.featureInputLayer(4), dl.instanceNormalizationLayer()])
    with pytest.raises(ValueError, match="statistics of a single element"):
        dl.predict(net, dl.dlarray(np.ones((4, 2), np.float32), "CB"))
