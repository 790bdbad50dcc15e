"""trainnet's data: the training and validation sets checked against the network and converted
once, before the first iteration.

X becomes float32 in channels-last memory order (N, H, W, C) on the training device
(``data.observations``), class labels become one-hot rows (``data.labels``), numeric targets the
output's layout; the input layer's normalization statistics are fitted on the training set.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..backend import active_module, array_module, to_module
from ..core import dlarray
from ..data import (
    Observations,
    SequenceObservations,
    is_datastore,
    is_label_vector,
    is_sequence_list,
    label_targets,
    numeric_targets,
    sequence_observations,
)
from ..networks import input_format, observations, predict, read_datastore
from .options import TrainingOptions

__all__ = ["CLASSIFICATION", "TrainingData", "are_labels", "training_data"]

CLASSIFICATION = ("crossentropy", "index-crossentropy")
"""trainnet's losses whose targets may be class labels."""


@dataclass
class TrainingData:
    """Inputs and targets in channels-last memory order on the training device, and the
    training datastore's augmentation of a mini-batch (``augment(X, idx) -> X``), if any."""

    X: Observations | SequenceObservations
    T: Observations
    classes: np.ndarray | None
    augment: Callable[[dlarray, Any], dlarray] | None = None

    @property
    def N(self) -> int:
        return self.X.N


def training_data(X: Any, T: Any, net: Any, loss_name: str, opts: TrainingOptions,
                   classes: np.ndarray | None, what: str) -> TrainingData:
    """Check and convert one data set; for the training set also fit the normalization and
    take the datastore's augmentation (augmentedImageDatastore)."""
    augment = getattr(X, "augment_batch", None) if what == "training data" else None
    if is_datastore(X):
        X, labels = read_datastore(X, net)
        T = labels if T is None else T
        if T is None:
            raise ValueError(f"trainnet: the datastore of the {what} has no labels; give "
                             "targets T as well")
    if T is None:
        raise ValueError(f"trainnet: the targets of the {what} are missing (T is None)")
    x_what = "X" if what == "training data" else f"{what} X"
    fmt, size = input_format(net)
    if fmt == "CBT":  # sequenceInputLayer: a list of C x S sequences, or a numeric array
        obs = sequence_observations(X if is_sequence_list(X) else _host(X), size[0],
                                    opts.InputDataFormats, x_what,
                                    SequenceLength=opts.SequenceLength,
                                    SequencePaddingValue=opts.SequencePaddingValue,
                                    SequencePaddingDirection=opts.SequencePaddingDirection)
    else:
        obs = observations(_host(X), net, opts.InputDataFormats, x_what)
    layer = net.input_layer() if hasattr(net, "input_layer") else None
    if classes is None and layer is not None and (opts.ResetInputNormalization
                                                  or layer.missing_statistics()):
        layer.fit_normalization(obs.canonical())
    xp = active_module()
    obs = obs.to(xp)
    probe = predict(net, obs.batch(slice(0, 1)))
    if "T" in probe.fmt:
        raise ValueError("trainnet: the network's output has a time dimension (format "
                         f"'{probe.fmt}'): sequence-to-sequence training is not supported yet; "
                         "end the network with lstmLayer(..., OutputMode=\"last\") for one "
                         "output per sequence, or train it in a custom loop")
    targets, classes = _targets(_host(T), obs.N, probe, loss_name, opts, classes, what)
    if classes is not None and what == "training data":
        net.ClassNames = classes
    return TrainingData(obs, targets.to(xp), classes, augment)


def _host(a: Any) -> Any:
    if isinstance(a, dlarray):
        return a
    return to_module(a, np) if array_module(a) is not np else np.asarray(a)


def _targets(T: Any, n: int, probe: dlarray, loss_name: str, opts: TrainingOptions,
             classes: np.ndarray | None, what: str) -> tuple[Observations, np.ndarray | None]:
    """Targets as Observations in the output's format: one-hot for labels, else numeric."""
    out_fmt, out_size = probe.fmt, tuple(probe.shape[:-1])
    where = f"trainnet: the {what}"
    if are_labels(T, loss_name):
        labels = np.asarray(T).ravel()
        if classes is None and loss_name == "index-crossentropy" and labels.dtype.kind in "biuf":
            classes = np.arange(1, int(np.prod(out_size)) + 1)  # class indices 1..K
        return label_targets(labels, n, out_fmt, out_size, classes, where)
    return numeric_targets(T, n, out_fmt, out_size, opts.TargetDataFormats, where), None


def are_labels(T: Any, loss_name: str) -> bool:
    T = np.asarray(T)
    if loss_name and loss_name not in CLASSIFICATION:
        return False
    if loss_name == "index-crossentropy":  # class indices: any vector (N, N x 1, 1 x N)
        return T.ndim == 1 or (T.ndim == 2 and 1 in T.shape)
    return is_label_vector(T) or (loss_name == "crossentropy" and T.ndim == 1)

