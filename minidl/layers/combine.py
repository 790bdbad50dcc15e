"""Layers with several inputs: additionLayer, concatenationLayer and depthConcatenationLayer.

These join the branches of a network (a residual block ends in an additionLayer; an
Inception-style block in a depthConcatenationLayer). What MATLAB's reference pages say and minidl
keeps (paraphrased): the layer is created with its number of inputs, at least 2; the inputs are
named "in1", "in2", ..., "inN" and those names are what ``connectLayers`` and
``disconnectLayers`` use ("add/in2"); there is one output, "out". An addition layer sums its inputs
element by element and needs inputs of one size; a concatenation layer joins inputs along the
dimension ``dim`` (spatial or channel dimensions only), the other sizes being equal; a depth
concatenation layer joins along the channel dimension inputs of equal height and width.

The multi-input protocol that ``dlnetwork`` uses (a custom multi-input layer follows it too):

    NumInputs, InputNames          how many inputs and their names ("in1", ...)
    initialize(sizes, fmts)        lists, one entry per input -> (output size, fmt)
    predict(X1, ..., XN)           inference; forward(X1, ..., XN) defaults to it

A layer without ``NumInputs`` has one input, named "in".
"""

from __future__ import annotations

from typing import Any

from .._matlab import check_positive_int, format_value, size_str
from ..backend import active_module
from ..core import dlarray
from ..ops import concatenate
from .base import Layer, name_option, parse_options, register_layer, run_check, show
from .input import InputLayer

__all__ = ["additionLayer", "concatenationLayer", "depthConcatenationLayer",
           "AdditionLayer", "ConcatenationLayer", "DepthConcatenationLayer"]


def _num_inputs(where: str, value: Any) -> int:
    n = run_check(where, check_positive_int, "numInputs", value)
    if n < 2:
        raise ValueError(f"{where}: numInputs must be an integer of at least 2, got "
                         f"{format_value(value)}.")
    return n


class _MultiInputLayer(Layer):
    """A layer with NumInputs inputs named "in1".."inN" and one output: the shared checks."""

    NumOutputs = 1
    OutputNames = ("out",)

    @property
    def InputNames(self) -> tuple[str, ...]:
        return tuple(f"in{i}" for i in range(1, self.NumInputs + 1))

    def initialize(self, input_sizes: Any, fmts: Any) -> tuple[tuple[int, ...], str]:
        """Output size and format for inputs of ``input_sizes`` (B = 1), labelled ``fmts``:
        runs predict on zeros, as the base class does for one input."""
        xp = active_module()
        Xs = [dlarray._wrap(xp.zeros(tuple(s), dtype="float32"), f)
              for s, f in zip(input_sizes, fmts)]
        Y = self.predict(*Xs)
        return tuple(Y.shape), Y.fmt

    def forward(self, *Xs: dlarray) -> dlarray:
        """Training mode: the same as predict (no state, nothing random)."""
        return self.predict(*Xs)

    def _inputs(self, Xs: tuple) -> tuple[dlarray, ...]:
        """The inputs, checked: NumInputs formatted dlarrays of one format."""
        label = f"layer '{self.Name}' ({self.type_name})"
        if len(Xs) != self.NumInputs:
            raise ValueError(f"{label} has {self.NumInputs} inputs, got {len(Xs)}.")
        for name, X in zip(self.InputNames, Xs):
            if not isinstance(X, dlarray):
                raise TypeError(f"{label} expects dlarray inputs, got {type(X).__name__} at "
                                f"input '{name}'")
        fmts = [X.fmt for X in Xs]
        if not fmts[0] or len(set(fmts)) > 1:
            shown = ", ".join(f"{n}: '{f}'" if f else f"{n}: unformatted"
                              for n, f in zip(self.InputNames, fmts))
            raise ValueError(f"{label} expects formatted inputs of one format, got {shown}.")
        return Xs

    def _sizes(self, Xs: tuple) -> str:
        return ", ".join(f"{n}: {size_str(X.shape)}" for n, X in zip(self.InputNames, Xs))

    def _groups(self) -> list:
        names = "{" + "  ".join(f"'{n}'" for n in self.InputNames) + "}"
        rows = [("Name", show(self.Name)), *self._hyper_rows(),
                ("NumInputs", show(self.NumInputs)), ("InputNames", names)]
        return [(None, rows)]

    def _hyper_rows(self) -> list[tuple[str, str]]:
        return []


@register_layer
class AdditionLayer(_MultiInputLayer):
    """The element-wise sum of NumInputs inputs of one size and format (``X1 + X2 + ...``).

    MATLAB's reference page asks for inputs of the same dimensions; minidl checks that and names
    the layer and every input's size when they differ (no implicit broadcasting). The gradient
    of the sum reaches every input unchanged.
    """

    Type = "Addition"
    default_name = "addition"

    def __init__(self, numInputs: Any, *args: Any, **kwargs: Any) -> None:
        name = parse_options("additionLayer", args, kwargs, name_option())["Name"]
        super().__init__(Name=name)
        self.NumInputs = _num_inputs("additionLayer", numInputs)

    def predict(self, *Xs: dlarray) -> dlarray:
        Xs = self._inputs(Xs)
        if len({tuple(X.shape) for X in Xs}) > 1:
            raise ValueError(f"layer '{self.Name}' ({self.type_name}) adds inputs of one size, "
                             f"got {self._sizes(Xs)} (format '{Xs[0].fmt}').")
        Y = Xs[0]
        for X in Xs[1:]:
            Y = Y + X
        return Y

    def description(self) -> str:
        return f"Element-wise addition of {self.NumInputs} inputs"


class _ConcatenatingLayer(_MultiInputLayer):
    """Concatenation along one labelled dimension; all other sizes must agree."""

    def _axis(self, fmt: str) -> int:
        raise NotImplementedError

    def predict(self, *Xs: dlarray) -> dlarray:
        Xs = self._inputs(Xs)
        axis = self._axis(Xs[0].fmt)
        others = {tuple(n for i, n in enumerate(X.shape) if i != axis) for X in Xs}
        if len(others) > 1:
            raise ValueError(f"layer '{self.Name}' ({self.type_name}) concatenates along "
                             f"dimension {axis + 1} ('{Xs[0].fmt[axis]}') inputs whose other "
                             f"sizes agree, got {self._sizes(Xs)} (format '{Xs[0].fmt}').")
        return concatenate(Xs, axis)


@register_layer
class ConcatenationLayer(_ConcatenatingLayer):
    """Inputs joined along dimension ``Dim`` (1-based, in the canonical order of the data
    format: for "SSCB" images 1 and 2 are height and width, 3 the channels; for "CB" features 1
    is the channels). As on MATLAB's page, only spatial and channel dimensions can be joined."""

    Type = "Concatenation"
    default_name = "concat"

    def __init__(self, dim: Any, numInputs: Any, *args: Any, **kwargs: Any) -> None:
        name = parse_options("concatenationLayer", args, kwargs, name_option())["Name"]
        super().__init__(Name=name)
        self.Dim = run_check("concatenationLayer", check_positive_int, "dim", dim)
        self.NumInputs = _num_inputs("concatenationLayer", numInputs)

    def _axis(self, fmt: str) -> int:
        if self.Dim > len(fmt) or fmt[self.Dim - 1] not in "SC":
            got = f"'{fmt[self.Dim - 1]}'" if self.Dim <= len(fmt) else "none"
            raise ValueError(f"layer '{self.Name}' ({self.type_name}) concatenates along "
                             f"dimension {self.Dim}, which must be a spatial ('S') or channel "
                             f"('C') dimension of its input format '{fmt}' (got {got}).")
        return self.Dim - 1

    def description(self) -> str:
        return f"Concatenation of {self.NumInputs} inputs along dimension {self.Dim}"

    def _hyper_rows(self) -> list[tuple[str, str]]:
        return [("Dim", show(self.Dim))]


@register_layer
class DepthConcatenationLayer(_ConcatenatingLayer):
    """Inputs of equal height and width joined along the channel ("C") dimension."""

    Type = "Depth concatenation"
    default_name = "depthcat"

    def __init__(self, numInputs: Any, *args: Any, **kwargs: Any) -> None:
        name = parse_options("depthConcatenationLayer", args, kwargs, name_option())["Name"]
        super().__init__(Name=name)
        self.NumInputs = _num_inputs("depthConcatenationLayer", numInputs)

    def _axis(self, fmt: str) -> int:
        if "C" not in fmt:
            raise ValueError(f"layer '{self.Name}' ({self.type_name}) concatenates along the "
                             f"channel dimension, but its input format '{fmt}' has none.")
        return fmt.index("C")

    def description(self) -> str:
        return f"Depth concatenation of {self.NumInputs} inputs"


def additionLayer(numInputs: int, *args: Any, **kwargs: Any) -> AdditionLayer:
    """``additionLayer(numInputs, Name="")``: the element-wise sum of inputs "in1".."inN"."""
    return AdditionLayer(numInputs, *args, **kwargs)


def concatenationLayer(dim: int, numInputs: int, *args: Any, **kwargs: Any) -> ConcatenationLayer:
    """``concatenationLayer(dim, numInputs, Name="")``: inputs "in1".."inN" joined along
    dimension ``dim`` (a spatial or the channel dimension)."""
    return ConcatenationLayer(dim, numInputs, *args, **kwargs)


def depthConcatenationLayer(numInputs: int, *args: Any, **kwargs: Any) -> DepthConcatenationLayer:
    """``depthConcatenationLayer(numInputs, Name="")``: inputs "in1".."inN" joined along the
    channels."""
    return DepthConcatenationLayer(numInputs, *args, **kwargs)


def input_names(layer: Layer) -> tuple[str, ...]:
    """A layer's input names: ``InputNames`` of a multi-input layer, () for an input layer
    (it has none), else ("in",)."""
    if isinstance(layer, InputLayer):
        return ()
    return tuple(getattr(layer, "InputNames", ("in",)))
