"""Tests for MATLAB-style image datastores (minidl.data.datastore)."""

import os

import numpy as np
import pytest
from PIL import Image

from minidl.backend import rng
from minidl.data.arraydatastore import ArrayDatastore, CombinedDatastore, arrayDatastore, combine
from minidl.data.datastore import (
    ImageDatastore,
    countEachLabel,
    hasdata,
    imageDatastore,
    read,
    readall,
    readimage,
    reset,
    shuffle,
    splitEachLabel,
)


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
    gray = ds.readall((28, 28, 1))
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
        ("IncludeSubfolders", "yes", "IncludeSubfolders must be true or false"),
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


# ---- MATLAB's function forms for the image datastore -------------------------------------------

def test_function_forms_match_the_methods(tree):
    ds = labeled(tree)
    assert countEachLabel(ds) == ds.countEachLabel() == {"cats": 4, "dogs": 4}
    np.testing.assert_array_equal(readimage(ds, 4), ds.readimage(4))
    np.testing.assert_allclose(readimage(ds, 4), 100)           # d0.png, 0-based position 4
    images = readall(ds, (12, 16, 3))
    assert isinstance(images, np.ndarray) and images.shape == (12, 16, 3, 8)  # images only
    np.testing.assert_array_equal(images, ds.read_all((12, 16, 3))[0])
    with pytest.raises(TypeError, match="countEachLabel expects an imageDatastore, got ndarray"):
        countEachLabel(np.zeros(3))


def test_readimage_is_zero_based_and_checked(tree):
    ds = imageDatastore(tree / "cats")
    np.testing.assert_allclose(readimage(ds, 0)[..., 0], 0)
    np.testing.assert_allclose(readimage(ds, 3)[..., 0], 150)
    for bad in (4, -1, 1.0, True):
        with pytest.raises(ValueError, match=r"from 0 to 3 \(0-based; MATLAB's readimage"):
            readimage(ds, bad)


def test_image_read_hasdata_reset_and_shuffle(tree):
    ds = labeled(tree)
    seen = []
    while hasdata(ds):
        image, info = read(ds)
        seen.append((info["Filename"], info["Label"], image.shape))
    assert [f for f, _, _ in seen] == ds.Files and seen[0][1] == "cats"
    with pytest.raises(StopIteration, match="reset"):
        read(ds)
    reset(ds)
    assert read(ds)[1]["Filename"] == ds.Files[0]
    assert "Label" not in read(imageDatastore(tree / "cats"))[1]
    rng(5)
    a = shuffle(ds)
    rng(5)
    b = shuffle(ds)
    assert a.Files == b.Files and sorted(a.Files) == sorted(ds.Files) and a.Files != ds.Files
    assert [a.Labels[a.Files.index(f)] for f in ds.Files] == list(ds.Labels)  # labels follow
    assert hasdata(a) and a._position == 0                        # a new datastore starts unread


# ---- arrayDatastore ----------------------------------------------------------------------------

def test_array_datastore_defaults_to_rows_read_one_at_a_time():
    A = np.arange(12.0).reshape(4, 3)
    ds = arrayDatastore(A)
    assert (ds.IterationDimension, ds.ReadSize, ds.OutputType, len(ds)) == (1, 1, "cell", 4)
    first = read(ds)
    assert isinstance(first, list) and len(first) == 1
    np.testing.assert_array_equal(first[0], [0, 1, 2])
    rows = [read(ds)[0] for _ in range(3)]
    np.testing.assert_array_equal(rows[-1], [9, 10, 11])
    assert not hasdata(ds)
    with pytest.raises(StopIteration, match="no more data in the ArrayDatastore"):
        read(ds)
    reset(ds)
    assert hasdata(ds)
    text = repr(ds)
    assert "IterationDimension: 1" in text and 'OutputType: "cell"' in text


def test_array_datastore_iteration_dimension_read_size_and_same():
    X = np.random.default_rng(0).random((5, 4, 3, 7)).astype(np.float32)
    ds = arrayDatastore(X, "IterationDimension", 4, "ReadSize", 3)
    pieces = read(ds)
    assert len(pieces) == 3 and pieces[0].shape == (5, 4, 3)
    np.testing.assert_array_equal(pieces[2], X[..., 2])
    read(ds)
    assert len(read(ds)) == 1                                   # 7 = 3 + 3 + 1
    slices = readall(ds)
    assert len(slices) == 7
    np.testing.assert_array_equal(np.stack(slices, axis=-1), X)
    same = arrayDatastore(np.arange(10).reshape(5, 2), ReadSize=2, OutputType="same")
    np.testing.assert_array_equal(read(same), [[0, 1], [2, 3]])
    np.testing.assert_array_equal(readall(same), np.arange(10).reshape(5, 2))
    one = arrayDatastore(X[..., 0], IterationDimension=4)      # trailing singleton, as MATLAB
    assert len(one) == 1 and read(one)[0].shape == (5, 4, 3)


def test_array_datastore_shuffle_is_reproducible_and_shares_the_data():
    A = np.arange(20).reshape(10, 2)
    ds = arrayDatastore(A)
    rng(3)
    a = shuffle(ds)
    rng(3)
    b = ds.shuffle()
    order_a = [int(r[0]) // 2 for r in readall(a)]
    assert order_a == [int(r[0]) // 2 for r in readall(b)]
    assert sorted(order_a) == list(range(10)) and order_a != list(range(10))
    assert isinstance(a, ArrayDatastore) and a._data is A
    assert [int(r[0]) for r in readall(ds)] == list(range(0, 20, 2))   # the original is kept


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "message"),
    [
        ((), {"IterationDimension": 0}, ValueError, "IterationDimension must be a positive"),
        ((), {"ReadSize": 2.5}, ValueError, "ReadSize must be a positive integer"),
        ((), {"OutputType": "table"}, ValueError, "OutputType must be one of 'cell', 'same'"),
        ((), {"IterationDimension": 2, "OutputType": "same"}, ValueError,
         'OutputType "same" needs IterationDimension 1'),
        (("ReadSise", 2), {}, ValueError, "Did you mean 'ReadSize'"),
        (("ReadSize",), {}, ValueError, "must come in pairs"),
    ],
)
def test_array_datastore_bad_options(args, kwargs, error, message):
    with pytest.raises(error, match=message):
        arrayDatastore(np.zeros((3, 2)), *args, **kwargs)


def test_array_datastore_rejects_non_arrays():
    with pytest.raises(TypeError, match="A must be an array"):
        arrayDatastore("abc")
    with pytest.raises(TypeError, match="A must be an array"):
        arrayDatastore(3.0)


# ---- combine -----------------------------------------------------------------------------------

def test_combine_reads_side_by_side_and_shuffles_together(tree):
    X = np.arange(2 * 2 * 1 * 6, dtype=np.float32).reshape(2, 2, 1, 6)
    T = np.array([10, 11, 12, 13, 14, 15])
    cds = combine(arrayDatastore(X, IterationDimension=4), arrayDatastore(T))
    x, t = read(cds)
    np.testing.assert_array_equal(x, X[..., 0])
    assert t == 10
    Xall, Tall = readall(cds)
    assert len(Xall) == len(Tall) == 6
    rng(1)
    shuffled = shuffle(cds)
    assert isinstance(shuffled, CombinedDatastore)
    pairs = [read(shuffled) for _ in range(6)]
    assert not hasdata(shuffled)
    assert all(float(x[0, 0, 0]) == float(X[0, 0, 0, t - 10]) for x, t in pairs)  # kept matched
    assert [int(t) for _, t in pairs] != list(range(10, 16))
    reset(shuffled)
    assert hasdata(shuffled)
    images = combine(imageDatastore(tree / "cats"), arrayDatastore(np.arange(4)))
    image, label = read(images)                                 # imds gives its image
    assert image.shape == (8, 10, 3) and label == 0
    assert "UnderlyingDatastores: {1×2 cell}" in repr(cds)


def test_combine_errors():
    a = arrayDatastore(np.zeros((3, 2)))
    with pytest.raises(ValueError, match="same number of observations, got 3, 4"):
        combine(a, arrayDatastore(np.zeros(4)))
    with pytest.raises(TypeError, match="argument 2 must be a datastore"):
        combine(a, np.zeros(3))
    with pytest.raises(ValueError, match="at least one datastore"):
        combine()
    with pytest.raises(ValueError, match="combined datastore of two"):
        combine(a, a, a).read_all()


def test_new_datastores_feed_trainnet_and_minibatchpredict():
    import minidl as dl

    rng(0)
    data = np.random.default_rng(0)
    X = data.standard_normal((40, 3)).astype(np.float32)       # N x numFeatures, as MATLAB
    labels = np.where(X[:, 0] > 0, "pos", "neg")
    layers = [dl.featureInputLayer(3), dl.fullyConnectedLayer(2), dl.softmaxLayer()]
    opts = dl.trainingOptions("sgdm", MaxEpochs=2, MiniBatchSize=20, Verbose=False)
    cds = combine(arrayDatastore(X), arrayDatastore(labels))
    net, info = dl.trainnet(cds, layers, "crossentropy", opts)
    assert list(net.ClassNames) == ["neg", "pos"]
    from_store = dl.minibatchpredict(net, arrayDatastore(X))
    np.testing.assert_allclose(from_store, dl.minibatchpredict(net, X), rtol=1e-6)
    assert from_store.shape == (40, 2)
    # features stored one column per observation read back in MATLAB's layout too
    Xt, none = arrayDatastore(X.T, IterationDimension=2).read_all()
    np.testing.assert_array_equal(Xt, X)
    assert none is None
