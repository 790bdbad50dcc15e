"""Tests for minibatchpredict, scores2label and testnet against direct formulas."""

import numpy as np
import pytest

import minidl
from minidl.backend import array_module
from minidl.data import scores2label
from minidl.layers import (
    convolution2dLayer,
    featureInputLayer,
    fullyConnectedLayer,
    imageInputLayer,
    reluLayer,
    softmaxLayer,
)
from minidl.networks.network import dlnetwork, predict
from minidl.training import minibatchpredict
from minidl.training import testnet as evaluate
from tests.conftest import host


def feature_net(classes=("cat", "dog", "emu")):
    minidl.rng(3)
    net = dlnetwork([featureInputLayer(4), fullyConnectedLayer(6), reluLayer(),
                     fullyConnectedLayer(3), softmaxLayer()])
    net.ClassNames = np.asarray(classes)
    return net


def features(n=23, seed=0):
    """n observations of 4 features, N x 4 (MATLAB's layout for feature data)."""
    return np.random.default_rng(seed).standard_normal((n, 4)).astype(np.float32)


def test_minibatchpredict_matches_predict_in_any_batch_size(xp):
    net = feature_net()
    X = features()
    expected = host(predict(net, X)).T
    for batch in (5, 23, 128):
        scores = minibatchpredict(net, X, MiniBatchSize=batch)
        assert isinstance(scores, np.ndarray) and scores.dtype == np.float32
        assert scores.shape == (23, 3)
        np.testing.assert_allclose(scores, expected, rtol=1e-5, atol=1e-7)
    assert array_module(net.Learnables.Value[0]._data) is xp  # the network stays where it is


def test_minibatchpredict_layouts_cpu_and_datastore():
    net = feature_net()
    X = features()
    ref = minibatchpredict(net, X)
    np.testing.assert_allclose(minibatchpredict(net, X.T, InputDataFormats="CB"), ref)
    np.testing.assert_allclose(minibatchpredict(net, X, "MiniBatchSize", 4,
                                                ExecutionEnvironment="cpu"), ref)
    minidl.rng(0)
    image_net = dlnetwork([imageInputLayer([6, 5, 2], Normalization="none"),
                           convolution2dLayer(3, 4)])
    images = np.random.default_rng(1).standard_normal((6, 5, 2, 9)).astype(np.float32)

    class Store:
        def read_all(self, image_size):
            return images, None

    out = minibatchpredict(image_net, Store(), MiniBatchSize=4)
    assert out.shape == (4, 3, 4, 9)  # H x W x C x N, MATLAB layout for image outputs
    np.testing.assert_allclose(out, host(predict(image_net, minidl.dlarray(images, "SSCB"))),
                               rtol=1e-5, atol=1e-6)


def test_minibatchpredict_rejects_bad_sizes():
    with pytest.raises(ValueError, match="observations of size 3 but the input layer"):
        minibatchpredict(feature_net(), np.zeros((5, 3), np.float32))
    with pytest.raises(ValueError, match=r'expects 4: feature data is N x 4, one row per '
                                         r'observation \(for 4 x N data give '
                                         r'InputDataFormats="CB"'):
        minibatchpredict(feature_net(), np.zeros((4, 5), np.float32))
    with pytest.raises(ValueError, match="'BatchSize' is not an option"):
        minibatchpredict(feature_net(), features(), BatchSize=3)


def test_scores2label_and_top_scores():
    scores = np.array([[0.1, 0.7, 0.2], [0.5, 0.3, 0.2]], dtype=np.float32)
    labels = scores2label(scores, ["a", "b", "c"])
    np.testing.assert_array_equal(labels, ["b", "a"])
    labels, top = scores2label(scores, np.array([3, 1, 2]), ReturnScores=True)
    np.testing.assert_array_equal(labels, [1, 3])
    np.testing.assert_allclose(top, [0.7, 0.5])
    np.testing.assert_array_equal(scores2label(scores.T, ["a", "b", "c"], 1), ["b", "a"])
    with pytest.raises(ValueError, match="scores has 3 classes along dimension 2 but "
                                         "classNames has 2"):
        scores2label(scores, ["a", "b"])


def test_testnet_metrics_match_formulas():
    net = feature_net()
    X = features(40)
    rng = np.random.default_rng(5)
    T = np.asarray(["cat", "dog", "emu"])[rng.integers(0, 3, 40)]
    Y = minibatchpredict(net, X)
    onehot = (T[:, None] == net.ClassNames[None, :]).astype(np.float64)
    accuracy = 100 * np.mean(net.ClassNames[np.argmax(Y, 1)] == T)
    ce = -np.sum(onehot * np.log(Y)) / 40
    mse = np.mean((Y - onehot) ** 2)
    got = evaluate(net, X, T, ["accuracy", "crossentropy", "mse", "rmse"], MiniBatchSize=7)
    np.testing.assert_allclose(got, [accuracy, ce, mse, np.sqrt(mse)], rtol=1e-5)
    assert evaluate(net, X, T, "accuracy") == pytest.approx(accuracy)


def test_testnet_regression_datastore_and_errors():
    minidl.rng(0)
    net = dlnetwork([featureInputLayer(4), fullyConnectedLayer(2)])
    X = features(10)
    T = np.random.default_rng(2).standard_normal((10, 2)).astype(np.float32)
    Y = minibatchpredict(net, X)
    assert evaluate(net, X, T, "mse") == pytest.approx(np.mean((Y - T) ** 2), rel=1e-5)

    class Store:
        def read_all(self, image_size):
            return features(10), np.asarray(["cat"] * 10)

    assert evaluate(feature_net(), Store(), "accuracy") >= 0
    with pytest.raises(ValueError, match="metrics must be one of"):
        evaluate(net, X, T, "f1")
    with pytest.raises(ValueError, match="10 observations but 9 labels"):
        evaluate(feature_net(), X, np.asarray(["cat"] * 9), "accuracy")


def test_scores2label_on_a_formatted_dlarray(xp):
    scores = minidl.dlarray(xp.asarray(np.float32([[0.1, 0.9], [0.8, 0.05], [0.1, 0.05]])), "CB")
    np.testing.assert_array_equal(scores2label(scores, ["x", "y", "z"]), ["y", "x"])


def test_testnet_reads_integer_targets_as_numbers_unless_they_are_class_labels():
    minidl.rng(0)
    X = features(12)
    T = np.round(X[:, 0] * 2).astype(int)  # integer regression targets, one output
    net = dlnetwork([featureInputLayer(4), fullyConnectedLayer(1)])
    Y = minibatchpredict(net, X)[:, 0]
    assert evaluate(net, X, T, "mse") == pytest.approx(np.mean((Y - T) ** 2), rel=1e-5)
    y = X[:, 1] > 0  # 0/1 labels for one sigmoid-like output: accuracy thresholds at 0.5
    sig = dlnetwork([featureInputLayer(4), fullyConnectedLayer(1),
                     minidl.layers.functionLayer(minidl.sigmoid)])
    hits = (minibatchpredict(sig, X)[:, 0] > 0.5) == y
    assert evaluate(sig, X, y, "accuracy") == pytest.approx(100 * hits.mean())
    assert evaluate(sig, X, y.astype(int), "accuracy") == pytest.approx(100 * hits.mean())


def test_testnet_without_class_names_needs_every_class_in_the_labels():
    net = dlnetwork([featureInputLayer(3), fullyConnectedLayer(3)])
    net.Learnables = net.Learnables.with_values(
        [minidl.dlarray(np.eye(3, dtype=np.float32)), minidl.dlarray(np.zeros((3, 1), np.float32))])
    X = np.float32([[5, 0, 0], [0, 0, 5], [0, 0, 5]])
    assert evaluate(net, X, np.array([0, 2, 1]), "accuracy") == pytest.approx(200 / 3)
    with pytest.raises(ValueError, match=r"outputs 3 values per observation \(format 'CB'\) "
                                         r"but the labels have 2 classes \(0, 2\)"):
        evaluate(net, X, np.array([0, 2, 2]), "accuracy")
    net.ClassNames = np.array([0, 1, 2])
    assert evaluate(net, X, np.array([0, 2, 2]), "accuracy") == 100


def test_testnet_image_targets_in_matlab_or_named_layout():
    minidl.rng(0)
    net = dlnetwork([imageInputLayer([4, 5, 2], Normalization="none"),
                     minidl.layers.convolution2dLayer(3, 2, Padding="same")])
    X = np.random.default_rng(3).standard_normal((4, 5, 2, 3)).astype(np.float32)
    T = np.random.default_rng(4).standard_normal((4, 5, 2, 3)).astype(np.float32)
    Y = minibatchpredict(net, X)  # H x W x C x N
    expected = np.mean((Y - T) ** 2)
    assert evaluate(net, X, T, "mse") == pytest.approx(expected, rel=1e-5)
    assert evaluate(net, X, T.transpose(3, 2, 0, 1), "mse", TargetDataFormats="BCSS") == \
        pytest.approx(expected, rel=1e-5)
    one = np.mean((Y[..., 0] - T[..., 0]) ** 2)  # one observation: no trailing batch dimension
    assert evaluate(net, X[..., 0], T[..., 0], "mse") == pytest.approx(one, rel=1e-5)
    with pytest.raises(ValueError, match="T has observations of size 4x5x3 but the network "
                                         "output expects 4x5x2"):
        evaluate(net, X, np.zeros((4, 5, 3, 3), np.float32), "mse")
    with pytest.raises(ValueError, match="T must be class labels or numeric targets"):
        evaluate(net, X, np.array(["a", "b", "c"]).reshape(1, 1, 1, 3).repeat(2, 0), "mse")
