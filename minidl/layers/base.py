"""The Layer base class, the Layer array, and the option parsing every layer constructor shares.

A layer is a thin object over a functional op: it holds hyperparameters, learnable parameters
(dlarrays, ``None`` until initialized) and state, and its ``predict`` calls the op. ``dlnetwork``
drives it through three hooks:

    initialize(input_size, fmt) -> (output_size, fmt)   sizes include the batch (B = 1), e.g.
                                                         (28, 28, 3, 1) with "SSCB"; set any
                                                         empty learnables here
    predict(X) -> Y                                      inference
    forward(X) -> Y or (Y, {state name: new value})      training (default: predict)

Writing a custom layer: subclass ``Layer``, list the learnable parameter names in the class
attribute ``learnables`` (MATLAB's ``properties (Learnable)``), give them values, and write
``predict``. For example, a leaky ReLU whose slope is learned::

    from minidl import dlarray, relu
    from minidl.layers import Layer, register_layer

    @register_layer                      # only needed to save and load it with minidl.io
    class PReLULayer(Layer):
        \"\"\"y = relu(x) - Alpha * relu(-x), with one learnable slope Alpha.\"\"\"

        learnables = ("Alpha",)
        default_name = "prelu"

        def __init__(self, alpha=0.25, Name=""):
            super().__init__(Name=Name)
            self.Alpha = dlarray([[alpha]])   # 1x1; stored as a dlarray

        def predict(self, X):
            return relu(X) - self.Alpha * relu(-X)

``dlnetwork`` then reports ``Alpha`` in ``net.Learnables``, differentiates it, and trains it.
A learnable whose size depends on the input is created in ``initialize`` (call
``super().initialize(input_size, fmt)`` at the end: it runs ``predict`` on zeros to find the
output size and format). Every learnable has learn-rate and L2 factors of 1 unless the layer has
``<Name>LearnRateFactor`` / ``<Name>L2Factor`` attributes (``setLearnRateFactor`` sets them).

More: ``predict`` receives formatted dlarrays (e.g. "SSCB") and returns one. Learnables may be
given as NumPy arrays: they are stored as dlarrays and moved to the active backend when the
network is initialized. State (like batch normalization's running statistics) is declared in
``states = (...)`` and updated by returning ``(Y, {name: new value})`` from ``forward``. ``Type``
and a ``Description`` attribute set the Layer array's Type and Description columns.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, ClassVar

import numpy as np

from .._matlab import (
    PropertyGroup,
    check_nonneg_real,
    check_positive_int,
    format_properties,
    format_value,
    parse_name_value,
    size_str,
)
from ..backend import active_module, array_module, to_module
from ..core import dlarray
from .initializers import BIAS_INITIALIZERS, WEIGHT_INITIALIZERS, check_initializer

__all__ = ["Layer", "LayerArray", "register_layer", "set_factor", "get_factor"]

_REGISTRY: dict[str, type[Layer]] = {}
Spec = dict[str, tuple[Any, Callable[[str, Any], Any]]]


def register_layer(cls: type[Layer]) -> type[Layer]:
    """Class decorator: let ``minidl.io.load`` rebuild layers of this class (by class name)."""
    if not (isinstance(cls, type) and issubclass(cls, Layer)):
        raise TypeError(f"register_layer expects a Layer subclass, got {cls!r}")
    _REGISTRY[cls.__name__] = cls
    return cls


def registered_layer(name: str) -> type[Layer] | None:
    """The registered layer class called ``name``, or None."""
    return _REGISTRY.get(name)


def _check_name(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"Name must be a character vector or string, got {format_value(value)}.")
    return str(value)


def as_param(name: str, value: Any) -> dlarray | None:
    """A learnable or state value as a dlarray (None stays None: MATLAB's empty [])."""
    if value is None or isinstance(value, dlarray):
        return value
    try:
        return dlarray(value)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must be a numeric array, got {format_value(value)}.") from err


def move_params(layer: Layer, xp: Any) -> None:
    """Put the layer's learnables and state on array module ``xp`` (given NumPy weights join a
    GPU network)."""
    for name in type(layer).learnables + type(layer).states:
        value = getattr(layer, name, None)
        if value is not None and array_module(value._data) is not xp:
            setattr(layer, name, dlarray._wrap(to_module(value._data, xp), value.fmt))


def show(value: Any) -> str:
    """A property value as MATLAB's object display writes it (a dlarray as its data)."""
    return format_value(value._data if isinstance(value, dlarray) else value)



class Layer:
    """Base class of every layer; subclass it (see the module docstring) for a custom layer.

    Class attributes: ``learnables`` and ``states`` (names of the parameters that go in
    ``net.Learnables`` and ``net.State``), ``Type`` (the Layer array's Type column; the class
    name by default) and ``default_name`` (what dlnetwork calls an unnamed layer).
    """

    learnables: ClassVar[tuple[str, ...]] = ()
    states: ClassVar[tuple[str, ...]] = ()
    Type: ClassVar[str] = ""
    default_name: ClassVar[str] = "layer"
    Name: str = ""

    def __init__(self, Name: str = "") -> None:
        self.Name = Name

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "Name":
            value = _check_name(value)
        elif name in type(self).learnables or name in type(self).states:
            value = as_param(name, value)
        object.__setattr__(self, name, value)

    def __copy__(self) -> Layer:
        """A shallow copy (the networks copy their layers on every update; this is 8x faster
        than copy's generic path)."""
        out = object.__new__(type(self))
        out.__dict__.update(self.__dict__)
        return out

    # ---- behaviour ---------------------------------------------------------------------------
    def predict(self, X: dlarray) -> dlarray:
        """The layer's output in inference mode."""
        raise NotImplementedError(f"{type(self).__name__} must define predict(self, X)")

    def forward(self, *X: dlarray) -> Any:
        """The output in training mode: Y, or (Y, {state name: new value}). Default: predict
        (of every input, for a layer with several)."""
        return self.predict(*X)

    def initialize(self, input_size: tuple[int, ...], fmt: str) -> tuple[tuple[int, ...], str]:
        """Output size and format for an input of ``input_size`` (B = 1) labelled ``fmt``.

        The default runs ``predict`` on zeros, so a custom layer only overrides this to create
        learnables whose size depends on the input (then calls ``super().initialize``).
        """
        xp = active_module()
        move_params(self, xp)
        X = dlarray._wrap(xp.zeros(tuple(input_size), dtype="float32"), fmt)
        Y = self.predict(X)
        if not isinstance(Y, dlarray):
            raise TypeError(f"layer '{self.Name}' ({type(self).__name__}): predict must return a "
                            f"dlarray, got {type(Y).__name__}")
        return tuple(Y.shape), Y.fmt

    def factors(self, name: str) -> tuple[float, float]:
        """(learn-rate factor, L2 factor) of learnable ``name``: <Stem>LearnRateFactor and
        <Stem>L2Factor (the stem of Weights is Weight), 1 when the layer has no such property."""
        stem = "Weight" if name == "Weights" else name
        return (float(getattr(self, stem + "LearnRateFactor", 1.0)),
                float(getattr(self, stem + "L2Factor", 1.0)))

    # ---- display -----------------------------------------------------------------------------
    @property
    def type_name(self) -> str:
        return type(self).Type or type(self).__name__

    def description(self) -> str:
        """The Layer array's Description column."""
        return str(getattr(self, "Description", "") or self.type_name)

    def _groups(self) -> list[PropertyGroup]:
        """Property blocks for the object display: Name, then the learnable parameters."""
        groups: list[PropertyGroup] = [(None, [("Name", show(self.Name))])]
        if self.learnables:
            groups.append(("Learnable Parameters",
                           [(n, show(getattr(self, n, None))) for n in self.learnables]))
        if self.states:
            groups.append(("State Parameters",
                           [(n, show(getattr(self, n, None))) for n in self.states]))
        return groups

    def __repr__(self) -> str:
        footer = "Show all properties" if self.learnables or self.states else None
        return format_properties(type(self).__name__, self._groups(), footer)

    def __add__(self, other: Any) -> LayerArray:
        return LayerArray([self]) + other

    def __radd__(self, other: Any) -> LayerArray:
        return LayerArray(other) + LayerArray([self])


class LayerArray(Sequence):
    """An ordered array of layers (MATLAB's ``[layer1; layer2; ...]``), displayed like MATLAB.

    Supports ``len``, indexing (an int gives a Layer, a slice a LayerArray), iteration and ``+``
    with another LayerArray, a list of layers or a layer. A plain list of layers is accepted
    wherever a LayerArray is.
    """

    def __init__(self, layers: Iterable[Layer] | Layer = ()) -> None:
        if not isinstance(layers, (Layer, Iterable)) or isinstance(layers, (str, bytes)) or (
                isinstance(layers, np.ndarray) and layers.ndim == 0):
            raise TypeError("layers: expected a layer or a list of layers, got "
                            f"{type(layers).__name__}")
        items = [layers] if isinstance(layers, Layer) else list(layers)
        for i, layer in enumerate(items):
            if not isinstance(layer, Layer):
                raise TypeError(f"LayerArray element {i} must be a layer, "
                                f"got {type(layer).__name__}")
        self._layers = items

    def __len__(self) -> int:
        return len(self._layers)

    def __getitem__(self, index: int | slice | Sequence[int]) -> Any:
        """A layer (int), or a Layer array (slice, or a list of 0-based positions as in MATLAB's
        ``layers([1 3])``)."""
        if isinstance(index, slice):
            return LayerArray(self._layers[index])
        if isinstance(index, (list, tuple, np.ndarray)):
            return LayerArray([self._layers[int(i)] for i in index])
        return self._layers[index]

    def __iter__(self) -> Iterator[Layer]:
        return iter(self._layers)

    def __add__(self, other: Any) -> LayerArray:
        return LayerArray(self._layers + list(LayerArray(other)))

    def __radd__(self, other: Any) -> LayerArray:
        return LayerArray(list(LayerArray(other)) + self._layers)

    def __repr__(self) -> str:
        return layer_array_display(self._layers)


def layer_array_display(layers: Sequence[Layer]) -> str:
    """MATLAB's Layer array display: index, quoted name, type and description in aligned columns.
    """
    n = len(layers)
    if n == 0:
        return "  0x0 empty Layer array."
    width = max(2, len(str(n)))
    names = [f"'{layer.Name}'" for layer in layers]
    types = [layer.type_name for layer in layers]
    nw, tw = max(map(len, names)), max(map(len, types))
    rows = [f"    {i:>{width}}   {name:<{nw}}   {kind:<{tw}}   {layer.description()}".rstrip()
            for i, (layer, name, kind) in enumerate(zip(layers, names, types), start=1)]
    return "\n".join([f"  {n}x1 Layer array with layers:", "", *rows])


# ---- option parsing shared by the layer constructors --------------------------------------------

def parse_options(where: str, args: tuple, kwargs: dict, spec: Spec) -> dict:
    """Name-Value pairs and keywords, validated: {name: value}, defaults for those not given.

    ``spec`` maps each option to (default, validator); a validator's ValueError is re-raised
    with ``where`` (the constructor's name) in front.
    """
    given = parse_name_value(args, kwargs, list(spec), where)
    out = {}
    for name, (default, check) in spec.items():
        out[name] = run_check(where, check, name, given[name]) if name in given else default
    return out


def run_check(where: str, check: Callable[[str, Any], Any], name: str, value: Any) -> Any:
    try:
        return check(name, value)
    except ValueError as err:
        raise ValueError(f"{where}: {err}") from None


def auto_or_positive_int(name: str, v: Any) -> str | int:
    """Validator for sizes MATLAB lets default to 'auto' (NumChannels, InputSize)."""
    if isinstance(v, str) and v.lower() == "auto":
        return "auto"
    try:
        return check_positive_int(name, v)
    except ValueError:
        raise ValueError(f"{name} must be 'auto' or a positive integer, "
                         f"got {format_value(v)}.") from None


def name_option() -> Spec:
    return {"Name": ("", lambda _n, v: _check_name(v))}


def weight_options() -> Spec:
    """Weights/Bias values and initializers, shared by the convolution and fc layers."""
    return {"WeightsInitializer": ("glorot", lambda n, v: check_initializer(
                n, v, WEIGHT_INITIALIZERS)),
            "BiasInitializer": ("zeros", lambda n, v: check_initializer(n, v, BIAS_INITIALIZERS)),
            "Weights": (None, as_param), "Bias": (None, as_param),
            **factor_options("Weight", "Bias")}


def factor_options(*stems: str) -> Spec:
    """Learn-rate and L2 factors of the given parameters (MATLAB defaults: 1, bias L2 0)."""
    spec: Spec = {}
    for stem in stems:
        spec[f"{stem}LearnRateFactor"] = (1.0, check_nonneg_real)
        spec[f"{stem}L2Factor"] = (0.0 if stem == "Bias" else 1.0, check_nonneg_real)
    return spec


# ---- MATLAB's factor accessors ------------------------------------------------------------------

def _stem(layer: Layer, name: str) -> str:
    if not isinstance(name, str):
        raise TypeError(f"parameterName must be a string such as 'Weights', got "
                        f"{type(name).__name__}.")
    if name not in type(layer).learnables:
        raise ValueError(f"'{name}' is not a learnable parameter of layer '{layer.Name}'; its "
                         f"learnables are {', '.join(type(layer).learnables) or 'none'}.")
    return "Weight" if name == "Weights" else name


def set_factor(layer: Layer, name: str, factor: Any, suffix: str) -> Layer:
    """A copy of ``layer`` whose parameter ``name`` has its LearnRateFactor or L2Factor
    (``suffix``) set to ``factor`` (MATLAB's layer form of setLearnRateFactor/setL2Factor)."""
    out = copy.copy(layer)
    setattr(out, _stem(layer, name) + suffix, check_nonneg_real("factor", factor))
    return out


def get_factor(layer: Layer, name: str, which: int) -> float:
    """The learn-rate (``which`` 0) or L2 (1) factor of ``layer``'s parameter ``name``."""
    _stem(layer, name)
    return layer.factors(name)[which]


# ---- input checks used by predict ---------------------------------------------------------------

def check_learnables(layer: Layer) -> None:
    """A ValueError naming the layer when one of its learnables is not set (not initialized)."""
    missing = [name for name in type(layer).learnables if getattr(layer, name, None) is None]
    if missing:
        raise ValueError(f"layer '{layer.Name}' ({layer.type_name}) has no {missing[0]}: "
                         "initialize it first (in a dlnetwork, or net.initialize())")


def check_input(layer: Layer, X: Any, formats: Sequence[str]) -> dlarray:
    """X, checked to be a dlarray in one of ``formats``; the error names the layer."""
    if not isinstance(X, dlarray):
        raise TypeError(f"layer '{layer.Name}' ({layer.type_name}) expects a dlarray input, "
                        f"got {type(X).__name__}")
    if X.fmt not in formats:
        raise ValueError(f"layer '{layer.Name}' ({layer.type_name}) expects input with format "
                         f"{' or '.join(repr(f) for f in formats)}, got "
                         f"{repr(X.fmt) if X.fmt else 'an unformatted dlarray'} of size "
                         f"{size_str(X.shape)}.")
    return X


def check_channels(layer: Layer, X: dlarray, expected: Any) -> None:
    """Raise a ValueError naming the layer when X's channel count differs from ``expected``."""
    if isinstance(expected, int) and "C" in X.fmt:
        got = X.shape[X.fmt.index("C")]
        if got != expected:
            raise ValueError(f"layer '{layer.Name}' ({layer.type_name}) expects input with "
                             f"{expected} channels, got {got} (input size {size_str(X.shape)}, "
                             f"format '{X.fmt}').")
