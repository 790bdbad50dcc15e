"""Sequence data for trainnet and prediction: padding, truncation and splitting, MATLAB's way.

MATLAB takes sequences as a cell array of C x S matrices (S differs from one sequence to
another); here that is a list of C x S arrays (a 1-D array is one channel, 1 x S). A mini-batch
of them becomes one C x N x S array ("CBT") whose length follows three trainingOptions:

    SequenceLength             "longest" (default): pad to the longest sequence of the batch;
                               "shortest": truncate to the shortest; an integer: pad to the
                               longest, then ``split_sequences`` cuts the batch into pieces of
                               that many time steps (the last one may be shorter)
    SequencePaddingValue       the value written into the padding (0)
    SequencePaddingDirection   "right" (default): pad, or truncate, at the end; "left": at the
                               start, so every sequence ends at the last time step (what
                               OutputMode "last" reads)

All sequences are kept concatenated along time in one C x (total steps) array with each
sequence's start and length; a mini-batch is then one gather with an index array built from
the lengths (no loop over sequences), and runs on NumPy or CuPy alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ._matlab import check_choice, check_positive_int, format_value, size_str
from .backend import array_module, to_module
from .dlarray import canonical_format, dlarray

__all__ = ["is_sequence_list", "as_sequences", "pad_sequences", "split_sequences",
           "unpad_sequences", "SequenceObservations", "sequence_observations"]


def is_sequence_list(X: Any) -> bool:
    """True for MATLAB's cell array of sequences: a list or tuple of 1-D or 2-D arrays."""
    return isinstance(X, (list, tuple)) and len(X) > 0 and all(
        hasattr(x, "ndim") and x.ndim in (1, 2) for x in X)


def as_sequences(X: Sequence[Any], num_channels: int | None = None,
                 what: str = "X") -> list[Any]:
    """The sequences of list ``X`` as float32 C x S arrays (a vector becomes 1 x S), checked to
    have ``num_channels`` channels each (or the first one's) and at least one time step."""
    if not is_sequence_list(X):
        raise TypeError(f"{what} must be a list of C x S arrays (MATLAB's cell array of "
                        f"sequences), got {type(X).__name__}")
    out = []
    for i, x in enumerate(X):
        xp = array_module(x)
        a = x.reshape(1, -1) if x.ndim == 1 else x
        if a.dtype.kind not in "biuf":
            raise TypeError(f"{what}[{i}] must be numeric, got dtype {a.dtype}")
        c = num_channels if num_channels is not None else (out[0].shape[0] if out else None)
        if c is not None and a.shape[0] != c:
            raise ValueError(f"{what}[{i}] has size {size_str(a.shape)} but the sequences must "
                             f"be C x S with C = {c} channels (one row per channel, one column "
                             "per time step)")
        if a.shape[1] == 0:
            raise ValueError(f"{what}[{i}] has no time steps (size {size_str(a.shape)})")
        out.append(xp.asarray(a, dtype=xp.float32))
    return out


def _check_options(SequenceLength: Any, SequencePaddingDirection: Any) -> tuple[Any, str]:
    length = SequenceLength
    if isinstance(length, str):
        length = check_choice("SequenceLength", length, ("longest", "shortest"))
    else:
        length = check_positive_int("SequenceLength", length)
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
                  SequencePaddingValue: float = 0,
                  SequencePaddingDirection: str = "right") -> tuple[Any, Any]:
    """``(Y, mask)``: the C x S sequences of list X as one C x N x S float32 array and the
    N x S boolean mask of real time steps, padded or truncated as the module docstring says
    (an integer SequenceLength pads to the longest; cut with ``split_sequences``)."""
    seqs = as_sequences(X)
    length, direction = _check_options(SequenceLength, SequencePaddingDirection)
    lengths = np.array([s.shape[1] for s in seqs])
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    xp = array_module(seqs[0])
    return _gather(xp.concatenate(seqs, axis=1), starts, lengths, length, direction,
                   float(SequencePaddingValue))


def split_sequences(X: Any, SequenceLength: int) -> list[Any]:
    """A padded C x N x S batch (array or "CBT" dlarray) cut along time into pieces of
    ``SequenceLength`` steps, in order (the last one holds the remaining steps). MATLAB's
    integer SequenceLength: each piece is trained as a mini-batch of its own, the recurrent
    state carried from one piece to the next."""
    n = check_positive_int("SequenceLength", SequenceLength)
    data = X._data if isinstance(X, dlarray) else X
    pieces = [data[:, :, t:t + n] for t in range(0, data.shape[2], n)]
    return [dlarray._wrap(p, X.fmt) for p in pieces] if isinstance(X, dlarray) else pieces


def unpad_sequences(Y: Any, lengths: Sequence[int], SequencePaddingDirection: str = "right",
                    ) -> list[Any]:
    """The C x S_n outputs of each sequence from a C x N x S sequence-to-sequence result (an
    array or "CBT" dlarray), dropping the padding that ``pad_sequences`` added; a list, as
    MATLAB returns a cell array. A truncated sequence keeps only its computed steps."""
    data = Y._data if isinstance(Y, dlarray) else Y
    direction = check_choice("SequencePaddingDirection", SequencePaddingDirection,
                             ("right", "left"))
    S = data.shape[2]
    out = []
    for n, length in enumerate(lengths):  # slicing views: no arithmetic per sequence
        k = min(int(length), S)
        out.append(data[:, n, :k] if direction == "right" else data[:, n, S - k:])
    return out


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

    def mask(self, index: Any) -> Any:
        """The N x S mask of real time steps of ``batch(index)``."""
        i = self._positions(index)
        return _gather(self.data, self.starts[i], self.lengths[i], self.length,
                       self.direction, self.value)[1]

    def canonical(self) -> list[Any]:
        return [self.data[:, s:s + n] for s, n in zip(self.starts, self.lengths)]

    def to(self, xp: Any) -> SequenceObservations:
        out = SequenceObservations.__new__(SequenceObservations)
        out.__dict__.update(self.__dict__)
        out.data = to_module(self.data, xp)
        return out


def sequence_observations(X: Any, num_channels: int, formats: str = "auto", what: str = "X",
                          **options: Any) -> SequenceObservations:
    """X (a list of C x S sequences, or a numeric array) as SequenceObservations.

    A numeric array holds N sequences of equal length in the layout ``formats`` names ("auto":
    "CBT", C x N x S; or e.g. "TCB"); a formatted "CBT" dlarray is read as it is. ``options``
    are SequenceLength, SequencePaddingValue and SequencePaddingDirection.
    """
    if is_sequence_list(X):
        seqs = as_sequences(X, num_channels, what)
        lengths = np.array([s.shape[1] for s in seqs])
        xp = array_module(seqs[0])
        data = xp.concatenate(seqs, axis=1)
    else:
        fmt = "CBT" if str(formats).lower() == "auto" else str(formats).upper()
        if isinstance(X, dlarray):
            fmt, X = (X.fmt or fmt), X._data
        elif array_module(X) is np:
            X = np.asarray(X)
        if not hasattr(X, "ndim") or X.dtype.kind not in "biuf":
            raise TypeError(f"{what} must be a list of C x S sequences or a numeric array, got "
                            f"{format_value(X) if not hasattr(X, 'dtype') else X.dtype}")
        if X.ndim != len(fmt):
            raise ValueError(f"{what} has {X.ndim} dimensions (size {size_str(X.shape)}) but "
                             f"the data format '{fmt}' has {len(fmt)}: give InputDataFormats "
                             "(e.g. \"CBT\" for C x N x S) or a list of C x S sequences")
        canon, perm = canonical_format(fmt, X.ndim)
        if canon != "CBT":
            raise ValueError(f"{what} has data format '{fmt}' but sequence input takes 'CBT' "
                             "data (channels, observations, time steps)")
        xp = array_module(X)
        X = xp.ascontiguousarray(X.transpose(perm), dtype=xp.float32)  # C x N x S
        C, N, S = X.shape
        if C != num_channels:
            raise ValueError(f"{what} has {C} channels (size {size_str(X.shape)} as C x N x "
                             f"S) but the sequence input layer expects {num_channels}")
        data = X.reshape(C, N * S)
        lengths = np.full(N, S)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    return SequenceObservations(data, starts, lengths.astype(np.int64), **options)
