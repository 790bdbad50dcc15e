"""The recurrent ONNX operators ``importNetworkFromONNX`` reads: LSTM (forward or bidirectional)
and GRU as lstmLayer, bilstmLayer and gruLayer, and the Squeeze that follows them.

ONNX stacks the gate blocks i, o, f, c (LSTM) and z, r, h (GRU); minidl (MATLAB) stacks i, f, g,
o and r, z, h̃. ONNX's two biases (input Wb and recurrent Rb) add, except the GRU's recurrent
candidate bias under linear_before_reset = 1, which is minidl's ResetGateMode
"recurrent-bias-after-multiplication"; linear_before_reset = 0 is "before-multiplication".
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .operators import Ref, float_weights

__all__ = ["RNN_CONVERTERS"]


_RNN = {"LSTM": ([0, 3, 1, 2], ["sigmoid", "tanh", "tanh"]),
        "GRU": ([1, 0, 2], ["sigmoid", "tanh"])}


def _from_gates(a: np.ndarray, op: str) -> np.ndarray:
    """D x (G·H) x K in ONNX's gate order as (D·G·H) x K in minidl's (inverse of the export)."""
    order = _RNN[op][0]
    inverse = np.argsort(order)
    d, gh = a.shape[:2]
    blocks = a.reshape(d, len(order), gh // len(order), *a.shape[2:])[:, inverse]
    return np.ascontiguousarray(blocks.reshape(d * gh, *a.shape[2:]))


def _rnn_attrs(st: Any, node: Any) -> dict[str, Any]:
    allowed = {"hidden_size": None, "direction": "forward", "activations": None,
               "activation_alpha": None, "activation_beta": None, "clip": None, "layout": 0}
    allowed.update({"input_forget": 0} if node.op_type == "LSTM" else
                   {"linear_before_reset": 0})
    a = st.attrs(node, allowed)
    d = {"forward": 1, "bidirectional": 2}.get(a["direction"])
    acts = _RNN[node.op_type][1]
    if d is None or (d == 2 and node.op_type == "GRU"):
        raise st.fail(node, f"direction '{a['direction']}' has no minidl layer")
    if a["activations"] is not None and [x.lower() for x in a["activations"]] != acts * d:
        raise st.fail(node, f"activations {a['activations']} are not the default {acts}")
    if a["clip"] is not None or a.get("input_forget") or a["layout"]:
        raise st.fail(node, "clip, input_forget and layout 1 are not supported")
    a["D"] = d
    return a


def _rnn_state(st: Any, node: Any, i: int, d: int, h: int) -> np.ndarray | None:
    """initial_h/initial_c (D x N x H, the same for every observation) as (D·H) x 1."""
    v = st.const(node, i, required=False)
    if v is None:
        return None
    v = float_weights(st, node, v)
    if v.ndim != 3 or v.shape[0] != d or v.shape[2] != h or np.any(v != v[:, :1]):
        raise st.fail(node, "an initial state must be D x N x H and equal for all observations")
    return np.ascontiguousarray(v[:, 0].reshape(d * h, 1))


def _rnn(st: Any, node: Any) -> None:
    """LSTM (forward or bidirectional) and GRU as lstmLayer, bilstmLayer, gruLayer: OutputMode
    "sequence" when Y is read, "last" when Y_h is."""
    op, a = node.op_type, _rnn_attrs(st, node)
    d, g = a["D"], len(_RNN[op][0])
    r = st.ref(node, seq_ok=True)
    if not r.seq:
        raise st.fail(node, "it needs T x N x C sequence input")
    for i in (4, 7):
        if len(node.input) > i and node.input[i]:
            raise st.fail(node, "sequence_lens and peepholes (P) are not supported")
    w, rw = (float_weights(st, node, st.const(node, i)) for i in (1, 2))
    h = rw.shape[2]
    b = st.const(node, 3, required=False)
    b = np.zeros((d, 2 * g * h), np.float32) if b is None else float_weights(st, node, b)
    kw: dict[str, Any] = {"InputWeights": _from_gates(w, op),
                          "RecurrentWeights": _from_gates(rw, op)}
    wb, rb = b[:, :g * h], b[:, g * h:]
    kw["Bias"] = _from_gates(wb + rb, op)
    if op == "GRU":
        kw["ResetGateMode"] = "after-multiplication" if a["linear_before_reset"] else \
            "before-multiplication"
        if a["linear_before_reset"] and np.any(rb):
            kw["ResetGateMode"] = "recurrent-bias-after-multiplication"
            kw["Bias"] = np.concatenate([_from_gates(wb, op), _from_gates(rb, op)])
    for i, state in ((5, "HiddenState"), (6, "CellState")):
        v = _rnn_state(st, node, i, d, h) if op == "LSTM" or i == 5 else None
        if v is not None:
            kw[state] = v
    outs = [o if len(node.output) > k and o and st.readers.get(o) else ""
            for k, o in enumerate(list(node.output) + ["", "", ""])][:3]
    if outs[2] or bool(outs[0]) == bool(outs[1]):
        raise st.fail(node, "exactly one of its outputs Y (all steps) and Y_h (the last) must "
                            "be read, and not Y_c")
    mode = "sequence" if outs[0] else "last"
    kind = "gruLayer" if op == "GRU" else "bilstmLayer" if d == 2 else "lstmLayer"
    spec = st.add(node, kind, [r], (d * h,), int(h), OutputMode=mode, **kw)
    out = outs[0] or outs[1]
    st.refs.pop(node.output[0], None)
    st.refs[out] = Ref(spec.name, (d * h,), kind="rnn_y" if outs[0] else "rnn_h", extra=d,
                        seq=True)
    spec.out = out


def _squeeze(st: Any, node: Any) -> None:
    axes = st.attrs(node, {"axes": None})["axes"]
    if len(node.input) > 1 and node.input[1]:
        axes = st.const(node, 1)
    if st.is_const(node.input[0]):  # sizes being computed
        data = st.consts[node.input[0]]
        axes = tuple(int(a) for a in np.asarray(axes).reshape(-1)) if axes is not None else None
        st.consts[node.output[0]] = np.squeeze(data, axis=axes)
        return
    r = st.refs.get(node.input[0])
    axes = [int(x) for x in np.asarray(axes if axes is not None else [], np.int64).reshape(-1)]
    want = {"rnn_y": [1], "rnn_h": [0]}.get(r.kind if r is not None else "")
    if want is None or r.extra != 1 or axes != want:
        raise st.fail(node, "only the Squeeze of an LSTM/GRU output's direction axis is "
                            "supported")
    st.alias(node, Ref(r.layer, r.shape, seq=r.kind == "rnn_y"))


RNN_CONVERTERS = {"LSTM": _rnn, "GRU": _rnn, "Squeeze": _squeeze}
