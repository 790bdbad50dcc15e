"""Prediction and evaluation: ``minibatchpredict``, ``scores2label``, ``testnet``.

Also the data plumbing that ``trainnet`` shares: numeric arrays in MATLAB layout (H x W x C x N
images, N x numFeatures features, or any layout named by ``InputDataFormats``) or a datastore are
checked against the input layer once and stored as one float32 array in channels-last memory order
(N, H, W, C), from which each mini-batch is one index and a transposed view.

And the splitting of mini-batches over threads that ``minibatchpredict``, ``testnet`` and
``trainnet`` use on the CPU (``split_plan``; the threads themselves are ``minidl.parallel``): the
chunks of a mini-batch go through the whole network at the same time. It is done only where it
is exact: on the NumPy backend, for networks whose every layer treats observations independently
(``per_observation_network``), with chunks of at least ``MIN_CHUNK`` observations.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._matlab import MString, check_choice, check_positive_int, parse_name_value, size_str
from .backend import (
    active_module,
    active_name,
    array_module,
    canUseGPU,
    device_backend,
    to_module,
    use_backend,
)
from .dlarray import canonical_format, channels_last, dlarray, from_channels_last
from .layers.input import feature_rows
from .parallel import MIN_CHUNK, chunk_bounds, contiguous, in_parallel, thread_count

__all__ = ["minibatchpredict", "scores2label", "testnet"]

METRICS = ("accuracy", "crossentropy", "mse", "rmse")


# ---------------------------------------------------------------------------------------------
# Observations: data in channels-last memory order

@dataclass
class Observations:
    """A data set in memory order (batch first, channels last) and its canonical format.

    ``data`` has shape (N, *spatial, C) for format "SSCB" (or (N, C) for "CB");
    ``batch(index)`` gives the observations ``index`` as a formatted dlarray view.
    """

    data: Any
    fmt: str
    perm: tuple[int, ...]

    @property
    def N(self) -> int:
        return int(self.data.shape[0])

    def batch(self, index: Any) -> dlarray:
        return dlarray._wrap(from_channels_last(self.data[index], self.perm), self.fmt)

    def canonical(self) -> Any:
        """All the data as a canonical-order view (e.g. H x W x C x N)."""
        return from_channels_last(self.data, self.perm)

    def to(self, xp: Any) -> Observations:
        return Observations(to_module(self.data, xp), self.fmt, self.perm)


def input_format(net: Any) -> tuple[str, tuple[int, ...]]:
    """(canonical format, size of one observation) of the network's input layer.

    X's MATLAB layout is given by ``matlab_layout`` of that format.
    """
    layer = net.input_layer() if hasattr(net, "input_layer") else None
    layer = layer if layer is not None else net.Layers[0]
    size = getattr(layer, "sample_size", None)
    if size is None:
        size = tuple(int(d) for d in np.atleast_1d(np.asarray(layer.InputSize)).ravel())
    fmt = getattr(layer, "fmt", "") or "S" * (len(size) - 1) + "CB"
    return fmt, tuple(int(d) for d in size)


def matlab_layout(fmt: str) -> str:
    """The layout MATLAB's trainnet and minibatchpredict read a plain array in, for an input of
    canonical format ``fmt``: observations first for features ("BC": N x numFeatures, one row
    per observation), else the canonical order with the observations last (H x W x C x N)."""
    return "BC" if fmt == "CB" else fmt


def is_datastore(x: Any) -> bool:
    return hasattr(x, "read_all") and not hasattr(x, "shape")


def read_datastore(ds: Any, net: Any) -> tuple[np.ndarray, Any]:
    """All of a datastore's images, at the input layer's size, and its labels (or None)."""
    return ds.read_all(input_format(net)[1])


def observations(X: Any, net: Any, formats: str = "auto", what: str = "X") -> Observations:
    """Check X against the input layer and store it as float32 in channels-last memory order.

    ``formats`` is "auto" (MATLAB's layout: H x W x C x N images, N x numFeatures features) or a
    dlarray format such as "BCSS" naming each dimension of X. A missing trailing batch
    dimension means one observation, as in MATLAB; a vector for features is one observation
    (a row) when it has numFeatures values, else one feature of many observations.
    """
    expected, size = input_format(net)
    layer = net.input_layer() if hasattr(net, "input_layer") else net.Layers[0]
    return arrange(X, formats, expected, size, what,
                   f"the input layer ({type(layer).__name__})", "InputDataFormats")


def arrange(X: Any, formats: str, expected: str, size: tuple[int, ...], what: str,
            owner: str, option: str = "InputDataFormats") -> Observations:
    """X (MATLAB layout, or the layout ``formats`` names) checked against ``expected`` format
    and per-observation ``size``, as float32 Observations in channels-last memory order.
    ``owner`` (what expects the data) and ``option`` (where its layout is given) go into the
    error messages."""
    auto = str(formats).lower() == "auto"
    given = matlab_layout(expected) if auto else str(formats).upper()
    if isinstance(X, dlarray):
        fmt = X.fmt or given
        X = X._data
    else:
        fmt = given
        X = _as_array(X, what)
    if X.ndim == len(fmt) - 1 and fmt.endswith("B"):
        X = X.reshape(X.shape + (1,))
    elif fmt == "BC":
        X = feature_rows(X, size[0])
    if X.ndim != len(fmt):
        raise ValueError(f"{what} has {X.ndim} dimensions (size {size_str(X.shape)}) but the "
                         f"data format {fmt!r} has {len(fmt)}: give {option} to say which "
                         "dimension is which")
    canon, perm = canonical_format(fmt, X.ndim)
    if canon != expected:
        raise ValueError(f"{what} has data format {fmt!r} but {owner} takes {expected!r} data")
    view = X.transpose(perm)
    if view.shape[-1] == 0:
        raise ValueError(f"{what} is empty: it has no observations (size {size_str(X.shape)})")
    if tuple(view.shape[:-1]) != tuple(size):
        hint = ""
        if fmt == "BC" and X.ndim == 2 and X.shape[0] == size[0]:
            hint = (f": feature data is N x {size[0]}, one row per observation (for "
                    f"{size[0]} x N data give {option}=\"CB\")")
        raise ValueError(f"{what} has observations of size {size_str(view.shape[:-1])} but "
                         f"{owner} expects {size_str(size)}{hint}")
    memory, cl_perm = channels_last(view, canon)
    # a tiled copy on the threads: 23 vs 150 ms for 10,000 C-ordered H x W x C x N images
    return Observations(contiguous(memory, array_module(memory).float32), canon, cl_perm)


def _as_array(X: Any, what: str) -> Any:
    if array_module(X) is np and not isinstance(X, np.ndarray):
        X = np.asarray(X)
    if X.dtype.kind not in "biuf":
        raise TypeError(f"{what} must be a numeric array, got dtype {X.dtype}")
    return X


# ---------------------------------------------------------------------------------------------
# Where a network lives

def network_module(net: Any) -> Any:
    """The array module of the network's learnables (NumPy for a network without any, or
    for one not initialized yet)."""
    values = [v._data for v in [*net.Learnables.Value, *net.State.Value] if v is not None]
    return array_module(*values) if values else np


def network_on(net: Any, xp: Any) -> Any:
    """``net`` itself when its arrays are on ``xp``, else a copy with its arrays moved there."""
    if network_module(net) is xp:
        return net

    def move(table: Any) -> Any:
        return table.with_values([dlarray._wrap(to_module(v._data, xp), v._fmt)
                                  for v in table.Value])

    out = copy.copy(net)
    out.Learnables = move(net.Learnables)
    out.State = move(net.State)
    return out


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


def backend_name(xp: Any) -> str:
    """The backend name (for use_backend) of an array module."""
    if xp is np:
        return "numpy"
    from . import backend

    return next(name for name, b in backend._devices.items() if b.module is xp)


# ---------------------------------------------------------------------------------------------
# Mini-batches split over threads (CPU only)

def _layer_classes(training: bool) -> tuple[type, ...]:
    """The layer classes known to compute each observation independently of the others (in
    training mode for ``training``, else in prediction), without shared random state and in a
    thread-safe way. An explicit list rather than a property of the layers, so that a custom
    layer, a FunctionLayer or a subclass is never split on a guess. Not listed for training:
    batch normalization (batch statistics couple the observations; it also has State) and
    dropout (one random mask per mini-batch from the shared generator); in prediction both act
    on each observation alone."""
    from .layers import (
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
    from .network import dlnetwork

    if type(net) is not dlnetwork or not net.Initialized:
        return False
    if len(net.InputNames) != 1 or len(net.OutputNames) != 1:
        return False  # the chunks of each output would need joining: never split
    allowed = _layer_classes(training)
    for layer in net._layers:
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
    from .network import predict

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


# ---------------------------------------------------------------------------------------------
# Metrics on raw arrays (scores Y and targets T in the network's output format)

def metric_value(name: str, Y: Any, T: Any, fmt: str) -> float:
    """A metric of one batch of canonical-order scores Y and targets T of format ``fmt``.

    accuracy in percent, crossentropy per observation, mse and rmse per element.
    """
    xp = array_module(Y, T)
    c_axis, n = fmt.index("C"), Y.shape[fmt.index("B")]
    if name == "accuracy":
        if Y.shape[c_axis] == 1:
            hits = (Y > 0.5) == (T > 0.5)
        else:
            hits = xp.argmax(Y, axis=c_axis) == xp.argmax(T, axis=c_axis)
        return 100.0 * float(hits.mean())
    if name == "crossentropy":
        return -float((T * xp.log(xp.maximum(Y, 1e-30))).sum()) / n
    mse = float(((Y - T) ** 2).mean())
    return math.sqrt(mse) if name == "rmse" else mse


def weighted_means(parts: list[tuple[int, dict[str, float]]]) -> dict[str, float]:
    """Combine per-batch values weighted by batch size (rmse combined through its square)."""
    total = sum(n for n, _ in parts)
    out: dict[str, float] = {}
    for key in parts[0][1]:
        sq = key.lower().endswith("rmse")
        acc = sum(n * (v[key] ** 2 if sq else v[key]) for n, v in parts) / total
        out[key] = math.sqrt(acc) if sq else acc
    return out


# ---------------------------------------------------------------------------------------------
# Public functions

_PREDICT_OPTIONS = {"MiniBatchSize": 128, "InputDataFormats": "auto",
                    "ExecutionEnvironment": "auto", "SequenceLength": "longest",
                    "SequencePaddingValue": 0, "SequencePaddingDirection": "right"}


def _inputs(X: Any, net: Any, opts: dict) -> Any:
    """X as the observations a network reads: a sequenceInputLayer's data (a list of S x C
    sequences, MATLAB's cell array, or an N x S x C array) is padded per mini-batch."""
    fmt, size = input_format(net)
    if fmt == "CBT":
        from .sequences import is_sequence_list, sequence_observations

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
    from .network import check_single_io

    check_single_io(net, "minibatchpredict")
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
    with _backend(xp):
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


class _backend:
    """Context manager: make ``xp`` the active backend for a while."""

    def __init__(self, xp: Any) -> None:
        self.name = backend_name(xp)

    def __enter__(self) -> None:
        self.previous = active_name()
        use_backend(self.name)

    def __exit__(self, *exc: Any) -> None:
        use_backend(self.previous)


def _to_matlab_layout(Y: np.ndarray, fmt: str) -> np.ndarray:
    """Memory-order outputs (N, ..., C) as N x K for "CB", else in canonical MATLAB order."""
    if fmt in ("CB", ""):
        return np.ascontiguousarray(Y)
    _, perm = channels_last(np.empty((1,) * len(fmt)), fmt)
    return from_channels_last(Y, perm)


def scores2label(scores: Any, classNames: Any, dim: int | None = None, *,
                 ReturnScores: bool = False) -> Any:
    """The label of the highest score of each observation (MATLAB's scores2label).

    ``scores`` is N x K (observations in rows, as minibatchpredict returns them) or a formatted
    dlarray (its "C" dimension holds the classes); ``dim`` is the 1-based class dimension
    (default: 2 for N x K). Returns an array of labels taken from ``classNames``; with
    ``ReturnScores=True`` also the winning scores.
    """
    fmt = scores.fmt if isinstance(scores, dlarray) else ""
    S = scores._data if isinstance(scores, dlarray) else scores
    S = to_module(S, np) if array_module(S) is not np else np.asarray(S)
    names = np.asarray(classNames)
    if dim is not None:
        axis = check_positive_int("dim", dim) - 1
    elif "C" in fmt:
        axis = fmt.index("C")
    else:
        axis = S.ndim - 1 if S.ndim <= 2 else 1
    if axis >= S.ndim:
        raise ValueError(f"dim {axis + 1} exceeds the {S.ndim} dimensions of scores")
    if S.shape[axis] != names.size:
        raise ValueError(f"scores has {S.shape[axis]} classes along dimension {axis + 1} but "
                         f"classNames has {names.size} names")
    index = np.argmax(S, axis=axis)
    labels = names.ravel()[index]
    return (labels, np.max(S, axis=axis)) if ReturnScores else labels


def testnet(net: Any, X: Any, *args: Any, **kwargs: Any) -> float | list[float]:
    """Evaluate metrics of a network on test data (MATLAB's ``testnet``).

    ``testnet(net, X, T, metrics)`` or ``testnet(net, datastore, metrics)``. ``metrics`` is one
    of "accuracy" (percent correct), "crossentropy" (per observation), "mse" and "rmse" (over
    all elements), or a list of them (giving a list of values). T holds class labels (mapped
    through ``net.ClassNames``) or numeric targets in the output's MATLAB layout.
    Options: MiniBatchSize, InputDataFormats, TargetDataFormats, ExecutionEnvironment.
    """
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
    from .network import check_single_io

    check_single_io(net, "testnet")
    names = [metrics] if isinstance(metrics, str) else list(metrics)
    names = [check_choice("metrics", m, METRICS) for m in names]
    opts = parse_name_value(args, kwargs, {**_PREDICT_OPTIONS, "TargetDataFormats": "auto"},
                            "testnet")
    obs = _inputs(X, net, opts)
    Y, fmt = _predict_all(net, obs, opts)
    targets = evaluation_targets(T, obs.N, Y, fmt, getattr(net, "ClassNames", None),
                                 opts["TargetDataFormats"])
    values = {m: _whole_metric(m, Y, targets, class_axis(fmt)) for m in names}
    out = [values[m] for m in names]
    return out[0] if isinstance(metrics, str) else out


def _whole_metric(name: str, Y: np.ndarray, T: np.ndarray, c_axis: int) -> float:
    """A metric over all observations of memory-order host arrays (batch first)."""
    if name == "accuracy":
        if Y.shape[c_axis] == 1:
            return 100.0 * float(np.mean((Y > 0.5) == (T > 0.5)))
        return 100.0 * float(np.mean(np.argmax(Y, c_axis) == np.argmax(T, c_axis)))
    if name == "crossentropy":
        return -float(np.sum(T * np.log(np.maximum(Y, 1e-30)), dtype=np.float64)) / Y.shape[0]
    mse = float(np.mean((Y.astype(np.float64) - T) ** 2))
    return math.sqrt(mse) if name == "rmse" else mse


def evaluation_targets(T: Any, n: int, Y: np.ndarray, fmt: str, classes: Any,
                       formats: str = "auto") -> np.ndarray:
    """Targets in the memory order of ``Y`` (N first): one-hot rows for class labels (a vector
    of strings, or of numbers when the network outputs several classes), else numeric targets
    in the output's layout (``numeric_targets``)."""
    T = np.asarray(T.get() if hasattr(T, "get") else T)
    k = Y.shape[class_axis(fmt)]
    vector = T.ndim == 1 or (T.ndim == 2 and 1 in T.shape)
    if vector and fmt == "CB" and (T.dtype.kind in "OUS" or (k > 1 and T.size == n)):
        labels = T.ravel()
        if labels.size != n:
            raise ValueError(f"X has {n} observations but T has {labels.size} labels")
        names = np.unique(labels) if classes is None or len(classes) == 0 else \
            np.asarray(classes)
        if len(names) != k:
            raise ValueError(f"the network outputs {k} class scores but the labels name "
                             f"{len(names)} classes ({', '.join(str(c) for c in names[:12])}): "
                             "set net.ClassNames to the network's classes, in output order")
        return one_hot(labels, names)
    if T.dtype.kind not in "biuf":
        raise ValueError(f"T must be class labels or numeric targets, got {T.dtype} data")
    return numeric_targets(T, n, fmt, Y.shape[1:], formats).data


def numeric_targets(T: Any, n: int, fmt: str, size: tuple[int, ...], formats: str = "auto",
                    what: str = "the data") -> Observations:
    """Numeric targets for ``n`` observations of an output of format ``fmt`` and per-observation
    ``size``, as float32 Observations. "auto" reads MATLAB's layout: N x K for a "CB" output
    (or K x N, when only that reading fits), H x W x C x N for images; other layouts are named
    with ``formats`` (TargetDataFormats)."""
    if str(formats).lower() == "auto" and fmt == "CB":
        T = np.asarray(T, dtype=np.float32)
        T = T.reshape(-1, 1) if T.ndim == 1 else T
        formats = "BC" if T.ndim == 2 and T.shape[0] == n else "CB"
    obs = arrange(T, MString(formats), fmt, tuple(size), "T", "the network output",
                  "TargetDataFormats")
    if obs.N != n:
        raise ValueError(f"{what} has {n} observations but {obs.N} targets")
    return obs


def is_label_vector(T: np.ndarray) -> bool:
    """True for a vector of class labels: strings, booleans or integers (N or N x 1)."""
    vector = T.ndim == 1 or (T.ndim == 2 and 1 in T.shape)
    return vector and T.dtype.kind in "OUSbiu"


def one_hot(labels: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """N x K float32 one-hot rows of ``labels`` in the order of ``classes``."""
    labels = np.asarray(labels).ravel()
    index = np.searchsorted(classes, labels) if _sorted(classes) else \
        np.array([_position(classes, v) for v in labels], dtype=np.int64)
    index = np.clip(index, 0, len(classes) - 1)
    unknown = classes[index] != labels
    if np.any(unknown):
        bad = sorted({_shown(v) for v in labels[unknown]})[:5]
        raise ValueError(f"labels {', '.join(bad)} are not among the classes "
                         f"{', '.join(_shown(c) for c in classes[:12])}")
    out = np.zeros((labels.size, len(classes)), dtype=np.float32)
    out[np.arange(labels.size), index] = 1.0
    return out


def _shown(label: Any) -> str:
    """A label as written in Python: strings quoted, so "0" and 0 look different."""
    return repr(label.item() if isinstance(label, np.generic) else label)


def _sorted(classes: np.ndarray) -> bool:
    return bool(np.all(classes[:-1] < classes[1:])) if len(classes) > 1 else True


def _position(classes: np.ndarray, value: Any) -> int:
    hits = np.flatnonzero(classes == value)
    return int(hits[0]) if hits.size else 0


def class_axis(fmt: str) -> int:
    """The axis of "C" in the memory order (batch first, channels last) of a format."""
    return sorted(fmt, key="BSCTU".index).index("C")
