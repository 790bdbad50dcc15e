"""fullyconnect, softmax, crossentropy, mse and one-hot encoding: forward against explicit
formulas, gradients against finite differences, formats, dtypes and error messages."""

import numpy as np
import pytest

import minidl as dl
from minidl.ops import loss as losses
from minidl.ops import nn
from tests.conftest import dev, host

# ---- fullyconnect ----------------------------------------------------------------------------


def _fc_reference(x, W, b):
    """MATLAB: flatten H x W x C x N column-major into (H·W·C) x N, then weights times it."""
    n = x.shape[-1]
    return W.reshape(W.shape[0], -1, order="F") @ x.reshape(-1, n, order="F") + b[:, None]


@pytest.mark.parametrize("weights_nd", [False, True], ids=["OxI", "OxHxWxC"])
def test_fullyconnect_flattens_column_major(xp, rng, weights_nd):
    x = rng.standard_normal((3, 4, 5, 2))  # H, W, C, N
    W4 = rng.standard_normal((6, 3, 4, 5))
    W = W4 if weights_nd else W4.reshape(6, -1, order="F")
    b = rng.standard_normal(6)
    Y = nn.fullyconnect(dl.dlarray(dev(xp, x), "SSCB"), dev(xp, W), dev(xp, b))
    assert Y.fmt == "CB" and Y.shape == (6, 2)
    np.testing.assert_allclose(host(Y), _fc_reference(x, W4, b), rtol=1e-12)
    # the same data stored N, H, W, C (as convolution makes it) gives the same answer
    Y2 = nn.fullyconnect(dl.dlarray(dev(xp, x.transpose(3, 0, 1, 2)), "BSSC"), dev(xp, W),
                         dev(xp, b))
    np.testing.assert_allclose(host(Y2), host(Y), rtol=1e-12)


def test_fullyconnect_keeps_time_and_handles_feature_data(xp, rng):
    x = rng.standard_normal((4, 3, 5))  # C, B, T
    W, b = rng.standard_normal((2, 4)), rng.standard_normal(2)
    Y = nn.fullyconnect(dl.dlarray(dev(xp, x), "CBT"), dl.dlarray(dev(xp, W)), dev(xp, b))
    assert Y.fmt == "CBT" and Y.shape == (2, 3, 5)
    np.testing.assert_allclose(host(Y), np.einsum("oc,cnt->ont", W, x) + b[:, None, None],
                               rtol=1e-12)
    Y1 = nn.fullyconnect(dl.dlarray(dev(xp, x[:, :, 0]), "CB"), dev(xp, W), 0.5)
    np.testing.assert_allclose(host(Y1), W @ x[:, :, 0] + 0.5, rtol=1e-12)


FC_CASES = [("SSCB", (2, 3, 2, 2), (4, 2, 3, 2)), ("CB", (5, 3), (4, 5)),
            ("SCB", (3, 2, 2), (4, 6)), ("CBT", (3, 2, 2), (4, 3))]


@pytest.mark.parametrize("fmt, xshape, wshape", FC_CASES, ids=[c[0] for c in FC_CASES])
def test_fullyconnect_gradients(xp, rng, fmt, xshape, wshape):
    X = dl.dlarray(dev(xp, rng.standard_normal(xshape)), fmt)
    W = dl.dlarray(dev(xp, rng.standard_normal(wshape)))
    b = dl.dlarray(dev(xp, rng.standard_normal((wshape[0], 1))))
    assert dl.gradcheck(nn.fullyconnect, X, W, b) < 1e-7


def test_fullyconnect_nhwc_input_gradients(xp, rng):
    X = dl.dlarray(dev(xp, rng.standard_normal((2, 3, 2, 3))), "BSSC")
    W = dl.dlarray(dev(xp, rng.standard_normal((4, 18))))
    assert dl.gradcheck(nn.fullyconnect, X, W, dl.dlarray(dev(xp, np.array(0.1)))) < 1e-7


def test_each_gradient_alone_matches_all_together(xp, rng):
    X = dl.dlarray(dev(xp, rng.standard_normal((2, 2, 3, 2))), "SSCB")
    W = dl.dlarray(dev(xp, rng.standard_normal((4, 12))))
    b = dl.dlarray(dev(xp, rng.standard_normal(4)))
    T = dl.dlarray(dev(xp, np.eye(4)[:, [1, 3]]), "CB")

    def loss(x, w, b, t):
        Y = nn.softmax(nn.fullyconnect(x, w, b))
        return losses.crossentropy(Y, t) + losses.mse(Y, t)

    args = (X, W, b, T)
    every = dl.dlfeval(lambda *a: dl.dlgradient(loss(*a), *a), *args)
    for i in range(4):
        alone = dl.dlfeval(lambda *a, i=i: dl.dlgradient(loss(*a), a[i]), *args)
        np.testing.assert_allclose(host(alone), host(every[i]), rtol=1e-12, atol=1e-12)


def test_fullyconnect_errors(xp, rng):
    X = dl.dlarray(dev(xp, rng.standard_normal((3, 4, 5, 2))), "SSCB")
    with pytest.raises(ValueError, match=r"weights \(size 6x50\) expect input size 50, but X "
                                         r"has input size 60 \(3x4x5 from its S, S, C"):
        nn.fullyconnect(X, dev(xp, np.zeros((6, 50))), dev(xp, np.zeros(6)))
    with pytest.raises(ValueError, match="bias has 5 elements but the output size"):
        nn.fullyconnect(X, dev(xp, np.zeros((6, 60))), dev(xp, np.zeros(5)))
    with pytest.raises(TypeError, match="bias must be a dlarray, a numeric array or a number"):
        nn.fullyconnect(X, dev(xp, np.zeros((6, 60))), "zeros")
    with pytest.raises(ValueError, match="weights must be an OutputSize x InputSize matrix"):
        nn.fullyconnect(X, dev(xp, np.zeros(60)), 0)
    with pytest.raises(ValueError, match="X is unformatted"):
        nn.fullyconnect(dl.dlarray(dev(xp, np.zeros((3, 4)))), dev(xp, np.zeros((2, 3))), 0)
    with pytest.raises(TypeError, match="DataFormat must be a string"):
        nn.fullyconnect(dl.dlarray(dev(xp, np.zeros((3, 4)))), dev(xp, np.zeros((2, 3))), 0,
                        DataFormat=2)
    with pytest.raises(TypeError, match="X must be a dlarray or a numeric array, got list"):
        nn.fullyconnect([1, 2], dev(xp, np.zeros((2, 3))), 0)


# ---- softmax ---------------------------------------------------------------------------------


def test_softmax_over_channels_is_stable(xp, rng):
    x = rng.standard_normal((2, 3, 4, 2)) * 3
    x[0, 0, 0, 0] = 1000.0
    Y = nn.softmax(dl.dlarray(dev(xp, x), "SSCB"))
    e = np.exp(x - x.max(axis=2, keepdims=True))
    assert Y.fmt == "SSCB"
    np.testing.assert_allclose(host(Y), e / e.sum(axis=2, keepdims=True), rtol=1e-12)
    assert np.all(np.isfinite(host(Y)))


@pytest.mark.parametrize("fmt, shape", [("CB", (4, 3)), ("SSCB", (2, 2, 3, 2)),
                                        ("SCB", (3, 4, 2))])
def test_softmax_gradient(xp, rng, fmt, shape):
    assert dl.gradcheck(nn.softmax, dl.dlarray(dev(xp, rng.standard_normal(shape)), fmt)) < 1e-7


def test_softmax_dataformat_and_missing_channel(xp, rng):
    x = rng.standard_normal((3, 4))
    np.testing.assert_allclose(host(nn.softmax(dl.dlarray(dev(xp, x)), DataFormat="BC")),
                               host(nn.softmax(dl.dlarray(dev(xp, x.T), "CB"))).T, rtol=1e-12)
    with pytest.raises(ValueError, match=r"format 'SB' with no channel \('C'\) dimension"):
        nn.softmax(dl.dlarray(dev(xp, x), "SB"))


# ---- crossentropy ----------------------------------------------------------------------------


def _probabilities(rng, shape, axis):
    p = rng.random(shape) + 0.1
    return p / p.sum(axis=axis, keepdims=True)


def _onehot(rng, K, n):
    return np.eye(K)[:, rng.integers(0, K, n)]


def test_crossentropy_single_label(xp, rng):
    y, t = _probabilities(rng, (5, 4), 0), _onehot(rng, 5, 4)
    loss = losses.crossentropy(dl.dlarray(dev(xp, y), "CB"), dl.dlarray(dev(xp, t), "CB"))
    assert loss.fmt == "" and loss.shape == ()
    np.testing.assert_allclose(float(loss), -np.sum(t * np.log(y)) / 4, rtol=1e-12)
    # sum over classes and spatial positions, divided by the number of observations
    ys = _probabilities(rng, (2, 3, 5, 4), 2)
    ts = np.moveaxis(np.eye(5)[rng.integers(0, 5, (2, 3, 4))], -1, 2)
    loss = losses.crossentropy(dl.dlarray(dev(xp, ys), "SSCB"), dev(xp, ts))
    np.testing.assert_allclose(float(loss), -np.sum(ts * np.log(ys)) / 4, rtol=1e-12)
    loss = losses.crossentropy(dl.dlarray(dev(xp, ys), "SSCB"), dev(xp, ts),
                           NormalizationFactor="all-elements")
    np.testing.assert_allclose(float(loss), -np.sum(ts * np.log(ys)) / 24, rtol=1e-12)
    loss = losses.crossentropy(dl.dlarray(dev(xp, ys), "SSCB"), dev(xp, ts),
                           "NormalizationFactor", "none")
    np.testing.assert_allclose(float(loss), -np.sum(ts * np.log(ys)), rtol=1e-12)


def test_crossentropy_multilabel(xp, rng):
    y = rng.random((3, 4)) * 0.8 + 0.1
    t = (rng.random((3, 4)) > 0.5).astype(float)
    expected = -np.sum(t * np.log(y) + (1 - t) * np.log(1 - y))
    Y, T = dl.dlarray(dev(xp, y), "CB"), dl.dlarray(dev(xp, t), "CB")
    loss = losses.crossentropy(Y, T, ClassificationMode="multilabel")
    np.testing.assert_allclose(float(loss), expected / 4, rtol=1e-12)
    loss = losses.crossentropy(Y, T, ClassificationMode="multilabel",
                           NormalizationFactor="all-elements")
    np.testing.assert_allclose(float(loss), expected / 12, rtol=1e-12)


def test_crossentropy_is_finite_where_y_is_zero(xp):
    y = np.array([[1.0, 0.0], [0.0, 1.0]], np.float32)
    t = np.array([[0.0, 1.0], [1.0, 0.0]], np.float32)
    for mode in ["single-label", "multilabel"]:
        loss = losses.crossentropy(dl.dlarray(dev(xp, y), "CB"), dev(xp, t),
                                   ClassificationMode=mode)
        assert np.isfinite(float(loss)) and loss.dtype == np.float32
        g = dl.dlfeval(lambda a, m=mode: dl.dlgradient(
            losses.crossentropy(a, dev(xp, t), ClassificationMode=m), a),
            dl.dlarray(dev(xp, y), "CB"))
        assert np.all(np.isfinite(host(g)))
    np.testing.assert_allclose(float(losses.crossentropy(dl.dlarray(dev(xp, y), "CB"),
                                                         dev(xp, t))),
                               -np.log(np.finfo(np.float32).eps), rtol=1e-6)


@pytest.mark.parametrize("mode", ["single-label", "multilabel"])
@pytest.mark.parametrize("fmt, shape", [("CB", (4, 3)), ("SCB", (2, 4, 3)),
                                        ("SSCB", (2, 1, 3, 2))])
def test_crossentropy_gradients(xp, rng, mode, fmt, shape):
    c = fmt.index("C")
    Y = dl.dlarray(dev(xp, _probabilities(rng, shape, c)), fmt)
    T = dl.dlarray(dev(xp, _probabilities(rng, shape, c)), fmt)  # soft targets: dT too
    assert dl.gradcheck(lambda y, t: losses.crossentropy(y, t, ClassificationMode=mode),
                        Y, T) < 1e-6
    logits = dl.dlarray(dev(xp, rng.standard_normal(shape)), fmt)
    assert dl.gradcheck(lambda z: losses.crossentropy(nn.softmax(z), T), logits) < 1e-6


def test_crossentropy_errors(xp, rng):
    Y = dl.dlarray(dev(xp, _probabilities(rng, (5, 4), 0)), "CB")
    with pytest.raises(ValueError, match="Y is 5x4 .* but targets are 5x3"):
        losses.crossentropy(Y, dev(xp, np.zeros((5, 3))))
    with pytest.raises(ValueError, match="targets have format 'SB' but Y has format 'CB'"):
        losses.crossentropy(Y, dl.dlarray(dev(xp, np.zeros((5, 4))), "SB"))
    with pytest.raises(TypeError, match="targets must be a dlarray or a numeric array"):
        losses.crossentropy(Y, [1, 0, 0, 0, 0])
    with pytest.raises(ValueError, match=r"Y has format 'SB' with no channel \('C'\) dim"):
        losses.crossentropy(dl.dlarray(dev(xp, np.ones((5, 4))), "SB"), dev(xp, np.ones((5, 4))))
    with pytest.raises(ValueError, match="ClassificationMode must be one of 'single-label', "
                                         "'multilabel'"):
        losses.crossentropy(Y, np.zeros((5, 4)), ClassificationMode="exclusive")
    with pytest.raises(ValueError, match="NormalizationFactor must be one of"):
        losses.crossentropy(Y, np.zeros((5, 4)), NormalizationFactor="mean")


# ---- mse -------------------------------------------------------------------------------------


def test_mse_is_half_the_mean_over_observations(xp, rng):
    y, t = rng.standard_normal((2, 3, 2, 4)), rng.standard_normal((2, 3, 2, 4))
    loss = losses.mse(dl.dlarray(dev(xp, y), "SSCB"), dl.dlarray(dev(xp, t), "SSCB"))
    assert loss.fmt == "" and loss.shape == ()
    np.testing.assert_allclose(float(loss), np.sum((y - t) ** 2) / (2 * 4), rtol=1e-12)
    loss = losses.mse(dl.dlarray(dev(xp, y.reshape(12, 4))), dev(xp, t.reshape(12, 4)),
                  DataFormat="CB")
    np.testing.assert_allclose(float(loss), np.sum((y - t) ** 2) / (2 * 4), rtol=1e-12)


@pytest.mark.parametrize("fmt, shape", [("CB", (3, 4)), ("SSCB", (2, 2, 2, 3)),
                                        ("SCB", (3, 2, 2)), ("CBT", (2, 3, 2))])
def test_mse_gradients(xp, rng, fmt, shape):
    Y = dl.dlarray(dev(xp, rng.standard_normal(shape)), fmt)
    T = dl.dlarray(dev(xp, rng.standard_normal(shape)), fmt)
    assert dl.gradcheck(losses.mse, Y, T) < 1e-7


def test_mse_errors(xp):
    zeros = lambda *shape: dev(xp, np.zeros(shape))  # noqa: E731
    with pytest.raises(ValueError, match="Y is 3x4 .* but targets are 4x3"):
        losses.mse(dl.dlarray(zeros(3, 4), "CB"), zeros(4, 3))
    with pytest.raises(ValueError, match="Y is unformatted"):
        losses.mse(dl.dlarray(zeros(3, 4)), zeros(3, 4))
    with pytest.raises(ValueError, match="DataFormat is only for unformatted input, but Y"):
        losses.mse(dl.dlarray(zeros(3, 4), "CB"), zeros(3, 4), "DataFormat", "CB")


# ---- dtypes ----------------------------------------------------------------------------------


def test_float32_in_float32_out(xp, rng):
    f32 = lambda a: dev(xp, np.asarray(a, np.float32))  # noqa: E731
    X = dl.dlarray(f32(rng.standard_normal((2, 2, 3, 4))), "SSCB")
    W64, b64 = dev(xp, rng.standard_normal((5, 12))), dev(xp, np.zeros(5))
    Y = nn.fullyconnect(X, W64, b64)
    assert Y.dtype == np.float32
    P = nn.softmax(Y)
    T = f32(np.eye(5)[:, [0, 1, 2, 3]])
    assert P.dtype == np.float32
    assert losses.crossentropy(P, dev(xp, host(T).astype(np.float64))).dtype == np.float32
    assert losses.crossentropy(P, T, ClassificationMode="multilabel").dtype == np.float32
    assert losses.mse(P, T).dtype == np.float32

    def grads(x, w, b):
        return dl.dlgradient(losses.crossentropy(nn.softmax(nn.fullyconnect(x, w, b)), T), x, w, b)

    gx, gw, gb = dl.dlfeval(grads, X, dl.dlarray(W64), dl.dlarray(f32(np.zeros(5))))
    assert (gx.dtype, gw.dtype, gb.dtype) == (np.float32, np.float64, np.float32)


@pytest.mark.parametrize("loss", ["single-label", "multilabel", "mse"])
@pytest.mark.parametrize("y_dtype, t_dtype", [(np.float32, np.float64),
                                              (np.float64, np.float32)])
def test_loss_gradients_have_each_inputs_dtype(xp, rng, loss, y_dtype, t_dtype):
    y, t = _probabilities(rng, (4, 3), 0), _probabilities(rng, (4, 3), 0)
    Y = dl.dlarray(dev(xp, y.astype(y_dtype)), "CB")
    T = dl.dlarray(dev(xp, t.astype(t_dtype)), "CB")

    def f(a, b):
        if loss == "mse":
            return losses.mse(a, b)
        return losses.crossentropy(a, b, ClassificationMode=loss)

    gY, gT = dl.dlfeval(lambda a, b: dl.dlgradient(f(a, b), a, b), Y, T)
    assert (gY.dtype, gT.dtype) == (y_dtype, t_dtype)
    assert f(Y, T).dtype == y_dtype
    if loss == "single-label":
        np.testing.assert_allclose(host(gT), -np.log(y.astype(y_dtype)) / 3, rtol=1e-6)


# ---- one-hot encoding ------------------------------------------------------------------------


def test_onehotencode_and_decode(xp):
    labels = dev(xp, np.array([3, 1, 2, 3]))
    B = nn.onehotencode(labels, 1)
    assert B.dtype == np.float32 and B.shape == (3, 4)
    np.testing.assert_array_equal(host(B), [[0, 1, 0, 0], [0, 0, 1, 0], [1, 0, 0, 1]])
    assert host(nn.onehotencode(labels, 2)).shape == (4, 3)
    np.testing.assert_array_equal(nn.onehotdecode(B, [1, 2, 3], 1), [3, 1, 2, 3])
    scores = dl.dlarray(dev(xp, np.array([[0.1, 0.7], [0.6, 0.2], [0.3, 0.1]])), "CB")
    np.testing.assert_array_equal(nn.onehotdecode(scores, ["a", "b", "c"], 1), ["b", "a"])


def test_onehot_strings_and_class_names():
    labels = np.array(["dog", "cat", "dog"])
    B = nn.onehotencode(labels, 2, ClassNames=["dog", "cat", "bird"])
    np.testing.assert_array_equal(B, [[1, 0, 0], [0, 1, 0], [1, 0, 0]])
    np.testing.assert_array_equal(nn.onehotencode(labels, 1, "ClassNames", ["cat", "dog"]),
                                  [[0, 1, 0], [1, 0, 1]])
    np.testing.assert_array_equal(nn.onehotdecode(B, ["dog", "cat", "bird"], 2), labels)
    assert nn.onehotencode(np.array([[1, 2, 1]]), 1).shape == (2, 3)  # 1xN: dim 1 becomes K
    assert nn.onehotencode(np.array([[1], [2]]), 3).shape == (2, 1, 2)
    with pytest.raises(ValueError, match="label 'fish' is not one of the class names"):
        nn.onehotencode(np.array(["dog", "fish"]), 1, ClassNames=["dog", "cat"])
    with pytest.raises(ValueError, match="featureDim 1 must be a singleton dimension"):
        nn.onehotencode(np.array([[1, 2], [2, 1]]), 1)
    with pytest.raises(ValueError, match="B has 3 classes along dimension 2 but 2 class names"):
        nn.onehotdecode(B, ["dog", "cat"], 2)
    with pytest.raises(ValueError, match="featureDim 3 is beyond the 2 dimensions of B"):
        nn.onehotdecode(B, ["dog", "cat", "bird"], 3)
    with pytest.raises(ValueError, match="featureDim must be a positive integer, got 0"):
        nn.onehotencode(labels, 0)
    with pytest.raises(ValueError, match="ClassNames must not repeat a class"):
        nn.onehotencode(labels, 1, ClassNames=["dog", "cat", "dog"])
