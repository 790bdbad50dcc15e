"""Tests for minidl.training.schedules and LearnRateSchedule in trainingOptions.

Expected values are written out from the formulas (t = k - 1 completed steps), not taken from
the module's own helpers.
"""

import math

import numpy as np
import pytest

from minidl.layers import featureInputLayer, fullyConnectedLayer, softmaxLayer
from minidl.training.options import trainingOptions
from minidl.training.schedules import (
    LearnRateSchedule,
    cosineLearnRate,
    cyclicalLearnRate,
    exponentialLearnRate,
    piecewiseLearnRate,
    polynomialLearnRate,
    warmupLearnRate,
)
from minidl.training.trainnet import trainnet

STEPS = range(1, 26)


def factors(schedule, steps=STEPS):
    return [schedule.factor(k) for k in steps]


# --- each schedule against its formula ----------------------------------------------------------

def test_piecewise_drops_every_period():
    s = piecewiseLearnRate(DropFactor=0.5, Period=3)
    want = [1, 1, 1, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.125]
    assert factors(s, range(1, 11)) == pytest.approx(want)


def test_warmup_linear_ramp_then_holds():
    s = warmupLearnRate(InitialFactor=0.2, FinalFactor=1.0, NumSteps=4)
    # 0.2 + 0.8 * t / 4 for t = 0..4, then the final factor
    assert factors(s, range(1, 8)) == pytest.approx([0.2, 0.4, 0.6, 0.8, 1.0, 1.0, 1.0])


def test_polynomial_power_law():
    s = polynomialLearnRate(InitialFactor=2, FinalFactor=0.5, Power=2, NumSteps=4)
    want = [0.5 + 1.5 * (1 - t / 4) ** 2 for t in (0, 1, 2, 3, 4, 4, 4)]
    assert factors(s, range(1, 8)) == pytest.approx(want)
    assert want[:3] == pytest.approx([2.0, 0.5 + 1.5 * 0.5625, 0.875])


def test_exponential_smooth_drop():
    s = exponentialLearnRate(DropFactor=0.25, Period=2)
    # each step multiplies by 0.25 ** (1/2) = 0.5
    assert factors(s, range(1, 6)) == pytest.approx([1, 0.5, 0.25, 0.125, 0.0625])


def test_cosine_cycles_restart():
    s = cosineLearnRate(InitialFactor=1, FinalFactor=0.2, Period=4)
    cycle = [0.2 + 0.8 * (1 + math.cos(math.pi * t / 4)) / 2 for t in range(4)]
    assert cycle == pytest.approx([1.0, 0.2 + 0.4 * (1 + math.sqrt(0.5)), 0.6,
                                   0.2 + 0.4 * (1 - math.sqrt(0.5))])
    assert factors(s, range(1, 13)) == pytest.approx(cycle * 3)


def test_cosine_growing_periods():
    s = cosineLearnRate(InitialFactor=1, FinalFactor=0.1, Period=2, PeriodGrowthFactor=2)

    def cos_part(t, period):
        return 0.1 + 0.9 * (1 + math.cos(math.pi * t / period)) / 2

    # cycles of 2, 4 and 8 steps
    want = [cos_part(t, 2) for t in range(2)] + [cos_part(t, 4) for t in range(4)] \
        + [cos_part(t, 8) for t in range(8)]
    assert factors(s, range(1, 15)) == pytest.approx(want)


def test_cosine_infinite_growth_keeps_final_factor():
    s = cosineLearnRate(InitialFactor=1, FinalFactor=0.1, Period=3, PeriodGrowthFactor=math.inf)
    assert factors(s, range(1, 4)) == pytest.approx([1.0, 0.775, 0.325])
    assert factors(s, range(4, 9)) == pytest.approx([0.1] * 5)


def test_cyclical_triangle():
    s = cyclicalLearnRate(MaxFactor=5, Period=8, StepRatio=0.25)
    # rises over 2 steps (1 -> 3 -> 5), falls over 6 steps back towards 1, then repeats
    one = [1, 3, 5, 5 - 4 / 6, 5 - 8 / 6, 3, 5 - 16 / 6, 5 - 20 / 6]
    assert factors(s, range(1, 17)) == pytest.approx(one * 2)
    assert max(factors(s)) == pytest.approx(5) and min(factors(s)) == pytest.approx(1)


def test_defaults_and_num_steps():
    assert (warmupLearnRate().NumSteps, warmupLearnRate().FrequencyUnit) == (5, "iteration")
    p = piecewiseLearnRate()
    assert (p.DropFactor, p.Period, p.FrequencyUnit, p.NumSteps) == (0.1, 10, "epoch", math.inf)
    for cls in (exponentialLearnRate, cosineLearnRate, cyclicalLearnRate, piecewiseLearnRate):
        assert cls().NumSteps == math.inf and isinstance(cls(), LearnRateSchedule)
    assert polynomialLearnRate(NumSteps=7).NumSteps == 7


def test_name_value_pairs_and_assignment():
    s = cosineLearnRate("period", 6, FrequencyUnit="Iteration")
    assert (s.Period, s.FrequencyUnit) == (6, "iteration")
    s.FinalFactor = 0.5
    assert s.FinalFactor == 0.5


# --- validation ---------------------------------------------------------------------------------

@pytest.mark.parametrize("make, message", [
    (lambda: piecewiseLearnRate(DropFactor=1), r"DropFactor must be .* range \(0, 1\)"),
    (lambda: exponentialLearnRate(DropFactor=0), r"DropFactor must be .* \(0, 1\), got 0"),
    (lambda: piecewiseLearnRate(Period=0), "Period must be a positive integer, got 0"),
    (lambda: warmupLearnRate(NumSteps=2.5), "NumSteps must be a positive integer"),
    (lambda: warmupLearnRate(NumSteps=math.inf), "NumSteps must be a positive integer"),
    (lambda: warmupLearnRate(InitialFactor=0), "InitialFactor must be a positive number, got 0"),
    (lambda: polynomialLearnRate(Power=-1), "Power must be a positive number"),
    (lambda: cosineLearnRate(PeriodGrowthFactor=0.5), "PeriodGrowthFactor must be a number >= 1"),
    (lambda: cyclicalLearnRate(StepRatio=1), r"StepRatio must be .* \(0, 1\)"),
    (lambda: cyclicalLearnRate(FrequencyUnit="batch"),
     "FrequencyUnit must be one of 'epoch', 'iteration', got 'batch'"),
    (lambda: cosineLearnRate(Periode=3), "'Periode' is not an option for cosineLearnRate. "
                                         "Did you mean 'Period'"),
    (lambda: piecewiseLearnRate(NumSteps=3), "'NumSteps' is not an option for piecewiseLearnRate"),
])
def test_invalid_properties(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_read_only_and_unknown_attributes():
    s = cyclicalLearnRate()
    with pytest.raises(AttributeError, match="NumSteps of cyclicalLearnRate is read-only"):
        s.NumSteps = 4
    with pytest.raises(AttributeError, match="'MaxFactr' is not a property of cyclicalLearnRate"):
        s.MaxFactr = 3
    with pytest.raises(ValueError, match="MaxFactor must be a positive number"):
        s.MaxFactor = -1
    assert s.MaxFactor == 10


# --- display ------------------------------------------------------------------------------------

def test_object_display():
    assert repr(warmupLearnRate()).split("\n") == [
        "  warmupLearnRate with properties:",
        "",
        "    InitialFactor: 0.1000",
        "      FinalFactor: 1",
        "         NumSteps: 5",
        '    FrequencyUnit: "iteration"',
    ]
    assert repr(cosineLearnRate(Period=20)).split("\n") == [
        "  cosineLearnRate with properties:",
        "",
        "         InitialFactor: 1",
        "           FinalFactor: 0.0100",
        "                Period: 20",
        "    PeriodGrowthFactor: 1",
        '         FrequencyUnit: "epoch"',
        "              NumSteps: Inf",
    ]


# --- in trainingOptions: names, chains, functions ------------------------------------------

def rates(opts, epochs, per_epoch):
    """learn_rate at every iteration, as trainnet asks for it."""
    return [opts.learn_rate(e, (e - 1) * per_epoch + b, per_epoch)
            for e in range(1, epochs + 1) for b in range(1, per_epoch + 1)]


def test_names_are_the_default_objects():
    for name, cls in [("warmup", warmupLearnRate), ("exponential", exponentialLearnRate),
                      ("cyclical", cyclicalLearnRate)]:
        opts = trainingOptions("adam", LearnRateSchedule=name.upper(), InitialLearnRate=0.5)
        assert opts.LearnRateSchedule == name
        want = [0.5 * cls().factor(k) for k in range(1, 13)]
        unit = cls().FrequencyUnit
        got = [opts.learn_rate(k, k, 1) if unit == "iteration" else opts.learn_rate(k)
               for k in range(1, 13)]
        assert got == pytest.approx(want)


def test_cosine_and_polynomial_names_span_training():
    cos = trainingOptions("sgdm", LearnRateSchedule="cosine", MaxEpochs=4, InitialLearnRate=1)
    want = [0.01 + 0.99 * (1 + math.cos(math.pi * t / 4)) / 2 for t in range(4)]
    assert [cos.learn_rate(e) for e in range(1, 5)] == pytest.approx(want)
    poly = trainingOptions("sgdm", LearnRateSchedule="polynomial", MaxEpochs=5,
                           InitialLearnRate=1)
    assert [poly.learn_rate(e) for e in range(1, 6)] == pytest.approx(
        [1, 0.82, 0.64, 0.46, 0.28])


def test_object_schedule_scales_initial_learn_rate():
    opts = trainingOptions("sgdm", InitialLearnRate=0.2,
                           LearnRateSchedule=exponentialLearnRate(DropFactor=0.5, Period=1))
    assert [opts.learn_rate(e) for e in (1, 2, 3)] == pytest.approx([0.2, 0.1, 0.05])


def test_iteration_schedule_changes_within_an_epoch():
    opts = trainingOptions("sgdm", InitialLearnRate=1,
                           LearnRateSchedule=piecewiseLearnRate(DropFactor=0.5, Period=3,
                                                                FrequencyUnit="iteration"))
    assert rates(opts, 2, 4) == pytest.approx([1, 1, 1, 0.5, 0.5, 0.5, 0.25, 0.25])


def test_matlab_doc_example_warmup_then_iteration_schedule():
    """polynomialLearnRate's page: after "warmup" (5 iterations), iteration 15 is step 10."""
    poly = polynomialLearnRate(NumSteps=20, FrequencyUnit="iteration", FinalFactor=0.5)
    opts = trainingOptions("sgdm", InitialLearnRate=1, LearnRateSchedule=["warmup", poly])
    got = rates(opts, 3, 7)
    assert got[:5] == pytest.approx([0.1, 0.28, 0.46, 0.64, 0.82])
    assert got[14] == pytest.approx(0.5 + 0.5 * (1 - 9 / 20))  # k = 10: t = 9
    assert got[5] == pytest.approx(1.0)  # the polynomial's own first step


def test_epoch_warmup_then_epoch_schedule():
    """{warmupLearnRate(FrequencyUnit="epoch"), schedule}: epoch 15 is the schedule's epoch 10."""
    poly = polynomialLearnRate(NumSteps=20, FinalFactor=0.5)
    opts = trainingOptions("sgdm", InitialLearnRate=1, MaxEpochs=30,
                           LearnRateSchedule=(warmupLearnRate(FrequencyUnit="epoch"), poly))
    assert opts.learn_rate(15) == pytest.approx(0.5 + 0.5 * (1 - 9 / 20))
    assert opts.learn_rate(6) == pytest.approx(1.0)
    assert opts.learn_rate(40) == pytest.approx(0.5)  # past the last finite schedule: held


def test_warmup_iterations_then_cosine_epochs():
    opts = trainingOptions("sgdm", InitialLearnRate=1, MaxEpochs=4,
                           LearnRateSchedule=[warmupLearnRate(NumSteps=6),
                                              cosineLearnRate(Period=3)])
    got = rates(opts, 4, 4)
    ramp = [0.1 + 0.9 * t / 6 for t in range(6)]
    # the warm-up ends inside epoch 2, so the cosine's first epoch is epoch 2
    cos = [0.01 + 0.99 * (1 + math.cos(math.pi * t / 3)) / 2 for t in range(3)]
    assert got == pytest.approx(ramp + [cos[0]] * 2 + [cos[1]] * 4 + [cos[2]] * 4)


def test_epoch_warmup_then_iteration_piecewise():
    """The pattern of a published MATLAB script: epoch warm-up, then per-iteration drops."""
    sched = [warmupLearnRate(NumSteps=2, FrequencyUnit="epoch"),
             piecewiseLearnRate(DropFactor=0.5, Period=3, FrequencyUnit="iteration")]
    opts = trainingOptions("sgdm", InitialLearnRate=1, LearnRateSchedule=sched)
    got = rates(opts, 4, 4)
    assert got == pytest.approx([0.1] * 4 + [0.55] * 4 + [1, 1, 1, 0.5, 0.5, 0.5, 0.25, 0.25])


def test_function_of_epoch():
    one = trainingOptions("sgdm", LearnRateSchedule=lambda epoch: 0.1 / epoch)
    assert [one.learn_rate(e) for e in (1, 2, 4)] == pytest.approx([0.1, 0.05, 0.025])

    def halve(base, epoch):
        return base * 0.5 ** (epoch - 1)

    two = trainingOptions("sgdm", LearnRateSchedule=halve, InitialLearnRate=0.4)
    assert [two.learn_rate(e) for e in (1, 2, 3)] == pytest.approx([0.4, 0.2, 0.1])
    bad = trainingOptions("sgdm", LearnRateSchedule=lambda e: -1.0)
    with pytest.raises(ValueError, match="must return a nonnegative finite number, got -1"):
        bad.learn_rate(1)


@pytest.mark.parametrize("value, message", [
    ("cosin", "LearnRateSchedule must be one of 'none', 'piecewise', 'warmup', 'polynomial', "
              "'exponential', 'cosine', 'cyclical', got 'cosin'"),
    ([], "LearnRateSchedule must not be an empty list"),
    (["warmup", "none"], "LearnRateSchedule must be one of 'piecewise'"),
    (["warmup", 3], "Each schedule in a LearnRateSchedule list must be a schedule name or "
                    "object, got 3"),
    (["cosine", "warmup"], 'only the last schedule may be infinite .* but "cosine" is followed'),
    ([cyclicalLearnRate(), "warmup"], "but cyclicalLearnRate is followed by another"),
    (0.1, 'LearnRateSchedule must be "none", a schedule name'),
])
def test_invalid_schedules(value, message):
    with pytest.raises(ValueError, match=message):
        trainingOptions("sgdm", LearnRateSchedule=value)


def test_learn_rate_argument_errors():
    opts = trainingOptions("sgdm", LearnRateSchedule="warmup")
    assert opts.learn_rate(1) == pytest.approx(0.001)  # iteration 1 needs no iteration number
    with pytest.raises(ValueError, match='iteration is needed for a schedule with FrequencyUnit'):
        opts.learn_rate(2)
    with pytest.raises(ValueError, match="iteration must be a positive integer, got 0"):
        opts.learn_rate(1, 0)
    mixed = trainingOptions("sgdm", LearnRateSchedule=[warmupLearnRate(NumSteps=2),
                                                       cosineLearnRate()])
    with pytest.raises(ValueError, match="iterations_per_epoch is needed to chain"):
        mixed.learn_rate(2, 9)


# --- through trainnet -----------------------------------------------------------------------------

def test_trainnet_records_the_scheduled_rate():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((24, 3)).astype(np.float32)
    T = np.array(["a", "b", "c"] * 8)
    layers = [featureInputLayer(3), fullyConnectedLayer(3), softmaxLayer()]
    opts = trainingOptions("sgdm", MaxEpochs=3, MiniBatchSize=12, Verbose=False,
                           InitialLearnRate=0.1,
                           LearnRateSchedule=cosineLearnRate(Period=3, FinalFactor=0.1))
    _, info = trainnet(X, T, layers, "crossentropy", opts)
    per_epoch = [0.01 + 0.09 * (1 + math.cos(math.pi * t / 3)) / 2 for t in range(3)]
    np.testing.assert_allclose(info.TrainingHistory["LearnRate"], np.repeat(per_epoch, 2))


def test_trainnet_asks_for_the_rate_every_iteration():
    """An iteration-based warmup, then an epoch-based cosine: trainnet's history holds the rate
    of every iteration (the cosine starts with the epoch in which the warmup ends)."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((24, 3)).astype(np.float32)
    T = np.array(["a", "b", "c"] * 8)
    layers = [featureInputLayer(3), fullyConnectedLayer(3), softmaxLayer()]
    opts = trainingOptions("sgdm", MaxEpochs=3, MiniBatchSize=6, Verbose=False,
                           InitialLearnRate=0.1,
                           LearnRateSchedule=[warmupLearnRate(NumSteps=3),
                                              cosineLearnRate(Period=2, FinalFactor=0.1)])
    _, info = trainnet(X, T, layers, "crossentropy", opts)
    rates = np.asarray(info.TrainingHistory["LearnRate"])
    warmup = [0.1 * (0.1 + 0.9 * t / 3) for t in range(3)]  # iterations 1-3: 0.01, 0.04, 0.07
    cosine = [0.1 * (0.1 + 0.9 * (1 + math.cos(math.pi * t / 2)) / 2) for t in (0, 1, 0)]
    # 4 iterations an epoch; the cosine's step 1 is epoch 1 (where the warmup ends), then it
    # restarts after its period of 2 epochs
    expected = warmup + [cosine[0]] + [cosine[1]] * 4 + [cosine[2]] * 4
    np.testing.assert_allclose(rates, expected, rtol=1e-12)


def test_schedule_functions_and_classes_given_as_in_matlab():
    """A function with a default argument takes the epoch alone; a schedule class given
    without parentheses (MATLAB's LearnRateSchedule=cosineLearnRate) is its default object."""
    def halving(epoch, drop=0.5):
        return 0.01 * drop ** (epoch - 1)

    opts = trainingOptions("sgdm", LearnRateSchedule=halving, InitialLearnRate=0.01)
    np.testing.assert_allclose([opts.learn_rate(e) for e in (1, 2, 3)], [0.01, 0.005, 0.0025])
    opts = trainingOptions("sgdm", LearnRateSchedule=lambda lr0, epoch: lr0 / epoch,
                           InitialLearnRate=0.1)
    np.testing.assert_allclose([opts.learn_rate(e) for e in (1, 2, 4)], [0.1, 0.05, 0.025])
    opts = trainingOptions("sgdm", LearnRateSchedule=cosineLearnRate, MaxEpochs=4)
    assert isinstance(opts.LearnRateSchedule, cosineLearnRate)
    same = trainingOptions("sgdm", LearnRateSchedule=cosineLearnRate(), MaxEpochs=4)
    assert [opts.learn_rate(e) for e in range(1, 5)] == [same.learn_rate(e) for e in range(1, 5)]
    listed = trainingOptions("sgdm", LearnRateSchedule=[warmupLearnRate, cosineLearnRate])
    assert [type(s) for s in listed.LearnRateSchedule] == [warmupLearnRate, cosineLearnRate]
