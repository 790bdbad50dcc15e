"""Class labels: one-hot targets, class names, and labels from scores (``scores2label``).

One path from labels to targets serves trainnet (training and validation data) and testnet:
``label_targets`` checks the labels against the classes and the network's output and gives
one-hot targets in the memory layout of ``data.observations``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._matlab import as_numeric, check_class_names, check_flag, check_positive_int
from ..backend import array_module, to_module
from ..core import dlarray
from .observations import Observations, arrange

__all__ = ["scores2label", "class_names", "is_label_vector", "label_targets", "one_hot"]


def is_label_vector(T: np.ndarray) -> bool:
    """True for a vector of class labels: strings, booleans or integers (N or N x 1)."""
    vector = T.ndim == 1 or (T.ndim == 2 and 1 in T.shape)
    return vector and T.dtype.kind in "OUSbiu"


def class_names(labels: np.ndarray, where: str) -> np.ndarray:
    """The sorted distinct labels; a TypeError naming the types when they cannot be ordered.
    Integer and string labels are sorted and deduplicated here: np.unique imports numpy.ma on
    its first call, 20-50 ms of every trainnet call in a fresh process."""
    if labels.dtype.kind in "biuU" and labels.size:
        s = np.sort(labels, axis=None)
        return s[np.concatenate(([True], s[1:] != s[:-1]))]
    try:
        return np.unique(labels)
    except TypeError:
        kinds = sorted({type(v).__name__ for v in labels})
        raise TypeError(f"{where}: the labels mix {' and '.join(kinds)} values: give labels of "
                        "one type") from None


def label_targets(T: Any, n: int, out_fmt: str, out_size: tuple[int, ...], classes: Any,
                  where: str) -> tuple[Observations, np.ndarray]:
    """One-hot targets (float32 Observations of format "CB") for ``n`` observations labelled
    ``T`` (a vector), and the classes used: ``classes`` when given (the network's ClassNames,
    in output order), else the sorted distinct labels. ``out_fmt``/``out_size`` describe the
    network's output per observation: it must give one score per class."""
    labels = np.asarray(T).ravel()
    if labels.size != n:
        raise ValueError(f"{where}: {n} observations but {labels.size} labels: give one label "
                         "per observation")
    classes = class_names(labels, where) if classes is None or len(classes) == 0 \
        else np.asarray(classes)
    k = int(np.prod(out_size))
    if out_fmt != "CB" or k != len(classes):
        raise ValueError(f"{where}: the network outputs {k} values per observation (format "
                         f"{out_fmt!r}) but the labels have {len(classes)} classes ("
                         f"{', '.join(str(c) for c in classes[:12])}): the last fully connected "
                         "layer needs one output per class, and net.ClassNames lists them in "
                         "output order")
    try:
        onehot = one_hot(labels, classes)
    except ValueError as err:
        raise ValueError(f"{where}: {err}") from None
    return arrange(onehot.T, "CB", "CB", tuple(out_size), "T", "the output"), classes


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
    S = to_module(S, np) if array_module(S) is not np else as_numeric(S, "scores2label: scores")
    if S.ndim == 0 or S.size == 0:
        raise ValueError(f"scores2label: scores must hold one score per class and observation, "
                         f"got size {'x'.join(map(str, S.shape)) or 'scalar'}")
    names = check_class_names("scores2label: classNames", classNames)
    ReturnScores = check_flag("scores2label: ReturnScores", ReturnScores)
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
