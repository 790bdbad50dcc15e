"""minidl.io: save/load round trips, what cannot be saved, atomic writes and bad files."""

import json
import os
import zipfile

import numpy as np
import pytest

from minidl import dlarray
from minidl.io import load, save
from minidl.layers import (
    Layer,
    averagePooling2dLayer,
    batchNormalizationLayer,
    convolution2dLayer,
    dropoutLayer,
    featureInputLayer,
    flattenLayer,
    fullyConnectedLayer,
    functionLayer,
    groupNormalizationLayer,
    imageInputLayer,
    instanceNormalizationLayer,
    layerNormalizationLayer,
    leakyReluLayer,
    maxPooling2dLayer,
    reluLayer,
    softmaxLayer,
)
from minidl.network import dlnetwork

from .conftest import dev, host
from .test_layers_custom import PReLULayer


def every_layer():
    return [imageInputLayer([6, 6, 2], Normalization="zscore", Mean=[1, 2],
                            StandardDeviation=[3, 4], Name="in"),
            convolution2dLayer(3, 4, Padding="same", BiasL2Factor=0.5),
            batchNormalizationLayer(), instanceNormalizationLayer(Epsilon=1e-3),
            groupNormalizationLayer(2), layerNormalizationLayer(), leakyReluLayer(0.2),
            averagePooling2dLayer(2, Stride=2, PaddingValue="mean"), maxPooling2dLayer(2),
            dropoutLayer(0.1), flattenLayer(), fullyConnectedLayer(3), PReLULayer(),
            reluLayer(), softmaxLayer()]


def test_round_trip_gives_identical_predictions_and_structure(xp, rng, tmp_path):
    net = dlnetwork(every_layer())
    net.ClassNames = ["cat", "dog", "emu"]
    X = dlarray(dev(xp, rng.standard_normal((6, 6, 2, 3)).astype(np.float32)), "SSCB")
    path = tmp_path / "net.mdl"
    save(net, path)
    assert sorted(os.listdir(tmp_path)) == ["net.mdl"]  # exactly that name, no temp file left
    loaded = load(path)
    assert repr(loaded) == repr(net) and repr(loaded.Layers) == repr(net.Layers)
    np.testing.assert_array_equal(host(loaded.predict(X)), host(net.predict(X)))
    assert loaded.ClassNames == ["cat", "dog", "emu"]
    assert loaded.learnable_factors() == net.learnable_factors()
    assert all(type(v._data) is type(w._data) for v, w in zip(loaded.Learnables.Value,
                                                                net.Learnables.Value))
    assert repr(loaded.summary()) == repr(net.summary())
    first = loaded.Layers[0]
    assert first.Normalization == "zscore" and first.Mean.shape == (1, 1, 2)
    assert loaded.Layers[1].PaddingMode == "same" and loaded.Layers[1].Stride == (1, 1)


def test_uninitialized_and_example_initialized_networks_round_trip(xp, rng, tmp_path):
    bare = dlnetwork([featureInputLayer(3), fullyConnectedLayer(2)], Initialize=False)
    save(bare, tmp_path / "bare")
    again = load(tmp_path / "bare")
    assert not again.Initialized and again.Learnables.Value == [None, None]
    X = dlarray(dev(xp, rng.standard_normal((5, 5, 1, 2)).astype(np.float32)), "SSCB")
    net = dlnetwork([convolution2dLayer(3, 2), fullyConnectedLayer(2)], X)
    save(net, tmp_path / "example")
    np.testing.assert_array_equal(host(load(tmp_path / "example").predict(X)),
                                  host(net.predict(X)))


def test_functions_and_unregistered_layers_cannot_be_saved(tmp_path):
    def square(X):
        return X * X

    with pytest.raises(ValueError, match=r"layer 'sq' \(FunctionLayer\) property 'PredictFcn' "
                                         r"holds a Python function \(square\)"):
        save(dlnetwork([featureInputLayer(2), functionLayer(square, Name="sq")]),
             tmp_path / "f")
    with pytest.raises(ValueError, match=r"layer 'input' \(FeatureInputLayer\) property "
                                         r"'Normalization' holds a Python function"):
        save(dlnetwork([featureInputLayer(2, Normalization=square)]), tmp_path / "g")

    class Unregistered(Layer):
        def predict(self, X):
            return X

    with pytest.raises(ValueError, match=r"layer 'layer' \(Unregistered\) is a custom layer "
                                         r"class that is not registered"):
        save(dlnetwork([featureInputLayer(2), Unregistered()]), tmp_path / "h")
    assert os.listdir(tmp_path) == []


def test_a_crash_while_writing_leaves_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.npz"
    save(dlnetwork([featureInputLayer(2), fullyConnectedLayer(1)]), path)
    good = path.read_bytes()

    def crash(file, *args, **kwargs):
        file.write(b"PK\x03\x04 half a zip")
        raise KeyboardInterrupt("power cut")

    monkeypatch.setattr(np, "savez", crash)
    with pytest.raises(KeyboardInterrupt):
        save(dlnetwork([featureInputLayer(2), fullyConnectedLayer(1)]), path)
    assert path.read_bytes() == good and os.listdir(tmp_path) == ["ckpt.npz"]


def test_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        load(tmp_path / "nothing.npz")


def _saved(tmp_path):
    path = tmp_path / "net.npz"
    save(dlnetwork([featureInputLayer(2), fullyConnectedLayer(3)]), path)
    return path


def _rewrite(path, structure=None, drop=None, extra=None):
    """Rewrite a saved file with a changed structure or arrays."""
    with np.load(path) as npz:
        arrays = {k: npz[k] for k in npz.files if k != drop}
    if structure is not None:
        arrays["__structure__"] = np.frombuffer(structure, np.uint8)
    arrays.update(extra or {})
    with open(path, "wb") as f:
        np.savez(f, **arrays)


def _structure(path):
    with np.load(path) as npz:
        return json.loads(npz["__structure__"].tobytes())


@pytest.mark.parametrize("damage, message", [
    ("garbage", "is not a valid minidl network file (corrupt, truncated"),
    ("truncated", "is not a valid minidl network file (corrupt, truncated"),
    ("npy", "is not a valid minidl network file"),
    ("foreign", "is not a minidl network file (no __structure__ entry)"),
    ("other_format", "is not a minidl network file (format 'keras'"),
    ("version", "has format version 99; this minidl reads version 1"),
    ("bad_json", "the structure of"),
    ("unknown_class", "layer class 'EvilLayer' is not registered"),
    ("dunder", "invalid property name '__class__'"),
    ("missing_array", "is invalid (altered or corrupt)"),
    ("pickled", "is not a valid minidl network file"),
    ("tag", "unexpected object"),
])
def test_bad_files_are_value_errors_that_say_so(tmp_path, damage, message):
    path = _saved(tmp_path)
    data = _structure(path)
    if damage == "garbage":
        path.write_bytes(os.urandom(200))
    elif damage == "truncated":
        path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])
    elif damage in ("npy", "foreign", "pickled"):
        with open(path, "wb") as f:
            if damage == "npy":
                np.save(f, np.zeros(3))
            elif damage == "foreign":
                np.savez(f, weights=np.zeros(3))
            else:
                np.savez(f, __structure__=np.array([{"a": 1}], dtype=object))
    elif damage == "bad_json":
        _rewrite(path, structure=b'{"format": "minidl.dlnetwork", "version": 1, "layers": [')
    elif damage == "missing_array":
        _rewrite(path, drop="layer1.Weights")
    else:
        if damage == "other_format":
            data["format"] = "keras"
        elif damage == "version":
            data["version"] = 99
        elif damage == "unknown_class":
            data["layers"][1]["class"] = "EvilLayer"
        elif damage == "dunder":
            data["layers"][1]["attributes"]["__class__"] = "Layer"
        elif damage == "tag":
            data["layers"][1]["attributes"]["OutputSize"] = {"__import__": "os"}
        _rewrite(path, structure=json.dumps(data).encode())
    with pytest.raises(ValueError) as info:
        load(path)
    assert message in str(info.value)
    assert not isinstance(info.value, zipfile.BadZipFile)
