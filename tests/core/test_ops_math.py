"""Primitive ops: forward against NumPy formulas, gradients against finite differences."""

import numpy as np
import pytest

import minidl as dl
from minidl.core import primitives as M
from minidl.ops import activations as A
from tests.conftest import dev, host

UNARY = [
    ("exp", M.exp, np.exp),
    ("log", M.log, np.log),
    ("sqrt", M.sqrt, np.sqrt),
    ("abs", M.abs, np.abs),
    ("relu", A.relu, lambda x: np.maximum(x, 0)),
    ("leakyrelu", A.leakyrelu, lambda x: np.where(x > 0, x, 0.01 * x)),
    ("sigmoid", A.sigmoid, lambda x: 1 / (1 + np.exp(-x))),
    ("tanh", A.tanh, np.tanh),
    ("uminus", M.uminus, np.negative),
]
BINARY = [
    ("plus", M.plus, np.add),
    ("minus", M.minus, np.subtract),
    ("times", M.times, np.multiply),
    ("rdivide", M.rdivide, np.divide),
    ("power", M.power, np.power),
    ("maximum", M.maximum, np.maximum),
    ("minimum", M.minimum, np.minimum),
]


def _positive_away_from_kinks(rng, shape):
    x = rng.uniform(0.2, 2.0, shape) * rng.choice([-1, 1], shape)
    return x


@pytest.mark.parametrize("name, op, ref", UNARY, ids=[u[0] for u in UNARY])
def test_unary_forward_gradient_and_dtype(xp, rng, name, op, ref):
    x = _positive_away_from_kinks(rng, (3, 4))
    if name in ("log", "sqrt"):
        x = np.abs(x)
    X = dl.dlarray(dev(xp, x), "CB")
    y = op(X)
    assert y.fmt == "CB"
    np.testing.assert_allclose(host(y), ref(x), rtol=1e-12)
    assert dl.gradcheck(op, X) < 1e-6
    assert op(dl.dlarray(dev(xp, x.astype(np.float32)))).dtype == np.float32


@pytest.mark.parametrize("name, op, ref", BINARY, ids=[b[0] for b in BINARY])
@pytest.mark.parametrize("shapes", [((3, 4), (3, 4)), ((3, 4), (1, 4)), ((3, 4), (3, 1)),
                                    ((3, 4), ())])
def test_binary_broadcasting_forward_and_gradient(xp, rng, name, op, ref, shapes):
    a = np.abs(_positive_away_from_kinks(rng, shapes[0]))
    b = np.abs(_positive_away_from_kinks(rng, shapes[1])) + 0.1
    A, B = dl.dlarray(dev(xp, a)), dl.dlarray(dev(xp, b))
    np.testing.assert_allclose(host(op(A, B)), ref(a, b), rtol=1e-12)
    assert dl.gradcheck(op, A, B) < 1e-6
    f32 = op(dl.dlarray(dev(xp, a.astype(np.float32))), dl.dlarray(dev(xp, b.astype(np.float32))))
    assert f32.dtype == np.float32
    assert op(dl.dlarray(dev(xp, a.astype(np.float32))), 2).dtype == np.float32


def test_sigmoid_does_not_overflow():
    y = A.sigmoid(dl.dlarray(np.array([-1000.0, 0.0, 1000.0], np.float32)))
    np.testing.assert_allclose(host(y), [0.0, 0.5, 1.0])
    x = np.array([-30.0, -17.0, -1.0, 2.0, 30.0])
    y = A.sigmoid(dl.dlarray(x.astype(np.float32)))  # small outputs are not rounded to 0
    assert y.dtype == np.float32
    np.testing.assert_allclose(host(y), 1 / (1 + np.exp(-x)), rtol=1e-6)


@pytest.mark.parametrize("dims", [None, "S", "SB", 1, (0, 3)])
def test_reduction_gradients(xp, rng, dims):
    X = dl.dlarray(dev(xp, rng.random((3, 2, 2, 2))), "SSCB")
    assert dl.gradcheck(lambda a: M.sum(a, dims) * 2, X) < 1e-7
    assert dl.gradcheck(lambda a: M.mean(a, dims) ** 2, X) < 1e-7


def test_reshape_and_subsref_gradients(xp, rng):
    X = dl.dlarray(dev(xp, rng.random((4, 3))))
    assert dl.gradcheck(lambda a: M.reshape(a, 2, 6) ** 2, X) < 1e-7
    assert dl.gradcheck(lambda a: a[1:3, ::2] ** 2, X) < 1e-7


# ---- broadcasting: MATLAB's implicit expansion, clear errors ------------------------------------

def test_unformatted_operands_align_from_the_left(xp, rng):
    a, b = rng.random(3), rng.random((3, 1, 5))
    y = dl.dlarray(dev(xp, a)) + dl.dlarray(dev(xp, b))
    assert y.shape == (3, 1, 5) and y.fmt == ""
    np.testing.assert_allclose(host(y), a[:, None, None] + b)
    np.testing.assert_allclose(host(dl.dlarray(dev(xp, b)) * dev(xp, a)), b * a[:, None, None])
    assert dl.gradcheck(M.times, dl.dlarray(dev(xp, a)), dl.dlarray(dev(xp, b))) < 1e-8


def test_formatted_and_unformatted_operand_with_more_dimensions():
    X = dl.dlarray(np.ones((3, 1)), "CB")
    with pytest.raises(ValueError, match=r"size 3x1 \(CB\) with an unformatted operand of size "
                                         r"3x1x5: .*format 'CB'"):
        X + dl.dlarray(np.ones((3, 1, 5)))
    with pytest.raises(ValueError, match="3x1x5"):
        np.ones((3, 1, 5)) * X
    y = X + dl.dlarray(np.full((3, 1, 1), 2.0))  # trailing singletons are no dimensions
    assert y.fmt == "CB" and y.shape == (3, 1)
    np.testing.assert_allclose(host(y), np.full((3, 1), 3.0))
    assert dl.gradcheck(lambda a, b: a * b, X, dl.dlarray(np.ones((3, 1, 1)))) < 1e-8


@pytest.mark.parametrize("a, b, message", [
    (("CB", (3, 4)), ("CB", (2, 5)), r"dlarrays of size 3x4 \(CB\) and 2x5 \(CB\)"),
    (("SSCB", (4, 4, 3, 2)), ("C", (5,)), r"dlarrays of size 4x4x3x2 \(SSCB\) and 5 \(C\)"),
    (("", (3, 4)), ("", (4,)), r"dlarrays of size 3x4 \(unformatted\) and 4 \(unformatted\)"),
])
def test_shape_mismatch_names_both_sizes_and_formats(a, b, message):
    A, B = (dl.dlarray(np.ones(shape), fmt or None) for fmt, shape in (a, b))
    for op in (M.plus, M.times, M.power, M.maximum):
        with pytest.raises(ValueError, match="cannot combine " + message):
            op(A, B)
    with pytest.raises(ValueError, match=r"operands of size 3x4 \(CB\) and 2x5 \(numpy.ndarray\)"):
        dl.dlarray(np.ones((3, 4)), "CB") - np.ones((2, 5))


# ---- dtypes: single op double is single ------------------------------------------------------

def test_numpy_operands_take_the_dlarray_dtype(xp):
    x = dl.dlarray(dev(xp, np.ones(3, np.float32)))
    for out in (x * np.float64(0.5), x / np.sqrt(4.0), np.float64(2) - x, x ** np.float64(2),
                M.maximum(x, np.float64(0))):
        assert out.dtype == np.float32
    for out in (x + dev(xp, np.arange(3)), dev(xp, np.ones(3)) * x, x + dev(xp, np.ones(3) > 0)):
        assert out.dtype == np.float32
    assert (dl.dlarray(np.ones(3, np.float32)) + [1, 2, 3]).dtype == np.float32
    np.testing.assert_allclose(host(x + dev(xp, np.arange(3))), [1, 2, 3])


def test_float32_dlarray_wins_and_each_gradient_keeps_its_dtype(xp):
    x32 = dl.dlarray(dev(xp, np.array([1.0, 2.0], np.float32)))
    w64 = dl.dlarray(dev(xp, np.array([3.0, 4.0])))
    m64 = dl.dlarray(dev(xp, np.ones((2, 2))))
    for out in (x32 * w64, w64 - x32, w64 ** x32, M.minimum(w64, x32)):
        assert out.dtype == np.float32
    assert (dl.dlarray(dev(xp, np.ones((1, 2), np.float32))) @ m64).dtype == np.float32

    def f(x, w, m):
        return dl.dlgradient(((x * w) ** 2).sum() + (dl.dlarray(x.reshape(1, 2)) @ m).sum()
                             + (2 ** x).sum(), x, w, m)

    gx, gw, gm = dl.dlfeval(f, x32, w64, m64)
    assert (gx.dtype, gw.dtype, gm.dtype) == (np.float32, np.float64, np.float64)
    np.testing.assert_allclose(host(gw), 2 * np.array([3.0, 8.0]) * [1, 2], rtol=1e-6)
    np.testing.assert_allclose(host(gx), 2 * np.array([3.0, 8.0]) * [3, 4] + 2
                               + 2 ** np.array([1.0, 2.0]) * np.log(2), rtol=1e-6)


# ---- power and maximum/minimum at their special values ------------------------------------------

def test_power_gradients_at_a_zero_base_and_a_zero_exponent(xp):
    def grads(x, p):
        return dl.dlgradient((x ** p).sum(), x, p)

    x = dl.dlarray(dev(xp, np.array([0.0, 1.0, 2.0])))
    with np.errstate(all="raise"):
        gx, gp = dl.dlfeval(grads, x, dl.dlarray(dev(xp, np.full(3, 2.0))))
        np.testing.assert_allclose(host(gx), [0.0, 2.0, 4.0])
        np.testing.assert_allclose(host(gp), [0.0, 0.0, 4 * np.log(2)])
        gx, gp = dl.dlfeval(grads, x, dl.dlarray(dev(xp, np.zeros(3))))
        np.testing.assert_allclose(host(gx), [0.0, 0.0, 0.0])
        np.testing.assert_allclose(host(gp), [0.0, 0.0, np.log(2)])
        g0 = dl.dlfeval(lambda p: dl.dlgradient((0 ** p).sum() + (x ** 0).sum(), p),
                        dl.dlarray(dev(xp, np.array([1.0, 2.0]))))
        np.testing.assert_allclose(host(g0), [0.0, 0.0])
        gx = dl.dlfeval(lambda x: dl.dlgradient((x ** 0).sum(), x), x)
        np.testing.assert_allclose(host(gx), [0.0, 0.0, 0.0])
    assert dl.gradcheck(M.power, dl.dlarray(dev(xp, np.array([0.5, 2.0]))),
                        dl.dlarray(dev(xp, np.array([0.0, 3.0])))) < 1e-6


@pytest.mark.parametrize("op, other", [(M.maximum, 1.0), (M.minimum, 1.0)])
def test_maximum_minimum_omit_nan_in_either_order(xp, op, other):
    a = dl.dlarray(dev(xp, np.array([np.nan, 2.0, np.nan, 0.5])))
    b = dl.dlarray(dev(xp, np.array([1.0, np.nan, np.nan, 0.7])))
    ref = np.fmax if op is M.maximum else np.fmin
    expected = ref(host(a), host(b))
    np.testing.assert_array_equal(host(op(a, b)), expected)
    np.testing.assert_array_equal(host(op(b, a)), expected)
    np.testing.assert_array_equal(host(op(a, other)), ref(host(a), other))
    np.testing.assert_array_equal(host(op(other, a)), ref(host(a), other))
    ga, gb = dl.dlfeval(lambda a, b: dl.dlgradient(op(a, b).sum(), a, b), a, b)
    take_a = [0.0, 1.0, 1.0, float(op is M.minimum)]
    np.testing.assert_array_equal(host(ga), take_a)
    np.testing.assert_array_equal(host(gb), 1 - np.array(take_a))


# ---- arguments: plain arrays, dims, index dlarrays ---------------------------------------------

@pytest.mark.parametrize("name, op, ref", UNARY, ids=[u[0] for u in UNARY])
def test_elementwise_functions_need_a_dlarray(name, op, ref):
    with pytest.raises(TypeError, match=f"{name}: X must be a dlarray, got numpy.ndarray"):
        op(np.ones(3))


def test_reduction_dims_must_be_labels_or_integers():
    X = dl.dlarray(np.ones((2, 3)))
    for bad in (1.0, (0, 1.5), True):
        with pytest.raises(TypeError, match=r"sum: dims must be labels .* got"):
            X.sum(bad)
    with pytest.raises(TypeError, match="mean: dims"):
        X.mean(0.0)
    np.testing.assert_allclose(host(X.sum(np.int64(1))), [[3.0], [3.0]])
    np.testing.assert_allclose(host(X.sum([0, 1])), [[6.0]])


def test_index_dlarrays_hold_integer_values(xp):
    x = np.array([10.0, 20.0, 30.0])
    X = dl.dlarray(dev(xp, x))
    np.testing.assert_allclose(host(X[dl.dlarray(dev(xp, np.array([2, 0, 2])))]), [30, 10, 30])
    np.testing.assert_allclose(host(X[dl.dlarray(dev(xp, np.array([1.0])))]), [20])
    M2 = dl.dlarray(dev(xp, np.arange(6.0).reshape(2, 3)))
    np.testing.assert_allclose(host(M2[dl.dlarray(dev(xp, np.array([1]))), 1:]), [[4, 5]])
    g = dl.dlfeval(lambda a: dl.dlgradient(a[dl.dlarray(dev(xp, np.array([2, 2])))].sum(), a), X)
    np.testing.assert_allclose(host(g), [0, 0, 2])
    for bad in ([0.5], [np.nan], [np.inf]):
        with pytest.raises(TypeError, match="index dlarray must hold integer values"):
            X[dl.dlarray(dev(xp, np.array(bad)))]
