"""Issue 18, bad arguments get named errors, never raw internals: a TypeError or ValueError
whose message names the argument and what was expected (no AttributeError, IndexError,
ZeroDivisionError, MemoryError or NumPy's own message)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import minidl as dl

TUPLE_HINT = "trainnet returns (net, info); write net, info = trainnet(...)"


@pytest.fixture(scope="module")
def net():
    return dl.dlnetwork([dl.featureInputLayer(3), dl.fullyConnectedLayer(2), dl.softmaxLayer()])


X = np.random.default_rng(0).random((4, 3)).astype("float32")
T = np.array(["a", "b", "a", "b"])

NETWORK_CALLS = {
    "predict": lambda n: dl.predict(n, X),
    "forward": lambda n: dl.forward(n, X),
    "minibatchpredict": lambda n: dl.minibatchpredict(n, X),
    "testnet": lambda n: dl.testnet(n, X, T, "accuracy"),
    "getL2Factor": lambda n: dl.getL2Factor(n, "fc", "Weights"),
    "getLearnRateFactor": lambda n: dl.getLearnRateFactor(n, "fc", "Weights"),
    "setL2Factor": lambda n: dl.setL2Factor(n, "fc", "Weights", 2),
    "summary": lambda n: dl.summary(n),
    "analyzeNetwork": lambda n: dl.analyzeNetwork(n),
    "initialize": lambda n: dl.initialize(n),
    "save": lambda n: dl.save(n, "never-written.npz"),
}


@pytest.mark.parametrize("name", list(NETWORK_CALLS))
def test_wrong_network_type_is_a_named_type_error(name):
    with pytest.raises(TypeError, match=r"net\b"):
        NETWORK_CALLS[name](None)
    with pytest.raises(TypeError, match=r"net\b"):
        NETWORK_CALLS[name](42)


@pytest.mark.parametrize("name", list(NETWORK_CALLS))
def test_trainnet_tuple_gets_its_own_message(name, net):
    with pytest.raises(TypeError) as err:
        NETWORK_CALLS[name]((net, object()))
    assert TUPLE_HINT in str(err.value)


def test_zero_d_input_to_a_feature_network(net):
    for x in (np.float32(1.0), np.array(1.0), 1.0):
        with pytest.raises(ValueError, match="X"):
            dl.predict(net, x)


@pytest.mark.parametrize("scores", ["abc", None, b"xy"])
def test_scores2label_of_text_or_none(scores):
    with pytest.raises((TypeError, ValueError), match="scores"):
        dl.scores2label(scores, ["a", "b"])


def _zero_channels(fn, fmt, shape, *extra):
    x = dl.dlarray(np.zeros(shape, "float32"), fmt)
    with pytest.raises(ValueError, match="channel"):
        fn(x, *extra)


def test_normalizations_with_zero_channels():
    z = np.zeros(0, "float32")
    _zero_channels(dl.batchnorm, "BC", (2, 0), z, z)
    _zero_channels(dl.instancenorm, "SSCB", (2, 2, 0, 2), z, z)
    _zero_channels(dl.layernorm, "CB", (0, 2), z, z)
    _zero_channels(dl.groupnorm, "SSCB", (2, 2, 0, 2), 1, z, z)


def test_crossentropy_with_zero_classes_or_observations():
    for shape in ((0, 3), (3, 0)):
        Y = dl.dlarray(np.zeros(shape, "float32"), "CB")
        with pytest.raises(ValueError, match="class|observation"):
            dl.crossentropy(Y, Y)


@pytest.mark.parametrize("other", ["a", b"a", ["a", "b"]])
def test_dlarray_combined_with_text(other):
    d = dl.dlarray(np.ones((2, 2), "float32"), "CB")
    for op in (lambda: d + other, lambda: other * d, lambda: dl.maximum(d, other)):
        with pytest.raises(TypeError, match="dlarray"):
            op()


def test_ragged_nested_lists():
    with pytest.raises(ValueError, match="dlarray.*(ragged|same length|inhomogeneous)|X"):
        dl.dlarray([[1, 2], [3]])
    with pytest.raises(ValueError, match=r"\bX\b"):
        dl.predict(dl.dlnetwork([dl.featureInputLayer(2), dl.fullyConnectedLayer(1)]),
                   [[1, 2], [3]])


@pytest.mark.parametrize("bad", [None, "abc", 5])
def test_sequence_list_holding_none_or_text(bad):
    seq = dl.dlnetwork([dl.sequenceInputLayer(2), dl.lstmLayer(3, OutputMode="last"),
                        dl.fullyConnectedLayer(2)])
    with pytest.raises((TypeError, ValueError), match=r"sequence 2|X\{2\}|X\[1\]"):
        dl.minibatchpredict(seq, [np.ones((3, 2), "float32"), bad])


def test_text_targets_for_a_regression_loss():
    opts = dl.trainingOptions("sgdm", MaxEpochs=1, Verbose=False)
    Xr = np.random.default_rng(0).random((8, 3)).astype("float32")
    with pytest.raises((TypeError, ValueError), match=r"target|\bT\b"):
        dl.trainnet(Xr, np.array(["a", "b"] * 4), [dl.featureInputLayer(3),
                                                   dl.fullyConnectedLayer(1)], "mse", opts)


def test_number_where_a_folder_or_class_names_are_expected():
    with pytest.raises(TypeError, match="location"):
        dl.imageDatastore(5)
    with pytest.raises(TypeError, match="classes|categories|classNames"):
        dl.onehotencode(np.array(["a", "b"]), 2, 5)
    with pytest.raises(TypeError, match="classNames"):
        dl.scores2label(np.ones((4, 3), "float32"), 5)


@pytest.mark.parametrize("dim", [65, 100, 10**6])
def test_iteration_dimension_beyond_numpy_limit(dim):
    with pytest.raises(ValueError, match="IterationDimension"):
        dl.arrayDatastore(X, IterationDimension=dim)


@pytest.mark.parametrize("call", [
    lambda a: dl.dlnetwork([dl.featureInputLayer(3), dl.fullyConnectedLayer(2)], Initialize=a),
    lambda a: dl.scores2label(np.ones((2, 2), "float32"), ["a", "b"], ReturnScores=a),
    lambda a: dl.imageDatastore(".", IncludeSubfolders=a),
    lambda a: dl.trainingOptions("sgdm", Verbose=a),
    lambda a: dl.imageDataAugmenter(RandXReflection=a),
], ids=["Initialize", "ReturnScores", "IncludeSubfolders", "Verbose", "RandXReflection"])
def test_array_as_a_boolean_option(call):
    """A two-element array is neither true nor false: a ValueError naming the option, not
    NumPy's "truth value of an array is ambiguous"."""
    with pytest.raises((TypeError, ValueError)) as err:
        call(np.array([True, False]))
    assert "ambiguous" not in str(err.value)
    assert any(name in str(err.value) for name in (
        "Initialize", "ReturnScores", "IncludeSubfolders", "Verbose", "RandXReflection"))


def test_rng_seed_array_and_wrong_datastore():
    with pytest.raises((TypeError, ValueError), match="seed"):
        dl.rng(np.array([1, 2]))
    with pytest.raises(TypeError, match="imageDatastore|datastore"):
        dl.splitEachLabel(None, 0.5)


def test_none_as_a_format():
    net = dl.dlnetwork([dl.featureInputLayer(3), dl.fullyConnectedLayer(1)])
    with pytest.raises(TypeError, match="InputDataFormats"):
        dl.minibatchpredict(net, X, InputDataFormats=None)
    with pytest.raises(TypeError, match="InputDataFormats"):
        dl.testnet(net, X, X[:, :1], "mse", InputDataFormats=None)


@pytest.mark.parametrize("fmt", ["ſC", "ßC", "ｓC", "SC\u0307", "İC"])
def test_format_labels_are_exactly_ascii(fmt):
    with pytest.raises(ValueError, match="label"):
        dl.dlarray(np.ones((2, 2), "float32"), fmt)


@pytest.mark.parametrize("std", [0.0, -1.0])
def test_zscore_needs_positive_standard_deviation(std):
    with pytest.raises(ValueError, match="StandardDeviation"):
        dl.featureInputLayer(3, Normalization="zscore", Mean=np.zeros(3),
                             StandardDeviation=np.full(3, std))
    with pytest.raises(ValueError, match="StandardDeviation"):
        dl.imageInputLayer([2, 2, 1], Normalization="zscore", Mean=0, StandardDeviation=std)


@pytest.mark.parametrize("count", [10**9, 2**63])
def test_minibatchqueue_huge_num_outputs(count):
    """Run in a child process whose address space is capped at 1 GiB: code that preallocates
    per output then fails there with MemoryError instead of exhausting the machine."""
    code = (
        "import resource, numpy as np, minidl as dl\n"
        "resource.setrlimit(resource.RLIMIT_AS, (2**30, 2**30))\n"
        "ds = dl.arrayDatastore(np.arange(20).reshape(10, 2).astype('float32'))\n"
        "try:\n"
        f"    dl.minibatchqueue(ds, {count})\n"
        "except BaseException as err:\n"
        "    print(type(err).__name__, err)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.stdout.startswith("ValueError") and "numOutputs" in out.stdout, out


@pytest.mark.parametrize("size", [10**9, 2**63, 2**80])
def test_minibatchqueue_huge_mini_batch_size(size):
    data = np.arange(20).reshape(10, 2).astype("float32")
    mbq = dl.minibatchqueue(dl.arrayDatastore(data), MiniBatchSize=size)
    assert mbq.next().shape == (2, 10)
    assert not mbq.hasdata()


def test_minibatch_fcn_output_count_is_checked():
    ds = dl.arrayDatastore(np.arange(20).reshape(10, 2).astype("float32"))
    mbq = dl.minibatchqueue(ds, MiniBatchSize=2,
                            MiniBatchFcn=lambda x: (np.stack(x), np.stack(x)))
    with pytest.raises(ValueError, match="MiniBatchFcn returned 2 outputs"):
        mbq.next()
