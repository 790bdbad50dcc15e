"""The CuPy test double is only as good as its likeness to CuPy: it must refuse what CuPy lacks."""

import numpy as np
import pytest

from tests import cupy_api
from tests.fakegpu import FakeDeviceArray, fakegpu


def test_the_double_refuses_numpy_names_and_keywords_that_cupy_lacks():
    a = fakegpu.asarray(np.arange(6.0).reshape(2, 3))
    for owner, name, message in [(fakegpu, "nditer", "CuPy has no 'nditer'"),
                                 (a, "resize", "CuPy has no 'ndarray.resize'"),
                                 (fakegpu, "emath", "no submodule 'emath'")]:
        with pytest.raises(AttributeError, match=message):
            getattr(owner, name)
    with pytest.raises(TypeError, match="CuPy's sum takes no keyword 'where'"):
        fakegpu.sum(a, where=a > 1)
    with pytest.raises(TypeError, match="CuPy's ndarray.sum takes no keyword 'initial'"):
        a.sum(initial=1.0)
    with pytest.raises(TypeError, match="CuPy's add takes no keyword 'where'"):
        fakegpu.add(a, a, where=a > 1)


def test_the_double_allows_what_cupy_has():
    a = fakegpu.asarray(np.arange(6.0).reshape(2, 3))
    total = fakegpu.sum(a, axis=0, keepdims=True)
    assert isinstance(total, FakeDeviceArray)
    np.testing.assert_array_equal(total.get(), [[3.0, 5.0, 7.0]])
    window = fakegpu.lib.stride_tricks.as_strided(a, shape=(2, 2), strides=a.strides)
    np.testing.assert_array_equal(window.get(), [[0.0, 1.0], [3.0, 4.0]])
    out = fakegpu.empty((2, 3))
    fakegpu.multiply(a, 2.0, out=out)
    np.testing.assert_array_equal(out.get(), np.arange(6.0).reshape(2, 3) * 2)
    fakegpu.add.at(out, fakegpu.asarray(np.array([0, 0])), 1.0)  # ufunc methods pass through
    assert out.get()[0, 0] == 2.0
    assert fakegpu.float32 is np.float32 and a.T.shape == (3, 2)


def test_the_api_list_is_parsed_into_names_and_keywords():
    api = cupy_api.parse(["# a comment", "sum(a, axis, keepdims)", "ndarray.T", "einsum(**)",
                          "ones_like()", ""])
    assert api == {"sum": ["a", "axis", "keepdims"], "ndarray.T": False, "einsum": None,
                   "ones_like": []}
    full = cupy_api.load()
    assert full["lib.stride_tricks.as_strided"] == ["x", "shape", "strides"]
    assert "nditer" not in full and full["ndarray.shape"] is False


def test_the_api_list_agrees_with_the_installed_cupy():
    cupy = pytest.importorskip("cupy", reason="CuPy is not installed here: the list of its API "
                               "is checked where it is (it imports without a GPU)")
    installed = cupy_api.parse(cupy_api.api_lines(cupy))
    for name, keywords in cupy_api.load().items():
        assert name in installed, f"CuPy {cupy.__version__} has no {name}"
        if keywords and installed[name] is not None:
            assert set(keywords) <= set(installed[name]), name
