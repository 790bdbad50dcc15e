"""``trainingOptions``: MATLAB's solver options objects for sgdm, adam and rmsprop.

Each option is declared once below with its default and validator; the objects validate every
assignment (``opts.MaxEpochs = 5``) and display themselves exactly as MATLAB does.
LearnRateSchedule takes the schedules of :mod:`minidl.lr_schedules` (MATLAB R2024b's).
"""

from __future__ import annotations

import inspect
import math
import numbers
import os
from collections.abc import Callable
from typing import Any, ClassVar

from .._matlab import (
    MString,
    check_choice,
    check_flag,
    check_in_range,
    check_nonneg_real,
    check_positive_int,
    check_positive_real,
    check_text,
    format_properties,
    format_value,
    parse_name_value,
    unknown_name_message,
)
from .schedules import (
    SCHEDULE_NAMES,
    LearnRateSchedule,
    chained_factor,
    from_name,
    is_finite,
)

Validator = Callable[[str, Any], Any]
METRICS = ("accuracy", "crossentropy", "mse", "rmse")


def _choice(*choices: str) -> Validator:
    return lambda name, v: check_choice(name, v, choices)



def _positive_int_or_inf(name: str, v: Any) -> int | float:
    if isinstance(v, numbers.Real) and v == math.inf:
        return math.inf
    try:
        return check_positive_int(name, v)
    except ValueError:
        raise ValueError(f"{name} must be a positive integer or Inf, "
                         f"got {format_value(v)}.") from None


def _real(name: str, v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, numbers.Real):
        raise ValueError(f"{name} must be a real number, got {format_value(v)}.")
    return float(v)



def _checkpoint_path(name: str, v: Any) -> str:
    path = check_text(name, v)
    if path and os.path.exists(path) and not os.path.isdir(path):
        raise ValueError(f"{name} must be a folder, but '{path}' is a file.")
    return path


def _sequence_length(name: str, v: Any) -> str:
    """"longest" or "shortest"; MATLAB's integer (split long sequences into pieces) is refused
    with a clear message rather than ignored."""
    if isinstance(v, str):
        return check_choice(name, v, ("longest", "shortest"))
    raise ValueError(f"{name} {format_value(v)} is not supported yet: MATLAB's integer "
                     "SequenceLength splits long sequences into pieces; use 'longest' or "
                     "'shortest'.")


def _validation_data(name: str, v: Any) -> Any:
    """A pair (X, T), like MATLAB's {X, T} cell, or a datastore-like object, kept as given."""
    if isinstance(v, tuple | list) and len(v) != 2:
        raise ValueError(f"{name} must be a pair (X, T) or a datastore, "
                         f"got a sequence of {len(v)} items.")
    datastore = hasattr(v, "read_all") and not hasattr(v, "shape")
    if not isinstance(v, tuple | list) and not datastore:
        shown = format_value(v) if isinstance(v, str | numbers.Number) else type(v).__name__
        raise ValueError(f"{name} must be a pair (X, T) or a datastore, got {shown}.")
    return v


def _metrics(name: str, v: Any) -> list[MString] | None:
    """One metric name or several, as a list of MATLAB strings; none at all is None ([])."""
    if v is None or isinstance(v, list | tuple) and not v:
        return None
    items = [v] if isinstance(v, str) else v
    if not isinstance(items, list | tuple):
        raise ValueError(f"{name} must be a metric name or a list of them, got {format_value(v)}.")
    return [MString(check_choice(name, m, METRICS)) for m in items]


def _data_formats(name: str, v: Any) -> MString:
    """"auto" or a dlarray format such as "SSCB" (labels upper-cased, as dlarray stores them)."""
    text = check_text(name, v)
    if text.lower() == "auto":
        return MString("auto")
    fmt = text.upper()
    if not fmt or set(fmt) - set("SCBTU") or any(fmt.count(c) > 1 for c in "CBT"):
        raise ValueError(f'{name} must be "auto" or a format of the labels S, C, B, T and U '
                         f'with at most one each of C, B and T (e.g. "SSCB"), got "{text}".')
    return MString(fmt)


def _output_fcn(name: str, v: Any) -> Any:
    if v is None or callable(v):
        return v
    raise ValueError(f"{name} must be a callable (function handle) or None, "
                     f"got {format_value(v)}.")


def _learn_rate_schedule(name: str, v: Any) -> Any:
    """"none", a schedule name or object, a list of them run in turn, or a function of the epoch.

    One name stays a character vector ('cosine'); a list of names becomes a string array and a
    list with objects a cell array, for the display. Only the last schedule of a list may be
    infinite (NumSteps Inf), since the ones after it would never run.
    """
    if isinstance(v, str):
        return check_choice(name, v, ("none", *SCHEDULE_NAMES))
    v = _instance(v)
    if isinstance(v, LearnRateSchedule):
        return v
    if isinstance(v, list | tuple):
        if not v:
            raise ValueError(f"{name} must not be an empty list; use \"none\" for a constant rate.")
        stages: list[Any] = []
        for item in map(_instance, v):
            if isinstance(item, str):
                stages.append(MString(check_choice(name, item, SCHEDULE_NAMES)))
            elif isinstance(item, LearnRateSchedule):
                stages.append(item)
            else:
                raise ValueError(f"Each schedule in a {name} list must be a schedule name or "
                                 f"object, got {_shown(item)}.")
        for item in stages[:-1]:
            if not is_finite(item):
                raise ValueError(f"In a {name} list only the last schedule may be infinite "
                                 f"(NumSteps Inf), but {_shown(item)} is followed by another.")
        return stages
    if callable(v):
        return v
    raise ValueError(f'{name} must be "none", a schedule name ({", ".join(SCHEDULE_NAMES)}), a '
                     f"schedule object, a list of them or a function of the epoch, "
                     f"got {_shown(v)}.")


def _instance(v: Any) -> Any:
    """A schedule class given without parentheses (MATLAB's ``LearnRateSchedule=
    cosineLearnRate`` makes the object) becomes its default object."""
    return v() if isinstance(v, type) and issubclass(v, LearnRateSchedule) else v


def _shown(v: Any) -> str:
    if isinstance(v, LearnRateSchedule):
        return type(v).__name__
    return format_value(v) if isinstance(v, str | numbers.Number) else type(v).__name__


def _in_unit(name: str, v: Any) -> float:
    return check_in_range(name, v, 0, 1)


def _decay(name: str, v: Any) -> float:
    """Decay factors must stay below 1, or the moving averages would never forget."""
    return check_in_range(name, v, 0, 1, hi_open=True)


# Name -> (default, validator), in the order of MATLAB's display (after the solver's own fields).
_COMMON: dict[str, tuple[Any, Validator]] = {
    "MaxEpochs": (30, check_positive_int),
    "LearnRateSchedule": ("none", _learn_rate_schedule),
    "LearnRateDropFactor": (0.1, _in_unit),
    "LearnRateDropPeriod": (10, check_positive_int),
    "MiniBatchSize": (128, check_positive_int),
    "Shuffle": ("once", _choice("once", "every-epoch", "never")),
    "CheckpointFrequency": (1, check_positive_int),
    "CheckpointFrequencyUnit": ("epoch", _choice("epoch", "iteration")),
    "SequenceLength": ("longest", _sequence_length),
    "PreprocessingEnvironment": ("serial", _choice("serial", "background", "parallel")),
    "L2Regularization": (1e-4, check_nonneg_real),
    "GradientThresholdMethod": ("l2norm", _choice("l2norm", "global-l2norm", "absolute-value")),
    "GradientThreshold": (math.inf, lambda n, v: check_positive_real(n, v, allow_inf=True)),
    "Verbose": (True, check_flag),
    "VerboseFrequency": (50, check_positive_int),
    "ValidationData": (None, _validation_data),
    "ValidationFrequency": (50, check_positive_int),
    "ValidationPatience": (math.inf, _positive_int_or_inf),
    "ObjectiveMetricName": ("loss", check_text),
    "CheckpointPath": ("", _checkpoint_path),
    "ExecutionEnvironment": ("auto", _choice("auto", "cpu", "gpu", "parallel", "parallel-auto",
                                             "parallel-cpu", "parallel-gpu", "multi-gpu")),
    "OutputFcn": (None, _output_fcn),
    "Metrics": (None, _metrics),
    "Plots": ("none", _choice("none", "training-progress")),
    "SequencePaddingValue": (0, _real),
    "SequencePaddingDirection": ("right", _choice("right", "left")),
    "InputDataFormats": (MString("auto"), _data_formats),
    "TargetDataFormats": (MString("auto"), _data_formats),
    "ResetInputNormalization": (True, check_flag),
    "BatchNormalizationStatistics": ("auto", _choice("auto", "population", "moving")),
    "OutputNetwork": ("auto", _choice("auto", "last-iteration", "best-validation")),
    "Acceleration": (MString("auto"), _choice(MString("auto"), MString("none"))),
}

# minidl's own options (not MATLAB's): settable like the others, displayed only when set.
_MINIDL: dict[str, tuple[Any, Validator]] = {
    "PlotFile": ("", lambda n, v: _plot_file(n, v)),
}


def _plot_file(name: str, v: Any) -> str:
    path = check_text(name, v)
    if path and os.path.isdir(path):
        raise ValueError(f"{name} must be a file name (a .png), but '{path}' is a folder.")
    return path


class TrainingOptions:
    """Options shared by every solver; subclasses add their solver's fields and defaults.

    A plain mutable object like MATLAB's: each assignment to a known PascalCase property is
    validated, and assigning an unknown one raises AttributeError.
    """

    solver_name: ClassVar[str] = ""
    _SOLVER: ClassVar[dict[str, tuple[Any, Validator]]] = {}
    _INITIAL_LEARN_RATE: ClassVar[float] = 0.001

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        for name, value in self._defaults().items():
            object.__setattr__(self, name, value)
        given = parse_name_value(args, kwargs, list(self._spec()), f"solver '{self.solver_name}'")
        for name, value in given.items():
            setattr(self, name, value)

    @classmethod
    def _spec(cls) -> dict[str, tuple[Any, Validator]]:
        """Every property in MATLAB's display order: solver fields first, then the common ones."""
        lr = (cls._INITIAL_LEARN_RATE, check_positive_real)
        return {**cls._SOLVER, "InitialLearnRate": lr, **_COMMON, **_MINIDL}

    @classmethod
    def _defaults(cls) -> dict[str, Any]:
        return {name: default for name, (default, _) in cls._spec().items()}

    def __setattr__(self, name: str, value: Any) -> None:
        spec = self._spec()
        if name not in spec:
            raise AttributeError(unknown_name_message(
                name, list(spec), f"a property of {type(self).__name__}"))
        object.__setattr__(self, name, spec[name][1](name, value))

    def learn_rate(self, epoch: int, iteration: int | None = None,
                   iterations_per_epoch: int | None = None) -> float:
        """The learning rate for 1-based ``epoch`` (and global 1-based ``iteration``).

        "none" keeps InitialLearnRate; 'piecewise' multiplies it by LearnRateDropFactor once
        every LearnRateDropPeriod epochs: lr0 * F ** ((epoch - 1) // P). A schedule object or
        list multiplies it by the schedule's factor (see :mod:`minidl.lr_schedules`);
        iteration-based schedules need ``iteration`` after epoch 1, and a list that mixes
        epoch- and iteration-based schedules needs ``iterations_per_epoch`` too (trainnet
        passes both). A function is called as ``f(epoch)``, or ``f(InitialLearnRate, epoch)``
        when it takes two arguments (minidl's choice), and returns the rate itself.
        """
        epoch = check_positive_int("epoch", epoch)
        if iteration is not None:
            iteration = check_positive_int("iteration", iteration)
        if iterations_per_epoch is not None:
            iterations_per_epoch = check_positive_int("iterations_per_epoch",
                                                      iterations_per_epoch)
        schedule, lr0 = self.LearnRateSchedule, self.InitialLearnRate
        if isinstance(schedule, str) and schedule == "none":
            return lr0
        if callable(schedule) and not isinstance(schedule, LearnRateSchedule):
            return _call_schedule_function(schedule, lr0, epoch)
        stages = schedule if isinstance(schedule, list) else [schedule]
        return lr0 * chained_factor(stages, epoch, iteration, iterations_per_epoch,
                                    self._resolve)

    def _resolve(self, stage: Any, start_epoch: int) -> LearnRateSchedule:
        """A schedule name as the object it stands for, given the epoch it starts in."""
        if isinstance(stage, LearnRateSchedule):
            return stage
        return from_name(stage, drop_factor=self.LearnRateDropFactor,
                         drop_period=self.LearnRateDropPeriod,
                         remaining_epochs=max(1, self.MaxEpochs - start_epoch + 1))

    def __repr__(self) -> str:
        props = [(name, _display(getattr(self, name))) for name in self._spec()
                 if name not in _MINIDL or getattr(self, name) != _MINIDL[name][0]]
        return format_properties(type(self).__name__, [(None, props)])


def _call_schedule_function(f: Callable, lr0: float, epoch: int) -> float:
    """A LearnRateSchedule function's rate for ``epoch``: f(epoch), or f(lr0, epoch) when f
    has two required positional parameters."""
    try:
        params = inspect.signature(f).parameters.values()
        required = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
                    and p.default is p.empty]  # f(epoch, drop=0.5) takes one argument
        two = len(required) >= 2
    except (TypeError, ValueError):  # no signature (some built-ins): assume f(epoch)
        two = False
    rate = f(lr0, epoch) if two else f(epoch)
    if isinstance(rate, bool) or not isinstance(rate, numbers.Real) or not (
            math.isfinite(rate) and rate >= 0):
        raise ValueError("The LearnRateSchedule function must return a nonnegative finite "
                         f"number, got {format_value(rate)} for epoch {epoch}.")
    return float(rate)


def _display(v: Any) -> str:
    """format_value, except that a Python tuple or list of data shows as a MATLAB cell array."""
    if isinstance(v, tuple | list) and v and not all(isinstance(x, MString) for x in v):
        return f"{{1×{len(v)} cell}}"
    return format_value(v)


class TrainingOptionsSGDM(TrainingOptions):
    """Stochastic gradient descent with momentum."""

    solver_name = "sgdm"
    _INITIAL_LEARN_RATE = 0.01
    _SOLVER = {"Momentum": (0.9, _in_unit)}


class TrainingOptionsADAM(TrainingOptions):
    """Adaptive moment estimation."""

    solver_name = "adam"
    _SOLVER = {
        "GradientDecayFactor": (0.9, _decay),
        "SquaredGradientDecayFactor": (0.999, _decay),
        "Epsilon": (1e-8, check_positive_real),
    }


class TrainingOptionsRMSProp(TrainingOptions):
    """Root-mean-square propagation."""

    solver_name = "rmsprop"
    _SOLVER = {
        "SquaredGradientDecayFactor": (0.9, _decay),
        "Epsilon": (1e-8, check_positive_real),
    }


_SOLVERS: dict[str, type[TrainingOptions]] = {
    "sgdm": TrainingOptionsSGDM,
    "adam": TrainingOptionsADAM,
    "rmsprop": TrainingOptionsRMSProp,
}


def trainingOptions(solverName: str, *args: Any, **kwargs: Any) -> TrainingOptions:
    """MATLAB's ``trainingOptions(solverName, Name, Value, ...)`` (keywords work too)."""
    if not isinstance(solverName, str) or solverName.lower() not in _SOLVERS:
        raise ValueError('solverName must be "sgdm", "adam" or "rmsprop", '
                         f"got {format_value(solverName)}.")
    return _SOLVERS[solverName.lower()](*args, **kwargs)
