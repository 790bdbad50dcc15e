"""Issue 18: property-based tests (hypothesis) of every public function's options.

A table lists the public functions with a valid call each; their Name-Value options are found
from the functions themselves (the "Valid names are ..." list that an unknown option gets, or
the keyword-only parameters of the signature), and the table adds the positional arguments
worth fuzzing. For each (function, option) pair hypothesis draws wrong types and values; the
call must either succeed or raise a ValueError/TypeError whose message names the argument.
Anything else (AttributeError, IndexError, ZeroDivisionError, OverflowError, MemoryError,
RecursionError, NumPy's own messages, a hang) is a failure.

Runs derandomized (the same cases in CI every time), without deadlines, with
``MAX_EXAMPLES`` cases per pair; ``CASES`` counts the cases run (see test_case_count).
"""

from __future__ import annotations

import contextlib
import inspect
import os
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

import minidl as dl

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

MAX_EXAMPLES = 40
MEMORY_CAP = 1 << 29  # bytes a case may allocate beyond what the process holds (512 MiB)
CASES: dict[str, int] = {}

# no shrinking: a failure is reported with the value that found it, and the run stays short
SETTINGS = settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None,
                    suppress_health_check=list(HealthCheck), print_blob=False,
                    phases=(Phase.explicit, Phase.reuse, Phase.generate))


# ---- wrong values ------------------------------------------------------------------------------

def _array_values() -> st.SearchStrategy:
    shapes = st.lists(st.integers(0, 3), min_size=0, max_size=3).map(tuple)
    return st.builds(lambda s, v: np.full(s, v), shapes,
                     st.sampled_from([0, 1, -1, 0.5, np.nan, np.inf, True, "a"]))


BAD = st.one_of(
    st.none(), st.booleans(), st.integers(-2**70, 2**70),
    st.sampled_from([0, -1, 1, 2**31, 2**63, 10**9]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=6), st.sampled_from(["", "auto", "none", "ſ", "ß", "SSCB", "on", "off"]),
    st.binary(max_size=4), st.complex_numbers(max_magnitude=10),
    st.lists(st.one_of(st.integers(-3, 5), st.floats(-2, 2), st.text(max_size=2)), max_size=5),
    st.tuples(st.integers(-2, 4), st.integers(-2, 4)),
    _array_values(),
    st.sampled_from([object(), (lambda *a: None), {"a": 1}, (), [], np.array([True, False]),
                     np.float32("nan"), np.int64(-5), -0.0, [[1, 2], [3]], [None], {"x"}]),
)


# ---- the table ---------------------------------------------------------------------------------

_TESTS = os.path.dirname(os.path.abspath(__file__))


def _X4():
    return np.random.default_rng(0).random((4, 4, 1, 2)).astype("float32")


def _cb(*shape):
    return dl.dlarray(np.ones(shape or (2, 2), "float32"), "CB")


def _fnet():
    return dl.dlnetwork([dl.featureInputLayer(2), dl.fullyConnectedLayer(1)])


def _cnet():
    return dl.dlnetwork([dl.featureInputLayer(2), dl.fullyConnectedLayer(2), dl.softmaxLayer()])


@dataclass
class Entry:
    """A public function, a valid call of it, and the positional arguments to fuzz
    (index -> the names a message may use for it)."""

    name: str
    fn: Callable
    args: Callable[[], tuple] = tuple
    positional: dict[int, tuple[str, ...]] = field(default_factory=dict)
    options: tuple[str, ...] | None = None
    then: Callable[[Any], Any] | None = None  # what to do with the result (e.g. read a batch)
    aliases: dict[str, tuple[str, ...]] = field(default_factory=dict)  # option -> names
    sizes: bool = False  # the result's size follows the arguments: MemoryError is an answer
    missing_ok: bool = False  # a path that does not exist: FileNotFoundError is an answer


def _mbq_next(q):
    return q.next()


TABLE = [
    Entry("trainingOptions", dl.trainingOptions, lambda: ("adam",), {0: ("solverName", "solver")}),
    Entry("trainingOptions", dl.trainingOptions, lambda: ("sgdm",)),
    Entry("trainingOptions", dl.trainingOptions, lambda: ("rmsprop",)),
    Entry("imageInputLayer", dl.imageInputLayer, lambda: ([4, 4, 1],), {0: ("inputSize",)}),
    Entry("featureInputLayer", dl.featureInputLayer, lambda: (3,), {0: ("numFeatures",)}),
    Entry("sequenceInputLayer", dl.sequenceInputLayer, lambda: (3,), {0: ("inputSize",)}),
    Entry("convolution2dLayer", dl.convolution2dLayer, lambda: (3, 2),
          {0: ("filterSize",), 1: ("numFilters",)}),
    Entry("maxPooling2dLayer", dl.maxPooling2dLayer, lambda: (2,), {0: ("poolSize",)}),
    Entry("averagePooling2dLayer", dl.averagePooling2dLayer, lambda: (2,), {0: ("poolSize",)}),
    Entry("globalAveragePooling2dLayer", dl.globalAveragePooling2dLayer),
    Entry("globalMaxPooling2dLayer", dl.globalMaxPooling2dLayer),
    Entry("batchNormalizationLayer", dl.batchNormalizationLayer),
    Entry("instanceNormalizationLayer", dl.instanceNormalizationLayer),
    Entry("layerNormalizationLayer", dl.layerNormalizationLayer),
    Entry("groupNormalizationLayer", dl.groupNormalizationLayer, lambda: (2,),
          {0: ("numGroups",)}),
    Entry("fullyConnectedLayer", dl.fullyConnectedLayer, lambda: (2,), {0: ("outputSize",)}),
    Entry("reluLayer", dl.reluLayer),
    Entry("leakyReluLayer", dl.leakyReluLayer, lambda: (0.1,), {0: ("scale",)}),
    Entry("sigmoidLayer", dl.sigmoidLayer),
    Entry("tanhLayer", dl.tanhLayer),
    Entry("softmaxLayer", dl.softmaxLayer),
    Entry("dropoutLayer", dl.dropoutLayer, lambda: (0.5,), {0: ("probability",)}),
    Entry("flattenLayer", dl.flattenLayer),
    Entry("functionLayer", dl.functionLayer, lambda: (lambda x: x,), {0: ("fun", "function")}),
    Entry("lstmLayer", dl.lstmLayer, lambda: (3,), {0: ("numHiddenUnits",)}),
    Entry("bilstmLayer", dl.bilstmLayer, lambda: (3,), {0: ("numHiddenUnits",)}),
    Entry("gruLayer", dl.gruLayer, lambda: (3,), {0: ("numHiddenUnits",)}),
    Entry("additionLayer", dl.additionLayer, lambda: (2,), {0: ("numInputs",)}),
    Entry("concatenationLayer", dl.concatenationLayer, lambda: (1, 2),
          {0: ("dim",), 1: ("numInputs",)}),
    Entry("depthConcatenationLayer", dl.depthConcatenationLayer, lambda: (2,),
          {0: ("numInputs",)}),
    Entry("dlnetwork", dl.dlnetwork, lambda: ([dl.featureInputLayer(2),
                                                dl.fullyConnectedLayer(1)],),
          {0: ("layers", "layer")}, options=("Initialize",)),
    Entry("predict", dl.predict, lambda: (_fnet(), np.ones((3, 2), "float32")),
          {0: ("net",), 1: ("X",)}, options=("Outputs",), aliases={"Outputs": ("layer",)}),
    Entry("forward", dl.forward, lambda: (_fnet(), np.ones((3, 2), "float32")),
          {0: ("net",), 1: ("X",)}, options=("Outputs",), aliases={"Outputs": ("layer",)}),
    Entry("minibatchpredict", dl.minibatchpredict, lambda: (_fnet(), np.ones((3, 2), "float32")),
          {0: ("net",), 1: ("X",)}),
    Entry("testnet", dl.testnet, lambda: (_fnet(), np.ones((4, 2), "float32"),
                                          np.ones((4, 1), "float32"), "mse"),
          {0: ("net",), 1: ("X",), 2: ("T",), 3: ("metric",)}),
    Entry("scores2label", dl.scores2label, lambda: (np.ones((2, 3), "float32"), ["a", "b", "c"]),
          {0: ("scores",), 1: ("classNames",)}, options=("ReturnScores",)),
    Entry("onehotencode", dl.onehotencode, lambda: (np.array(["a", "b"]), 2, ["a", "b"]),
          {0: ("labels", "A"), 1: ("featureDim", "dim"),
           2: ("classes", "class names", "ClassNames")},
          sizes=True),
    Entry("onehotdecode", dl.onehotdecode, lambda: (np.eye(2, dtype="float32"), ["a", "b"], 2),
          {0: ("B", "scores"), 1: ("classes", "classNames"), 2: ("featureDim", "dim")}),
    Entry("summary", dl.summary, lambda: (_fnet(),), {0: ("net", "layer")}),
    Entry("analyzeNetwork", dl.analyzeNetwork, lambda: (_fnet(),), {0: ("net", "layer")}),
    Entry("initialize", dl.initialize, lambda: (dl.dlnetwork(
        [dl.featureInputLayer(2), dl.fullyConnectedLayer(1)], Initialize=False),),
        {0: ("net",)}),
    Entry("getL2Factor", dl.getL2Factor, lambda: (_fnet(), "fc", "Weights"),
          {0: ("net", "layer"), 1: ("layerName", "layer"), 2: ("parameterName", "parameter")}),
    Entry("setLearnRateFactor", dl.setLearnRateFactor, lambda: (_fnet(), "fc", "Weights", 2),
          {0: ("net", "layer"), 1: ("layerName", "layer"), 2: ("parameterName", "parameter"),
           3: ("factor",)}),
    Entry("imageDatastore", dl.imageDatastore, lambda: (".",), {0: ("location",)},
          aliases={"FileExtensions": ("extensions", "no image files"),
                   "IncludeSubfolders": ("no image files",), "LabelSource": ("no image files",)},
          missing_ok=True),
    Entry("arrayDatastore", dl.arrayDatastore, lambda: (np.ones((4, 2)),), {0: ("A",)}),
    Entry("minibatchqueue", dl.minibatchqueue, lambda: (dl.arrayDatastore(np.ones((4, 2))),),
          {0: ("ds",)}, then=_mbq_next),
    Entry("minibatchqueue", dl.minibatchqueue, lambda: (dl.arrayDatastore(np.ones((4, 2))), 1),
          {1: ("numOutputs",)}, options=(), then=_mbq_next),
    Entry("imageDataAugmenter", dl.imageDataAugmenter),
    Entry("augmentedImageDatastore", dl.augmentedImageDatastore, lambda: ([4, 4], _X4()),
          {0: ("outputSize",), 1: ("X", "imds")}, then=dl.read),
    Entry("dlarray", dl.dlarray, lambda: (np.ones((2, 2), "float32"), "CB"),
          {0: ("X", "data"), 1: ("fmt", "format", "label")}),
    Entry("finddim", dl.finddim, lambda: (_cb(), "C"), {0: ("X",), 1: ("label",)}),
    Entry("crossentropy", dl.crossentropy, lambda: (_cb(), _cb())),
    Entry("indexcrossentropy", dl.indexcrossentropy, lambda: (_cb(), np.ones((1, 2)))),
    Entry("mse", dl.mse, lambda: (_cb(), _cb()), {1: ("T", "targets")}),
    Entry("l1loss", dl.l1loss, lambda: (_cb(), _cb())),
    Entry("l2loss", dl.l2loss, lambda: (_cb(), _cb())),
    Entry("huber", dl.huber, lambda: (_cb(), _cb())),
    Entry("softmax", dl.softmax, lambda: (_cb(),)),
    Entry("leakyrelu", dl.leakyrelu, lambda: (_cb(), 0.1), {1: ("scale", "scaleFactor")}),
    Entry("fullyconnect", dl.fullyconnect, lambda: (_cb(), np.ones((1, 2), "float32"), 0),
          {1: ("weights",), 2: ("bias",)}),
    Entry("dlconv", dl.dlconv, lambda: (dl.dlarray(_X4(), "SSCB"),
                                        np.ones((2, 2, 1, 1), "float32"), 0),
          {1: ("weights",), 2: ("bias",)}, sizes=True),
    Entry("maxpool", dl.maxpool, lambda: (dl.dlarray(_X4(), "SSCB"), 2),
          {1: ("poolsize", "pool size")}, sizes=True),
    Entry("avgpool", dl.avgpool, lambda: (dl.dlarray(_X4(), "SSCB"), 2),
          {1: ("poolsize", "pool size")}, sizes=True),
    Entry("batchnorm", dl.batchnorm, lambda: (_cb(), np.zeros(2, "float32"),
                                              np.ones(2, "float32"))),
    Entry("layernorm", dl.layernorm, lambda: (_cb(), np.zeros(2, "float32"),
                                              np.ones(2, "float32"))),
    Entry("instancenorm", dl.instancenorm, lambda: (dl.dlarray(_X4(), "SSCB"),
                                                    np.zeros(1, "float32"),
                                                    np.ones(1, "float32"))),
    Entry("groupnorm", dl.groupnorm, lambda: (dl.dlarray(_X4(), "SSCB"), 1,
                                              np.zeros(1, "float32"), np.ones(1, "float32")),
          {1: ("numGroups", "groups")}),
    Entry("piecewiseLearnRate", dl.piecewiseLearnRate),
    Entry("warmupLearnRate", dl.warmupLearnRate),
    Entry("polynomialLearnRate", dl.polynomialLearnRate),
    Entry("exponentialLearnRate", dl.exponentialLearnRate),
    Entry("cosineLearnRate", dl.cosineLearnRate),
    Entry("cyclicalLearnRate", dl.cyclicalLearnRate),
    Entry("rng", dl.rng, lambda: (1,), {0: ("seed",)}),
    Entry("use_backend", dl.use_backend, lambda: ("numpy",), {0: ("name", "backend")}),
    Entry("trainingProgressMonitor", dl.trainingProgressMonitor),
    Entry("splitEachLabel", dl.splitEachLabel, lambda: (dl.imageDatastore(
        [_TESTS], FileExtensions=".py"), 0.5), {0: ("ds", "imds", "datastore"),
                                                 1: ("p", "proportion", "splitEachLabel")}),
]


def _discover(entry: Entry) -> tuple[str, ...]:
    """The entry's option names: from the message an unknown option gets, or the signature."""
    if entry.options is not None:
        return entry.options
    try:
        entry.fn(*entry.args(), Zqxjkvwv=1)
    except (TypeError, ValueError) as err:
        text = str(err)
        match = re.search(r"[Vv]alid (?:names are|options are:)(.*)", text)
        if match:
            names = re.findall(r"[A-Za-z][A-Za-z0-9]*", match.group(1))
            return tuple(n for n in names if n[0].isupper())
    params = inspect.signature(entry.fn).parameters.values()
    return tuple(p.name for p in params if p.kind is p.KEYWORD_ONLY)


CASES_LIST = [(e, ("option", o)) for e in TABLE for o in _discover(e) if o != "Name"]
CASES_LIST += [(e, ("positional", i)) for e in TABLE for i in e.positional]

RAW = ("truth value of an array", "setting an array element", "could not convert",
       "ufunc", "unsupported operand", "object is not", "has no len", "not subscriptable",
       "object has no attribute", "invalid literal", "maximum supported dimension")


@contextlib.contextmanager
def _memory_cap(extra: int = 2 << 30):
    """Cap this process's address space at its current size plus ``extra`` while a case runs,
    so code that allocates from a huge claimed size fails with MemoryError (reported) instead
    of exhausting the machine. POSIX only; elsewhere nothing is capped."""
    try:
        import resource

        with open("/proc/self/statm") as f:
            size = int(f.read().split()[0]) * resource.getpagesize()
    except (ImportError, OSError):
        yield
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = size + extra if hard == resource.RLIM_INFINITY else min(hard, size + extra)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def _check(entry: Entry, kind: str, key: Any, value: Any) -> None:
    args = list(entry.args())
    kwargs: dict[str, Any] = {}
    if kind == "option":
        kwargs[key] = value
        names: tuple[str, ...] = (key, *entry.aliases.get(key, ()))
    else:
        args[key] = value
        names = entry.positional[key]
        if isinstance(value, str):  # MATLAB may read text there as an option name
            names = (*names, "name-value", "option")
    label = f"{entry.name}({kind} {key}={value!r:.60})"
    try:
        with warnings.catch_warnings(), _memory_cap(MEMORY_CAP):
            warnings.simplefilter("ignore")
            out = entry.fn(*args, **kwargs)
            if entry.then is not None:
                entry.then(out)
    except (TypeError, ValueError) as err:
        text = str(err)
        assert any(n.lower() in text.lower() for n in names), \
            f"{label}: {type(err).__name__} does not name {'/'.join(names)}: {text[:200]}"
        assert not any(r in text for r in RAW), f"{label}: a raw message: {text[:200]}"
    except StopIteration:
        pass  # an empty queue after a legal size: not an error of the argument
    except MemoryError:
        if not entry.sizes:
            pytest.fail(f"{label}: MemoryError")
    except FileNotFoundError:
        if not entry.missing_ok:
            pytest.fail(f"{label}: FileNotFoundError")
    except Exception as err:  # noqa: BLE001
        pytest.fail(f"{label}: {type(err).__name__}: {str(err)[:200]}")
    finally:
        dl.use_backend("numpy")
        CASES[entry.name] = CASES.get(entry.name, 0) + 1


@pytest.mark.parametrize("entry,case", CASES_LIST,
                         ids=[f"{e.name}-{k}-{v}" for e, (k, v) in CASES_LIST])
def test_wrong_values_get_named_errors(entry, case, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # whatever an option writes (plots) goes there
    kind, key = case

    @SETTINGS
    @given(value=BAD)
    def run(value):
        _check(entry, kind, key, value)

    run()


def test_case_count():
    """How many (function, argument, value) cases the fuzz runs (reported in the notes)."""
    assert len(CASES_LIST) * MAX_EXAMPLES >= 1000
