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
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from minidl.networks.onnx.common import MAX_OPSET, MIN_OPSET  # noqa: E402

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


def _image_net(layers, hwc=(6, 7, 3), norm="none", **stats):
    return dl.dlnetwork([dl.imageInputLayer(list(hwc), Normalization=norm, **stats), *layers])


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


@settings(max_examples=25, deadline=None)
@given(k=st.tuples(st.integers(1, 4), st.integers(1, 4)),
       stride=st.tuples(st.integers(1, 3), st.integers(1, 3)),
       dilation=st.tuples(st.integers(1, 2), st.integers(1, 2)),
       pads=st.one_of(st.just("same"), st.tuples(*[st.integers(0, 2)] * 4)),
       hw=st.tuples(st.integers(7, 10), st.integers(7, 10)))
def test_convolution_geometry_property(k, stride, dilation, pads, hw):
    """Any filter, stride, dilation and padding: onnxruntime agrees with minidl."""
    import tempfile
    from pathlib import Path

    net = _image_net([dl.convolution2dLayer(list(k), 2, Stride=list(stride), Bias=_rand(2),
                                            DilationFactor=list(dilation),
                                            Padding=pads if pads == "same" else list(pads))],
                     (*hw, 2))
    X = _rand(*hw, 2, 2)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "p.onnx"
        dl.exportONNXNetwork(net, str(path))
        _close(_from_onnx(_ort(path, _to_onnx(X, True))[0]), _predict(net, X))


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


POOL_OPTIONS = [{}, {"Stride": 2}, {"Padding": 1}, {"Padding": [1, 0, 0, 1], "Stride": [2, 1]},
                {"Padding": "same", "Stride": 2}]
AVG_ONLY = [{"PaddingValue": "mean", "Padding": 1},
            {"PaddingValue": 2.5, "Padding": [1, 0, 1, 1]}]


@pytest.mark.parametrize("kind, opts", [("max", o) for o in POOL_OPTIONS]
                         + [("average", o) for o in POOL_OPTIONS + AVG_ONLY], ids=str)
def test_pooling(kind, opts, tmp_path):
    make = dl.maxPooling2dLayer if kind == "max" else dl.averagePooling2dLayer
    for opset in (9, 13):
        _roundtrip(_image_net([make(3, **opts)], (7, 8, 2)), _rand(7, 8, 2, 2), tmp_path, opset)


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
        (8, 9, 3), "zscore", Mean=_rand(1, 1, 3), StandardDeviation=_rand(1, 1, 3, lo=0.5, hi=2))


@pytest.mark.parametrize("opset", range(MIN_OPSET, MAX_OPSET + 1))
def test_every_accepted_opset_writes_a_file_onnxruntime_runs(opset, tmp_path):
    net = _every_layer_net()
    _roundtrip(net, _rand(8, 9, 3, 3), tmp_path, opset)
    seq = dl.dlnetwork([dl.sequenceInputLayer(4), dl.bilstmLayer(3), dl.tanhLayer(),
                        dl.gruLayer(2, OutputMode="last"), dl.fullyConnectedLayer(3),
                        dl.softmaxLayer()])
    _seq_roundtrip(seq, tmp_path, opset)


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

def test_unexportable_layer_is_an_error_naming_it(tmp_path):
    net = dl.dlnetwork([dl.featureInputLayer(3), dl.functionLayer(lambda x: x, Name="fn")])
    with pytest.raises(ValueError, match="'fn'"):
        dl.exportONNXNetwork(net, str(tmp_path / "x.onnx"))
    assert not os.listdir(tmp_path)


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


# ---- import of hand-built ONNX graphs -------------------------------------------------------

def _model(nodes, inits, x_shape, out_rank, opset=13, x_type=TensorProto.FLOAT):
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", x_type, x_shape)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None] * out_rank)],
        [numpy_helper.from_array(np.asarray(v), k) for k, v in inits.items()])
    opsets = [helper.make_opsetid("", opset)]
    return helper.make_model(graph, opset_imports=opsets,
                             ir_version=max(4, helper.find_min_ir_version_for(opsets)))


def _check_import(tmp_path, nodes, inits, x_shape, out_rank, opset=13):
    """Import the model and compare with onnxruntime on the same file; returns the network."""
    path = tmp_path / "h.onnx"
    onnx.save(_model(nodes, inits, x_shape, out_rank, opset), str(path))
    X = _rand(*[2 if d is None else d for d in x_shape])
    y = _ort(path, X)[0]
    net = dl.importNetworkFromONNX(str(path))
    Xm = X.transpose(2, 3, 1, 0) if X.ndim == 4 else X
    if X.ndim == 4 and x_shape[3] == 3 and nodes[0].op_type == "Transpose":  # NHWC input
        Xm = X.transpose(1, 2, 3, 0)
    _close(_predict(net, Xm), _from_onnx(y))
    return net


def N(op, ins, name=None, out=None, **attrs):
    """A node named ``name`` whose output is ``out`` (default: its name, else "y")."""
    return helper.make_node(op, ins, [out or name or "y"], name=name or op.lower(), **attrs)


W3 = _rand(4, 3, 3, 3)
B4 = _rand(4)


@pytest.mark.parametrize("attrs", [
    {}, {"pads": [1, 0, 2, 1]}, {"auto_pad": "SAME_UPPER"}, {"auto_pad": "SAME_LOWER"},
    {"auto_pad": "VALID", "strides": [2, 1]}, {"auto_pad": "SAME_UPPER", "strides": [2, 2]},
    {"dilations": [2, 1], "pads": [2, 1, 2, 1]}, {"kernel_shape": [3, 3]},
], ids=str)
def test_import_conv(attrs, tmp_path):
    nodes = [N("Conv", ["x", "W", "B"], **attrs)]
    _check_import(tmp_path, nodes, {"W": W3, "B": B4}, [None, 3, 8, 7], 4)


def test_import_conv_without_bias_and_with_even_same_filter(tmp_path):
    nodes = [N("Conv", ["x", "W"], auto_pad="SAME_LOWER")]
    _check_import(tmp_path, nodes, {"W": _rand(2, 3, 4, 2)}, [None, 3, 7, 6], 4)


def test_import_pytorch_style_conv_bn_relu_pool_flatten_linear(tmp_path):
    """What torch.onnx.export writes for Conv-BN(folded)-ReLU-MaxPool-Flatten-Linear in eval
    mode: the BN is already in the Conv weights; Flatten reads C, H, W row-major."""
    nodes = [N("Conv", ["x", "W", "B"], "c", pads=[1, 1, 1, 1]), N("Relu", ["c"], "r"),
             N("MaxPool", ["r"], "p", kernel_shape=[2, 2], strides=[2, 2]),
             N("Flatten", ["p"], "f", axis=1), N("Gemm", ["f", "L", "b"], "y", transB=1)]
    inits = {"W": W3, "B": B4, "L": _rand(5, 4 * 3 * 4), "b": _rand(5)}
    net = _check_import(tmp_path, nodes, inits, [None, 3, 6, 8], 2)
    assert [type(la).__name__ for la in net.Layers][-1] == "FullyConnectedLayer"


@pytest.mark.parametrize("opset", [9, 15])
def test_import_batchnorm_after_add(opset, tmp_path):
    nodes = [N("Conv", ["x", "W", "B"], "c1"), N("Conv", ["x", "W"], "c2"),
             N("Add", ["c1", "c2"], "a"),
             N("BatchNormalization", ["a", "s", "o", "m", "v"], "y", epsilon=1e-3)]
    inits = {"W": W3, "B": B4, "s": _rand(4), "o": _rand(4), "m": _rand(4),
             "v": _rand(4, lo=0.5, hi=2)}
    _check_import(tmp_path, nodes, inits, [None, 3, 5, 5], 4, opset)


@pytest.mark.parametrize("transB", [0, 1])
def test_import_gemm(transB, tmp_path):
    w = _rand(6, 4) if transB else _rand(4, 6)
    nodes = [N("Gemm", ["x", "W", "b"], transB=transB, alpha=0.5, beta=2.0)]
    _check_import(tmp_path, nodes, {"W": w, "b": _rand(6)}, [None, 4], 2)


def test_import_matmul_add_and_reshape_flatten(tmp_path):
    nodes = [N("Reshape", ["x", "s"], "f"), N("MatMul", ["f", "W"], "m"),
             N("Add", ["m", "b"], "y")]
    inits = {"s": np.array([0, -1], np.int64), "W": _rand(2 * 3 * 4, 5), "b": _rand(5)}
    _check_import(tmp_path, nodes, inits, [None, 2, 3, 4], 2)


@pytest.mark.parametrize("opset, axis", [(11, None), (11, 1), (13, None), (13, -1), (13, 1)])
def test_import_softmax_on_features(opset, axis, tmp_path):
    kw = {} if axis is None else {"axis": axis}
    nodes = [N("Gemm", ["x", "W"], "g", transB=1), N("Softmax", ["g"], **kw)]
    _check_import(tmp_path, nodes, {"W": _rand(3, 4)}, [None, 4], 2, opset)


def test_import_softmax_over_image_channels(tmp_path):
    _check_import(tmp_path, [N("Softmax", ["x"], axis=1)], {}, [None, 3, 4, 5], 4, 13)


def test_import_softmax_over_width_is_refused(tmp_path):
    path = tmp_path / "s.onnx"
    onnx.save(_model([N("Softmax", ["x"], "sm", "y")], {}, [None, 3, 4, 5], 4, 13), str(path))
    with pytest.raises(ValueError, match=r"'sm' \(Softmax\)"):
        dl.importNetworkFromONNX(str(path))


@pytest.mark.parametrize("case", ["sub_div", "mul_sub", "sub_only", "per_element"])
def test_import_input_normalization_constants(case, tmp_path):
    m, s = _rand(1, 3, 1, 1, lo=0, hi=0.5), _rand(3, 1, 1, lo=0.5, hi=2)
    nodes, inits = {
        "sub_div": ([N("Sub", ["x", "m"], "a"), N("Div", ["a", "s"], "n")], {"m": m, "s": s}),
        "mul_sub": ([N("Mul", ["x", "two"], "a"), N("Sub", ["a", "one"], "n")],
                    {"two": np.float32(2), "one": np.float32(1)}),
        "sub_only": ([N("Sub", ["x", "m"], "n")], {"m": m}),
        "per_element": ([N("Sub", ["x", "e"], "a"), N("Div", ["a", "s"], "n")],
                        {"e": _rand(3, 4, 5), "s": s}),
    }[case]
    nodes = nodes + [N("Conv", ["n", "W", "B"], "y")]
    _check_import(tmp_path, nodes, {**inits, "W": W3, "B": B4}, [None, 3, 4, 5], 4)


def test_import_nhwc_input_transposed(tmp_path):
    nodes = [N("Transpose", ["x"], "t", perm=[0, 3, 1, 2]), N("Conv", ["t", "W", "B"], "y")]
    net = _check_import(tmp_path, nodes, {"W": W3, "B": B4}, [None, 5, 4, 3], 4)
    assert tuple(net.Layers[0].InputSize) == (5, 4, 3)


def test_import_transpose_pair_that_cancels(tmp_path):
    nodes = [N("Transpose", ["x"], "t1", perm=[0, 2, 3, 1]),
             N("Transpose", ["t1"], "t2", perm=[0, 3, 1, 2]), N("Relu", ["t2"], "y")]
    _check_import(tmp_path, nodes, {}, [None, 3, 4, 5], 4)


@pytest.mark.parametrize("opset", [13, 18])
def test_import_pytorch_groupnorm_pattern(opset, tmp_path):
    """Reshape -> InstanceNormalization -> Reshape -> Mul -> Add, as PyTorch writes GroupNorm
    before opset 18."""
    nodes = [N("Reshape", ["x", "g"], "r1"),
             N("InstanceNormalization", ["r1", "one", "zero"], "in", epsilon=1e-5),
             N("Reshape", ["in", "shape"], "r2"), N("Mul", ["r2", "s"], "m"),
             N("Add", ["m", "o"], "y")]
    inits = {"g": np.array([0, 2, -1], np.int64), "one": np.ones(2, np.float32),
             "zero": np.zeros(2, np.float32), "shape": np.array([0, 4, 3, 5], np.int64),
             "s": _rand(4, 1, 1), "o": _rand(4, 1, 1)}
    net = _check_import(tmp_path, nodes, inits, [None, 4, 3, 5], 4, opset)
    assert type(net.Layers[1]).__name__ == "GroupNormalizationLayer"


@pytest.mark.parametrize("opset", [18, 21])
def test_import_group_normalization_operator(opset, tmp_path):
    n = 2 if opset < 21 else 4  # opsets 18-20: one scale per group; 21: per channel
    nodes = [N("GroupNormalization", ["x", "s", "o"], num_groups=2, epsilon=1e-4)]
    _check_import(tmp_path, nodes, {"s": _rand(n), "o": _rand(n)}, [None, 4, 3, 5], 4, opset)


@pytest.mark.parametrize("rank", [2, 4])
def test_import_layer_normalization_operator(rank, tmp_path):
    shape = [None, 4] if rank == 2 else [None, 4, 3, 5]
    full = (4,) if rank == 2 else (4, 3, 5)
    s = np.broadcast_to(_rand(*((4,) if rank == 2 else (4, 1, 1))), full).copy()
    nodes = [N("LayerNormalization", ["x", "s", "o"], axis=1 if rank == 4 else -1)]
    o = np.broadcast_to(_rand(*s.shape[:1], *([1, 1] if rank == 4 else [])), full).copy()
    _check_import(tmp_path, nodes, {"s": s, "o": o}, shape, rank, 17)


def test_import_instance_norm_and_activations_and_pools(tmp_path):
    nodes = [N("InstanceNormalization", ["x", "s", "o"], "i"), N("LeakyRelu", ["i"], "l",
                                                                   alpha=0.2),
             N("Sigmoid", ["l"], "sg"), N("Tanh", ["sg"], "t"),
             N("AveragePool", ["t"], "ap", kernel_shape=[3, 3], pads=[1, 1, 1, 1],
               count_include_pad=1),
             N("AveragePool", ["ap"], "ap2", kernel_shape=[2, 2], pads=[1, 0, 0, 1]),
             N("MaxPool", ["ap2"], "mp", kernel_shape=[2, 3], strides=[1, 2], pads=[1, 1, 0, 1]),
             N("Identity", ["mp"], "id"), N("GlobalMaxPool", ["id"], "gm"),
             N("GlobalAveragePool", ["id"], "ga"), N("Concat", ["gm", "ga"], "y", axis=1)]
    _check_import(tmp_path, nodes, {"s": _rand(3), "o": _rand(3)}, [None, 3, 6, 7], 4)


@pytest.mark.parametrize("opset", [10, 13])
def test_import_pad_before_conv_and_pool(opset, tmp_path):
    pads = [0, 0, 1, 2, 0, 0, 2, 0]
    if opset < 11:
        nodes = [N("Pad", ["x"], "p", pads=pads, value=0.0), N("Pad", ["c"], "p2", pads=pads,
                                                                value=0.5)]
        inits = {}
    else:
        nodes = [N("Pad", ["x", "pads", "zero"], "p"), N("Pad", ["c", "pads", "half"], "p2")]
        inits = {"pads": np.array(pads, np.int64), "zero": np.float32(0),
                 "half": np.float32(0.5)}
    nodes = [nodes[0], N("Conv", ["p", "W", "B"], "c"), nodes[1],
             N("AveragePool", ["p2"], "y", kernel_shape=[3, 3])]
    _check_import(tmp_path, nodes, {**inits, "W": W3, "B": B4}, [None, 3, 6, 6], 4, opset)


@pytest.mark.parametrize("opset", [11, 13])
def test_import_dropout_sum_concat_and_constant_node(opset, tmp_path):
    ratio = [] if opset < 12 else ["ratio"]
    nodes = [helper.make_node("Constant", [], ["W"], name="k",
                              value=numpy_helper.from_array(_rand(5, 4), "W")),
             N("Gemm", ["x", "W"], "g", transB=1),
             N("Dropout", ["g", *ratio], "d", **({"ratio": 0.3} if opset < 12 else {})),
             N("Relu", ["d"], "r"), N("Sum", ["d", "r", "g"], "s"),
             N("Concat", ["s", "r"], "y", axis=-1)]
    inits = {"ratio": np.float32(0.3)} if opset >= 12 else {}
    net = _check_import(tmp_path, nodes, inits, [None, 4], 2, opset)
    assert any(type(la).__name__ == "DropoutLayer" for la in net.Layers)


def test_import_folds_per_channel_mul_add_into_conv(tmp_path):
    nodes = [N("Conv", ["x", "W", "B"], "c"), N("Mul", ["c", "s"], "m"),
             N("Add", ["m", "o"], "y")]
    inits = {"W": W3, "B": B4, "s": _rand(4, 1, 1), "o": _rand(1, 4, 1, 1)}
    net = _check_import(tmp_path, nodes, inits, [None, 3, 5, 5], 4)
    assert len(net.Layers) == 2


# ---- bad files -----------------------------------------------------------------------------

def _saved(tmp_path, model, name="m.onnx"):
    path = tmp_path / name
    path.write_bytes(model.SerializeToString())
    return str(path)


def test_truncated_file_is_an_error(tmp_path):
    p = tmp_path / "a.onnx"
    dl.exportONNXNetwork(_image_net([dl.convolution2dLayer(3, 4)]), str(p))
    data = p.read_bytes()
    for cut in (len(data) // 2, len(data) - 7, 10):
        p.write_bytes(data[:cut])
        with pytest.raises(ValueError, match="importNetworkFromONNX"):
            dl.importNetworkFromONNX(str(p))


def test_not_an_onnx_file_and_missing_file(tmp_path):
    p = tmp_path / "x.onnx"
    p.write_bytes(b"\x00\xff" * 50)
    with pytest.raises(ValueError, match="not a valid ONNX"):
        dl.importNetworkFromONNX(str(p))
    with pytest.raises(FileNotFoundError):
        dl.importNetworkFromONNX(str(tmp_path / "none.onnx"))


def test_wrong_types_are_errors(tmp_path):
    m = _model([N("Relu", ["x"])], {}, [None, 3], 2, x_type=TensorProto.INT64)
    m.graph.output[0].type.tensor_type.elem_type = TensorProto.INT64
    with pytest.raises(ValueError, match="float32"):
        dl.importNetworkFromONNX(_saved(tmp_path, m))
    m = _model([N("Conv", ["x", "W"], "cv", "y")], {"W": np.ones((2, 3, 1, 1), np.int32)},
               [None, 3, 4, 4], 4)
    with pytest.raises(ValueError, match="'cv'.*int32"):
        dl.importNetworkFromONNX(_saved(tmp_path, m))


def test_absurd_shapes_are_errors(tmp_path):
    m = _model([N("Relu", ["x"])], {}, [None, 3, 1 << 22, 1 << 22], 4)
    with pytest.raises(ValueError, match="'x'"):
        dl.importNetworkFromONNX(_saved(tmp_path, m))
    m = _model([N("Gemm", ["x", "W"])], {}, [None, 3], 2)
    m.graph.initializer.append(_tensor("W", [1 << 20, 1 << 20]))
    with pytest.raises(ValueError, match="absurd"):
        dl.importNetworkFromONNX(_saved(tmp_path, m))
    m = _model([N("Gemm", ["x", "W"])], {"W": _rand(4, 3)}, [None, 3], 2)
    m.graph.initializer[0].raw_data = m.graph.initializer[0].raw_data[:20]
    with pytest.raises(ValueError, match="W.*(too small|truncated)"):
        dl.importNetworkFromONNX(_saved(tmp_path, m))


def test_unknown_operator_names_operator_and_node(tmp_path):
    m = _model([N("Erf", ["x"], "myerf"), N("Relu", ["myerf"], "y")], {}, [None, 3], 2)
    with pytest.raises(ValueError, match=r"'myerf' \(Erf\)"):
        dl.importNetworkFromONNX(_saved(tmp_path, m))


def test_unsupported_attribute_names_it(tmp_path):
    m = _model([N("Conv", ["x", "W"], "gc", "y", group=3)], {"W": _rand(3, 1, 1, 1)},
               [None, 3, 4, 4], 4)
    with pytest.raises(ValueError, match=r"'gc' \(Conv\).*group"):
        dl.importNetworkFromONNX(_saved(tmp_path, m))


def _tensor(name, dims):
    """A float tensor that declares ``dims`` but holds no data (as a corrupt file would)."""
    t = TensorProto()
    t.name, t.data_type = name, TensorProto.FLOAT
    t.dims.extend(dims)
    return t


def _external(tmp_path, location):
    m = _model([N("Gemm", ["x", "W"], "y", transB=1)], {}, [None, 3], 2)
    t = _tensor("W", [2, 3])
    t.data_location = TensorProto.EXTERNAL
    for k, v in (("location", location), ("offset", "0"), ("length", "24")):
        e = t.external_data.add()
        e.key, e.value = k, v
    m.graph.initializer.append(t)
    return m


def test_external_data_next_to_the_model_is_read(tmp_path):
    w = _rand(2, 3)
    (tmp_path / "w.bin").write_bytes(w.tobytes())
    net = dl.importNetworkFromONNX(_saved(tmp_path, _external(tmp_path, "w.bin")))
    X = _rand(4, 3)
    _close(_predict(net, X), w @ X.T)


@pytest.mark.parametrize("location", ["../secret.bin", "/etc/passwd", "sub/../../secret.bin"])
def test_external_data_outside_the_folder_is_refused(location, tmp_path):
    (tmp_path / "secret.bin").write_bytes(b"\x00" * 24)
    folder = tmp_path / "model"
    folder.mkdir()
    with pytest.raises(ValueError, match="outside the model's folder"):
        dl.importNetworkFromONNX(_saved(folder, _external(folder, location)))


# ---- sequence networks: ONNX LSTM and GRU --------------------------------------------------

def _seq_roundtrip(net, tmp_path, opset=13, batch=None):
    """As _roundtrip for sequence data: raw N x S x C in minidl, T x N x C in ONNX."""
    X = _rand(batch or 3, 6, 4)
    p1, p2 = tmp_path / "s1.onnx", tmp_path / "s2.onnx"
    kw = {"BatchSize": batch} if batch else {}
    dl.exportONNXNetwork(net, str(p1), OpsetVersion=opset, **kw)
    onnx.checker.check_model(onnx.load(str(p1)), full_check=True)
    y = _ort(p1, np.ascontiguousarray(X.transpose(1, 0, 2)))[0]
    ref = _predict(net, X)
    _close(y.T if y.ndim == 2 else y.transpose(2, 1, 0), ref)
    net2 = dl.importNetworkFromONNX(str(p1))
    _close(_predict(net2, X), ref)
    dl.exportONNXNetwork(net2, str(p2), OpsetVersion=opset, **kw)
    _same_graph(p1, p2)


def _recurrent(kind, mode):
    if kind == "lstm":
        return dl.lstmLayer(5, OutputMode=mode, Bias=_rand(20))
    if kind == "bilstm":
        return dl.bilstmLayer(5, OutputMode=mode, Bias=_rand(40))
    reset = kind.split(":")[1]
    n = 18 if reset.startswith("recurrent") else 9
    return dl.gruLayer(3, OutputMode=mode, ResetGateMode=reset, Bias=_rand(n))


@pytest.mark.parametrize("opset", [9, 13])
@pytest.mark.parametrize("mode", ["sequence", "last"])
@pytest.mark.parametrize("kind", ["lstm", "bilstm", "gru:after-multiplication",
                                  "gru:before-multiplication",
                                  "gru:recurrent-bias-after-multiplication"])
def test_recurrent_layers_through_onnx_lstm_and_gru(kind, mode, opset, tmp_path):
    """The gate blocks are reordered (LSTM i f g o -> i o f c, GRU r z h -> z r h); every
    reset-gate mode of the GRU has an ONNX form; onnxruntime agrees."""
    net = dl.dlnetwork([dl.sequenceInputLayer(4, Normalization="zerocenter", Mean=_rand(4)),
                        _recurrent(kind, mode), dl.dropoutLayer(0.2),
                        dl.fullyConnectedLayer(3), dl.softmaxLayer()])
    _seq_roundtrip(net, tmp_path, opset)


def test_nonzero_initial_states_need_a_fixed_batch(tmp_path):
    lstm = dl.lstmLayer(5, HiddenState=_rand(5, 1), CellState=_rand(5, 1), Name="l")
    net = dl.dlnetwork([dl.sequenceInputLayer(4), lstm])
    _seq_roundtrip(net, tmp_path, batch=3)
    with pytest.raises(ValueError, match="'l'.*BatchSize"):
        dl.exportONNXNetwork(net, str(tmp_path / "x.onnx"))


def test_layers_not_exported_for_sequences_are_named(tmp_path):
    net = dl.dlnetwork([dl.sequenceInputLayer(4), dl.lstmLayer(5),
                        dl.layerNormalizationLayer(Name="ln")])
    with pytest.raises(ValueError, match="'ln'.*sequence"):
        dl.exportONNXNetwork(net, str(tmp_path / "x.onnx"))


@pytest.mark.parametrize("bidirectional", [False, True])
def test_import_pytorch_style_lstm(bidirectional, tmp_path):
    """What torch.onnx.export writes for nn.LSTM (batch_first=False) then nn.Linear on every
    step: LSTM with zero initial states, Squeeze (or Transpose + Reshape), MatMul + Add."""
    d, h = (2, 3) if bidirectional else (1, 3)
    nodes = [N("LSTM", ["x", "W", "R", "B", "", "h0", "c0"], "lstm", "Y", hidden_size=h,
               **({"direction": "bidirectional"} if bidirectional else {}))]
    if bidirectional:
        nodes += [N("Transpose", ["Y"], "t", perm=[0, 2, 1, 3]),
                  N("Reshape", ["t", "shape"], "seq")]
    else:
        nodes += [N("Squeeze", ["Y", "axes"], "seq")]
    nodes += [N("MatMul", ["seq", "L"], "m"), N("Add", ["m", "b"], "y")]
    inits = {"W": _rand(d, 4 * h, 4), "R": _rand(d, 4 * h, h), "B": _rand(d, 8 * h),
             "h0": np.zeros((d, 1, h), np.float32), "c0": np.zeros((d, 1, h), np.float32),
             "axes": np.array([1], np.int64), "shape": np.array([0, 0, -1], np.int64),
             "L": _rand(d * h, 2), "b": _rand(2)}
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["T", 1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["T", 1, 2])],
        [numpy_helper.from_array(np.asarray(v), k) for k, v in inits.items()])
    path = tmp_path / "lstm.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)],
                                ir_version=8), str(path))
    X = _rand(1, 7, 4)
    y = _ort(path, np.ascontiguousarray(X.transpose(1, 0, 2)))[0]
    net = dl.importNetworkFromONNX(str(path))
    _close(_predict(net, X), y.transpose(2, 1, 0))


def test_import_gru_reading_both_outputs_is_refused(tmp_path):
    nodes = [helper.make_node("GRU", ["x", "W", "R"], ["Y", "Yh"], name="g", hidden_size=2),
             N("Squeeze", ["Y", "a1"], "s1"), N("Squeeze", ["Yh", "a0"], "s0"),
             N("Add", ["s0", "s0"], "y")]
    inits = {"W": _rand(1, 6, 3), "R": _rand(1, 6, 2), "a1": np.array([1], np.int64),
             "a0": np.array([0], np.int64)}
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["T", "N", 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 2])],
        [numpy_helper.from_array(np.asarray(v), k) for k, v in inits.items()])
    path = tmp_path / "gru.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)],
                                ir_version=8), str(path))
    with pytest.raises(ValueError, match=r"'g' \(GRU\)"):
        dl.importNetworkFromONNX(str(path))


# ---- patterns minidl refuses on import, naming the node -------------------------------------

def _refused(tmp_path, nodes, inits, x_shape, rank, match, opset=13):
    path = tmp_path / "r.onnx"
    onnx.save(_model(nodes, inits, x_shape, rank, opset), str(path))
    with pytest.raises(ValueError, match=match):
        dl.importNetworkFromONNX(str(path))


def test_import_ceil_mode_only_where_it_changes_nothing(tmp_path):
    same = [N("MaxPool", ["x"], kernel_shape=[2, 2], strides=[2, 2], ceil_mode=1)]
    _check_import(tmp_path, same, {}, [None, 2, 6, 8], 4)
    _refused(tmp_path, [N("MaxPool", ["x"], "mp", "y", kernel_shape=[2, 2], strides=[2, 2],
                          ceil_mode=1)], {}, [None, 2, 5, 8], 4, r"'mp' \(MaxPool\).*ceil_mode")


def test_import_refuses_a_transpose_that_stays(tmp_path):
    _refused(tmp_path, [N("Transpose", ["x"], "t", perm=[0, 2, 3, 1]), N("Relu", ["t"], "y")],
             {}, [None, 2, 3, 4], 4, r"'y' \(Relu\).*transposed")


def test_import_refuses_a_row_major_flatten_read_by_other_layers(tmp_path):
    _refused(tmp_path, [N("Flatten", ["x"], "f"), N("Relu", ["f"], "y")], {}, [None, 2, 3, 4],
             2, r"'f' \(Flatten\).*column-major")


def test_export_and_import_on_every_backend(xp, tmp_path):
    """Weights on the GPU (or its test double) are copied to the host for the file; imported
    weights join the active backend."""
    net = _image_net([dl.convolution2dLayer(3, 4, Padding="same"), _trained_bn(4),
                      dl.reluLayer(), dl.fullyConnectedLayer(3)])
    X = _rand(6, 7, 3, 2)
    path = tmp_path / "b.onnx"
    dl.exportONNXNetwork(net, str(path))
    ref = dl.gather(_predict(net, X))
    _close(_from_onnx(_ort(path, _to_onnx(X, True))[0]), ref)
    net2 = dl.importNetworkFromONNX(str(path))
    _close(dl.gather(_predict(net2, X)), ref)


# ---- files written by PyTorch's exporter (fixtures/onnx/make_fixtures.py says how) ------------

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures", "onnx")


@pytest.mark.parametrize("name", ["torch_cnn", "torch_lstm", "torch_bilstm", "torch_gru"])
def test_import_pytorch_exported_files(name):
    """Conv with folded BN, BN after Add, GroupNorm through Shape-computed reshapes, LSTM/GRU
    with initial states computed from Shape (ConstantOfShape): minidl agrees with onnxruntime."""
    path = os.path.join(FIXTURES, f"{name}.onnx")
    net = dl.importNetworkFromONNX(path)
    if name == "torch_cnn":
        X = _rand(16, 16, 3, 3)
        ref = _from_onnx(_ort(path, _to_onnx(X, True))[0])
    else:
        X = _rand(3, 6, 4)
        ref = _ort(path, np.ascontiguousarray(X.transpose(1, 0, 2)))[0].transpose(2, 1, 0)
    _close(_predict(net, X), ref)


def test_import_dynamic_flatten_size_from_shape(tmp_path):
    """x.view(x.size(0), -1) with a free batch: Shape -> Slice -> Cast -> Concat -> Reshape."""
    nodes = [N("Shape", ["x"], "sh"), N("Slice", ["sh", "s0", "s1"], "n"),
             N("Cast", ["n"], "nc", to=TensorProto.INT64), N("Concat", ["nc", "m1"], "shape",
                                                                axis=0),
             N("Reshape", ["x", "shape"], "f"), N("Gemm", ["f", "W"], "y", transB=1)]
    inits = {"s0": np.array([0], np.int64), "s1": np.array([1], np.int64),
             "m1": np.array([-1], np.int64), "W": _rand(3, 2 * 3 * 4)}
    _check_import(tmp_path, nodes, inits, [None, 2, 3, 4], 2)


def test_import_refuses_arithmetic_on_sizes(tmp_path):
    nodes = [N("Shape", ["x"], "sh"), N("Mul", ["sh", "two"], "m"),
             N("Reshape", ["x", "m"], "y")]
    _refused(tmp_path, nodes, {"two": np.array([1, 1], np.int64)}, [None, 2], 2,
             r"'m' \(Mul\)")


def test_import_channels_last_flatten_before_gemm(tmp_path):
    """Keras-style: Transpose to N x H x W x C, Flatten, Gemm: the weight columns follow."""
    nodes = [N("Conv", ["x", "W", "B"], "c"), N("Transpose", ["c"], "t", perm=[0, 2, 3, 1]),
             N("Flatten", ["t"], "f"), N("Gemm", ["f", "L"], "y", transB=1)]
    inits = {"W": W3, "B": B4, "L": _rand(3, 4 * 3 * 4)}
    _check_import(tmp_path, nodes, inits, [None, 3, 5, 6], 2)
