"""Prediction and evaluation of a trained network: ``minibatchpredict`` and ``testnet``.

Both read X as trainnet does (``networks.inputs``), run the network in mini-batches on the
chosen device (``execution_module``), each mini-batch split over threads where that is exact
(``networks.chunks``), and return host NumPy arrays in MATLAB's layout.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._matlab import check_choice, check_format_text, check_positive_int, parse_name_value
from ..backend import (
    active_module,
    active_name,
    array_module,
    canUseGPU,
    device_backend,
    to_module,
    using_backend,
)
from ..core import channels_last, from_channels_last
from ..data import (
    Observations,
    class_axis,
    is_datastore,
    is_label_vector,
    is_sequence_list,
    label_targets,
    numeric_targets,
    sequence_observations,
)
from ..networks import (
    check_network,
    check_single_io,
    input_format,
    network_module,
    network_on,
    observations,
    predict_chunks,
    read_datastore,
)
from .metrics import METRICS, metric_value

__all__ = ["minibatchpredict", "testnet", "execution_module"]


def execution_module(environment: str, net: Any | None = None) -> Any:
    """The array module for ExecutionEnvironment "auto", "cpu" or "gpu".

    "auto" keeps a network that is already on a device there, else uses the active device
    backend, else CuPy when a GPU is usable, else NumPy. "gpu" without one is an error.
    """
    env = check_choice("ExecutionEnvironment", environment, ("auto", "cpu", "gpu"))
    if env == "cpu":
        return np
    if net is not None and network_module(net) is not np:
        return network_module(net)
    if active_name() != "numpy":
        return active_module()
    if canUseGPU():
        return device_backend().module
    if env == "gpu":
        raise RuntimeError('ExecutionEnvironment is "gpu" but no GPU is usable: this needs '
                           "CuPy and a CUDA device (pip install 'minidl[gpu]'); use \"auto\" or "
                           '"cpu" to run on the CPU')
    return np


_PREDICT_OPTIONS = {"MiniBatchSize": 128, "InputDataFormats": "auto",
                    "ExecutionEnvironment": "auto", "SequenceLength": "longest",
                    "SequencePaddingValue": 0, "SequencePaddingDirection": "right"}


def _inputs(X: Any, net: Any, opts: dict) -> Any:
    """X as the observations a network reads: a sequenceInputLayer's data (a list of S x C
    sequences, MATLAB's cell array, or an N x S x C array) is padded per mini-batch."""
    for option in ("InputDataFormats", "TargetDataFormats"):
        if option in opts and not (isinstance(opts[option], str)
                                   and opts[option].lower() == "auto"):
            check_format_text(option, opts[option])  # a TypeError/ValueError naming it
    fmt, size = input_format(net)
    if fmt == "CBT":
        if not is_sequence_list(X) and array_module(X) is np:
            X = np.asarray(X)
        return sequence_observations(X, size[0], opts["InputDataFormats"], "X",
                                     SequenceLength=opts["SequenceLength"],
                                     SequencePaddingValue=opts["SequencePaddingValue"],
                                     SequencePaddingDirection=opts["SequencePaddingDirection"])
    return observations(X, net, opts["InputDataFormats"])


def minibatchpredict(net: Any, X: Any, *args: Any, **kwargs: Any) -> np.ndarray:
    """Predict in mini-batches; returns the outputs as a host NumPy array, observations first.

    MATLAB's ``scores = minibatchpredict(net, X, MiniBatchSize=128)``: X is an array in the
    input layer's MATLAB layout (or any layout named by ``InputDataFormats``) or a datastore.
    A "CB" output (classification scores, regression responses) comes back N x K; other
    outputs in MATLAB layout (H x W x C x N for images). Options: MiniBatchSize (128),
    InputDataFormats ("auto"), ExecutionEnvironment ("auto", "cpu", "gpu").
    """
    opts = parse_name_value(args, kwargs, _PREDICT_OPTIONS, "minibatchpredict")
    check_single_io(check_network(net, "minibatchpredict"), "minibatchpredict")
    if is_datastore(X):
        X = read_datastore(X, net)[0]
    obs = _inputs(X, net, opts)
    Y, fmt = _predict_all(net, obs, opts)
    return _to_matlab_layout(Y, fmt)


def _predict_all(net: Any, obs: Observations, opts: dict) -> tuple[np.ndarray, str]:
    """Outputs for every observation, in channels-last memory order on the host, and format.
    On the CPU each mini-batch may be computed in chunks on several threads (see
    ``split_plan``); the results are the same to float32 rounding."""
    batch = check_positive_int("MiniBatchSize", opts["MiniBatchSize"])
    xp = execution_module(opts["ExecutionEnvironment"], net)
    with using_backend(xp):
        net = network_on(net, xp)
        outs, fmt = [], ""
        for start in range(0, obs.N, batch):
            for Y in predict_chunks(net, obs, start, min(start + batch, obs.N), xp):
                fmt = Y.fmt
                if "T" in fmt and getattr(obs, "lengths", None) is not None:
                    raise ValueError("minibatchpredict: a network with sequence output "
                                     "(OutputMode \"sequence\") is not supported here yet; "
                                     "call predict(net, X) on each mini-batch")
                view, _ = channels_last(Y._data, fmt) if "B" in fmt else (Y._data, ())
                outs.append(to_module(view, np))
    return np.concatenate(outs, axis=0), fmt


def _to_matlab_layout(Y: np.ndarray, fmt: str) -> np.ndarray:
    """Memory-order outputs (N, ..., C) as N x K for "CB", else in canonical MATLAB order."""
    if fmt in ("CB", ""):
        return np.ascontiguousarray(Y)
    _, perm = channels_last(np.empty((1,) * len(fmt)), fmt)
    return from_channels_last(Y, perm)


def testnet(net: Any, X: Any, *args: Any, **kwargs: Any) -> float | list[float]:
    """Evaluate metrics of a network on test data (MATLAB's ``testnet``).

    ``testnet(net, X, T, metrics)`` or ``testnet(net, datastore, metrics)``. ``metrics`` is one
    of "accuracy" (percent correct), "crossentropy" (per observation), "mse" and "rmse" (over
    all elements), or a list of them (giving a list of values). T holds class labels (mapped
    through ``net.ClassNames``) or numeric targets in the output's MATLAB layout.
    Options: MiniBatchSize, InputDataFormats, TargetDataFormats, ExecutionEnvironment.
    """
    check_network(net, "testnet")
    if is_datastore(X):
        X, T = read_datastore(X, net)
        if T is None:
            raise ValueError("testnet: the datastore has no labels; give the targets T")
    else:
        if not args:
            raise TypeError("testnet needs targets T and metrics: testnet(net, X, T, metrics)")
        T, args = args[0], args[1:]
    if not args:
        raise TypeError("testnet needs the metrics to compute, e.g. testnet(net, X, T, "
                        '"accuracy")')
    metrics, args = args[0], args[1:]
    check_single_io(net, "testnet")
    if not isinstance(metrics, (str, list, tuple)):
        raise TypeError(f"testnet: metrics must be a metric name or a list of them, got "
                        f"{type(metrics).__name__}")
    names = [metrics] if isinstance(metrics, str) else list(metrics)
    names = [check_choice("metrics", m, METRICS) for m in names]
    opts = parse_name_value(args, kwargs, {**_PREDICT_OPTIONS, "TargetDataFormats": "auto"},
                            "testnet")
    obs = _inputs(X, net, opts)
    Y, fmt = _predict_all(net, obs, opts)
    targets = _targets(T, obs.N, Y, fmt, getattr(net, "ClassNames", None),
                       opts["TargetDataFormats"])
    values = {m: metric_value(m, Y, targets, class_axis(fmt), obs.N) for m in names}
    out = [values[m] for m in names]
    return out[0] if isinstance(metrics, str) else out


def _targets(T: Any, n: int, Y: np.ndarray, fmt: str, classes: Any, formats: str) -> np.ndarray:
    """testnet's targets in the memory order of ``Y`` (N first): one-hot rows for class labels
    (a vector of strings, or of numbers when the network outputs several classes), else
    numeric targets in the output's layout."""
    T = T.get() if hasattr(T, "get") else T
    try:
        T = np.asarray(T)
    except ValueError:
        raise ValueError("T must be an array with one size per dimension, got a ragged nested "
                         f"{type(T).__name__}") from None
    k = Y.shape[class_axis(fmt)]
    if fmt == "CB" and is_label_vector(T) and (T.dtype.kind in "OUS" or (k > 1 and T.size == n)):
        return label_targets(T, n, fmt, Y.shape[1:], classes, "testnet")[0].data
    if T.dtype.kind not in "biuf":
        raise ValueError(f"T must be class labels or numeric targets, got {T.dtype} data")
    return numeric_targets(T, n, fmt, Y.shape[1:], formats).data
