"""l1loss, l2loss, huber and indexcrossentropy: forward values against float64 NumPy formulas,
normalization, reduction, weights and masks, gradients against finite differences, dtypes,
Name-Value pairs and error messages (the API of minidl.ops.loss)."""

import importlib
import re

import numpy as np
import pytest

import minidl as dl
from tests.conftest import dev, host

REGRESSION = ["l1loss", "l2loss", "huber"]


def _penalty(name, y, t, delta=1.0):
    """The elementwise penalty of d = y - t, written out in float64."""
    d = np.asarray(y, np.float64) - np.asarray(t, np.float64)
    a = np.abs(d)
    if name == "l1loss":
        return a
    if name == "l2loss":
        return d * d
    return np.where(a <= delta, 0.5 * d * d, delta * (a - 0.5 * delta))


def _pair(rng, shape, delta=1.0):
    """Y, T with |Y - T| alternately in [0.1, 0.8]·delta and [1.25, 2.5]·delta: every array has
    differences on both sides of delta, and none near 0 or delta (the kinks)."""
    t = rng.standard_normal(shape)
    small = np.arange(int(np.prod(shape))).reshape(shape) % 2 == 0
    mag = np.where(small, rng.uniform(0.1, 0.8, shape), rng.uniform(1.25, 2.5, shape)) * delta
    return t + rng.choice([-1.0, 1.0], shape) * mag, t


def _probabilities(rng, shape, axis):
    p = rng.random(shape) + 0.1
    return p / p.sum(axis=axis, keepdims=True)


def _has(*fragments):
    """A pattern matching a message that contains every fragment (any order, any case)."""
    return "(?is)" + "".join(f"(?=.*{re.escape(f)})" for f in fragments)


def _n_obs(fmt, shape):
    return shape[fmt.index("B")] if "B" in fmt else 1


# ---- regression losses: forward --------------------------------------------------------------


def test_exported_from_ops_loss():
    """The losses live in minidl.ops.loss and are exported as minidl.<name>."""
    loss = importlib.import_module("minidl.ops.loss")
    for name in REGRESSION + ["indexcrossentropy"]:
        assert getattr(loss, name) is getattr(dl, name)


@pytest.mark.parametrize("name", REGRESSION)
@pytest.mark.parametrize("fmt, shape", [("CB", (3, 4)), ("SSCB", (2, 3, 2, 4)),
                                        ("CBT", (2, 4, 3)), ("SC", (3, 2))])
def test_regression_sum_and_normalization(xp, rng, name, fmt, shape):
    """Reduction "sum": an unformatted 0-d loss = Σ penalty / factor, for every factor
    (batch-size is the default; it is 1 when Y has no B); targets as dlarray or numeric."""
    y, t = _pair(rng, shape)
    f, total, n = getattr(dl, name), _penalty(name, y, t).sum(), _n_obs(fmt, shape)
    Y = dl.dlarray(dev(xp, y), fmt)
    for targets in (dl.dlarray(dev(xp, t), fmt), dev(xp, t)):
        loss = f(Y, targets)
        assert loss.fmt == "" and loss.shape == () and loss.dtype == np.float64
        np.testing.assert_allclose(float(loss), total / n, rtol=1e-12)
    for norm, div in [("batch-size", n), ("all-elements", y.size), ("none", 1)]:
        loss = f(Y, dev(xp, t), NormalizationFactor=norm)
        np.testing.assert_allclose(float(loss), total / div, rtol=1e-12)


@pytest.mark.parametrize("name", REGRESSION)
@pytest.mark.parametrize("data_format, shape", [("CB", (3, 5)), ("BC", (5, 3)),
                                                ("SCB", (2, 3, 5))])
def test_regression_unformatted_with_dataformat(xp, rng, name, data_format, shape):
    """Unformatted/numeric Y labelled by DataFormat (as laid out): N = size of its B axis;
    Reduction "none" comes back unformatted in Y's own layout."""
    y, t = _pair(rng, shape)
    f, pen = getattr(dl, name), _penalty(name, y, t)
    for Y in (dl.dlarray(dev(xp, y)), dev(xp, y)):
        loss = f(Y, dev(xp, t), DataFormat=data_format)
        np.testing.assert_allclose(float(loss), pen.sum() / 5, rtol=1e-12)
    loss = f(dl.dlarray(dev(xp, y)), dev(xp, t), DataFormat=data_format,
             NormalizationFactor="all-elements")
    np.testing.assert_allclose(float(loss), pen.sum() / pen.size, rtol=1e-12)
    none = f(dl.dlarray(dev(xp, y)), dev(xp, t), DataFormat=data_format, Reduction="none")
    assert none.fmt == "" and none.shape == shape
    np.testing.assert_allclose(host(none), pen, rtol=1e-12)


@pytest.mark.parametrize("name", REGRESSION)
def test_regression_reduction_none(xp, rng, name):
    """Reduction "none": the elementwise penalties, undivided whatever the NormalizationFactor,
    with Y's size and format."""
    y, t = _pair(rng, (2, 3, 2, 4))
    f, pen = getattr(dl, name), _penalty(name, y, t)
    Y = dl.dlarray(dev(xp, y), "SSCB")
    for norm in ("batch-size", "all-elements", "none"):
        out = f(Y, dl.dlarray(dev(xp, t), "SSCB"), Reduction="none", NormalizationFactor=norm)
        assert out.fmt == "SSCB" and out.shape == (2, 3, 2, 4) and out.dtype == np.float64
        np.testing.assert_allclose(host(out), pen, rtol=1e-12)
    # a "BC" dlarray is stored canonically as "CB": so is the result
    out = f(dl.dlarray(dev(xp, y[0, 0].T), "BC"), dev(xp, t[0, 0]), Reduction="none")
    assert out.fmt == "CB" and out.shape == (2, 4)
    np.testing.assert_allclose(host(out), pen[0, 0], rtol=1e-12)


@pytest.mark.parametrize("name", REGRESSION)
def test_regression_weights(xp, rng, name):
    """Weights as a scalar, Y-size array, formatted "C"/"B"/"CB"/"SSCB" dlarrays and unformatted
    arrays with WeightsFormat multiply each element's penalty (sum and "none")."""
    shape = (2, 3, 2, 4)  # S S C B
    y, t = _pair(rng, shape)
    f, pen = getattr(dl, name), _penalty(name, y, t)
    Y, T = dl.dlarray(dev(xp, y), "SSCB"), dev(xp, t)
    wc, wb, wcb, wfull = rng.random(2), rng.random(4), rng.random((2, 4)), rng.random(shape)
    cases = [
        (0.5, {}, 0.5),
        (dev(xp, np.array(0.5)), {}, 0.5),
        (dev(xp, wfull), {}, wfull),
        (dl.dlarray(dev(xp, wfull), "SSCB"), {}, wfull),
        (dl.dlarray(dev(xp, wc), "C"), {}, wc[:, None]),
        (dl.dlarray(dev(xp, wb), "B"), {}, wb),
        (dl.dlarray(dev(xp, wcb), "CB"), {}, wcb),
        (dl.dlarray(dev(xp, wc.reshape(1, 1, 2, 1)), "SSCB"), {}, wc[:, None]),
        (dev(xp, wc), {"WeightsFormat": "C"}, wc[:, None]),
        (dev(xp, wb), {"WeightsFormat": "B"}, wb),
        (dev(xp, wcb), {"WeightsFormat": "CB"}, wcb),
        (dl.dlarray(dev(xp, wb)), {"WeightsFormat": "B"}, wb),
        (dev(xp, wcb.T.copy()), {"WeightsFormat": "BC"}, wcb),
    ]
    for k, (w, opts, w_ref) in enumerate(cases):
        expected = pen * w_ref
        loss = f(Y, T, w, **opts)
        np.testing.assert_allclose(float(loss), expected.sum() / 4, rtol=1e-12, err_msg=f"case {k}")
        out = f(Y, T, w, Reduction="none", **opts)
        assert out.shape == shape and out.fmt == "SSCB"
        np.testing.assert_allclose(host(out), expected, rtol=1e-12, err_msg=f"case {k}")


@pytest.mark.parametrize("name", REGRESSION)
def test_regression_mask(xp, rng, name):
    """Mask (logical or 0/1, Y-size or per-observation "B") zeroes elements; with weights too."""
    shape = (2, 3, 2, 4)
    y, t = _pair(rng, shape)
    f, pen = getattr(dl, name), _penalty(name, y, t)
    Y, T = dl.dlarray(dev(xp, y), "SSCB"), dev(xp, t)
    m = rng.random(shape) > 0.4
    for mask in (dev(xp, m), dev(xp, m.astype(np.float64)), dl.dlarray(dev(xp, m * 1.0), "SSCB")):
        np.testing.assert_allclose(float(f(Y, T, Mask=mask)), (pen * m).sum() / 4, rtol=1e-12)
    mb = np.array([1.0, 0.0, 1.0, 1.0])
    loss = f(Y, T, Mask=dl.dlarray(dev(xp, mb), "B"))
    np.testing.assert_allclose(float(loss), (pen * mb).sum() / 4, rtol=1e-12)
    wc = rng.random(2)
    W = dl.dlarray(dev(xp, wc), "C")
    expected = pen * wc[:, None] * m
    np.testing.assert_allclose(float(f(Y, T, W, Mask=dev(xp, m))), expected.sum() / 4, rtol=1e-12)
    out = f(Y, T, W, Mask=dev(xp, m), Reduction="none")
    assert out.fmt == "SSCB"
    np.testing.assert_allclose(host(out), expected, rtol=1e-12)


@pytest.mark.parametrize("delta", [1, 0.5])
def test_huber_transition_point(xp, delta):
    """huber: 0.5 d² inside |d| <= delta, delta (|d| - delta/2) outside, both sides checked;
    TransitionPoint defaults to 1."""
    d = np.array([-3.0, -1.2, -0.9, -0.3, 0.0, 0.2, 0.45, 0.6, 0.95, 1.1, 2.5, 4.0])
    t = np.linspace(-1.0, 1.0, 12)
    y = (t + d).reshape(3, 4)
    t = t.reshape(3, 4)
    dd = np.abs(y - t)
    assert (dd < delta).any() and (dd > delta).any()
    expected = np.where(dd <= delta, 0.5 * dd**2, delta * (dd - 0.5 * delta))
    Y, T = dl.dlarray(dev(xp, y), "CB"), dl.dlarray(dev(xp, t), "CB")
    out = dl.huber(Y, T, TransitionPoint=delta, Reduction="none")
    np.testing.assert_allclose(host(out), expected, rtol=1e-12, atol=1e-15)
    loss = dl.huber(Y, T, TransitionPoint=delta)
    np.testing.assert_allclose(float(loss), expected.sum() / 4, rtol=1e-12)
    if delta == 1:
        np.testing.assert_allclose(float(dl.huber(Y, T)), float(loss), rtol=1e-15)
    else:  # |d| = 4 > 0.5: 0.5 (4 - 0.25) = 1.875; |d| = 0.2: 0.02
        np.testing.assert_allclose(host(out).ravel()[[5, 11]], [0.02, 1.875], rtol=1e-9)


# ---- regression losses: gradients and dtypes -------------------------------------------------


@pytest.mark.parametrize("name", REGRESSION)
@pytest.mark.parametrize("fmt, shape", [("CB", (3, 4)), ("SSCB", (2, 2, 2, 3))])
def test_regression_gradients(xp, rng, name, fmt, shape):
    """dL/dY and dL/dT against finite differences: plain, with weights and Mask, for "sum" with
    two factors and for "none"; unformatted Y + DataFormat; huber with TransitionPoint 0.5."""
    f = getattr(dl, name)
    y, t = _pair(rng, shape)
    Y, T = dl.dlarray(dev(xp, y), fmt), dl.dlarray(dev(xp, t), fmt)
    assert dl.gradcheck(f, Y, T) < 1e-6
    W = dl.dlarray(dev(xp, rng.random(shape[fmt.index("C")]) + 0.5), "C")
    M = dev(xp, (rng.random(shape) > 0.3).astype(np.float64))
    for opts in ({}, {"NormalizationFactor": "all-elements"}, {"Reduction": "none"}):
        assert dl.gradcheck(lambda a, b, o=opts: f(a, b, W, Mask=M, **o), Y, T) < 1e-6
    rows = lambda a: dl.dlarray(dev(xp, a.reshape(-1, shape[-1]).T))  # noqa: E731  (B first)
    Yu, Tu = rows(y), rows(t)
    assert dl.gradcheck(lambda a, b: f(a, b, DataFormat="BC"), Yu, Tu) < 1e-6
    if name == "huber":
        y, t = _pair(rng, shape, delta=0.5)
        Y, T = dl.dlarray(dev(xp, y), fmt), dl.dlarray(dev(xp, t), fmt)
        for red in ("sum", "none"):
            assert dl.gradcheck(lambda a, b, r=red: dl.huber(a, b, TransitionPoint=0.5,
                                                             Reduction=r), Y, T) < 1e-6


@pytest.mark.parametrize("name", REGRESSION)
def test_regression_float32(xp, rng, name):
    """float32 Y and T give a float32 loss (even with float64 weights) and float32 gradients."""
    y, t = (a.astype(np.float32) for a in _pair(rng, (3, 4)))
    f = getattr(dl, name)
    Y, T = dl.dlarray(dev(xp, y), "CB"), dl.dlarray(dev(xp, t), "CB")
    loss = f(Y, T)
    assert loss.dtype == np.float32
    np.testing.assert_allclose(float(loss), _penalty(name, y, t).sum() / 4, rtol=1e-5)
    assert f(Y, T, NormalizationFactor="all-elements").dtype == np.float32
    assert f(Y, T, dev(xp, rng.random((3, 4))), Reduction="none").dtype == np.float32
    assert f(Y, T, dl.dlarray(dev(xp, rng.random(3)), "C")).dtype == np.float32
    mask = dev(xp, np.ones((3, 4), bool))
    gY, gT = dl.dlfeval(lambda a, b: dl.dlgradient(f(a, b, 2.0, Mask=mask), a, b), Y, T)
    assert gY.dtype == np.float32 and gT.dtype == np.float32


# ---- indexcrossentropy -----------------------------------------------------------------------


def _index_case(rng, fmt, shape):
    """Probabilities Y, indices 1..K of Y's size without C, and -log Y[target] (C of size 1)."""
    c = fmt.index("C")
    y = _probabilities(rng, shape, c)
    idx = rng.integers(1, shape[c] + 1, shape[:c] + shape[c + 1:])
    elem = -np.log(np.take_along_axis(y, np.expand_dims(idx - 1, c), axis=c))
    return y, idx, elem


def test_indexcrossentropy_doc_example(xp, rng):
    """MATLAB's doc shape: 5 classes x 7 observations, T = [5 4 2 5 1 3 2]: -mean(log Y(T_i, i)),
    for targets as int/float vectors, a 1x7 array, an unformatted dlarray, and DataFormat Y."""
    y = _probabilities(rng, (5, 7), 0)
    T = np.array([5, 4, 2, 5, 1, 3, 2])
    expected = -np.mean(np.log(y[T - 1, np.arange(7)]))
    Y = dl.dlarray(dev(xp, y), "CB")
    for targets in (T, T.astype(np.int32), T.astype(np.float64), T.reshape(1, 7)):
        loss = dl.indexcrossentropy(Y, dev(xp, targets))
        assert loss.fmt == "" and loss.shape == () and loss.dtype == np.float64
        np.testing.assert_allclose(float(loss), expected, rtol=1e-12)
    loss = dl.indexcrossentropy(Y, dl.dlarray(dev(xp, T.astype(np.float64))))
    np.testing.assert_allclose(float(loss), expected, rtol=1e-12)
    loss = dl.indexcrossentropy(dl.dlarray(dev(xp, y)), dev(xp, T), DataFormat="CB")
    np.testing.assert_allclose(float(loss), expected, rtol=1e-12)


@pytest.mark.parametrize("fmt, shape", [("CB", (4, 5)), ("SSCB", (2, 3, 4, 2)),
                                        ("CBT", (4, 2, 3)), ("SCB", (3, 4, 2))])
def test_indexcrossentropy_equals_crossentropy(xp, rng, fmt, shape):
    """With default options, indexcrossentropy(Y, idx) = crossentropy(Y, onehot(idx)) = Σ -log
    Y[target] / N, targets of Y's size without C or with C = 1."""
    y, idx, elem = _index_case(rng, fmt, shape)
    c = fmt.index("C")
    onehot = np.moveaxis(np.eye(shape[c])[idx - 1], -1, c)
    Y = dl.dlarray(dev(xp, y), fmt)
    ref = float(dl.crossentropy(Y, dev(xp, onehot)))
    np.testing.assert_allclose(ref, elem.sum() / _n_obs(fmt, shape), rtol=1e-12)
    for targets in (idx, np.expand_dims(idx, c)):
        loss = dl.indexcrossentropy(Y, dev(xp, targets))
        np.testing.assert_allclose(float(loss), ref, rtol=1e-12)


def test_indexcrossentropy_options(xp, rng):
    """NormalizationFactor, Reduction "none" (Y's format, C of size 1) and weights: class weights
    "C" (w of each element's target), observation weights "B", WeightsFormat, a scalar."""
    y, idx, elem = _index_case(rng, "SSCB", (2, 3, 4, 2))
    Y, T = dl.dlarray(dev(xp, y), "SSCB"), dev(xp, idx)
    f = dl.indexcrossentropy
    for norm, div in [("batch-size", 2), ("all-elements", 12), ("none", 1)]:
        loss = f(Y, T, NormalizationFactor=norm)
        assert loss.fmt == "" and loss.shape == ()
        np.testing.assert_allclose(float(loss), elem.sum() / div, rtol=1e-12)
    out = f(Y, T, Reduction="none")
    assert out.fmt == "SSCB" and out.shape == (2, 3, 1, 2)
    np.testing.assert_allclose(host(out), elem, rtol=1e-12)
    wc, wb = rng.random(4) + 0.5, rng.random(2) + 0.5
    class_w = wc[idx - 1][:, :, None, :]
    cases = [(dl.dlarray(dev(xp, wc), "C"), {}, class_w),
             (dev(xp, wc), {"WeightsFormat": "C"}, class_w),
             (dl.dlarray(dev(xp, wb), "B"), {}, wb),
             (dev(xp, wb), {"WeightsFormat": "B"}, wb),
             (3.0, {}, 3.0)]
    for k, (w, opts, w_ref) in enumerate(cases):
        np.testing.assert_allclose(float(f(Y, T, w, **opts)), (elem * w_ref).sum() / 2,
                                   rtol=1e-12, err_msg=f"case {k}")
        out = f(Y, T, w, Reduction="none", **opts)
        assert out.shape == (2, 3, 1, 2)
        np.testing.assert_allclose(host(out), elem * w_ref, rtol=1e-12, err_msg=f"case {k}")


def test_indexcrossentropy_finite_where_y_is_zero(xp):
    """Y = 0 at the target: loss -log(eps(single)) (finite), float32, finite gradient."""
    y = np.array([[1.0, 0.0], [0.0, 1.0]], np.float32)
    T = dev(xp, np.array([2, 1]))
    loss = dl.indexcrossentropy(dl.dlarray(dev(xp, y), "CB"), T)
    assert loss.dtype == np.float32 and np.isfinite(float(loss))
    np.testing.assert_allclose(float(loss), -np.log(np.finfo(np.float32).eps), rtol=1e-6)
    g = dl.dlfeval(lambda a: dl.dlgradient(dl.indexcrossentropy(a, T), a),
                   dl.dlarray(dev(xp, y), "CB"))
    assert g.dtype == np.float32 and np.all(np.isfinite(host(g)))


@pytest.mark.parametrize("fmt, shape", [("CB", (4, 3)), ("SSCB", (2, 2, 3, 2)), ("CBT", (3, 2, 2))])
def test_indexcrossentropy_gradients(xp, rng, fmt, shape):
    """dL/dY against finite differences: plain, with class weights for two factors and "none",
    and through softmax."""
    y, idx, _ = _index_case(rng, fmt, shape)
    Y, T = dl.dlarray(dev(xp, y), fmt), dev(xp, idx)
    assert dl.gradcheck(lambda a: dl.indexcrossentropy(a, T), Y) < 1e-6
    W = dl.dlarray(dev(xp, rng.random(shape[fmt.index("C")]) + 0.5), "C")
    for opts in ({"NormalizationFactor": "all-elements"}, {"Reduction": "none"}):
        assert dl.gradcheck(lambda a, o=opts: dl.indexcrossentropy(a, T, W, **o), Y) < 1e-6
    Z = dl.dlarray(dev(xp, rng.standard_normal(shape)), fmt)
    assert dl.gradcheck(lambda z: dl.indexcrossentropy(dl.softmax(z), T), Z) < 1e-6


def test_indexcrossentropy_float32(xp, rng):
    """float32 Y gives a float32 loss and a float32 dY (integer or float64 targets)."""
    y, idx, elem = _index_case(rng, "CB", (4, 3))
    Y = dl.dlarray(dev(xp, y.astype(np.float32)), "CB")
    for T in (dev(xp, idx), dev(xp, idx.astype(np.float64))):
        loss = dl.indexcrossentropy(Y, T)
        assert loss.dtype == np.float32
        np.testing.assert_allclose(float(loss), elem.sum() / 3, rtol=1e-5)
        assert dl.indexcrossentropy(Y, T, Reduction="none").dtype == np.float32
        g = dl.dlfeval(lambda a, t=T: dl.dlgradient(dl.indexcrossentropy(a, t), a), Y)
        assert g.dtype == np.float32


def test_crossentropy_accepts_batch_size(xp, rng):
    """crossentropy: NormalizationFactor "batch-size" (MATLAB's name) = "batch" (the alias)."""
    y = _probabilities(rng, (2, 3, 4, 2), 2)
    t = np.moveaxis(np.eye(4)[rng.integers(0, 4, (2, 3, 2))], -1, 2)
    Y, T = dl.dlarray(dev(xp, y), "SSCB"), dev(xp, t)
    batch = float(dl.crossentropy(Y, T, NormalizationFactor="batch"))
    np.testing.assert_allclose(batch, -np.sum(t * np.log(y)) / 2, rtol=1e-12)
    assert float(dl.crossentropy(Y, T, NormalizationFactor="batch-size")) == batch
    assert float(dl.crossentropy(Y, T, "NormalizationFactor", "batch-size")) == batch


# ---- Name-Value pairs and errors -------------------------------------------------------------


def _same(a, b):
    assert a.fmt == b.fmt and a.shape == b.shape
    np.testing.assert_allclose(host(a), host(b), rtol=1e-15)


def test_name_value_pairs_after_weights_equal_keywords(xp, rng):
    """MATLAB-style pairs after weights (or with weights=None) equal keywords."""
    y, t = _pair(rng, (3, 4))
    Y, T = dl.dlarray(dev(xp, y), "CB"), dev(xp, t)
    W, wc, M = dl.dlarray(dev(xp, rng.random(3)), "C"), dev(xp, rng.random(3)), dev(xp, y > 0)
    for name in REGRESSION:
        f = getattr(dl, name)
        _same(f(Y, T, None, "Reduction", "none"), f(Y, T, Reduction="none"))
        _same(f(Y, T, W, "NormalizationFactor", "all-elements", "Mask", M),
              f(Y, T, W, NormalizationFactor="all-elements", Mask=M))
        _same(f(Y, T, wc, "WeightsFormat", "C", "Reduction", "none"),
              f(Y, T, wc, WeightsFormat="C", Reduction="none"))
    _same(dl.huber(Y, T, 2.0, "TransitionPoint", 0.5, "Reduction", "none"),
          dl.huber(Y, T, 2.0, TransitionPoint=0.5, Reduction="none"))
    P, idx = dl.dlarray(dev(xp, _probabilities(rng, (3, 4), 0)), "CB"), dev(xp, [1, 3, 2, 3])
    _same(dl.indexcrossentropy(P, idx, wc, "WeightsFormat", "C", "NormalizationFactor", "none"),
          dl.indexcrossentropy(P, idx, wc, WeightsFormat="C", NormalizationFactor="none"))


def test_name_value_pairs_right_after_targets(xp, rng):
    """MATLAB's l2loss(Y, targets, "Reduction", "none") (no weights): a text third argument
    starts the Name-Value pairs, as in MATLAB's l1loss(___, Name=Value)."""
    y, t = _pair(rng, (3, 4))
    Y, T = dl.dlarray(dev(xp, y), "CB"), dev(xp, t)
    for name in REGRESSION:
        f = getattr(dl, name)
        _same(f(Y, T, "Reduction", "none"), f(Y, T, Reduction="none"))
        _same(f(dl.dlarray(dev(xp, y)), T, "DataFormat", "CB"),
              f(dl.dlarray(dev(xp, y)), T, DataFormat="CB"))
    _same(dl.huber(Y, T, "TransitionPoint", 0.5), dl.huber(Y, T, TransitionPoint=0.5))
    P, idx = dl.dlarray(dev(xp, _probabilities(rng, (3, 4), 0)), "CB"), dev(xp, [1, 3, 2, 3])
    _same(dl.indexcrossentropy(P, idx, "Reduction", "none"),
          dl.indexcrossentropy(P, idx, Reduction="none"))


@pytest.mark.parametrize("name", REGRESSION)
def test_regression_errors(xp, name):
    """Bad targets, options, weights, masks and Y raise with a message naming the problem."""
    f = getattr(dl, name)
    z = lambda *s: dev(xp, np.zeros(s))  # noqa: E731
    Y, T = dl.dlarray(z(3, 4), "CB"), z(3, 4)
    with pytest.raises(ValueError, match=_has("targets")):
        f(Y, z(4, 3))
    with pytest.raises(ValueError, match=_has("format")):
        f(Y, dl.dlarray(z(3, 4), "SB"))
    with pytest.raises(ValueError, match=_has("Reduction", "mean")):
        f(Y, T, Reduction="mean")
    with pytest.raises(ValueError, match=_has("NormalizationFactor", "bogus")):
        f(Y, T, NormalizationFactor="bogus")
    with pytest.raises(ValueError, match=_has("mask-included")):
        f(Y, T, NormalizationFactor="mask-included")
    with pytest.raises(ValueError, match=_has("WeightsFormat")):
        f(Y, T, z(5))  # not Y's size, no format
    with pytest.raises(ValueError, match=_has("weights")):
        f(Y, T, dl.dlarray(z(5), "C"))  # Y has 3 channels
    with pytest.raises(ValueError, match=_has("weights")):
        f(Y, T, dl.dlarray(z(3), "T"))  # Y has no T dimension
    with pytest.raises(ValueError, match=_has("weights")):
        f(Y, T, z(5), WeightsFormat="C")
    with pytest.raises(ValueError, match=_has("mask")):
        f(Y, T, Mask=dl.dlarray(z(2), "B"))  # Y has 4 observations
    with pytest.raises(ValueError, match=_has("DataFormat")):
        f(dl.dlarray(z(3, 4)), T)
    for bad in ("abc", dev(xp, np.array(["a", "b"]))):
        with pytest.raises((TypeError, ValueError), match=_has("numeric")):
            f(bad, T, DataFormat="CB")


def test_huber_transition_point_errors(xp):
    """TransitionPoint must be a positive number: 0, -1, NaN and text are refused by name."""
    Y, T = dl.dlarray(dev(xp, np.zeros((3, 4))), "CB"), dev(xp, np.zeros((3, 4)))
    for bad in (0, -1.0, "big", float("nan")):
        with pytest.raises((ValueError, TypeError), match=_has("TransitionPoint")):
            dl.huber(Y, T, TransitionPoint=bad)


def test_indexcrossentropy_errors(xp, rng):
    """Indices outside 1..K or fractional name the value and K; wrong target sizes name the
    size; Y without "C" and bad options are refused."""
    Y = dl.dlarray(dev(xp, _probabilities(rng, (4, 3), 0)), "CB")  # K = 4, 3 observations
    f = dl.indexcrossentropy
    with pytest.raises(ValueError, match=_has("9", "4")):
        f(Y, dev(xp, np.array([1, 9, 2])))
    with pytest.raises(ValueError, match=_has("0", "4")):
        f(Y, dev(xp, np.array([1, 0, 2])))
    with pytest.raises(ValueError, match=_has("2.5")):
        f(Y, dev(xp, np.array([1.0, 2.5, 2.0])))
    with pytest.raises(ValueError, match=_has("2x6")):
        f(Y, dev(xp, np.ones((2, 6))))
    with pytest.raises(ValueError, match=r"(?i)channel|'C'|\"C\""):
        f(dl.dlarray(dev(xp, np.full((4, 3), 0.25)), "SB"), dev(xp, np.array([1, 2, 3])))
    T = dev(xp, np.array([1, 2, 3]))
    with pytest.raises(ValueError, match=_has("Reduction", "mean")):
        f(Y, T, Reduction="mean")
    with pytest.raises(ValueError, match=_has("mask-included")):
        f(Y, T, NormalizationFactor="mask-included")


# ---- found in review: layouts, devices, weights for crossentropy -----------------------------


@pytest.mark.parametrize("name", ["l1loss", "l2loss", "huber", "crossentropy", "mse"])
def test_formatted_targets_meet_unformatted_y_in_dataformat_order(rng, name):
    """A formatted T is stored in canonical order ("BC" -> "CB"); with an unformatted Y labelled
    by DataFormat="BC" it is permuted back, so the loss and dT equal those of raw targets."""
    y = _probabilities(rng, (4, 3), 1)
    t = _probabilities(rng, (4, 3), 1)
    f = getattr(dl, name)
    raw = f(dl.dlarray(y), t, DataFormat="BC")
    formatted = f(dl.dlarray(y), dl.dlarray(t, "BC"), DataFormat="BC")
    np.testing.assert_allclose(float(formatted), float(raw), rtol=1e-12)
    grad = dl.dlfeval(lambda a, b: dl.dlgradient(f(a, b, DataFormat="BC"), b),
                      dl.dlarray(y), dl.dlarray(t, "BC"))
    assert grad.fmt == "CB" and grad.shape == (3, 4)
    assert dl.gradcheck(lambda b: f(dl.dlarray(y), b, DataFormat="BC"),
                        dl.dlarray(t, "BC")) < 1e-6
    with pytest.raises(ValueError, match=_has("format 'CT'", "DataFormat 'BC'")):
        f(dl.dlarray(y), dl.dlarray(t, "TC"), DataFormat="BC")


@pytest.mark.parametrize("name", ["l2loss", "crossentropy", "mse", "indexcrossentropy"])
def test_host_targets_meet_device_predictions(xp, rng, name):
    """Targets in host memory (labels usually are) go to Y's device; dT comes back to them."""
    y = _probabilities(rng, (3, 4), 0)
    t = np.array([1, 3, 2, 3]) if name == "indexcrossentropy" else _probabilities(rng, (3, 4), 0)
    f = getattr(dl, name)
    Y = dl.dlarray(dev(xp, y), "CB")
    np.testing.assert_allclose(float(f(Y, t)), float(f(dl.dlarray(y, "CB"), t)), rtol=1e-12)
    if name != "indexcrossentropy":
        dT = dl.dlfeval(lambda a, b: dl.dlgradient(f(a, b), b), Y, dl.dlarray(t, "CB"))
        assert isinstance(host(dT), np.ndarray) and dl.backend.array_module(dT._data) is np


def test_indexcrossentropy_takes_a_number_for_one_observation():
    y = np.array([[0.2], [0.7], [0.1]])
    loss = dl.indexcrossentropy(dl.dlarray(y, "CB"), 2)
    np.testing.assert_allclose(float(loss), -np.log(0.7), rtol=1e-12)


@pytest.mark.parametrize("mode", ["single-label", "multilabel"])
def test_crossentropy_weights_mask_and_reduction(xp, rng, mode):
    """crossentropy weighs and masks its terms like the other losses; "none" keeps them."""
    y, t = _probabilities(rng, (3, 4), 0), np.eye(3)[:, [0, 2, 1, 1]]
    w, m = rng.random(3) + 0.5, rng.random((3, 4)) > 0.3
    terms = -t * np.log(y) if mode == "single-label" else \
        -(t * np.log(y) + (1 - t) * np.log(1 - y))
    Y = dl.dlarray(dev(xp, y), "CB")
    loss = dl.crossentropy(Y, dev(xp, t), dl.dlarray(dev(xp, w), "C"), Mask=dev(xp, m),
                           ClassificationMode=mode)
    np.testing.assert_allclose(float(loss), (w[:, None] * m * terms).sum() / 4, rtol=1e-12)
    none = dl.crossentropy(Y, dev(xp, t), "Reduction", "none", "ClassificationMode", mode)
    assert none.fmt == "CB" and none.shape == (3, 4)
    np.testing.assert_allclose(host(none), terms, rtol=1e-12)
    assert dl.gradcheck(lambda a, b: dl.crossentropy(a, b, w, WeightsFormat="C", Mask=m,
                                                     ClassificationMode=mode),
                        dl.dlarray(y, "CB"), dl.dlarray(t, "CB")) < 1e-6


def test_a_dataformat_that_does_not_fit_names_the_loss():
    with pytest.raises(ValueError, match=r"l2loss: DataFormat: format 'CB' has 2 labels but the "
                                         r"data has 3 dimensions"):
        dl.l2loss(np.ones((2, 3, 4)), np.ones((2, 3, 4)), DataFormat="CB")
