"""Data sets in memory: the layout every mini-batch is cut from.

Numeric data arrives in MATLAB's layout (H x W x C x N images, N x numFeatures features, or any
layout named by a dlarray format such as "BCSS"). ``arrange`` checks it against what the network
expects and stores it once as float32 in channels-last memory order, (N, H, W, C), so that a
mini-batch is one index and a transposed view (``Observations.batch``). trainnet, minibatchpredict
and testnet all go through here; the targets of a regression do too (``numeric_targets``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .._matlab import MString, as_numeric, size_str
from ..backend import array_module, contiguous, to_module
from ..core import canonical_format, channels_last, dlarray, from_channels_last

__all__ = ["Observations", "arrange", "class_axis", "feature_rows", "is_datastore",
           "matlab_layout", "numeric_targets"]


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


def matlab_layout(fmt: str) -> str:
    """The layout MATLAB's trainnet and minibatchpredict read a plain array in, for an input of
    canonical format ``fmt``: observations first for features ("BC": N x numFeatures, one row
    per observation), else the canonical order with the observations last (H x W x C x N)."""
    return "BC" if fmt == "CB" else fmt


def is_datastore(x: Any) -> bool:
    """True for a datastore (something with ``read_all``), not an array."""
    return hasattr(x, "read_all") and not hasattr(x, "shape")


def feature_rows(X: Any, n_features: int) -> Any:
    """Raw feature data as rows, MATLAB's way for a vector: one observation (1 x n) when it
    has ``n_features`` values, else one feature of many observations (N x 1). Other arrays (or
    dlarrays) come back as they are."""
    if X.ndim != 1:
        return X
    return X.reshape(1, -1) if X.shape[0] == n_features else X.reshape(-1, 1)


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
        X = _numeric(X, what)
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


def _numeric(X: Any, what: str) -> Any:
    """X as a numeric array of its module: host data through ``as_numeric`` (a ragged nested
    list or text is an error naming X), a device array checked for a numeric dtype."""
    if array_module(X) is np:
        return as_numeric(X, what)
    if X.dtype.kind not in "biuf":
        raise TypeError(f"{what} must be a numeric array, got dtype {X.dtype}.")
    return X


def numeric_targets(T: Any, n: int, fmt: str, size: tuple[int, ...], formats: str = "auto",
                    what: str = "the data") -> Observations:
    """Numeric targets for ``n`` observations of an output of format ``fmt`` and per-observation
    ``size``, as float32 Observations. "auto" reads MATLAB's layout: N x K for a "CB" output
    (or K x N, when only that reading fits), H x W x C x N for images; other layouts are named
    with ``formats`` (TargetDataFormats)."""
    T = _numeric(T, f"{what}: the targets T")
    if str(formats).lower() == "auto" and fmt == "CB":
        T = np.asarray(T, dtype=np.float32)
        T = T.reshape(-1, 1) if T.ndim == 1 else T
        formats = "BC" if T.ndim == 2 and T.shape[0] == n else "CB"
    obs = arrange(T, MString(formats), fmt, tuple(size), "T", "the network output",
                  "TargetDataFormats")
    if obs.N != n:
        raise ValueError(f"{what} has {n} observations but {obs.N} targets")
    return obs


def class_axis(fmt: str) -> int:
    """The axis of "C" in the memory order (batch first, channels last) of a format."""
    return sorted(fmt, key="BSCTU".index).index("C")
