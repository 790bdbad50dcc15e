"""Layers over ``minidl.ops.conv``: ``convolution2dLayer``, ``maxPooling2dLayer``,
``averagePooling2dLayer`` and their global forms, for "SSCB" images (H x W x C x N).

Geometry as in MATLAB: Padding is stored as PaddingMode ('manual' or 'same') and PaddingSize
[top bottom left right]; a window of size k with dilation d spans (k-1)*d + 1 pixels; the output
is floor((in + pads - span) / stride) + 1, or ceil(in / stride) for 'same'.
"""

from __future__ import annotations

import numbers
from typing import Any

from .._matlab import check_positive_int, format_value, mat2str, size_str, to_padding, to_pair
from ..core import dlarray
from ..ops import avgpool, dlconv, maxpool
from .base import (
    Layer,
    auto_or_positive_int,
    check_channels,
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

__all__ = ["convolution2dLayer", "maxPooling2dLayer", "averagePooling2dLayer",
           "globalAveragePooling2dLayer", "globalMaxPooling2dLayer",
           "Convolution2DLayer", "MaxPooling2DLayer", "AveragePooling2DLayer",
           "GlobalAveragePooling2DLayer", "GlobalMaxPooling2DLayer"]


def check_zero_padding_value(name: str, v: Any) -> int:
    if isinstance(v, numbers.Real) and not isinstance(v, bool) and v == 0:
        return 0
    raise ValueError(f"{name} must be 0 (zero padding; other padding values are not supported), "
                     f"got {format_value(v)}.")


def _set_padding(layer: Layer, padding: Any) -> None:
    if padding == "same":
        layer.PaddingMode, layer.PaddingSize = "same", None
    else:
        layer.PaddingMode, layer.PaddingSize = "manual", tuple(padding)


def _padding_arg(layer: Layer) -> Any:
    return "same" if layer.PaddingMode == "same" else layer.PaddingSize


def _padding_text(layer: Layer) -> str:
    return "'same'" if layer.PaddingMode == "same" else mat2str(list(layer.PaddingSize))


def output_hw(layer: Layer, in_hw: tuple[int, int], k: tuple[int, int],
              dilation: tuple[int, int] = (1, 1)) -> tuple[int, int]:
    """The output height and width, or a ValueError naming the layer when the window won't fit."""
    stride = layer.Stride
    if layer.PaddingMode == "same":
        return tuple(-(-n // s) for n, s in zip(in_hw, stride))
    t, b, l, r = layer.PaddingSize
    padded = (in_hw[0] + t + b, in_hw[1] + l + r)
    span = tuple((kk - 1) * d + 1 for kk, d in zip(k, dilation))
    if span[0] > padded[0] or span[1] > padded[1]:
        raise ValueError(f"layer '{layer.Name}' ({layer.type_name}): the window {size_str(span)} "
                         f"is larger than its padded input {size_str(padded)} (input "
                         f"{size_str(in_hw)} with padding {_padding_text(layer)}).")
    return tuple((p - e) // s + 1 for p, e, s in zip(padded, span, stride))


def _image_input(layer: Layer, input_size: tuple[int, ...], fmt: str) -> tuple[int, int, int]:
    """(H, W, C) of an "SSCB" input size, or a ValueError naming the layer."""
    if fmt != "SSCB":
        raise ValueError(f"layer '{layer.Name}' ({layer.type_name}) expects 2-D image input "
                         f"(format 'SSCB'), got format '{fmt}' of size {size_str(input_size)}.")
    return tuple(input_size[:3])


# ---- convolution --------------------------------------------------------------------------------

@register_layer
class Convolution2DLayer(Layer):
    """2-D convolution: ``dlconv`` with Weights fh x fw x C x F and Bias 1 x 1 x F."""

    Type = "2-D Convolution"
    default_name = "conv"
    learnables = ("Weights", "Bias")

    def __init__(self, filterSize: Any, numFilters: Any, *args: Any, **kwargs: Any) -> None:
        where = "convolution2dLayer"
        spec = {"Stride": ((1, 1), to_pair), "DilationFactor": ((1, 1), to_pair),
                "Padding": ((0, 0, 0, 0), to_padding),
                "PaddingValue": (0, check_zero_padding_value),
                "NumChannels": ("auto", auto_or_positive_int),
                **weight_options(), **name_option()}
        opts = parse_options(where, args, kwargs, spec)
        super().__init__(Name=opts.pop("Name"))
        self.FilterSize = run_check(where, to_pair, "filterSize", filterSize)
        self.NumFilters = run_check(where, check_positive_int, "numFilters", numFilters)
        _set_padding(self, opts.pop("Padding"))
        for name, value in opts.items():
            setattr(self, name, value)
        self._check_weights(where)

    def _check_weights(self, where: str) -> None:
        """User-given Weights must be fh x fw x C x F; Bias must have F elements (1x1xF)."""
        (fh, fw), f = self.FilterSize, self.NumFilters
        if self.Weights is not None:
            shape = tuple(self.Weights.shape) + (1,) * (4 - self.Weights.ndim)
            c = self.NumChannels if self.NumChannels != "auto" else shape[2]
            if self.Weights.ndim > 4 or shape != (fh, fw, c, f):
                raise ValueError(f"{where}: Weights must have size {fh}x{fw}x"
                                 f"{'C' if self.NumChannels == 'auto' else c}x{f} (FilterSize x "
                                 f"NumChannels x NumFilters), got {size_str(self.Weights.shape)}.")
            self.Weights = self.Weights.reshape(shape) if self.Weights.ndim < 4 else self.Weights
            self.NumChannels = shape[2]
        if self.Bias is not None:
            if self.Bias.size != f:
                raise ValueError(f"{where}: Bias must have {f} elements (1x1xNumFilters), got "
                                 f"size {size_str(self.Bias.shape)}.")
            self.Bias = self.Bias.reshape(1, 1, f)

    def initialize(self, input_size: tuple[int, ...], fmt: str) -> tuple[tuple[int, ...], str]:
        h, w, c = _image_input(self, input_size, fmt)
        if self.NumChannels not in ("auto", c):
            raise ValueError(f"layer '{self.Name}' ({self.type_name}) has NumChannels "
                             f"{self.NumChannels} but its input has {c} channels (input size "
                             f"{size_str(input_size)}).")
        self.NumChannels = c
        (fh, fw), f = self.FilterSize, self.NumFilters
        if self.Weights is None:
            self.Weights = initialize(self.WeightsInitializer, (fh, fw, c, f), fh * fw * c,
                                      fh * fw * f, "WeightsInitializer")
        if self.Bias is None:
            self.Bias = initialize(self.BiasInitializer, (1, 1, f), 1, 1, "BiasInitializer")
        ho, wo = output_hw(self, (h, w), (fh, fw), self.DilationFactor)
        return (ho, wo, f) + tuple(input_size[3:]), fmt

    def predict(self, X: dlarray) -> dlarray:
        check_input(self, X, ("SSCB",))
        check_channels(self, X, self.NumChannels)
        check_learnables(self)
        return dlconv(X, self.Weights, self.Bias, Stride=self.Stride,
                      Padding=_padding_arg(self), DilationFactor=self.DilationFactor)

    def description(self) -> str:
        size = self.FilterSize + ((self.NumChannels,) if self.NumChannels != "auto" else ())
        dilation = "" if self.DilationFactor == (1, 1) else \
            f", dilation factor {mat2str(list(self.DilationFactor))}"
        return (f"{self.NumFilters} {size_str(size)} convolutions with stride "
                f"{mat2str(list(self.Stride))}{dilation} and padding {_padding_text(self)}")

    def _groups(self) -> list:
        hyper = [(n, show(getattr(self, n))) for n in (
            "FilterSize", "NumChannels", "NumFilters", "Stride", "DilationFactor",
            "PaddingMode", "PaddingSize", "PaddingValue")]
        params = [("Weights", show(self.Weights)), ("Bias", show(self.Bias))]
        return [(None, [("Name", show(self.Name))]), ("Hyperparameters", hyper),
                ("Learnable Parameters", params)]


def convolution2dLayer(filterSize: Any, numFilters: int, *args: Any,
                       **kwargs: Any) -> Convolution2DLayer:
    """``convolution2dLayer(filterSize, numFilters, Stride=1, Padding=0, DilationFactor=1,
    NumChannels="auto", WeightsInitializer="glorot", BiasInitializer="zeros", Weights=, Bias=,
    WeightLearnRateFactor=1, BiasLearnRateFactor=1, WeightL2Factor=1, BiasL2Factor=0, Name="")``.

    filterSize: k or [fh fw]; Padding: p, [a b] (top/bottom, left/right), [t b l r] or "same".
    Weights are fh x fw x C x F, Bias 1 x 1 x F; both are created by dlnetwork unless given.
    """
    return Convolution2DLayer(filterSize, numFilters, *args, **kwargs)


# ---- pooling ------------------------------------------------------------------------------------

class _PoolingLayer(Layer):
    """Shared pooling behaviour; MATLAB's default Stride is 1 (overlapping windows)."""

    kind = ""
    where = ""

    def __init__(self, poolSize: Any, args: tuple, kwargs: dict, extra: dict) -> None:
        spec = {"Stride": ((1, 1), to_pair), "Padding": ((0, 0, 0, 0), to_padding), **extra,
                **name_option()}
        opts = parse_options(self.where, args, kwargs, spec)
        super().__init__(Name=opts.pop("Name"))
        self.PoolSize = run_check(self.where, to_pair, "poolSize", poolSize)
        self.Stride = opts.pop("Stride")
        _set_padding(self, opts.pop("Padding"))
        for name, value in opts.items():
            setattr(self, name, value)
        pads = self.PaddingSize
        if pads is not None and (max(pads[:2]) >= self.PoolSize[0]
                                 or max(pads[2:]) >= self.PoolSize[1]):
            raise ValueError(f"{self.where}: Padding must be smaller than the pool size "
                             f"{mat2str(list(self.PoolSize))} (top/bottom < pool height, "
                             f"left/right < pool width), got {mat2str(list(pads))}.")

    def initialize(self, input_size: tuple[int, ...], fmt: str) -> tuple[tuple[int, ...], str]:
        h, w, c = _image_input(self, input_size, fmt)
        ho, wo = output_hw(self, (h, w), self.PoolSize)
        return (ho, wo, c) + tuple(input_size[3:]), fmt

    def description(self) -> str:
        return (f"{size_str(self.PoolSize)} {self.kind} pooling with stride "
                f"{mat2str(list(self.Stride))} and padding {_padding_text(self)}")

    def _hyper(self) -> list[tuple[str, str]]:
        return [(n, show(getattr(self, n))) for n in ("PoolSize", "Stride", "PaddingMode",
                                                       "PaddingSize")]

    def _groups(self) -> list:
        return [(None, [("Name", show(self.Name))]), ("Hyperparameters", self._hyper())]


@register_layer
class MaxPooling2DLayer(_PoolingLayer):
    """2-D max pooling over PoolSize windows (``maxpool``)."""

    Type = "2-D Max Pooling"
    default_name = "maxpool"
    kind, where = "max", "maxPooling2dLayer"

    def __init__(self, poolSize: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(poolSize, args, kwargs, {})

    def predict(self, X: dlarray) -> dlarray:
        check_input(self, X, ("SSCB",))
        return maxpool(X, self.PoolSize, Stride=self.Stride, Padding=_padding_arg(self))


def check_padding_value(name: str, v: Any) -> int | float | str:
    if isinstance(v, str) and v.lower() == "mean":
        return "mean"
    if isinstance(v, numbers.Real) and not isinstance(v, bool) and abs(v) != float("inf") \
            and v == v:
        return v
    raise ValueError(f"{name} must be a finite number or 'mean', got {format_value(v)}.")


@register_layer
class AveragePooling2DLayer(_PoolingLayer):
    """2-D average pooling over PoolSize windows (``avgpool``); padded zeros count in the mean
    unless PaddingValue is 'mean'."""

    Type = "2-D Average Pooling"
    default_name = "avgpool"
    kind, where = "average", "averagePooling2dLayer"

    def __init__(self, poolSize: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(poolSize, args, kwargs, {"PaddingValue": (0, check_padding_value)})

    def predict(self, X: dlarray) -> dlarray:
        check_input(self, X, ("SSCB",))
        return avgpool(X, self.PoolSize, Stride=self.Stride, Padding=_padding_arg(self),
                       PaddingValue=self.PaddingValue)

    def _hyper(self) -> list[tuple[str, str]]:
        return super()._hyper() + [("PaddingValue", show(self.PaddingValue))]


def maxPooling2dLayer(poolSize: Any, *args: Any, **kwargs: Any) -> MaxPooling2DLayer:
    """``maxPooling2dLayer(poolSize, Stride=1, Padding=0, Name="")``: max over each window.

    MATLAB's default Stride is 1, so windows overlap: pass Stride=poolSize for the usual
    non-overlapping pooling (``maxPooling2dLayer(2, Stride=2)``).
    """
    return MaxPooling2DLayer(poolSize, *args, **kwargs)


def averagePooling2dLayer(poolSize: Any, *args: Any, **kwargs: Any) -> AveragePooling2DLayer:
    """``averagePooling2dLayer(poolSize, Stride=1, Padding=0, PaddingValue=0, Name="")``."""
    return AveragePooling2DLayer(poolSize, *args, **kwargs)


# ---- global pooling -----------------------------------------------------------------------------

class _GlobalPoolingLayer(Layer):
    """One window over each whole image: H x W x C x N in, 1 x 1 x C x N out (``pool(X,
    "global")``), e.g. to end a CNN without a large fully connected layer."""

    kind = ""
    where = ""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(Name=parse_options(self.where, args, kwargs, name_option())["Name"])

    def initialize(self, input_size: tuple[int, ...], fmt: str) -> tuple[tuple[int, ...], str]:
        _, _, c = _image_input(self, input_size, fmt)
        return (1, 1, c) + tuple(input_size[3:]), fmt

    def description(self) -> str:
        return f"2-D global {self.kind} pooling"


@register_layer
class GlobalAveragePooling2DLayer(_GlobalPoolingLayer):
    """The mean of each channel over the whole image (``avgpool(X, "global")``)."""

    Type = "2-D Global Average Pooling"
    default_name = "gapool"
    kind, where = "average", "globalAveragePooling2dLayer"

    def predict(self, X: dlarray) -> dlarray:
        check_input(self, X, ("SSCB",))
        return avgpool(X, "global")


@register_layer
class GlobalMaxPooling2DLayer(_GlobalPoolingLayer):
    """The maximum of each channel over the whole image (``maxpool(X, "global")``)."""

    Type = "2-D Global Max Pooling"
    default_name = "gmpool"
    kind, where = "max", "globalMaxPooling2dLayer"

    def predict(self, X: dlarray) -> dlarray:
        check_input(self, X, ("SSCB",))
        return maxpool(X, "global")


def globalAveragePooling2dLayer(*args: Any, **kwargs: Any) -> GlobalAveragePooling2DLayer:
    """``globalAveragePooling2dLayer(Name="")``: H x W x C x N -> 1 x 1 x C x N channel means."""
    return GlobalAveragePooling2DLayer(*args, **kwargs)


def globalMaxPooling2dLayer(*args: Any, **kwargs: Any) -> GlobalMaxPooling2DLayer:
    """``globalMaxPooling2dLayer(Name="")``: H x W x C x N -> 1 x 1 x C x N channel maxima."""
    return GlobalMaxPooling2DLayer(*args, **kwargs)
