"""Tests for minidl.training.trainnet: the loop's semantics, its faults, its reports and its errors.

Most tests train a tiny feature MLP on 3 blobs (milliseconds per run); one trains the
documented 7-layer CNN on a small synthetic image problem.
"""

import math
import os

import numpy as np
import pytest

import minidl
from minidl.core import dlfeval, dlgradient
from minidl.layers import (
    batchNormalizationLayer,
    convolution2dLayer,
    featureInputLayer,
    fullyConnectedLayer,
    imageInputLayer,
    instanceNormalizationLayer,
    maxPooling2dLayer,
    reluLayer,
    softmaxLayer,
)
from minidl.networks.network import dlnetwork, forward
from minidl.ops.loss import crossentropy
from minidl.training import minibatchpredict
from minidl.training import testnet as evaluate
from minidl.training.options import trainingOptions
from minidl.training.trainnet import clip_gradients, trainnet
from tests.conftest import dev, host

CENTERS = np.array([[2.0, 0.0, -2.0], [0.0, 2.0, -1.0], [1.0, -1.0, 0.0], [0.0, 0.0, 1.0]])


def blobs(n=96, seed=0, labels=("a", "b", "c")):
    """n x 4 features (N x C, MATLAB's layout) around 3 centres, and n string labels."""
    rng = np.random.default_rng(seed)
    k = rng.integers(0, 3, n)
    X = (CENTERS[:, k] + 0.5 * rng.standard_normal((4, n))).astype(np.float32)
    return np.ascontiguousarray(X.T), np.asarray(labels)[k]


def mlp(hidden=8, **fc):
    return [featureInputLayer(4), fullyConnectedLayer(hidden, **fc), reluLayer(),
            fullyConnectedLayer(3, **fc), softmaxLayer()]


def quiet(solver="sgdm", **kw):
    kw.setdefault("Verbose", False)
    kw.setdefault("MiniBatchSize", 16)
    kw.setdefault("MaxEpochs", 2)
    return trainingOptions(solver, **kw)


def values(net):
    return [host(v).copy() for v in net.Learnables.Value]


def assert_same_values(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


# ---------------------------------------------------------------------------------------------
# Training works

def test_feature_classifier_learns_and_keeps_class_names():
    X, T = blobs(192)
    minidl.rng(0)
    net, info = trainnet(X, T, mlp(), "crossentropy",
                         quiet("adam", MaxEpochs=15, InitialLearnRate=0.02))
    assert list(net.ClassNames) == ["a", "b", "c"]
    Xt, Tt = blobs(96, seed=1)
    assert evaluate(net, Xt, Tt, "accuracy") > 90
    assert info.StopReason == "Max epochs completed"
    assert len(info.TrainingHistory) == 15 * (192 // 16)
    assert info.OutputNetworkIteration == len(info.TrainingHistory)
    assert info.TrainingHistory["Loss"][-1] < info.TrainingHistory["Loss"][0]


@pytest.mark.parametrize("solver", ["sgdm", "adam", "rmsprop"])
def test_each_solver_reduces_the_loss(solver):
    X, T = blobs(96)
    minidl.rng(0)
    _, info = trainnet(X, T, mlp(), "crossentropy",
                       quiet(solver, MaxEpochs=8, InitialLearnRate=0.01))
    loss = info.TrainingHistory["Loss"]
    assert np.mean(loss[-6:]) < 0.7 * np.mean(loss[:6])


def seven_layer_cnn():
    return [imageInputLayer([28, 28, 3]), convolution2dLayer(5, 20),
            instanceNormalizationLayer(), reluLayer(), maxPooling2dLayer(2, Stride=2),
            fullyConnectedLayer(10), softmaxLayer()]


def bars(n, seed):
    """28x28x3 images of class k: a bright bar at row 2k+4 in channel k % 3, plus noise."""
    rng = np.random.default_rng(seed)
    k = rng.integers(0, 10, n)
    X = rng.uniform(0, 60, (28, 28, 3, n)).astype(np.float32)
    for i, c in enumerate(k):
        X[2 * c + 4: 2 * c + 6, 4:24, c % 3, i] += 180
    return X, k


def test_augmented_datastore_augments_each_training_mini_batch():
    """trainnet asks an augmentedImageDatastore to transform every training mini-batch once
    (before any split over threads), with minidl's generator, so rng(seed) repeats the run; an
    augmenter that does nothing gives exactly the run on the plain arrays."""
    X, T = bars(40, 0)
    layers = [imageInputLayer([28, 28, 3]), convolution2dLayer(3, 4), reluLayer(),
              fullyConnectedLayer(10), softmaxLayer()]
    opts = quiet(MaxEpochs=2, MiniBatchSize=8, InitialLearnRate=1e-4, ValidationData=bars(16, 1),
                 ValidationFrequency=3, OutputNetwork="last-iteration")

    def run(augmenter):
        ds = minidl.augmentedImageDatastore([28, 28], X, T, DataAugmentation=augmenter)
        calls, augment = [], ds.augment_batch
        ds.augment_batch = lambda batch, idx: (calls.append(batch.shape), augment(batch, idx))[1]
        minidl.rng(0)
        net, _ = trainnet(ds, dlnetwork(layers), "crossentropy", opts)
        return values(net), calls

    moving = minidl.imageDataAugmenter(RandXTranslation=[-3, 3], RandRotation=[-20, 20])
    a, calls = run(moving)
    assert calls == [(28, 28, 3, 8)] * 10  # 5 mini-batches a epoch, never the validation data
    b, _ = run(moving)
    assert_same_values(a, b)
    identity, _ = run(minidl.imageDataAugmenter())
    minidl.rng(0)
    plain, _ = trainnet(X, T, dlnetwork(layers), "crossentropy", opts)
    assert_same_values(identity, values(plain))
    assert not np.allclose(a[0], identity[0])


def test_seven_layer_cnn_reaches_high_accuracy():
    X, T = bars(256, 0)
    Xv, Tv = bars(100, 1)
    minidl.rng(0)
    opts = quiet("adam", MaxEpochs=2, MiniBatchSize=32, InitialLearnRate=0.003)
    net, info = trainnet(X, T, seven_layer_cnn(), "crossentropy", opts)
    assert evaluate(net, Xv, Tv, "accuracy") >= 90
    scores = minibatchpredict(net, Xv)
    assert scores.shape == (100, 10) and scores.dtype == np.float32


@pytest.mark.parametrize("method", ["l2norm", "global-l2norm", "absolute-value"])
def test_runs_on_each_backend(xp, method):
    X, T = blobs(64)
    minidl.rng(0)
    opts = quiet("adam", MaxEpochs=3, ValidationData=(X, T), ValidationFrequency=5,
                 Metrics=["accuracy", "crossentropy", "rmse"], GradientThreshold=0.5,
                 GradientThresholdMethod=method)
    net, info = trainnet(dev(xp, X), T, mlp(), "crossentropy", opts)
    assert all(minidl.backend.array_module(v._data) is xp for v in net.Learnables.Value)
    assert all(v.dtype == np.float32 for v in net.Learnables.Value)
    assert info.StopReason == "Max epochs completed"
    assert len(info.ValidationHistory) == 4
    assert minibatchpredict(net, X).shape == (64, 3)


def test_regression_with_mse_and_n_by_k_targets():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((128, 4)).astype(np.float32)
    T = np.stack([X[:, 0] - X[:, 1], 0.5 * X[:, 2]], axis=1)  # N x 2
    layers = [featureInputLayer(4), fullyConnectedLayer(2)]
    minidl.rng(0)
    net, info = trainnet(X, T, layers, "mse", quiet("adam", MaxEpochs=40, InitialLearnRate=0.05))
    Y = minibatchpredict(net, X)
    assert Y.shape == (128, 2)
    assert np.sqrt(np.mean((Y - T) ** 2)) < 0.1
    assert evaluate(net, X, T, "rmse") < 0.1


@pytest.mark.parametrize("names, reference", [
    (("mse", "mean-squared-error", "L2LOSS"), lambda d: (d ** 2).sum() / d.shape[0]),
    (("mae", "mean-absolute-error", "l1loss"), lambda d: np.abs(d).sum() / d.shape[0]),
    (("huber",), lambda d: np.where(np.abs(d) <= 1, 0.5 * d ** 2, np.abs(d) - 0.5).sum()
     / d.shape[0]),
])
def test_regression_loss_names_and_their_aliases(names, reference):
    """Each name (any case) minimizes the same loss: the penalty of Y - T summed over the
    responses and averaged over the observations (so "mse" is not halved)."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((32, 4)).astype(np.float32)
    T = 3 * rng.standard_normal((32, 2)).astype(np.float32)
    layers = [featureInputLayer(4), fullyConnectedLayer(2)]
    opts = quiet(MaxEpochs=1, MiniBatchSize=32, InitialLearnRate=0.01)
    runs = []
    for name in names:
        minidl.rng(0)
        initial = dlnetwork(layers)
        net, info = trainnet(X, T, initial, name, opts)
        runs.append((values(net), info.TrainingHistory["Loss"][0]))
        first = reference(minibatchpredict(initial, X).astype(np.float64) - T)
        np.testing.assert_allclose(info.TrainingHistory["Loss"][0], first, rtol=1e-5)
    for other in runs[1:]:
        assert_same_values(runs[0][0], other[0])


def test_index_crossentropy_takes_labels_or_class_indices():
    X, labels = blobs(64)
    index = np.searchsorted(["a", "b", "c"], labels) + 1  # 1..3, MATLAB's numbering
    opts = quiet(MaxEpochs=1)
    minidl.rng(0)
    a, _ = trainnet(X, labels, mlp(), "crossentropy", opts)
    minidl.rng(0)
    b, _ = trainnet(X, labels, mlp(), "index-crossentropy", opts)
    minidl.rng(0)
    c, _ = trainnet(X, index.astype(np.float64), mlp(), "index-crossentropy", opts)
    minidl.rng(0)
    d, _ = trainnet(X, index.astype(np.float32)[:, None], mlp(), "index-crossentropy", opts)
    assert_same_values(values(a), values(b))
    assert_same_values(values(a), values(c))
    assert_same_values(values(a), values(d))  # an N x 1 column of indices
    assert list(c.ClassNames) == [1, 2, 3]
    with pytest.raises(ValueError, match="labels 4 are not among the classes 1, 2, 3"):
        trainnet(X, np.where(index == 3, 4, index), mlp(), "index-crossentropy", opts)


def test_image_to_image_regression_targets_in_matlab_or_named_layout():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((5, 5, 1, 32)).astype(np.float32)
    T = 2 * X + 1  # H x W x C x N, like the output
    layers = [imageInputLayer([5, 5, 1], Normalization="none"),
              convolution2dLayer(1, 1, Padding="same")]
    opts = quiet("adam", MaxEpochs=60, MiniBatchSize=32, InitialLearnRate=0.1)
    minidl.rng(0)
    a, info = trainnet(X, T, layers, "mse", opts)
    loss = info.TrainingHistory["Loss"]
    assert loss[-1] < 0.01 * loss[0]
    assert minibatchpredict(a, X).shape == (5, 5, 1, 32)
    minidl.rng(0)
    opts.TargetDataFormats = "BSSC"
    b, _ = trainnet(X, T.transpose(3, 0, 1, 2), layers, "mse", opts)
    assert_same_values(values(a), values(b))


def test_callable_and_binary_crossentropy_losses():
    X, T = blobs(64)
    minidl.rng(0)
    calls = []

    def my_loss(Y, T):
        calls.append(Y.shape)
        return crossentropy(Y, T)

    trainnet(X, T, mlp(), my_loss, quiet(MaxEpochs=1))
    assert calls == [(3, 16)] * 4
    y = (X[:, 0] > 0).astype(np.float32)  # binary targets for one sigmoid output
    layers = [featureInputLayer(4), fullyConnectedLayer(1),
              minidl.layers.functionLayer(minidl.sigmoid)]
    net, info = trainnet(X, y, layers, "binary-crossentropy",
                         quiet("adam", MaxEpochs=20, InitialLearnRate=0.05))
    assert np.mean((minibatchpredict(net, X)[:, 0] > 0.5) == y) > 0.9


def test_input_data_formats_and_datastore_give_the_same_run():
    X, T = bars(40, 0)
    layers = [imageInputLayer([28, 28, 3]), fullyConnectedLayer(10), softmaxLayer()]
    opts = quiet(MaxEpochs=1, MiniBatchSize=8)
    minidl.rng(0)
    a, _ = trainnet(X, T, layers, "crossentropy", opts)
    minidl.rng(0)
    opts.InputDataFormats = "BCSS"
    b, _ = trainnet(X.transpose(3, 2, 0, 1), T, layers, "crossentropy", opts)
    assert_same_values(values(a), values(b))

    class Store:
        def read_all(self, image_size):
            assert tuple(image_size) == (28, 28, 3)
            return X, T

    minidl.rng(0)
    opts.InputDataFormats = "auto"
    c, _ = trainnet(Store(), layers, "crossentropy", opts)
    assert_same_values(values(a), values(c))


# ---------------------------------------------------------------------------------------------
# Batch normalization statistics

def _bn_net():
    return [featureInputLayer(4), batchNormalizationLayer(Name="bn1"),
            fullyConnectedLayer(5, Name="fc"), batchNormalizationLayer(Name="bn2"), reluLayer(),
            fullyConnectedLayer(3), softmaxLayer()]


def _trained_with(statistics, X, T, batch=7, xp=np):
    minidl.rng(0)
    opts = quiet(MaxEpochs=3, MiniBatchSize=batch, BatchNormalizationStatistics=statistics)
    net, _ = trainnet(dev(xp, X), T, _bn_net(), "crossentropy", opts)
    assert all(minidl.backend.array_module(v._data) is xp for v in net.State.Value)
    return net, {(r[0], r[1]): host(r[2]) for r in net.State}


def test_population_statistics_are_those_of_the_whole_training_set(xp):
    X, T = blobs(45)
    X = X * np.float32([1, 3, 0.5, 2]) + np.float32([4, -1, 0, 2])
    net, state = _trained_with("population", X, T, xp=xp)
    # bn1 sees the data itself: its statistics are the data's mean and (1/N) variance
    np.testing.assert_allclose(state["bn1", "TrainedMean"].ravel(), X.mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(state["bn1", "TrainedVariance"].ravel(), X.var(axis=0),
                               rtol=1e-5)
    # bn2 sees fc of bn1's output, where bn1 normalizes each mini-batch of 7 (the last one of 3)
    # with that mini-batch's own statistics, as in training: merged over all 45 observations
    p = {(r[0], r[1]): host(r[2]) for r in net.Learnables}
    Z = []
    for start in range(0, 45, 7):
        Xb = X[start:start + 7].T.astype(np.float64)
        mu, var = Xb.mean(axis=1, keepdims=True), Xb.var(axis=1, keepdims=True)
        Xn = p["bn1", "Scale"] * (Xb - mu) / np.sqrt(var + 1e-5) + p["bn1", "Offset"]
        Z.append(p["fc", "Weights"] @ Xn + p["fc", "Bias"])
    Z = np.concatenate(Z, axis=1)
    np.testing.assert_allclose(state["bn2", "TrainedMean"].ravel(), Z.mean(axis=1), rtol=1e-4,
                               atol=1e-6)
    np.testing.assert_allclose(state["bn2", "TrainedVariance"].ravel(), Z.var(axis=1),
                               rtol=1e-4, atol=1e-6)
    assert all(v.dtype == np.float32 for v in state.values())


def test_auto_keeps_the_moving_estimates_as_trainnet_does():
    X, T = blobs(45)
    _, auto = _trained_with("auto", X, T)
    _, moving = _trained_with("moving", X, T)
    _, population = _trained_with("population", X, T)
    for key in auto:
        np.testing.assert_array_equal(auto[key], moving[key])
    assert not np.allclose(moving["bn1", "TrainedMean"], population["bn1", "TrainedMean"])
    np.testing.assert_allclose(population["bn1", "TrainedMean"].ravel(), X.mean(axis=0),
                               rtol=1e-5)


# ---------------------------------------------------------------------------------------------
# Mini-batches, shuffling, schedule

def _batch_log(shuffle, n=12, batch=4, epochs=2):
    """The targets' class sequence each iteration sees, via a recording loss."""
    X = np.tile(np.arange(n, dtype=np.float32)[:, None], (1, 4))
    T = np.arange(n) % 3
    seen = []

    def loss(Y, Tb):
        seen.append(tuple(np.argmax(host(Tb), axis=0)))
        return crossentropy(Y, Tb)

    minidl.rng(0)
    trainnet(X, T, mlp(), loss, quiet(MiniBatchSize=batch, MaxEpochs=epochs, Shuffle=shuffle))
    return seen


def test_shuffle_never_once_every_epoch():
    never = _batch_log("never")
    assert never[:3] == [(0, 1, 2, 0), (1, 2, 0, 1), (2, 0, 1, 2)] and never[3:] == never[:3]
    once = _batch_log("once")
    assert once[3:] == once[:3] and once != never
    every = _batch_log("every-epoch")
    assert every[3:] != every[:3]


def test_partial_batch_dropped_and_small_data_is_one_batch():
    assert len(_batch_log("never", n=10, batch=4, epochs=1)) == 2
    small = _batch_log("never", n=3, batch=4, epochs=2)
    assert small == [(0, 1, 2), (0, 1, 2)]


def test_piecewise_learn_rate_schedule():
    X, T = blobs(32)
    opts = quiet(MaxEpochs=5, LearnRateSchedule="piecewise", LearnRateDropPeriod=2,
                 LearnRateDropFactor=0.5, InitialLearnRate=0.1)
    _, info = trainnet(X, T, mlp(), "crossentropy", opts)
    np.testing.assert_allclose(info.TrainingHistory["LearnRate"],
                               np.repeat([0.1, 0.1, 0.05, 0.05, 0.025], 2))
    np.testing.assert_array_equal(info.TrainingHistory["Epoch"], np.repeat(np.arange(1, 6), 2))


# ---------------------------------------------------------------------------------------------
# One update by hand: L2 factors, learn-rate factors, clipping, solver

@pytest.mark.parametrize("method", ["l2norm", "global-l2norm", "absolute-value"])
def test_one_iteration_equals_the_documented_update(method):
    X, T = blobs(16)
    fc = dict(WeightL2Factor=2.0, BiasL2Factor=0.5, WeightLearnRateFactor=0.5,
              BiasLearnRateFactor=3.0)
    minidl.rng(0)
    net0 = dlnetwork(mlp(**fc))
    opts = quiet(MaxEpochs=1, MiniBatchSize=16, Shuffle="never", L2Regularization=0.01,
                 GradientThreshold=0.05, GradientThresholdMethod=method, InitialLearnRate=0.2,
                 ResetInputNormalization=False)
    trained, _ = trainnet(X, T, net0, "crossentropy", opts)

    onehot = (T[None, :] == np.array(["a", "b", "c"])[:, None]).astype(np.float32)

    def model_loss(net):
        Y, _ = forward(net, minidl.dlarray(X, "BC"))
        loss = crossentropy(Y, minidl.dlarray(onehot, "CB"))
        return dlgradient(loss, net.Learnables)

    grads = [host(g) for g in dlfeval(model_loss, net0).Value]
    params = [host(p) for p in net0.Learnables.Value]
    factors = net0.learnable_factors()
    grads = [g + 0.01 * l2 * w for g, w, (_, l2) in zip(grads, params, factors)]
    if method == "l2norm":
        grads = [g * min(1, 0.05 / np.linalg.norm(g)) for g in grads]
    elif method == "global-l2norm":
        total = math.sqrt(sum(float(np.sum(g * g)) for g in grads))
        grads = [g * min(1, 0.05 / total) for g in grads]
    else:
        grads = [np.clip(g, -0.05, 0.05) for g in grads]
    expected = [w - 0.2 * f * g for w, g, (f, _) in zip(params, grads, factors)]
    for got, want in zip(values(trained), expected):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)
    assert_same_values(values(net0), params)  # the caller's network is unchanged


def test_clip_gradients_three_methods():
    g = [np.float32([3.0, 4.0]), np.float32([0.0, 0.5])]
    a = clip_gradients(g, 1.0, "l2norm")
    np.testing.assert_allclose(a[0], [0.6, 0.8], rtol=1e-6)
    np.testing.assert_allclose(a[1], [0.0, 0.5])
    b = clip_gradients(g, 1.0, "global-l2norm")
    total = math.sqrt(25.25)
    np.testing.assert_allclose(b[0], np.float32([3, 4]) / total, rtol=1e-6)
    c = clip_gradients(g, 0.4, "absolute-value")
    np.testing.assert_allclose(c[0], [0.4, 0.4])
    np.testing.assert_allclose(c[1], [0.0, 0.4])
    assert clip_gradients(g, math.inf, "l2norm") is g
    assert all(x.dtype == np.float32 for x in a + b + c)


def test_zero_learn_rate_factor_freezes_a_layer():
    X, T = blobs(32)
    minidl.rng(0)
    layers = [featureInputLayer(4),
              fullyConnectedLayer(8, WeightLearnRateFactor=0, BiasLearnRateFactor=0),
              reluLayer(), fullyConnectedLayer(3), softmaxLayer()]
    net0 = dlnetwork(layers)
    net, _ = trainnet(X, T, net0, "crossentropy", quiet("adam", MaxEpochs=3))
    before, after = values(net0), values(net)
    assert_same_values(before[:2], after[:2])
    assert not np.array_equal(before[2], after[2])


# ---------------------------------------------------------------------------------------------
# Validation, early stopping, output network

def test_validation_patience_stops_training():
    X, T = blobs(64)
    frozen = dict(WeightLearnRateFactor=0, BiasLearnRateFactor=0)
    opts = quiet(MaxEpochs=50, ValidationData=(X, T), ValidationFrequency=2,
                 ValidationPatience=3)
    _, info = trainnet(X, T, mlp(**frozen), "crossentropy", opts)
    assert info.StopReason == "Met validation criterion"
    np.testing.assert_array_equal(info.ValidationHistory["Iteration"], [0, 2, 4, 6])
    assert len(info.TrainingHistory) == 6
    assert info.OutputNetworkIteration == 0


def test_best_validation_network_is_returned():
    X, T = blobs(96)
    flipped = np.array(["b", "c", "a"])[np.searchsorted(["a", "b", "c"], T)]
    opts = quiet("adam", MaxEpochs=6, InitialLearnRate=0.02, ValidationData=(X, flipped),
                 ValidationFrequency=6)
    minidl.rng(0)
    net0 = dlnetwork(mlp())
    best, info = trainnet(X, T, net0, "crossentropy", opts)
    hist = info.ValidationHistory
    assert info.OutputNetworkIteration == hist["Iteration"][np.argmin(hist["Loss"])]
    assert info.OutputNetworkIteration == 0  # validation labels disagree with training
    assert_same_values(values(best), values(net0))
    opts.OutputNetwork = "last-iteration"
    last, info = trainnet(X, T, net0, "crossentropy", opts)
    assert info.OutputNetworkIteration == len(info.TrainingHistory) == 36
    assert not np.array_equal(values(last)[0], values(net0)[0])


def test_validation_metrics_in_histories():
    X, T = blobs(64)
    opts = quiet(MaxEpochs=2, ValidationData=(X[:20], T[:20]), ValidationFrequency=3,
                 Metrics=["accuracy", "rmse"])
    _, info = trainnet(X, T, mlp(), "crossentropy", opts)
    assert info.TrainingHistory.VariableNames == ["Iteration", "Epoch", "LearnRate", "Loss",
                                                  "Accuracy", "RMSE"]
    assert info.ValidationHistory.VariableNames == ["Iteration", "Loss", "Accuracy", "RMSE"]
    np.testing.assert_array_equal(info.ValidationHistory["Iteration"], [0, 3, 6, 8])
    acc = info.ValidationHistory["Accuracy"]
    assert np.all((acc >= 0) & (acc <= 100))
    assert np.all(np.isin(np.round(acc * 20 / 100, 6), np.arange(21)))


# ---------------------------------------------------------------------------------------------
# Faults: NaN, Ctrl-C, OutputFcn

def _stop_at(k):
    return lambda info: info["State"] == "iteration" and info["Iteration"] == k


def _run(loss="crossentropy", **kw):
    X, T = blobs(64)
    minidl.rng(0)
    return trainnet(X, T, mlp(), loss, quiet("adam", MaxEpochs=3, **kw))


def test_output_fcn_stops_and_sees_each_state():
    seen = []

    def fcn(info):
        seen.append((info["State"], info["Iteration"]))
        return info["State"] == "iteration" and info["Iteration"] == 3

    net, info = _run(OutputFcn=fcn)
    assert info.StopReason == "Stopped by OutputFcn"
    assert len(info.TrainingHistory) == 3 and info.OutputNetworkIteration == 3
    assert seen == [("start", 0), ("iteration", 1), ("iteration", 2), ("iteration", 3),
                    ("done", 3)]


def test_nan_loss_stops_and_returns_the_last_good_network():
    calls = [0]

    def loss(Y, T):
        calls[0] += 1
        value = crossentropy(Y, T)
        return value * math.nan if calls[0] == 5 else value

    net, info = _run(loss)
    assert info.StopReason == "Training loss is NaN"
    # iteration 5's NaN came from the network after 4 updates: the last network whose loss was
    # finite is the one after 3 (issue 18)
    assert info.OutputNetworkIteration == 3
    assert math.isnan(info.TrainingHistory["Loss"][-1]) and len(info.TrainingHistory) == 5
    good, _ = _run(OutputFcn=_stop_at(3))
    assert_same_values(values(net), values(good))


def test_ctrl_c_in_output_fcn_or_loss_stops_cleanly():
    def interrupt(info):
        if info["Iteration"] == 3:
            raise KeyboardInterrupt

    net, info = _run(OutputFcn=interrupt)
    assert info.StopReason == "Stopped manually" and info.OutputNetworkIteration == 3
    good, _ = _run(OutputFcn=_stop_at(3))
    assert_same_values(values(net), values(good))

    calls = [0]

    def loss(Y, T):
        calls[0] += 1
        if calls[0] == 3:
            raise KeyboardInterrupt
        return crossentropy(Y, T)

    net, info = _run(loss)
    assert info.StopReason == "Stopped manually" and info.OutputNetworkIteration == 2
    good, _ = _run(OutputFcn=_stop_at(2))
    assert_same_values(values(net), values(good))


def test_two_runs_with_the_same_seed_are_identical():
    a, _ = _run(Shuffle="every-epoch")
    b, _ = _run(Shuffle="every-epoch")
    assert_same_values(values(a), values(b))


# ---------------------------------------------------------------------------------------------
# Reports: verbose table, plot, checkpoints

def test_verbose_table_layout(capsys):
    X, T = blobs(64)
    opts = trainingOptions("sgdm", MaxEpochs=3, MiniBatchSize=16, VerboseFrequency=5,
                           ValidationData=(X, T), ValidationFrequency=4)
    trainnet(X, T, mlp(), "crossentropy", opts)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == ("    Iteration    Epoch    TimeElapsed    LearnRate    TrainingLoss"
                        "    ValidationLoss")
    assert lines[1] == ("    _________    _____    ___________    _________    ____________"
                        "    ______________")
    rows = lines[2:-1]
    assert [int(r.split()[0]) for r in rows] == [0, 1, 4, 5, 8, 10, 12]
    assert all(len(r) == len(lines[0]) for r in rows)
    assert rows[0][:50] == "            0        0       00:00:00         0.01"
    assert rows[0][50:66].strip() == "" and rows[0][66:].strip()  # iteration 0: validation only
    assert rows[2][66:].strip() and not rows[3][66:].strip()  # 4 validates, 5 does not
    assert lines[-1] == "Training stopped: Max epochs completed"


def test_progress_plot_png_is_written(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    _, info = _run(Plots="training-progress", Metrics="accuracy", Verbose=True)
    path = os.path.join(str(tmp_path), "training-progress.png")
    assert info.PlotFile == path and os.path.getsize(path) > 1000
    assert f"Training progress plot saved to {path}" in capsys.readouterr().out
    _run(Plots="training-progress", Metrics="accuracy")  # Verbose=false: quiet (issue 18)
    assert capsys.readouterr().out == ""


def test_checkpoints_load_and_predict_like_the_network(tmp_path):
    from minidl.networks.io import load

    folder = tmp_path / "checkpoints"
    X, T = blobs(64)
    minidl.rng(0)
    opts = quiet(MaxEpochs=2, CheckpointPath=str(folder), Plots="training-progress")
    net, info = trainnet(X, T, mlp(), "crossentropy", opts)
    files = sorted(os.listdir(folder))
    assert "training-progress.png" in files
    names = [f for f in files if f.startswith("net_checkpoint__")]
    assert [n.split("__")[1] for n in names] == ["4", "8"]
    assert all(len(n) == len("net_checkpoint__4__2024_01_31__12_00_00.npz") for n in names)
    last = load(str(folder / [n for n in names if n.split("__")[1] == "8"][0]))
    np.testing.assert_allclose(minibatchpredict(last, X), minibatchpredict(net, X), rtol=1e-6)
    opts = quiet(MaxEpochs=1, CheckpointPath=str(tmp_path / "it"), CheckpointFrequency=3,
                 CheckpointFrequencyUnit="iteration")
    trainnet(X, T, mlp(), "crossentropy", opts)
    assert len(os.listdir(tmp_path / "it")) == 1


# ---------------------------------------------------------------------------------------------
# Bad input

def test_errors_name_what_is_wrong(monkeypatch):
    X, T = blobs(32)
    opts = quiet()
    with pytest.raises(ValueError, match=r"observations of size 5 but the input layer "
                                         r"\(FeatureInputLayer\) expects 4"):
        trainnet(np.zeros((32, 5), np.float32), T, mlp(), "crossentropy", opts)
    with pytest.raises(ValueError, match="32 observations but 31 labels"):
        trainnet(X, T[:31], mlp(), "crossentropy", opts)
    with pytest.raises(ValueError, match=r'unknown loss function "hinge": valid names are '
                                         r'"crossentropy", "index-crossentropy", '
                                         r'"binary-crossentropy", "mse", "mean-squared-error"'):
        trainnet(X, T, mlp(), "hinge", opts)
    with pytest.raises(ValueError, match="X is empty"):
        trainnet(np.zeros((0, 4), np.float32), T[:0], mlp(), "crossentropy", opts)
    with pytest.raises(ValueError, match="outputs 3 values per observation .* 4 classes"):
        trainnet(X, np.arange(32) % 4, mlp(), "crossentropy", opts)
    with pytest.raises(TypeError, match="options must come from trainingOptions"):
        trainnet(X, T, mlp(), "crossentropy", {"MaxEpochs": 1})
    with pytest.raises(ValueError, match='"best-validation" needs ValidationData'):
        trainnet(X, T, mlp(), "crossentropy", quiet(OutputNetwork="best-validation"))
    with pytest.raises(ValueError, match="trainnet: the ValidationData: labels 'd' are not "
                                         "among the classes 'a', 'b', 'c'"):
        trainnet(X, T, mlp(), "crossentropy", quiet(ValidationData=(X[:2], ["a", "d"])))
    with pytest.raises(ValueError, match=r"the targets of the training data are missing"):
        trainnet(X, None, mlp(), "crossentropy", opts)
    with pytest.raises(TypeError, match="training data: the labels mix int and str"):
        trainnet(X, np.array([1, "a"] * 16, dtype=object), mlp(), "crossentropy", opts)
    with pytest.raises(TypeError, match="must return a scalar dlarray, got a dlarray of size"):
        trainnet(X, T, mlp(), lambda Y, T: Y, opts)
    monkeypatch.setattr(minidl.training.evaluate, "canUseGPU", lambda: False)
    with pytest.raises(RuntimeError, match='ExecutionEnvironment is "gpu" but no GPU'):
        trainnet(X, T, mlp(), "crossentropy", quiet(ExecutionEnvironment="gpu"))


def test_validation_rmse_is_the_rmse_of_the_whole_validation_set():
    rng = np.random.default_rng(5)
    X = rng.standard_normal((40, 3)).astype(np.float32)
    T = (X @ np.float32([[1], [2], [3]]))
    T[:5] *= 20  # uneven errors across the validation mini-batches
    minidl.rng(0)
    opts = quiet(MaxEpochs=1, MiniBatchSize=5, InitialLearnRate=1e-3, Metrics="rmse",
                 ValidationData=(X, T), OutputNetwork="last-iteration")
    net, info = trainnet(X, T, [featureInputLayer(3), fullyConnectedLayer(1)], "mse", opts)
    assert info.ValidationHistory["RMSE"][-1] == pytest.approx(evaluate(net, X, T, "rmse"),
                                                               rel=1e-5)


def test_an_uninitialized_network_is_initialized_by_trainnet():
    X, T = blobs(32)
    net0 = dlnetwork(mlp(), Initialize=False)
    net, _ = trainnet(X, T, net0, "crossentropy", quiet())
    assert net.Initialized and not net0.Initialized
    with pytest.raises(ValueError, match="the network is not initialized"):
        minibatchpredict(net0, X)


def test_reset_input_normalization_false_keeps_given_statistics_and_fills_empty_ones():
    X, T = blobs(32)
    X = X * 3 + 5
    layers = [featureInputLayer(4, Normalization="zscore"), fullyConnectedLayer(3),
              softmaxLayer()]
    net, _ = trainnet(X, T, layers, "crossentropy", quiet(ResetInputNormalization=False))
    first = net.Layers[0]
    np.testing.assert_allclose(first.Mean.ravel(), X.mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(first.StandardDeviation.ravel(), X.std(axis=0), rtol=1e-5)
    layers[0] = featureInputLayer(4, Normalization="zscore", Mean=np.zeros(4),
                                  StandardDeviation=np.ones(4))
    net, _ = trainnet(X, T, layers, "crossentropy", quiet(ResetInputNormalization=False))
    np.testing.assert_array_equal(net.Layers[0].Mean.ravel(), np.zeros(4))
