"""ONNX export and import, checked against onnxruntime (the independent oracle).

Export: every exportable layer and option -> onnx.checker (full_check) -> onnxruntime vs minidl's
predict; the file imported back predicts the same; export -> import -> export writes the same
graph. Import: hand-built onnx.helper graphs for each operator, compared with onnxruntime on the
same file. Bad files: truncated, wrong types, absurd sizes, unknown operators, external data
outside the model's folder.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import minidl as dl

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from minidl.onnx_common import MAX_OPSET, MIN_OPSET  # noqa: E402

RNG = np.random.default_rng(0)


# ---- helpers -------------------------------------------------------------------------------

def _rand(*shape, lo=-1.0, hi=1.0):
    return RNG.uniform(lo, hi, shape).astype(np.float32)


def _to_onnx(X, image):
    return np.ascontiguousarray(X.transpose(3, 2, 0, 1) if image else X)


def _from_onnx(Y):
    """ONNX N x C (x H x W) output in minidl's formatted order (C x N, or H x W x C x N)."""
    return Y.T if Y.ndim == 2 else Y.transpose(2, 3, 1, 0)


def _ort(path, *Xs):
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feeds = {i.name: x for i, x in zip(sess.get_inputs(), Xs)}
    return sess.run(None, feeds)


def _close(a, b, scale=None):
    """Equal to float32 rounding: the tolerance follows the size of the values compared."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    assert a.shape == b.shape, (a.shape, b.shape)
    s = scale if scale is not None else max(np.abs(b).max(), np.abs(a).max())
    assert s > 0
    err = np.abs(a - b).max()
    assert err <= 2e-5 * s, f"max abs difference {err} for values of size {s}"
    return err


def _predict(net, X):
    return dl.extractdata(net.predict(X))


def _same_graph(p1, p2):
    """Two files hold the same graph: nodes, attributes, names, and initializers equal to
    float32 rounding."""
    g1, g2 = onnx.load(str(p1)).graph, onnx.load(str(p2)).graph
    nodes = [(n.op_type, list(n.input), list(n.output), n.name,
              sorted((a.name, str(helper.get_attribute_value(a))) for a in n.attribute))
             for n in (g1.node, g2.node)[0]]
    nodes2 = [(n.op_type, list(n.input), list(n.output), n.name,
               sorted((a.name, str(helper.get_attribute_value(a))) for a in n.attribute))
              for n in g2.node]
    assert nodes == nodes2
    inits1 = {t.name: numpy_helper.to_array(t) for t in g1.initializer}
    inits2 = {t.name: numpy_helper.to_array(t) for t in g2.initializer}
    assert inits1.keys() == inits2.keys()
    for k, v in inits1.items():
        assert v.shape == inits2[k].shape and v.dtype == inits2[k].dtype, k
        if v.size and np.abs(v).max() > 0:
            _close(inits2[k], v)
        else:
            assert np.array_equal(v, inits2[k])
    assert [str(i.type) for i in g1.input] == [str(i.type) for i in g2.input]
    assert [str(o.type) for o in g1.output] == [str(o.type) for o in g2.output]


def _roundtrip(net, Xs, tmp_path, opset=None, image=None):
    """Export, check, run in onnxruntime, import, re-export: every comparison of the module
    docstring. Xs: MATLAB-layout inputs, one per network input."""
    Xs = Xs if isinstance(Xs, list) else [Xs]
    kw = {} if opset is None else {"OpsetVersion": opset}
    p1, p2 = tmp_path / "a.onnx", tmp_path / "b.onnx"
    dl.exportONNXNetwork(net, str(p1), **kw)
    onnx.checker.check_model(onnx.load(str(p1)), full_check=True)
    images = [X.ndim == 4 for X in Xs]
    ys = _ort(p1, *[_to_onnx(X, im) for X, im in zip(Xs, images)])
    ref = _predict(net, *Xs) if len(Xs) == 1 else dl.extractdata(net.predict(*Xs))
    err = _close(_from_onnx(ys[0]), ref)
    net2 = dl.importNetworkFromONNX(str(p1))
    _close(dl.extractdata(net2.predict(*Xs)), ref)
    dl.exportONNXNetwork(net2, str(p2), **kw)
    _same_graph(p1, p2)
    return err


def _image_net(layers, hwc=(6, 7, 3), norm="none"):
    return dl.dlnetwork([dl.imageInputLayer(list(hwc), Normalization=norm), *layers])


# ---- export of each layer and option -------------------------------------------------------

def _stats(kind, hwc):
    h, w, c = hwc
    shape = {"all": (), "channel": (1, 1, c), "element": (h, w, c)}[kind]
    return _rand(*shape, lo=0.1, hi=0.5), _rand(*shape, lo=0.5, hi=2.0)


@pytest.mark.parametrize("kind", ["all", "channel", "element"])
@pytest.mark.parametrize("norm", ["zerocenter", "zscore", "rescale-symmetric",
                                  "rescale-zero-one", "none"])
def test_image_input_normalization(norm, kind, tmp_path):
    hwc = (5, 4, 3)
    a, b = _stats(kind, hwc)
    stats = {"zerocenter": {"Mean": a}, "zscore": {"Mean": a, "StandardDeviation": b},
             "rescale-symmetric": {"Min": a, "Max": a + b},
             "rescale-zero-one": {"Min": a, "Max": a + b}, "none": {}}[norm]
    net = dl.dlnetwork([dl.imageInputLayer(list(hwc), Normalization=norm, **stats),
                        dl.convolution2dLayer(2, 2)])
    _roundtrip(net, _rand(5, 4, 3, 2), tmp_path)


@pytest.mark.parametrize("norm", ["zerocenter", "zscore", "rescale-symmetric", "none"])
def test_feature_input_normalization(norm, tmp_path):
    a, b = _rand(4, lo=0.1, hi=0.5), _rand(4, lo=0.5, hi=2)
    stats = {"zerocenter": {"Mean": a}, "zscore": {"Mean": a, "StandardDeviation": b},
             "rescale-symmetric": {"Min": a, "Max": a + b}, "none": {}}[norm]
    net = dl.dlnetwork([dl.featureInputLayer(4, Normalization=norm, **stats),
                        dl.fullyConnectedLayer(3)])
    _roundtrip(net, _rand(5, 4), tmp_path)


@pytest.mark.parametrize("opts", [
    {}, {"Padding": 1}, {"Padding": [1, 2]}, {"Padding": [1, 0, 2, 3]},
    {"Padding": "same"}, {"Padding": "same", "Stride": 2}, {"Stride": [2, 3]},
    {"DilationFactor": 2}, {"DilationFactor": [2, 1], "Padding": "same", "Stride": 2},
], ids=str)
@pytest.mark.parametrize("filt", [3, 4, [2, 3]], ids=str)
def test_convolution(filt, opts, tmp_path):
    net = _image_net([dl.convolution2dLayer(filt, 4, Bias=_rand(4), **opts)], (9, 8, 3))
    _roundtrip(net, _rand(9, 8, 3, 2), tmp_path)


def test_same_padding_even_filter_puts_the_extra_at_bottom_right(tmp_path):
    net = _image_net([dl.convolution2dLayer(4, 1, Padding="same")], (6, 6, 1))
    path = tmp_path / "s.onnx"
    dl.exportONNXNetwork(net, str(path))
    conv = next(n for n in onnx.load(str(path)).graph.node if n.op_type == "Conv")
    pads = next(helper.get_attribute_value(a) for a in conv.attribute if a.name == "pads")
    assert list(pads) == [1, 1, 2, 2]  # ONNX order: top, left, bottom, right


def _trained_bn(c):
    return dl.batchNormalizationLayer(TrainedMean=_rand(c), TrainedVariance=_rand(c, lo=0.5, hi=2),
                                      Scale=_rand(c), Offset=_rand(c), Epsilon=1e-3)


NORMS = {
    "batch": lambda c: _trained_bn(c),
    "instance": lambda c: dl.instanceNormalizationLayer(Scale=_rand(c), Offset=_rand(c)),
    "layer": lambda c: dl.layerNormalizationLayer(Scale=_rand(c), Offset=_rand(c)),
    "group2": lambda c: dl.groupNormalizationLayer(2, Scale=_rand(c), Offset=_rand(c)),
    "group-all": lambda c: dl.groupNormalizationLayer("all-channels"),
    "group-cw": lambda c: dl.groupNormalizationLayer("channel-wise", Scale=_rand(c)),
}


@pytest.mark.parametrize("opset", [9, 13, 17])
@pytest.mark.parametrize("kind", list(NORMS))
def test_normalization_layers(kind, opset, tmp_path):
    net = _image_net([dl.convolution2dLayer(3, 4, Padding=1), NORMS[kind](4)])
    _roundtrip(net, _rand(6, 7, 3, 3), tmp_path, opset)


@pytest.mark.parametrize("opset", [9, 17])
@pytest.mark.parametrize("kind", ["batch", "layer", "group2"])
def test_normalization_of_features(kind, opset, tmp_path):
    net = dl.dlnetwork([dl.featureInputLayer(6), dl.fullyConnectedLayer(4), NORMS[kind](4)])
    _roundtrip(net, _rand(5, 6), tmp_path, opset)


@pytest.mark.parametrize("layer", [dl.reluLayer, lambda: dl.leakyReluLayer(0.2), dl.sigmoidLayer,
                                   dl.tanhLayer, lambda: dl.dropoutLayer(0.3), dl.softmaxLayer,
                                   dl.globalAveragePooling2dLayer, dl.globalMaxPooling2dLayer,
                                   dl.flattenLayer], ids=lambda f: f().Type)
@pytest.mark.parametrize("opset", [8, 11, 13])
def test_shape_keeping_and_global_layers(layer, opset, tmp_path):
    net = _image_net([dl.convolution2dLayer(3, 4), layer()])
    _roundtrip(net, _rand(6, 7, 3, 2), tmp_path, opset)


@pytest.mark.parametrize("opts", [
    {}, {"Stride": 2}, {"Padding": 1}, {"Padding": [1, 0, 0, 1], "Stride": [2, 1]},
    {"Padding": "same", "Stride": 2}, {"PaddingValue": "mean", "Padding": 1},
    {"PaddingValue": 2.5, "Padding": [1, 0, 1, 1]},
], ids=str)
@pytest.mark.parametrize("kind", ["max", "average"])
def test_pooling(kind, opts, tmp_path):
    if kind == "max":
        if "PaddingValue" in opts:
            pytest.skip("PaddingValue is an average pooling option")
        layer = dl.maxPooling2dLayer(3, **opts)
    else:
        layer = dl.averagePooling2dLayer(3, **opts)
    for opset in (9, 13):
        _roundtrip(_image_net([layer], (7, 8, 2)), _rand(7, 8, 2, 2), tmp_path, opset)


@pytest.mark.parametrize("flatten", [False, True])
def test_fully_connected_on_images_permutes_the_weights(flatten, tmp_path):
    layers = [dl.convolution2dLayer(3, 4)] + ([dl.flattenLayer()] if flatten else [])
    net = _image_net(layers + [dl.fullyConnectedLayer(5), dl.softmaxLayer()], (6, 7, 3))
    _roundtrip(net, _rand(6, 7, 3, 4), tmp_path)


def _branched():
    lg = dl.layerGraph([dl.imageInputLayer([8, 8, 3], Normalization="none"),
                        dl.convolution2dLayer(3, 4, Padding="same", Name="c1"),
                        dl.reluLayer(Name="r1"),
                        dl.convolution2dLayer(3, 4, Padding="same", Name="c2"),
                        dl.additionLayer(2, Name="add"),
                        dl.depthConcatenationLayer(2, Name="cat"),
                        dl.concatenationLayer(2, 2, Name="catw"),
                        dl.batchNormalizationLayer(Name="bn"),
                        dl.fullyConnectedLayer(3, Name="fc"), dl.softmaxLayer(Name="sm")])
    lg = dl.connectLayers(lg, "r1", "add/in2")
    lg = dl.connectLayers(lg, "c1", "cat/in2")
    lg = dl.connectLayers(lg, "r1", "catw/in2")
    lg = dl.addLayers(lg, [dl.convolution2dLayer(1, 8, Name="c3"), dl.reluLayer(Name="r3")])
    lg = dl.connectLayers(lg, "imageinput", "c3")
    lg = dl.disconnectLayers(lg, "r1", "catw/in2")
    lg = dl.connectLayers(lg, "r3", "catw/in2")
    lg = dl.addLayers(lg, dl.additionLayer(3, Name="add3"))
    for k, src in enumerate(["c1", "c2", "r1"]):
        lg = dl.connectLayers(lg, src, f"add3/in{k + 1}")
    lg = dl.addLayers(lg, [dl.globalAveragePooling2dLayer(Name="gap"),
                           dl.fullyConnectedLayer(2, Name="fc2")])
    lg = dl.connectLayers(lg, "add3", "gap")
    return dl.dlnetwork(lg)


@pytest.mark.parametrize("opset", [8, 13, 21])
def test_branched_graph(opset, tmp_path):
    net = _branched()
    X = _rand(8, 8, 3, 2)
    p = tmp_path / "g.onnx"
    dl.exportONNXNetwork(net, str(p), OpsetVersion=opset)
    onnx.checker.check_model(onnx.load(str(p)), full_check=True)
    ys = _ort(p, _to_onnx(X, True))
    ref = net.predict(X)
    for y, r in zip(ys, ref):
        _close(_from_onnx(y), dl.extractdata(r))
    net2 = dl.importNetworkFromONNX(str(p))
    for a, b in zip(net2.predict(X), ref):
        _close(dl.extractdata(a), dl.extractdata(b))
    dl.exportONNXNetwork(net2, str(tmp_path / "h.onnx"), OpsetVersion=opset)
    _same_graph(p, tmp_path / "h.onnx")


def _every_layer_net():
    return _image_net([
        dl.convolution2dLayer(3, 4, Padding="same"), _trained_bn(4), dl.leakyReluLayer(0.1),
        dl.averagePooling2dLayer(2, Stride=1, Padding=[1, 0, 1, 0], PaddingValue=1.5),
        dl.instanceNormalizationLayer(), dl.layerNormalizationLayer(),
        dl.groupNormalizationLayer(2), dl.sigmoidLayer(), dl.maxPooling2dLayer(2, Stride=2),
        dl.dropoutLayer(), dl.tanhLayer(), dl.softmaxLayer(), dl.flattenLayer(),
        dl.fullyConnectedLayer(3), dl.reluLayer(), dl.softmaxLayer()],
        (8, 9, 3), "zscore")


@pytest.mark.parametrize("opset", range(MIN_OPSET, MAX_OPSET + 1))
def test_every_accepted_opset_writes_a_file_onnxruntime_runs(opset, tmp_path):
    net = _every_layer_net()
    net.Layers[0]  # the input layer's statistics are unset: the identity
    _roundtrip(net, _rand(8, 9, 3, 3), tmp_path, opset)


def test_seven_layer_example_matches_to_1e_4(tmp_path):
    """The issue's example: imageInput 28x28x3 zerocenter, conv 5x5x20, instance norm, relu,
    max pool 2 stride 2, fc 10, softmax, trained briefly so the weights are not the
    initializer's."""
    dl.rng(1)
    X = _rand(28, 28, 3, 24, lo=0, hi=1)
    T = np.array([str(i % 10) for i in range(24)])
    layers = [dl.imageInputLayer([28, 28, 3]), dl.convolution2dLayer(5, 20),
              dl.instanceNormalizationLayer(), dl.reluLayer(),
              dl.maxPooling2dLayer(2, Stride=2), dl.fullyConnectedLayer(10), dl.softmaxLayer()]
    opts = dl.trainingOptions("adam", MaxEpochs=2, MiniBatchSize=8, Verbose=False)
    net, _ = dl.trainnet(X, T, layers, "crossentropy", opts)
    err = _roundtrip(net, X, tmp_path)
    assert err < 1e-4


def test_fixed_batch_size_and_names(tmp_path):
    net = _image_net([dl.convolution2dLayer(3, 2, Name="c")])
    p = tmp_path / "n.onnx"
    dl.exportONNXNetwork(net, str(p), BatchSize=2, NetworkName="tiny")
    g = onnx.load(str(p)).graph
    assert g.name == "tiny" and g.input[0].type.tensor_type.shape.dim[0].dim_value == 2
    assert [o.name for o in g.output] == ["c"]


# ---- export errors ------------------------------------------------------------------------

@pytest.mark.parametrize("layers, name", [
    ([dl.sequenceInputLayer(3), dl.lstmLayer(4, Name="lstm1")], "sequenceinput"),
    ([dl.featureInputLayer(3), dl.functionLayer(lambda x: x, Name="fn")], "fn"),
])
def test_unexportable_layer_is_an_error_naming_it(layers, name, tmp_path):
    net = dl.dlnetwork(layers)
    with pytest.raises(ValueError, match=f"'{name}'"):
        dl.exportONNXNetwork(net, str(tmp_path / "x.onnx"))
    assert not os.listdir(tmp_path)


def test_lstm_is_refused_with_a_reason(tmp_path):
    net = dl.dlnetwork([dl.sequenceInputLayer(3), dl.lstmLayer(4, Name="lstm1")])
    with pytest.raises(ValueError, match="sequence"):
        dl.exportONNXNetwork(net, str(tmp_path / "x.onnx"))


@pytest.mark.parametrize("kw", [{"OpsetVersion": 6}, {"OpsetVersion": MAX_OPSET + 1},
                                {"OpsetVersion": 13.0}, {"BatchSize": 0},
                                {"NetworkName": ""}])
def test_bad_options(kw, tmp_path):
    net = _image_net([dl.reluLayer()])
    with pytest.raises(ValueError, match=next(iter(kw))):
        dl.exportONNXNetwork(net, str(tmp_path / "x.onnx"), **kw)


def test_custom_normalization_function_is_refused(tmp_path):
    net = dl.dlnetwork([dl.imageInputLayer([4, 4, 1], Normalization=lambda x: x * 2),
                        dl.reluLayer()])
    with pytest.raises(ValueError, match="imageinput"):
        dl.exportONNXNetwork(net, str(tmp_path / "x.onnx"))


def test_export_overwrites_atomically(tmp_path):
    p = tmp_path / "m.onnx"
    p.write_bytes(b"old")
    dl.exportONNXNetwork(_image_net([dl.reluLayer()]), str(p))
    onnx.checker.check_model(onnx.load(str(p)))
    assert os.listdir(tmp_path) == ["m.onnx"]


def test_import_minidl_does_not_import_onnx():
    code = "import sys, minidl; sys.exit('onnx' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_missing_onnx_says_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(ImportError, match=r"pip install minidl\[onnx\]"):
        dl.exportONNXNetwork(_image_net([dl.reluLayer()]), str(tmp_path / "x.onnx"))
    with pytest.raises(ImportError, match=r"pip install minidl\[onnx\]"):
        dl.importNetworkFromONNX(str(tmp_path / "x.onnx"))
