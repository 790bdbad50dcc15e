"""minidl.networks.io: save/load round trips, what cannot be saved, atomic writes and bad files."""

import json
import os
import zipfile

import numpy as np
import pytest

from minidl import dlarray
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
    globalAveragePooling2dLayer,
    globalMaxPooling2dLayer,
    groupNormalizationLayer,
    imageInputLayer,
    instanceNormalizationLayer,
    layerNormalizationLayer,
    leakyReluLayer,
    maxPooling2dLayer,
    register_layer,
    reluLayer,
    sigmoidLayer,
    softmaxLayer,
    tanhLayer,
)
from minidl.networks.io import load, save
from minidl.networks.network import Table, dlnetwork
from tests.conftest import dev, host
from tests.layers.test_layers_custom import PReLULayer


def every_layer():
    return [imageInputLayer([6, 6, 2], Normalization="zscore", Mean=[1, 2],
                            StandardDeviation=[3, 4], Name="in"),
            convolution2dLayer(3, 4, Padding="same", BiasL2Factor=0.5),
            batchNormalizationLayer(), instanceNormalizationLayer(Epsilon=1e-3),
            groupNormalizationLayer(2), layerNormalizationLayer(), leakyReluLayer(0.2),
            averagePooling2dLayer(2, Stride=2, PaddingValue="mean"), maxPooling2dLayer(2),
            tanhLayer(), globalMaxPooling2dLayer(), globalAveragePooling2dLayer(),
            dropoutLayer(0.1), flattenLayer(),
            fullyConnectedLayer(3), PReLULayer(), reluLayer(), sigmoidLayer(), softmaxLayer()]


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
    ("pickled", "holds Python objects, which are never unpickled"),
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
    assert "allow_pickle" not in str(info.value)  # never the advice to unpickle it
    assert not isinstance(info.value, zipfile.BadZipFile)


@register_layer
class TaggedScaleLayer(Layer):
    """A custom layer with a 0-d learnable and text, complex and bool array properties."""

    learnables = ("Gain",)
    default_name = "tagged"

    def __init__(self, Name=""):
        super().__init__(Name=Name)
        self.Gain = dlarray(np.float32(0.25))
        self.Labels = np.array(["x", "y"])
        self.Phase = np.array([1 + 2j, 3 - 4j])
        self.Mask = np.array([True, False])

    def predict(self, X):
        return X * self.Gain


def test_text_complex_bool_and_0d_arrays_round_trip(xp, tmp_path):
    net = dlnetwork([featureInputLayer(2), TaggedScaleLayer()])
    save(net, tmp_path / "net")
    layer = load(tmp_path / "net").Layers[1]
    assert layer.Gain.shape == () and float(host(layer.Gain)) == 0.25
    for name in ("Labels", "Phase", "Mask"):
        np.testing.assert_array_equal(getattr(layer, name), getattr(net.Layers[1], name))
        assert getattr(layer, name).dtype == getattr(net.Layers[1], name).dtype


def test_scalar_statistics_keep_their_shape(tmp_path):
    net = dlnetwork([imageInputLayer([4, 4, 1], Normalization="rescale-zero-one", Min=0,
                                     Max=255), flattenLayer()])
    save(net, tmp_path / "net")
    first = load(tmp_path / "net").Layers[0]
    assert first.Min.shape == () and first.Max.shape == ()
    assert repr(first) == repr(net.Layers[0])


def test_arrays_load_would_refuse_are_refused_by_save(tmp_path):
    net = dlnetwork([featureInputLayer(2), TaggedScaleLayer(Name="tag")])
    net._layers[1].Labels = np.array(["x", None], dtype=object)
    with pytest.raises(TypeError, match=r"layer 'tag' \(TaggedScaleLayer\) property 'Labels' "
                                        r"has dtype object"):
        save(net, tmp_path / "net")
    net._layers[1].Labels = np.array(["x"])
    net._layers[1].predict = "x"
    with pytest.raises(ValueError, match=r"layer 'tag' \(TaggedScaleLayer\): property "
                                         r"'predict' would hide the method"):
        save(net, tmp_path / "net")
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("names", [["cat", "dog"], np.array([0, 1, 2]), np.array(["a", "b"]),
                                   np.array(["a", 3], dtype=object), None,
                                   np.array([[1, 2], [3]], dtype=object)])
def test_class_names_keep_their_type(tmp_path, names):
    net = dlnetwork([featureInputLayer(2), fullyConnectedLayer(3)])
    net.ClassNames = names
    save(net, tmp_path / "net")
    again = load(tmp_path / "net").ClassNames
    assert type(again) is type(names)
    if isinstance(names, np.ndarray):
        assert again.dtype == names.dtype and again.tolist() == names.tolist()
    else:
        assert again == names


def _altered(tmp_path, change):
    """A saved conv network whose structure ``change`` edits; load's ValueError message."""
    net = dlnetwork([imageInputLayer([6, 6, 2], Normalization="none"),
                     convolution2dLayer(3, 4, Name="conv"), reluLayer(), flattenLayer(),
                     fullyConnectedLayer(3, Name="fc"), batchNormalizationLayer(Name="bn")])
    path = tmp_path / "net.npz"
    save(net, path)
    data = _structure(path)
    extra = change(data["layers"])
    _rewrite(path, structure=json.dumps(data).encode(), extra=extra)
    with pytest.raises(ValueError) as info:
        load(path)
    return str(info.value)


def _drop_ref(layers, i, name):
    del layers[i]["arrays"][name]


@pytest.mark.parametrize("change, message", [
    (lambda L: _drop_ref(L, 4, "Weights"), "layer 'fc' (FullyConnectedLayer): its Weights is "
                                           "missing"),
    (lambda L: _drop_ref(L, 5, "TrainedMean"), "layer 'bn' (BatchNormalizationLayer): its "
                                               "TrainedMean is missing"),
    (lambda L: L[4]["attributes"].update(predict="x"), "layer 5 (FullyConnectedLayer): "
                                                       "property 'predict' would hide the method"),
    (lambda L: L[1]["attributes"].update(Name=5), "layer 2 has Name 5; expected a non-empty"),
    (lambda L: L[4]["attributes"].update(Name="conv"), "layer names must be unique, but 'conv'"),
    (lambda L: L[0]["attributes"].update(InputSize=[3]), "layer 'imageinput' (ImageInputLayer): "
                                                         "InputSize [3] does not fit"),
    (lambda L: {"layer4.Weights": np.zeros((3, 5), np.float32)},
     "layer 'fc' (FullyConnectedLayer) does not run with its saved properties"),
    (lambda L: {"layer1.Weights": np.zeros((3, 3, 2, 5), np.float32),
                "layer1.Bias": np.zeros((1, 1, 5), np.float32)},
     "layer 'conv' (Convolution2DLayer) gives output size 4x4x5x1 (SSCB), but the file "
     "records 4x4x4x1 (SSCB)"),
    (lambda L: {"layer5.Offset": np.zeros((3,), np.float32)},
     "layer 'bn' (BatchNormalizationLayer): its saved Offset has size 3, but it should be "
     "of size 3x1"),
    (lambda L: {"layer4.Bias": np.zeros((3, 1), np.int32)},
     "array 'layer4.Bias' of dtype int32 and size 3x1 cannot be a dlarray"),
    (lambda L: L[4]["arrays"]["Bias"].update(dlarray=False),
     "layer 'fc' (FullyConnectedLayer) Bias must be a float dlarray or None (empty), got a "
     "plain array of dtype float32"),
])
def test_altered_structures_are_value_errors_at_load(tmp_path, change, message):
    assert message in _altered(tmp_path, change)


def test_uninitialized_network_missing_learnables_load_empty(tmp_path):
    path = tmp_path / "net"
    save(dlnetwork([featureInputLayer(3), fullyConnectedLayer(2)], Initialize=False), path)
    data = _structure(path)
    del data["layers"][1]["attributes"]["Weights"]
    _rewrite(path, structure=json.dumps(data).encode())
    net = load(path).initialize()
    assert net.Learnables.Value[0].shape == (2, 3)


def test_a_network_whose_learnables_were_replaced_round_trips(tmp_path):
    net = dlnetwork([featureInputLayer(3), fullyConnectedLayer(2)])
    values = [np.ones((2, 3), np.float32), np.zeros((2, 1), np.float32)]
    net.Learnables = Table({"Layer": ["fc", "fc"], "Parameter": ["Weights", "Bias"],
                            "Value": values})
    save(net, tmp_path / "net")
    np.testing.assert_array_equal(host(load(tmp_path / "net").predict(np.ones((1, 3)))),
                                  [[3], [3]])
