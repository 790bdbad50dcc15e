"""Issue 18, training never returns broken weights: trainnet checks the step, not only the loss.

A step that would make any learnable or state non-finite stops the run with a StopReason that
says so, and the network returned is the last one whose weights are all finite; a run that
stops on an Inf (or NaN) loss returns the last network whose loss was finite.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import minidl as dl


def _finite(net) -> bool:
    values = list(net.Learnables.Value) + list(net.State.Value)
    return all(bool(np.isfinite(dl.gather(v.extractdata())).all()) for v in values
               if v is not None)


def _classification():
    rs = np.random.default_rng(0)
    X = rs.random((64, 3)).astype("float32")
    T = np.array(["a", "b"] * 32)
    layers = [dl.featureInputLayer(3), dl.fullyConnectedLayer(2), dl.softmaxLayer()]
    return X, T, layers


def _train(*args):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the overflow is the point here
        return dl.trainnet(*args)


@pytest.mark.parametrize("l2", [1e30, 1e38])
def test_huge_l2_regularization_stops_with_finite_weights(l2):
    X, T, layers = _classification()
    opts = dl.trainingOptions("sgdm", L2Regularization=l2, MaxEpochs=3, MiniBatchSize=16,
                              Verbose=False)
    net, info = _train(X, T, layers, "crossentropy", opts)
    assert _finite(net), "trainnet returned non-finite learnables"
    assert "finite" in info.StopReason.lower() or "nan" in info.StopReason.lower()


def test_finite_loss_with_nan_gradient_stops_before_the_update():
    """sqrt(relu(Y - 1)) is 0 (a finite loss) while its gradient is 0/0 = NaN: the update must
    not be applied; the run stops saying the learnables would not be finite."""
    X, T, layers = _classification()
    opts = dl.trainingOptions("sgdm", MaxEpochs=1, MiniBatchSize=16, Verbose=False)

    def loss(Y, T):
        return dl.mse(dl.sqrt(dl.relu(Y - 1.5)), T * 0)

    net, info = _train(X, T, layers, loss, opts)
    assert _finite(net)
    assert info.OutputNetworkIteration == 0
    assert np.isfinite(info.TrainingHistory.Loss).all(), "a finite loss was recorded as such"
    assert "not finite" in info.StopReason.lower() or "non-finite" in info.StopReason.lower()


def test_inf_loss_returns_the_last_network_with_a_finite_loss():
    rs = np.random.default_rng(1)
    X = rs.random((64, 3)).astype("float32") * 10
    T = rs.random((64, 1)).astype("float32")
    layers = [dl.featureInputLayer(3), dl.fullyConnectedLayer(1)]
    opts = dl.trainingOptions("sgdm", InitialLearnRate=10, MaxEpochs=50, MiniBatchSize=16,
                              Shuffle="never", Verbose=False)
    net, info = _train(X, T, layers, "mse", opts)
    assert info.StopReason == "Training loss is Inf"
    losses = info.TrainingHistory.Loss
    stop = len(losses)  # the iteration whose loss was Inf
    assert not np.isfinite(losses[-1]) and np.isfinite(losses[:-1]).all()
    # iteration stop computed its loss with the network after stop - 1 updates (the one that
    # produced Inf); the last network whose loss was finite is the one after stop - 2 updates
    assert info.OutputNetworkIteration == stop - 2
    rows = slice(16 * ((stop - 2) % 4), 16 * ((stop - 2) % 4) + 16)  # iteration stop - 1's
    Y = dl.extractdata(dl.predict(net, X[rows]))
    loss = float(np.sum((Y.T - T[rows]) ** 2) / 16)
    assert np.isfinite(loss)
    assert loss == pytest.approx(losses[-2], rel=1e-3)
