"""Input layers: normalizations, fit_normalization statistics and input labelling/checks."""

import numpy as np
import pytest

from minidl import dlarray
from minidl.layers import featureInputLayer, imageInputLayer
from tests.conftest import dev, host


@pytest.fixture
def data(rng):
    """Training images H x W x C x N with a different scale per channel."""
    scale, shift = np.array([1, 2, 3])[:, None], np.array([0, 10, -5])[:, None]
    return (rng.standard_normal((4, 5, 3, 40)) * scale + shift).astype(np.float32)


def test_zerocenter_without_mean_passes_data_through_until_fitted(xp, data):
    layer = imageInputLayer([4, 5, 3])
    X = dlarray(dev(xp, data[..., :2]), "SSCB")
    assert layer.Mean is None
    np.testing.assert_array_equal(host(layer.predict(X)), data[..., :2])
    layer.fit_normalization(data)
    assert layer.Mean.shape == (1, 1, 3) and layer.Mean.dtype == np.float32
    np.testing.assert_allclose(layer.Mean.ravel(), data.mean(axis=(0, 1, 3)), rtol=1e-5,
                               atol=1e-5)
    np.testing.assert_allclose(host(layer.predict(X)), data[..., :2] - layer.Mean[..., None],
                               rtol=1e-6)


def test_zscore_statistics_are_channelwise_population_std(xp, data):
    layer = imageInputLayer([4, 5, 3], Normalization="zscore")
    layer.fit_normalization(data)
    np.testing.assert_allclose(layer.StandardDeviation.ravel(), data.std(axis=(0, 1, 3)),
                               rtol=1e-5)
    Y = host(layer.predict(dlarray(dev(xp, data), "SSCB")))
    np.testing.assert_allclose(Y.mean(axis=(0, 1, 3)), 0, atol=1e-5)
    np.testing.assert_allclose(Y.std(axis=(0, 1, 3)), 1, rtol=1e-4)


@pytest.mark.parametrize("norm, lo, hi", [("rescale-symmetric", -1, 1),
                                          ("rescale-zero-one", 0, 1)])
def test_rescaling_maps_the_training_range(xp, data, norm, lo, hi):
    layer = imageInputLayer([4, 5, 3], Normalization=norm)
    layer.fit_normalization(data)
    np.testing.assert_allclose(layer.Min.ravel(), data.min(axis=(0, 1, 3)))
    Y = host(layer.predict(dlarray(dev(xp, data), "SSCB")))
    np.testing.assert_allclose(Y.min(axis=(0, 1, 3)), lo, atol=1e-6)
    np.testing.assert_allclose(Y.max(axis=(0, 1, 3)), hi, atol=1e-6)


def test_normalization_dimension_element_and_all(data):
    element = imageInputLayer([4, 5, 3], NormalizationDimension="element")
    element.fit_normalization(data)
    assert element.Mean.shape == (4, 5, 3)
    np.testing.assert_allclose(element.Mean, data.mean(axis=3), rtol=1e-5, atol=1e-5)
    everything = imageInputLayer([4, 5, 3], Normalization="zscore", NormalizationDimension="all")
    everything.fit_normalization(data)
    assert everything.Mean.shape == () and np.isclose(everything.Mean, data.mean(), atol=1e-5)
    assert np.isclose(everything.StandardDeviation, data.std(), rtol=1e-5)


def test_fit_normalization_handles_constant_channels_and_integer_images():
    images = np.zeros((2, 2, 1, 3), np.uint8)
    images[..., 0, :] = 255
    layer = imageInputLayer([2, 2], Normalization="zscore")
    layer.fit_normalization(images)
    assert layer.Mean.ravel()[0] == 255 and layer.StandardDeviation.ravel()[0] == 1
    scaled = imageInputLayer([2, 2], Normalization="rescale-zero-one")
    scaled.fit_normalization(images)
    assert scaled.Min.ravel()[0] == 255 and scaled.Max.ravel()[0] == 256
    with pytest.raises(ValueError, match=r"expects data of size 2x2x1 x N .* got 3x2x1x3"):
        layer.fit_normalization(np.zeros((3, 2, 1, 3)))


def test_given_statistics_and_callable_and_none(xp):
    X = dlarray(dev(xp, np.arange(8, dtype=np.float32).reshape(2, 2, 2, 1)), "SSCB")
    layer = imageInputLayer([2, 2, 2], Normalization="zscore", Mean=[1, 2],
                            StandardDeviation=[2, 4])
    assert layer.Mean.shape == (1, 1, 2)
    x = host(X)
    expected = (x - np.array([1, 2]).reshape(1, 1, 2, 1)) / np.array([2, 4]).reshape(1, 1, 2, 1)
    np.testing.assert_allclose(host(layer.predict(X)), expected)
    assert host(imageInputLayer([2, 2, 2], Normalization=lambda Z: Z * 2).predict(X))[1, 1, 1, 0] \
        == 14
    assert imageInputLayer([2, 2, 2], Normalization="none").predict(X) is X
    with pytest.raises(ValueError, match=r"Mean must be a scalar, have one value per channel "
                                         r"\(2\) or have the input size 2x2x2, got an array of "
                                         r"size 3"):
        imageInputLayer([2, 2, 2], Mean=[1, 2, 3])


def test_feature_input_normalization_uses_c_by_1_statistics(xp, rng):
    data = (rng.standard_normal((3, 50)) * [[1], [5], [10]]).astype(np.float32)
    layer = featureInputLayer(3, Normalization="zscore")
    layer.fit_normalization(data)
    assert layer.Mean.shape == layer.StandardDeviation.shape == (3, 1)
    Y = host(layer.predict(dlarray(dev(xp, data), "CB")))
    np.testing.assert_allclose(Y.std(axis=1), 1, rtol=1e-4)


def test_prepare_labels_raw_data_in_matlab_layout(xp):
    layer = imageInputLayer([2, 3, 1])
    X = layer.prepare(np.zeros((2, 3, 1, 4)))
    assert X.fmt == "SSCB" and X.shape == (2, 3, 1, 4) and X.dtype == np.float32
    assert layer.prepare(np.zeros((2, 3))).shape == (2, 3, 1, 1)  # one grayscale image
    assert layer.prepare(dlarray(np.zeros((2, 3, 1)), "SSC")).fmt == "SSCB"
    assert featureInputLayer(3).prepare(np.zeros((5, 3))).shape == (3, 5)
    with pytest.raises(ValueError, match=r"layer '' \(Image Input\) expects input of size "
                                         r"2x3x1 \(height x width x channels x observations\), "
                                         r"got 3x2x1"):
        layer.predict(layer.prepare(np.zeros((3, 2, 1, 4))))
    with pytest.raises(ValueError, match=r"expects input with format 'SSCB', got 'CB'"):
        layer.predict(dlarray(np.zeros((6, 4)), "CB"))


def test_raw_feature_data_is_one_row_per_observation_as_in_matlab(xp, rng):
    data = rng.standard_normal((5, 3)).astype(np.float32)  # 5 observations of 3 features
    layer = featureInputLayer(3)
    for X in (dev(xp, data), dlarray(dev(xp, data))):  # raw, and an unformatted dlarray
        Y = layer.prepare(X)
        assert Y.fmt == "CB" and Y.shape == (3, 5)
        np.testing.assert_array_equal(host(Y), data.T)
    one = layer.prepare(dev(xp, data[0]))  # a vector of numFeatures values: one observation
    assert one.shape == (3, 1)
    np.testing.assert_array_equal(host(one)[:, 0], data[0])
    column = featureInputLayer(1).prepare(dev(xp, data[:, 0]))  # one feature, 5 observations
    assert column.shape == (1, 5)
    assert layer.prepare(dlarray(dev(xp, data.T), "CB")).shape == (3, 5)  # a format is kept
    with pytest.raises(ValueError, match=r"expects raw data of size N x 3 \(observations x "
                                         r"features, one row per observation\), got 3x5"):
        layer.prepare(dev(xp, data.T))
    with pytest.raises(ValueError, match=r"expects input of size 3 \(features x observations\)"
                                         r", got 5"):
        layer.predict(layer.prepare(dlarray(dev(xp, data.T), "BC")))
    with pytest.raises(ValueError, match=r"at most 2 dimensions \(observations x features\)"):
        layer.prepare(dev(xp, data[None]))


def test_a_grayscale_mean_image_may_drop_its_channel_dimension():
    layer = imageInputLayer([4, 5], Mean=np.arange(20.0).reshape(4, 5))  # MATLAB's mean(X, 4)
    assert layer.Mean.shape == (4, 5, 1)
    np.testing.assert_array_equal(layer.Mean[..., 0], np.arange(20.0).reshape(4, 5))


def test_bad_statistics_name_the_constructor_and_the_option():
    with pytest.raises(ValueError, match="imageInputLayer: Mean must be numeric, got 'abc'"):
        imageInputLayer([4, 4, 3], Mean="abc")
    with pytest.raises(ValueError, match=r"featureInputLayer: StandardDeviation must be a "
                                         r"scalar, have one value per channel \(3\)"):
        featureInputLayer(3, StandardDeviation=np.ones(5))
