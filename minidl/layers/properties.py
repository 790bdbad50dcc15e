"""The checks a built-in layer's stored properties pass when ``load`` (networks.io) rebuilds it.

``load`` sets a layer's properties directly (no constructor runs), so every property a file
carries goes through the validator its constructor applies to the same option: the table below
names those validators (imported from the constructors' modules, not rewritten), so a file
cannot hold a value the constructor would refuse (a dropout probability of 5, an unknown
normalization, a negative learn-rate factor, a NaN leaky-ReLU scale, a zero stride). Learnables
and state (arrays) are checked by ``networks.io``; custom layers are not in the table.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .._matlab import (
    check_choice,
    check_finite_real,
    check_in_range,
    check_nonneg_real,
    check_positive_int,
    check_positive_real,
    to_padding,
    to_pair,
)
from .base import auto_or_positive_int
from .conv import check_padding_value, check_zero_padding_value
from .initializers import BIAS_INITIALIZERS, WEIGHT_INITIALIZERS, check_initializer
from .input import DIMENSIONS, check_normalization
from .norm import NORM_INITIALIZERS, check_decay, check_num_groups, check_operation_dimension
from .recurrent import RESET_GATE_MODES

__all__ = ["property_checks", "validate_properties"]

Check = Callable[[str, Any], Any]


def _choices(*names: str) -> Check:
    return lambda n, v: check_choice(n, v, names)


def _initializer(choices: tuple[str, ...]) -> Check:
    return lambda n, v: check_initializer(n, v, choices)


def _probability(name: str, v: Any) -> float:
    return check_in_range(name, v, 0, 1, hi_open=True)  # dropoutLayer's check


def _table() -> dict[Any, Check]:
    """Property name (or (class name, property name) where classes differ) -> the validator
    its constructor applies."""
    pair = to_pair
    table: dict[Any, Check] = {
        "Stride": pair, "DilationFactor": pair, "FilterSize": pair, "PoolSize": pair,
        "PaddingSize": lambda n, v: v if v is None else to_padding(n, v),  # None: "same"
        ("Convolution2DLayer", "PaddingValue"): check_zero_padding_value,
        ("AveragePooling2DLayer", "PaddingValue"): check_padding_value,
        **{(cls, "InputSize"): auto_or_positive_int  # input layers: checked by networks.io
           for cls in ("FullyConnectedLayer", "LSTMLayer", "BiLSTMLayer", "GRULayer")},
        "PaddingMode": _choices("manual", "same"),
        "NumFilters": check_positive_int, "OutputSize": check_positive_int,
        "NumHiddenUnits": check_positive_int, "NumInputs": check_positive_int,
        "Dim": check_positive_int, "MinLength": check_positive_int,
        "NumGroups": check_num_groups, "NumChannels": auto_or_positive_int,
        "Epsilon": check_positive_real, "OperationDimension": check_operation_dimension,
        "MeanDecay": check_decay, "VarianceDecay": check_decay,
        "Probability": _probability, "Scale": check_finite_real,
        "Normalization": check_normalization, "NormalizationDimension":
            lambda n, v: check_choice(n, v, DIMENSIONS),
        "OutputMode": _choices("sequence", "last"),
        "StateActivationFunction": _choices("tanh"), "GateActivationFunction":
            _choices("sigmoid"), "ResetGateMode": lambda n, v: check_choice(n, v, RESET_GATE_MODES),
        "WeightsInitializer": _initializer(WEIGHT_INITIALIZERS),
        "InputWeightsInitializer": _initializer(WEIGHT_INITIALIZERS),
        "RecurrentWeightsInitializer": _initializer(WEIGHT_INITIALIZERS),
        "ScaleInitializer": _initializer(_norm_initializers()),
        "OffsetInitializer": _initializer(_norm_initializers()),
    }
    return table


def _norm_initializers() -> tuple[str, ...]:
    return tuple(NORM_INITIALIZERS)


_TABLE: dict[Any, Check] | None = None


def property_checks() -> dict[Any, Check]:
    """Property name (or (class name, property name)) -> its constructor's validator."""
    global _TABLE
    if _TABLE is None:
        _TABLE = _table()
    return _TABLE


def validate_properties(layer: Any, label: str) -> None:
    """Run each stored non-array property of a built-in layer through its constructor's
    validator; a ValueError naming the layer and the
    property when one fails. Array values (learnables, statistics) are left to the caller."""
    table = property_checks()
    if not type(layer).__module__.startswith("minidl."):
        return  # a custom layer: its own class decides what its properties may be
    for name, value in list(vars(layer).items()):
        if hasattr(value, "shape") and hasattr(value, "dtype"):
            continue
        if name.endswith(("LearnRateFactor", "L2Factor")):
            check: Check | None = check_nonneg_real
        elif name == "BiasInitializer":
            check = _initializer(tuple(getattr(type(layer), "bias_initializers",
                                               BIAS_INITIALIZERS)))
        else:
            check = table.get((type(layer).__name__, name), table.get(name))
        if check is None or (name == "Scale" and value is None):
            continue
        try:
            check(name, value)
        except (TypeError, ValueError) as err:
            raise ValueError(f"{label}: {err}") from None
