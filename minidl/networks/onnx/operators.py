"""The ONNX operators ``importNetworkFromONNX`` reads: one converter per operator type.

Each converter reads a node through the translation state (``importer._State``: its constants,
the network tensors made so far, the layers to make) and either adds a layer, folds the node
into the layer before it, or relabels a tensor (Identity, Transpose, the patterns the module
docstring of ``importer`` lists). ``importer.make_layer`` makes the layers at the end, through
minidl's public layer constructors.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .common import conv_from_onnx, fc_columns_from_onnx, pads_from_onnx, same_pads
from .shapes import concrete_shape

__all__ = ["CONVERTERS"]

IDENTITY4 = (0, 1, 2, 3)


class Unsupported(ValueError):
    pass


@dataclass
class Ref:
    """What a non-constant ONNX tensor is in the network being built.

    ``layer``: the minidl layer whose output it is; ``shape``: one observation in canonical
    order, (C, H, W) or (C,); ``perm``: the ONNX data axes in terms of canonical N, C, H, W
    (transposes only relabel); ``kind``: "plain", "rowflat" (ONNX flattened C, H, W row-major;
    only Gemm/MatMul may read it), "grouped"/"groupnormed" (inside a group-norm pattern) or
    "padded" (a constant Pad for the next Conv/AveragePool), "rnn_y"/"rnn_h" (an LSTM or GRU
    output before its Squeeze, or Transpose + Reshape); ``extra``: the pattern's data.
    """

    layer: str
    shape: tuple[int, ...]
    perm: tuple[int, ...] = IDENTITY4
    kind: str = "plain"
    extra: Any = None
    seq: bool = False  # T x N x C sequence data (shape (C,))

    @property
    def image(self) -> bool:
        return len(self.shape) == 3


@dataclass
class Spec:
    """A minidl layer to make: its constructor, arguments, and the layers feeding it."""

    kind: str
    name: str
    inputs: list[str]
    args: tuple = ()
    kw: dict = field(default_factory=dict)
    out: str = ""  # the ONNX tensor that is this layer's output (for folding)


# ---- shared pieces -------------------------------------------------------------------------

def _pair(v: Any, default: int) -> tuple[int, int]:
    v = list(v) if v is not None else [default, default]
    return int(v[0]), int(v[1])


def _broadcast(st: Any, node: Any, c: np.ndarray, ref: Ref) -> np.ndarray:
    """Constant ``c`` broadcast to one observation of ``ref`` ((C, H, W) or (C,)), or an error
    when it varies over the batch or does not broadcast."""
    lead = 2 if ref.seq else 1  # T, N or N
    rank = len(ref.shape) + lead
    if c.ndim > rank:
        raise st.fail(node, f"the constant of size {list(c.shape)} has more dimensions than "
                            "the data")
    try:
        full = np.broadcast_to(c.reshape((1,) * (rank - c.ndim) + c.shape),
                               (1,) * lead + ref.shape)
    except ValueError:
        raise st.fail(node, f"the constant of size {list(c.shape)} does not broadcast against "
                            f"one observation of size {list(ref.shape)}") from None
    return np.asarray(full.reshape(ref.shape), dtype=np.float64)


def _stat_kind(c: np.ndarray, full: np.ndarray) -> str:
    """How a constant varies: 'all' (one value), 'channel' or 'element'."""
    if c.size == 1:
        return "all"
    per_channel = full.reshape(full.shape[0], -1)
    return "channel" if np.all(per_channel == per_channel[:, :1]) else "element"


def _channel_vector(st: Any, node: Any, c: np.ndarray, ref: Ref) -> np.ndarray:
    full = _broadcast(st, node, c, ref)
    if _stat_kind(c, full) == "element":
        raise st.fail(node, "the constant varies within a channel; only per-channel constants "
                            "fold into the layer before it")
    return full.reshape(full.shape[0], -1)[:, 0]


def _out_hw(st: Any, node: Any, hw: tuple[int, int], span: tuple[int, int],
            stride: tuple[int, int], pads: tuple[int, ...], ceil: bool = False) -> tuple[int, int]:
    out = []
    for n, e, s, p in zip(hw, span, stride, (pads[0] + pads[1], pads[2] + pads[3])):
        size = n + p - e
        if size < 0:
            raise st.fail(node, f"the window {list(span)} is larger than its padded input")
        out.append(-(-size // s) + 1 if ceil else size // s + 1)
    return tuple(out)


def _window_pads(st: Any, node: Any, a: dict, ref: Ref, span: tuple[int, int],
                 stride: tuple[int, int]) -> tuple[int, ...]:
    """[top bottom left right] from auto_pad or pads (and a Pad node before)."""
    mode = a["auto_pad"]
    if mode in ("SAME_UPPER", "SAME_LOWER"):
        return same_pads(ref.shape[1:], span, stride, upper=mode == "SAME_UPPER")
    if mode == "VALID":
        return (0, 0, 0, 0)
    if mode != "NOTSET":
        raise st.fail(node, f"auto_pad '{mode}' is not supported")
    return pads_from_onnx(a["pads"]) if a["pads"] is not None else (0, 0, 0, 0)


def _no_padded(st: Any, node: Any, ref: Ref, value_ok: Callable[[float], bool]) -> tuple:
    """(the tensor before a Pad node, its pads, value), or (ref, None, None) with no Pad."""
    if ref.kind != "padded":
        return ref, None, None
    pads, value, source = ref.extra
    if not value_ok(value):
        raise st.fail(node, f"a Pad with value {value} before it cannot be expressed")
    return source, pads, value


# ---- constants and relabelling -------------------------------------------------------------

def _constant(st: Any, node: Any) -> None:
    a = {x.name: st.onnx.helper.get_attribute_value(x) for x in node.attribute}
    if "value" in a:
        value = st.onnx.numpy_helper.to_array(a["value"])
    elif "value_float" in a or "value_floats" in a:
        value = np.asarray(a.get("value_float", a.get("value_floats")), np.float32)
    elif "value_int" in a or "value_ints" in a:
        value = np.asarray(a.get("value_int", a.get("value_ints")), np.int64)
    else:
        raise st.fail(node, f"constant attributes {sorted(a)} are not supported")
    st.consts[node.output[0]] = value


def _identity(st: Any, node: Any) -> None:
    name = node.input[0]
    if st.is_const(name):
        st.consts[node.output[0]] = st.consts[name]
    else:
        st.alias(node, st.ref(node, 0, ("plain", "rowflat"), seq_ok=True))


def _transpose(st: Any, node: Any) -> None:
    a = st.attrs(node, {"perm": None})
    r = st.refs.get(node.input[0])
    if r is not None and r.kind in ("rnn_y", "rnn_h") and r.extra == 2 and a["perm"] is not None \
            and list(a["perm"]) == ([0, 2, 1, 3] if r.kind == "rnn_y" else [1, 0, 2]):
        st.alias(node, Ref(r.layer, r.shape, kind=r.kind + "_t", seq=r.seq))
        return
    if r is None or r.kind != "plain" or not r.image or a["perm"] is None:
        raise st.fail(node, "only a Transpose of N x C x H x W data with an explicit perm that "
                            "undoes a layout is supported")
    perm = tuple(r.perm[i] for i in a["perm"])
    spec = st.foldable(node, r)
    if spec is not None and spec.kind == "input":  # an NHWC input: normalization may follow
        spec.out = node.output[0]
    st.alias(node, Ref(r.layer, r.shape, perm))


def _dropout(st: Any, node: Any) -> None:
    a = st.attrs(node, {"ratio": 0.5, "seed": None, "is_test": None})
    ratio = a["ratio"]
    if len(node.input) > 1 and node.input[1]:
        ratio = float(np.asarray(st.const(node, 1)).reshape(()))
    if len(node.input) > 2 and node.input[2] and bool(np.asarray(st.const(node, 2)).any()):
        raise st.fail(node, "training_mode must be false for inference")
    st.only_first_output(node)
    r = st.ref(node, seq_ok=True)
    st.add(node, "dropoutLayer", [r], r.shape, float(ratio))


def _flatten(st: Any, node: Any) -> None:
    """Row-major over C, H, W: read directly by Gemm/MatMul (weights permuted), else a
    flattenLayer where that order is MATLAB's column-major H, W, C order too."""
    if st.attrs(node, {"axis": 1})["axis"] != 1:
        raise st.fail(node, "only axis 1 (keep the batch dimension) is supported")
    r = st.refs.get(node.input[0])
    if r is not None and r.kind == "plain" and r.image and r.perm == (0, 1, 3, 2):
        st.add(node, "flattenLayer", [r], (int(np.prod(r.shape)),))  # MATLAB's order
        return
    if r is not None and r.kind == "plain" and r.image and _read_by_fc(st, node):
        # any layout (N x H x W x C from a channels-last framework too): the weights follow
        st.alias(node, Ref(r.layer, r.shape, r.perm, kind="rowflat"))
        return
    _flatten_rowmajor(st, node, st.ref(node))


def _read_by_fc(st: Any, node: Any) -> bool:
    readers = st.readers.get(node.output[0], [])
    return len(readers) == 1 and readers[0] is not None \
        and readers[0].op_type in ("Gemm", "MatMul")


def _flatten_rowmajor(st: Any, node: Any, r: Ref) -> None:
    n = int(np.prod(r.shape))
    if r.image and _read_by_fc(st, node):
        st.alias(node, Ref(r.layer, r.shape, kind="rowflat"))
        return
    c, h, w = r.shape if r.image else (n, 1, 1)
    if h > 1 and w > 1:
        raise st.fail(node, f"it flattens a {c} x {h} x {w} map row-major (C, H, W) for "
                            "something other than Gemm/MatMul; minidl's flattenLayer orders "
                            "elements H, W, C (MATLAB's column-major order)")
    st.add(node, "flattenLayer", [r], (n,))


def _reshape(st: Any, node: Any) -> None:
    st.attrs(node, {"allowzero": 0})
    r = st.refs.get(node.input[0])
    if r is None:
        raise st.fail(node, "its data input is not a network tensor")
    shape = concrete_shape(st, node, st.const(node, 1), r.seq)
    if r.kind == "groupnormed":
        return _ungroup(st, node, r, shape)
    if r.kind in ("rnn_y_t", "rnn_h_t"):
        return _rnn_merge(st, node, r, shape)
    r = st.ref(node)
    n = int(np.prod(r.shape))
    batch_ok = shape and shape[0] in (0, st.batch) or (shape and shape[0] == -1 and
                                                        len(shape) == 2 and shape[1] == n)
    if batch_ok and len(shape) == 2 and shape[1] in (-1, n):
        return _flatten_rowmajor(st, node, r)
    c = r.shape[0]
    if batch_ok and len(shape) == 3 and 0 < shape[1] and c % shape[1] == 0 \
            and shape[2] in (-1, n // shape[1]):
        st.alias(node, Ref(r.layer, r.shape, kind="grouped", extra=shape[1]))
        return
    raise st.fail(node, f"a reshape to {shape} is neither a flatten (N x -1) nor a split of the "
                        "channels into groups before InstanceNormalization")


def _ungroup(st: Any, node: Any, r: Ref, shape: list[int]) -> None:
    groups, eps, scale, offset, source, name_node = r.extra
    if shape[1:] != list(source.shape) or shape[0] not in (0, st.batch, -1):
        raise st.fail(node, f"after grouped normalization only the reshape back to the "
                            f"original size is supported, got {shape}")
    c = source.shape[0]
    scale, offset = np.repeat(scale, c // groups), np.repeat(offset, c // groups)
    _norm_layer(st, name_node, source, groups, eps, scale, offset, node.output[0])


def _norm_layer(st: Any, node: Any, r: Ref, groups: int, eps: float, scale: np.ndarray,
                offset: np.ndarray, out: str) -> None:
    """Group normalization with ``groups`` groups: a layer normalization for one group."""
    kw = {"Epsilon": float(eps), "Scale": scale.astype(np.float32),
          "Offset": offset.astype(np.float32)}
    if groups == 1:
        spec = st.add(node, "layerNormalizationLayer", [r], r.shape, **kw)
    else:
        spec = st.add(node, "groupNormalizationLayer", [r], r.shape, int(groups), **kw)
    st.refs[out] = st.refs.pop(node.output[0])
    spec.out = out


# ---- layers --------------------------------------------------------------------------------

def _conv(st: Any, node: Any) -> None:
    a = st.attrs(node, {"kernel_shape": None, "strides": None, "pads": None, "dilations": None,
                        "auto_pad": "NOTSET", "group": 1})
    r, pre, _ = _no_padded(st, node, st.ref(node, 0, ("plain", "padded")), lambda v: v == 0)
    if r.kind != "plain" or not r.image or r.perm != (0, 1, 2, 3):
        raise st.fail(node, "it needs N x C x H x W input")
    w = float_weights(st, node, st.const(node, 1))
    if w.ndim != 4:
        raise st.fail(node, f"only 2-D convolution is supported (weights of size {list(w.shape)})")
    if a["group"] != 1:
        raise st.fail(node, f"grouped convolution (group={a['group']}) has no minidl layer")
    if w.shape[1] != r.shape[0]:
        raise st.fail(node, f"weights for {w.shape[1]} channels, input has {r.shape[0]}")
    b = st.const(node, 2, required=False)
    f, k = w.shape[0], (w.shape[2], w.shape[3])
    stride, dil = _pair(a["strides"], 1), _pair(a["dilations"], 1)
    span = tuple((kk - 1) * d + 1 for kk, d in zip(k, dil))
    pads = _window_pads(st, node, a, r, span, stride)
    if pre is not None:
        if any(pads):
            raise st.fail(node, "both a Pad before it and its own pads are not supported")
        pads = pre
    hw = _out_hw(st, node, r.shape[1:], span, stride, pads)
    bias = np.zeros(f, np.float32) if b is None else float_weights(st, node, b).reshape(-1)
    st.add(node, "convolution2dLayer", [r], (f, *hw), list(k), int(f), Stride=list(stride),
           DilationFactor=list(dil), Padding=list(pads), Weights=conv_from_onnx(w), Bias=bias)


def _pool(st: Any, node: Any) -> None:
    avg = node.op_type == "AveragePool"
    allowed = {"kernel_shape": None, "strides": None, "pads": None, "auto_pad": "NOTSET",
               "ceil_mode": 0, "dilations": None}
    allowed.update({"count_include_pad": 0} if avg else {"storage_order": 0})
    a = st.attrs(node, allowed)
    st.only_first_output(node)
    r, pre, value = _no_padded(st, node, st.ref(node, 0, ("plain", "padded")),
                               lambda v: avg)
    if r.kind != "plain" or not r.image or r.perm != (0, 1, 2, 3):
        raise st.fail(node, "it needs N x C x H x W input")
    if a["dilations"] is not None and any(d != 1 for d in a["dilations"]):
        raise st.fail(node, "dilated pooling has no minidl layer")
    k, stride = _pair(a["kernel_shape"], 1), _pair(a["strides"], 1)
    pads = _window_pads(st, node, a, r, k, stride)
    kw: dict[str, Any] = {}
    if avg:
        kw["PaddingValue"] = 0 if a["count_include_pad"] else "mean"
    if pre is not None:
        if any(pads):
            raise st.fail(node, "both a Pad before it and its own pads are not supported")
        pads, kw["PaddingValue"] = pre, float(value)
    hw = _out_hw(st, node, r.shape[1:], k, stride, pads)
    if a["ceil_mode"] and _out_hw(st, node, r.shape[1:], k, stride, pads, True) != hw:
        raise st.fail(node, "ceil_mode 1 gives a larger output here; minidl rounds down")
    kind = "averagePooling2dLayer" if avg else "maxPooling2dLayer"
    st.add(node, kind, [r], (r.shape[0], *hw), list(k), Stride=list(stride),
           Padding=list(pads), **kw)


def _pad(st: Any, node: Any) -> None:
    a = st.attrs(node, {"mode": "constant", "pads": None, "value": 0.0})
    if a["mode"] != "constant":
        raise st.fail(node, f"mode '{a['mode']}' is not supported (only constant)")
    pads, value = a["pads"], a["value"]
    if st.opset >= 11:
        pads = st.const(node, 1)
        c = st.const(node, 2, required=False)
        value = 0.0 if c is None else float(np.asarray(c).reshape(()))
        if len(node.input) > 3 and node.input[3]:
            raise st.fail(node, "the axes input is not supported")
    p = [int(v) for v in np.asarray(pads).reshape(-1)]
    r = st.ref(node)
    if len(p) != 8 or p[0] or p[1] or p[4] or p[5] or min(p) < 0:
        raise st.fail(node, f"only nonnegative padding of H and W is supported, got {p}")
    pre = (p[2], p[6], p[3], p[7])
    st.alias(node, Ref(r.layer, r.shape, kind="padded", extra=(pre, value, r)))


def _global_pool(kind: str) -> Callable[[Any, Any], None]:
    def convert(st: Any, node: Any) -> None:
        st.attrs(node, {})
        r = st.ref(node)
        if not r.image:
            raise st.fail(node, "it needs N x C x H x W input")
        st.add(node, kind, [r], (r.shape[0], 1, 1))
    return convert


def _activation(kind: str) -> Callable[[Any, Any], None]:
    def convert(st: Any, node: Any) -> None:
        st.attrs(node, {})
        r = st.ref(node, seq_ok=True)
        st.add(node, kind, [r], r.shape)
    return convert


def _leakyrelu(st: Any, node: Any) -> None:
    alpha = st.attrs(node, {"alpha": 0.01})["alpha"]
    r = st.ref(node, seq_ok=True)
    st.add(node, "leakyReluLayer", [r], r.shape, float(alpha))


def _softmax(st: Any, node: Any) -> None:
    """Softmax over the channels only: axis 1 of N x C (x H x W), or the channel axis of
    transposed data. Before opset 13 the axis meant 'flatten from here on'."""
    axis = st.attrs(node, {"axis": 1 if st.opset < 13 else -1})["axis"]
    r = st.refs.get(node.input[0])
    if r is None or r.kind != "plain":
        raise st.fail(node, "its input is not a network tensor")
    if r.seq:  # T x N x C: the last axis, in every opset
        if axis not in (2, -1):
            raise st.fail(node, f"softmax over axis {axis} of T x N x C data is not over the "
                                "channels")
        st.add(node, "softmaxLayer", [r], r.shape)
        return
    rank = len(r.shape) + 1
    axis = axis + rank if axis < 0 else axis
    perm = r.perm if r.image else (0, 1)
    channel = perm[axis] == 1 if axis < rank else False
    flattens = st.opset < 13 and axis < rank - 1 and any(
        r.shape[perm[i] - 1] > 1 for i in range(axis + 1, rank))
    if not channel or flattens:
        raise st.fail(node, f"softmax over axis {axis} of data in layout {list(perm)} is not "
                            "a softmax over the channels")
    spec = st.add(node, "softmaxLayer", [r], r.shape)
    st.refs[node.output[0]] = Ref(spec.name, r.shape, r.perm)


def _fc(st: Any, node: Any, weights: np.ndarray, bias: np.ndarray) -> None:
    r = st.ref(node, 0, ("plain", "rowflat"), seq_ok=node.op_type == "MatMul")
    if r.kind == "plain" and r.image:
        raise st.fail(node, "it needs N x C input (a Flatten first)")
    n = int(np.prod(r.shape))
    if weights.shape[1] != n:
        raise st.fail(node, f"weights for {weights.shape[1]} inputs, the input has {n}")
    if r.kind == "rowflat":
        weights = fc_columns_from_onnx(weights, r.shape, r.perm)
    o = weights.shape[0]
    st.add(node, "fullyConnectedLayer", [r], (o,), int(o), Weights=weights,
           Bias=np.broadcast_to(bias, (o,)).astype(np.float32).copy())


def _gemm(st: Any, node: Any) -> None:
    a = st.attrs(node, {"alpha": 1.0, "beta": 1.0, "transA": 0, "transB": 0,
                        "broadcast": 1})
    if a["transA"]:
        raise st.fail(node, "transA=1 (data transposed) is not supported")
    b = float_weights(st, node, st.const(node, 1))
    w = (b if a["transB"] else b.T) * np.float32(a["alpha"])
    c = st.const(node, 2, required=False)
    bias = np.zeros(w.shape[0], np.float32) if c is None else \
        float_weights(st, node, c).reshape(-1) * np.float32(a["beta"])
    _fc(st, node, w.astype(np.float32), bias)


def _matmul(st: Any, node: Any) -> None:
    st.attrs(node, {})
    b = float_weights(st, node, st.const(node, 1))
    if b.ndim != 2:
        raise st.fail(node, "only a product with a 2-D constant matrix is supported")
    _fc(st, node, np.ascontiguousarray(b.T), np.zeros(b.shape[1], np.float32))


def _batchnorm(st: Any, node: Any) -> None:
    a = st.attrs(node, {"epsilon": 1e-5, "momentum": 0.9, "spatial": 1, "training_mode": 0,
                        "is_test": 1, "consumed_inputs": None})
    if a["training_mode"] or not a["spatial"]:
        raise st.fail(node, "only inference with per-channel statistics is supported")
    st.only_first_output(node)
    r = st.ref(node)
    p = [float_weights(st, node, st.const(node, i)).reshape(-1) for i in range(1, 5)]
    st.add(node, "batchNormalizationLayer", [r], r.shape, Epsilon=float(a["epsilon"]),
           Scale=p[0], Offset=p[1], TrainedMean=p[2], TrainedVariance=p[3])


def _instancenorm(st: Any, node: Any) -> None:
    eps = st.attrs(node, {"epsilon": 1e-5})["epsilon"]
    scale, offset = (float_weights(st, node, st.const(node, i)).reshape(-1) for i in (1, 2))
    r = st.ref(node, 0, ("plain", "grouped"))
    if r.kind == "grouped":
        st.alias(node, Ref(r.layer, r.shape, kind="groupnormed",
                            extra=(r.extra, eps, scale, offset, Ref(r.layer, r.shape), node)))
        return
    if not r.image:
        raise st.fail(node, "it needs N x C x H x W input")
    st.add(node, "instanceNormalizationLayer", [r], r.shape, Epsilon=float(eps), Scale=scale,
           Offset=offset)


def _layernorm(st: Any, node: Any) -> None:
    a = st.attrs(node, {"axis": -1, "epsilon": 1e-5, "stash_type": 1})
    st.only_first_output(node)
    r = st.ref(node)
    rank = len(r.shape) + 1
    if (a["axis"] + rank if a["axis"] < 0 else a["axis"]) != 1:
        raise st.fail(node, f"axis {a['axis']} normalizes part of an observation; minidl's "
                            "layer normalization uses all of it (axis 1)")
    scale = _channel_vector(st, node, float_weights(st, node, st.const(node, 1)), r)
    b = st.const(node, 2, required=False)
    offset = np.zeros_like(scale) if b is None else \
        _channel_vector(st, node, float_weights(st, node, b), r)
    _norm_layer(st, node, r, 1, a["epsilon"], scale, offset, node.output[0])


def _groupnorm(st: Any, node: Any) -> None:
    a = st.attrs(node, {"num_groups": None, "epsilon": 1e-5, "stash_type": 1})
    r = st.ref(node)
    g, c = int(a["num_groups"]), r.shape[0]
    if g < 1 or c % g:
        raise st.fail(node, f"num_groups {g} must divide the {c} channels")
    scale, offset = (float_weights(st, node, st.const(node, i)).reshape(-1) for i in (1, 2))
    if st.opset < 21:  # opsets 18 to 20 gave one scale and offset per group
        scale, offset = np.repeat(scale, c // g), np.repeat(offset, c // g)
    _norm_layer(st, node, r, g, a["epsilon"], scale, offset, node.output[0])


# ---- arithmetic ----------------------------------------------------------------------------

def _arith(st: Any, node: Any) -> None:
    st.attrs(node, {"broadcast": 0, "axis": None})
    consts = [st.is_const(n) for n in node.input]
    if all(consts):
        raise st.fail(node, "arithmetic on constants only is not supported")
    if not any(consts):
        if node.op_type != "Add":
            raise st.fail(node, f"{node.op_type} of two network tensors has no minidl layer")
        return _addition(st, node)
    if consts[0] and node.op_type in ("Sub", "Div"):
        raise st.fail(node, "the constant must be the second operand")
    x = 1 if consts[0] else 0  # Add and Mul commute: PyTorch writes Add(bias, x)
    r, c = st.ref(node, x, seq_ok=True), np.asarray(st.const(node, 1 - x), np.float64)
    spec = st.foldable(node, r, x)
    if spec is None:
        raise st.fail(node, f"{node.op_type} by a constant folds only into the layer right "
                            "before it (input normalization, convolution, fully connected or "
                            "normalization) when nothing else reads that layer's output")
    if spec.kind == "input":
        full = _broadcast(st, node, c, r)
        spec.kw["ops"].append((node.op_type, full, _stat_kind(c, full), node.input[1 - x]))
    else:
        _fold(st, node, spec, _channel_vector(st, node, c, r))
    spec.out = node.output[0]
    st.alias(node, r)


_FOLD_TARGETS = {"convolution2dLayer": ("Weights", "Bias"),
                 "fullyConnectedLayer": ("Weights", "Bias")}


def _fold(st: Any, node: Any, spec: Spec, v: np.ndarray) -> None:
    """y = op(layer(x), v) per channel, as new parameters of the layer."""
    op = node.op_type
    if op == "Div" and np.any(v == 0):
        raise st.fail(node, "division by zero")
    mul = v if op == "Mul" else 1 / v if op == "Div" else None
    add = v if op == "Add" else -v if op == "Sub" else None
    scale, shift = _FOLD_TARGETS.get(spec.kind, ("Scale", "Offset"))
    if spec.kind not in _FOLD_TARGETS and "Normalization" not in spec.kind:
        raise st.fail(node, f"{op} by a constant after a {spec.kind} has no minidl layer")
    kw = spec.kw
    if mul is not None:
        w = np.asarray(kw[scale], np.float64)
        shape = (1, 1, 1, -1) if spec.kind == "convolution2dLayer" else (-1,) + (1,) * (w.ndim - 1)
        kw[scale] = (w * mul.reshape(shape)).astype(np.float32)
        kw[shift] = (kw[shift] * mul).astype(np.float32)
    else:
        kw[shift] = (kw[shift] + add).astype(np.float32)


def _addition(st: Any, node: Any) -> None:
    if any(st.is_const(n) for n in node.input):
        raise st.fail(node, "a constant among the summed inputs is not supported")
    refs = [st.ref(node, i, seq_ok=True) for i in range(len(node.input))]
    if len({(r.shape, r.seq) for r in refs}) > 1:
        raise st.fail(node, "its inputs differ in size (minidl's additionLayer does not "
                            "broadcast)")
    st.add(node, "additionLayer", refs, refs[0].shape, len(refs))


def _sum(st: Any, node: Any) -> None:
    st.attrs(node, {})
    if len(node.input) == 1:
        return st.alias(node, st.ref(node, seq_ok=True))
    _addition(st, node)


def _concat(st: Any, node: Any) -> None:
    axis = st.attrs(node, {"axis": None})["axis"]
    if all(st.is_const(n) for n in node.input):  # sizes being computed
        st.consts[node.output[0]] = np.concatenate([st.consts[n] for n in node.input], axis)
        return
    refs = [st.ref(node, i) for i in range(len(node.input))]
    rank = len(refs[0].shape) + 1
    axis = axis + rank if axis is not None and axis < 0 else axis
    if axis not in range(1, rank):
        raise st.fail(node, f"concatenation along axis {axis} (the batch) is not supported")
    shape = list(refs[0].shape)
    shape[axis - 1] = sum(r.shape[axis - 1] for r in refs)
    if len(refs) == 1:
        return st.alias(node, refs[0])
    if rank == 4 and axis == 1:
        st.add(node, "depthConcatenationLayer", refs, tuple(shape), len(refs))
    else:
        dim = {2: 1, 3: 2}[axis] if rank == 4 else 1
        st.add(node, "concatenationLayer", refs, tuple(shape), dim, len(refs))


def _rnn_merge(st: Any, node: Any, r: Ref, shape: list[int]) -> None:
    """Bidirectional outputs after Transpose: T x N x 2 x H to T x N x 2H (or N x 2 x H)."""
    n = r.shape[0]
    seq = r.kind == "rnn_y_t"
    ok = shape[-1] in (-1, n) and len(shape) == (3 if seq else 2) and all(
        v in (0, -1) or v > 0 for v in shape[:-1])
    if not ok:
        raise st.fail(node, f"a reshape to {shape} does not join the two directions")
    st.alias(node, Ref(r.layer, r.shape, seq=seq))


CONVERTERS: dict[str, Callable[[Any, Any], None]] = {
    "Constant": _constant, "Identity": _identity, "Transpose": _transpose,
    "Dropout": _dropout, "Flatten": _flatten, "Reshape": _reshape,
    "Conv": _conv, "MaxPool": _pool, "AveragePool": _pool, "Pad": _pad,
    "GlobalAveragePool": _global_pool("globalAveragePooling2dLayer"),
    "GlobalMaxPool": _global_pool("globalMaxPooling2dLayer"),
    "Relu": _activation("reluLayer"), "Sigmoid": _activation("sigmoidLayer"),
    "Tanh": _activation("tanhLayer"), "LeakyRelu": _leakyrelu, "Softmax": _softmax,
    "Gemm": _gemm, "MatMul": _matmul, "BatchNormalization": _batchnorm,
    "InstanceNormalization": _instancenorm, "LayerNormalization": _layernorm,
    "GroupNormalization": _groupnorm, "Add": _arith, "Sub": _arith, "Mul": _arith,
    "Div": _arith, "Sum": _sum, "Concat": _concat,
}


def float_weights(st: Any, node: Any, a: np.ndarray) -> np.ndarray:
    """A parameter as float32; an integer (or other) tensor where weights belong is an error."""
    if not np.issubdtype(a.dtype, np.floating):
        raise st.fail(node, f"a parameter has type {a.dtype.name}; floating point was expected")
    return a.astype(np.float32)
