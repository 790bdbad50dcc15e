"""``exportONNXNetwork``: write a minidl network as an ONNX model (MATLAB's function).

The exported model takes ONNX's layouts: N x C x H x W float32 images, N x C features and
T x N x C sequences (what ONNX's LSTM and GRU read), with a free batch dimension "N" (and "T")
unless BatchSize is given. Each minidl layer becomes one ONNX node
named after the layer (or a short run of nodes named "<layer>/<step>"), its parameters
initializers named "<layer>/<parameter>"; ``networks.onnx.common`` lists the layout conversions.

A layer with no ONNX counterpart (function layers, custom layers, input layers with a custom
normalization function, normalization or convolution layers on sequence data) is an error naming
the layer: a file with a placeholder node would not run in any runtime, so minidl refuses instead
of writing one (MATLAB warns and writes a placeholder).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ... import layers as L
from ..._matlab import parse_name_value
from ..network import dlnetwork
from .common import (
    DEFAULT_OPSET,
    check_opset,
    conv_to_onnx,
    fc_columns_to_onnx,
    host,
    pads_to_onnx,
    require_onnx,
    same_pads,
    stat_to_onnx,
)

__all__ = ["exportONNXNetwork"]

_REFUSED = {"FunctionLayer": "a Python function has no ONNX form"}
# layers that also take sequence ("CBT") data; the others are refused for it
_SEQUENCE_OK = ("SequenceInputLayer", "LSTMLayer", "BiLSTMLayer", "GRULayer",
                "FullyConnectedLayer", "ReLULayer", "LeakyReLULayer", "SigmoidLayer", "TanhLayer",
                "SoftmaxLayer", "DropoutLayer", "AdditionLayer")


@dataclass
class _Writer:
    """The ONNX graph being written: nodes, initializers and the opset they target."""

    onnx: Any
    opset: int
    batch: Any = "N"
    nodes: list = field(default_factory=list)
    inits: list = field(default_factory=list)

    def const(self, name: str, value: Any, dtype: Any = np.float32) -> str:
        """An initializer ``name`` holding ``value`` (float32 unless dtype says otherwise)."""
        array = np.asarray(value, dtype=dtype)
        self.inits.append(self.onnx.numpy_helper.from_array(array, name))
        return name

    def node(self, op: str, inputs: list[str], output: Any, name: str, **attrs: Any) -> str:
        """Append a node with one output (or a list, "" for an unused one); returns the first
        output used."""
        outputs = output if isinstance(output, list) else [output]
        self.nodes.append(self.onnx.helper.make_node(op, inputs, outputs, name=name, **attrs))
        return next(o for o in outputs if o)

    def squeeze(self, x: str, axis: int, output: str, name: str) -> str:
        """Squeeze one axis: an attribute before opset 13, an input from 13 on."""
        if self.opset < 13:
            return self.node("Squeeze", [x], output, name, axes=[axis])
        return self.node("Squeeze", [x, self.const(f"{name}/axes", [axis], np.int64)], output,
                         name)


@dataclass
class _Site:
    """One layer being exported: its input tensors, their minidl sizes and formats (B = 1)."""

    layer: Any
    inputs: list[str]
    sizes: list[tuple[int, ...]]
    fmts: list[str]

    @property
    def name(self) -> str:
        return self.layer.Name

    @property
    def x(self) -> str:
        return self.inputs[0]

    @property
    def fmt(self) -> str:
        return self.fmts[0]

    @property
    def hwc(self) -> tuple[int, int, int]:
        return tuple(self.sizes[0][:3])

    def refuse(self, why: str) -> ValueError:
        return ValueError(f"exportONNXNetwork: layer '{self.name}' ({self.layer.Type}): {why}.")


# ---- layer writers: each returns the name of the layer's output tensor -----------------------

def _input(w: _Writer, s: _Site) -> str:
    layer, x = s.layer, s.x
    norm = layer.Normalization
    if callable(norm):
        raise s.refuse("a custom normalization function has no ONNX form; use a built-in "
                       "Normalization or 'none'")
    image = isinstance(layer, L.ImageInputLayer)  # sequence statistics are C x 1, as features

    def step(op: str, stat: str, value: Any) -> None:
        nonlocal x
        c = w.const(f"{s.name}/{stat}", stat_to_onnx(np.asarray(value, np.float32), image))
        x = w.node(op, [x, c], f"{s.name}/{stat}_out", f"{s.name}/{op.lower()}_{stat}")

    if norm in ("zerocenter", "zscore") and layer.Mean is not None:
        step("Sub", "Mean", host(layer.Mean))
    if norm == "zscore" and layer.StandardDeviation is not None:
        step("Div", "StandardDeviation", host(layer.StandardDeviation))
    if norm.startswith("rescale") and layer.Min is not None and layer.Max is not None:
        lo, hi = host(layer.Min), host(layer.Max)
        step("Sub", "Min", lo)
        step("Div", "Range", hi - lo)
        if norm == "rescale-symmetric":
            step("Mul", "Two", np.float32(2))
            step("Sub", "One", np.float32(1))
    return x


def _conv(w: _Writer, s: _Site) -> str:
    layer = s.layer
    span = tuple((k - 1) * d + 1 for k, d in zip(layer.FilterSize, layer.DilationFactor))
    pads = _pads(layer, s.hwc[:2], span)
    weights = w.const(f"{s.name}/Weights", conv_to_onnx(host(layer.Weights)))
    bias = w.const(f"{s.name}/Bias", host(layer.Bias).reshape(-1))
    return w.node("Conv", [s.x, weights, bias], s.name, s.name,
                  kernel_shape=list(layer.FilterSize), strides=list(layer.Stride),
                  dilations=list(layer.DilationFactor), pads=pads_to_onnx(pads))


def _pads(layer: Any, in_hw: tuple[int, int], span: tuple[int, int]) -> tuple[int, ...]:
    """A layer's [top bottom left right] padding, 'same' worked out for its input size."""
    if layer.PaddingMode == "same":
        return same_pads(in_hw, span, tuple(layer.Stride))
    return tuple(layer.PaddingSize)


def _maxpool(w: _Writer, s: _Site) -> str:
    layer = s.layer
    pads = _pads(layer, s.hwc[:2], tuple(layer.PoolSize))
    return w.node("MaxPool", [s.x], s.name, s.name, kernel_shape=list(layer.PoolSize),
                  strides=list(layer.Stride), pads=pads_to_onnx(pads))


def _avgpool(w: _Writer, s: _Site) -> str:
    """Padding counts in the mean (count_include_pad) unless PaddingValue is 'mean'; another
    padding value is an explicit constant Pad before an unpadded pool."""
    layer, x = s.layer, s.x
    pads = _pads(layer, s.hwc[:2], tuple(layer.PoolSize))
    value = layer.PaddingValue
    if value != "mean" and value != 0 and any(pads):
        x = _pad(w, s, x, pads, float(value))
        pads = (0, 0, 0, 0)
    return w.node("AveragePool", [x], s.name, s.name, kernel_shape=list(layer.PoolSize),
                  strides=list(layer.Stride), pads=pads_to_onnx(pads),
                  count_include_pad=0 if value == "mean" else 1)


def _pad(w: _Writer, s: _Site, x: str, pads: tuple[int, ...], value: float) -> str:
    t, b, l, r = pads
    full = [0, 0, t, l, 0, 0, b, r]
    out, name = f"{s.name}/padded", f"{s.name}/pad"
    if w.opset < 11:  # pads and value were attributes before opset 11
        return w.node("Pad", [x], out, name, mode="constant", pads=full, value=value)
    p = w.const(f"{s.name}/Pads", full, np.int64)
    v = w.const(f"{s.name}/PaddingValue", value)
    return w.node("Pad", [x, p, v], out, name, mode="constant")


def _global(op: str) -> Callable[[_Writer, _Site], str]:
    return lambda w, s: w.node(op, [s.x], s.name, s.name)


def _per_channel(s: _Site, a: Any) -> np.ndarray:
    """A 1 x 1 x C (or C x 1) parameter as C x 1 x 1 (or C): broadcasts against ONNX data."""
    v = host(a).reshape(-1)
    return v.reshape(-1, 1, 1) if s.fmt == "SSCB" else v


def _batchnorm(w: _Writer, s: _Site) -> str:
    layer = s.layer
    ins = [s.x] + [w.const(f"{s.name}/{p}", host(getattr(layer, p)).reshape(-1))
                   for p in ("Scale", "Offset", "TrainedMean", "TrainedVariance")]
    return w.node("BatchNormalization", ins, s.name, s.name, epsilon=float(layer.Epsilon))


def _instancenorm(w: _Writer, s: _Site) -> str:
    if s.fmt != "SSCB":
        raise s.refuse("ONNX's InstanceNormalization needs image (N x C x H x W) input, got "
                       f"format '{s.fmt}'")
    layer = s.layer
    ins = [s.x] + [w.const(f"{s.name}/{p}", host(getattr(layer, p)).reshape(-1))
                   for p in ("Scale", "Offset")]
    return w.node("InstanceNormalization", ins, s.name, s.name, epsilon=float(layer.Epsilon))


def _layernorm(w: _Writer, s: _Site) -> str:
    """LayerNormalization over C (and H, W) from opset 17; before, the group composition."""
    if w.opset < 17:
        return _grouped_norm(w, s, 1)
    layer = s.layer
    size = (s.sizes[0][2], *s.sizes[0][:2]) if s.fmt == "SSCB" else (s.sizes[0][0],)
    scale, offset = (np.broadcast_to(_per_channel(s, getattr(layer, p)), size)
                     for p in ("Scale", "Offset"))
    ins = [s.x, w.const(f"{s.name}/Scale", scale), w.const(f"{s.name}/Offset", offset)]
    return w.node("LayerNormalization", ins, s.name, s.name, axis=1,
                  epsilon=float(layer.Epsilon))


def _groupnorm(w: _Writer, s: _Site) -> str:
    layer = s.layer
    groups = {"all-channels": 1, "channel-wise": layer.NumChannels}.get(layer.NumGroups,
                                                                        layer.NumGroups)
    if groups == layer.NumChannels and s.fmt == "SSCB":
        return _instancenorm(w, s)
    if groups == 1:  # one group of all channels is layer normalization
        return _layernorm(w, s)
    return _grouped_norm(w, s, int(groups))


def _grouped_norm(w: _Writer, s: _Site, groups: int) -> str:
    """Group (and layer) normalization as ONNX writes it without a GroupNormalization operator:
    reshape N x C x ... to N x G x (rest), InstanceNormalization with unit scale, reshape back,
    then the per-channel Scale (Mul) and Offset (Add)."""
    layer, name = s.layer, s.name
    shape = [0, s.sizes[0][2], *s.sizes[0][:2]] if s.fmt == "SSCB" else [0, s.sizes[0][0]]
    grouped = w.node("Reshape", [s.x, w.const(f"{name}/Groups", [0, groups, -1], np.int64)],
                     f"{name}/grouped", f"{name}/group")
    unit = [w.const(f"{name}/UnitScale", np.ones(groups)),
            w.const(f"{name}/ZeroOffset", np.zeros(groups))]
    normed = w.node("InstanceNormalization", [grouped, *unit], f"{name}/normalized", name,
                    epsilon=float(layer.Epsilon))
    back = w.node("Reshape", [normed, w.const(f"{name}/Shape", shape, np.int64)],
                  f"{name}/ungrouped", f"{name}/ungroup")
    scaled = w.node("Mul", [back, w.const(f"{name}/Scale", _per_channel(s, layer.Scale))],
                    f"{name}/scaled", f"{name}/scale")
    return w.node("Add", [scaled, w.const(f"{name}/Offset", _per_channel(s, layer.Offset))],
                  name, f"{name}/offset")


def _activation(op: str) -> Callable[[_Writer, _Site], str]:
    return lambda w, s: w.node(op, [s.x], s.name, s.name)


def _leakyrelu(w: _Writer, s: _Site) -> str:
    return w.node("LeakyRelu", [s.x], s.name, s.name, alpha=float(s.layer.Scale))


def _softmax(w: _Writer, s: _Site) -> str:
    """Softmax over the channels: axis 1. Before opset 13 Softmax flattened everything after
    its axis, so image data goes channels-last around it."""
    if s.fmt == "CBT":  # T x N x C: the last axis (also before opset 13)
        return w.node("Softmax", [s.x], s.name, s.name, axis=2)
    if s.fmt != "SSCB" or w.opset >= 13:
        return w.node("Softmax", [s.x], s.name, s.name, axis=1)
    last = w.node("Transpose", [s.x], f"{s.name}/nhwc", f"{s.name}/to_nhwc", perm=[0, 2, 3, 1])
    y = w.node("Softmax", [last], f"{s.name}/softmax_nhwc", s.name, axis=3)
    return w.node("Transpose", [y], s.name, f"{s.name}/to_nchw", perm=[0, 3, 1, 2])


def _dropout(w: _Writer, s: _Site) -> str:
    """Dropout (the identity in inference) keeping the Probability: an attribute before opset
    12, an input from 12 on."""
    p = float(s.layer.Probability)
    if w.opset < 12:
        return w.node("Dropout", [s.x], s.name, s.name, ratio=p)
    return w.node("Dropout", [s.x, w.const(f"{s.name}/Probability", p)], s.name, s.name)


def _flatten(w: _Writer, s: _Site) -> str:
    """MATLAB flattens H, W, C column-major = row-major over C, W, H: swap H and W first."""
    x = s.x
    if s.fmt == "SSCB":
        x = w.node("Transpose", [x], f"{s.name}/nchw_to_ncwh", f"{s.name}/transpose",
                   perm=[0, 1, 3, 2])
    return w.node("Flatten", [x], s.name, s.name, axis=1)


def _fc(w: _Writer, s: _Site) -> str:
    """Gemm with the weights as they are for feature input; for image input ONNX's Flatten
    (row-major C, H, W) then Gemm with the weight columns permuted to match."""
    layer, x = s.layer, s.x
    weights = host(layer.Weights)
    if s.fmt == "SSCB":
        h, wd, c = s.hwc
        weights = fc_columns_to_onnx(weights, (c, h, wd))
        x = w.node("Flatten", [x], f"{s.name}/flattened", f"{s.name}/flatten", axis=1)
    elif s.fmt == "CBT":  # T x N x C: a product on the last axis, then the bias
        wt = w.const(f"{s.name}/Weights", np.ascontiguousarray(weights.T))
        y = w.node("MatMul", [x, wt], f"{s.name}/product", s.name)
        return w.node("Add", [y, w.const(f"{s.name}/Bias", host(layer.Bias).reshape(-1))],
                      s.name, f"{s.name}/bias")
    elif s.fmt != "CB":
        raise s.refuse(f"input of format '{s.fmt}' is not exported")
    ins = [x, w.const(f"{s.name}/Weights", weights),
           w.const(f"{s.name}/Bias", host(layer.Bias).reshape(-1))]
    return w.node("Gemm", ins, s.name, s.name, transB=1)


def _addition(w: _Writer, s: _Site) -> str:
    return w.node("Add" if len(s.inputs) == 2 else "Sum", s.inputs, s.name, s.name)


def _concat_axis(s: _Site) -> int:
    if isinstance(s.layer, L.DepthConcatenationLayer):
        return 1
    if s.fmt == "SSCB":
        return {1: 2, 2: 3, 3: 1}[s.layer.Dim]
    return 1


def _concat(w: _Writer, s: _Site) -> str:
    return w.node("Concat", s.inputs, s.name, s.name, axis=_concat_axis(s))

# ---- recurrent layers -----------------------------------------------------------------------

# minidl's gate blocks in ONNX's order: LSTM i, f, g, o -> i, o, f, c; GRU r, z, h -> z, r, h
_GATE_ORDER = {"LSTM": [0, 3, 1, 2], "GRU": [1, 0, 2]}


def _gates(a: np.ndarray, op: str, directions: int) -> np.ndarray:
    """(directions * G * H) x K weights (or a bias) as directions x (G * H) x K in ONNX's gate
    order."""
    order = _GATE_ORDER[op]
    g = len(order)
    blocks = a.reshape(directions, g, a.shape[0] // (directions * g), *a.shape[1:])
    out = blocks[:, order]
    return out.reshape(directions, -1, *a.shape[1:])


def _recurrent(w: _Writer, s: _Site) -> str:
    """ONNX LSTM/GRU on T x N x C data; Y (T x D x N x H) or Y_h (D x N x H) reshaped to
    minidl's T x N x (D·H) sequence or N x (D·H) last step."""
    layer, name = s.layer, s.name
    op = "GRU" if isinstance(layer, L.GRULayer) else "LSTM"
    d = 2 if isinstance(layer, L.BiLSTMLayer) else 1
    h = layer.NumHiddenUnits
    bias = host(layer.Bias).reshape(-1)
    attrs: dict[str, Any] = {"hidden_size": h}
    if d == 2:
        attrs["direction"] = "bidirectional"
    recurrent_bias = np.zeros(d * len(_GATE_ORDER[op]) * h, np.float32)
    if op == "GRU":
        mode = layer.ResetGateMode
        attrs["linear_before_reset"] = 0 if mode == "before-multiplication" else 1
        if mode == "recurrent-bias-after-multiplication":
            bias, recurrent_bias = bias[:3 * h], bias[3 * h:]
    b = np.concatenate([_gates(bias, op, d), _gates(recurrent_bias, op, d)], axis=1)
    ins = [s.x, w.const(f"{name}/InputWeights", _gates(host(layer.InputWeights), op, d)),
           w.const(f"{name}/RecurrentWeights", _gates(host(layer.RecurrentWeights), op, d)),
           w.const(f"{name}/Bias", b), ""]
    ins += _initial_states(w, s, d, h)
    while ins[-1] == "":
        ins.pop()
    last = layer.OutputMode == "last"
    outs = ["", f"{name}/Y_h"] if last else [f"{name}/Y"]
    y = w.node(op, ins, outs, name, **attrs)
    if last:
        if d == 1:
            return w.squeeze(y, 0, name, f"{name}/squeeze")
        t = w.node("Transpose", [y], f"{name}/nd", f"{name}/transpose", perm=[1, 0, 2])
        return w.node("Reshape", [t, w.const(f"{name}/Shape", [0, -1], np.int64)], name,
                      f"{name}/reshape")
    if d == 1:
        return w.squeeze(y, 1, name, f"{name}/squeeze")
    t = w.node("Transpose", [y], f"{name}/tnd", f"{name}/transpose", perm=[0, 2, 1, 3])
    return w.node("Reshape", [t, w.const(f"{name}/Shape", [0, 0, -1], np.int64)], name,
                  f"{name}/reshape")


def _initial_states(w: _Writer, s: _Site, d: int, h: int) -> list[str]:
    """initial_h (and initial_c): left out when zero (ONNX's default); otherwise they must be
    tiled over a fixed batch (BatchSize), as ONNX wants them D x N x H."""
    names = ("HiddenState", "CellState") if not isinstance(s.layer, L.GRULayer) else \
        ("HiddenState",)
    out = []
    for state in names:
        v = host(getattr(s.layer, state))
        if not np.any(v):
            out.append("")
            continue
        if v.shape[1] != 1 or not isinstance(w.batch, int):
            raise s.refuse(f"a nonzero {state} is exported only with a fixed BatchSize and one "
                           "column (H x 1)")
        tiled = np.broadcast_to(v.reshape(d, 1, h), (d, w.batch, h))
        out.append(w.const(f"{s.name}/{state}", tiled))
    return out


_WRITERS: dict[type, Callable[[_Writer, _Site], str]] = {
    L.ImageInputLayer: _input, L.FeatureInputLayer: _input, L.SequenceInputLayer: _input,
    L.LSTMLayer: _recurrent, L.BiLSTMLayer: _recurrent, L.GRULayer: _recurrent,
    L.Convolution2DLayer: _conv, L.MaxPooling2DLayer: _maxpool,
    L.AveragePooling2DLayer: _avgpool,
    L.GlobalAveragePooling2DLayer: _global("GlobalAveragePool"),
    L.GlobalMaxPooling2DLayer: _global("GlobalMaxPool"),
    L.BatchNormalizationLayer: _batchnorm, L.InstanceNormalizationLayer: _instancenorm,
    L.LayerNormalizationLayer: _layernorm, L.GroupNormalizationLayer: _groupnorm,
    L.ReLULayer: _activation("Relu"), L.SigmoidLayer: _activation("Sigmoid"),
    L.TanhLayer: _activation("Tanh"), L.LeakyReLULayer: _leakyrelu,
    L.SoftmaxLayer: _softmax, L.DropoutLayer: _dropout, L.FlattenLayer: _flatten,
    L.FullyConnectedLayer: _fc, L.AdditionLayer: _addition,
    L.ConcatenationLayer: _concat, L.DepthConcatenationLayer: _concat,
}


# ---- the network --------------------------------------------------------------------------

def _writer_for(layer: Any) -> Callable[[_Writer, _Site], str]:
    fn = _WRITERS.get(type(layer))
    if fn is None:
        why = _REFUSED.get(type(layer).__name__, "minidl has no ONNX form for this layer type")
        raise ValueError(f"exportONNXNetwork: layer '{layer.Name}' ({layer.Type}) cannot be "
                         f"exported: {why}.")
    return fn


def _activations(net: Any, layers: list) -> dict[str, tuple[tuple[int, ...], str]]:
    """Every layer's output size and format for one observation (B = 1), from a prediction on
    zeros: the exporter needs the sizes 'same' padding and flattening depend on."""
    zeros = []
    for layer in layers:
        if isinstance(layer, L.ImageInputLayer):
            zeros.append(np.zeros(tuple(layer.InputSize) + (1,), np.float32))
        elif isinstance(layer, L.FeatureInputLayer):
            zeros.append(np.zeros((1, layer.InputSize), np.float32))
        elif isinstance(layer, L.SequenceInputLayer):
            zeros.append(np.zeros((1, layer.MinLength, layer.InputSize), np.float32))
    names = [layer.Name for layer in layers]
    ys = net.predict(*zeros, Outputs=names)
    ys = ys if isinstance(ys, tuple) else (ys,)
    return {n: (tuple(y.shape), y.fmt) for n, y in zip(names, ys)}


def _sources(net: Any) -> dict[str, dict[str, str]]:
    """For each layer, which layer feeds each of its inputs ("in", "in1", ...)."""
    feeds: dict[str, dict[str, str]] = {}
    for src, dst in zip(net.Connections.Source, net.Connections.Destination):
        layer, _, port = str(dst).partition("/")
        feeds.setdefault(layer, {})[port or "in"] = str(src).partition("/")[0]
    return feeds


def _value_info(onnx: Any, name: str, size: tuple[int, ...], fmt: str, batch: Any) -> Any:
    if fmt == "SSCB":
        dims = [batch, size[2], size[0], size[1]]
    elif fmt == "CB":
        dims = [batch, size[0]]
    elif fmt == "CBT":
        dims = ["T", batch, size[0]]
    else:
        raise ValueError(f"exportONNXNetwork: the output of layer '{name}' has format "
                         f"'{fmt}'; only images ('SSCB'), features ('CB') and sequences "
                         "('CBT') are exported.")
    return onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, dims)


def _check_net(net: Any) -> None:
    if not isinstance(net, dlnetwork):
        raise TypeError(f"exportONNXNetwork: net must be a dlnetwork, got {type(net).__name__}")
    if not net.Initialized:
        raise ValueError("exportONNXNetwork: net must be initialized (dlnetwork(layers) or "
                         "initialize(net)) so its weights exist.")


def _build_graph(net: Any, w: _Writer, name: str, batch: Any) -> Any:
    onnx = w.onnx
    layers = list(net.Layers)
    for layer in layers:
        _writer_for(layer)
    if any(not isinstance(x, str) or "/" in x for x in net.InputNames):
        raise ValueError("exportONNXNetwork: every network input must be an input layer "
                         f"(imageInputLayer, featureInputLayer); inputs: {net.InputNames}.")
    acts, feeds = _activations(net, layers), _sources(net)
    tensors: dict[str, str] = {}
    inputs, outputs = [], []
    for layer in _order(layers, feeds):
        if isinstance(layer, (L.ImageInputLayer, L.FeatureInputLayer, L.SequenceInputLayer)):
            size, fmt = acts[layer.Name]
            inputs.append(_value_info(onnx, layer.Name, size, fmt, batch))
            site = _Site(layer, [layer.Name], [size], [fmt])
        else:
            ports = getattr(layer, "InputNames", ("in",))
            srcs = [feeds[layer.Name][p] for p in ports]
            site = _Site(layer, [tensors[s] for s in srcs], [acts[s][0] for s in srcs],
                         [acts[s][1] for s in srcs])
        if "T" in "".join(site.fmts) and type(layer).__name__ not in _SEQUENCE_OK:
            raise site.refuse("it is not exported for sequence ('CBT') data")
        tensors[layer.Name] = _writer_for(layer)(w, site)
    for out in net.OutputNames:
        size, fmt = acts[out]
        if tensors[out] != out:  # an output must be a node's result under the layer's name
            tensors[out] = w.node("Identity", [tensors[out]], out, f"{out}/output")
        outputs.append(_value_info(onnx, out, size, fmt, batch))
    return onnx.helper.make_graph(w.nodes, name, inputs, outputs, w.inits)


def _order(layers: list, feeds: dict[str, dict[str, str]]) -> list:
    """The layers in an order where each comes after the layers that feed it."""
    done: set[str] = set()
    out: list = []
    pending = list(layers)
    while pending:
        ready = [lay for lay in pending if set(feeds.get(lay.Name, {}).values()) <= done]
        if not ready:
            raise ValueError("exportONNXNetwork: the network's connections have a cycle or an "
                             f"unconnected input (layers {[lay.Name for lay in pending]}).")
        for lay in ready:
            done.add(lay.Name)
            out.append(lay)
        pending = [lay for lay in pending if lay.Name not in done]
    return out


def _write_atomically(data: bytes, filename: str) -> None:
    """Write the file next to its final place, then rename: a reader never sees half a file."""
    folder = os.path.dirname(os.path.abspath(filename))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".minidl-onnx-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, filename)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def exportONNXNetwork(net: Any, filename: Any, *args: Any, **kwargs: Any) -> None:
    """Write ``net`` to ``filename`` as ONNX (the public wrapper in ``networks.onnx`` says how)."""
    opts = parse_name_value(args, kwargs, {"OpsetVersion": DEFAULT_OPSET,
                                           "NetworkName": "Network", "BatchSize": None},
                            "exportONNXNetwork")
    onnx = require_onnx()
    opset = check_opset(opts["OpsetVersion"])
    if not isinstance(filename, (str, os.PathLike)) or not str(filename):
        raise TypeError(f"exportONNXNetwork: filename must be a file name (str), got "
                        f"{type(filename).__name__}")
    name = opts["NetworkName"]
    if not isinstance(name, str) or not name:
        raise ValueError(f"exportONNXNetwork: NetworkName must be a nonempty string, got {name!r}")
    batch = _batch(opts["BatchSize"])
    _check_net(net)
    graph = _build_graph(net, _Writer(onnx, opset, batch), name, batch)
    opsets = [onnx.helper.make_opsetid("", opset)]
    # IR 4 and later let initializers stay out of the graph inputs (so N is the only input)
    ir = max(4, onnx.helper.find_min_ir_version_for(opsets))
    model = onnx.helper.make_model(graph, producer_name="minidl", opset_imports=opsets,
                                   ir_version=ir)
    onnx.checker.check_model(model)
    _write_atomically(model.SerializeToString(), os.fspath(filename))


def _batch(value: Any) -> Any:
    if value is None:
        return "N"
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= 1:
        return int(value)
    raise ValueError(f"exportONNXNetwork: BatchSize must be a positive integer or None (a free "
                     f"batch dimension), got {value!r}.")
