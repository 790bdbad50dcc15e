"""Normalization layers over ``minidl.ops.norm``: batch, instance, layer and group normalization.

Each normalizes with a mean and variance, then scales and shifts per channel with the learnable
Scale (γ) and Offset (β). Scale and Offset (and batch normalization's TrainedMean and
TrainedVariance) are 1 x 1 x C for image input and C x 1 for feature input, as MATLAB reports
them; NumChannels is read from the input when the network is initialized.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._matlab import (
    check_in_range,
    check_positive_int,
    check_positive_real,
    format_value,
    size_str,
)
from ..core import dlarray
from ..ops import batchnorm, groupnorm, instancenorm, layer_shared_labels, layernorm
from .base import (
    Layer,
    Spec,
    as_param,
    check_channels,
    check_input,
    check_learnables,
    factor_options,
    name_option,
    parse_options,
    register_layer,
    run_check,
    show,
)
from .initializers import check_initializer, initialize

__all__ = ["batchNormalizationLayer", "instanceNormalizationLayer", "layerNormalizationLayer",
           "groupNormalizationLayer", "BatchNormalizationLayer", "InstanceNormalizationLayer",
           "LayerNormalizationLayer", "GroupNormalizationLayer"]

NORM_INITIALIZERS = ("ones", "zeros", "narrow-normal")


def _norm_options(extra: Spec) -> Spec:
    def init(default: str) -> tuple:
        return default, lambda n, v: check_initializer(n, v, NORM_INITIALIZERS)

    return {"Epsilon": (1e-5, check_positive_real), **extra,
            "ScaleInitializer": init("ones"), "OffsetInitializer": init("zeros"),
            "Scale": (None, as_param), "Offset": (None, as_param),
            **factor_options("Scale", "Offset"), **name_option()}


class _NormalizationLayer(Layer):
    """Shared behaviour: options, per-channel parameters and the input checks."""

    learnables = ("Offset", "Scale")
    where = ""
    kind = ""

    def __init__(self, args: tuple, kwargs: dict, extra: Spec | None = None) -> None:
        opts = parse_options(self.where, args, kwargs, _norm_options(extra or {}))
        super().__init__(Name=opts.pop("Name"))
        self.NumChannels: Any = "auto"
        for name, value in opts.items():
            setattr(self, name, value)
        for name in type(self).learnables + type(self).states:
            if getattr(self, name) is not None:
                self._adopt(name, getattr(self, name).size)

    def _adopt(self, name: str, channels: int) -> None:
        """A given parameter fixes NumChannels; all given parameters must agree on it."""
        if self.NumChannels not in ("auto", channels):
            raise ValueError(f"{self.where}: {name} has {channels} elements but other parameters "
                             f"have {self.NumChannels} (one value per channel).")
        self.NumChannels = channels

    def _param_shape(self, fmt: str, c: int) -> tuple[int, ...]:
        n_s = fmt.count("S")
        return (1,) * n_s + (c,) if n_s else (c, 1)

    def initialize(self, input_size: tuple[int, ...], fmt: str) -> tuple[tuple[int, ...], str]:
        if "C" not in fmt:
            raise ValueError(f"layer '{self.Name}' ({self.type_name}) needs input with a channel "
                             f"('C') dimension, got format '{fmt}' of size {size_str(input_size)}.")
        c = input_size[fmt.index("C")]
        if self.NumChannels not in ("auto", c):
            raise ValueError(f"layer '{self.Name}' ({self.type_name}) has {self.NumChannels} "
                             f"channels but its input has {c} (input size "
                             f"{size_str(input_size)}, format '{fmt}').")
        self.NumChannels = c
        shape = self._param_shape(fmt, c)
        for name in type(self).learnables + type(self).states:
            value = getattr(self, name)
            if value is None:
                value = initialize(self._initializer(name), shape, c, c, f"{name}Initializer")
            setattr(self, name, value.reshape(shape) if tuple(value.shape) != shape else value)
        return tuple(input_size), fmt

    def _initializer(self, name: str) -> Any:
        return getattr(self, f"{name}Initializer")

    def _check(self, X: Any) -> dlarray:
        """X, checked to be a dlarray with a C dimension of NumChannels channels."""
        if not (isinstance(X, dlarray) and "C" in X.fmt):
            check_input(self, X, ("SSCB", "CB"))  # raises, naming the layer
        check_channels(self, X, self.NumChannels)
        check_learnables(self)
        return X

    def description(self) -> str:
        text = f"{self.kind} normalization"
        return text if self.NumChannels == "auto" else f"{text} with {self.NumChannels} channels"

    def _groups(self) -> list:
        return [(None, [("Name", show(self.Name)), ("NumChannels", show(self.NumChannels))]),
                ("Hyperparameters", [(n, show(getattr(self, n))) for n in self._hyper_names()]),
                ("Learnable Parameters", [("Offset", show(self.Offset)),
                                          ("Scale", show(self.Scale))])]

    def _hyper_names(self) -> tuple[str, ...]:
        return ("Epsilon",)


@register_layer
class InstanceNormalizationLayer(_NormalizationLayer):
    """Instance normalization: statistics per channel of each observation (``instancenorm``)."""

    Type = "Instance Normalization"
    default_name = "instancenorm"
    where, kind = "instanceNormalizationLayer", "Instance"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(args, kwargs)

    def predict(self, X: dlarray) -> dlarray:
        return instancenorm(self._check(X), self.Offset, self.Scale, Epsilon=self.Epsilon)


def check_operation_dimension(name: str, v: Any) -> str:
    if isinstance(v, str):
        layer_shared_labels(v, "", name)  # raises for an unknown value
        return v.lower()
    raise ValueError(f"{name} must be 'auto', 'channel-only', 'spatial-channel' or "
                     f"'batch-excluded', got {format_value(v)}.")


@register_layer
class LayerNormalizationLayer(_NormalizationLayer):
    """Layer normalization: statistics per observation over its channels, and over its S (and
    T) elements as OperationDimension says: "auto" (default) is "spatial-channel" for 2-D/3-D
    images and "channel-only" (per time step) for feature and sequence data."""

    Type = "Layer Normalization"
    default_name = "layernorm"
    where, kind = "layerNormalizationLayer", "Layer"
    #: networks saved before the option existed normalized over everything but B
    OperationDimension = "batch-excluded"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(args, kwargs, {"OperationDimension": ("auto", check_operation_dimension)})

    def predict(self, X: dlarray) -> dlarray:
        return layernorm(self._check(X), self.Offset, self.Scale, Epsilon=self.Epsilon,
                         OperationDimension=self.OperationDimension)

    def _hyper_names(self) -> tuple[str, ...]:
        return ("Epsilon", "OperationDimension")


def check_num_groups(name: str, v: Any) -> int | str:
    if isinstance(v, str) and v.lower() in ("all-channels", "channel-wise"):
        return v.lower()
    try:
        return check_positive_int(name, v)
    except ValueError:
        raise ValueError(f"{name} must be a positive integer, 'all-channels' or 'channel-wise', "
                         f"got {format_value(v)}.") from None


@register_layer
class GroupNormalizationLayer(_NormalizationLayer):
    """Group normalization: statistics per group of consecutive channels of each observation."""

    Type = "Group Normalization"
    default_name = "groupnorm"
    where, kind = "groupNormalizationLayer", "Group"

    def __init__(self, numGroups: Any, *args: Any, **kwargs: Any) -> None:
        self.NumGroups = run_check(self.where, check_num_groups, "numGroups", numGroups)
        super().__init__(args, kwargs)

    def initialize(self, input_size: tuple[int, ...], fmt: str) -> tuple[tuple[int, ...], str]:
        out = super().initialize(input_size, fmt)
        if isinstance(self.NumGroups, int) and self.NumChannels % self.NumGroups:
            raise ValueError(f"layer '{self.Name}' ({self.type_name}): NumGroups "
                             f"({self.NumGroups}) must divide the number of channels "
                             f"({self.NumChannels}).")
        return out

    def _groups_count(self) -> Any:
        if self.NumGroups == "all-channels":
            return 1
        return self.NumChannels if self.NumGroups == "channel-wise" else self.NumGroups

    def predict(self, X: dlarray) -> dlarray:
        return groupnorm(self._check(X), self.NumGroups, self.Offset, self.Scale,
                         Epsilon=self.Epsilon)

    def description(self) -> str:
        if self.NumChannels == "auto":
            return "Group normalization"
        return (f"Group normalization with {self.NumChannels} channels split into "
                f"{self._groups_count()} groups")

    def _hyper_names(self) -> tuple[str, ...]:
        return ("NumGroups", "Epsilon")


def check_decay(name: str, v: Any) -> float:
    return check_in_range(name, v, 0, 1)


def _statistic(name: str, v: Any) -> Any:
    """A given TrainedMean or TrainedVariance, kept as given (sized at initialization), but
    finite, and for the variance never negative (a square root of it divides the data)."""
    if v is None:
        return v
    data = v.extractdata() if isinstance(v, dlarray) else v
    try:
        a = np.asarray(data.get() if hasattr(data, "get") else data, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be numeric, got {format_value(v)}.") from None
    if not np.all(np.isfinite(a)) or (name == "TrainedVariance" and np.any(a < 0)):
        need = "finite and nonnegative" if name == "TrainedVariance" else "finite"
        raise ValueError(f"{name} must be {need}, got {format_value(v)}.")
    return v


@register_layer
class BatchNormalizationLayer(_NormalizationLayer):
    """Batch normalization: batch statistics in training (``forward``), which also update the
    running TrainedMean/TrainedVariance (new = decay·batch + (1 − decay)·old); the trained
    statistics in prediction."""

    Type = "Batch Normalization"
    default_name = "batchnorm"
    states = ("TrainedMean", "TrainedVariance")
    where, kind = "batchNormalizationLayer", "Batch"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(args, kwargs, {
            "MeanDecay": (0.1, check_decay), "VarianceDecay": (0.1, check_decay),
            "TrainedMean": (None, _statistic), "TrainedVariance": (None, _statistic)})

    def _initializer(self, name: str) -> Any:
        return {"TrainedMean": "zeros", "TrainedVariance": "ones"}.get(name) or \
            super()._initializer(name)

    def predict(self, X: dlarray) -> dlarray:
        return batchnorm(self._check(X), self.Offset, self.Scale, self.TrainedMean,
                         self.TrainedVariance, Epsilon=self.Epsilon, Training=False)

    def forward(self, X: dlarray) -> tuple[dlarray, dict]:
        Y, mean, var = batchnorm(self._check(X), self.Offset, self.Scale, self.TrainedMean,
                                 self.TrainedVariance, Epsilon=self.Epsilon,
                                 MeanDecay=self.MeanDecay, VarianceDecay=self.VarianceDecay)
        return Y, {"TrainedMean": mean, "TrainedVariance": var}

    def _hyper_names(self) -> tuple[str, ...]:
        return ("MeanDecay", "VarianceDecay", "Epsilon")

    def _groups(self) -> list:
        return super()._groups() + [("State Parameters", [
            ("TrainedMean", show(self.TrainedMean)),
            ("TrainedVariance", show(self.TrainedVariance))])]


def instanceNormalizationLayer(*args: Any, **kwargs: Any) -> InstanceNormalizationLayer:
    """``instanceNormalizationLayer(Epsilon=1e-5, ScaleInitializer="ones",
    OffsetInitializer="zeros", Scale=, Offset=, ScaleLearnRateFactor=1, OffsetLearnRateFactor=1,
    ScaleL2Factor=1, OffsetL2Factor=1, Name="")``: normalize each channel of each observation.
    """
    return InstanceNormalizationLayer(*args, **kwargs)


def layerNormalizationLayer(*args: Any, **kwargs: Any) -> LayerNormalizationLayer:
    """``layerNormalizationLayer(OperationDimension="auto", ...)`` (other options as
    instanceNormalizationLayer): normalize each observation over its channels, and its spatial
    elements for images; OperationDimension "auto", "channel-only", "spatial-channel" or
    "batch-excluded" (see layernorm)."""
    return LayerNormalizationLayer(*args, **kwargs)


def groupNormalizationLayer(numGroups: Any, *args: Any, **kwargs: Any) -> GroupNormalizationLayer:
    """``groupNormalizationLayer(numGroups, ...)``: numGroups a positive integer dividing the
    channel count, "all-channels" or "channel-wise"; options as instanceNormalizationLayer."""
    return GroupNormalizationLayer(numGroups, *args, **kwargs)


def batchNormalizationLayer(*args: Any, **kwargs: Any) -> BatchNormalizationLayer:
    """``batchNormalizationLayer(MeanDecay=0.1, VarianceDecay=0.1, TrainedMean=,
    TrainedVariance=, ...)`` plus the instanceNormalizationLayer options."""
    return BatchNormalizationLayer(*args, **kwargs)
