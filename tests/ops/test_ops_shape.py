"""Shape ops (minidl.ops.shape): flatten and concatenate, their values, memory order and
gradients, checked in float64 against central differences."""

import numpy as np
import pytest

from minidl import dlarray, dlfeval, dlgradient
from minidl.ops import concatenate, flatten
from tests.conftest import dev, host


def _central_difference_check(op, xs, rng, h=1e-6):
    """Gradients of L = sum(W ⊙ op(*Xs)) (W random) from dlgradient against central differences
    (L(x + h·e_i) - L(x - h·e_i)) / 2h, element by element, in float64 (NumPy).

    The tolerance comes from the scale of the gradient: the ops only move elements, so L is
    linear and the differences are exact but for rounding, about 1e-16·|L|/h, far below
    1e-6·max|g|. ``xs``: (array, format) pairs."""
    W = rng.standard_normal(op(*(dlarray(x, f) for x, f in xs)).shape)

    def loss(*Xs):
        return (op(*Xs) * W).sum()

    def value(k, x):
        return float(loss(*(dlarray(x if j == k else xj, f)
                            for j, (xj, f) in enumerate(xs))).extractdata())

    analytic = dlfeval(lambda *Xs: dlgradient(loss(*Xs), *Xs),
                       *(dlarray(x, f) for x, f in xs))
    analytic = analytic if len(xs) > 1 else (analytic,)  # one input: one gradient
    scale = max(np.abs(host(g)).max() for g in analytic)
    for k, (x, _) in enumerate(xs):
        numeric = np.zeros(x.shape)
        for i in np.ndindex(x.shape):
            up, down = x.copy(), x.copy()
            up[i] += h
            down[i] -= h
            numeric[i] = (value(k, up) - value(k, down)) / (2 * h)
        g = host(analytic[k])
        assert g.shape == x.shape and g.dtype == np.float64
        np.testing.assert_allclose(g, numeric, rtol=0, atol=1e-6 * scale)


@pytest.mark.parametrize("fmt, shape", [("SSCB", (3, 2, 2, 2)), ("SCBT", (2, 3, 2, 2)),
                                        ("SSSCB", (2, 2, 1, 2, 2))])
def test_flatten_gradients_match_central_differences(rng, fmt, shape):
    _central_difference_check(flatten, [(rng.standard_normal(shape), fmt)], rng)


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_concatenate_gradients_match_central_differences(rng, axis):
    shapes = [[2, 3, 2, 2], [2, 3, 2, 2], [2, 3, 2, 2]]
    for k, n in enumerate((1, 3, 2)):
        shapes[k][axis] = n
    xs = [(rng.standard_normal(s), "SSCB") for s in shapes]
    _central_difference_check(lambda *Xs: concatenate(Xs, axis), xs, rng)


def test_concatenate_keeping_the_layout_gradients_match_central_differences(rng):
    """Sequence halves as bilstmLayer joins them: time-major inputs, one of them reversed."""
    def op(a, b):
        return concatenate((a, b[:, :, ::-1]), 0, keep_layout=True)

    xs = [(rng.standard_normal((2, 2, 3)), "CBT"), (rng.standard_normal((3, 2, 3)), "CBT")]
    _central_difference_check(op, xs, rng)


def test_flatten_is_matlab_column_major(xp, rng):
    x = rng.standard_normal((3, 4, 2, 5)).astype(np.float32)
    Y = flatten(dlarray(dev(xp, x), "SSCB"))
    assert Y.fmt == "CB" and Y.shape == (24, 5)
    np.testing.assert_array_equal(host(Y), x.reshape(24, 5, order="F"))


def test_concatenate_writes_channels_last_or_keeps_the_shared_layout(xp, rng):
    a = dev(xp, rng.standard_normal((3, 3, 2, 2)).astype(np.float32))  # C-ordered "SSCB"
    b = dev(xp, rng.standard_normal((3, 3, 1, 2)).astype(np.float32))
    Y = concatenate((dlarray(a, "SSCB"), dlarray(b, "SSCB")), 2)
    np.testing.assert_array_equal(host(Y), np.concatenate([host(a), host(b)], axis=2))
    s = Y._data.transpose(3, 0, 1, 2).strides  # N, H, W, C memory: channels last
    assert s[0] > s[1] > s[2] > s[3] == 4
    Z = concatenate((dlarray(a, "SSCB"), dlarray(b, "SSCB")), 2, keep_layout=True)
    np.testing.assert_array_equal(host(Z), host(Y))
    assert Z._data.flags.c_contiguous  # the inputs' shared (C) order
    # time-major halves ("CBT" views of T, B, C memory) stay time-major
    t = [dev(xp, rng.standard_normal((4, 2, n)).astype(np.float32)).transpose(2, 1, 0)
         for n in (3, 2)]
    S = concatenate(tuple(dlarray(v, "CBT") for v in t), 0, keep_layout=True)
    assert S.fmt == "CBT" and S.shape == (5, 2, 4)
    assert S._data.transpose(2, 1, 0).flags.c_contiguous
