"""Tests for minidl._matlab: Name-Value parsing, validators and MATLAB display formatting."""

import math

import numpy as np
import pytest

from minidl._matlab import (
    MString,
    check_choice,
    check_in_range,
    check_nonneg_int,
    check_nonneg_real,
    check_positive_int,
    check_positive_real,
    closest,
    format_properties,
    format_scalar,
    format_value,
    mat2str,
    parse_name_value,
    size_str,
    to_padding,
    to_pair,
)

ALLOWED = {"Stride": 1, "Padding": 0, "Name": ""}


# --- parse_name_value ---------------------------------------------------------------------------

def test_parse_positional_and_keyword_merge_in_canonical_spelling():
    got = parse_name_value(("stride", 2, "PADDING", "same"), {"name": "c1"}, list(ALLOWED),
                           "convolution2dLayer")
    assert got == {"Stride": 2, "Padding": "same", "Name": "c1"}


def test_parse_mapping_fills_defaults():
    got = parse_name_value((), {"Stride": 3}, ALLOWED, "convolution2dLayer")
    assert got == {"Stride": 3, "Padding": 0, "Name": ""}


def test_parse_repeated_positional_keeps_last():
    assert parse_name_value(("Stride", 2, "stride", 3), {}, ALLOWED, "x") == {
        "Stride": 3, "Padding": 0, "Name": ""}


def test_parse_odd_pairs():
    with pytest.raises(ValueError, match="must come in pairs; got 3 positional values"):
        parse_name_value(("Stride", 2, "Padding"), {}, ALLOWED, "convolution2dLayer")


def test_parse_non_string_name():
    with pytest.raises(TypeError, match=r"Expected an option name \(a string\) for .*got int 2"):
        parse_name_value((2, "Stride"), {}, ALLOWED, "convolution2dLayer")


def test_parse_unknown_name_suggests_closest():
    with pytest.raises(ValueError, match=r"^'InitalLearnRate' is not an option for solver "
                                         r"'sgdm'\. Did you mean 'InitialLearnRate'\?$"):
        parse_name_value(("InitalLearnRate", 0.1), {}, ["InitialLearnRate", "MaxEpochs"],
                         "solver 'sgdm'")


def test_parse_unknown_name_lists_valid_names_when_nothing_is_close():
    with pytest.raises(ValueError, match=r"'Zzz' is not an option for convolution2dLayer\. "
                                         r"Valid names are 'Stride', 'Padding', 'Name'\."):
        parse_name_value((), {"Zzz": 1}, ALLOWED, "convolution2dLayer")


def test_parse_name_given_twice():
    with pytest.raises(ValueError, match="Option 'Stride' for x is given more than once"):
        parse_name_value(("Stride", 2), {"stride": 2}, ALLOWED, "x")


def test_closest():
    assert closest("maxepoch", ["MaxEpochs", "MiniBatchSize"]) == "MaxEpochs"
    assert closest("qqq", ["MaxEpochs"]) is None


# --- validators ---------------------------------------------------------------------------------

def test_int_checks_accept_integer_valued_numbers():
    assert check_positive_int("MaxEpochs", 5) == 5
    assert check_positive_int("MaxEpochs", 5.0) == 5
    assert type(check_positive_int("MaxEpochs", np.int64(5))) is int
    assert check_nonneg_int("Pad", 0) == 0


@pytest.mark.parametrize("bad, shown", [(0, "0"), (-4, "-4"), (2.5, "2.5000"), (True, "true"),
                                        ("3", "'3'"), (math.inf, "Inf")])
def test_check_positive_int_rejects(bad, shown):
    with pytest.raises(ValueError, match=rf"^MaxEpochs must be a positive integer, got {shown}\.$"):
        check_positive_int("MaxEpochs", bad)


def test_check_nonneg_int_rejects():
    with pytest.raises(ValueError, match="Pad must be a nonnegative integer, got -1"):
        check_nonneg_int("Pad", -1)


def test_real_checks():
    assert check_positive_real("lr", 0.5) == 0.5
    assert check_positive_real("GT", math.inf, allow_inf=True) == math.inf
    assert check_nonneg_real("L2", 0) == 0.0
    with pytest.raises(ValueError, match="lr must be a positive number, got 0"):
        check_positive_real("lr", 0)
    with pytest.raises(ValueError, match="lr must be a positive number, got Inf"):
        check_positive_real("lr", math.inf)
    with pytest.raises(ValueError, match="GT must be a positive number or Inf, got NaN"):
        check_positive_real("GT", math.nan, allow_inf=True)
    with pytest.raises(ValueError, match="L2 must be a nonnegative number, got -1.0000e-04"):
        check_nonneg_real("L2", -1e-4)


def test_check_in_range():
    assert check_in_range("Momentum", 1, 0, 1) == 1.0
    with pytest.raises(ValueError, match=r"Momentum must be a number in the range \[0, 1\], "
                                         r"got 1\.5000"):
        check_in_range("Momentum", 1.5, 0, 1)
    with pytest.raises(ValueError, match=r"Beta must be a number in the range \[0, 1\), got 1\."):
        check_in_range("Beta", 1, 0, 1, hi_open=True)


def test_check_choice_is_case_insensitive_and_canonical():
    assert check_choice("Shuffle", "EVERY-epoch", ("once", "every-epoch")) == "every-epoch"
    assert isinstance(check_choice("A", "AUTO", (MString("auto"),)), MString)
    with pytest.raises(ValueError, match="Shuffle must be one of 'once', 'never', got 'sometimes'"):
        check_choice("Shuffle", "sometimes", ("once", "never"))
    with pytest.raises(ValueError, match="got 3"):
        check_choice("Shuffle", 3, ("once",))


def test_to_pair():
    assert to_pair("Stride", 2) == (2, 2)
    assert to_pair("Stride", [1, 3]) == (1, 3)
    assert to_pair("Stride", np.array([4, 5])) == (4, 5)
    for bad, shown in [(0, "0"), ([1, 2, 3], r"\[1 2 3\]"), (True, "true"), ([2, 0], r"\[2 0\]")]:
        with pytest.raises(ValueError, match=rf"^Stride must be a positive integer or a vector "
                                             rf"of 2 positive integers, got {shown}\.$"):
            to_pair("Stride", bad)


def test_to_padding():
    assert to_padding("Padding", 1) == (1, 1, 1, 1)
    assert to_padding("Padding", [1, 2]) == (1, 1, 2, 2)
    assert to_padding("Padding", (0, 1, 2, 3)) == (0, 1, 2, 3)
    assert to_padding("Padding", "Same") == "same"
    for bad in (-1, [1, 2, 3], "valid", 1.5):
        with pytest.raises(ValueError, match=r"^Padding must be 'same', a nonnegative integer "
                                             r"or a vector of 2 or 4 nonnegative integers"):
            to_padding("Padding", bad)


# --- formatting ---------------------------------------------------------------------------------

@pytest.mark.parametrize("x, text", [
    (30, "30"), (30.0, "30"), (0, "0"), (-0.0, "0"), (-7, "-7"), (1e9, "1000000000"),
    (math.inf, "Inf"), (-math.inf, "-Inf"), (math.nan, "NaN"),
    (0.9, "0.9000"), (0.01, "0.0100"), (12.5, "12.5000"), (-0.5, "-0.5000"),
    (0.001, "1.0000e-03"), (0.002, "0.0020"),
    (999.5, "999.5000"), (1e-4, "1.0000e-04"), (1e-5, "1.0000e-05"), (1e-8, "1.0000e-08"),
    (1234.5, "1.2345e+03"), (1e10, "1.0000e+10"), (True, "1"), (False, "0"),
    (np.float32(0.5), "0.5000"), (np.int64(3), "3"), (np.bool_(True), "1"),
])
def test_format_scalar(x, text):
    assert format_scalar(x) == text


def _f():
    pass


@pytest.mark.parametrize("v, text", [
    ("none", "'none'"), ("", "''"), (MString("auto"), '"auto"'), (None, "[]"), ([], "[]"),
    (np.zeros((0,)), "[]"), ([2, 2], "[2 2]"), ((1, 1), "[1 1]"),
    (np.array([0.5, 2]), "[0.5000 2]"),
    (np.zeros((5, 5, 3, 20), np.float32), "[5×5×3×20 single]"),
    (np.zeros((10, 3)), "[10×3 double]"), (np.zeros(7), "[1×7 double]"),
    (list(range(6)), "[1×6 double]"), (np.float64(0.25), "0.2500"), (np.array(3.0), "3"),
    (_f, "@_f"), (len, "@len"), ((np.zeros(2), np.zeros(2)), "{1×2 cell}"),
    ([MString("accuracy")], '"accuracy"'), ([MString("a"), MString("b")], '["a"    "b"]'),
    ({"a": 1}, "[1×1 struct]"), (object(), "[1×1 object]"), (1e-4, "1.0000e-04"),
])
def test_format_value(v, text):
    assert format_value(v) == text


def test_mat2str_and_size_str():
    assert mat2str([1, 1]) == "[1  1]"
    assert mat2str((0, 0, 0, 0)) == "[0  0  0  0]"
    assert mat2str(np.array([2, 3])) == "[2  3]"
    assert mat2str([0.5, 1]) == "[0.5  1]"
    assert mat2str(7) == "7"
    assert size_str((28, 28, 3)) == "28x28x3"
    assert size_str([5, 5], sep="×") == "5×5"


def test_format_properties_single_group():
    props = [("Momentum", "0.9000"), ("BatchNormalizationStatistics", "'auto'")]
    text = format_properties("Foo", [(None, props)])
    assert text.split("\n") == [
        "  Foo with properties:",
        "",
        "                        Momentum: 0.9000",
        "    BatchNormalizationStatistics: 'auto'",
    ]


def test_format_properties_groups_and_footer():
    groups = [(None, [("Name", "''")]),
              ("Hyperparameters", [("FilterSize", "[3 3]"), ("Stride", "[1 1]")]),
              ("Learnable Parameters", [("Weights", "[]")])]
    text = format_properties("Convolution2DLayer", groups, footer="Show all properties")
    assert text.split("\n") == [
        "  Convolution2DLayer with properties:",
        "",
        "          Name: ''",
        "",
        "   Hyperparameters",
        "    FilterSize: [3 3]",
        "        Stride: [1 1]",
        "",
        "   Learnable Parameters",
        "       Weights: []",
        "",
        "  Show all properties",
    ]


def test_format_properties_has_no_trailing_spaces():
    text = format_properties("Foo", [(None, [("A", ""), ("Long", "1")])])
    assert all(line == line.rstrip() for line in text.split("\n"))


def test_matlab_names_not_provided_yet_say_what_to_use():
    import minidl

    with pytest.raises(AttributeError, match="minidl has no lstmProjectedLayer .*lstmLayer"):
        minidl.lstmProjectedLayer(4, 2, 2)
    assert not hasattr(minidl, "resnetNetwork")
    with pytest.raises(AttributeError, match="module 'minidl' has no attribute 'nosuchname'"):
        minidl.nosuchname  # noqa: B018
    assert not set(minidl._NOT_YET) & set(minidl.__all__)
