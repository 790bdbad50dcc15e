"""``importNetworkFromONNX``: an ONNX model as an initialized minidl dlnetwork (MATLAB's function).

The file is data: it is parsed with the ``onnx`` package's protobuf reader and checked; nothing
in it is executed, and external-data files are read only from the model's folder. The nodes are
translated one by one into minidl layers made by the public constructors, then joined with
``addLayers``/``connectLayers``. A few node patterns are read as one layer: Sub/Div/Mul/Add by
constants after the input (the input layer's normalization) or after a convolution, fully
connected or normalization layer (folded into its parameters); Flatten read by Gemm/MatMul (the
fully connected layer takes the image and its weight columns are permuted); Reshape to groups ->
InstanceNormalization -> Reshape back (group or layer normalization); Pad before Conv or
AveragePool; Transposes that only undo a layout; LSTM/GRU followed by Squeeze (or by Transpose +
Reshape when bidirectional) as one recurrent layer (``networks.onnx.recurrent``); size arithmetic
on constants and Shape (``networks.onnx.shapes``). Any other
operator or attribute minidl cannot express is a ValueError naming the operator and the node.
"""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np

from ... import layers
from ...layers import featureInputLayer, imageInputLayer, sequenceInputLayer
from ..network import addLayers, connectLayers, dlnetwork, layerGraph
from .common import require_onnx
from .operators import CONVERTERS as _LAYER_CONVERTERS
from .operators import IDENTITY4, Ref, Spec, Unsupported
from .recurrent import RNN_CONVERTERS
from .shapes import SHAPE_CONVERTERS

CONVERTERS = {**_LAYER_CONVERTERS, **RNN_CONVERTERS, **SHAPE_CONVERTERS}

__all__ = ["importNetworkFromONNX"]

MAX_ELEMENTS = 1 << 28  # per tensor (1 GiB of float32): larger is taken as a corrupt file
MAX_DIM = 1 << 20


class _State:
    """The translation in progress."""

    def __init__(self, onnx: Any, model: Any, filename: str) -> None:
        self.onnx, self.filename = onnx, filename
        self.opset = _opset(model)
        self.consts: dict[str, np.ndarray] = {}
        self.refs: dict[str, Ref] = {}
        self.specs: dict[str, Spec] = {}
        self.names: set[str] = set()
        self.batch: int | None = None
        graph = model.graph
        self.outputs = [o.name for o in graph.output]
        self.readers: dict[str, list] = {}
        for node in graph.node:
            for name in node.input:
                if name:
                    self.readers.setdefault(name, []).append(node)
        for name in self.outputs:
            self.readers.setdefault(name, []).append(None)

    # ---- errors and lookups ---------------------------------------------------------------
    def fail(self, node: Any, why: str) -> Unsupported:
        return Unsupported(f"importNetworkFromONNX: node '{node.name}' ({node.op_type}): {why}.")

    def const(self, node: Any, i: int, required: bool = True) -> np.ndarray | None:
        """Input i of node as a constant array (None when absent and not required)."""
        name = node.input[i] if i < len(node.input) else ""
        if not name and not required:
            return None
        if name not in self.consts:
            raise self.fail(node, f"input {i + 1} ('{name}') must be a constant (an initializer "
                                  "or Constant node)")
        return self.consts[name]

    def ref(self, node: Any, i: int = 0, kinds: tuple[str, ...] = ("plain",),
            seq_ok: bool = False) -> Ref:
        """Input i of node as a network tensor of one of ``kinds``, in canonical layout;
        sequence (T x N x C) data only where ``seq_ok``."""
        name = node.input[i]
        if name not in self.refs:
            raise self.fail(node, f"input {i + 1} ('{name}') is neither a network tensor nor "
                                  "read after it is made")
        r = self.refs[name]
        if r.seq and not seq_ok:
            raise self.fail(node, "minidl does not read this operator on sequence (T x N x C) "
                                  "data")
        if r.kind not in kinds:
            raise self.fail(node, f"its input '{name}' comes from a pattern minidl reads only "
                                  f"before another operator ({r.kind})")
        if kinds == ("plain",) and r.image and r.perm != IDENTITY4:
            raise self.fail(node, f"its input is transposed (perm {list(r.perm)}); minidl reads "
                                  "a Transpose only where it undoes a layout")
        return r

    def is_const(self, name: str) -> bool:
        return name in self.consts

    def attrs(self, node: Any, allowed: dict[str, Any]) -> dict[str, Any]:
        """The node's attributes with defaults; an attribute not in ``allowed`` is an error."""
        out = dict(allowed)
        for a in node.attribute:
            if a.name not in allowed:
                raise self.fail(node, f"attribute '{a.name}' is not supported")
            out[a.name] = self.onnx.helper.get_attribute_value(a)
        return {k: v.decode() if isinstance(v, bytes) else v for k, v in out.items()}

    def only_first_output(self, node: Any) -> None:
        for extra in node.output[1:]:
            if extra and self.readers.get(extra):
                raise self.fail(node, f"its output '{extra}' is read, but minidl gives only the "
                                      "first output")

    # ---- building ----------------------------------------------------------------------------
    def unique(self, raw: str, default: str) -> str:
        """A layer name from an ONNX name: '/' (minidl's port separator) becomes '_'."""
        base = raw.strip("/").replace("/", "_") or default
        name, k = base, 0
        while name in self.names:
            k += 1
            name = f"{base}_{k}"
        self.names.add(name)
        return name

    def add(self, node: Any, kind: str, inputs: list[Ref], shape: tuple[int, ...],
            *args: Any, **kw: Any) -> Spec:
        name = self.unique(node.name, node.op_type.lower())  # unnamed nodes: "conv", ".."
        spec = Spec(kind, name, [r.layer for r in inputs], args, kw, node.output[0])
        self.specs[name] = spec
        self.refs[node.output[0]] = Ref(name, shape, seq=bool(inputs) and inputs[0].seq)
        return spec

    def alias(self, node: Any, ref: Ref) -> None:
        self.refs[node.output[0]] = ref

    def foldable(self, node: Any, ref: Ref, i: int = 0) -> Spec | None:
        """The layer whose output node's input i is, if a constant step may be folded into
        it: the tensor is that layer's latest output and nothing else reads it."""
        spec = self.specs.get(ref.layer)
        x = node.input[i]
        if spec is None or spec.out != x or len(self.readers.get(x, [])) != 1:
            return None
        return spec


def _opset(model: Any) -> int:
    for op in model.opset_import:
        if op.domain in ("", "ai.onnx"):
            return int(op.version)
    raise ValueError("importNetworkFromONNX: the model imports no version of the default ONNX "
                     "operator set.")


# ---- reading the file ---------------------------------------------------------------------

def _load(onnx: Any, filename: str) -> Any:
    """Parse and check the model; read its external data from the model's folder only."""
    if not isinstance(filename, (str, os.PathLike)):
        raise TypeError(f"importNetworkFromONNX: filename must be a file name (str), got "
                        f"{type(filename).__name__}")
    path = os.fspath(filename)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"importNetworkFromONNX: no file '{path}'.")
    with open(path, "rb") as f:
        data = f.read()
    model = onnx.ModelProto()
    try:
        model.ParseFromString(data)
    except Exception as err:  # protobuf's DecodeError: truncated or not a model at all
        raise ValueError(f"importNetworkFromONNX: '{path}' is not a valid ONNX file "
                         f"(truncated or corrupt: {err}).") from None
    if not model.HasField("graph") or not model.graph.node:
        raise ValueError(f"importNetworkFromONNX: '{path}' holds no ONNX graph (truncated, "
                         "empty or not an ONNX model).")
    folder = os.path.dirname(os.path.abspath(path))
    for tensor in _all_tensors(model.graph):
        _check_tensor(onnx, tensor, folder)
    try:
        onnx.checker.check_model(model)
    except Exception as err:
        # an operator version newer onnx releases deprecate (GroupNormalization-18) is still
        # well defined in the opset the file names: only other findings make the file invalid
        if "is deprecated in domain_version" in str(err):
            return model
        raise ValueError(f"importNetworkFromONNX: '{path}' is not a valid ONNX model: "
                         f"{err}") from None
    return model


def _all_tensors(graph: Any) -> list:
    tensors = list(graph.initializer)
    for node in graph.node:
        tensors += [a.t for a in node.attribute if a.HasField("t")]
    return tensors


def _check_tensor(onnx: Any, t: Any, folder: str) -> None:
    """Absurd sizes are errors; external data is read here, from inside ``folder`` only."""
    if any(d < 0 for d in t.dims) or math.prod(t.dims) > MAX_ELEMENTS:
        raise ValueError(f"importNetworkFromONNX: tensor '{t.name}' has an absurd size "
                         f"{list(t.dims)} (at most {MAX_ELEMENTS} elements are accepted).")
    if t.data_location != onnx.TensorProto.EXTERNAL:
        return
    info = {e.key: e.value for e in t.external_data}
    location = info.get("location", "")
    target = os.path.realpath(os.path.join(folder, location))
    if (not location or os.path.isabs(location) or ".." in location.replace("\\", "/").split("/")
            or os.path.commonpath([target, os.path.realpath(folder)]) != os.path.realpath(folder)):
        raise ValueError(f"importNetworkFromONNX: tensor '{t.name}' names external data "
                         f"'{location}' outside the model's folder; only files next to the "
                         "model are read.")
    if not os.path.isfile(target):
        raise ValueError(f"importNetworkFromONNX: external data file '{location}' of tensor "
                         f"'{t.name}' is missing.")
    offset, length = int(info.get("offset", 0)), info.get("length")
    with open(target, "rb") as f:
        f.seek(offset)
        raw = f.read(int(length) if length is not None else -1)
    t.raw_data = raw
    t.data_location = onnx.TensorProto.DEFAULT
    del t.external_data[:]


def _array(onnx: Any, t: Any) -> np.ndarray:
    """A TensorProto as a NumPy array, its stored size checked against its dims first."""
    dtype = onnx.helper.tensor_dtype_to_np_dtype(t.data_type)
    n = math.prod(t.dims)
    if t.raw_data and len(t.raw_data) != n * np.dtype(dtype).itemsize:
        raise ValueError(f"importNetworkFromONNX: tensor '{t.name}' holds {len(t.raw_data)} bytes "
                         f"but its size {list(t.dims)} of {np.dtype(dtype).name} needs "
                         f"{n * np.dtype(dtype).itemsize} (truncated or corrupt).")
    return onnx.numpy_helper.to_array(t)


# ---- graph inputs --------------------------------------------------------------------------

def _inputs(st: _State, graph: Any) -> None:
    for vi in graph.input:
        if st.is_const(vi.name):
            continue
        tt = vi.type.tensor_type
        if not vi.type.HasField("tensor_type") or tt.elem_type != st.onnx.TensorProto.FLOAT:
            raise ValueError(f"importNetworkFromONNX: input '{vi.name}' must be float32 tensor "
                             "data.")
        dims = [d.dim_value if d.HasField("dim_value") else None for d in tt.shape.dim]
        free = 2 if len(dims) == 3 else 1  # T and N of sequences, N otherwise
        if len(dims) not in (2, 3, 4) or any(d is None or not 0 < d <= MAX_DIM
                                             for d in dims[free:]):
            raise ValueError(f"importNetworkFromONNX: input '{vi.name}' must be N x C, "
                             f"N x C x H x W or T x N x C with known C, H, W (at most {MAX_DIM}),"
                             f" got {['?' if d is None else d for d in dims]}.")
        st.batch = dims[free - 1]
        _input(st, vi.name, tuple(dims[free:]), seq=free == 2)


def _input(st: _State, name: str, dims: tuple[int, ...], seq: bool = False) -> None:
    readers = st.readers.get(name, [])
    nhwc = (len(dims) == 3 and not seq and len(readers) == 1 and readers[0] is not None
            and readers[0].op_type == "Transpose"
            and [list(st.onnx.helper.get_attribute_value(a)) for a in readers[0].attribute
                 if a.name == "perm"] == [[0, 3, 1, 2]])
    shape = (dims[2], dims[0], dims[1]) if nhwc else dims
    if math.prod(shape) > MAX_ELEMENTS:
        raise ValueError(f"importNetworkFromONNX: input '{name}' has an absurd size {dims}.")
    layer = st.unique(name, "input")
    st.specs[layer] = Spec("input", layer, [], (shape,), {"ops": [], "seq": seq}, name)
    st.refs[name] = Ref(layer, shape, (0, 2, 3, 1) if nhwc else IDENTITY4, seq=seq)


def _translate(st: _State, graph: Any) -> None:
    for t in graph.initializer:
        st.consts[t.name] = _array(st.onnx, t)
    _inputs(st, graph)
    for node in graph.node:
        if node.domain not in ("", "ai.onnx"):
            raise st.fail(node, f"operators of domain '{node.domain}' are not supported")
        fn = CONVERTERS.get(node.op_type)
        if fn is None:
            raise st.fail(node, f"operator {node.op_type} has no minidl equivalent; supported: "
                                f"{', '.join(sorted(CONVERTERS))}")
        fn(st, node)


def _network(st: _State) -> Any:
    """The layers reaching the outputs, joined as in the ONNX graph, initialized."""
    ends = []
    for name in st.outputs:
        r = st.refs.get(name)
        if r is None or r.kind != "plain" or (r.image and r.perm != IDENTITY4):
            raise ValueError(f"importNetworkFromONNX: output '{name}' is not a network tensor "
                             "in a layout minidl gives (N x C x H x W, N x C or T x N x C).")
        ends.append(r.layer)
    keep, stack = set(), list(ends)
    while stack:
        name = stack.pop()
        if name not in keep:
            keep.add(name)
            stack += st.specs[name].inputs
    # outputs last, in the model's order: a dlnetwork lists its outputs in layer order
    specs = [s for s in st.specs.values() if s.name in keep and s.name not in ends]
    specs += [st.specs[name] for name in ends]
    readers = {src for s in specs for src in s.inputs}
    for end in ends:
        if end in readers:
            raise ValueError(f"importNetworkFromONNX: output of layer '{end}' is also read by "
                             "other layers; a minidl network's outputs are layers nothing reads.")
    lgraph = layerGraph()
    for s in specs:
        lgraph = addLayers(lgraph, make_layer(s))
    for s in specs:
        ports = [s.name] if len(s.inputs) == 1 else [f"{s.name}/in{k + 1}"
                                                     for k in range(len(s.inputs))]
        for src, dst in zip(s.inputs, ports):
            lgraph = connectLayers(lgraph, src, dst)
    return dlnetwork(lgraph)


# ---- making the layers ---------------------------------------------------------------------

def _stat(full: np.ndarray, kind: str, image: bool) -> np.ndarray:
    """An ONNX-layout statistic ((C, H, W) or (C,), broadcast) in minidl's layout."""
    if kind == "all":
        return np.float32(full.reshape(-1)[0])
    if not image:
        return full.reshape(-1, 1).astype(np.float32)
    if kind == "channel":
        return full[:, 0, 0].reshape(1, 1, -1).astype(np.float32)
    return np.ascontiguousarray(full.transpose(1, 2, 0)).astype(np.float32)


def _normalization(ops: list, image: bool) -> dict[str, Any]:
    """The input layer's Normalization options from the constant steps after the input."""
    names = [op for op, *_ in ops]
    dimension = max((k for _, _, k, _ in ops), key=["all", "channel", "element"].index,
                    default="all")
    kw = {"NormalizationDimension": {"all": "all", "channel": "channel",
                                     "element": "element"}[dimension]}

    def s(i: int) -> np.ndarray:
        return _stat(ops[i][1], ops[i][2], image)

    if not ops:
        return {"Normalization": "none"}
    if names == ["Sub"]:
        return {**kw, "Normalization": "zerocenter", "Mean": s(0)}
    if names == ["Sub", "Div"] and ops[1][3].endswith("/Range"):  # minidl's own export
        return {**kw, "Normalization": "rescale-zero-one", "Min": s(0),
                "Max": (s(0) + s(1)).astype(np.float32)}
    if names == ["Sub", "Div"]:
        return {**kw, "Normalization": "zscore", "Mean": s(0), "StandardDeviation": s(1)}
    if names == ["Sub", "Div", "Mul", "Sub"] and np.all(ops[2][1] == 2) \
            and np.all(ops[3][1] == 1):
        lo = s(0)
        return {**kw, "Normalization": "rescale-symmetric", "Min": lo,
                "Max": (lo + s(1)).astype(np.float32)}
    return {**kw, **_affine(ops, image)}


def _affine(ops: list, image: bool) -> dict[str, Any]:
    """Any other run of Add/Sub/Mul/Div as y = a·x + b, written as zerocenter or zscore."""
    a, b = np.float64(1), np.float64(0)
    for op, c, _, _ in ops:
        if op in ("Mul", "Div"):
            f = c if op == "Mul" else 1 / c
            a, b = a * f, b * f
        else:
            b = b + (c if op == "Add" else -c)
    shape = np.broadcast_shapes(np.shape(a), np.shape(b))
    a, b = np.broadcast_to(a, shape), np.broadcast_to(b, shape)
    kinds = [k for _, _, k, _ in ops]
    kind = "all" if all(k == "all" for k in kinds) else \
        "element" if "element" in kinds else "channel"
    if np.all(a == 1):
        return {"Normalization": "zerocenter", "Mean": _stat(-b, kind, image)}
    if np.any(a == 0):
        raise ValueError("importNetworkFromONNX: the input is multiplied by zero.")
    return {"Normalization": "zscore", "Mean": _stat(-b / a, kind, image),
            "StandardDeviation": _stat(1 / a, kind, image)}


def make_layer(spec: Spec) -> Any:
    """The minidl layer for ``spec``, through its public constructor."""
    try:
        if spec.kind == "input":
            shape = spec.args[0]
            norm = _normalization(spec.kw["ops"], len(shape) == 3)
            if spec.kw.get("seq"):
                return sequenceInputLayer(shape[0], Name=spec.name, **norm)
            if len(shape) == 3:
                return imageInputLayer([shape[1], shape[2], shape[0]], Name=spec.name, **norm)
            return featureInputLayer(shape[0], Name=spec.name, **norm)
        return getattr(layers, spec.kind)(*spec.args, Name=spec.name, **spec.kw)
    except ValueError as err:
        raise ValueError(f"importNetworkFromONNX: layer '{spec.name}' cannot be made: "
                         f"{err}") from None


def importNetworkFromONNX(filename: Any) -> Any:
    """Read the ONNX file ``filename`` as a dlnetwork (see the wrapper in ``networks.onnx``)."""
    onnx = require_onnx()
    model = _load(onnx, filename)
    st = _State(onnx, model, os.fspath(filename))
    _translate(st, model.graph)
    return _network(st)

