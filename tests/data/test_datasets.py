"""Tests for the synthetic digit data set (minidl.data.datasets)."""

import subprocess
import sys

import numpy as np
import pytest

from minidl.data import datasets
from minidl.data.datasets import DigitData, digit_glyphs, digits

LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


@pytest.fixture(autouse=True)
def cache_dir(tmp_path, monkeypatch):
    """Keep every test's cache in its own temporary folder."""
    monkeypatch.setenv("MINIDL_CACHE", str(tmp_path))
    return tmp_path


@pytest.fixture(scope="module")
def gray():
    return digits(500, seed=1, cache=False)


@pytest.fixture(scope="module")
def color():
    return digits(500, color=True, seed=1, cache=False)


def splits(d: DigitData):
    return [(d.XTrain, d.TTrain), (d.XValidation, d.TValidation), (d.XTest, d.TTest)]


def test_shapes_dtypes_and_ranges(gray):
    shapes = [x.shape for x, _ in splits(gray)]
    assert shapes == [(28, 28, 1, 350), (28, 28, 1, 75), (28, 28, 1, 75)]
    for x, t in splits(gray):
        assert x.dtype == np.float32 and t.dtype == np.int64
        assert x.min() >= 0 and x.max() <= 1
        assert t.shape == (x.shape[3],) and set(np.unique(t)) == set(range(10))
    assert gray.ClassNames.tolist() == list(range(10))


def test_white_digit_on_black_filling_the_frame(gray):
    x = gray.XTrain[..., 0, :]
    assert np.median(x[:3, :3]) < 0.05 and x[10:18, 10:18].mean() > x[:3].mean() + 0.2
    on_rows = (x > 0.5).any(axis=1)
    index = np.arange(28)[:, None]
    top, bottom = np.where(on_rows, index, 99).min(axis=0), np.where(on_rows, index, -1).max(axis=0)
    height = bottom - top + 1
    assert 18 <= np.median(height) <= 22 and height.min() >= 12
    assert top.min() >= 1 and bottom.max() <= 26


def test_deterministic_for_a_seed(gray):
    again = digits(500, seed=1, cache=False)
    other = digits(500, seed=2, cache=False)
    for (x, t), (x2, t2), (x3, _) in zip(splits(gray), splits(again), splits(other), strict=True):
        np.testing.assert_array_equal(x, x2)
        np.testing.assert_array_equal(t, t2)
        assert not np.array_equal(x, x3)


def test_classes_balanced_in_every_split(gray):
    for _, t in splits(gray):
        counts = np.bincount(t, minlength=10)
        assert counts.max() - counts.min() <= 1


def test_custom_split_sizes():
    d = digits(40, split=(0.5, 0.25, 0.25), cache=False)
    assert [x.shape[3] for x, _ in splits(d)] == [20, 10, 10]
    d = digits(30, split=(1.0, 0.0, 0.0), cache=False)
    assert [x.shape[3] for x, _ in splits(d)] == [30, 0, 0]


@pytest.mark.parametrize("split", [(0.5, 0.5), (0.7, 0.2, 0.2), (1.2, -0.1, -0.1)])
def test_bad_split_is_rejected(split):
    with pytest.raises(ValueError, match="split must be three non-negative fractions"):
        digits(100, split=split, cache=False)


def test_bad_num_images_is_rejected():
    with pytest.raises(ValueError, match="num_images must be a positive integer"):
        digits(0, cache=False)


def test_color_variant(color):
    x = color.XTrain
    assert x.shape == (28, 28, 3, 350) and x.dtype == np.float32
    assert x.min() >= 0 and x.max() <= 1
    mean_colour = x.mean(axis=(0, 1))
    assert mean_colour.std(axis=1).min() > 0.1
    luma = np.einsum("hwcn,c->hwn", x, LUMA).reshape(-1, x.shape[3])
    contrast = np.percentile(luma, 95, axis=0) - np.percentile(luma, 5, axis=0)
    assert contrast.min() > 0.15
    bright = luma > luma.mean(axis=0)
    assert bright.mean(axis=0).max() < 0.5


def test_glyphs_cover_several_fonts():
    templates, labels = digit_glyphs()
    assert templates.shape[0] == labels.size and labels.size % 10 == 0
    assert labels.size // 10 >= 10
    assert templates.dtype == np.float32 and 0 <= templates.min() and templates.max() <= 1
    assert not templates.flags.writeable
    assert np.all(templates[:, 0] == 0) and np.all(templates[:, :, -1] == 0)


def test_cache_round_trip(cache_dir, monkeypatch):
    first = digits(60, color=True, seed=5)
    files = list(cache_dir.iterdir())
    assert len(files) == 1 and files[0].suffix == ".npz"

    def fail(*args, **kwargs):
        raise AssertionError("generated again instead of loading the cache")

    monkeypatch.setattr(datasets, "_generate", fail)
    second = digits(60, color=True, seed=5)
    for (x, t), (x2, t2) in zip(splits(first), splits(second), strict=True):
        np.testing.assert_array_equal(x, x2)
        np.testing.assert_array_equal(t, t2)
    with pytest.raises(AssertionError, match="generated again"):
        digits(60, color=True, seed=6)


def test_corrupt_cache_is_regenerated(cache_dir):
    first = digits(30, seed=3)
    (path,) = cache_dir.iterdir()
    path.write_bytes(b"not an npz file")
    again = digits(30, seed=3)
    np.testing.assert_array_equal(first.XTest, again.XTest)
    assert path.stat().st_size > 100 and len(list(cache_dir.iterdir())) == 1


def test_no_cache_writes_nothing(cache_dir):
    digits(20, cache=False)
    assert list(cache_dir.iterdir()) == []


def test_learnable_by_logistic_regression():
    d = digits(2000, seed=4, cache=False)
    x = d.XTrain.reshape(-1, d.XTrain.shape[3]).T
    xt = d.XTest.reshape(-1, d.XTest.shape[3]).T
    w = np.zeros((x.shape[1], 10), dtype=np.float32)
    b = np.zeros(10, dtype=np.float32)
    y = np.eye(10, dtype=np.float32)[d.TTrain]
    for _ in range(100):
        z = x @ w + b
        p = np.exp(z - z.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        w -= 0.5 * x.T @ (p - y) / len(x)
        b -= 0.5 * (p - y).mean(axis=0)
    accuracy = np.mean((xt @ w + b).argmax(axis=1) == d.TTest)
    assert accuracy > 0.85


def test_repr_is_short(gray):
    text = repr(gray)
    assert text.startswith("DigitData(") and "28x28x1x350" in text and len(text) < 200


def test_importing_does_not_import_matplotlib():
    code = ("import sys, minidl.data.datasets, minidl.data.datastore; "
            "print('matplotlib' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_images_are_stored_image_major_for_trainnet(tmp_path, monkeypatch):
    monkeypatch.setenv("MINIDL_CACHE", str(tmp_path))
    data = digits(200, color=True, seed=3)
    X = data.XTrain
    assert X.shape[:3] == (28, 28, 3)
    assert X.transpose(3, 0, 1, 2).flags["C_CONTIGUOUS"]  # N, H, W, C in memory


@pytest.mark.parametrize("damage", ["empty", "truncated", "missing_array", "npy"])
def test_unreadable_cache_is_regenerated_and_replaced(cache_dir, damage):
    first = digits(30, seed=3)
    (path,) = cache_dir.iterdir()
    if damage == "missing_array":
        np.savez(path, XTrain=np.zeros(1))
    elif damage == "npy":
        with open(path, "wb") as f:
            np.save(f, np.zeros(3))
    else:
        path.write_bytes(b"" if damage == "empty" else path.read_bytes()[:1000])
    again = digits(30, seed=3)
    np.testing.assert_array_equal(first.XTest, again.XTest)
    assert datasets._load_cache(path) is not None and len(list(cache_dir.iterdir())) == 1
