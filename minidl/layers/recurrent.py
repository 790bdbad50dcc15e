"""Sequence layers: ``sequenceInputLayer``, ``lstmLayer``, ``bilstmLayer`` and ``gruLayer``.

Sequence data is "CBT": C channels x B observations x T time steps (a formatted dlarray, or the
padded mini-batches ``minidl.sequences`` makes from a list of S x C sequences).

The recurrent layers are thin wrappers over ``minidl.ops.recurrent``: the learnables are
InputWeights (G*H x InputSize), RecurrentWeights (G*H x H) and Bias (G*H x 1), with G = 4 gate
blocks for an LSTM (input, forget, cell candidate, output) and 3 for a GRU (reset, update,
candidate), H = NumHiddenUnits, laid out as MATLAB lays them out. The state (HiddenState, and
CellState for an LSTM) is the initial state of every sequence: H x 1 zeros, shared by all
observations, until ``forward`` returns the states after the last time step (H x N, one column
per observation), which a caller may keep with ``net.State = state`` for stateful use (the next
mini-batch must then have the same N). ``predict`` uses the stored state and changes nothing.

OutputMode "sequence" gives "CBT" output (H x N x T); "last" gives the last time step, "CB"
(H x N), for sequence-to-label networks. Defaults follow MATLAB: InputWeightsInitializer
"glorot", RecurrentWeightsInitializer "orthogonal", BiasInitializer "unit-forget-gate" for the
LSTM (forget-gate bias 1, others 0) and "zeros" for the GRU; Bias L2 factor 0.

``bilstmLayer`` is two LSTMs side by side (one reads the sequence forward, one backward), so
its sizes double: 8H rows of weights and bias, 2H rows of state and output channels (see
``BiLSTMLayer``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._matlab import check_choice, check_positive_int, format_value, size_str
from ..backend import active_module, array_module, to_module
from ..core import dlarray
from ..ops import RESET_GATE_MODES, concatenate, gru, lstm
from .base import (
    Layer,
    as_param,
    auto_or_positive_int,
    check_input,
    check_learnables,
    factor_options,
    move_params,
    name_option,
    parse_options,
    register_layer,
    run_check,
    show,
)
from .initializers import WEIGHT_INITIALIZERS, check_initializer, initialize
from .input import InputLayer, input_options

__all__ = ["sequenceInputLayer", "lstmLayer", "bilstmLayer", "gruLayer", "SequenceInputLayer",
           "LSTMLayer", "BiLSTMLayer", "GRULayer"]


# ---- sequence input -------------------------------------------------------------------------

@register_layer
class SequenceInputLayer(InputLayer):
    """Sequence input: labels C x N x T data "CBT", checks the channel count and the minimum
    length, and normalizes per channel (statistics over all time steps of all sequences)."""

    Type = "Sequence Input"
    constructor = "sequenceInputLayer"
    default_name = "sequenceinput"
    fmt = "CBT"

    def __init__(self, inputSize: Any, *args: Any, **kwargs: Any) -> None:
        spec = {**input_options("none"), "MinLength": (1, check_positive_int)}
        opts = parse_options("sequenceInputLayer", args, kwargs, spec)
        self.InputSize = run_check("sequenceInputLayer", check_positive_int, "inputSize",
                                   inputSize)
        self.MinLength = opts.pop("MinLength")
        super().__init__(opts)

    @property
    def sample_size(self) -> tuple[int, ...]:
        return (self.InputSize,)

    def initialize(self, input_size: Any = None, fmt: Any = None) -> tuple[tuple[int, ...], str]:
        """C x 1 x MinLength: one observation of the shortest length the network accepts."""
        return (self.InputSize, 1, self.MinLength), self.fmt

    def prepare(self, X: Any) -> dlarray:
        """X as "CBT": a formatted dlarray as it is ("CT", one sequence, gets B = 1); raw data
        in MATLAB trainnet's layout, S x C (one sequence) or N x S x C, as minidl's trainnet
        and minibatchpredict read it; float64 made float32."""
        if isinstance(X, dlarray) and X.fmt:
            if X.fmt == "CT":
                return dlarray._wrap(X._data.reshape(X.shape[0], 1, X.shape[1]), "CBT")
            return X
        data = X._data if isinstance(X, dlarray) else X
        if data.dtype.kind != "f" or data.dtype == "float64":  # integers too, as dlarray does
            data = data.astype("float32")
        if data.ndim == 2:
            data = data[None]  # one S x C sequence: 1 x S x C
        if data.ndim != 3:
            raise ValueError(f"layer '{self.Name}' ({self.type_name}) expects raw sequence data "
                             f"S x C (one sequence) or N x S x C (observations x time steps x "
                             f"channels), got size {size_str(data.shape)}; or give a formatted "
                             "dlarray, e.g. dlarray(X, \"CBT\")")
        return dlarray._wrap(data.transpose(2, 0, 1), "CBT")  # N x S x C -> C x N x S

    def predict(self, X: dlarray) -> dlarray:
        X = check_input(self, X, (self.fmt,))
        C, _, T = X.shape
        if C != self.InputSize:
            raise ValueError(f"layer '{self.Name}' ({self.type_name}) expects sequences with "
                             f"{self.InputSize} channels, got {C} (input size "
                             f"{size_str(X.shape)}, format 'CBT').")
        if T < self.MinLength:
            raise ValueError(f"layer '{self.Name}' ({self.type_name}) expects sequences of at "
                             f"least MinLength = {self.MinLength} time steps, got {T}.")
        return self._normalize(X)

    def fit_normalization(self, X: Any) -> None:
        """Statistics from training sequences: a list of C x S arrays (every time step of every
        sequence counts once; no padding) or a C x N x S array."""
        if isinstance(X, (list, tuple)):
            parts = [np.asarray(to_module(s, np) if array_module(s) is not np else s)
                     for s in X]
            x = np.concatenate([p.reshape(p.shape[0], -1) for p in parts], axis=1)
        else:
            data = X.extractdata() if isinstance(X, dlarray) else X
            x = np.asarray(to_module(data, np) if array_module(data) is not np else data)
            x = x.reshape(x.shape[0], -1)
        super().fit_normalization(x)

    def description(self) -> str:
        return f"Sequence input with {self.InputSize} dimensions{self._suffix()}"

    def _groups(self) -> list:
        return [(None, [("Name", show(self.Name)), ("InputSize", show(self.InputSize)),
                        ("MinLength", show(self.MinLength))]),
                ("Hyperparameters", self._hyper_rows())]


def sequenceInputLayer(inputSize: Any, *args: Any, **kwargs: Any) -> SequenceInputLayer:
    """``sequenceInputLayer(inputSize, MinLength=1, Normalization="none", ...)``: sequences of
    inputSize channels, "CBT". Normalization options as ``featureInputLayer`` (statistics per
    channel over every time step)."""
    return SequenceInputLayer(inputSize, *args, **kwargs)


# ---- LSTM and GRU ---------------------------------------------------------------------------

def _fixed(value: str) -> Any:
    """Validator of an activation option minidl supports only at MATLAB's default."""
    def check(name: str, v: Any) -> str:
        if isinstance(v, str) and v.lower() == value:
            return value
        raise ValueError(f"{name} must be '{value}' (the only one minidl supports), got "
                         f"{format_value(v)}.")
    return check


class _RecurrentLayer(Layer):
    """Shared behaviour of lstmLayer, bilstmLayer and gruLayer: options, sizes, initialization,
    display."""

    learnables = ("InputWeights", "RecurrentWeights", "Bias")
    gates = 4  # gate blocks of H rows in the weights, over all directions
    directions = 1  # 2 for bilstmLayer: the rows of states and outputs are directions * H
    where = ""
    # states whose second dimension follows the mini-batch (H x 1 or H x N): what a network
    # may resize on ``net.State = state`` and what trainnet resets after each mini-batch
    batch_states: tuple[str, ...] = ()
    bias_initializers: tuple[str, ...] = ()
    default_bias = ""

    def __init__(self, numHiddenUnits: Any, args: tuple, kwargs: dict, extra: dict) -> None:
        where = self.where
        choices = self.bias_initializers
        spec = {"OutputMode": ("sequence", lambda n, v: check_choice(n, v, ("sequence",
                                                                            "last"))),
                "InputSize": ("auto", auto_or_positive_int),
                "StateActivationFunction": ("tanh", _fixed("tanh")),
                "GateActivationFunction": ("sigmoid", _fixed("sigmoid")),
                **extra,
                "InputWeightsInitializer": ("glorot", lambda n, v: check_initializer(
                    n, v, WEIGHT_INITIALIZERS)),
                "RecurrentWeightsInitializer": ("orthogonal", lambda n, v: check_initializer(
                    n, v, WEIGHT_INITIALIZERS)),
                "BiasInitializer": (self.default_bias,
                                    lambda n, v: check_initializer(n, v, choices)),
                "InputWeights": (None, as_param), "RecurrentWeights": (None, as_param),
                "Bias": (None, as_param),
                **{s: (None, as_param) for s in self.states},
                **factor_options("InputWeights", "RecurrentWeights", "Bias"), **name_option()}
        opts = parse_options(where, args, kwargs, spec)
        super().__init__(Name=opts.pop("Name"))
        self.NumHiddenUnits = run_check(where, check_positive_int, "numHiddenUnits",
                                        numHiddenUnits)
        for name, value in opts.items():
            setattr(self, name, value)
        self._check_given()

    # ---- sizes ---------------------------------------------------------------------------
    @property
    def bias_size(self) -> int:
        return self.gates * self.NumHiddenUnits

    @property
    def state_rows(self) -> int:
        """Rows of each state and channels of the output: H per direction."""
        return self.directions * self.NumHiddenUnits

    def _rows_text(self) -> str:
        return f"{self.directions}*NumHiddenUnits" if self.directions > 1 else "NumHiddenUnits"

    def _check_given(self) -> None:
        """Sizes of weights and states given to the constructor (G*H rows, ...)."""
        where, H, G = self.where, self.NumHiddenUnits, self.gates
        W, R, b = self.InputWeights, self.RecurrentWeights, self.Bias
        if W is not None:
            if W.ndim != 2 or W.shape[0] != G * H or self.InputSize not in ("auto", W.shape[1]):
                raise ValueError(f"{where}: InputWeights must have size {G * H}x"
                                 f"{'InputSize' if self.InputSize == 'auto' else self.InputSize}"
                                 f" ({G}*NumHiddenUnits x InputSize), got {size_str(W.shape)}.")
            self.InputSize = W.shape[1]
        if R is not None and tuple(R.shape) != (G * H, H):
            raise ValueError(f"{where}: RecurrentWeights must have size {G * H}x{H} "
                             f"({G}*NumHiddenUnits x NumHiddenUnits), got {size_str(R.shape)}.")
        if b is not None:
            if b.size != self.bias_size:
                raise ValueError(f"{where}: Bias must have {self.bias_size} elements "
                                 f"({self.bias_size // H}*NumHiddenUnits x 1), got size "
                                 f"{size_str(b.shape)}.")
            self.Bias = b.reshape(self.bias_size, 1)
        rows = self.state_rows
        for s in self.states:
            v = getattr(self, s)
            if v is not None and (v.ndim != 2 or v.shape[0] != rows):
                raise ValueError(f"{where}: {s} must be {self._rows_text()} x 1 ({rows}x1), "
                                 f"got size {size_str(v.shape)}.")

    def _input_channels(self, input_size: tuple[int, ...], fmt: str) -> int:
        if "C" not in fmt or set(fmt) - set("CBT"):
            raise ValueError(f"layer '{self.Name}' ({self.type_name}) expects sequence input "
                             f"with format 'CBT' (or 'CB'), got size {size_str(input_size)} with "
                             f"format '{fmt}'.")
        return int(input_size[fmt.index("C")])

    def initialize(self, input_size: tuple[int, ...], fmt: str) -> tuple[tuple[int, ...], str]:
        """Create the empty learnables for an input of ``input_size`` channels x B x T."""
        xp = active_module()
        move_params(self, xp)
        n_in = self._input_channels(input_size, fmt)
        if self.InputSize not in ("auto", n_in):
            raise ValueError(f"layer '{self.Name}' ({self.type_name}) has InputSize "
                             f"{self.InputSize} but its input has {n_in} channels (input size "
                             f"{size_str(input_size)}, format '{fmt}').")
        self.InputSize = n_in
        H, G = self.NumHiddenUnits, self.gates
        if self.InputWeights is None:
            self.InputWeights = initialize(self.InputWeightsInitializer, (G * H, n_in), n_in,
                                           G * H, "InputWeightsInitializer")
        if self.RecurrentWeights is None:
            self.RecurrentWeights = initialize(self.RecurrentWeightsInitializer, (G * H, H), H,
                                               G * H, "RecurrentWeightsInitializer")
        if self.Bias is None:
            self.Bias = self._initial_bias()
        rows = self.state_rows
        for s in self.states:
            if getattr(self, s) is None:
                setattr(self, s, xp.zeros((rows, 1), dtype="float32"))
        sizes = dict(zip(fmt, input_size))
        if self.OutputMode == "last":
            return (rows, sizes.get("B", 1)), "CB"
        return tuple(rows if label == "C" else n for label, n in zip(fmt, input_size)), fmt

    def _initial_bias(self) -> Any:
        init, n = self.BiasInitializer, self.bias_size
        if init == "unit-forget-gate":
            H, block = self.NumHiddenUnits, n // self.directions
            b = np.zeros((n, 1), np.float32)
            for d in range(self.directions):  # each direction's forget gate block
                b[d * block + H:d * block + 2 * H] = 1
            return to_module(b, active_module())
        return initialize(init, (n, 1), 1, 1, "BiasInitializer")

    # ---- evaluation ----------------------------------------------------------------------
    def _inputs(self, X: Any) -> tuple[dlarray, list]:
        """X checked, and the stored states (an error when they fit neither H x 1 nor N)."""
        if not isinstance(X, dlarray) or not X.fmt:
            check_input(self, X, ("CBT", "CB"))
        self._input_channels(X.shape, X.fmt)
        check_learnables(self)
        H = self.state_rows
        n = X.shape[X.fmt.index("B")] if "B" in X.fmt else 1
        states = []
        for s in self.states:
            v = getattr(self, s)
            if v is None:
                v = dlarray._wrap(array_module(X._data).zeros((H, 1), dtype=X.dtype))
            elif v.size not in (H, H * n):
                raise ValueError(f"layer '{self.Name}' ({self.type_name}) has {s} of size "
                                 f"{size_str(v.shape)}, from a mini-batch of {v.shape[-1]} "
                                 f"observations, but this input has {n}: it must be {H}x1 "
                                 f"(shared by all observations) or {H}x{n}; set net.State back "
                                 f"to {H}x1 values to reset it.")
            states.append(v)
        return X, states

    def _output(self, Y: dlarray, hT: dlarray) -> dlarray:
        return hT if self.OutputMode == "last" else Y

    # ---- display -------------------------------------------------------------------------
    def description(self) -> str:
        return f"{self.type_name} with {self.NumHiddenUnits} hidden units"

    def _hyper_rows(self) -> list:
        return [("InputSize", show(self.InputSize)),
                ("NumHiddenUnits", show(self.NumHiddenUnits)),
                ("OutputMode", show(self.OutputMode)),
                ("StateActivationFunction", show(self.StateActivationFunction)),
                ("GateActivationFunction", show(self.GateActivationFunction))]

    def _groups(self) -> list:
        return [(None, [("Name", show(self.Name))]),
                ("Hyperparameters", self._hyper_rows()),
                ("Learnable Parameters", [(n, show(getattr(self, n))) for n in self.learnables]),
                ("State Parameters", [(n, show(getattr(self, n))) for n in self.states])]


def _plain(v: dlarray) -> dlarray:
    """A state value as the layer stores it: the data, unformatted."""
    return dlarray._wrap(v._data)


@register_layer
class LSTMLayer(_RecurrentLayer):
    """Long short-term memory over the time dimension: ``lstm`` with the layer's learnables and
    its HiddenState/CellState as the initial states."""

    Type = "LSTM"
    default_name = "lstm"
    states = ("HiddenState", "CellState")
    batch_states = states
    gates = 4
    where = "lstmLayer"
    bias_initializers = ("unit-forget-gate", "narrow-normal", "ones", "zeros")
    default_bias = "unit-forget-gate"

    def __init__(self, numHiddenUnits: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(numHiddenUnits, args, kwargs, {})

    def predict(self, X: dlarray) -> dlarray:
        X, (h0, c0) = self._inputs(X)
        Y, hT, _ = lstm(X, h0, c0, self.InputWeights, self.RecurrentWeights, self.Bias)
        return self._output(Y, hT)

    def forward(self, X: dlarray) -> tuple[dlarray, dict]:
        X, (h0, c0) = self._inputs(X)
        Y, hT, cT = lstm(X, h0, c0, self.InputWeights, self.RecurrentWeights, self.Bias)
        return self._output(Y, hT), {"HiddenState": _plain(hT), "CellState": _plain(cT)}


def _reverse_time(X: dlarray) -> dlarray:
    """X with its time steps in reverse order (as it is when it has no "T" dimension); an
    indexing op, so the gradient is flipped back."""
    if "T" not in X.fmt:
        return X
    return X[tuple(slice(None, None, -1) if label == "T" else slice(None) for label in X.fmt)]


@register_layer
class BiLSTMLayer(_RecurrentLayer):
    """Bidirectional LSTM: one ``lstm`` reads the sequence from first to last step, a second
    reads it from last to first, and their hidden states are stacked as channels (forward
    rows first), so every output step sees the whole sequence.

    Confirmed from the property help of MATLAB's own BiLSTMLayer class file (a 2017 version,
    found through the code index; the current bilstmLayer doc page was not reachable):
    InputWeights 8H x InputSize, RecurrentWeights 8H x H and Bias 8H x 1 stack the forward
    LSTM's four gate blocks above the backward LSTM's, each in lstmLayer's order input, forget,
    cell candidate, output; HiddenState and CellState are 2H x 1. From that version's execution
    code: the two halves are concatenated, forward first (a MathWorks answer, "What is the merge
    mode of Bidirectional LSTM?", also says concatenation is the only mode); the backward LSTM
    runs on the time-flipped input; "last" takes the forward output at the last step and the
    backward LSTM's output after the whole flipped sequence, i.e. at the first step; and the
    states after a pass are both directions' final states. The Layer array row, "BiLSTM" and
    "BiLSTM with H hidden units", comes from MATLAB transcripts in published examples.

    minidl's choices, not confirmed against MATLAB's current documentation: the options and
    defaults are lstmLayer's (InputSize, the three initializers, StateActivationFunction,
    GateActivationFunction, HiddenState/CellState values, scalar learn-rate and L2 factors;
    MATLAB also takes 1 x 8 factor vectors, one per gate block, which minidl does not);
    "glorot" uses fanOut = 8H (the whole InputWeights matrix), "orthogonal" makes the whole
    8H x H RecurrentWeights matrix have orthonormal columns, and "unit-forget-gate" sets both
    directions' forget gate biases to 1.
    """

    Type = "BiLSTM"
    default_name = "bilstm"
    states = ("HiddenState", "CellState")
    batch_states = states
    gates = 8
    directions = 2
    where = "bilstmLayer"
    bias_initializers = LSTMLayer.bias_initializers
    default_bias = "unit-forget-gate"

    def __init__(self, numHiddenUnits: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(numHiddenUnits, args, kwargs, {})

    def _both(self, X: dlarray) -> tuple[dlarray, dlarray, dlarray]:
        """(output, hidden state, cell state) of both directions, each stacked forward first.
        The backward LSTM runs on the time-reversed input; its sequence output is reversed
        back, so step t of both halves belongs to input step t."""
        X, (h0, c0) = self._inputs(X)
        H = self.NumHiddenUnits
        W, R, b = self.InputWeights, self.RecurrentWeights, self.Bias
        outs = []
        for d, Xd in ((0, X), (1, _reverse_time(X))):
            gates, rows = slice(4 * H * d, 4 * H * (d + 1)), slice(H * d, H * (d + 1))
            # an H x 1 initial state shared by all observations stays H x 1 for its half
            outs.append(lstm(Xd, h0[rows], c0[rows], W[gates], R[gates], b[gates]))
        (Yf, hf, cf), (Yb, hb, cb) = outs
        # the halves stacked as channels, in lstm's (time-major) memory order
        hT = concatenate((hf, hb), 0, keep_layout=True)  # hb: the backward LSTM's output at step 1
        Y = hT if self.OutputMode == "last" else \
            concatenate((Yf, _reverse_time(Yb)), 0, keep_layout=True)
        return Y, hT, concatenate((cf, cb), 0, keep_layout=True)

    def predict(self, X: dlarray) -> dlarray:
        return self._both(X)[0]

    def forward(self, X: dlarray) -> tuple[dlarray, dict]:
        Y, hT, cT = self._both(X)
        return Y, {"HiddenState": _plain(hT), "CellState": _plain(cT)}


@register_layer
class GRULayer(_RecurrentLayer):
    """Gated recurrent unit over the time dimension: ``gru`` with the layer's learnables,
    ResetGateMode and its HiddenState as the initial state."""

    Type = "GRU"
    default_name = "gru"
    states = ("HiddenState",)
    batch_states = states
    gates = 3
    where = "gruLayer"
    bias_initializers = ("zeros", "narrow-normal", "ones")
    default_bias = "zeros"

    def __init__(self, numHiddenUnits: Any, *args: Any, **kwargs: Any) -> None:
        extra = {"ResetGateMode": ("after-multiplication",
                                   lambda n, v: check_choice(n, v, RESET_GATE_MODES))}
        super().__init__(numHiddenUnits, args, kwargs, extra)

    @property
    def bias_size(self) -> int:
        factor = 6 if self.ResetGateMode == "recurrent-bias-after-multiplication" else 3
        return factor * self.NumHiddenUnits

    def predict(self, X: dlarray) -> dlarray:
        X, (h0,) = self._inputs(X)
        Y, hT = gru(X, h0, self.InputWeights, self.RecurrentWeights, self.Bias,
                    ResetGateMode=self.ResetGateMode)
        return self._output(Y, hT)

    def forward(self, X: dlarray) -> tuple[dlarray, dict]:
        X, (h0,) = self._inputs(X)
        Y, hT = gru(X, h0, self.InputWeights, self.RecurrentWeights, self.Bias,
                    ResetGateMode=self.ResetGateMode)
        return self._output(Y, hT), {"HiddenState": _plain(hT)}

    def _hyper_rows(self) -> list:
        return super()._hyper_rows() + [("ResetGateMode", show(self.ResetGateMode))]


def lstmLayer(numHiddenUnits: Any, *args: Any, **kwargs: Any) -> LSTMLayer:
    """``lstmLayer(numHiddenUnits, OutputMode="sequence", ...)``: an LSTM layer.

    OutputMode "sequence" (H x N x T, "CBT") or "last" (H x N, "CB"). Options: InputSize,
    InputWeightsInitializer ("glorot"), RecurrentWeightsInitializer ("orthogonal"),
    BiasInitializer ("unit-forget-gate", "narrow-normal", "ones", "zeros" or a function),
    InputWeights, RecurrentWeights, Bias, HiddenState, CellState, <Parameter>LearnRateFactor,
    <Parameter>L2Factor, StateActivationFunction ("tanh"), GateActivationFunction ("sigmoid"),
    Name.
    """
    return LSTMLayer(numHiddenUnits, *args, **kwargs)


def bilstmLayer(numHiddenUnits: Any, *args: Any, **kwargs: Any) -> BiLSTMLayer:
    """``bilstmLayer(numHiddenUnits, OutputMode="sequence", ...)``: a bidirectional LSTM layer,
    numHiddenUnits per direction.

    OutputMode "sequence" (2H x N x T, "CBT": forward then backward hidden states of each step)
    or "last" (2H x N, "CB": the forward LSTM's last step and the backward LSTM's first).
    Options as ``lstmLayer``, with sizes doubled: InputWeights 8H x InputSize, RecurrentWeights
    8H x H, Bias 8H x 1 (forward gate blocks, then backward), HiddenState and CellState 2H x 1.
    """
    return BiLSTMLayer(numHiddenUnits, *args, **kwargs)


def gruLayer(numHiddenUnits: Any, *args: Any, **kwargs: Any) -> GRULayer:
    """``gruLayer(numHiddenUnits, OutputMode="sequence", ResetGateMode="after-multiplication",
    ...)``: a GRU layer. Options as ``lstmLayer`` (no CellState; BiasInitializer "zeros" by
    default), plus ResetGateMode "after-multiplication", "before-multiplication" or
    "recurrent-bias-after-multiplication" (Bias then 6*NumHiddenUnits x 1)."""
    return GRULayer(numHiddenUnits, *args, **kwargs)
