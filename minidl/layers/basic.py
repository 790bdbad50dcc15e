"""Core layers: fully connected, activations, softmax, dropout, flatten and function layers."""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from typing import Any

from .._matlab import (
    check_finite_real,
    check_flag,
    check_in_range,
    check_positive_int,
    check_text,
    format_value,
    size_str,
)
from ..backend import array_module, generator, to_module
from ..core import dlarray, stripdims
from ..ops import flatten, fullyconnect, leakyrelu, relu, sigmoid, softmax, tanh
from .base import (
    Layer,
    auto_or_positive_int,
    check_input,
    check_learnables,
    name_option,
    parse_options,
    register_layer,
    run_check,
    show,
    weight_options,
)
from .initializers import initialize

__all__ = ["fullyConnectedLayer", "reluLayer", "leakyReluLayer", "sigmoidLayer", "tanhLayer",
           "softmaxLayer", "dropoutLayer", "flattenLayer", "functionLayer",
           "FullyConnectedLayer", "ReLULayer", "LeakyReLULayer", "SigmoidLayer", "TanhLayer",
           "SoftmaxLayer", "DropoutLayer", "FlattenLayer", "FunctionLayer"]


def _formatted(layer: Layer, X: Any) -> dlarray:
    if isinstance(X, dlarray) and X.fmt:
        return X
    return check_input(layer, X, ("SSCB", "CB"))  # raises, naming the layer


def _features(input_size: tuple[int, ...], fmt: str) -> int:
    """Elements per observation (and time step): the product of the S, C and U sizes."""
    return math.prod(n for n, label in zip(input_size, fmt) if label in "SCU")


# ---- fully connected ----------------------------------------------------------------------------

@register_layer
class FullyConnectedLayer(Layer):
    """Weights (OutputSize x InputSize) times each observation's S, C and U elements (flattened in
    MATLAB's column-major order), plus Bias (OutputSize x 1): ``fullyconnect``. Output "CB"."""

    Type = "Fully Connected"
    default_name = "fc"
    learnables = ("Weights", "Bias")

    def __init__(self, outputSize: Any, *args: Any, **kwargs: Any) -> None:
        where = "fullyConnectedLayer"
        spec = {"InputSize": ("auto", auto_or_positive_int),
                **weight_options(), **name_option()}
        opts = parse_options(where, args, kwargs, spec)
        super().__init__(Name=opts.pop("Name"))
        self.OutputSize = run_check(where, check_positive_int, "outputSize", outputSize)
        for name, value in opts.items():
            setattr(self, name, value)
        if self.Weights is not None:
            if self.Weights.ndim != 2 or self.Weights.shape[0] != self.OutputSize or \
                    self.InputSize not in ("auto", self.Weights.shape[1]):
                raise ValueError(f"{where}: Weights must have size {self.OutputSize}x"
                                 f"{'InputSize' if self.InputSize == 'auto' else self.InputSize}"
                                 f" (OutputSize x InputSize), got {size_str(self.Weights.shape)}.")
            self.InputSize = self.Weights.shape[1]
        if self.Bias is not None:
            if self.Bias.size != self.OutputSize:
                raise ValueError(f"{where}: Bias must have {self.OutputSize} elements "
                                 f"(OutputSize x 1), got size {size_str(self.Bias.shape)}.")
            self.Bias = self.Bias.reshape(self.OutputSize, 1)

    def initialize(self, input_size: tuple[int, ...], fmt: str) -> tuple[tuple[int, ...], str]:
        n_in = _features(input_size, fmt)
        if self.InputSize not in ("auto", n_in):
            raise ValueError(f"layer '{self.Name}' ({self.type_name}) has InputSize "
                             f"{self.InputSize} but its input has {n_in} elements per "
                             f"observation (input size {size_str(input_size)}, format '{fmt}').")
        self.InputSize = n_in
        if self.Weights is None:
            self.Weights = initialize(self.WeightsInitializer, (self.OutputSize, n_in), n_in,
                                      self.OutputSize, "WeightsInitializer")
        if self.Bias is None:
            self.Bias = initialize(self.BiasInitializer, (self.OutputSize, 1), 1, 1,
                                   "BiasInitializer")
        rest = [(n, label) for n, label in zip(input_size, fmt) if label in "BT"]
        return (self.OutputSize, *(n for n, _ in rest)), "C" + "".join(lb for _, lb in rest)

    def predict(self, X: dlarray) -> dlarray:
        X = _formatted(self, X)
        n_in = _features(X.shape, X.fmt)
        if self.InputSize not in ("auto", n_in):
            raise ValueError(f"layer '{self.Name}' ({self.type_name}) expects {self.InputSize} "
                             f"input elements per observation, got {n_in} (input size "
                             f"{size_str(X.shape)}, format '{X.fmt}').")
        check_learnables(self)
        return fullyconnect(X, self.Weights, self.Bias)

    def description(self) -> str:
        return f"{self.OutputSize} fully connected layer"

    def _groups(self) -> list:
        return [(None, [("Name", show(self.Name))]),
                ("Hyperparameters", [("InputSize", show(self.InputSize)),
                                     ("OutputSize", show(self.OutputSize))]),
                ("Learnable Parameters", [("Weights", show(self.Weights)),
                                          ("Bias", show(self.Bias))])]


def fullyConnectedLayer(outputSize: int, *args: Any, **kwargs: Any) -> FullyConnectedLayer:
    """``fullyConnectedLayer(outputSize, WeightsInitializer="glorot", BiasInitializer="zeros",
    Weights=, Bias=, WeightLearnRateFactor=1, BiasLearnRateFactor=1, WeightL2Factor=1,
    BiasL2Factor=0, Name="")``: Weights OutputSize x InputSize, Bias OutputSize x 1."""
    return FullyConnectedLayer(outputSize, *args, **kwargs)


# ---- activations and softmax --------------------------------------------------------------------

class _ShapeKeeping(Layer):
    """A layer whose output has its input's size and format."""

    def initialize(self, input_size: tuple[int, ...], fmt: str) -> tuple[tuple[int, ...], str]:
        return tuple(input_size), fmt


@register_layer
class ReLULayer(_ShapeKeeping):
    """max(x, 0), elementwise."""

    Type = "ReLU"
    default_name = "relu"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(Name=parse_options("reluLayer", args, kwargs, name_option())["Name"])

    def predict(self, X: dlarray) -> dlarray:
        return relu(_formatted(self, X))

    def description(self) -> str:
        return "ReLU"


@register_layer
class LeakyReLULayer(_ShapeKeeping):
    """x for x > 0, Scale·x otherwise."""

    Type = "Leaky ReLU"
    default_name = "leakyrelu"

    def __init__(self, scale: Any = 0.01, *args: Any, **kwargs: Any) -> None:
        if isinstance(scale, str):  # leakyReluLayer("Name", "lrelu"): no scale given
            args, scale = (scale, *args), 0.01
        name = parse_options("leakyReluLayer", args, kwargs, name_option())["Name"]
        super().__init__(Name=name)
        if not (isinstance(scale, numbers.Real) and not isinstance(scale, bool)
                and math.isfinite(scale)):
            raise ValueError(f"leakyReluLayer: scale must be a finite real number, "
                             f"got {format_value(scale)}.")
        self.Scale = run_check("leakyReluLayer", check_finite_real, "scale", scale)

    def predict(self, X: dlarray) -> dlarray:
        return leakyrelu(_formatted(self, X), self.Scale)

    def description(self) -> str:
        return f"Leaky ReLU with scale {self.Scale:g}"

    def _groups(self) -> list:
        return [(None, [("Name", show(self.Name))]),
                ("Hyperparameters", [("Scale", show(self.Scale))])]


@register_layer
class SoftmaxLayer(_ShapeKeeping):
    """Softmax over the channel (C) dimension."""

    Type = "Softmax"
    default_name = "softmax"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(Name=parse_options("softmaxLayer", args, kwargs, name_option())["Name"])

    def predict(self, X: dlarray) -> dlarray:
        return softmax(_formatted(self, X))

    def description(self) -> str:
        return "softmax"


@register_layer
class SigmoidLayer(_ShapeKeeping):
    """1 / (1 + exp(−x)), elementwise."""

    Type = "Sigmoid"
    default_name = "sigmoid"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(Name=parse_options("sigmoidLayer", args, kwargs, name_option())["Name"])

    def predict(self, X: dlarray) -> dlarray:
        return sigmoid(_formatted(self, X))

    def description(self) -> str:
        return "sigmoid"


@register_layer
class TanhLayer(_ShapeKeeping):
    """tanh(x), elementwise."""

    Type = "Tanh"
    default_name = "tanh"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(Name=parse_options("tanhLayer", args, kwargs, name_option())["Name"])

    def predict(self, X: dlarray) -> dlarray:
        return tanh(_formatted(self, X))

    def description(self) -> str:
        return "Hyperbolic tangent"


def sigmoidLayer(*args: Any, **kwargs: Any) -> SigmoidLayer:
    """``sigmoidLayer(Name="")``: y = 1 / (1 + exp(−x))."""
    return SigmoidLayer(*args, **kwargs)


def tanhLayer(*args: Any, **kwargs: Any) -> TanhLayer:
    """``tanhLayer(Name="")``: y = tanh(x)."""
    return TanhLayer(*args, **kwargs)


def reluLayer(*args: Any, **kwargs: Any) -> ReLULayer:
    """``reluLayer(Name="")``: y = max(x, 0)."""
    return ReLULayer(*args, **kwargs)


def leakyReluLayer(scale: float = 0.01, *args: Any, **kwargs: Any) -> LeakyReLULayer:
    """``leakyReluLayer(scale=0.01, Name="")``: y = x for x > 0, scale·x otherwise."""
    return LeakyReLULayer(scale, *args, **kwargs)


def softmaxLayer(*args: Any, **kwargs: Any) -> SoftmaxLayer:
    """``softmaxLayer(Name="")``: softmax over the channels."""
    return SoftmaxLayer(*args, **kwargs)


# ---- dropout ------------------------------------------------------------------------------------

@register_layer
class DropoutLayer(_ShapeKeeping):
    """Training (``forward``): zero each element with probability p and scale the survivors by
    1/(1 − p), so the expected output equals the input. Prediction: the identity."""

    Type = "Dropout"
    default_name = "dropout"

    def __init__(self, probability: Any = 0.5, *args: Any, **kwargs: Any) -> None:
        if isinstance(probability, str):  # dropoutLayer("Name", "drop"): no probability given
            args, probability = (probability, *args), 0.5
        name = parse_options("dropoutLayer", args, kwargs, name_option())["Name"]
        super().__init__(Name=name)
        self.Probability = run_check("dropoutLayer", lambda n, v: check_in_range(
            n, v, 0, 1, hi_open=True), "probability", probability)

    def predict(self, X: dlarray) -> dlarray:
        return _formatted(self, X)

    def forward(self, X: dlarray) -> dlarray:
        X = _formatted(self, X)
        p = self.Probability
        if p == 0:
            return X
        keep = generator().random(X.shape) >= p
        mask = (keep / (1.0 - p)).astype(X.dtype)
        return X * to_module(mask, array_module(X._data))

    def description(self) -> str:
        return f"{self.Probability * 100:g}% dropout"

    def _groups(self) -> list:
        return [(None, [("Name", show(self.Name))]),
                ("Hyperparameters", [("Probability", show(self.Probability))])]


def dropoutLayer(probability: float = 0.5, *args: Any, **kwargs: Any) -> DropoutLayer:
    """``dropoutLayer(probability=0.5, Name="")``: random zeroing during training only."""
    return DropoutLayer(probability, *args, **kwargs)


# ---- flatten ------------------------------------------------------------------------------------

@register_layer
class FlattenLayer(Layer):
    """H x W x C x N ("SSCB") to (H·W·C) x N ("CB"), in MATLAB's column-major order."""

    Type = "Flatten"
    default_name = "flatten"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(Name=parse_options("flattenLayer", args, kwargs, name_option())["Name"])

    def initialize(self, input_size: tuple[int, ...], fmt: str) -> tuple[tuple[int, ...], str]:
        rest = [(n, label) for n, label in zip(input_size, fmt) if label not in "SC"]
        n = math.prod(n for n, label in zip(input_size, fmt) if label in "SC")
        return (n, *(k for k, _ in rest)), "C" + "".join(label for _, label in rest)

    def predict(self, X: dlarray) -> dlarray:
        X = _formatted(self, X)
        return X if "S" not in X.fmt else flatten(X)

    def description(self) -> str:
        return "Flatten"


def flattenLayer(*args: Any, **kwargs: Any) -> FlattenLayer:
    """``flattenLayer(Name="")``: S and C dimensions to one C dimension (column-major)."""
    return FlattenLayer(*args, **kwargs)


# ---- function layer -----------------------------------------------------------------------------

@register_layer
class FunctionLayer(Layer):
    """Applies PredictFcn to its input; its output size is found by running it on zeros.

    With Formattable false (the default) the function gets X without labels and its result is
    given X's format back (so it must keep X's number of dimensions); with Formattable true it
    gets the formatted dlarray and must return one. A FunctionLayer cannot be saved by
    ``minidl.io.save`` (a Python function is not data): write a registered custom layer instead.
    """

    Type = "Function"
    default_name = "layer"

    def __init__(self, fun: Callable, *args: Any, **kwargs: Any) -> None:
        where = "functionLayer"
        if not callable(fun):
            raise ValueError(f"{where}: fun must be a function (callable), "
                             f"got {format_value(fun)}.")
        opts = parse_options(where, args, kwargs, {
            "Formattable": (False, check_flag), "Acceleratable": (False, check_flag),
            "Description": (None, check_text), **name_option()})
        super().__init__(Name=opts["Name"])
        self.PredictFcn = fun
        self.Formattable = opts["Formattable"]
        self.Acceleratable = opts["Acceleratable"]
        self.Description = opts["Description"] if opts["Description"] is not None \
            else format_value(fun)

    def predict(self, X: dlarray) -> dlarray:
        X = _formatted(self, X)
        Y = self.PredictFcn(X if self.Formattable else stripdims(X))
        if not isinstance(Y, dlarray):
            raise TypeError(f"layer '{self.Name}' (Function): PredictFcn must return a dlarray, "
                            f"got {type(Y).__name__}")
        if self.Formattable or Y.fmt:
            return Y
        if Y.ndim > len(X.fmt):
            raise ValueError(f"layer '{self.Name}' (Function): PredictFcn returned "
                             f"{Y.ndim} dimensions but the input format '{X.fmt}' has "
                             f"{len(X.fmt)}; set Formattable=True and label the output.")
        return dlarray(Y, X.fmt)

    def _groups(self) -> list:
        return [(None, [("Name", show(self.Name)), ("PredictFcn", show(self.PredictFcn)),
                        ("Formattable", show(self.Formattable)),
                        ("Acceleratable", show(self.Acceleratable))])]


def functionLayer(fun: Callable, *args: Any, **kwargs: Any) -> FunctionLayer:
    """``functionLayer(fun, Formattable=False, Acceleratable=False, Description=, Name="")``:
    a layer that applies ``fun`` (no learnables, no state)."""
    return FunctionLayer(fun, *args, **kwargs)
