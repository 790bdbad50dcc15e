"""Datastores over data already in memory, and several datastores side by side.

* `arrayDatastore(A, IterationDimension=d)` serves the slices of an in-memory array along its
  (1-based, MATLAB) dimension d, without copying it;
* `combine(ds1, ds2, ...)` reads several datastores side by side (inputs and targets, say).

Both answer to the function forms of ``minidl.datastore`` (``read(ds)``, ``hasdata(ds)``, ...)
and have the two methods the rest of minidl reads datastores with: ``read_all`` (trainnet,
minibatchpredict, testnet) and ``read_batch`` (minibatchqueue).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .._matlab import (
    MAX_DIMENSIONS,
    MString,
    check_choice,
    check_positive_int,
    format_properties,
    format_value,
    parse_name_value,
)
from ..backend import permutation
from ..core import gather
from .augmented_datastore import AugmentedImageDatastore
from .datastore import ImageDatastore, partition_of

__all__ = ["ArrayDatastore", "arrayDatastore", "CombinedDatastore", "combine",
           "DATASTORE_TYPES"]

_OUTPUT_TYPES = ("cell", "same")


class ArrayDatastore:
    """The slices of an in-memory array along one dimension, as MATLAB's ArrayDatastore.

    Observation i is ``A`` indexed at i along `IterationDimension` (1-based, as MATLAB) with
    that dimension removed: an H x W x C x N array with IterationDimension 4 serves H x W x C
    images, an N x F matrix with IterationDimension 1 serves F-vectors, an N-vector serves
    scalars. The array is shared, not copied: `shuffle` only reorders indices into it.
    """

    def __init__(self, data: np.ndarray, iteration_dimension: int, read_size: int,
                 output_type: str, order: np.ndarray | None = None) -> None:
        self._data = data
        self._axis = iteration_dimension - 1
        self._order = np.arange(data.shape[self._axis]) if order is None else order
        self.ReadSize = read_size
        self._output_type = output_type
        self._position = 0

    @property
    def IterationDimension(self) -> int:
        """The dimension (1-based, MATLAB's numbering) whose slices are the observations."""
        return self._axis + 1

    @property
    def OutputType(self) -> str:
        """"cell": `read` gives a list of slices; "same": one array, as the data."""
        return self._output_type

    @property
    def ReadSize(self) -> int:
        """How many observations one `read` returns (fewer at the end of the data)."""
        return self._read_size

    @ReadSize.setter
    def ReadSize(self, value: int) -> None:
        self._read_size = check_positive_int("ReadSize", value)

    @property
    def NumObservations(self) -> int:
        """Number of slices along IterationDimension."""
        return int(self._order.size)

    def __len__(self) -> int:
        return self.NumObservations

    def __repr__(self) -> str:
        return format_properties("ArrayDatastore", [(None, [
            ("ReadSize", format_value(self.ReadSize)),
            ("IterationDimension", format_value(self.IterationDimension)),
            ("OutputType", format_value(MString(self.OutputType))),
        ])])

    def _take(self, positions: np.ndarray) -> np.ndarray:
        """The data at `positions` of the current order, iteration dimension kept in place."""
        return np.take(self._data, self._order[positions], axis=self._axis)

    def hasdata(self) -> bool:
        """True while `read` has observations left."""
        return self._position < self.NumObservations

    def reset(self) -> None:
        """Start reading from the first observation again."""
        self._position = 0

    def read(self) -> list[np.ndarray] | np.ndarray:
        """The next ReadSize observations: a list of slices ("cell", MATLAB's ReadSize x 1
        cell array) or, for OutputType "same", the data with ReadSize rows.

        Raises StopIteration when no data is left (``hasdata(ds)`` is False).
        """
        if not self.hasdata():
            raise StopIteration("read: no more data in the ArrayDatastore; use reset(ds) to "
                                "read it again")
        stop = min(self._position + self.ReadSize, self.NumObservations)
        positions = np.arange(self._position, stop)
        self._position = stop
        return self._as_output(self._take(positions))

    def readall(self) -> list[np.ndarray] | np.ndarray:
        """All observations, as `read` would give them at once: a list of N slices ("cell",
        MATLAB's N x 1 cell array) or the whole data ("same")."""
        return self._as_output(self._take(np.arange(self.NumObservations)))

    def _as_output(self, block: np.ndarray) -> list[np.ndarray] | np.ndarray:
        if self._output_type == "same":
            return block
        return list(np.moveaxis(block, self._axis, 0))

    def read_all(self, image_size: Sequence[int] | None = None) -> tuple[np.ndarray, None]:
        """All data in the layout trainnet and minibatchpredict read (MATLAB's): observations
        first for a matrix (N x numFeatures), last for more dimensions (H x W x C x N), as is
        for a vector; and no labels. `image_size` is ignored: arrays are not resized (trainnet
        checks the size against the input layer)."""
        block = self._take(np.arange(self.NumObservations))
        target = 0 if block.ndim == 2 else block.ndim - 1
        return np.moveaxis(block, self._axis, target), None

    def read_batch(self, indices: np.ndarray) -> tuple[np.ndarray]:
        """The observations at `indices` (0-based), stacked along a new last axis: H x W x C x n
        for images, F x n for feature vectors, n for scalars. One indexing operation."""
        return (np.moveaxis(self._take(np.asarray(indices)), self._axis, -1),)

    def shuffle(self) -> ArrayDatastore:
        """A new datastore over the same array with the observations in random order (MATLAB's
        shuffle(ds)); the order comes from minidl's generator, so ``rng(seed)`` repeats it."""
        return self._reordered(permutation(self.NumObservations))

    def partition(self, n: int, index: int) -> ArrayDatastore:
        """Part ``index`` of ``n`` (MATLAB's ``partition(ds, n, index)``): a contiguous block of
        the observations, floor(N / n) of them plus one for each of the first N mod n parts."""
        return partition_of(self, n, index)

    def _reordered(self, order: np.ndarray) -> ArrayDatastore:
        return ArrayDatastore(self._data, self.IterationDimension, self.ReadSize,
                              self._output_type, self._order[order])


def arrayDatastore(A: Any, *name_value: Any, **options: Any) -> ArrayDatastore:
    """A datastore over the in-memory array `A`, as MATLAB's ``arrayDatastore(A, Name=Value)``.

    Options (keywords or MATLAB name-value pairs, case-insensitive):
    IterationDimension (default 1, MATLAB's: rows are observations; 1-based, so H x W x C x N
    images use ``IterationDimension=4``), ReadSize (default 1: observations per `read`) and
    OutputType ("cell", the default: `read` returns a list of slices; or "same": an array, which
    MATLAB allows only with IterationDimension 1). A dimension past the last one of `A` is a
    trailing singleton, as in MATLAB (a single H x W x C image with IterationDimension 4).
    Device arrays are copied to host memory; minibatchqueue moves mini-batches back.
    """
    settings = parse_name_value(name_value, options, {"IterationDimension": 1, "ReadSize": 1,
                                                      "OutputType": "cell"}, "arrayDatastore")
    if isinstance(A, str) or hasattr(A, "fmt") or not hasattr(A, "__len__") \
            and not hasattr(A, "shape"):
        raise TypeError(f"arrayDatastore: A must be an array (a NumPy array or nested lists), "
                        f"got {type(A).__name__}" + ("; use extractdata(A)" if hasattr(A, "fmt")
                                                     else ""))
    try:
        data = np.asarray(gather(A))
    except ValueError:
        raise ValueError("arrayDatastore: A must be an array with one size per dimension, got a "
                         f"ragged nested {type(A).__name__}") from None
    dim = check_positive_int("IterationDimension", settings["IterationDimension"])
    if dim > MAX_DIMENSIONS:
        raise ValueError(f"IterationDimension must be at most {MAX_DIMENSIONS} (the most "
                         f"dimensions an array can have), got {dim}.")
    read_size = check_positive_int("ReadSize", settings["ReadSize"])
    output_type = check_choice("OutputType", settings["OutputType"], _OUTPUT_TYPES)
    if output_type == "same" and dim != 1:
        raise ValueError(f'OutputType "same" needs IterationDimension 1 (as in MATLAB), got '
                         f"IterationDimension {dim}; use OutputType \"cell\"")
    if data.ndim < dim:
        data = data.reshape(data.shape + (1,) * (dim - data.ndim))
    return ArrayDatastore(data, dim, read_size, output_type)


class CombinedDatastore:
    """Several datastores read side by side, as MATLAB's CombinedDatastore.

    Observation i is observation i of every underlying datastore, so all hold the same number
    of observations, and `shuffle` reorders them all by one permutation.
    """

    def __init__(self, datastores: Sequence[Any]) -> None:
        self.UnderlyingDatastores = tuple(datastores)

    @property
    def NumObservations(self) -> int:
        """Number of observations (the same in every underlying datastore)."""
        return self.UnderlyingDatastores[0].NumObservations

    def __len__(self) -> int:
        return self.NumObservations

    def __repr__(self) -> str:
        names = ", ".join(type(ds).__name__ for ds in self.UnderlyingDatastores)
        return format_properties("CombinedDatastore", [(None, [
            ("UnderlyingDatastores", f"{{1×{len(self.UnderlyingDatastores)} cell}} ({names})"),
        ])])

    def hasdata(self) -> bool:
        """True while every underlying datastore has data."""
        return all(ds.hasdata() for ds in self.UnderlyingDatastores)

    def reset(self) -> None:
        """Reset every underlying datastore."""
        for ds in self.UnderlyingDatastores:
            ds.reset()

    def read(self) -> list[Any]:
        """One read of every underlying datastore, side by side: ``x, t = read(cds)``.

        Each datastore contributes what its `read` returns, with a one-element list (MATLAB's
        1 x 1 cell) unwrapped and an imageDatastore giving its image (MATLAB's first output), so
        the default ReadSize of 1 gives [x, t], like MATLAB's 1 x 2 cell {x, t}.
        Raises StopIteration when any underlying datastore has no data left.
        """
        if not self.hasdata():
            raise StopIteration("read: no more data in the CombinedDatastore; use reset(ds) to "
                                "read it again")
        out: list[Any] = []
        for ds in self.UnderlyingDatastores:
            piece = ds.read()
            if isinstance(ds, CombinedDatastore):
                out.extend(piece)
                continue
            if isinstance(ds, ImageDatastore):
                piece = piece[0]
            elif isinstance(piece, list) and len(piece) == 1:
                piece = piece[0]
            out.append(piece)
        return out

    def readall(self) -> list[Any]:
        """Every underlying datastore's `readall`, side by side: ``X, T = readall(cds)``."""
        out: list[Any] = []
        for ds in self.UnderlyingDatastores:
            whole = ds.readall()
            if isinstance(ds, CombinedDatastore):
                out.extend(whole)
            else:
                out.append(whole)
        return out

    def read_all(self, image_size: Sequence[int] | None = None) -> tuple[Any, Any]:
        """(X, T) for trainnet and minibatchpredict: the first datastore's data (images resized
        to `image_size`) and the second's, each in MATLAB's layout (see ArrayDatastore.read_all).
        Only a combination of exactly two datastores (inputs, targets) has this meaning."""
        if len(self.UnderlyingDatastores) != 2:
            raise ValueError(
                f"trainnet, minibatchpredict and testnet read a combined datastore of two "
                f"datastores (inputs, targets); this one combines "
                f"{len(self.UnderlyingDatastores)}")
        inputs, targets = self.UnderlyingDatastores
        return inputs.read_all(image_size)[0], targets.read_all()[0]

    def read_batch(self, indices: np.ndarray) -> tuple[Any, ...]:
        """The variables of every underlying datastore at `indices`, side by side."""
        return tuple(v for ds in self.UnderlyingDatastores for v in ds.read_batch(indices))

    def shuffle(self) -> CombinedDatastore:
        """A new combined datastore, every underlying datastore reordered by one permutation
        from minidl's generator (so observations stay matched and ``rng(seed)`` repeats it)."""
        return self._reordered(permutation(self.NumObservations))

    def partition(self, n: int, index: int) -> CombinedDatastore:
        """Part ``index`` of ``n`` (MATLAB's ``partition(ds, n, index)``): a contiguous block of
        the observations, floor(N / n) of them plus one for each of the first N mod n parts."""
        return partition_of(self, n, index)

    def _reordered(self, order: np.ndarray) -> CombinedDatastore:
        return CombinedDatastore([ds._reordered(order) for ds in self.UnderlyingDatastores])


DATASTORE_TYPES = (ImageDatastore, ArrayDatastore, CombinedDatastore, AugmentedImageDatastore)


def combine(*datastores: Any) -> CombinedDatastore:
    """Read several datastores side by side, as MATLAB's ``combine(ds1, ds2, ...)``.

    ``combine(arrayDatastore(X, IterationDimension=4), arrayDatastore(T))`` gives a datastore
    whose `read` returns [x, t] and whose minibatchqueue has two outputs. The datastores must
    hold the same number of observations (MATLAB stops at the shortest; minidl refuses, since a
    shuffle must keep the pairs matched).
    """
    if not datastores:
        raise ValueError("combine needs at least one datastore")
    for k, ds in enumerate(datastores):
        if not isinstance(ds, DATASTORE_TYPES):
            raise TypeError(f"combine: argument {k + 1} must be a datastore (imageDatastore, "
                            f"arrayDatastore, augmentedImageDatastore or combine), got "
                            f"{type(ds).__name__}")
    counts = [ds.NumObservations for ds in datastores]
    if len(set(counts)) > 1:
        raise ValueError(f"combine: the datastores must hold the same number of observations, "
                         f"got {', '.join(map(str, counts))}")
    return CombinedDatastore(datastores)
