"""Primitive ops: forward against NumPy formulas, gradients against finite differences."""

import numpy as np
import pytest

import minidl as dl
from minidl.ops import math as M

from .conftest import dev, host

UNARY = [
    ("exp", M.exp, np.exp),
    ("log", M.log, np.log),
    ("sqrt", M.sqrt, np.sqrt),
    ("abs", M.abs, np.abs),
    ("relu", M.relu, lambda x: np.maximum(x, 0)),
    ("leakyrelu", M.leakyrelu, lambda x: np.where(x > 0, x, 0.01 * x)),
    ("sigmoid", M.sigmoid, lambda x: 1 / (1 + np.exp(-x))),
    ("tanh", M.tanh, np.tanh),
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
    y = M.sigmoid(dl.dlarray(np.array([-1000.0, 0.0, 1000.0], np.float32)))
    np.testing.assert_allclose(host(y), [0.0, 0.5, 1.0])


@pytest.mark.parametrize("dims", [None, "S", "SB", 1, (0, 3)])
def test_reduction_gradients(xp, rng, dims):
    X = dl.dlarray(dev(xp, rng.random((3, 2, 2, 2))), "SSCB")
    assert dl.gradcheck(lambda a: M.sum(a, dims) * 2, X) < 1e-7
    assert dl.gradcheck(lambda a: M.mean(a, dims) ** 2, X) < 1e-7


def test_reshape_and_subsref_gradients(xp, rng):
    X = dl.dlarray(dev(xp, rng.random((4, 3))))
    assert dl.gradcheck(lambda a: M.reshape(a, 2, 6) ** 2, X) < 1e-7
    assert dl.gradcheck(lambda a: a[1:3, ::2] ** 2, X) < 1e-7
