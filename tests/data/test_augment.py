"""imageDataAugmenter and augmentedImageDatastore: geometry against independent computations,
randomness, options, sizes, colour and the datastore reads."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import minidl as dl
from minidl.backend import array_module
from minidl.data import is_datastore
from minidl.data.augment import imageDataAugmenter
from minidl.data.augmented_datastore import AugmentedImageDatastore, augmentedImageDatastore
from minidl.data.datastore import imageDatastore
from tests.conftest import dev, host


def shifted(X: np.ndarray, dy: int, dx: int, fill: float) -> np.ndarray:
    """X with its content moved dy rows down and dx columns right, `fill` where nothing lands."""
    out = np.full_like(X, fill)
    H, W = X.shape[:2]
    out[max(dy, 0):H + min(dy, 0), max(dx, 0):W + min(dx, 0)] = \
        X[max(-dy, 0):H - max(dy, 0), max(-dx, 0):W - max(dx, 0)]
    return out


@pytest.fixture
def images(rng):
    return rng.random((6, 6, 2, 5)).astype(np.float32)


# ---- geometry ---------------------------------------------------------------------------------
def test_rotation_by_90_degrees_is_rot90(xp, images):
    out = imageDataAugmenter(RandRotation=[90, 90]).augment(dev(xp, images))
    assert array_module(out) is xp
    np.testing.assert_allclose(host(out), np.rot90(images, 1, axes=(0, 1)), atol=1e-5)


def test_integer_translation_moves_content_and_fills(xp, images):
    aug = imageDataAugmenter(RandXTranslation=[2, 2], RandYTranslation=[-1, -1], FillValue=7)
    out = host(aug.augment(dev(xp, images)))
    np.testing.assert_array_equal(out, shifted(images, -1, 2, 7))


def test_fill_value_per_channel(xp, images):
    aug = imageDataAugmenter(RandXTranslation=[-3, -3], FillValue=[5, -1])
    out = host(aug.augment(dev(xp, images)))
    np.testing.assert_array_equal(out[:, 3:, 0], 5)
    np.testing.assert_array_equal(out[:, 3:, 1], -1)
    np.testing.assert_array_equal(out[:, :3], images[:, 3:])


def test_reflections_flip_about_half_the_images(xp, rng):
    X = rng.random((4, 5, 1, 40)).astype(np.float32)
    for option, axis in (("RandXReflection", 1), ("RandYReflection", 0)):
        out = host(imageDataAugmenter(**{option: True}).augment(dev(xp, X)))
        same = np.all(out == X, axis=(0, 1, 2))
        flipped = np.all(out == np.flip(X, axis=axis), axis=(0, 1, 2))
        assert np.all(same | flipped)
        assert 5 < flipped.sum() < 35


def test_identity_gives_the_input_back_exactly(xp, images):
    X = dev(xp, images)
    out = imageDataAugmenter().augment(X)
    assert out is not X
    np.testing.assert_array_equal(host(out), images)
    # a zero-width range that is not the default still warps, and still exactly
    out = imageDataAugmenter(RandRotation=[0, 0], RandXScale=[1, 1], FillValue=3).augment(X)
    np.testing.assert_array_equal(host(out), images)


def test_scaling_a_constant_image(xp):
    X = dev(xp, np.full((8, 8, 1, 2), 4.0, dtype=np.float32))
    np.testing.assert_allclose(host(imageDataAugmenter(RandScale=[2, 2]).augment(X)), 4.0)
    small = host(imageDataAugmenter(RandScale=[0.5, 0.5], FillValue=-1).augment(X))
    np.testing.assert_allclose(small[3:5, 3:5], 4.0)   # the centre keeps the image
    np.testing.assert_allclose(small[0, 0], -1.0)      # the corners are outside it


def test_shear_moves_rows_by_their_distance_from_the_centre():
    X = np.zeros((5, 5, 1, 1))
    X[0, 2] = 1.0                      # row 0 is 2 rows above the centre (row 2)
    out = imageDataAugmenter(RandXShear=[45, 45]).augment(X)
    expected = np.zeros_like(X)
    expected[0, 0] = 1.0               # x' = x + tan(45°) (y - cy) = 2 - 2
    np.testing.assert_allclose(out, expected, atol=1e-12)


def test_translation_comes_after_rotation():
    X = np.arange(25.0).reshape(5, 5, 1, 1)
    aug = imageDataAugmenter(RandRotation=[90, 90], RandXTranslation=[1, 1])
    np.testing.assert_allclose(aug.augment(X), shifted(np.rot90(X, 1, axes=(0, 1)), 0, 1, 0),
                               atol=1e-9)


def test_function_handle_range():
    X = np.arange(16.0).reshape(4, 4, 1, 1)
    out = imageDataAugmenter(RandRotation=lambda: -90).augment(X)
    np.testing.assert_allclose(out, np.rot90(X, -1, axes=(0, 1)), atol=1e-9)
    with pytest.raises(ValueError, match="RandXScale"):
        imageDataAugmenter(RandXScale=lambda: -1.0).augment(X)


def test_integer_images_stay_integer():
    X = np.arange(16, dtype=np.uint8).reshape(4, 4, 1, 1) * 10
    out = imageDataAugmenter(RandXTranslation=[1, 1]).augment(X)
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, shifted(X, 0, 1, 0))


# ---- randomness --------------------------------------------------------------------------------
def test_each_image_gets_its_own_transform_and_rng_repeats_them(xp, rng):
    X = dev(xp, np.repeat(rng.random((7, 7, 1, 1)), 6, axis=3).astype(np.float32))
    aug = imageDataAugmenter(RandRotation=[-30, 30], RandXTranslation=[-2, 2])
    dl.rng(5)
    first = host(aug.augment(X))
    for i in range(1, 6):
        assert not np.allclose(first[..., 0], first[..., i])
    dl.rng(5)
    np.testing.assert_array_equal(host(aug.augment(X)), first)
    assert not np.array_equal(host(aug.augment(X)), first)


def test_rand_scale_overrides_x_and_y_scale():
    dl.rng(0)
    rows = imageDataAugmenter(RandScale=[0.5, 2], RandXScale=[3, 4]).draw(50)
    np.testing.assert_array_equal(rows[3], rows[4])
    assert np.all((rows[3] >= 0.5) & (rows[3] <= 2)) and np.ptp(rows[3]) > 0.5
    rows = imageDataAugmenter(RandXScale=[3, 4]).draw(50)
    assert np.all((rows[3] >= 3) & (rows[3] <= 4)) and np.all(rows[4] == 1)


# ---- options and display -----------------------------------------------------------------------
def test_display_lists_matlab_properties_in_order():
    text = repr(imageDataAugmenter(RandXTranslation=[-2, 2], RandXScale=[0.9, 1.1]))
    names = [line.split(":")[0].strip() for line in text.splitlines()[2:]]
    assert names == ["FillValue", "RandXReflection", "RandYReflection", "RandRotation",
                     "RandScale", "RandXScale", "RandYScale", "RandXShear", "RandYShear",
                     "RandXTranslation", "RandYTranslation"]
    assert "RandXScale: [0.9000 1.1000]" in text and "RandXTranslation: [-2 2]" in text


@pytest.mark.parametrize("options, message", [
    ({"RandRotation": [10, -10]}, "RandRotation must be .min max. with min <= max"),
    ({"RandRotation": 10}, "RandRotation must be a vector"),
    ({"RandXScale": [0, 1]}, "RandXScale values must be positive"),
    ({"RandYShear": [-90, 0]}, r"RandYShear values must be shear angles .* \(-90, 90\)"),
    ({"RandXReflection": "yes"}, "RandXReflection must be true or false"),
    ({"FillValue": "black"}, "FillValue must be a number"),
    ({"RandRotate": [0, 1]}, "Did you mean 'RandRotation'"),
])
def test_invalid_augmenter_options(options, message):
    with pytest.raises(ValueError, match=message):
        imageDataAugmenter(**options)


def test_setting_a_property_checks_it():
    aug = imageDataAugmenter("RandRotation", [-5, 5])
    aug.RandXTranslation = [-1, 1]
    assert aug.RandXTranslation == (-1.0, 1.0)
    with pytest.raises(ValueError, match="RandXTranslation"):
        aug.RandXTranslation = [1, -1]
    with pytest.raises(AttributeError, match="no property 'Rotation'"):
        aug.Rotation = 3


def test_augment_checks_its_input(images):
    with pytest.raises(ValueError, match="FillValue must be a scalar or have one value per"):
        imageDataAugmenter(RandRotation=[1, 2], FillValue=[1, 2, 3]).augment(images)
    with pytest.raises(ValueError, match="H x W x C x N"):
        imageDataAugmenter().augment(images[:, :, 0, 0])


# ---- augmentedImageDatastore: sizes, colour ----------------------------------------------------
def test_output_size_modes(xp, rng):
    X = rng.random((7, 9, 1, 4)).astype(np.float32)
    for mode in ("resize", "centercrop", "randcrop"):
        ds = augmentedImageDatastore([4, 6], dev(xp, X), OutputSizeMode=mode)
        out = ds.read_all()[0]
        assert out.shape == (4, 6, 1, 4) and array_module(out) is xp
        assert ds.read_batch(np.array([1, 3]))[0].shape == (4, 6, 1, 2)
    # centre crop: MATLAB's floor((size - out) / 2) offsets
    ds = augmentedImageDatastore([4, 6], X, OutputSizeMode="centercrop")
    np.testing.assert_array_equal(ds.read_all()[0], X[1:5, 1:7])
    # random crop: every image is some window of its source, and not all the same window
    out = augmentedImageDatastore([4, 6], X, OutputSizeMode="randcrop").read_batch(
        np.arange(4))[0]
    windows = [next((t, l) for t in range(4) for l in range(4)
                    if np.array_equal(out[..., i], X[t:t + 4, l:l + 6, :, i])) for i in range(4)]
    assert len(windows) == 4
    with pytest.raises(ValueError, match="at least OutputSize"):
        augmentedImageDatastore([8, 6], X, OutputSizeMode="centercrop").read_all()


def test_color_preprocessing(xp, rng):
    gray = rng.random((5, 5, 1, 2)).astype(np.float32)
    out = host(augmentedImageDatastore([5, 5], dev(xp, gray),
                                       ColorPreprocessing="gray2rgb").read_all()[0])
    np.testing.assert_array_equal(out, np.repeat(gray, 3, axis=2))
    rgb = rng.random((5, 5, 3, 2)).astype(np.float32)
    out = host(augmentedImageDatastore([5, 5], dev(xp, rgb),
                                       ColorPreprocessing="rgb2gray").read_all()[0])
    expected = 0.298936 * rgb[:, :, 0] + 0.587043 * rgb[:, :, 1] + 0.114021 * rgb[:, :, 2]
    np.testing.assert_allclose(out[:, :, 0], expected, atol=1e-5)
    assert out.shape == (5, 5, 1, 2)


@pytest.mark.parametrize("args, options, error, message", [
    (([0, 4], np.zeros((4, 4, 1, 3))), {}, ValueError, "outputSize must be"),
    (([4, 4], "x"), {}, TypeError, "imageDatastore or a numeric H x W x C x N array"),
    (([4, 4], np.zeros((4, 4, 3))), {}, TypeError, "of shape \\(4, 4, 3\\)"),
    (([4, 4], np.zeros((4, 4, 1, 3)), [1, 2]), {}, ValueError, "one response per image"),
    (([4, 4], np.zeros((4, 4, 1, 3))), {"OutputSizeMode": "crop"}, ValueError,
     "OutputSizeMode must be one of"),
    (([4, 4], np.zeros((4, 4, 1, 3))), {"ColorPreprocessing": "rgb"}, ValueError,
     "ColorPreprocessing must be one of"),
    (([4, 4], np.zeros((4, 4, 1, 3))), {"DataAugmentation": 5}, TypeError,
     "DataAugmentation must be an imageDataAugmenter"),
    (([4, 4], np.zeros((4, 4, 1, 3))), {"DispatchInBackground": True}, ValueError,
     "DispatchInBackground must be false"),
    (([4, 4], np.zeros((4, 4, 1, 3))), {"MiniBatchSize": 0}, ValueError,
     "MiniBatchSize must be a positive integer"),
])
def test_invalid_datastore_arguments(args, options, error, message):
    with pytest.raises(error, match=message):
        augmentedImageDatastore(*args, **options)


# ---- reading -----------------------------------------------------------------------------------
def test_array_datastore_reads(rng):
    X = rng.random((4, 4, 1, 5)).astype(np.float32)
    Y = np.array(["a", "b", "c", "d", "e"])
    aug = imageDataAugmenter(RandXTranslation=[1, 1])
    ds = augmentedImageDatastore([4, 4], X, Y, DataAugmentation=aug, MiniBatchSize=2)
    assert isinstance(ds, AugmentedImageDatastore) and ds.NumObservations == 5
    assert is_datastore(ds)
    X_all, labels = ds.read_all()
    np.testing.assert_array_equal(X_all, X)                # read_all never augments
    np.testing.assert_array_equal(labels, Y)
    images, batch_labels = ds.read_batch(np.array([4, 0]))  # read_batch does, as MATLAB's read
    np.testing.assert_array_equal(images, shifted(X[..., [4, 0]], 0, 1, 0))
    np.testing.assert_array_equal(batch_labels, ["e", "a"])
    sizes = []
    while ds.hasdata():
        x, _ = ds.read()
        sizes.append(x.shape[3])
    assert sizes == [2, 2, 1]
    with pytest.raises(StopIteration):
        ds.read()
    ds.reset()
    assert ds.hasdata()
    shuffled = ds.shuffle()
    X_s, Y_s = shuffled.read_all()
    order = [int(np.flatnonzero(Y == label)[0]) for label in Y_s]
    np.testing.assert_array_equal(X_s, X[..., order])     # images and labels stay paired
    assert shuffled.MiniBatchSize == 2 and shuffled.DataAugmentation is aug
    assert augmentedImageDatastore([4, 4], X).read_batch(np.arange(0))[0].shape == (4, 4, 1, 0)


def test_image_datastore_source(tmp_path, rng):
    sizes = {"cat": [(6, 8), (10, 10)], "dog": [(7, 5)]}
    for label, shapes in sizes.items():
        (tmp_path / label).mkdir()
        for k, (h, w) in enumerate(shapes):
            pixels = (rng.random((h, w)) * 255).astype(np.uint8)
            Image.fromarray(pixels).save(tmp_path / label / f"{k}.png")
    imds = imageDatastore(tmp_path, IncludeSubfolders=True, LabelSource="foldernames")
    aug = imageDataAugmenter(RandRotation=[-20, 20])
    ds = augmentedImageDatastore([5, 5], imds, DataAugmentation=aug,
                                 ColorPreprocessing="gray2rgb")
    X, labels = ds.read_all()
    assert X.shape == (5, 5, 3, 3) and X.dtype == np.float32
    np.testing.assert_array_equal(labels, ["cat", "cat", "dog"])
    images, batch_labels = ds.read_batch(np.array([2, 0]))
    assert images.shape == (5, 5, 3, 2) and batch_labels.tolist() == ["dog", "cat"]
    # images of different sizes: the trainnet hook needs the batch's positions
    with pytest.raises(ValueError, match="pass the batch's indices"):
        ds.augment_batch(X)
    out = ds.augment_batch(X[..., [1, 2]], np.array([1, 2]))
    assert out.shape == (5, 5, 3, 2) and not np.allclose(out, X[..., [1, 2]])
    with pytest.raises(ValueError, match="do not give Y"):
        augmentedImageDatastore([5, 5], imds, ["a", "b", "c"])


# ---- the trainnet hook -------------------------------------------------------------------------
def test_augment_batch_without_augmentation_is_a_no_op(images):
    ds = augmentedImageDatastore([6, 6], images)
    assert ds.augment_batch(images) is images


def test_augment_batch_on_resized_images_matches_augment_then_resize(xp):
    # a horizontal ramp: bilinear resampling reproduces it exactly away from the border
    ramp = np.tile(np.arange(8.0, dtype=np.float32), (8, 1))[:, :, None, None]
    aug = imageDataAugmenter(RandXTranslation=[2, 2])     # 2 source pixels
    ds = augmentedImageDatastore([16, 16], dev(xp, ramp), DataAugmentation=aug)
    matlab_order = host(ds.read_batch(np.array([0]))[0])  # augment at 8x8, then resize
    resized = ds.read_all()[0]
    trainnet_path = host(ds.augment_batch(dl.dlarray(resized, "SSCB")).extractdata())
    np.testing.assert_allclose(trainnet_path[:, 6:14], matlab_order[:, 6:14], atol=1e-5)
    np.testing.assert_allclose(trainnet_path[:, 6:14] - host(resized)[:, 6:14], -2, atol=1e-5)


def test_augment_batch_randcrop_shifts_the_centre_crop(xp, rng):
    X = rng.random((8, 8, 1, 6)).astype(np.float32) + 1
    ds = augmentedImageDatastore([4, 4], dev(xp, X), OutputSizeMode="randcrop")
    centre = host(ds.read_all()[0])
    np.testing.assert_array_equal(centre, X[2:6, 2:6])
    out = host(ds.augment_batch(dev(xp, centre)))
    for i in range(6):
        matches = [(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3)
                   if np.array_equal(out[..., i], shifted(centre[..., i], dy, dx, 0))]
        assert matches, f"image {i} is not a shifted centre crop"


def test_the_trainnet_hook_crops_an_array_source_as_matlab_does(xp):
    """With an array source at hand, augment_batch augments at the source size and then crops
    (MATLAB's order): a random crop of a constant image has no fill bands."""
    ds = augmentedImageDatastore([24, 24], np.ones((32, 32, 1, 8), np.float32),
                                 np.array(list("abababab")), OutputSizeMode="randcrop")
    X = dl.dlarray(dev(xp, ds.read_all()[0]), "SSCB")
    out = ds.augment_batch(X, dev(xp, np.arange(8)))
    assert out.fmt == "SSCB" and out.shape == (24, 24, 1, 8)
    assert dl.backend.array_module(out._data) is xp
    np.testing.assert_array_equal(host(out), 1.0)


def test_the_trainnet_hook_needs_one_index_per_image():
    ds = augmentedImageDatastore([6, 8], np.ones((6, 8, 3, 6), np.float32),
                                 DataAugmentation=imageDataAugmenter(RandXTranslation=[-1, 1]))
    X = ds.read_all()[0]
    with pytest.raises(ValueError, match="3 indices for a batch of 4 images"):
        ds.augment_batch(X[..., :4], np.arange(3))
