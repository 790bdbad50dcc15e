"""Tests for the initializers: MATLAB's formulas, fans, callables, seeding and backends."""

import math

import numpy as np
import pytest

import minidl
from minidl.backend import array_module
from minidl.layers.initializers import (
    check_initializer,
    fans,
    glorot,
    he,
    initialize,
    narrow_normal,
    ones,
    orthogonal,
    zeros,
)
from tests.conftest import host


def test_fans_follow_matlab_for_filters_and_matrices():
    assert fans((5, 5, 3, 20)) == (5 * 5 * 3, 5 * 5 * 20)
    assert fans((10, 2880)) == (2880, 10)
    with pytest.raises(ValueError, match=r"at least 2 dimensions \(Out x In\), got \(3,\)"):
        initialize("glorot", (3,))
    assert initialize("zeros", (3,)).shape == (3,)  # needs no fans


def test_glorot_is_uniform_with_variance_2_over_fan_sum(xp):
    minidl.rng(0)
    sz = (5, 5, 20, 50)
    fan_in, fan_out = fans(sz)
    w = initialize("glorot", sz)
    assert array_module(w) is xp and w.dtype == np.float32 and tuple(w.shape) == sz
    w = host(w).astype(np.float64)
    var = 2 / (fan_in + fan_out)
    bound = math.sqrt(6 / (fan_in + fan_out))
    assert np.abs(w).max() <= bound
    assert abs(w.var() / var - 1) < 0.05
    assert abs(w.mean()) < 4 * math.sqrt(var / w.size)
    # uniform: a quarter of the draws lie beyond half the bound on each side
    assert abs(np.mean(w > bound / 2) - 0.25) < 0.01


def test_he_is_normal_with_variance_2_over_fan_in():
    minidl.rng(1)
    w = host(he((40, 1000), fan_in=1000)).astype(np.float64)
    assert abs(w.var() / (2 / 1000) - 1) < 0.05
    assert abs(w.mean()) < 4 * math.sqrt(2 / 1000 / w.size)
    # normal: about 68.3% within one standard deviation
    assert abs(np.mean(np.abs(w) < math.sqrt(2 / 1000)) - 0.683) < 0.01


def test_he_through_initialize_uses_matlab_fan_in_of_filters():
    minidl.rng(2)
    w = host(initialize("he", (3, 3, 16, 500))).astype(np.float64)
    assert abs(w.var() / (2 / (3 * 3 * 16)) - 1) < 0.05


def test_narrow_normal_has_std_001_and_constants():
    minidl.rng(3)
    w = host(narrow_normal((200, 200))).astype(np.float64)
    assert abs(w.std() / 0.01 - 1) < 0.03
    assert abs(w.mean()) < 4 * 0.01 / 200
    assert np.all(host(zeros((2, 3))) == 0) and np.all(host(ones((1, 1, 4))) == 1)
    assert host(initialize("zeros", (1, 1, 5))).shape == (1, 1, 5)


@pytest.mark.parametrize("sz", [(30, 10), (10, 30), (3, 3, 4, 8)])
def test_orthogonal_has_orthonormal_columns_or_rows(sz):
    minidl.rng(4)
    w = host(orthogonal(sz)).astype(np.float64)
    assert w.shape == sz
    m = w.reshape(-1, sz[-1]) if len(sz) > 2 else w
    small = min(m.shape)
    gram = m.T @ m if m.shape[0] >= m.shape[1] else m @ m.T
    np.testing.assert_allclose(gram, np.eye(small), atol=1e-5)


def test_callables_receive_the_size_and_must_return_it(xp):
    seen = []

    def init(sz):
        seen.append(sz)
        return np.full(sz, 0.5)

    w = initialize(init, (3, 3, 2, 4))
    assert seen == [(3, 3, 2, 4)]
    assert array_module(w) is xp and w.dtype == np.float32 and np.all(host(w) == 0.5)
    # a trailing singleton dropped by the callable (MATLAB's habit) is fine
    assert host(initialize(lambda sz: np.zeros(sz[:2]), (4, 2, 1))).shape == (4, 2, 1)
    with pytest.raises(ValueError, match=r"returned an array of size 2x2, but the parameter "
                                         r"has size 3x3"):
        initialize(lambda sz: np.zeros((2, 2)), (3, 3), name="WeightsInitializer")


def test_seeding_makes_weights_reproducible_on_every_backend(xp):
    minidl.rng(7)
    a = host(glorot((4, 5), 5, 4))
    minidl.rng(7)
    b = host(glorot((4, 5), 5, 4))
    np.testing.assert_array_equal(a, b)


def test_unknown_initializer_lists_the_allowed_ones():
    with pytest.raises(ValueError, match="WeightsInitializer must be 'glorot', 'he', "
                                         "'orthogonal', 'narrow-normal', 'zeros', 'ones' or a "
                                         "function handle"):
        check_initializer("WeightsInitializer", "xavier",
                          ("glorot", "he", "orthogonal", "narrow-normal", "zeros", "ones"))
    assert check_initializer("X", "GLOROT", ("glorot",)) == "glorot"
