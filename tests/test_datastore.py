"""Tests for MATLAB-style image datastores (minidl.datastore)."""

import os

import numpy as np
import pytest
from PIL import Image

from minidl.datastore import ImageDatastore, imageDatastore, splitEachLabel


def write(path, mode="RGB", value=200, size=(10, 8)):
    """Write a solid image of `size` (width, height) and return its path as str."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fill = (value, value // 2, 10) if mode == "RGB" else value
    Image.new(mode, size, fill).save(path)
    return str(path)


@pytest.fixture
def tree(tmp_path):
    """root/top.png, cats/c0-c3.png (RGB), dogs/d0-d2.png (gray) + d3.jpg, dogs/puppies/p0-p1."""
    root = tmp_path / "root"
    write(root / "top.png")
    for i in range(4):
        write(root / "cats" / f"c{i}.png", value=50 * i)
    for i in range(3):
        write(root / "dogs" / f"d{i}.png", mode="L", value=100)
    write(root / "dogs" / "d3.jpg")
    for i in range(2):
        write(root / "dogs" / "puppies" / f"p{i}.png", mode="L")
    (root / "dogs" / "notes.txt").write_text("not an image")
    return root


def labeled(tree):
    return imageDatastore([tree / "cats", tree / "dogs"], LabelSource="foldernames")


def test_top_folder_only_without_subfolders(tree):
    ds = imageDatastore(tree)
    assert ds.Files == [str(tree / "top.png")] and ds.Labels is None and len(ds) == 1


def test_include_subfolders_sorted_with_foldernames(tree):
    ds = imageDatastore(tree, IncludeSubfolders=True, LabelSource="foldernames")
    assert ds.Files == sorted(ds.Files) and ds.NumObservations == 11
    assert not any(f.endswith(".txt") for f in ds.Files)
    assert ds.countEachLabel() == {"cats": 4, "dogs": 4, "puppies": 2, "root": 1}
    assert ds.Labels.dtype.kind == "U"
    assert ds.Labels[ds.Files.index(str(tree / "dogs" / "d3.jpg"))] == "dogs"


def test_matlab_name_value_pairs_are_case_insensitive(tree):
    ds = imageDatastore(str(tree), "includesubfolders", True, "LABELSOURCE", "FolderNames")
    reference = imageDatastore(tree, IncludeSubfolders=True, LabelSource="foldernames")
    assert ds.Files == reference.Files
    np.testing.assert_array_equal(ds.Labels, reference.Labels)


def test_file_extensions_and_explicit_files(tree):
    ds = imageDatastore(tree, "IncludeSubfolders", 1, "FileExtensions", "JPG")
    assert ds.Files == [str(tree / "dogs" / "d3.jpg")]
    ds = imageDatastore([tree / "cats" / "c1.png", tree / "top.png"])
    assert ds.Files == [str(tree / "cats" / "c1.png"), str(tree / "top.png")]
    ds = imageDatastore(str(tree / "cats" / "*.png"))
    assert len(ds) == 4


def test_count_each_label_and_repr(tree):
    ds = labeled(tree)
    assert ds.countEachLabel() == {"cats": 4, "dogs": 4}
    text = repr(ds)
    assert text.startswith("ImageDatastore with properties:")
    assert "... and 5 more" in text and "cats (4)" in text and len(text.splitlines()) < 12


def test_split_by_fraction_keeps_the_first_files(tree):
    ds = labeled(tree)
    first, rest = splitEachLabel(ds, 0.5)
    assert first.countEachLabel() == {"cats": 2, "dogs": 2}
    assert rest.countEachLabel() == {"cats": 2, "dogs": 2}
    assert [os.path.basename(f) for f in first.Files] == ["c0.png", "c1.png", "d0.png", "d1.png"]
    assert sorted(first.Files + rest.Files) == ds.Files
    method = ds.splitEachLabel(0.5)
    assert [m.Files for m in method] == [first.Files, rest.Files]


def test_split_fraction_rounds_down_and_by_count(tree):
    ds = labeled(tree)
    first, rest = splitEachLabel(ds, 0.7)
    assert first.countEachLabel() == {"cats": 2, "dogs": 2}
    first, rest = splitEachLabel(ds, 3)
    assert first.countEachLabel() == {"cats": 3, "dogs": 3}
    assert rest.countEachLabel() == {"cats": 1, "dogs": 1}
    parts = splitEachLabel(ds, 0.25, 0.5)
    assert [len(p) for p in parts] == [2, 4, 2]


def test_randomized_split_is_seeded(tree):
    ds = labeled(tree)
    a = splitEachLabel(ds, 0.5, "randomized", seed=3)
    b = ds.splitEachLabel(0.5, "Randomized", seed=3)
    assert a[0].Files == b[0].Files and a[1].Files == b[1].Files
    assert a[0].countEachLabel() == {"cats": 2, "dogs": 2}
    draws = {tuple(splitEachLabel(ds, 0.5, "randomized", seed=s)[0].Files) for s in range(10)}
    assert len(draws) > 1


def test_read_all_resizes_to_rgb_and_grayscale(tree):
    ds = labeled(tree)
    x, labels = ds.read_all((28, 28, 3))
    assert x.shape == (28, 28, 3, 8) and x.dtype == np.float32
    np.testing.assert_array_equal(labels, ds.Labels)
    np.testing.assert_allclose(x[:, :, :, 3], np.broadcast_to([150, 75, 10], (28, 28, 3)), atol=1)
    assert x.max() > 1
    gray = ds.readall((28, 28, 1))[0]
    assert gray.shape == (28, 28, 1, 8)
    np.testing.assert_allclose(gray[..., 4], 100)
    assert ds.read_images([12, 16]).shape == (12, 16, 3, 8)


def test_subset_takes_indices_or_a_logical_vector(tree):
    ds = labeled(tree)
    dogs = ds.subset(ds.Labels == "dogs")
    assert len(dogs.Files) == 4 and set(dogs.Labels) == {"dogs"}
    assert ds.subset([3, 0]).Files == [ds.Files[3], ds.Files[0]]
    with pytest.raises(ValueError, match="one value per file"):
        ds.subset(np.array([True, False]))
    with pytest.raises(ValueError, match="indices must be integers from 0 to 7"):
        ds.subset([-1])
    with pytest.raises(ValueError, match="image_size must be"):
        ds.read_all((2.7, 3))
    with pytest.raises(ValueError, match="the datastore has no files to split"):
        ds.subset([]).splitEachLabel(0.5)


def test_read_all_without_size_keeps_original_pixels(tree):
    ds = imageDatastore(tree / "dogs")
    x, labels = ds.read_all()
    assert x.shape == (8, 10, 3, 4) and labels is None
    np.testing.assert_array_equal(x[..., 0], 100)
    assert ds.readimage(0).shape == (8, 10, 1)


def test_labels_can_be_replaced_with_matching_length(tree):
    ds = imageDatastore(tree / "cats")
    ds.Labels = ["a", "b", "a", "b"]
    assert ds.countEachLabel() == {"a": 2, "b": 2}
    with pytest.raises(ValueError, match="one entry per file"):
        ds.Labels = ["a"]
    assert isinstance(ds.subset([2, 0]), ImageDatastore)


def test_missing_folder(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(FileNotFoundError, match="nowhere"):
        imageDatastore(missing)


def test_empty_folder(tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(ValueError, match=r"no image files.*\.png.*" + tmp_path.name):
        imageDatastore(tmp_path)


def test_corrupt_file_is_named(tree):
    (tree / "cats" / "broken.png").write_bytes(b"this is not a png")
    ds = imageDatastore(tree / "cats")
    with pytest.raises(ValueError, match="broken.png"):
        ds.read_all((28, 28, 3))


def test_differing_sizes_need_image_size(tree):
    write(tree / "cats" / "big.png", size=(20, 20))
    with pytest.raises(ValueError, match="pass image_size"):
        imageDatastore(tree / "cats").read_all()


def test_unknown_option_lists_the_valid_ones(tree):
    with pytest.raises(ValueError, match="'LabelSauce'.*IncludeSubfolders, LabelSource"):
        imageDatastore(tree, "LabelSauce", "foldernames")
    with pytest.raises(ValueError, match="'recurse'.*FileExtensions"):
        imageDatastore(tree, recurse=True)
    with pytest.raises(ValueError, match="name-value pairs"):
        imageDatastore(tree, "IncludeSubfolders")


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("LabelSource", "filenames", "valid values are: none, foldernames"),
        ("IncludeSubfolders", "yes", "valid values are: True, False"),
        ("FileExtensions", [], "FileExtensions"),
    ],
)
def test_bad_option_values(tree, name, value, message):
    with pytest.raises(ValueError, match=message):
        imageDatastore(tree, name, value)


@pytest.mark.parametrize("p", [1.5, 0.0, -0.2, -1, True])
def test_bad_split_fraction(tree, p):
    with pytest.raises(ValueError, match=r"fraction in \(0, 1\)"):
        splitEachLabel(labeled(tree), p)


def test_bad_split_requests(tree):
    ds = labeled(tree)
    with pytest.raises(ValueError, match="label 'cats' has only 4"):
        splitEachLabel(ds, 5)
    with pytest.raises(ValueError, match="sum to at most 1"):
        splitEachLabel(ds, 0.6, 0.6)
    with pytest.raises(ValueError, match="unknown splitEachLabel option 'shuffle'"):
        splitEachLabel(ds, 0.5, "shuffle")
    with pytest.raises(ValueError, match="image_size must be"):
        ds.read_all((28, 28, 2))
