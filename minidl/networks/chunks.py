"""Mini-batches split over threads (CPU only): the chunks of a mini-batch go through the whole
network at the same time, each on its own thread (``backend.threads``).

It is done only where it is exact: on the NumPy backend, for networks whose every layer treats
observations independently (``per_observation_network``), with chunks of at least
``MIN_CHUNK`` observations. minibatchpredict, testnet and trainnet all use ``split_plan``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..backend import MIN_CHUNK, array_module, chunk_bounds, in_parallel, thread_count, to_module
from ..core import dlarray
from ..data import Observations
from ..layers import (
    AdditionLayer,
    AveragePooling2DLayer,
    BatchNormalizationLayer,
    ConcatenationLayer,
    Convolution2DLayer,
    DepthConcatenationLayer,
    DropoutLayer,
    FeatureInputLayer,
    FlattenLayer,
    FullyConnectedLayer,
    GroupNormalizationLayer,
    ImageInputLayer,
    InstanceNormalizationLayer,
    LayerNormalizationLayer,
    LeakyReLULayer,
    MaxPooling2DLayer,
    ReLULayer,
    SoftmaxLayer,
)
from .network import dlnetwork, predict

__all__ = ["concat_batch", "per_observation_network", "predict_chunks", "split_plan"]


def _layer_classes(training: bool) -> tuple[type, ...]:
    """The layer classes known to compute each observation independently of the others (in
    training mode for ``training``, else in prediction), without shared random state and in a
    thread-safe way. An explicit list rather than a property of the layers, so that a custom
    layer, a FunctionLayer or a subclass is never split on a guess. Not listed for training:
    batch normalization (batch statistics couple the observations; it also has State) and
    dropout (one random mask per mini-batch from the shared generator); in prediction both act
    on each observation alone."""
    independent = (ImageInputLayer, FeatureInputLayer, Convolution2DLayer, MaxPooling2DLayer,
                   AveragePooling2DLayer, FullyConnectedLayer, ReLULayer, LeakyReLULayer,
                   SoftmaxLayer, FlattenLayer, InstanceNormalizationLayer,
                   LayerNormalizationLayer, GroupNormalizationLayer, AdditionLayer,
                   ConcatenationLayer, DepthConcatenationLayer)
    return independent if training else independent + (BatchNormalizationLayer, DropoutLayer)


def per_observation_network(net: Any, training: bool) -> bool:
    """True when ``net`` is a dlnetwork whose layers are all of the listed per-observation
    classes (exactly those classes) and whose input layer does not normalize with a function;
    for ``training`` also without State (nothing to combine across chunks)."""
    if type(net) is not dlnetwork or not net.Initialized:
        return False
    if len(net.InputNames) != 1 or len(net.OutputNames) != 1:
        return False  # the chunks of each output would need joining: never split
    allowed = _layer_classes(training)
    for layer in net.layers_view:
        if type(layer) not in allowed:
            return False
        if callable(getattr(layer, "Normalization", None)):
            return False
    return not (training and len(net.State) > 0)


def split_plan(net: Any, xp: Any, n: int, training: bool = False) -> list[tuple[int, int]]:
    """The chunks to compute a mini-batch of ``n`` observations in: one chunk (no splitting)
    unless on NumPy with a per-observation network and more than one thread allowed."""
    threads = thread_count()
    if threads < 2 or xp is not np or n < 2 * MIN_CHUNK \
            or not per_observation_network(net, training):
        return [(0, n)]
    return chunk_bounds(n, threads)


def predict_chunks(net: Any, obs: Observations, start: int, stop: int, xp: Any) -> list:
    """``predict(net, ·)`` of observations ``start:stop`` on ``xp``, as the outputs of the
    chunks of the split plan (computed at the same time), in order."""
    def part(bounds: tuple[int, int]) -> dlarray:
        Xb = obs.batch(slice(start + bounds[0], start + bounds[1]))
        return predict(net, dlarray._wrap(to_module(Xb._data, xp), Xb._fmt))

    return in_parallel(part, split_plan(net, xp, stop - start))


def concat_batch(parts: Sequence[dlarray]) -> dlarray:
    """Formatted dlarrays of the same format joined along their "B" dimension."""
    if len(parts) == 1:
        return parts[0]
    fmt = parts[0].fmt
    xp = array_module(*(p._data for p in parts))
    return dlarray._wrap(xp.concatenate([p._data for p in parts], axis=fmt.index("B")), fmt)
