"""Learning-rate schedules: MATLAB's ``piecewiseLearnRate``, ``warmupLearnRate``, ...

``trainingOptions(..., LearnRateSchedule=...)`` takes "none", one of the names "piecewise",
"warmup", "polynomial", "exponential", "cosine" and "cyclical", one of the schedule objects
below, a list of names and objects that run one after another (MATLAB's cell array
``{"warmup", cosineLearnRate(...)}``), or a function of the epoch number.

Every schedule here is a pure function of its own step counter ``k`` (1, 2, 3, ...): it returns
a *factor* that multiplies ``InitialLearnRate``. ``k`` counts epochs or iterations, as
``FrequencyUnit`` says; an epoch-based schedule keeps one learning rate for every iteration of
an epoch. In a list, each schedule runs for its ``NumSteps`` steps and the next one then starts
again from its own ``k = 1``: after a 5-iteration warm-up, training iteration 15 is step 10 of
the schedule that follows. Only the last schedule of a list may be infinite (``NumSteps`` Inf);
a finite last schedule holds its final value once its steps are used up.

What MATLAB's documentation (R2024b, where all six objects appeared) says, paraphrased:

* piecewiseLearnRate (https://www.mathworks.com/help/deeplearning/ref/piecewiselearnrate.html):
  multiplies the rate by DropFactor, a number in (0, 1), every Period epochs or iterations
  (FrequencyUnit "epoch" or "iteration"); NumSteps is read-only Inf. It is what the name
  "piecewise" gives.
* warmupLearnRate (https://www.mathworks.com/help/deeplearning/ref/warmuplearnrate.html): ramps
  the rate up from InitialFactor to FinalFactor times the base rate (both positive) over
  NumSteps steps (a finite positive integer). The polynomialLearnRate page says that "warmup"
  lasts 5 training iterations, hence the defaults NumSteps 5 and FrequencyUnit "iteration".
* polynomialLearnRate (https://www.mathworks.com/help/deeplearning/ref/polynomiallearnrate.html):
  goes from InitialFactor to FinalFactor over NumSteps steps along a power law of exponent Power;
  its page defines the step counter of chained schedules (the example above). The name
  "polynomial" spreads the decay over the whole training.
* exponentialLearnRate (https://www.mathworks.com/help/deeplearning/ref/exponentiallearnrate.html):
  each step scales the rate by DropFactor^(1/Period), so by DropFactor every Period steps.
* cosineLearnRate (https://www.mathworks.com/help/deeplearning/ref/cosinelearnrate.html): a
  cosine from InitialFactor down to FinalFactor over Period steps, with warm restarts whose
  period grows by PeriodGrowthFactor; the name "cosine" spans the whole training.
* cyclicalLearnRate (https://www.mathworks.com/help/deeplearning/ref/cyclicallearnrate.html):
  rises from the base rate to MaxFactor times it and falls back, once every Period steps;
  StepRatio, in (0, 1), is the share of the cycle spent rising. NumSteps is read-only Inf.
* "Define Custom Learning Rate Schedule"
  (https://www.mathworks.com/help/deeplearning/ug/define-custom-learning-rate-schedule.html):
  LearnRateSchedule also takes a function handle of the epoch number.

minidl's choices, where those pages (as far as they could be read) do not say:

* the formulas' step origin: step ``k`` uses ``t = k - 1`` completed steps, so every schedule
  starts exactly at its initial factor (as PyTorch's schedulers do) and a finite one reaches its
  final factor right after its last step;
* the defaults other than warm-up's NumSteps and FrequencyUnit and piecewise's (which match
  trainingOptions' LearnRateDropFactor 0.1 and LearnRateDropPeriod 10), listed in each class;
* "polynomial" and "cosine" by name count epochs, over the epochs left when they start;
* cosine restarts when PeriodGrowthFactor is Inf: there are none, FinalFactor is kept;
* an epoch-based schedule that follows an iteration-based one mid-epoch starts with that epoch.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

from .._matlab import (
    MString,
    check_choice,
    check_in_range,
    check_positive_int,
    check_positive_real,
    format_properties,
    format_value,
    parse_name_value,
    unknown_name_message,
)

Validator = Callable[[str, Any], Any]
SCHEDULE_NAMES = ("piecewise", "warmup", "polynomial", "exponential", "cosine", "cyclical")


def _unit(name: str, v: Any) -> MString:
    return MString(check_choice(name, v, ("epoch", "iteration")))


def _open_unit(name: str, v: Any) -> float:
    return check_in_range(name, v, 0, 1, lo_open=True, hi_open=True)


def _positive(name: str, v: Any) -> float:
    return check_positive_real(name, v)


def _growth(name: str, v: Any) -> float:
    """A period may grow or stay (>= 1), or become infinite; a shrinking one would vanish."""
    if isinstance(v, int | float) and not isinstance(v, bool) and v == math.inf:
        return math.inf
    try:
        return check_in_range(name, v, 1, math.inf, hi_open=True)
    except ValueError:
        raise ValueError(f"{name} must be a number >= 1 or Inf, got {format_value(v)}.") from None


class LearnRateSchedule:
    """Base class of the schedule objects (MATLAB's ``deep.LearnRateSchedule``).

    A subclass declares its properties in ``_SPEC`` (name -> (default, validator)), in MATLAB's
    display order, and defines ``factor(k)``. Assignments are validated like MATLAB's; a
    schedule whose ``NumSteps`` is not in ``_SPEC`` is infinite and NumSteps is read-only Inf.
    """

    _SPEC: ClassVar[dict[str, tuple[Any, Validator]]] = {}
    _ORDER: ClassVar[tuple[str, ...]] = ()

    FrequencyUnit: MString

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        for name, (default, _) in self._SPEC.items():
            object.__setattr__(self, name, default)
        given = parse_name_value(args, kwargs, list(self._SPEC), type(self).__name__)
        for name, value in given.items():
            setattr(self, name, value)

    @property
    def NumSteps(self) -> float:
        """How many steps the schedule lasts: Inf unless the class declares it finite."""
        return self.__dict__.get("NumSteps", math.inf)

    @NumSteps.setter
    def NumSteps(self, value: Any) -> None:
        if "NumSteps" not in self._SPEC:
            raise AttributeError(f"NumSteps of {type(self).__name__} is read-only (always Inf).")
        self.__dict__["NumSteps"] = self._SPEC["NumSteps"][1]("NumSteps", value)

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "NumSteps":
            object.__setattr__(self, name, value)  # through the property above
            return
        if name not in self._SPEC:
            raise AttributeError(unknown_name_message(
                name, [*self._SPEC, "NumSteps"], f"a property of {type(self).__name__}"))
        object.__setattr__(self, name, self._SPEC[name][1](name, value))

    @classmethod
    def _trusted(cls, **values: Any) -> LearnRateSchedule:
        """A schedule with ``values`` set unchecked: for values that trainingOptions validated
        under its own rules (LearnRateDropFactor may be 0 or 1, piecewiseLearnRate's may not)."""
        schedule = cls()
        schedule.__dict__.update(values)
        return schedule

    def factor(self, k: int) -> float:
        """The multiplier of the base learning rate at the schedule's 1-based step ``k``."""
        raise NotImplementedError(f"{type(self).__name__} must define factor(k).")

    def _done(self, k: int) -> int:
        """Completed steps before step ``k``, capped at NumSteps (a finite schedule then holds)."""
        k = check_positive_int("k", k)
        return int(min(k - 1, self.NumSteps))

    def __repr__(self) -> str:
        props = [(name, format_value(getattr(self, name))) for name in self._ORDER]
        return format_properties(type(self).__name__, [(None, props)])


class piecewiseLearnRate(LearnRateSchedule):
    """Drop the rate by DropFactor every Period steps: factor = DropFactor^floor((k-1)/Period).

    ``piecewiseLearnRate(DropFactor=0.1, Period=10, FrequencyUnit="epoch")``; infinite.
    """

    _SPEC = {"DropFactor": (0.1, _open_unit), "Period": (10, check_positive_int),
             "FrequencyUnit": (MString("epoch"), _unit)}
    _ORDER = ("DropFactor", "Period", "FrequencyUnit", "NumSteps")

    def factor(self, k: int) -> float:
        return self.DropFactor ** (self._done(k) // self.Period)


class warmupLearnRate(LearnRateSchedule):
    """Ramp the rate linearly from InitialFactor to FinalFactor over NumSteps steps.

    factor = g0 + (gN - g0) * min(k-1, N) / N. ``warmupLearnRate(InitialFactor=0.1,
    FinalFactor=1, NumSteps=5, FrequencyUnit="iteration")``; InitialFactor 0.1 and
    FinalFactor 1 are minidl's choice (MATLAB requires both to be positive).
    """

    _SPEC = {"InitialFactor": (0.1, _positive), "FinalFactor": (1.0, _positive),
             "NumSteps": (5, check_positive_int), "FrequencyUnit": (MString("iteration"), _unit)}
    _ORDER = ("InitialFactor", "FinalFactor", "NumSteps", "FrequencyUnit")

    def factor(self, k: int) -> float:
        g0, gn = self.InitialFactor, self.FinalFactor
        return g0 + (gn - g0) * self._done(k) / self.NumSteps


class polynomialLearnRate(LearnRateSchedule):
    """Decay the rate along a power law from InitialFactor to FinalFactor over NumSteps steps.

    factor = gN + (g0 - gN) * (1 - min(k-1, N) / N)^Power. ``polynomialLearnRate(
    InitialFactor=1, FinalFactor=0.1, Power=1, NumSteps=10, FrequencyUnit="epoch")``; these
    defaults are minidl's choice.
    """

    _SPEC = {"InitialFactor": (1.0, _positive), "FinalFactor": (0.1, _positive),
             "Power": (1.0, _positive), "NumSteps": (10, check_positive_int),
             "FrequencyUnit": (MString("epoch"), _unit)}
    _ORDER = ("InitialFactor", "FinalFactor", "Power", "NumSteps", "FrequencyUnit")

    def factor(self, k: int) -> float:
        g0, gn = self.InitialFactor, self.FinalFactor
        return gn + (g0 - gn) * (1 - self._done(k) / self.NumSteps) ** self.Power


class exponentialLearnRate(LearnRateSchedule):
    """Scale the rate by DropFactor^(1/Period) each step: factor = DropFactor^((k-1)/Period).

    ``exponentialLearnRate(DropFactor=0.1, Period=10, FrequencyUnit="epoch")`` (defaults are
    minidl's choice, the same as piecewiseLearnRate's); infinite.
    """

    _SPEC = {"DropFactor": (0.1, _open_unit), "Period": (10, check_positive_int),
             "FrequencyUnit": (MString("epoch"), _unit)}
    _ORDER = ("DropFactor", "Period", "FrequencyUnit", "NumSteps")

    def factor(self, k: int) -> float:
        return self.DropFactor ** (self._done(k) / self.Period)


class cosineLearnRate(LearnRateSchedule):
    """Cosine annealing with warm restarts (SGDR), from InitialFactor down to FinalFactor.

    With t = k-1 steps done, of which tc since the last restart in a cycle of length T:
    factor = gN + (g0 - gN) * (1 + cos(pi * tc / T)) / 2. The first cycle lasts Period steps,
    each next one PeriodGrowthFactor times longer; with PeriodGrowthFactor Inf there is no
    restart and FinalFactor is kept after the first cycle. ``cosineLearnRate(InitialFactor=1,
    FinalFactor=0.01, Period=10, PeriodGrowthFactor=1, FrequencyUnit="epoch")``; these defaults
    are minidl's choice. Infinite.
    """

    _SPEC = {"InitialFactor": (1.0, _positive), "FinalFactor": (0.01, _positive),
             "Period": (10, check_positive_int), "PeriodGrowthFactor": (1.0, _growth),
             "FrequencyUnit": (MString("epoch"), _unit)}
    _ORDER = ("InitialFactor", "FinalFactor", "Period", "PeriodGrowthFactor", "FrequencyUnit",
              "NumSteps")

    def factor(self, k: int) -> float:
        g0, gn = self.InitialFactor, self.FinalFactor
        t, period, growth = float(self._done(k)), float(self.Period), self.PeriodGrowthFactor
        if growth == 1:
            t %= period
        else:
            while t >= period:  # a growing period: at most log(t)/log(growth) cycles
                t, period = t - period, period * growth
                if math.isinf(period):
                    return gn
        return gn + (g0 - gn) * (1 + math.cos(math.pi * t / period)) / 2


class cyclicalLearnRate(LearnRateSchedule):
    """A triangular cycle between the base rate and MaxFactor times it, once every Period steps.

    With p = (k-1) mod Period and r = StepRatio * Period: factor = 1 + (MaxFactor-1) * p / r
    while rising (p < r), then MaxFactor - (MaxFactor-1) * (p - r) / (Period - r).
    ``cyclicalLearnRate(MaxFactor=10, Period=10, StepRatio=0.5, FrequencyUnit="epoch")``; these
    defaults are minidl's choice. Infinite.
    """

    _SPEC = {"MaxFactor": (10.0, _positive), "Period": (10, check_positive_int),
             "StepRatio": (0.5, _open_unit), "FrequencyUnit": (MString("epoch"), _unit)}
    _ORDER = ("MaxFactor", "Period", "StepRatio", "FrequencyUnit", "NumSteps")

    def factor(self, k: int) -> float:
        p, rise = self._done(k) % self.Period, self.StepRatio * self.Period
        top = self.MaxFactor
        if p < rise:
            return 1 + (top - 1) * p / rise
        return top - (top - 1) * (p - rise) / (self.Period - rise)


# ---------------------------------------------------------------------------------------------
# Names, chains and the position in training

def from_name(name: str, *, drop_factor: float, drop_period: int,
              remaining_epochs: int) -> LearnRateSchedule:
    """The schedule object a name stands for in trainingOptions.

    "piecewise" takes LearnRateDropFactor and LearnRateDropPeriod (in epochs), as before
    R2024b; "polynomial" and "cosine" span the ``remaining_epochs`` of training.
    """
    name = check_choice("LearnRateSchedule", name, SCHEDULE_NAMES)
    if name == "piecewise":
        return piecewiseLearnRate._trusted(DropFactor=drop_factor, Period=drop_period)
    if name == "polynomial":
        return polynomialLearnRate(NumSteps=remaining_epochs)
    if name == "cosine":
        return cosineLearnRate(Period=remaining_epochs)
    return {"warmup": warmupLearnRate, "exponential": exponentialLearnRate,
            "cyclical": cyclicalLearnRate}[name]()


def is_finite(stage: LearnRateSchedule | str) -> bool:
    """Whether a schedule (or a schedule name) ends, so that another one may follow it."""
    if isinstance(stage, str):
        return stage.lower() in ("warmup", "polynomial")
    return math.isfinite(stage.NumSteps)


def chained_factor(stages: Sequence[Any], epoch: int, iteration: int | None,
                   iterations_per_epoch: int | None,
                   resolve: Callable[[Any, int], LearnRateSchedule]) -> float:
    """The factor of a chain of schedules at 1-based ``epoch`` and global ``iteration``.

    Walks the stages in order, each starting where the previous one ended, and asks the one
    that covers the position. ``resolve(stage, start_epoch)`` turns a name into an object.
    ``iterations_per_epoch`` is needed only to move between epoch- and iteration-based stages
    (and ``iteration`` only for an iteration-based stage after epoch 1).
    """

    def per_epoch() -> int:
        if iterations_per_epoch is None:
            raise ValueError("iterations_per_epoch is needed to chain epoch-based and "
                             "iteration-based learning-rate schedules.")
        return iterations_per_epoch

    def current_iteration() -> int:
        if iteration is not None:
            return iteration
        if epoch == 1:
            return 1
        if iterations_per_epoch is not None:  # the first iteration of the epoch
            return (epoch - 1) * iterations_per_epoch + 1
        raise ValueError('iteration is needed for a schedule with FrequencyUnit "iteration".')

    start_epoch: int | None = 1
    start_iteration: int | None = 1
    for i, stage in enumerate(stages):
        if start_epoch is None:  # after an iteration-based stage: the epoch it ended in
            start_epoch = (start_iteration - 1) // per_epoch() + 1
        schedule = resolve(stage, start_epoch)
        if schedule.FrequencyUnit == "epoch":
            begin, here = start_epoch, epoch
        else:
            if start_iteration is None:  # after an epoch-based stage: its next epoch's start
                start_iteration = (start_epoch - 1) * per_epoch() + 1
            begin, here = start_iteration, current_iteration()
        k = here - begin + 1
        if k <= schedule.NumSteps or i == len(stages) - 1:
            return schedule.factor(k)
        end = begin + int(schedule.NumSteps)
        if schedule.FrequencyUnit == "epoch":
            start_epoch, start_iteration = end, None
        else:
            start_epoch, start_iteration = None, end
    raise ValueError("LearnRateSchedule: an empty list of schedules.")
