"""Tests for minidl.training.options: defaults, validation, display and the LR schedule."""

import copy
import math

import numpy as np
import pytest

from minidl._matlab import MString
from minidl.training.options import (
    TrainingOptions,
    TrainingOptionsADAM,
    TrainingOptionsRMSProp,
    TrainingOptionsSGDM,
    trainingOptions,
)
from minidl.training.schedules import cosineLearnRate, warmupLearnRate

# R2023b/R2024 `options = trainingOptions("sgdm")`, from matlab_api.md §1 (without "options = ").
SGDM_DISPLAY = '''\
  TrainingOptionsSGDM with properties:

                        Momentum: 0.9000
                InitialLearnRate: 0.0100
                       MaxEpochs: 30
               LearnRateSchedule: 'none'
             LearnRateDropFactor: 0.1000
             LearnRateDropPeriod: 10
                   MiniBatchSize: 128
                         Shuffle: 'once'
             CheckpointFrequency: 1
         CheckpointFrequencyUnit: 'epoch'
                  SequenceLength: 'longest'
        PreprocessingEnvironment: 'serial'
                L2Regularization: 1.0000e-04
         GradientThresholdMethod: 'l2norm'
               GradientThreshold: Inf
                         Verbose: 1
                VerboseFrequency: 50
                  ValidationData: []
             ValidationFrequency: 50
              ValidationPatience: Inf
             ObjectiveMetricName: 'loss'
                  CheckpointPath: ''
            ExecutionEnvironment: 'auto'
                       OutputFcn: []
                         Metrics: []
                           Plots: 'none'
            SequencePaddingValue: 0
        SequencePaddingDirection: 'right'
                InputDataFormats: "auto"
               TargetDataFormats: "auto"
         ResetInputNormalization: 1
    BatchNormalizationStatistics: 'auto'
                   OutputNetwork: 'auto'
                    Acceleration: "auto"'''

COMMON_DEFAULTS = {
    "MaxEpochs": 30, "MiniBatchSize": 128, "Shuffle": "once", "L2Regularization": 1e-4,
    "LearnRateSchedule": "none", "LearnRateDropFactor": 0.1, "LearnRateDropPeriod": 10,
    "GradientThreshold": math.inf, "GradientThresholdMethod": "l2norm", "ValidationData": None,
    "ValidationFrequency": 50, "ValidationPatience": math.inf, "OutputNetwork": "auto",
    "Metrics": None, "Verbose": True, "VerboseFrequency": 50, "Plots": "none",
    "CheckpointPath": "", "CheckpointFrequency": 1, "CheckpointFrequencyUnit": "epoch",
    "ExecutionEnvironment": "auto", "InputDataFormats": "auto", "TargetDataFormats": "auto",
    "OutputFcn": None, "ObjectiveMetricName": "loss", "ResetInputNormalization": True,
    "BatchNormalizationStatistics": "auto", "SequenceLength": "longest",
    "PreprocessingEnvironment": "serial", "SequencePaddingValue": 0,
    "SequencePaddingDirection": "right", "Acceleration": "auto",
}
SOLVER_DEFAULTS = {
    "sgdm": {"InitialLearnRate": 0.01, "Momentum": 0.9},
    "adam": {"InitialLearnRate": 0.001, "GradientDecayFactor": 0.9,
             "SquaredGradientDecayFactor": 0.999, "Epsilon": 1e-8},
    "rmsprop": {"InitialLearnRate": 0.001, "SquaredGradientDecayFactor": 0.9, "Epsilon": 1e-8},
}
SOLVER_ONLY = {"Momentum", "GradientDecayFactor", "SquaredGradientDecayFactor", "Epsilon"}


# --- construction and defaults ------------------------------------------------------------------

@pytest.mark.parametrize("solver, cls", [("sgdm", TrainingOptionsSGDM),
                                         ("ADAM", TrainingOptionsADAM),
                                         ("RmsProp", TrainingOptionsRMSProp)])
def test_solver_classes(solver, cls):
    opts = trainingOptions(solver)
    assert type(opts) is cls and isinstance(opts, TrainingOptions)
    assert opts.solver_name == solver.lower()


@pytest.mark.parametrize("solver", ["sgdm", "adam", "rmsprop"])
def test_every_default(solver):
    opts = trainingOptions(solver)
    expected = {**COMMON_DEFAULTS, **SOLVER_DEFAULTS[solver]}
    for name, value in expected.items():
        assert getattr(opts, name) == value, name
    for name in SOLVER_ONLY - set(SOLVER_DEFAULTS[solver]):
        assert not hasattr(opts, name), name


def test_string_defaults_are_matlab_strings_where_matlab_says_so():
    opts = trainingOptions("sgdm")
    for name in ("InputDataFormats", "TargetDataFormats", "Acceleration"):
        assert isinstance(getattr(opts, name), MString), name
    assert not isinstance(opts.Shuffle, MString)


def test_keyword_and_positional_pairs_case_insensitive():
    opts = trainingOptions("sgdm", "maxepochs", 5, "MINIBATCHSIZE", 32, InitialLearnRate=0.1,
                           shuffle="Every-Epoch")
    assert (opts.MaxEpochs, opts.MiniBatchSize, opts.InitialLearnRate) == (5, 32, 0.1)
    assert opts.Shuffle == "every-epoch"


def test_values_are_normalised():
    opts = trainingOptions("adam", MaxEpochs=5.0, Verbose=0, Metrics="Accuracy",
                           InputDataFormats="sscb", ValidationPatience=3)
    assert type(opts.MaxEpochs) is int and opts.Verbose is False
    assert opts.Metrics == ["accuracy"] and opts.InputDataFormats == "SSCB"
    assert opts.ValidationPatience == 3
    assert trainingOptions("adam", Metrics=["rmse", "mse"]).Metrics == ["rmse", "mse"]


def test_validation_data_and_output_fcn_stored_as_given():
    x, t = np.zeros((2, 2, 1, 3)), np.zeros(3)

    class Datastore:  # what trainnet reads a datastore with
        def read_all(self, image_size):
            return x, t

    ds = Datastore()
    assert trainingOptions("sgdm", ValidationData=(x, t)).ValidationData[0] is x
    assert trainingOptions("sgdm", ValidationData=ds).ValidationData is ds
    assert trainingOptions("sgdm", OutputFcn=print).OutputFcn is print


def test_checkpoint_path_folder(tmp_path):
    assert trainingOptions("sgdm", CheckpointPath=str(tmp_path)).CheckpointPath == str(tmp_path)
    file = tmp_path / "f.txt"
    file.write_text("x")
    with pytest.raises(ValueError, match="CheckpointPath must be a folder, but '.*' is a file"):
        trainingOptions("sgdm", CheckpointPath=str(file))


def test_copy_is_independent():
    opts = trainingOptions("sgdm")
    other = copy.deepcopy(opts)
    other.MaxEpochs = 3
    assert opts.MaxEpochs == 30


# --- errors -------------------------------------------------------------------------------------

@pytest.mark.parametrize("solver", ["lbfgs", "SGD", 3])
def test_unknown_solver(solver):
    with pytest.raises(ValueError, match='solverName must be "sgdm", "adam" or "rmsprop"'):
        trainingOptions(solver)


def test_misspelt_option_suggests():
    with pytest.raises(ValueError, match=r"^'InitalLearnRate' is not an option for solver "
                                         r"'sgdm'\. Did you mean 'InitialLearnRate'\?$"):
        trainingOptions("sgdm", "InitalLearnRate", 0.1)
    with pytest.raises(ValueError, match="for solver 'adam'. Did you mean 'MaxEpochs'"):
        trainingOptions("adam", MaxEpoch=3)


def test_option_of_another_solver():
    with pytest.raises(ValueError, match="'Momentum' is not an option for solver 'adam'"):
        trainingOptions("adam", Momentum=0.9)


def test_odd_pairs_and_duplicates():
    with pytest.raises(ValueError, match="must come in pairs"):
        trainingOptions("sgdm", "MaxEpochs")
    with pytest.raises(ValueError, match="'MaxEpochs' .* given more than once"):
        trainingOptions("sgdm", "MaxEpochs", 3, maxepochs=4)


@pytest.mark.parametrize("solver, name, value, message", [
    ("sgdm", "MaxEpochs", 0, "MaxEpochs must be a positive integer, got 0"),
    ("sgdm", "MaxEpochs", 2.5, "MaxEpochs must be a positive integer, got 2.5000"),
    ("sgdm", "MiniBatchSize", -4, "MiniBatchSize must be a positive integer, got -4"),
    ("sgdm", "InitialLearnRate", 0, "InitialLearnRate must be a positive number, got 0"),
    ("adam", "InitialLearnRate", -0.1, "InitialLearnRate must be a positive number, got -0.1000"),
    ("sgdm", "InitialLearnRate", math.inf, "InitialLearnRate must be a positive number, got Inf"),
    ("sgdm", "Momentum", 1.5, r"Momentum must be a number in the range \[0, 1\], got 1.5000"),
    ("sgdm", "Momentum", -0.1, r"Momentum must be a number in the range \[0, 1\]"),
    ("adam", "GradientDecayFactor", 1, r"GradientDecayFactor must be .* range \[0, 1\), got 1"),
    ("adam", "SquaredGradientDecayFactor", 1.0, r"SquaredGradientDecayFactor .* \[0, 1\)"),
    ("rmsprop", "SquaredGradientDecayFactor", -0.5, r"SquaredGradientDecayFactor .* \[0, 1\)"),
    ("adam", "Epsilon", 0, "Epsilon must be a positive number, got 0"),
    ("rmsprop", "Epsilon", -1e-8, "Epsilon must be a positive number, got -1.0000e-08"),
    ("sgdm", "VerboseFrequency", 0, "VerboseFrequency must be a positive integer, got 0"),
    ("sgdm", "ValidationFrequency", 0, "ValidationFrequency must be a positive integer"),
    ("sgdm", "LearnRateDropPeriod", 0, "LearnRateDropPeriod must be a positive integer"),
    ("sgdm", "CheckpointFrequency", -1, "CheckpointFrequency must be a positive integer"),
    ("sgdm", "LearnRateDropFactor", 1.5, r"LearnRateDropFactor must be .* \[0, 1\], got 1.5000"),
    ("sgdm", "L2Regularization", -1, "L2Regularization must be a nonnegative number, got -1"),
    ("sgdm", "GradientThreshold", 0, "GradientThreshold must be a positive number or Inf"),
    ("sgdm", "ValidationPatience", 0, "ValidationPatience must be a positive integer or Inf"),
    ("sgdm", "Shuffle", "sometimes",
     "Shuffle must be one of 'once', 'every-epoch', 'never', got 'sometimes'"),
    ("sgdm", "LearnRateSchedule", "cosin", "LearnRateSchedule must be one of 'none', 'piecewise'"),
    ("sgdm", "GradientThresholdMethod", "l1",
     "GradientThresholdMethod must be one of 'l2norm', 'global-l2norm', 'absolute-value'"),
    ("sgdm", "ExecutionEnvironment", "tpu", "ExecutionEnvironment must be one of 'auto', 'cpu'"),
    ("sgdm", "Plots", "yes", "Plots must be one of 'none', 'training-progress'"),
    ("sgdm", "OutputNetwork", "best", "OutputNetwork must be one of 'auto', 'last-iteration'"),
    ("sgdm", "CheckpointFrequencyUnit", "batch", "must be one of 'epoch', 'iteration'"),
    ("sgdm", "BatchNormalizationStatistics", "running",
     "BatchNormalizationStatistics must be one of 'auto', 'population', 'moving'"),
    ("sgdm", "Acceleration", "fast", 'Acceleration must be one of "auto", "none"'),
    ("sgdm", "Metrics", "f1", "Metrics must be one of 'accuracy', 'crossentropy', 'mse', 'rmse'"),
    ("sgdm", "Metrics", 3, "Metrics must be a metric name or a list of them, got 3"),
    ("sgdm", "Verbose", "yes", r"Verbose must be true or false \(1 or 0\), got 'yes'"),
    ("sgdm", "Verbose", 2, r"Verbose must be true or false"),
    ("sgdm", "OutputFcn", "plot", r"OutputFcn must be a callable \(function handle\) or None"),
    ("sgdm", "InputDataFormats", "SSXB", 'InputDataFormats must be "auto" or a format'),
    ("sgdm", "TargetDataFormats", "CCB", "at most one each of C, B and T"),
    ("sgdm", "ValidationData", (1, 2, 3), r"ValidationData must be a pair \(X, T\) or a datastore"),
    ("sgdm", "ValidationData", {"X": 1, "T": 2}, r"must be a pair \(X, T\) or a datastore, got "
     r"dict"),
    ("sgdm", "ValidationData", np.zeros(3), r"ValidationData must be a pair \(X, T\)"),
    ("sgdm", "CheckpointPath", 3, "CheckpointPath must be a character vector or string"),
    ("sgdm", "SequenceLength", 0, "SequenceLength 0 is not supported yet"),
    ("sgdm", "SequenceLength", "middle", "SequenceLength must be one of 'longest', 'shortest'"),
    ("sgdm", "SequencePaddingDirection", "up", "must be one of 'right', 'left'"),
    ("sgdm", "SequencePaddingValue", "0", "SequencePaddingValue must be a real number"),
    ("sgdm", "PreprocessingEnvironment", "gpu", "PreprocessingEnvironment must be one of"),
    ("sgdm", "ObjectiveMetricName", None, "ObjectiveMetricName must be a character vector"),
])
def test_invalid_values(solver, name, value, message):
    with pytest.raises(ValueError, match=message):
        trainingOptions(solver, name, value)
    opts = trainingOptions(solver)
    with pytest.raises(ValueError, match=message):
        setattr(opts, name, value)


# --- attribute assignment -----------------------------------------------------------------------

def test_setattr_validates_and_normalises():
    opts = trainingOptions("sgdm")
    opts.MaxEpochs = 5
    opts.Shuffle = "NEVER"
    opts.Metrics = "rmse"
    assert (opts.MaxEpochs, opts.Shuffle, opts.Metrics) == (5, "never", ["rmse"])
    with pytest.raises(ValueError, match="MaxEpochs must be a positive integer, got 0"):
        opts.MaxEpochs = 0
    assert opts.MaxEpochs == 5


def test_setattr_unknown_attribute():
    opts = trainingOptions("sgdm")
    with pytest.raises(AttributeError, match=r"'MaxEpoch' is not a property of "
                                             r"TrainingOptionsSGDM\. Did you mean 'MaxEpochs'\?"):
        opts.MaxEpoch = 3
    with pytest.raises(AttributeError, match="'Epsilon' is not a property of TrainingOptionsSGDM"):
        opts.Epsilon = 1e-7
    with pytest.raises(AttributeError, match="'solver_name' is not a property"):
        opts.solver_name = "adam"


# --- display ------------------------------------------------------------------------------------

def test_sgdm_display_matches_matlab_line_by_line():
    got = repr(trainingOptions("sgdm")).split("\n")
    want = SGDM_DISPLAY.split("\n")
    for i, (g, w) in enumerate(zip(got, want, strict=False)):
        assert g == w, f"line {i}"
    assert len(got) == len(want)
    assert str(trainingOptions("sgdm")) == SGDM_DISPLAY


def test_adam_display_top():
    lines = repr(trainingOptions("adam")).split("\n")
    assert lines[:6] == [
        "  TrainingOptionsADAM with properties:",
        "",
        "             GradientDecayFactor: 0.9000",
        "      SquaredGradientDecayFactor: 0.9990",
        "                         Epsilon: 1.0000e-08",
        "                InitialLearnRate: 1.0000e-03",
    ]
    assert lines[6:] == SGDM_DISPLAY.split("\n")[4:]
    assert "Momentum" not in repr(trainingOptions("adam"))


def test_rmsprop_display_top():
    lines = repr(trainingOptions("rmsprop")).split("\n")
    assert lines[:5] == [
        "  TrainingOptionsRMSProp with properties:",
        "",
        "      SquaredGradientDecayFactor: 0.9000",
        "                         Epsilon: 1.0000e-08",
        "                InitialLearnRate: 1.0000e-03",
    ]
    assert len(lines) == 2 + 2 + 33


def _on_iteration(info):
    return False


def test_display_of_set_values():
    opts = trainingOptions("sgdm", ValidationData=(np.zeros((4, 2)), np.zeros(4)),
                           OutputFcn=_on_iteration, Metrics=["accuracy", "rmse"],
                           Shuffle="every-epoch", InputDataFormats="SSCB", Verbose=False,
                           InitialLearnRate=0.05, ValidationPatience=5)
    text = repr(opts)
    for line in ["                  ValidationData: {1×2 cell}",
                 "                       OutputFcn: @_on_iteration",
                 '                         Metrics: ["accuracy"    "rmse"]',
                 "                         Shuffle: 'every-epoch'",
                 '                InputDataFormats: "SSCB"',
                 "                         Verbose: 0",
                 "                InitialLearnRate: 0.0500",
                 "              ValidationPatience: 5"]:
        assert line in text.split("\n"), line
    assert all(line == line.rstrip() for line in text.split("\n"))
    assert '  Metrics: "accuracy"' in repr(trainingOptions("adam", Metrics="accuracy"))


# --- learning-rate schedule ---------------------------------------------------------------------

def test_learn_rate_none_is_constant():
    opts = trainingOptions("sgdm", InitialLearnRate=0.1)
    assert [opts.learn_rate(e) for e in (1, 10, 11, 100)] == [0.1] * 4


def test_learn_rate_piecewise():
    opts = trainingOptions("sgdm", LearnRateSchedule="piecewise", InitialLearnRate=0.1,
                           LearnRateDropFactor=0.5, LearnRateDropPeriod=3)
    got = [opts.learn_rate(e) for e in range(1, 10)]
    assert got == pytest.approx([0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025, 0.025, 0.025])


def test_learn_rate_piecewise_defaults():
    opts = trainingOptions("adam", LearnRateSchedule="piecewise")
    assert opts.learn_rate(10) == pytest.approx(1e-3)
    assert opts.learn_rate(11) == pytest.approx(1e-4)
    assert opts.learn_rate(21) == pytest.approx(1e-5)


def test_learn_rate_rejects_epoch_zero():
    with pytest.raises(ValueError, match="epoch must be a positive integer, got 0"):
        trainingOptions("sgdm").learn_rate(0)


def test_learn_rate_schedule_display():
    """Names show as MATLAB text, objects as [1×1 class], lists as cells, functions as @f."""
    def line(value):
        return [x for x in repr(trainingOptions("sgdm", LearnRateSchedule=value)).split("\n")
                if "LearnRateSchedule:" in x][0]

    assert line("Cosine") == "               LearnRateSchedule: 'cosine'"
    assert line(cosineLearnRate()) == "               LearnRateSchedule: [1×1 cosineLearnRate]"
    assert line([warmupLearnRate(), "cosine"]) == "               LearnRateSchedule: {1×2 cell}"
    assert line(["warmup", "cosine"]) == \
        '               LearnRateSchedule: ["warmup"    "cosine"]'
    assert line(_on_iteration) == "               LearnRateSchedule: @_on_iteration"


def test_learn_rate_schedule_object_kept_and_copied():
    schedule = cosineLearnRate(Period=4)
    opts = trainingOptions("sgdm", LearnRateSchedule=schedule)
    assert opts.LearnRateSchedule is schedule
    other = copy.deepcopy(opts)
    other.LearnRateSchedule.Period = 8
    assert schedule.Period == 4
