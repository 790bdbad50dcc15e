"""Recurrent ops: ``lstm`` and ``gru`` over a whole sequence, with backpropagation through time.

Both follow MATLAB's ``lstm``/``gru`` functions and the weight layout of ``lstmLayer`` and
``gruLayer``, so weights exported from MATLAB apply unchanged:

* LSTM (H hidden units, C input channels): ``weights`` is 4H x C, ``recurrentWeights`` 4H x H,
  ``bias`` 4H, each the gate blocks stacked in the order input gate i, forget gate f, cell
  candidate g, output gate o. Per time step, with σ the sigmoid::

      [i; f; g; o] = [σ; σ; tanh; σ](W x_t + R h_{t-1} + b)
      c_t = f ⊙ c_{t-1} + i ⊙ g,      h_t = o ⊙ tanh(c_t)

* GRU: ``weights`` 3H x C and ``recurrentWeights`` 3H x H in the order reset gate r, update
  gate z, candidate state h̃; ``bias`` 3H (6H for ResetGateMode
  "recurrent-bias-after-multiplication": the input bias, then a recurrent bias b_R)::

      r = σ(W_r x_t + R_r h_{t-1} + b_r),   z = σ(W_z x_t + R_z h_{t-1} + b_z)
      h̃ = tanh(W_h x_t + b_h + r ⊙ (R_h h_{t-1}))          "after-multiplication" (default)
      h̃ = tanh(W_h x_t + b_h + R_h (r ⊙ h_{t-1}))          "before-multiplication"
      (with b_R added to each R h_{t-1} term for "recurrent-bias-after-multiplication")
      h_t = (1 - z) ⊙ h̃ + z ⊙ h_{t-1}

The module reads in three layers. The *step kernels* (``_lstm_step_forward`` /
``_lstm_step_backward`` and the GRU pair) are pure array functions for one time step, (N, ·)
arrays in and out. The *sequence kernels* (``_lstm_forward`` / ``_lstm_backward``, ...) run a
step kernel over time, keeping the gate activations the backward needs. The *ops* ``lstm`` and
``gru`` check their arguments, call the kernels and record ONE node over the whole sequence,
its backward closure running the backward kernel (backpropagation through time).

The input projections ``W x_t`` of all time steps are one matrix product before the loop, and
the input and weight gradients one product each after it, so the Python loop does only the
recurrent product per step; every step is vectorized over observations and hidden units. The
three outputs (``Y``, ``hiddenState``, ``cellState``) are views of one recorded result, so
gradients arriving through any of them meet in that one backward.
"""

from __future__ import annotations

from typing import Any

from ..backend import array_module, matmul
from ..core import dlarray, inverse_permutation, record
from .activations import sigmoid_kernel
from .args import grad_like, labelled, op_options

__all__ = ["lstm", "gru"]

RESET_GATE_MODES = ("after-multiplication", "before-multiplication",
                    "recurrent-bias-after-multiplication")


# ---- lstm kernels --------------------------------------------------------------------------

def _lstm_gates(gates: Any, H: int) -> tuple:
    """Views of the four gate blocks of an (N, 4H) array: input, forget, candidate, output."""
    return gates[:, :H], gates[:, H:2 * H], gates[:, 2 * H:3 * H], gates[:, 3 * H:]


def _lstm_step_forward(a: Any, h: Any, c: Any, R: Any, gates: Any, c_next: Any, tanh_c: Any,
                       h_next: Any) -> None:
    """One LSTM step: input projection ``a`` = W x_t + b (N, 4H), state h_{t-1}, c_{t-1} (N, H;
    1 x H broadcasts) and R (4H, H). Writes the gate activations [i, f, g, o] into ``gates``
    (N, 4H), c_t into ``c_next``, tanh(c_t) into ``tanh_c`` and h_t into ``h_next`` (N, H)."""
    xp, H = array_module(a), R.shape[1]
    a = a + h @ R.T
    gates[:, :2 * H] = sigmoid_kernel(a[:, :2 * H])
    gates[:, 2 * H:3 * H] = xp.tanh(a[:, 2 * H:3 * H])
    gates[:, 3 * H:] = sigmoid_kernel(a[:, 3 * H:])
    i, f, g, o = _lstm_gates(gates, H)
    c_next[...] = f * c + i * g
    tanh_c[...] = xp.tanh(c_next)
    h_next[...] = o * tanh_c


def _lstm_step_backward(dh: Any, dc: Any, gates: Any, c: Any, tanh_c: Any, R: Any,
                        da: Any) -> tuple[Any, Any]:
    """One LSTM step back: the gradients ``dh`` of h_t (from Y and from step t + 1) and ``dc``
    of c_t (from step t + 1), with the step's ``gates``, c_{t-1} and tanh(c_t). Writes the
    gradient of the pre-activations W x_t + R h_{t-1} + b into ``da`` (N, 4H); returns the
    gradients of h_{t-1} and c_{t-1} (N, H)."""
    H = R.shape[1]
    i, f, g, o = _lstm_gates(gates, H)
    dc = dc + dh * o * (1 - tanh_c * tanh_c)
    da[:, :H] = dc * g * i * (1 - i)
    da[:, H:2 * H] = dc * c * f * (1 - f)
    da[:, 2 * H:3 * H] = dc * i * (1 - g * g)
    da[:, 3 * H:] = dh * tanh_c * o * (1 - o)
    return da @ R, dc * f


def _lstm_forward(A: Any, R: Any, h0: Any, c0: Any) -> tuple:
    """All T steps from the input projections A (T, N, 4H) and the initial states (N or 1, H).

    Returns the trace the backward needs: h_0..h_T and c_0..c_T (T + 1, N, H), the gate
    activations (T, N, 4H) and tanh(c_1..c_T) (T, N, H)."""
    xp, (T, N, _), H, dt = array_module(A), A.shape, R.shape[1], A.dtype
    hs = xp.empty((T + 1, N, H), dt)
    cs = xp.empty((T + 1, N, H), dt)
    gates = xp.empty((T, N, 4 * H), dt)
    tcs = xp.empty((T, N, H), dt)
    hs[0], cs[0] = h0, c0
    for t in range(T):
        _lstm_step_forward(A[t], hs[t], cs[t], R, gates[t], cs[t + 1], tcs[t], hs[t + 1])
    return hs, cs, gates, tcs


def _lstm_backward(gy: Any, R: Any, trace: tuple) -> tuple:
    """Backpropagation through time: gy (T + 1, N, H) holds the gradients of h_1..h_T and of
    c_T. Returns the gradients of the pre-activations (T, N, 4H), of h_0 and of c_0 (N, H)."""
    hs, cs, gates, tcs = trace
    xp, (T, N, H), dt = array_module(gy), tcs.shape, tcs.dtype
    dh = xp.zeros((N, H), dt)
    dc = xp.ascontiguousarray(gy[T])
    dA = xp.empty((T, N, 4 * H), dt)
    for t in range(T - 1, -1, -1):
        dh, dc = _lstm_step_backward(dh + gy[t], dc, gates[t], cs[t], tcs[t], R, dA[t])
    return dA, dh, dc


# ---- gru kernels ---------------------------------------------------------------------------

def _gru_step_forward(a: Any, h: Any, R: Any, bR: Any, before: bool, rz: Any, keep: Any,
                      cand: Any, h_next: Any) -> None:
    """One GRU step: input projection ``a`` = W x_t + b (N, 3H), h_{t-1} (N, H; 1 x H
    broadcasts), R (3H, H), the recurrent bias bR (3H, or None) and the reset-gate mode
    (``before``: "before-multiplication"). Writes the gates [r, z] into ``rz`` (N, 2H), into
    ``keep`` what the candidate's backward needs (r ⊙ h_{t-1} before, R_h h_{t-1} (+ b_R,h)
    after), the candidate h̃ into ``cand`` and h_t into ``h_next`` (N, H)."""
    xp, H = array_module(a), R.shape[1]
    if before:
        rz[...] = sigmoid_kernel(a[:, :2 * H] + h @ R[:2 * H].T)
        keep[...] = rz[:, :H] * h
        cand[...] = xp.tanh(a[:, 2 * H:] + keep @ R[2 * H:].T)
    else:
        rh = h @ R.T
        if bR is not None:
            rh = rh + bR
        rz[...] = sigmoid_kernel(a[:, :2 * H] + rh[:, :2 * H])
        keep[...] = rh[:, 2 * H:]
        cand[...] = xp.tanh(a[:, 2 * H:] + rz[:, :H] * keep)
    z = rz[:, H:]
    h_next[...] = (1 - z) * cand + z * h


def _gru_step_backward(dh: Any, h: Any, rz: Any, cand: Any, keep: Any, R: Any, before: bool,
                       da: Any, drec: Any) -> Any:
    """One GRU step back: ``dh``, the gradient of h_t (from Y and from step t + 1), with the
    step's h_{t-1}, gates, candidate and ``keep``. Writes the gradients of the input-side
    pre-activations W x_t + b into ``da`` and of the recurrent products' outputs (R h_{t-1},
    or R_h (r ⊙ h_{t-1}) for the candidate before) into ``drec`` (N, 3H); returns the gradient
    of h_{t-1} (N, H)."""
    H = R.shape[1]
    r, z = rz[:, :H], rz[:, H:]
    dac = dh * (1 - z) * (1 - cand * cand)
    dz = dh * (h - cand)
    dh_prev = dh * z
    da[:, 2 * H:] = dac
    da[:, H:2 * H] = dz * z * (1 - z)
    if before:
        drh = dac @ R[2 * H:]  # gradient of r ⊙ h
        da[:, :H] = drh * h * r * (1 - r)
        drec[:, :2 * H] = da[:, :2 * H]
        drec[:, 2 * H:] = dac
        return dh_prev + drh * r + da[:, :2 * H] @ R[:2 * H]
    da[:, :H] = dac * keep * r * (1 - r)
    drec[:, :2 * H] = da[:, :2 * H]
    drec[:, 2 * H:] = dac * r
    return dh_prev + drec @ R


def _gru_forward(A: Any, R: Any, h0: Any, bR: Any, before: bool) -> tuple:
    """All T steps from the input projections A (T, N, 3H) and h0 (N or 1, H).

    Returns the trace the backward needs: h_0..h_T (T + 1, N, H), the gates [r, z]
    (T, N, 2H), the candidates and ``keep`` (T, N, H; see ``_gru_step_forward``)."""
    xp, (T, N, _), H, dt = array_module(A), A.shape, R.shape[1], A.dtype
    hs = xp.empty((T + 1, N, H), dt)
    rz = xp.empty((T, N, 2 * H), dt)
    cand = xp.empty((T, N, H), dt)
    keep = xp.empty((T, N, H), dt)
    hs[0] = h0
    for t in range(T):
        _gru_step_forward(A[t], hs[t], R, bR, before, rz[t], keep[t], cand[t], hs[t + 1])
    return hs, rz, cand, keep


def _gru_backward(gy: Any, R: Any, trace: tuple, before: bool) -> tuple:
    """Backpropagation through time: gy (T, N, H) holds the gradients of h_1..h_T. Returns the
    gradients of the input-side pre-activations and of the recurrent products' outputs
    (T, N, 3H each), and of h_0 (N, H)."""
    hs, rz, cand, keep = trace
    xp, (T, N, H), dt = array_module(gy), cand.shape, cand.dtype
    dh = xp.zeros((N, H), dt)
    dA = xp.empty((T, N, 3 * H), dt)
    dRec = xp.empty((T, N, 3 * H), dt)
    for t in range(T - 1, -1, -1):
        dh = _gru_step_backward(dh + gy[t], hs[t], rz[t], cand[t], keep[t], R, before, dA[t],
                                dRec[t])
    return dA, dRec, dh


# ---- what both ops share: the sequence layout, the arguments, the products, the outputs -------

class _Sequence:
    """X read as (C, N, T) whatever its labels: which of C, B, T it has, in which axis order,
    so the outputs can be put back in X's layout."""

    def __init__(self, X: Any, DataFormat: Any, where: str) -> None:
        data, fmt, self.out_fmt, self.shape = labelled(X, DataFormat, where, need="C")
        extra = sorted(set(fmt) - set("CBT"))
        if extra:
            raise ValueError(f"{where}: X has format '{fmt}' with {', '.join(extra)} "
                             "dimensions; the input must have a channel dimension 'C' and "
                             "optionally 'B' (observations) and 'T' (time), e.g. 'CBT'")
        if len(set(fmt)) != len(fmt):
            raise ValueError(f"{where}: X has format '{fmt}' with a repeated label")
        self.present = "".join(label for label in "CBT" if label in fmt)
        self.perm = tuple(fmt.index(label) for label in self.present)  # fmt order -> CBT order
        sizes = dict(zip(fmt, data.shape))
        self.C, self.N, self.T = (sizes.get(label, 1) for label in "CBT")
        if self.T == 0 or self.N == 0:
            raise ValueError(f"{where}: X (size {'x'.join(map(str, data.shape))}, format "
                             f"'{fmt}') has no time steps or no observations")
        self.fmt = fmt
        self.x = data.transpose(self.perm).reshape(self.C, self.N, self.T)

    def layout(self, y: Any, channels: int) -> Any:
        """A (channels, N, T) result in X's layout (labels and axis order)."""
        sizes = {"C": channels, "B": self.N, "T": self.T}
        y = y.reshape(tuple(sizes[label] for label in self.present))
        return y.transpose(inverse_permutation(self.perm))

    def unlayout(self, gy: Any, channels: int) -> Any:
        """The inverse of ``layout``: a gradient in X's layout as (channels, N, T)."""
        return gy.transpose(self.perm).reshape(channels, self.N, self.T)

    def state_fmt(self) -> str:
        return "CB" if self.out_fmt else ""


def _recurrent_matrix(R: Any, gates: int, where: str, dtype: Any) -> Any:
    """recurrentWeights as a raw gates*H x H matrix in ``dtype``; its size gives H."""
    R = R._data if isinstance(R, dlarray) else R
    if not hasattr(R, "shape") or R.ndim != 2 or R.shape[0] != gates * R.shape[1]:
        got = "x".join(map(str, getattr(R, "shape", ()))) or "a scalar"
        raise ValueError(f"{where}: recurrentWeights must be a {gates}*NumHiddenUnits x "
                         f"NumHiddenUnits matrix, got size {got}")
    return R.astype(dtype, copy=False)


def _matrix(p: Any, rows: int, cols: Any, name: str, what: str, where: str, dtype: Any) -> Any:
    """Raw rows x cols weight matrix (``cols`` None: any) in ``dtype``; errors name the size."""
    raw = p._data if isinstance(p, dlarray) else p
    if not hasattr(raw, "shape") or raw.ndim != 2 or raw.shape[0] != rows or \
            (cols is not None and raw.shape[1] != cols):
        got = "x".join(map(str, getattr(raw, "shape", ()))) or "a scalar"
        want = f"{rows}x{cols if cols is not None else 'InputSize'}"
        raise ValueError(f"{where}: {name} must be a {want} matrix ({what}), got size {got}")
    return raw.astype(dtype, copy=False)


def _vector(p: Any, n: int, name: str, what: str, where: str, dtype: Any) -> Any:
    raw = p._data if isinstance(p, dlarray) else p
    if not hasattr(raw, "shape") or raw.size != n:
        got = "x".join(map(str, getattr(raw, "shape", ()))) or "a scalar"
        raise ValueError(f"{where}: {name} must have {n} elements ({what}), got size {got}")
    return raw.reshape(n).astype(dtype, copy=False)


def _state(S: Any, H: int, N: int, name: str, where: str, dtype: Any) -> Any:
    """Initial state as (N, H): an H-vector is shared by every observation, an H x N array
    gives each its own."""
    raw = S._data if isinstance(S, dlarray) else S
    if not hasattr(raw, "shape"):
        raise TypeError(f"{where}: {name} must be a dlarray or a numeric array, "
                        f"got {type(S).__name__}")
    if raw.size == H:
        return raw.reshape(1, H).astype(dtype, copy=False)
    if raw.size == H * N and raw.ndim >= 1 and raw.shape[0] == H:
        return raw.reshape(H, N).T.astype(dtype, copy=False)
    got = "x".join(map(str, raw.shape)) or "a scalar"
    raise ValueError(f"{where}: {name} must be {H}x1 or {H}x{N} (NumHiddenUnits x 1, or "
                     f"NumHiddenUnits x number of observations), got size {got}")


def _state_grad(g: Any, S: Any) -> Any:
    """Gradient of an initial state from its (N, H) gradient, shaped like S."""
    if not isinstance(S, dlarray):
        return None
    raw = S._data
    if raw.size == g.shape[1]:
        g = g.sum(axis=0)
    else:
        g = g.T
    return g.reshape(raw.shape).astype(raw.dtype, copy=False)


def _piece(Z: dlarray, index: tuple, fmt: str, arrange: Any, unarrange: Any) -> dlarray:
    """``arrange(Z[index])`` as an op of its own: its gradient is ``unarrange(gy)`` placed in a
    zero array of Z's size. Splits the one recorded result of lstm/gru into its outputs."""
    z = Z._data

    def backward(gy: Any, needs: tuple) -> tuple:
        g = array_module(z).zeros_like(z)
        g[index] = unarrange(gy)
        return (g,)

    return record(arrange(z[index]), fmt, (Z,), backward)


def _projections(seq: _Sequence, W: Any, b: Any) -> tuple[Any, Any]:
    """The inputs as rows (T*N, C), time-major, and their projections W x_t + b of every
    step, (T, N, gates*H): one matrix product before the loop over time."""
    xp, C, N, T = array_module(seq.x, W), seq.C, seq.N, seq.T
    xt = xp.ascontiguousarray(seq.x.transpose(2, 1, 0)).reshape(T * N, C)
    return xt, (matmul(xt, W.T) + b).reshape(T, N, W.shape[0])


def _input_grads(dA2: Any, xt: Any, W: Any, seq: _Sequence, weights: Any,
                 needs_x: bool, needs_w: bool) -> tuple[Any, Any]:
    """Gradients of X (in X's layout) and of the input weights from the pre-activations'
    gradients (T*N, gates*H): one matrix product each after the loop over time."""
    dx = dW = None
    if needs_x:
        dx = matmul(dA2, W).reshape(seq.T, seq.N, seq.C).transpose(2, 1, 0)
        dx = seq.layout(dx, seq.C).reshape(seq.shape)
    if needs_w:
        dW = grad_like(matmul(dA2.T, xt), weights)
    return dx, dW


def _outputs(packed: dlarray, seq: _Sequence, H: int, cell: bool) -> tuple:
    """Y (X's labels), the last hidden state and, with ``cell``, the cell state: pieces of the
    one recorded result (H, N, T + cell), h_1..h_T then c_T along time."""
    T, state_fmt = seq.T, seq.state_fmt()
    Y = _piece(packed, (slice(None), slice(None), slice(0, T)), seq.out_fmt,
               lambda z: seq.layout(z, H), lambda gy: seq.unlayout(gy, H))
    hT = _piece(packed, (slice(None), slice(None), T - 1), state_fmt, lambda z: z, lambda g: g)
    if not cell:
        return Y, hT
    cT = _piece(packed, (slice(None), slice(None), T), state_fmt, lambda z: z, lambda g: g)
    return Y, hT, cT


# ---- the ops ---------------------------------------------------------------------------------

def lstm(X: Any, H0: Any, C0: Any, weights: Any, recurrentWeights: Any, bias: Any,
         *args: Any, DataFormat: str | None = None) -> tuple[dlarray, dlarray, dlarray]:
    """``[Y, hiddenState, cellState] = lstm(X, H0, C0, weights, recurrentWeights, bias)``.

    X: a formatted dlarray with a "C" dimension and optionally "B" and "T" (e.g. "CBT":
    C x N x T), or unformatted with ``DataFormat``. H0, C0: initial hidden and cell states,
    H x 1 (shared by all observations) or H x N. weights 4H x C, recurrentWeights 4H x H and bias
    4H: gate blocks in MATLAB's order input, forget, cell candidate, output. Returns Y (H
    channels, the labels of X: H x N x T for "CBT"), and the states after the last time step,
    H x N each ("CB" when X is formatted). Always three outputs: Python cannot see how many are
    asked for. Backward: backpropagation through time, gradients for all six inputs.
    """
    where = "lstm"
    o = op_options(where, args, {"DataFormat": DataFormat})
    seq = _Sequence(X, o["DataFormat"], where)
    dt, C, N, T = seq.x.dtype, seq.C, seq.N, seq.T
    R = _recurrent_matrix(recurrentWeights, 4, where, dt)
    H = R.shape[1]
    W = _matrix(weights, 4 * H, C, "weights", "4*NumHiddenUnits x InputSize", where, dt)
    b = _vector(bias, 4 * H, "bias", "4*NumHiddenUnits", where, dt)
    h0 = _state(H0, H, N, "H0", where, dt)
    c0 = _state(C0, H, N, "C0", where, dt)
    xp = array_module(seq.x, W, R)
    xt, A = _projections(seq, W, b)
    trace = _lstm_forward(A, R, h0, c0)
    hs, cs = trace[0], trace[1]
    # one result: h_1..h_T then c_T along time, as (H, N, T + 1)
    Z = xp.concatenate([hs[1:], cs[T:]], axis=0).transpose(2, 1, 0)

    def backward(gz: Any, needs: tuple) -> tuple:  # needs: X, H0, C0, W, R, b
        dA, dh, dc = _lstm_backward(gz.transpose(2, 1, 0), R, trace)
        dA2 = dA.reshape(T * N, 4 * H)
        dx, dW = _input_grads(dA2, xt, W, seq, weights, needs[0], needs[3])
        dR = grad_like(matmul(dA2.T, hs[:T].reshape(T * N, H)), recurrentWeights) \
            if needs[4] else None
        db = grad_like(dA2.sum(axis=0), bias) if needs[5] else None
        dh0 = _state_grad(dh, H0) if needs[1] else None
        dc0 = _state_grad(dc, C0) if needs[2] else None
        return dx, dh0, dc0, dW, dR, db

    packed = record(Z, "", (X, H0, C0, weights, recurrentWeights, bias), backward)
    return _outputs(packed, seq, H, cell=True)


def _reset_gate_mode(mode: Any, where: str) -> str:
    if not isinstance(mode, str) or mode.lower() not in RESET_GATE_MODES:
        raise ValueError(f"{where}: ResetGateMode must be "
                         + ", ".join(f"'{m}'" for m in RESET_GATE_MODES) + f", got {mode!r}")
    return mode.lower()


def gru(X: Any, H0: Any, weights: Any, recurrentWeights: Any, bias: Any, *args: Any,
        DataFormat: str | None = None,
        ResetGateMode: str = "after-multiplication") -> tuple[dlarray, dlarray]:
    """``[Y, hiddenState] = gru(X, H0, weights, recurrentWeights, bias)``.

    X as for ``lstm``; H0 H x 1 or H x N; weights 3H x C and recurrentWeights 3H x H with gate
    blocks in MATLAB's order reset, update, candidate; bias 3H, or 6H (input bias then recurrent
    bias) for ``ResetGateMode="recurrent-bias-after-multiplication"``. ResetGateMode
    "after-multiplication" (default) applies the reset gate to R_h h, "before-multiplication"
    to h before R_h (see the module docstring). Returns Y (H channels, X's labels) and the
    hidden state after the last time step, H x N. Backward: backpropagation through time.
    """
    where = "gru"
    o = op_options(where, args, {"DataFormat": DataFormat, "ResetGateMode": ResetGateMode})
    mode = _reset_gate_mode(o["ResetGateMode"], where)
    seq = _Sequence(X, o["DataFormat"], where)
    dt, C, N, T = seq.x.dtype, seq.C, seq.N, seq.T
    R = _recurrent_matrix(recurrentWeights, 3, where, dt)
    H = R.shape[1]
    W = _matrix(weights, 3 * H, C, "weights", "3*NumHiddenUnits x InputSize", where, dt)
    rec_bias = mode == "recurrent-bias-after-multiplication"
    nb = 6 * H if rec_bias else 3 * H
    b = _vector(bias, nb, "bias", f"{'6' if rec_bias else '3'}*NumHiddenUnits for "
                f"ResetGateMode '{mode}'", where, dt)
    h0 = _state(H0, H, N, "H0", where, dt)
    xp = array_module(seq.x, W, R)
    before = mode == "before-multiplication"
    xt, A = _projections(seq, W, b[:3 * H])
    trace = _gru_forward(A, R, h0, b[3 * H:] if rec_bias else None, before)
    hs, keep = trace[0], trace[3]
    Z = hs[1:].transpose(2, 1, 0)  # (H, N, T)

    def backward(gz: Any, needs: tuple) -> tuple:  # needs: X, H0, W, R, b
        dA, dRec, dh = _gru_backward(gz.transpose(2, 1, 0), R, trace, before)
        dA2, dR2 = dA.reshape(T * N, 3 * H), dRec.reshape(T * N, 3 * H)
        dx, dW = _input_grads(dA2, xt, W, seq, weights, needs[0], needs[2])
        dR = db = None
        if needs[3]:
            hprev = hs[:T].reshape(T * N, H)
            if before:  # the candidate's recurrent product acts on r ⊙ h
                dR = xp.concatenate([matmul(dR2[:, :2 * H].T, hprev),
                                     matmul(dR2[:, 2 * H:].T, keep.reshape(T * N, H))], axis=0)
            else:
                dR = matmul(dR2.T, hprev)
            dR = grad_like(dR, recurrentWeights)
        if needs[4]:
            db = dA2.sum(axis=0)
            if rec_bias:
                db = xp.concatenate([db, dR2.sum(axis=0)])
            db = grad_like(db, bias)
        dh0 = _state_grad(dh, H0) if needs[1] else None
        return dx, dh0, dW, dR, db

    packed = record(Z, "", (X, H0, weights, recurrentWeights, bias), backward)
    return _outputs(packed, seq, H, cell=False)
