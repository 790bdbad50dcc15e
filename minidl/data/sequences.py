"""Sequence data for trainnet and prediction: padding and truncation, MATLAB's way.

MATLAB's trainnet takes vector sequences as a cell array of S x C matrices (one row per time
step, one column per channel; S differs from one sequence to another); here that is a list of
S x C arrays (a 1-D array is one channel). ``InputDataFormats="CTB"`` (or "CBT") reads C x S
sequences instead, the layout of MATLAB's older trainNetwork. A numeric array holds N sequences
of equal length, N x S x C by default ("BTC"). A mini-batch becomes one C x N x S array ("CBT",
minidl's canonical order) whose length follows two trainingOptions:

    SequenceLength             "longest" (default): pad to the longest sequence of the batch;
                               "shortest": truncate to the shortest (an integer, MATLAB's
                               splitting of long sequences, is not supported yet)
    SequencePaddingValue       the value written into the padding (0)
    SequencePaddingDirection   "right" (default): pad, or truncate, at the end; "left": at the
                               start, so every sequence ends at the last time step (what
                               OutputMode "last" reads)

All sequences are kept concatenated along time in one C x (total steps) array with each
sequence's start and length; a mini-batch is then one gather with an index array built from
the lengths (no loop over sequences), and runs on NumPy or CuPy alike. The layout facts are
from MathWorks answers quoting the trainnet page (vector sequences are s-by-c) and from the
Predict block page; the numeric N x S x C default is inferred from them (minidl's choice).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .._matlab import check_choice, format_value, size_str
from ..backend import array_module, to_module
from ..core import canonical_format, dlarray

__all__ = ["is_sequence_list", "as_sequences", "pad_sequences", "SequenceObservations",
           "sequence_observations"]


def is_sequence_list(X: Any) -> bool:
    """True for what is meant as MATLAB's cell array of sequences: a list or tuple holding
    arrays (``as_sequences`` then checks that each entry is a 1-D or 2-D numeric array, so a
    list with a None or a string in it gets a message naming that entry)."""
    return isinstance(X, (list, tuple)) and len(X) > 0 and any(hasattr(x, "ndim") for x in X)


def as_sequences(X: Sequence[Any], num_channels: int | None = None, what: str = "X",
                 layout: str = "TC") -> list[Any]:
    """The sequences of list ``X`` as float32 C x S arrays, checked to have ``num_channels``
    channels each (or the first one's) and at least one time step. ``layout`` says how each
    sequence is stored: "TC" (S x C, MATLAB's trainnet; a 1-D array is one channel) or "CT"
    (C x S, MATLAB's trainNetwork)."""
    if not is_sequence_list(X):
        raise TypeError(f"{what} must be a list of S x C arrays (MATLAB's cell array of "
                        f"sequences), got {type(X).__name__}")
    by_rows = layout == "TC"
    shape = "S x C (one row per time step, one column per channel)" if by_rows else \
        "C x S (one row per channel, one column per time step)"
    out = []
    for i, x in enumerate(X):
        if not (hasattr(x, "ndim") and hasattr(x, "dtype") and x.ndim in (1, 2)):
            got = f"a {x.ndim}-D array" if hasattr(x, "ndim") else type(x).__name__
            raise TypeError(f"{what}[{i}] must be a sequence: a 1-D or 2-D numeric array, got "
                            f"{got}")
        xp = array_module(x)
        a = x.reshape(-1, 1) if x.ndim == 1 and by_rows else x.reshape(1, -1) if x.ndim == 1 \
            else x
        if a.dtype.kind not in "biuf":
            raise TypeError(f"{what}[{i}] must be numeric, got dtype {a.dtype}")
        a = a.T if by_rows else a  # C x S from here on
        c = num_channels if num_channels is not None else (out[0].shape[0] if out else None)
        if c is not None and a.shape[0] != c:
            raise ValueError(f"{what}[{i}] has size {size_str(x.shape)} but the sequences must "
                             f"be {shape} with C = {c} channels")
        if a.shape[1] == 0:
            raise ValueError(f"{what}[{i}] has no time steps (size {size_str(x.shape)})")
        out.append(xp.asarray(a, dtype=xp.float32))
    return out


def _check_options(SequenceLength: Any, SequencePaddingDirection: Any) -> tuple[Any, str]:
    length = SequenceLength
    if not isinstance(length, str):
        raise ValueError(f"SequenceLength {format_value(length)} is not supported yet: MATLAB's "
                         "integer SequenceLength splits long sequences into pieces; use "
                         "\"longest\" or \"shortest\"")
    length = check_choice("SequenceLength", length, ("longest", "shortest"))
    direction = check_choice("SequencePaddingDirection", SequencePaddingDirection,
                             ("right", "left"))
    return length, direction


def _gather(data: Any, starts: np.ndarray, lengths: np.ndarray, length: Any, direction: str,
            value: float) -> tuple[Any, Any]:
    """The sequences at ``starts``/``lengths`` (host int arrays) of ``data`` (C x total) as one
    C x N x S array and its N x S mask of real (not padding) steps. S is the longest length
    (the shortest for ``length == "shortest"``); a longer sequence is truncated at the end
    ("right") or at the start ("left"), a shorter one padded there with ``value``."""
    xp = array_module(data)
    S = int(lengths.min() if length == "shortest" else lengths.max())
    keep = np.minimum(lengths, S)  # steps kept of each sequence
    steps = np.arange(S)[None, :]
    if direction == "right":
        valid = steps < keep[:, None]
        src = starts[:, None] + steps
    else:
        offset = (S - keep)[:, None]  # padding first, then the last `keep` steps
        valid = steps >= offset
        src = starts[:, None] + (lengths - keep)[:, None] + steps - offset
    src = np.where(valid, src, 0)
    mask = to_module(valid, xp)
    X = data[:, to_module(src.ravel(), xp)].reshape(data.shape[0], len(lengths), S)
    return xp.where(mask[None], X, value), mask


def pad_sequences(X: Sequence[Any], SequenceLength: Any = "longest",
                  SequencePaddingValue: float = 0, SequencePaddingDirection: str = "right",
                  layout: str = "TC") -> tuple[Any, Any]:
    """``(Y, mask)``: the sequences of list X (S x C each, or C x S for ``layout="CT"``) as one
    C x N x S float32 array and the N x S boolean mask of real time steps, padded or truncated
    as the module docstring says."""
    seqs = as_sequences(X, layout=layout)
    length, direction = _check_options(SequenceLength, SequencePaddingDirection)
    lengths = np.array([s.shape[1] for s in seqs])
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    xp = array_module(seqs[0])
    return _gather(xp.concatenate(seqs, axis=1), starts, lengths, length, direction,
                   float(SequencePaddingValue))


class SequenceObservations:
    """A sequence data set for trainnet and minibatchpredict, in the role ``Observations``
    plays for images and features: ``batch(index)`` gives those observations as a padded
    "CBT" dlarray (padding per mini-batch, as MATLAB pads), ``N`` counts them, ``canonical()``
    gives the sequences themselves (for ``fit_normalization``) and ``to(xp)`` moves them.

    ``data`` is every sequence concatenated along time (C x total steps) on one device;
    ``starts`` and ``lengths`` (host ints) locate each sequence in it.
    """

    fmt = "CBT"

    def __init__(self, data: Any, starts: np.ndarray, lengths: np.ndarray,
                 SequenceLength: Any = "longest", SequencePaddingValue: float = 0,
                 SequencePaddingDirection: str = "right") -> None:
        self.data, self.starts, self.lengths = data, starts, lengths
        self.length, self.direction = _check_options(SequenceLength, SequencePaddingDirection)
        self.value = float(SequencePaddingValue)

    @property
    def N(self) -> int:
        return len(self.lengths)

    def _positions(self, index: Any) -> np.ndarray:
        if isinstance(index, slice):
            return np.arange(self.N)[index]
        index = to_module(index, np) if array_module(index) is not np else index
        return np.atleast_1d(np.asarray(index))

    def batch(self, index: Any) -> dlarray:
        i = self._positions(index)
        X, _ = _gather(self.data, self.starts[i], self.lengths[i], self.length,
                       self.direction, self.value)
        return dlarray._wrap(X, "CBT")

    def canonical(self) -> list[Any]:
        return [self.data[:, s:s + n] for s, n in zip(self.starts, self.lengths)]

    def to(self, xp: Any) -> SequenceObservations:
        out = SequenceObservations.__new__(SequenceObservations)
        out.__dict__.update(self.__dict__)
        out.data = to_module(self.data, xp)
        return out


def sequence_observations(X: Any, num_channels: int, formats: str = "auto", what: str = "X",
                          **options: Any) -> SequenceObservations:
    """X (a list of sequences, or a numeric array) as SequenceObservations.

    ``formats`` ("auto" or InputDataFormats) names the layout: for a list, the order of "T"
    and "C" in it says how each sequence is stored ("auto": S x C; "CTB" or "CBT": C x S); a
    numeric array holds N sequences of equal length ("auto": "BTC", N x S x C); a formatted
    "CBT" dlarray is read as it is. ``options`` are SequenceLength, SequencePaddingValue and
    SequencePaddingDirection.
    """
    auto = str(formats).lower() == "auto"
    if is_sequence_list(X):
        per_sequence = "TC" if auto else str(formats).upper().replace("B", "")
        if per_sequence not in ("TC", "CT"):
            raise ValueError(f"InputDataFormats '{formats}' does not describe sequences: use "
                             "\"TCB\" for S x C sequences or \"CTB\" for C x S")
        seqs = as_sequences(X, num_channels, what, per_sequence)
        lengths = np.array([s.shape[1] for s in seqs])
        xp = array_module(seqs[0])
        data = xp.concatenate(seqs, axis=1)
    else:
        fmt = "BTC" if auto else str(formats).upper()
        if isinstance(X, dlarray):
            fmt, X = (X.fmt or fmt), X._data
        elif array_module(X) is np:
            X = np.asarray(X)
        if not hasattr(X, "ndim") or X.dtype.kind not in "biuf":
            raise TypeError(f"{what} must be a list of S x C sequences or a numeric array, got "
                            f"{format_value(X) if not hasattr(X, 'dtype') else X.dtype}")
        if X.ndim != len(fmt):
            raise ValueError(f"{what} has {X.ndim} dimensions (size {size_str(X.shape)}) but "
                             f"the data format '{fmt}' has {len(fmt)}: give InputDataFormats "
                             "(e.g. \"BTC\" for N x S x C) or a list of S x C sequences")
        canon, perm = canonical_format(fmt, X.ndim)
        if canon != "CBT":
            raise ValueError(f"{what} has data format '{fmt}' but sequence input takes 'CBT' "
                             "data (channels, observations, time steps)")
        xp = array_module(X)
        X = xp.ascontiguousarray(X.transpose(perm), dtype=xp.float32)  # C x N x S
        C, N, S = X.shape
        if C != num_channels:
            raise ValueError(f"{what} has {C} channels (data format '{fmt}', size "
                             f"{size_str(X.shape)}) but the sequence input layer expects "
                             f"{num_channels}")
        data = X.reshape(C, N * S)
        lengths = np.full(N, S)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    return SequenceObservations(data, starts, lengths.astype(np.int64), **options)
