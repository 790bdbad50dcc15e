"""The fast paths of issue 17 give what the plain computations give: the tiled layout copy
(backend.contiguous), the one-read input statistics (layers.input._moments) and the
normalization's sums of products (ops.norm._sum_of_products)."""

import numpy as np
import pytest

from minidl.backend import contiguous
from minidl.layers.input import _moments
from minidl.ops.norm import _sum_of_products, _sum_over


@pytest.mark.parametrize("shape", [(28, 28, 3, 1000), (5, 7, 3, 300), (17, 19, 2, 611)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.uint8])
def test_contiguous_copies_a_transposed_array_exactly(shape, dtype):
    x = (np.random.default_rng(0).random(shape) * 200).astype(dtype)
    view = x.transpose(3, 0, 1, 2)  # H x W x C x N seen as N x H x W x C
    out = contiguous(view, np.float32)
    assert out.flags.c_contiguous and out.dtype == np.float32 and out.shape == view.shape
    np.testing.assert_array_equal(out, view.astype(np.float32))


def test_contiguous_returns_contiguous_float32_data_itself():
    x = np.zeros((300, 300), np.float32)
    assert contiguous(x, np.float32) is x


def _reference(x, axes):
    x64 = x.astype(np.float64)
    return x64.mean(axis=axes), x64.std(axis=axes)


@pytest.mark.parametrize("axes", [(0, 1, 3), (3,), (0, 1, 2, 3)])
@pytest.mark.parametrize("layout", ["C-ordered HWCN", "channels-last memory"])
def test_moments_match_float64_statistics_in_either_memory_order(axes, layout):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((6, 5, 3, 700)).astype(np.float32) * 3 + 2
    if layout == "channels-last memory":
        x = np.ascontiguousarray(x.transpose(3, 0, 1, 2)).transpose(1, 2, 3, 0)
    mean, std = _moments(x, axes)
    ref_mean, ref_std = _reference(x, axes)
    # float32 results of float64 statistics: a few float32 roundings of the values' scale
    scale = float(np.abs(x).max())
    np.testing.assert_allclose(mean.reshape(ref_mean.shape), ref_mean, rtol=0,
                               atol=4 * np.finfo(np.float32).eps * scale)
    np.testing.assert_allclose(std.reshape(ref_std.shape), ref_std, rtol=1e-5)
    only_mean, none = _moments(x, axes, need_std=False)
    assert none is None
    np.testing.assert_array_equal(only_mean, mean)


def test_moments_of_a_large_mean_keep_the_small_spread():
    # 1000 +- 1: a float32 sum of squares would lose the variance to cancellation
    x = (1000 + np.random.default_rng(2).standard_normal((4, 4, 3, 5000))).astype(np.float32)
    for data in (x, np.ascontiguousarray(x.transpose(3, 0, 1, 2)).transpose(1, 2, 3, 0)):
        _, std = _moments(data, (0, 1, 3))
        np.testing.assert_allclose(std.ravel(), _reference(data, (0, 1, 3))[1], rtol=1e-4)


def test_moments_of_integer_images():
    x = np.random.default_rng(3).integers(0, 256, (7, 6, 3, 400), dtype=np.uint8)
    mean, std = _moments(x, (0, 1, 3))
    ref_mean, ref_std = _reference(x, (0, 1, 3))
    np.testing.assert_allclose(mean.ravel(), ref_mean, rtol=1e-6)
    np.testing.assert_allclose(std.ravel(), ref_std, rtol=1e-5)


@pytest.mark.parametrize("shape, shared", [
    ((6, 5, 5, 4, 1), [False, True, True, False, False]),   # instance
    ((6, 5, 5, 4, 1), [True, True, True, False, False]),    # batch
    ((6, 5, 5, 1, 4), [False, True, True, True, True]),     # layer
    ((6, 5, 5, 2, 2), [False, True, True, False, True]),    # group
])
def test_sum_of_products_is_the_sum_of_the_product(shape, shared):
    rng = np.random.default_rng(4)
    a, b = rng.standard_normal(shape), rng.standard_normal(shape)
    got = _sum_of_products(a, b, shared)
    want = _sum_over(a * b, shared)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12 * float(np.abs(a * b).sum()))
