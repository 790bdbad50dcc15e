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

Each op is recorded as ONE node over the whole sequence: the forward loop over time keeps the
gate activations it needs, and the backward closure beside it runs the same loop in reverse
(backpropagation through time). The input projections ``W x_t`` of all time steps are one matrix
product before the loop, and the input and weight gradients one product each after it, so the
Python loop does only the recurrent product per step; every step is vectorized over observations
and hidden units. The three outputs (``Y``, ``hiddenState``, ``cellState``) are views of one
recorded result, so gradients arriving through any of them meet in that one backward.
"""

from __future__ import annotations

from typing import Any

from ..backend import array_module
from ..backend.threads import matmul
from ..core import dlarray, inverse_permutation, record
from .activations import sigmoid_kernel
from .args import labelled, op_options

__all__ = ["lstm", "gru"]

RESET_GATE_MODES = ("after-multiplication", "before-multiplication",
                    "recurrent-bias-after-multiplication")


# ---- shared helpers ----------------------------------------------------------------------------

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


def _param_grad(g: Any, p: Any) -> Any:
    if not isinstance(p, dlarray):
        return None
    return g.reshape(p._data.shape).astype(p._data.dtype, copy=False)


def _piece(Z: dlarray, index: tuple, fmt: str, arrange: Any, unarrange: Any) -> dlarray:
    """``arrange(Z[index])`` as an op of its own: its gradient is ``unarrange(gy)`` placed in a
    zero array of Z's size. Splits the one recorded result of lstm/gru into its outputs."""
    z = Z._data

    def backward(gy: Any, needs: tuple) -> tuple:
        g = array_module(z).zeros_like(z)
        g[index] = unarrange(gy)
        return (g,)

    return record(arrange(z[index]), fmt, (Z,), backward)


# ---- lstm ----------------------------------------------------------------------------------

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

    xt = xp.ascontiguousarray(seq.x.transpose(2, 1, 0)).reshape(T * N, C)  # (T*N, C)
    A = (matmul(xt, W.T) + b).reshape(T, N, 4 * H)  # input projections of every step
    hs = xp.empty((T + 1, N, H), dt)  # h_0 .. h_T
    cs = xp.empty((T + 1, N, H), dt)  # c_0 .. c_T
    gates = xp.empty((T, N, 4 * H), dt)  # i, f, g, o after their activations
    tcs = xp.empty((T, N, H), dt)  # tanh(c_t)
    hs[0], cs[0] = h0, c0
    for t in range(T):
        a = A[t] + hs[t] @ R.T
        gt = gates[t]
        gt[:, :2 * H] = sigmoid_kernel(a[:, :2 * H])
        gt[:, 2 * H:3 * H] = xp.tanh(a[:, 2 * H:3 * H])
        gt[:, 3 * H:] = sigmoid_kernel(a[:, 3 * H:])
        i, f, g, og = gt[:, :H], gt[:, H:2 * H], gt[:, 2 * H:3 * H], gt[:, 3 * H:]
        cs[t + 1] = f * cs[t] + i * g
        tcs[t] = xp.tanh(cs[t + 1])
        hs[t + 1] = og * tcs[t]
    # one result: h_1..h_T then c_T along time, as (H, N, T + 1)
    Z = xp.concatenate([hs[1:], cs[T:]], axis=0).transpose(2, 1, 0)

    def backward(gz: Any, needs: tuple) -> tuple:
        gy = gz.transpose(2, 1, 0)  # (T + 1, N, H)
        dh = xp.zeros((N, H), dt)
        dc = xp.ascontiguousarray(gy[T])
        dA = xp.empty((T, N, 4 * H), dt)
        for t in range(T - 1, -1, -1):
            gt = gates[t]
            i, f, g, og = gt[:, :H], gt[:, H:2 * H], gt[:, 2 * H:3 * H], gt[:, 3 * H:]
            dh = dh + gy[t]
            tc = tcs[t]
            dc = dc + dh * og * (1 - tc * tc)
            da = dA[t]
            da[:, :H] = dc * g * i * (1 - i)
            da[:, H:2 * H] = dc * cs[t] * f * (1 - f)
            da[:, 2 * H:3 * H] = dc * i * (1 - g * g)
            da[:, 3 * H:] = dh * tc * og * (1 - og)
            dc = dc * f
            dh = da @ R
        dA2 = dA.reshape(T * N, 4 * H)
        dx = dW = dR = db = None
        if needs[0]:
            dx = matmul(dA2, W).reshape(T, N, C).transpose(2, 1, 0)
            dx = seq.layout(dx, C).reshape(seq.shape)
        if needs[3]:
            dW = _param_grad(matmul(dA2.T, xt), weights)
        if needs[4]:
            dR = _param_grad(matmul(dA2.T, hs[:T].reshape(T * N, H)), recurrentWeights)
        if needs[5]:
            db = _param_grad(dA2.sum(axis=0), bias)
        dh0 = _state_grad(dh, H0) if needs[1] else None
        dc0 = _state_grad(dc, C0) if needs[2] else None
        return dx, dh0, dc0, dW, dR, db

    packed = record(Z, "", (X, H0, C0, weights, recurrentWeights, bias), backward)
    Y = _piece(packed, (slice(None), slice(None), slice(0, T)), seq.out_fmt,
               lambda z: seq.layout(z, H), lambda gy: seq.unlayout(gy, H))
    hT = _piece(packed, (slice(None), slice(None), T - 1), seq.state_fmt(),
                lambda z: z, lambda gy: gy)
    cT = _piece(packed, (slice(None), slice(None), T), seq.state_fmt(),
                lambda z: z, lambda gy: gy)
    return Y, hT, cT


# ---- gru -----------------------------------------------------------------------------------

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
    mode = o["ResetGateMode"]
    if not isinstance(mode, str) or mode.lower() not in RESET_GATE_MODES:
        raise ValueError(f"{where}: ResetGateMode must be "
                         + ", ".join(f"'{m}'" for m in RESET_GATE_MODES) + f", got {mode!r}")
    mode = mode.lower()
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
    bR = b[3 * H:] if rec_bias else None

    xt = xp.ascontiguousarray(seq.x.transpose(2, 1, 0)).reshape(T * N, C)
    A = (matmul(xt, W.T) + b[:3 * H]).reshape(T, N, 3 * H)
    hs = xp.empty((T + 1, N, H), dt)
    rz = xp.empty((T, N, 2 * H), dt)  # r, z
    hc = xp.empty((T, N, H), dt)  # candidate h̃
    keep = xp.empty((T, N, H), dt)  # R_h h (+ b_R,h) after, or r ⊙ h before
    hs[0] = h0
    for t in range(T):
        h = hs[t]
        if before:
            rh = h @ R[:2 * H].T
            rz[t] = sigmoid_kernel(A[t, :, :2 * H] + rh)
            r = rz[t, :, :H]
            keep[t] = r * h
            hc[t] = xp.tanh(A[t, :, 2 * H:] + keep[t] @ R[2 * H:].T)
        else:
            rh = h @ R.T
            if rec_bias:
                rh = rh + bR
            rz[t] = sigmoid_kernel(A[t, :, :2 * H] + rh[:, :2 * H])
            keep[t] = rh[:, 2 * H:]
            hc[t] = xp.tanh(A[t, :, 2 * H:] + rz[t, :, :H] * keep[t])
        z = rz[t, :, H:]
        hs[t + 1] = (1 - z) * hc[t] + z * h
    Z = hs[1:].transpose(2, 1, 0)  # (H, N, T)

    def backward(gz: Any, needs: tuple) -> tuple:
        gy = gz.transpose(2, 1, 0)  # (T, N, H)
        dh = xp.zeros((N, H), dt)
        dA = xp.empty((T, N, 3 * H), dt)  # gradients of the pre-activations (input side)
        dRin = xp.empty((T, N, 3 * H), dt)  # gradients of the recurrent products' outputs
        for t in range(T - 1, -1, -1):
            h, r, z, c = hs[t], rz[t, :, :H], rz[t, :, H:], hc[t]
            dh = dh + gy[t]
            dac = dh * (1 - z) * (1 - c * c)
            dz = dh * (h - c)
            dh_prev = dh * z
            da = dA[t]
            da[:, 2 * H:] = dac
            da[:, H:2 * H] = dz * z * (1 - z)
            if before:
                drh = dac @ R[2 * H:]  # gradient of r ⊙ h
                da[:, :H] = drh * h * r * (1 - r)
                dh_prev = dh_prev + drh * r + da[:, :2 * H] @ R[:2 * H]
                dRin[t, :, :2 * H] = da[:, :2 * H]
                dRin[t, :, 2 * H:] = dac
            else:
                da[:, :H] = dac * keep[t] * r * (1 - r)
                dRin[t, :, :2 * H] = da[:, :2 * H]
                dRin[t, :, 2 * H:] = dac * r
                dh_prev = dh_prev + dRin[t] @ R
            dh = dh_prev
        dA2 = dA.reshape(T * N, 3 * H)
        dR2 = dRin.reshape(T * N, 3 * H)
        dx = dW = dR = db = None
        if needs[0]:
            dx = matmul(dA2, W).reshape(T, N, C).transpose(2, 1, 0)
            dx = seq.layout(dx, C).reshape(seq.shape)
        if needs[2]:
            dW = _param_grad(matmul(dA2.T, xt), weights)
        if needs[3]:
            hprev = hs[:T].reshape(T * N, H)
            if before:  # the candidate's recurrent product acts on r ⊙ h
                dR = xp.concatenate([matmul(dR2[:, :2 * H].T, hprev),
                                     matmul(dR2[:, 2 * H:].T, keep.reshape(T * N, H))], axis=0)
            else:
                dR = matmul(dR2.T, hprev)
            dR = _param_grad(dR, recurrentWeights)
        if needs[4]:
            db = dA2.sum(axis=0)
            if rec_bias:
                db = xp.concatenate([db, dR2.sum(axis=0)])
            db = _param_grad(db, bias)
        dh0 = _state_grad(dh, H0) if needs[1] else None
        return dx, dh0, dW, dR, db

    packed = record(Z, "", (X, H0, weights, recurrentWeights, bias), backward)
    Y = _piece(packed, (slice(None), slice(None), slice(0, T)), seq.out_fmt,
               lambda z: seq.layout(z, H), lambda gy: seq.unlayout(gy, H))
    hT = _piece(packed, (slice(None), slice(None), T - 1), seq.state_fmt(),
                lambda z: z, lambda gy: gy)
    return Y, hT
