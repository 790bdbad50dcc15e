"""Constant folding for the shape arithmetic exporters write around dynamic sizes.

PyTorch's exporter, with a free batch size, computes some sizes in the graph: the initial states
of an LSTM/GRU are ``ConstantOfShape(Concat(Unsqueeze(Gather(Shape(x), 1)), ...))`` (zeros of
D x N x H), and GroupNorm reshapes back to ``Shape(x)``. These operators are evaluated here on
constants, with the free sizes kept as markers: N (the batch) and T (the time steps) become
``BATCH`` and ``TIME``. A reshape reads the marker where the data has that dimension as 0
("copy it"), ConstantOfShape gives a constant of size 1 there (it broadcasts over the batch);
arithmetic on the markers is refused (``_arith`` accepts no constant-only arithmetic).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["SHAPE_CONVERTERS", "BATCH", "TIME", "concrete_shape"]

BATCH, TIME = -(1 << 40), -(1 << 41)  # markers of the free sizes inside constant shapes


def _all_const(st: Any, node: Any) -> list[np.ndarray]:
    for i, name in enumerate(node.input):
        if name and not st.is_const(name):
            raise st.fail(node, f"input {i + 1} ('{name}') must be a constant or a size "
                                "computed from Shape")
    return [st.consts[n] if n else None for n in node.input]


def _shape(st: Any, node: Any) -> None:
    a = st.attrs(node, {"start": 0, "end": None})
    r = st.refs.get(node.input[0])
    if r is None:
        raise st.fail(node, "its input is not a network tensor")
    batch = st.batch if st.batch is not None else BATCH
    if r.seq:
        dims = [TIME, batch, *r.shape]
    elif r.image:
        canonical = [batch, *r.shape]
        dims = [canonical[p] for p in r.perm]
    else:
        dims = [batch, *r.shape]
    st.consts[node.output[0]] = np.asarray(dims[a["start"]:a["end"]], np.int64)


def _gather(st: Any, node: Any) -> None:
    axis = st.attrs(node, {"axis": 0})["axis"]
    data, index = _all_const(st, node)
    st.consts[node.output[0]] = np.take(data, index.astype(np.int64), axis=axis)


def _unsqueeze(st: Any, node: Any) -> None:
    axes = st.attrs(node, {"axes": None})["axes"]
    values = _all_const(st, node)
    axes = values[1] if len(values) > 1 and values[1] is not None else axes
    out = values[0]
    rank = out.ndim + len(axes)
    for ax in sorted(int(a) + rank if a < 0 else int(a) for a in np.asarray(axes).reshape(-1)):
        out = np.expand_dims(out, ax)
    st.consts[node.output[0]] = out


def _slice(st: Any, node: Any) -> None:
    a = st.attrs(node, {"starts": None, "ends": None, "axes": None})
    values = _all_const(st, node) + [None] * 5
    data = values[0]
    starts, ends = (values[1], values[2]) if st.opset >= 10 else (a["starts"], a["ends"])
    axes = values[3] if st.opset >= 10 else a["axes"]
    steps = values[4] if st.opset >= 10 else None
    n = len(np.asarray(starts).reshape(-1))
    axes = range(n) if axes is None else np.asarray(axes).reshape(-1)
    steps = [1] * n if steps is None else np.asarray(steps).reshape(-1)
    index = [slice(None)] * data.ndim
    for s, e, ax, k in zip(np.asarray(starts).reshape(-1), np.asarray(ends).reshape(-1), axes,
                           steps):
        index[int(ax)] = slice(int(s), int(min(e, 1 << 62)), int(k))
    st.consts[node.output[0]] = data[tuple(index)]


def _cast(st: Any, node: Any) -> None:
    to = st.attrs(node, {"to": None, "saturate": 1})["to"]
    (data,) = _all_const(st, node)
    if np.any(data <= BATCH // 2) and data.dtype.kind == "i":
        st.consts[node.output[0]] = data  # a size with a marker stays a size
        return
    dtype = st.onnx.helper.tensor_dtype_to_np_dtype(to)
    st.consts[node.output[0]] = data.astype(dtype)


def _constant_of_shape(st: Any, node: Any) -> None:
    a = st.attrs(node, {"value": None})
    (shape,) = _all_const(st, node)
    value = np.zeros(1, np.float32) if a["value"] is None else \
        st.onnx.numpy_helper.to_array(a["value"]).reshape(-1)
    dims = [1 if d <= BATCH // 2 else int(d) for d in np.asarray(shape).reshape(-1)]
    if np.prod(dims) > (1 << 24):
        raise st.fail(node, f"a constant of size {dims} is absurd")
    st.consts[node.output[0]] = np.full(dims, value[0], dtype=value.dtype)


def concrete_shape(st: Any, node: Any, shape: np.ndarray, seq: bool) -> list[int]:
    """A Reshape target with the markers of free sizes read as 0 ("copy that dimension")
    where the data has them: N first (T, N first for sequences)."""
    out = [int(v) for v in np.asarray(shape).reshape(-1)]
    expected = [TIME, BATCH] if seq else [BATCH]
    for i, v in enumerate(out):
        if v <= BATCH // 2:
            if i >= len(expected) or v not in (expected[i], st.batch):
                raise st.fail(node, "a free size (batch or time) moves to another dimension")
            out[i] = 0
    return out


SHAPE_CONVERTERS: dict[str, Callable[[Any, Any], None]] = {
    "Shape": _shape, "Gather": _gather, "Unsqueeze": _unsqueeze, "Slice": _slice,
    "Cast": _cast, "ConstantOfShape": _constant_of_shape,
}
