"""Tests for minidl.ops.conv: dlconv, maxpool and avgpool.

Forward results are compared with the naive float64 loops of tests/reference_conv.py, gradients
with gradcheck (float64, central differences). Shapes are tiny so the file runs in seconds.
"""

from __future__ import annotations

import numpy as np
import pytest

import minidl.ops.conv as conv_module
from minidl import dlarray, dlfeval, dlgradient
from minidl.core import gradcheck
from minidl.ops.conv import avgpool, dlconv, maxpool
from tests import reference_conv as ref
from tests.conftest import dev, host

# ---- cases -----------------------------------------------------------------------------------
# (H, W, C, N, fh, fw, F, Stride, Padding, DilationFactor, and the padding as (t, b, l, r)
# for the reference; None: work out MATLAB's 'same' padding independently)
CONV_CASES = {
    "basic": (5, 6, 2, 3, 3, 3, 4, 1, 0, 1, (0, 0, 0, 0)),
    "stride2-pad1": (7, 7, 3, 2, 3, 2, 2, 2, 1, 1, (1, 1, 1, 1)),
    "stride[2 1]-pad[a b]": (6, 5, 1, 1, 2, 3, 3, [2, 1], [1, 2], 1, (1, 1, 2, 2)),
    "pad[t b l r]-dilation[2 1]": (6, 7, 2, 2, 3, 3, 2, 1, [1, 0, 2, 1], [2, 1], (1, 0, 2, 1)),
    "same-stride2-odd": (7, 6, 2, 2, 2, 2, 3, 2, "same", 1, None),
    "same-odd-total": (5, 5, 3, 1, 4, 4, 2, 1, "same", 1, None),
    "same-dilated-stride3": (6, 6, 2, 2, 3, 3, 2, 3, "same", 2, None),
    "1x1": (4, 3, 3, 2, 1, 1, 5, 1, 0, 1, (0, 0, 0, 0)),
    "stride3-skips-pixels": (8, 7, 2, 1, 2, 2, 2, 3, 0, 1, (0, 0, 0, 0)),
    "many-channels-few-columns": (4, 4, 5, 2, 3, 3, 2, 1, 0, 1, (0, 0, 0, 0)),
}

# (H, W, C, N, poolsize, Stride, Padding, padding (t, b, l, r) for the reference)
POOL_CASES = {
    "2x2/2-tiling": (4, 6, 2, 2, 2, 2, 0, (0, 0, 0, 0)),
    "2x2/2-floor": (5, 7, 2, 2, 2, 2, 0, (0, 0, 0, 0)),
    "3x3/2-overlap": (7, 6, 2, 2, 3, 2, 0, (0, 0, 0, 0)),
    "2x2/1-overlap": (4, 5, 3, 1, 2, 1, 0, (0, 0, 0, 0)),
    "[2 3]/[1 2]": (5, 7, 2, 2, [2, 3], [1, 2], 0, (0, 0, 0, 0)),
    "3x3/1-pad1": (4, 5, 2, 2, 3, 1, 1, (1, 1, 1, 1)),
    "3x2/3-pad[t b l r]": (6, 5, 2, 1, [3, 2], 3, [2, 0, 1, 1], (2, 0, 1, 1)),
    "same-odd": (5, 6, 2, 2, 2, 2, "same", None),
    "same-stride1": (4, 4, 1, 2, 3, 1, "same", None),
    "disjoint-stride3": (7, 7, 2, 1, 2, 3, 0, (0, 0, 0, 0)),
}


def _pair(v):
    return (v, v) if np.isscalar(v) else tuple(v)


def _conv_pads(case):
    h, w, _, _, fh, fw, _, stride, padding, dilation, pads = case
    if pads is not None:
        return pads
    (sh, sw), (dh, dw) = _pair(stride), _pair(dilation)
    return ref.same_padding(h, fh, sh, dh) + ref.same_padding(w, fw, sw, dw)


def _pool_pads(case):
    h, w, _, _, pool, stride, _, pads = case
    if pads is not None:
        return pads
    (ph, pw), (sh, sw) = _pair(pool), _pair(stride)
    return ref.same_padding(h, ph, sh) + ref.same_padding(w, pw, sw)


def _conv_data(rng, case, dtype=np.float64):
    h, w, c, n, fh, fw, f = case[:7]
    x = rng.standard_normal((h, w, c, n)).astype(dtype)
    wt = rng.standard_normal((fh, fw, c, f)).astype(dtype)
    b = rng.standard_normal(f).astype(dtype)
    return x, wt, b


def _options(case):
    return {"Stride": case[7], "Padding": case[8], "DilationFactor": case[9]}


# ---- dlconv forward --------------------------------------------------------------------------

@pytest.mark.parametrize("name", list(CONV_CASES))
def test_dlconv_matches_naive_reference(xp, rng, name):
    case = CONV_CASES[name]
    x, wt, b = _conv_data(rng, case)
    X = dlarray(dev(xp, x), "SSCB")
    Y = dlconv(X, dlarray(dev(xp, wt)), dlarray(dev(xp, b)), **_options(case))
    expected = ref.conv2d(x, wt, b, _pair(case[7]), _conv_pads(case), _pair(case[9]))
    assert Y.fmt == "SSCB"
    assert Y.shape == expected.shape
    np.testing.assert_allclose(host(Y), expected, rtol=1e-10, atol=1e-10)


def test_dlconv_same_keeps_size_at_stride_1_and_ceil_at_stride_2(xp, rng):
    x = dev(xp, rng.standard_normal((7, 8, 2, 1)))
    wt = dev(xp, rng.standard_normal((4, 3, 2, 3)))
    assert dlconv(dlarray(x, "SSCB"), wt, 0, Padding="same").shape == (7, 8, 3, 1)
    assert dlconv(dlarray(x, "SSCB"), wt, 0, Padding="same", Stride=2).shape == (4, 4, 3, 1)
    assert dlconv(dlarray(x, "SSCB"), wt, 0, Padding="same", Stride=3).shape == (3, 3, 3, 1)


def test_same_padding_puts_an_odd_extra_at_the_bottom_and_right(xp, rng):
    x = dev(xp, rng.standard_normal((5, 6, 2, 2)))
    X = dlarray(x, "SSCB")
    wt = dev(xp, rng.standard_normal((4, 3, 2, 3)))  # totals: 3 rows (1 + 2), 2 columns (1 + 1)
    np.testing.assert_array_equal(host(dlconv(X, wt, 0, Padding="same")),
                                  host(dlconv(X, wt, 0, Padding=[1, 2, 1, 1])))
    # pool 2, stride 2: 5 rows -> 3 outputs need 1 extra row, at the bottom; 6 columns need none
    np.testing.assert_array_equal(host(maxpool(X, 2, Stride=2, Padding="same")),
                                  host(maxpool(X, 2, Stride=2, Padding=[0, 1, 0, 0])))
    np.testing.assert_array_equal(host(avgpool(X, 3, Stride=1, Padding="same")),
                                  host(avgpool(X, 3, Stride=1, Padding=1)))


def test_dlconv_float32_in_float32_out_and_format_kept(xp, rng):
    case = CONV_CASES["stride2-pad1"]
    x, wt, b = _conv_data(rng, case, np.float32)
    Y = dlconv(dlarray(dev(xp, x), "SSCB"), dlarray(dev(xp, wt)), dlarray(dev(xp, b)),
               **_options(case))
    assert Y.dtype == np.float32
    assert Y.fmt == "SSCB"
    expected = ref.conv2d(x, wt, b, (2, 2), (1, 1, 1, 1))
    np.testing.assert_allclose(host(Y), expected, rtol=1e-4, atol=1e-4)


def test_dlconv_float32_gradients_are_float32(xp, rng):
    x, wt, b = _conv_data(rng, CONV_CASES["basic"], np.float32)

    def grads(X, W, B):
        return dlgradient(dlconv(X, W, B, Padding=1).sum(), X, W, B)

    gx, gw, gb = dlfeval(grads, dlarray(dev(xp, x), "SSCB"), dlarray(dev(xp, wt)),
                         dlarray(dev(xp, b)))
    assert (gx.dtype, gw.dtype, gb.dtype) == (np.float32,) * 3
    assert (gx.shape, gw.shape, gb.shape) == (x.shape, wt.shape, b.shape)
    assert gx.fmt == "SSCB"


@pytest.mark.parametrize("bias", ["per-filter", "one-element", "number"])
def test_dlconv_float64_weights_and_bias_keep_float32_data_float32(xp, rng, bias):
    """MATLAB: single op double is single. The gradients keep each input's own dtype."""
    x, wt, b = _conv_data(rng, CONV_CASES["stride2-pad1"])
    B = {"per-filter": dlarray(dev(xp, b)), "one-element": dlarray(dev(xp, b[:1])),
         "number": 0.5}[bias]
    b_ref = {"per-filter": b, "one-element": np.full_like(b, b[0]), "number": np.full_like(b, 0.5)}
    X32 = dlarray(dev(xp, x.astype(np.float32)), "SSCB")
    Y = dlconv(X32, dlarray(dev(xp, wt)), B, Stride=2, Padding=1)
    assert Y.dtype == np.float32
    expected = ref.conv2d(x.astype(np.float32), wt, b_ref[bias], (2, 2), (1, 1, 1, 1))
    np.testing.assert_allclose(host(Y), expected, rtol=1e-4, atol=1e-4)
    W32 = dlarray(dev(xp, wt.astype(np.float32)))
    assert dlconv(X32, W32, B, Stride=2, Padding=1).dtype == np.float32

    def grads(X, W, B):
        return dlgradient(dlconv(X, W, B, Stride=2, Padding=1).sum(), X, W, B)

    if bias == "number":
        gx, gw = dlfeval(lambda X, W: dlgradient(dlconv(X, W, 0.5, Stride=2, Padding=1).sum(),
                                                 X, W), X32, dlarray(dev(xp, wt)))
        assert (gx.dtype, gw.dtype) == (np.float32, np.float64)
        return
    gx, gw, gb = dlfeval(grads, X32, dlarray(dev(xp, wt)), B)
    assert (gx.dtype, gw.dtype, gb.dtype) == (np.float32, np.float64, np.float64)
    assert (gw.shape, gb.shape) == (wt.shape, B.shape)


def test_dlconv_output_is_nhwc_in_memory(xp, rng):
    x, wt, b = _conv_data(rng, CONV_CASES["basic"], np.float32)
    Y = dlconv(dlarray(dev(xp, x), "SSCB"), dev(xp, wt), dev(xp, b))
    assert Y.extractdata().transpose(3, 0, 1, 2).flags["C_CONTIGUOUS"]


def test_dlconv_single_observation_ssc(xp, rng):
    x, wt, b = _conv_data(rng, CONV_CASES["same-odd-total"])
    Y = dlconv(dlarray(dev(xp, x[..., 0]), "SSC"), dev(xp, wt), dev(xp, b), Padding="same")
    assert Y.fmt == "SSC"
    expected = ref.conv2d(x, wt, b, pads=_conv_pads(CONV_CASES["same-odd-total"]))[..., 0]
    np.testing.assert_allclose(host(Y), expected, atol=1e-10)


def test_dlconv_accepts_any_memory_layout(xp, rng):
    x, wt, b = _conv_data(rng, CONV_CASES["basic"])
    nchw = np.ascontiguousarray(x.transpose(3, 2, 0, 1))
    Y1 = dlconv(dlarray(dev(xp, x), "SSCB"), dev(xp, wt), dev(xp, b))
    Y2 = dlconv(dlarray(dev(xp, nchw), "BCSS"), dev(xp, wt), dev(xp, b))
    np.testing.assert_allclose(host(Y1), host(Y2), atol=1e-12)


@pytest.mark.parametrize("shape", [(4,), (1, 1, 4), (4, 1), (1, 4)])
def test_dlconv_bias_any_shape_with_f_elements(xp, rng, shape):
    x, wt, b = _conv_data(rng, CONV_CASES["basic"])
    expected = ref.conv2d(x, wt, b)
    Y = dlconv(dlarray(dev(xp, x), "SSCB"), dev(xp, wt), dev(xp, b.reshape(shape)))
    np.testing.assert_allclose(host(Y), expected, atol=1e-10)


def test_dlconv_bias_zero_means_none_and_a_scalar_is_added_everywhere(xp, rng):
    x, wt, _ = _conv_data(rng, CONV_CASES["basic"])
    X = dlarray(dev(xp, x), "SSCB")
    no_bias = ref.conv2d(x, wt, np.zeros(4))
    np.testing.assert_allclose(host(dlconv(X, dev(xp, wt), 0)), no_bias, atol=1e-10)
    np.testing.assert_allclose(host(dlconv(X, dev(xp, wt), None)), no_bias, atol=1e-10)
    np.testing.assert_allclose(host(dlconv(X, dev(xp, wt), 1.5)), no_bias + 1.5, atol=1e-10)


def test_dlconv_three_dimensional_weights_mean_one_filter(xp, rng):
    x = rng.standard_normal((5, 5, 2, 2))
    wt = rng.standard_normal((3, 3, 2))
    Y = dlconv(dlarray(dev(xp, x), "SSCB"), dev(xp, wt), 0.5)
    np.testing.assert_allclose(host(Y), ref.conv2d(x, wt[..., None], [0.5]), atol=1e-10)


def test_dlconv_positional_pairs_and_case_insensitive_names(xp, rng):
    x, wt, b = _conv_data(rng, CONV_CASES["basic"])
    X, W, B = dlarray(dev(xp, x), "SSCB"), dev(xp, wt), dev(xp, b)
    by_keyword = dlconv(X, W, B, Stride=2, Padding="same", DilationFactor=[1, 2])
    by_pairs = dlconv(X, W, B, "stride", 2, "PADDING", "same", "dilationfactor", [1, 2])
    mixed = dlconv(X, W, B, "Stride", 2, padding="same", DILATIONFACTOR=[1, 2])
    np.testing.assert_array_equal(host(by_keyword), host(by_pairs))
    np.testing.assert_array_equal(host(by_keyword), host(mixed))


# ---- dlconv gradients ------------------------------------------------------------------------

@pytest.mark.parametrize("name", list(CONV_CASES))
def test_dlconv_gradcheck(xp, rng, name):
    case = CONV_CASES[name]
    x, wt, b = _conv_data(rng, case)
    opts = _options(case)
    gradcheck(lambda X, W, B: dlconv(X, W, B, **opts), dlarray(dev(xp, x), "SSCB"),
              dlarray(dev(xp, wt)), dlarray(dev(xp, b)))


def test_dlconv_gradcheck_single_observation_and_scalar_bias(xp, rng):
    x = rng.standard_normal((5, 4, 2))
    wt = rng.standard_normal((2, 3, 2, 3))
    gradcheck(lambda X, W, B: dlconv(X, W, B, Padding=[1, 0, 0, 2], Stride=[1, 2]),
              dlarray(dev(xp, x), "SSC"), dlarray(dev(xp, wt)), dlarray(dev(xp, [0.3])))


def test_first_layer_does_not_compute_the_input_gradient(xp, rng, monkeypatch):
    calls = []
    real = conv_module._col2im

    def spy(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(conv_module, "_col2im", spy)
    x, wt, b = _conv_data(rng, CONV_CASES["basic"])
    X, W, B = dlarray(dev(xp, x), "SSCB"), dlarray(dev(xp, wt)), dlarray(dev(xp, b))

    gw, gb = dlfeval(lambda X, W, B: dlgradient(dlconv(X, W, B).sum(), W, B), X, W, B)
    assert calls == []
    assert gw.shape == wt.shape and gb.shape == b.shape
    dlfeval(lambda X, W, B: dlgradient(dlconv(X, W, B).sum(), X), X, W, B)
    assert calls == [1]


def test_dlconv_constant_weights_give_only_the_input_gradient(xp, rng):
    x, wt, b = _conv_data(rng, CONV_CASES["stride2-pad1"])
    opts = _options(CONV_CASES["stride2-pad1"])
    # weights and bias as plain arrays: constants, not differentiated
    gradcheck(lambda X: dlconv(X, dev(xp, wt), dev(xp, b), **opts), dlarray(dev(xp, x), "SSCB"))


# ---- dlconv errors ---------------------------------------------------------------------------

def test_dlconv_rejects_unsupported_formats(xp, rng):
    wt = dev(xp, rng.standard_normal((2, 2, 3, 1)))
    with pytest.raises(ValueError, match=r"format 'SSCB'.*'SSC'.*got format none"):
        dlconv(dlarray(dev(xp, rng.standard_normal((4, 4, 3, 2)))), wt, 0)
    with pytest.raises(ValueError, match=r"dlconv.*got format 'CB'"):
        dlconv(dlarray(dev(xp, rng.standard_normal((3, 2))), "CB"), wt, 0)
    with pytest.raises(ValueError, match=r"got format 'SSSCB'"):
        dlconv(dlarray(dev(xp, rng.standard_normal((4, 4, 4, 3, 2))), "SSSCB"), wt, 0)
    with pytest.raises(TypeError, match=r"dlconv: X must be a formatted dlarray"):
        dlconv(rng.standard_normal((4, 4, 3, 2)), wt, 0)


def test_dlconv_channel_mismatch_names_both_sizes(xp, rng):
    X = dlarray(dev(xp, rng.standard_normal((5, 5, 3, 2))), "SSCB")
    with pytest.raises(ValueError, match=r"X has 3 channels but the weights expect 2"):
        dlconv(X, dev(xp, rng.standard_normal((2, 2, 2, 4))), 0)


def test_dlconv_filter_larger_than_padded_input(xp, rng):
    X = dlarray(dev(xp, rng.standard_normal((4, 4, 1, 1))), "SSCB")
    W = dev(xp, rng.standard_normal((5, 5, 1, 1)))
    with pytest.raises(ValueError, match=r"filter \[5  5\] is larger than the padded input "
                                         r"\(4x4: input 4x4 with Padding \[0  0  0  0\]\)"):
        dlconv(X, W, 0)
    with pytest.raises(ValueError, match=r"spanning 5x3 with DilationFactor \[2  1\].*"
                                         r"padded input \(4x4"):
        dlconv(X, dev(xp, rng.standard_normal((3, 3, 1, 1))), 0, DilationFactor=[2, 1])
    assert dlconv(X, W, 0, Padding=[1, 0, 0, 1]).shape == (1, 1, 1, 1)


@pytest.mark.parametrize("option, value, message", [
    ("Stride", 0, r"dlconv: Stride must be a positive integer or a vector of 2 positive "
                  r"integers, got 0"),
    ("Stride", [1, 2, 3], r"Stride must be a positive integer"),
    ("Stride", 1.5, r"Stride must be a positive integer"),
    ("DilationFactor", 0, r"dlconv: DilationFactor must be a positive integer"),
    ("Padding", -1, r"dlconv: Padding must be 'same', a nonnegative integer or a vector of 2 "
                    r"or 4 nonnegative integers, got -1"),
    ("Padding", [1, 2, 3], r"Padding must be 'same'"),
    ("Padding", "valid", r"Padding must be 'same'"),
])
def test_dlconv_bad_options_name_the_option_and_the_expected_value(xp, rng, option, value,
                                                                   message):
    X = dlarray(dev(xp, rng.standard_normal((5, 5, 2, 1))), "SSCB")
    W = dev(xp, rng.standard_normal((2, 2, 2, 3)))
    with pytest.raises(ValueError, match=message):
        dlconv(X, W, 0, **{option: value})


@pytest.mark.parametrize("option, plain, odd", [
    ("Stride", (1, 1), (True, 1)), ("DilationFactor", (1, 1), (1, True)),
    ("Padding", (1, 1), (True, 1)), ("Padding", 1, True)])
def test_dlconv_option_validation_does_not_depend_on_earlier_calls(xp, rng, option, plain, odd):
    """(True, 1) == (1, 1) but is no vector of integers: rejected even after (1, 1) was seen."""
    X = dlarray(dev(xp, rng.standard_normal((5, 5, 2, 1))), "SSCB")
    W = dev(xp, rng.standard_normal((2, 2, 2, 3)))
    dlconv(X, W, 0, **{option: plain})
    with pytest.raises(ValueError, match=rf"dlconv: {option} must be"):
        dlconv(X, W, 0, **{option: odd})


@pytest.mark.parametrize("pool", [maxpool, avgpool])
def test_pool_option_validation_does_not_depend_on_earlier_calls(xp, rng, pool):
    X = dlarray(dev(xp, rng.standard_normal((5, 5, 2, 1))), "SSCB")
    pool(X, (2, 2), Stride=(1, 1))
    with pytest.raises(ValueError, match=rf"{pool.__name__}: poolsize must be"):
        pool(X, (True, 2))
    with pytest.raises(ValueError, match=rf"{pool.__name__}: Stride must be"):
        pool(X, 2, Stride=(1, True))


def test_dlconv_bad_weights_bias_and_names(xp, rng):
    X = dlarray(dev(xp, rng.standard_normal((5, 5, 2, 1))), "SSCB")
    W = dev(xp, rng.standard_normal((2, 2, 2, 3)))
    with pytest.raises(ValueError, match=r"bias must have 3 elements .*got 2 elements"):
        dlconv(X, W, dev(xp, np.ones(2)))
    with pytest.raises(ValueError, match=r"weights must be a filterHeight x filterWidth x "
                                         r"numChannels x numFilters array, got size "
                                         r"\[2  2  2  3  1  2\]"):
        dlconv(X, dev(xp, np.ones((2, 2, 2, 3, 1, 2))), 0)
    with pytest.raises(ValueError, match=r"'Strid' is not an option for dlconv\. "
                                         r"Did you mean 'Stride'\?"):
        dlconv(X, W, 0, Strid=2)
    with pytest.raises(ValueError, match=r"must come in pairs"):
        dlconv(X, W, 0, "Stride")


# ---- pooling forward -------------------------------------------------------------------------

def _pool_opts(case):
    return {"Stride": case[5], "Padding": case[6]}


@pytest.mark.parametrize("name", list(POOL_CASES))
def test_maxpool_matches_naive_reference(xp, rng, name):
    case = POOL_CASES[name]
    h, w, c, n, pool, stride = case[:6]
    x = rng.standard_normal((h, w, c, n))
    Y = maxpool(dlarray(dev(xp, x), "SSCB"), pool, **_pool_opts(case))
    expected = ref.pool2d(x, _pair(pool), _pair(stride), _pool_pads(case), "max")
    assert Y.fmt == "SSCB" and Y.shape == expected.shape
    np.testing.assert_array_equal(host(Y), expected)


@pytest.mark.parametrize("name", list(POOL_CASES))
@pytest.mark.parametrize("pad_value", [0, "mean", 2.5])
def test_avgpool_matches_naive_reference(xp, rng, name, pad_value):
    case = POOL_CASES[name]
    h, w, c, n, pool, stride = case[:6]
    x = rng.standard_normal((h, w, c, n))
    Y = avgpool(dlarray(dev(xp, x), "SSCB"), pool, PaddingValue=pad_value, **_pool_opts(case))
    expected = ref.pool2d(x, _pair(pool), _pair(stride), _pool_pads(case), "avg", pad_value)
    assert Y.fmt == "SSCB" and Y.shape == expected.shape
    np.testing.assert_allclose(host(Y), expected, rtol=1e-12, atol=1e-12)


def test_avgpool_padding_value_zero_counts_padded_zeros(xp):
    X = dlarray(dev(xp, np.ones((2, 2, 1, 1))), "SSCB")
    np.testing.assert_allclose(host(avgpool(X, 2, Stride=2, Padding=1))[..., 0, 0],
                               [[0.25, 0.25], [0.25, 0.25]])
    np.testing.assert_allclose(host(avgpool(X, 2, Stride=2, Padding=1, PaddingValue="mean")),
                               np.ones((2, 2, 1, 1)))


def test_global_pooling(xp, rng):
    x = rng.standard_normal((5, 4, 3, 2))
    X = dlarray(dev(xp, x), "SSCB")
    np.testing.assert_array_equal(host(maxpool(X, "global")), x.max(axis=(0, 1), keepdims=True))
    np.testing.assert_allclose(host(avgpool(X, "Global")), x.mean(axis=(0, 1), keepdims=True),
                               atol=1e-12)
    assert maxpool(X, "global").fmt == "SSCB"


def test_pool_default_stride_is_1_as_in_matlab(xp, rng):
    X = dlarray(dev(xp, rng.standard_normal((6, 7, 2, 1))), "SSCB")
    assert maxpool(X, 2).shape == (5, 6, 2, 1)  # overlapping windows
    assert avgpool(X, [3, 2]).shape == (4, 6, 2, 1)
    np.testing.assert_array_equal(host(maxpool(X, 3)), host(maxpool(X, 3, Stride=1)))
    assert maxpool(X, 2, Stride=2).shape == (3, 3, 2, 1)


def test_pool_float32_single_observation_and_positional_pairs(xp, rng):
    x = rng.standard_normal((5, 6, 3)).astype(np.float32)
    X = dlarray(dev(xp, x), "SSC")
    for pool in (maxpool, avgpool):
        Y = pool(X, 3, "stride", 1, "PADDING", 1)
        assert Y.fmt == "SSC" and Y.dtype == np.float32 and Y.shape == (5, 6, 3)
        np.testing.assert_array_equal(host(Y), host(pool(X, 3, Stride=1, padding=1)))
    expected = ref.pool2d(x[..., None], (3, 3), (1, 1), (1, 1, 1, 1))[..., 0]
    np.testing.assert_allclose(host(maxpool(X, 3, "Stride", 1, "Padding", 1)), expected)


# ---- pooling gradients -----------------------------------------------------------------------

@pytest.mark.parametrize("name", list(POOL_CASES))
def test_maxpool_gradcheck(xp, rng, name):
    case = POOL_CASES[name]
    x = rng.standard_normal(case[:4])
    opts = _pool_opts(case)
    gradcheck(lambda X: maxpool(X, case[4], **opts), dlarray(dev(xp, x), "SSCB"))


@pytest.mark.parametrize("name", list(POOL_CASES))
@pytest.mark.parametrize("pad_value", [0, "mean"])
def test_avgpool_gradcheck(xp, rng, name, pad_value):
    case = POOL_CASES[name]
    x = rng.standard_normal(case[:4])
    opts = _pool_opts(case)
    gradcheck(lambda X: avgpool(X, case[4], PaddingValue=pad_value, **opts),
              dlarray(dev(xp, x), "SSCB"))


def test_global_pooling_gradcheck(xp, rng):
    X = dlarray(dev(xp, rng.standard_normal((3, 4, 2, 2))), "SSCB")
    gradcheck(lambda X: maxpool(X, "global"), X)
    gradcheck(lambda X: avgpool(X, "global"), X)


def _pool_grad(xp, x, **opts):
    X = dlarray(dev(xp, x), "SSCB")
    return host(dlfeval(lambda X: dlgradient(maxpool(X, 2, **opts).sum(), X), X))


@pytest.mark.parametrize("opts", [{}, {"Stride": 3}, {"Stride": 2, "Padding": [0, 1, 0, 1]}])
def test_maxpool_tie_sends_the_gradient_to_the_first_max_in_column_major_order(xp, opts):
    # Window [[1 5], [5 5]]: three tied maxima; MATLAB's column-major order reads (0,0), (1,0),
    # (0,1), (1,1), so (1, 0) is the first maximum and alone gets the gradient.
    x = np.zeros((2, 2, 1, 1))
    x[:, :, 0, 0] = [[1, 5], [5, 5]]
    g = _pool_grad(xp, x, **opts)
    np.testing.assert_array_equal(g[:, :, 0, 0], [[0, 0], [1, 0]])


def test_maxpool_all_equal_windows_give_one_gradient_per_window(xp):
    x = np.full((4, 4, 2, 2), 3.0)
    tiling = np.zeros((4, 4))
    tiling[::2, ::2] = 1  # each 2x2 window's first element
    np.testing.assert_array_equal(_pool_grad(xp, x, Stride=2)[..., 1, 0], tiling)
    overlapping = np.zeros((4, 4))
    overlapping[:3, :3] = 1  # 9 windows, each starting at a different pixel
    np.testing.assert_array_equal(_pool_grad(xp, x)[..., 0, 1], overlapping)  # default stride


def test_maxpool_overlapping_windows_accumulate(xp):
    x = np.zeros((3, 3, 1, 1))
    x[1, 1] = 1.0  # the center is the maximum of all four overlapping 2x2 windows
    np.testing.assert_array_equal(_pool_grad(xp, x, Stride=1)[..., 0, 0],
                                  [[0, 0, 0], [0, 4, 0], [0, 0, 0]])


def test_pool_gradients_are_float32_and_keep_the_format(xp, rng):
    X = dlarray(dev(xp, rng.standard_normal((6, 6, 2, 2)).astype(np.float32)), "SSCB")
    for pool in (maxpool, avgpool):
        for opts in ({}, {"Stride": 1, "Padding": 1}):
            g = dlfeval(lambda X: dlgradient(pool(X, 2, **opts).sum(), X), X)  # noqa: B023
            assert g.dtype == np.float32 and g.fmt == "SSCB" and g.shape == X.shape


# ---- pooling errors --------------------------------------------------------------------------

@pytest.mark.parametrize("pool", [maxpool, avgpool])
def test_pool_errors_name_the_option_and_the_expected_value(xp, rng, pool):
    name = pool.__name__
    X = dlarray(dev(xp, rng.standard_normal((5, 5, 2, 1))), "SSCB")
    with pytest.raises(ValueError, match=rf"{name}: Padding \[2  2  2  2\] must be smaller than "
                                         r"the pool size \[2  2\]"):
        pool(X, 2, Padding=2)
    with pytest.raises(ValueError, match=rf"{name}: poolsize must be a positive integer, a vector "
                                         r"of 2 positive integers or 'global', got 'globl'"):
        pool(X, "globl")
    with pytest.raises(ValueError, match=rf"{name}: poolsize must be a positive integer"):
        pool(X, 0)
    with pytest.raises(ValueError, match=rf"{name}: Stride must be a positive integer .*got 0"):
        pool(X, 2, Stride=0)
    with pytest.raises(ValueError, match=rf"{name}: Padding must be 'same'.*got -1"):
        pool(X, 2, Padding=-1)
    with pytest.raises(ValueError, match=rf"{name}: the pool size \[6  2\] is larger than the "
                                         r"padded input \(5x5"):
        pool(X, [6, 2])
    with pytest.raises(ValueError, match=rf"{name}.*got format 'CB'"):
        pool(dlarray(dev(xp, np.ones((2, 3))), "CB"), 2)
    with pytest.raises(ValueError, match=rf"'Strides' is not an option for {name}\. "
                                         r"Did you mean 'Stride'\?"):
        pool(X, 2, Strides=1)


def test_avgpool_bad_padding_value(xp, rng):
    X = dlarray(dev(xp, rng.standard_normal((4, 4, 1, 1))), "SSCB")
    with pytest.raises(ValueError, match=r"avgpool: PaddingValue must be a finite number "
                                         r"\(default 0\) or 'mean', got 'max'"):
        avgpool(X, 2, PaddingValue="max")
    with pytest.raises(ValueError, match=r"PaddingValue must be a finite number"):
        avgpool(X, 2, PaddingValue=float("inf"))
    with pytest.raises(ValueError, match=r"'PaddingValue' is not an option for maxpool"):
        maxpool(X, 2, PaddingValue=0)
