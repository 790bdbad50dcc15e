"""minibatchqueue: mini-batches from a datastore for custom training loops, as MATLAB's.

A documented MATLAB custom loop transcribes line for line::

    mbq = minibatchqueue(imds, MiniBatchSize=128, MiniBatchFcn=preprocess,
                         MiniBatchFormat=["SSCB", ""])
    for epoch in range(numEpochs):
        shuffle(mbq)
        while hasdata(mbq):
            X, T = next(mbq)          # Python's builtin next calls mbq.__next__
            ...

What MATLAB does, as its documentation describes it (MathWorks reference pages for
minibatchqueue, next, hasdata, reset and partition, read through the search tool) and what
minidl does about it:

* ``minibatchqueue(ds)`` has as many outputs as ``read(ds)`` has variables;
  ``minibatchqueue(ds, numOutputs)`` is for a MiniBatchFcn that returns another number.
  The displayed defaults are MiniBatchSize 128, PartialMiniBatch "return", MiniBatchFcn
  "collate", OutputCast "single", OutputAsDlarray true, MiniBatchFormat "" and
  OutputEnvironment "auto", one value per output. All are the same here.
* PartialMiniBatch="discard" drops a last mini-batch smaller than MiniBatchSize; "return"
  returns it.
* ``next`` returns one value per output; past the end of the data it is an error that says to
  call reset or shuffle. ``hasdata`` says whether ``next`` can return a batch; ``reset``
  rewinds; ``shuffle(mbq)`` reorders the data and rewinds.
* The default "collate" concatenates the observations of each variable along the first
  dimension they do not use (the next page's example gives 100 x 100 x 1 x 2 images).
  A MiniBatchFcn instead receives, per variable, a cell array of the observations and returns
  the outputs. The outputs are then cast (OutputCast), made dlarrays (labelled with
  MiniBatchFormat) and moved to OutputEnvironment; "auto" means a GPU when there is one
  (also MathWorks Answers 756909).

The differences, all forced by Python or by minidl's conventions:

* Cell arrays are lists: MiniBatchFcn gets one list per variable, one entry per observation.
* "collate" stacks observations along a new last axis: H x W x C images give H x W x C x N,
  feature vectors give F x N, and scalars (such as labels) give a 1 x N row, as MATLAB's
  example shows for its labels. Text labels stay a NumPy string array (MATLAB turns
  categoricals into integer codes); one-hot encode them in a MiniBatchFcn.
* A labeled imageDatastore has two variables here, the image and its label, as an
  augmentedImageDatastore has (in MATLAB and here); so ``minibatchqueue(imds)`` gives (X, T).
  MATLAB's plain imageDatastore gives only images.
* OutputEnvironment "auto" is minidl's active backend (``use_backend``), where dlnetwork makes
  its weights too, so batches and weights always meet on one device; ``use_backend("auto")``
  gives MATLAB's behaviour (the GPU when CuPy sees one). "gpu" is the device backend and an
  error without one; "cpu" is NumPy.
* ``next(mbq)`` is Python's builtin, which calls ``__next__``; minidl exports no ``next``
  function because it would shadow the builtin under ``from minidl import *``. Past the end
  it raises StopIteration (with MATLAB's advice), which also makes the queue an iterator:
  ``for X, T in mbq:`` runs the rest of one epoch. ``mbq.next()`` works too.
* Preprocessing is serial: PreprocessingEnvironment accepts only "serial"; ``partition`` is
  not provided.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .. import backend
from .._matlab import (
    check_choice,
    check_flag,
    check_positive_int,
    format_properties,
    format_value,
    parse_name_value,
)
from ..backend import permutation
from ..core import dlarray
from .arraydatastore import DATASTORE_TYPES
from .datastore import ImageDatastore, partition_bounds

__all__ = ["MiniBatchQueue", "minibatchqueue"]

MAX_OUTPUTS = 1024  # outputs of a MiniBatchFcn: settings are kept per output
_DEFAULTS = {
    "MiniBatchSize": 128,
    "PartialMiniBatch": "return",
    "MiniBatchFcn": "collate",
    "MiniBatchFormat": "",
    "OutputCast": "single",
    "OutputAsDlarray": True,
    "OutputEnvironment": "auto",
    "PreprocessingEnvironment": "serial",
}
_CASTS = {
    "single": np.float32, "double": np.float64, "logical": np.bool_,
    "int8": np.int8, "int16": np.int16, "int32": np.int32, "int64": np.int64,
    "uint8": np.uint8, "uint16": np.uint16, "uint32": np.uint32, "uint64": np.uint64,
}
_ENVIRONMENTS = ("auto", "cpu", "gpu")
_END_OF_DATA = ("minibatchqueue: no mini-batch left, the end of the data is reached; call "
                "reset(mbq) or shuffle(mbq) to start again")


class MiniBatchQueue:
    """A queue of mini-batches over a datastore; create it with `minibatchqueue`.

    Holds an order over the datastore's observations and a position in it; each `next` reads
    the next MiniBatchSize observations with one ``read_batch`` call, collates them (or calls
    MiniBatchFcn) and converts the outputs. Settings are read-only after creation, as in MATLAB.
    """

    def __init__(self, ds: Any, num_outputs: int, settings: dict[str, Any]) -> None:
        self._ds = ds
        self._n = ds.NumObservations
        self._num_outputs = num_outputs
        self._size = settings["MiniBatchSize"]
        self._partial = settings["PartialMiniBatch"]
        self._fcn = settings["MiniBatchFcn"]
        self._fcn_arity = _arity(self._fcn)  # found once, not per mini-batch
        self._formats = settings["MiniBatchFormat"]
        self._casts = settings["OutputCast"]
        self._as_dlarray = settings["OutputAsDlarray"]
        self._environments = settings["OutputEnvironment"]
        self._order = np.arange(self._n)
        self._position = 0

    # ---- read-only properties, MATLAB's names --------------------------------------------------
    @property
    def MiniBatchSize(self) -> int:
        """Observations per mini-batch (the last may have fewer, see PartialMiniBatch)."""
        return self._size

    @property
    def PartialMiniBatch(self) -> str:
        """"return" or "discard" the last mini-batch when it has fewer observations."""
        return self._partial

    @property
    def MiniBatchFcn(self) -> Callable[..., Any] | str:
        """The preprocessing function, or "collate" (stack each variable's observations)."""
        return self._fcn

    @property
    def NumOutputs(self) -> int:
        """Number of values each `next` returns."""
        return self._num_outputs

    @property
    def MiniBatchFormat(self) -> list[str]:
        """The dlarray format of each output ("" for unformatted)."""
        return list(self._formats)

    @property
    def OutputCast(self) -> list[str]:
        """The type each numeric output is cast to ("single", "double", ...; "" keeps it)."""
        return list(self._casts)

    @property
    def OutputAsDlarray(self) -> list[bool]:
        """Whether each numeric output becomes a dlarray."""
        return list(self._as_dlarray)

    @property
    def OutputEnvironment(self) -> list[str]:
        """Where each output goes: "auto" (minidl's active backend), "cpu" or "gpu"."""
        return list(self._environments)

    @property
    def PreprocessingEnvironment(self) -> str:
        """Always "serial": mini-batches are prepared on demand, in this process."""
        return "serial"

    def __repr__(self) -> str:
        def cells(values: Sequence[Any]) -> str:
            return "{" + "  ".join(format_value(v) for v in values) + "}"

        flags = [int(v) for v in self._as_dlarray]
        text = format_properties("minibatchqueue", [
            ("Mini-batch creation:", [
                ("MiniBatchSize", format_value(self._size)),
                ("PartialMiniBatch", format_value(self._partial)),
                ("MiniBatchFcn", format_value(self._fcn)),
                ("PreprocessingEnvironment", format_value("serial")),
            ]),
            ("Outputs:", [
                ("OutputCast", cells(self._casts)),
                ("OutputAsDlarray", str(flags[0]) if len(flags) == 1
                 else "[" + " ".join(map(str, flags)) + "]"),
                ("MiniBatchFormat", cells(self._formats)),
                ("OutputEnvironment", cells(self._environments)),
            ]),
        ])
        plural = "output" if self._num_outputs == 1 else "outputs"
        rest = text.split("\n", 1)[1]
        return f"minibatchqueue with {self._num_outputs} {plural} and properties:\n{rest}"

    # ---- iteration -----------------------------------------------------------------------------
    def hasdata(self) -> bool:
        """True if `next` can return a mini-batch (with "discard", only a full one)."""
        left = self._n - self._position
        return left >= self._size if self._partial == "discard" else left > 0

    def partition(self, n: int, index: int) -> MiniBatchQueue:
        """Part ``index`` of ``n`` (MATLAB's ``partition(mbq, n, index)``): a queue with the same
        settings over a contiguous block of this queue's current order of observations; its
        shuffle reorders only its own part (shuffle the whole and partition again to mix)."""
        start, stop = partition_bounds(self._order.size, n, index)
        settings = {"MiniBatchSize": self.MiniBatchSize, "PartialMiniBatch": self.PartialMiniBatch,
                    "MiniBatchFcn": self.MiniBatchFcn, "MiniBatchFormat": self.MiniBatchFormat,
                    "OutputCast": self.OutputCast, "OutputAsDlarray": self.OutputAsDlarray,
                    "OutputEnvironment": self.OutputEnvironment}
        return MiniBatchQueue(self._ds._reordered(self._order[start:stop]), self.NumOutputs,
                              settings)

    def reset(self) -> None:
        """Rewind to the start of the data, keeping the current order."""
        self._position = 0

    def shuffle(self) -> None:
        """Put the observations in a new random order and rewind (MATLAB's shuffle(mbq)).

        The order comes from minidl's generator, so ``rng(seed)`` makes it reproducible.
        """
        self._order = permutation(self._n)
        self._position = 0

    def __iter__(self) -> MiniBatchQueue:
        return self

    def __next__(self) -> Any:
        return self.next()

    def next(self) -> Any:
        """The next mini-batch: a tuple of NumOutputs values, or the value itself for one output.

        Raises StopIteration at the end of the data (see `hasdata`, `reset`, `shuffle`).
        """
        if not self.hasdata():
            raise StopIteration(_END_OF_DATA)
        stop = min(self._position + self._size, self._n)
        indices = self._order[self._position:stop]
        self._position = stop
        variables = _variables(self._ds, indices)
        outputs = self._preprocess(variables)
        converted = tuple(self._convert(k, out) for k, out in enumerate(outputs))
        return converted[0] if self._num_outputs == 1 else converted

    def _preprocess(self, variables: tuple[Any, ...]) -> tuple[Any, ...]:
        """The outputs before conversion: collated variables, or MiniBatchFcn's results."""
        if self._fcn == "collate":
            if len(variables) != self._num_outputs:
                raise ValueError(
                    f"minibatchqueue: the datastore reads {len(variables)} variables but "
                    f"numOutputs is {self._num_outputs}; without a MiniBatchFcn they must match")
            return tuple(_collate(v) for v in variables)
        pieces = [_pieces(v) for v in variables]
        arity = self._fcn_arity
        result = self._fcn(*(pieces if arity is None else pieces[:max(1, arity)]))
        if self._num_outputs == 1:
            if isinstance(result, tuple) and len(result) == 1:
                result = result[0]
            if not isinstance(result, tuple):  # a tuple is several outputs, never one array
                return (result,)
        if not isinstance(result, (tuple, list)) or len(result) != self._num_outputs:
            got = len(result) if isinstance(result, (tuple, list)) else 1
            raise ValueError(
                f"MiniBatchFcn returned {got} output{'s' if got != 1 else ''} but the "
                f"minibatchqueue has {self._num_outputs} (numOutputs): return a tuple of "
                f"{self._num_outputs}, or give minibatchqueue(ds, numOutputs, ...)")
        return tuple(result)

    def _convert(self, k: int, out: Any) -> Any:
        """Cast output k, make it a dlarray with its format, and move it to its device."""
        fmt, cast, as_dl = self._formats[k], self._casts[k], self._as_dlarray[k]
        data = out._data if isinstance(out, dlarray) else out
        if not isinstance(out, dlarray) and backend.array_module(data) is np:
            data = np.asarray(data)
        if getattr(data, "dtype", np.dtype(object)).kind not in "biuf":
            if fmt:
                raise ValueError(
                    f"MiniBatchFormat {fmt!r} is given for output {k + 1}, which is not numeric "
                    f"({type(out).__name__} of dtype {getattr(data, 'dtype', None)}); convert "
                    "it in a MiniBatchFcn (e.g. onehotencode) or give it the format ''")
            return out
        if cast:
            data = data.astype(_CASTS[cast], copy=False)
        xp = _output_module(self._environments[k])
        data = backend.to_module(data, xp)
        if isinstance(out, dlarray):
            out = dlarray._wrap(data, out.fmt)
            return dlarray(out, fmt) if fmt else out
        if not as_dl:
            return data
        try:
            return dlarray(data, fmt) if fmt else dlarray(data)
        except ValueError as err:
            raise ValueError(f"MiniBatchFormat {fmt!r} does not fit output {k + 1} of size "
                             f"{'x'.join(map(str, data.shape))}: {err}") from err


def minibatchqueue(ds: Any, *args: Any, **options: Any) -> MiniBatchQueue:
    """Mini-batches from a datastore for a custom training loop, as MATLAB's minibatchqueue.

    ``minibatchqueue(ds)``, ``minibatchqueue(ds, numOutputs)``, then options as keywords or
    MATLAB name-value pairs (case-insensitive):

    * MiniBatchSize (128); PartialMiniBatch "return" (default) or "discard".
    * MiniBatchFcn: "collate" (default: each variable's observations stacked along a new last
      axis, H x W x C -> H x W x C x N, F -> F x N, scalars -> 1 x N) or a function that takes
      one list per datastore variable (one entry per observation, MATLAB's cell arrays;
      a function with fewer parameters gets the first variables only, e.g. the images of a
      labelled datastore) and returns the outputs (a tuple when there are several).
    * MiniBatchFormat: one dlarray format per output, e.g. ``["SSCB", ""]`` ("" = unformatted).
    * OutputCast ("single"; also "double", "logical", integer types, "" to keep the type),
      OutputAsDlarray (True), OutputEnvironment ("auto": minidl's active backend, "cpu",
      "gpu"): one value for all outputs or one per output.

    `ds` is an imageDatastore (outputs: images, and labels when it has them), an
    arrayDatastore or a combine(...) of them. See the module docstring for MATLAB's
    semantics and the differences.
    """
    if not isinstance(ds, DATASTORE_TYPES):
        hint = (" (wrap an array as arrayDatastore(X, IterationDimension=4) for H x W x C x N "
                "images)") if hasattr(ds, "shape") else ""
        raise TypeError(f"minibatchqueue: ds must be a datastore (imageDatastore, arrayDatastore, "
                        f"augmentedImageDatastore or combine), got {type(ds).__name__}{hint}")
    num_outputs = None
    if args and not isinstance(args[0], str):
        num_outputs = check_positive_int("numOutputs", args[0])
        args = args[1:]
    s = parse_name_value(args, options, _DEFAULTS, "minibatchqueue")
    fcn = s["MiniBatchFcn"]
    if isinstance(fcn, str):
        check_choice("MiniBatchFcn", fcn, ("collate",))
        fcn = "collate"
    elif not callable(fcn):
        raise TypeError(f"MiniBatchFcn must be a function or 'collate', got "
                        f"{type(fcn).__name__}")
    variables = len(_variables(ds, np.arange(0)))
    if num_outputs is None:
        num_outputs = variables
    elif fcn == "collate" and num_outputs != variables:
        raise ValueError(f"minibatchqueue: the datastore reads {variables} variables but "
                         f"numOutputs is {num_outputs}; without a MiniBatchFcn they must match")
    elif num_outputs > MAX_OUTPUTS:
        raise ValueError(f"minibatchqueue: numOutputs must be at most {MAX_OUTPUTS}, got "
                         f"{num_outputs}")
    settings = {
        "MiniBatchSize": check_positive_int("MiniBatchSize", s["MiniBatchSize"]),
        "PartialMiniBatch": check_choice("PartialMiniBatch", s["PartialMiniBatch"],
                                         ("return", "discard")),
        "MiniBatchFcn": fcn,
        "MiniBatchFormat": _per_output("MiniBatchFormat", s["MiniBatchFormat"], num_outputs,
                                       _check_format, broadcast_nonempty=False),
        "OutputCast": _per_output("OutputCast", s["OutputCast"], num_outputs, _check_cast),
        "OutputAsDlarray": _per_output("OutputAsDlarray", s["OutputAsDlarray"], num_outputs,
                                       check_flag),
        "OutputEnvironment": _per_output("OutputEnvironment", s["OutputEnvironment"],
                                         num_outputs, _check_environment),
    }
    check_choice("PreprocessingEnvironment", s["PreprocessingEnvironment"], ("serial",))
    for k, (fmt, as_dl) in enumerate(zip(settings["MiniBatchFormat"],
                                         settings["OutputAsDlarray"])):
        if fmt and not as_dl:
            raise ValueError(f"MiniBatchFormat {fmt!r} is given for output {k + 1} but its "
                             "OutputAsDlarray is false: only a dlarray has a format")
    return MiniBatchQueue(ds, num_outputs, settings)


# ---------------------------------------------------------------------------------------------
# Reading and collating


def _variables(ds: Any, indices: np.ndarray) -> tuple[Any, ...]:
    """The datastore's variables at `indices`; a labeled imageDatastore adds its labels."""
    variables = ds.read_batch(indices)
    if isinstance(ds, ImageDatastore) and ds.Labels is not None:
        variables = (*variables, ds.Labels[indices])
    return variables


def _arity(fcn: Any) -> int | None:
    """How many of the datastore's variables a MiniBatchFcn takes: its positional parameters
    (MATLAB's test queues pass predictors alone to a one-input function of a datastore that
    also holds labels), or None for all of them (``*args``, no signature, "collate")."""
    if not callable(fcn):
        return None
    try:
        params = list(inspect.signature(fcn).parameters.values())
    except (TypeError, ValueError):
        return None
    if any(p.kind is p.VAR_POSITIONAL for p in params):
        return None
    return len([p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)])


def _collate(variable: Any) -> np.ndarray:
    """Observations stacked along a new last axis (scalars give a 1 x N row)."""
    if isinstance(variable, list):
        variable = _stack_pieces(variable)
    return variable[np.newaxis] if variable.ndim == 1 else variable


def _stack_pieces(pieces: list[Any]) -> np.ndarray:
    """np.stack along a new last axis, with a clear error when the pieces differ in size."""
    shapes = {np.shape(p) for p in pieces}
    if len(shapes) > 1:
        shown = ", ".join("x".join(map(str, s)) for s in sorted(shapes)[:3])
        raise ValueError(f"minibatchqueue cannot collate observations of different sizes "
                         f"({shown}); resize them in a MiniBatchFcn")
    if not pieces:
        return np.zeros((0,), dtype=np.float32)
    return np.stack(pieces, axis=-1)


def _pieces(variable: Any) -> list[Any]:
    """One entry per observation, for a MiniBatchFcn (views, not copies, for arrays)."""
    if isinstance(variable, list):
        return variable
    return list(np.moveaxis(variable, -1, 0))


def _output_module(environment: str) -> Any:
    """The array module for OutputEnvironment: "cpu" NumPy, "gpu" the device backend, "auto"
    the active backend (minidl.backend decides; no library is named here)."""
    if environment == "cpu":
        return np
    if environment == "gpu":
        return backend.device_backend().module
    return backend.active_module()


# ---------------------------------------------------------------------------------------------
# Option checks


def _per_output(name: str, value: Any, n: int, check: Callable[[str, Any], Any],
                broadcast_nonempty: bool = True) -> list[Any]:
    """One checked value per output: a list of n values, or one value for all of them."""
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value.item()  # a 0-d array is its one value
    if isinstance(value, (list, tuple, np.ndarray)) and not isinstance(value, str):
        values = list(value.tolist() if isinstance(value, np.ndarray) else value)
        if len(values) != n:
            raise ValueError(f"{name} must have one value per output ({n}), got {len(values)}: "
                             f"{values!r}")
        return [check(name, v) for v in values]
    single = check(name, value)
    if n > 1 and not broadcast_nonempty and single:
        raise ValueError(f"{name} {value!r} is one value for {n} outputs: give one per output, "
                         f"e.g. [{value!r}" + ", ''" * (n - 1) + "]")
    return [single] * n


def _check_format(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string such as 'SSCB' (or '' for none), got "
                        f"{type(value).__name__}")
    return value.upper()


def _check_cast(name: str, value: Any) -> str:
    if value == "":
        return ""
    return check_choice(name, value, tuple(_CASTS))



def _check_environment(name: str, value: Any) -> str:
    env = check_choice(name, value, _ENVIRONMENTS)
    if env == "gpu":
        backend.device_backend()  # raises BackendUnavailableError now, not at the first next
    return env
