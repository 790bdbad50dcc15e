"""Tests for minibatchqueue (minidl.data.minibatchqueue) over minidl's datastores."""

import numpy as np
import pytest
from PIL import Image

from minidl.backend import BackendUnavailableError, array_module, canUseGPU, rng
from minidl.core import dlarray
from minidl.data.arraydatastore import arrayDatastore, combine
from minidl.data.datastore import hasdata, imageDatastore, reset, shuffle
from minidl.data.minibatchqueue import MiniBatchQueue, minibatchqueue
from tests.conftest import host


def images_and_labels(n=10, h=4, w=3, c=2):
    """n images H x W x C x N whose every pixel holds the observation number, and labels."""
    X = np.broadcast_to(np.arange(n, dtype=np.float64), (h, w, c, n)).copy()
    T = np.array(["odd" if i % 2 else "even" for i in range(n)])
    return X, T


def image_store(n=10):
    X, T = images_and_labels(n)
    return combine(arrayDatastore(X, IterationDimension=4), arrayDatastore(T))


def observation_numbers(X):
    """Which observations a collated H x W x C x N batch holds (its pixel values)."""
    return host(X)[0, 0, 0].astype(int).tolist()


def test_matlab_defaults_and_display():
    mbq = minibatchqueue(image_store(), MiniBatchFormat=["SSCB", ""])
    assert isinstance(mbq, MiniBatchQueue) and mbq.NumOutputs == 2
    assert (mbq.MiniBatchSize, mbq.PartialMiniBatch, mbq.MiniBatchFcn) == (128, "return",
                                                                           "collate")
    assert mbq.OutputCast == ["single", "single"] and mbq.OutputAsDlarray == [True, True]
    assert mbq.OutputEnvironment == ["auto", "auto"] and mbq.PreprocessingEnvironment == "serial"
    assert repr(mbq).splitlines() == [
        "minibatchqueue with 2 outputs and properties:",
        "",
        "   Mini-batch creation:",
        "               MiniBatchSize: 128",
        "            PartialMiniBatch: 'return'",
        "                MiniBatchFcn: 'collate'",
        "    PreprocessingEnvironment: 'serial'",
        "",
        "   Outputs:",
        "                  OutputCast: {'single'  'single'}",
        "             OutputAsDlarray: [1 1]",
        "             MiniBatchFormat: {'SSCB'  ''}",
        "           OutputEnvironment: {'auto'  'auto'}",
    ]
    one = minibatchqueue(arrayDatastore(np.zeros((3, 2))), MiniBatchFcn=lambda x: x[0])
    assert "minibatchqueue with 1 output and" in repr(one) and "MiniBatchFcn: @<lambda>" in \
        repr(one) and "OutputAsDlarray: 1" in repr(one)


def test_collate_stacks_along_a_new_last_axis():
    mbq = minibatchqueue(image_store(), MiniBatchSize=4, MiniBatchFormat=["SSCB", ""])
    X, T = next(mbq)
    assert isinstance(X, dlarray) and X.fmt == "SSCB" and X.shape == (4, 3, 2, 4)
    assert X.dtype == np.float32                                    # OutputCast "single"
    assert observation_numbers(X) == [0, 1, 2, 3]
    assert isinstance(T, np.ndarray) and T.shape == (1, 4)          # scalars: a 1 x N row
    assert T.tolist() == [["even", "odd", "even", "odd"]]           # text is passed through
    features = minibatchqueue(arrayDatastore(np.arange(12.0).reshape(6, 2)), MiniBatchSize=4,
                              MiniBatchFormat="CB")
    F = next(features)                                              # one output: no tuple
    assert isinstance(F, dlarray) and F.fmt == "CB" and F.shape == (2, 4)
    np.testing.assert_array_equal(host(F), [[0, 2, 4, 6], [1, 3, 5, 7]])
    batch_first = minibatchqueue(arrayDatastore(np.arange(12.0).reshape(6, 2)), MiniBatchSize=4,
                                 MiniBatchFormat="CB")
    assert next(batch_first).shape == (2, 4)
    numbers = minibatchqueue(arrayDatastore(np.arange(5.0)), MiniBatchSize=5, MiniBatchFormat="CB")
    assert next(numbers).shape == (1, 5)


def test_partial_mini_batch_return_or_discard():
    sizes = [x.shape[-1] for x, _ in minibatchqueue(image_store(10), MiniBatchSize=4)]
    assert sizes == [4, 4, 2]
    mbq = minibatchqueue(image_store(10), MiniBatchSize=4, PartialMiniBatch="discard")
    sizes = []
    while hasdata(mbq):
        X, _ = next(mbq)
        sizes.append(X.shape[-1])
    assert sizes == [4, 4] and not mbq.hasdata()
    small = minibatchqueue(image_store(3), MiniBatchSize=4, PartialMiniBatch="discard")
    assert not hasdata(small)


def test_end_of_data_iteration_and_reset():
    mbq = minibatchqueue(image_store(6), MiniBatchSize=3)
    assert len(list(mbq)) == 2 and not hasdata(mbq)
    assert list(mbq) == []                                          # an iterator: one epoch
    with pytest.raises(StopIteration, match=r"end of the data.*reset\(mbq\) or shuffle\(mbq\)"):
        next(mbq)
    with pytest.raises(StopIteration, match="end of the data"):
        mbq.next()
    reset(mbq)
    assert hasdata(mbq)
    X, _ = mbq.next()
    assert observation_numbers(X) == [0, 1, 2]


def test_shuffle_is_reproducible_with_rng_and_covers_every_observation():
    def epoch(mbq):
        assert shuffle(mbq) is None                                 # in place, as MATLAB
        return [i for X, _ in mbq for i in observation_numbers(X)]

    mbq = minibatchqueue(image_store(10), MiniBatchSize=4)
    next(mbq)
    rng(7)
    first = epoch(mbq)                                              # shuffle also rewinds
    rng(7)
    again = epoch(minibatchqueue(image_store(10), MiniBatchSize=4))
    assert first == again and sorted(first) == list(range(10)) and first != list(range(10))
    assert epoch(mbq) != first                                      # the next epoch differs
    rng(7)
    mbq.shuffle()
    X, T = next(mbq)                                                # labels follow their images
    assert [("odd" if i % 2 else "even") for i in observation_numbers(X)] == T[0].tolist()
    reset(mbq)                                                      # reset keeps the order
    assert observation_numbers(next(mbq)[0]) == first[:4]


def test_mini_batch_fcn_gets_lists_of_observations():
    received = {}

    def preprocess(dataX, dataT):
        received["X"], received["T"] = dataX, dataT
        X = np.stack(dataX, axis=-1)
        T = (np.array(dataT) == "odd").astype(np.float64)[None]
        return X, T, np.array(len(dataX))

    mbq = minibatchqueue(image_store(5), 3, MiniBatchSize=3, MiniBatchFcn=preprocess,
                         MiniBatchFormat=["SSCB", "CB", ""], OutputCast=["", "double", "single"])
    X, T, n = next(mbq)
    assert isinstance(received["X"], list) and len(received["X"]) == 3
    assert received["X"][1].shape == (4, 3, 2) and received["T"] == ["even", "odd", "even"]
    assert X.dtype == np.float64 and X.fmt == "SSCB"                # "" keeps the type
    assert T.dtype == np.float64 and T.fmt == "CB" and host(T).tolist() == [[0, 1, 0]]
    assert n.fmt == "" and float(host(n)) == 3
    assert next(mbq)[2] == 2                                       # the partial batch


def test_a_one_input_mini_batch_fcn_gets_the_predictors_alone():
    """MATLAB's test queues pass a labelled datastore to a function of the images only."""
    def predictors(dataX):
        return np.stack(dataX, axis=-1)

    mbq = minibatchqueue(image_store(4), 1, MiniBatchFcn=predictors, MiniBatchFormat="SSCB")
    X = next(mbq)
    assert X.fmt == "SSCB" and X.shape == (4, 3, 2, 4)
    every = minibatchqueue(image_store(4), 1, MiniBatchFcn=lambda *v: np.array(len(v)))
    assert float(host(next(every))) == 2  # *args: every variable


def test_mini_batch_fcn_output_count_must_match():
    ds = image_store(4)
    with pytest.raises(ValueError, match=r"returned 1 output but the minibatchqueue has 2 \("
                                         r"numOutputs\)"):
        next(minibatchqueue(ds, MiniBatchFcn=lambda x, t: np.stack(x, -1)))
    with pytest.raises(ValueError, match="reads 2 variables but numOutputs is 1"):
        next(minibatchqueue(ds, 1))
    single = minibatchqueue(ds, 1, MiniBatchFcn=lambda x, t: (np.stack(x, -1),))
    assert next(single).shape == (4, 3, 2, 4)


def test_output_options():
    ds = image_store(4)
    raw = minibatchqueue(ds, OutputAsDlarray=False, OutputCast="double")
    X, T = next(raw)
    assert type(X) is np.ndarray and X.dtype == np.float64
    mixed = minibatchqueue(ds, OutputAsDlarray=[True, False], MiniBatchFormat=["SSCB", ""])
    assert isinstance(next(mixed)[0], dlarray)
    logical = minibatchqueue(arrayDatastore(np.array([0.0, 2.0])), OutputCast="logical",
                             OutputAsDlarray=0)
    assert next(logical).dtype == np.bool_
    relabel = minibatchqueue(ds, MiniBatchFcn=lambda x, t: (dlarray(np.stack(x, -1)), t),
                             MiniBatchFormat=["SSCB", ""])
    assert next(relabel)[0].fmt == "SSCB"


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"MiniBatchSize": 0}, ValueError, "MiniBatchSize must be a positive integer"),
        ({"PartialMiniBatch": "keep"}, ValueError, "PartialMiniBatch must be one of 'return'"),
        ({"MiniBatchFcn": 3}, TypeError, "MiniBatchFcn must be a function or 'collate'"),
        ({"MiniBatchFcn": "stack"}, ValueError, "MiniBatchFcn must be one of 'collate'"),
        ({"MiniBatchFormat": "SSCB"}, ValueError, "one value for 2 outputs: give one per output"),
        ({"MiniBatchFormat": ["SSCB"]}, ValueError, r"one value per output \(2\), got 1"),
        ({"MiniBatchFormat": ["SSCB", 4]}, TypeError, "MiniBatchFormat must be a string"),
        ({"MiniBatchFormat": ["SSCB", ""], "OutputAsDlarray": False}, ValueError,
         "OutputAsDlarray is false: only a dlarray has a format"),
        ({"OutputCast": "half"}, ValueError, "OutputCast must be one of 'single', 'double'"),
        ({"OutputAsDlarray": "yes"}, ValueError, "OutputAsDlarray must be true or false"),
        ({"OutputEnvironment": "tpu"}, ValueError, "OutputEnvironment must be one of 'auto'"),
        ({"PreprocessingEnvironment": "parallel"}, ValueError,
         "PreprocessingEnvironment must be one of 'serial'"),
        ({"MiniBatchSise": 4}, ValueError, "Did you mean 'MiniBatchSize'"),
    ],
)
def test_bad_options(options, error, message):
    with pytest.raises(error, match=message):
        minibatchqueue(image_store(4), **options)


def test_bad_sources_and_formats():
    with pytest.raises(TypeError, match=r"ds must be a datastore.*got ndarray \(wrap an array as "
                                        r"arrayDatastore\(X, IterationDimension=4\)"):
        minibatchqueue(np.zeros((2, 2, 1, 3)))
    with pytest.raises(ValueError, match="numOutputs must be a positive integer"):
        minibatchqueue(image_store(4), 0)
    with pytest.raises(ValueError, match="MiniBatchFormat 'CB' is given for output 2, which is "
                                         "not numeric"):
        next(minibatchqueue(image_store(4), MiniBatchFormat=["SSCB", "CB"]))
    with pytest.raises(ValueError, match=r"MiniBatchFormat 'CB' does not fit output 1 of size "
                                         r"4x3x2x4"):
        next(minibatchqueue(image_store(4), MiniBatchFormat=["CB", ""]))
    name_value = minibatchqueue(image_store(4), "MiniBatchSize", 2, "partialminibatch", "discard")
    assert (name_value.MiniBatchSize, name_value.PartialMiniBatch) == (2, "discard")


def test_output_environment(xp):
    auto = minibatchqueue(image_store(4), MiniBatchFormat=["SSCB", ""])
    X, _ = next(auto)
    assert array_module(X._data) is xp                             # the active backend
    cpu = minibatchqueue(image_store(4), OutputEnvironment=["cpu", "auto"])
    assert array_module(next(cpu)[0]._data) is np
    if xp is not np:
        gpu = minibatchqueue(image_store(4), OutputEnvironment="gpu")
        assert array_module(next(gpu)[0]._data) is xp


@pytest.mark.skipif(canUseGPU(), reason="checks the error raised without a GPU")
def test_gpu_output_without_a_gpu_fails_at_creation():
    with pytest.raises(BackendUnavailableError, match="CuPy"):
        minibatchqueue(image_store(4), OutputEnvironment="gpu")


def test_labeled_image_datastore_gives_images_and_labels(tmp_path):
    """The documented custom-loop line: minibatchqueue(imds, ..., MiniBatchFcn=preprocess,
    MiniBatchFormat=["SSCB", ""]) and X, T = next(mbq)."""
    for label, value in (("cat", 40), ("dog", 200)):
        (tmp_path / label).mkdir()
        for i in range(3):
            Image.new("L", (5, 4), value + i).save(tmp_path / label / f"{i}.png")
    imds = imageDatastore(tmp_path, IncludeSubfolders=True, LabelSource="foldernames")
    assert next(minibatchqueue(imds, MiniBatchSize=2))[1].tolist() == [["cat", "cat"]]

    from minidl.ops.nn import onehotencode

    def preprocess(dataX, dataT):
        X = np.stack(dataX, axis=-1) / 255
        T = onehotencode(np.array(dataT), 1, ClassNames=["cat", "dog"])
        return X, T

    mbq = minibatchqueue(imds, MiniBatchSize=4, MiniBatchFcn=preprocess,
                         MiniBatchFormat=["SSCB", ""])
    batches = []
    while hasdata(mbq):
        X, T = next(mbq)
        batches.append((X, T))
    assert [X.shape for X, _ in batches] == [(4, 5, 1, 4), (4, 5, 1, 2)]
    X, T = batches[0]
    assert X.fmt == "SSCB" and T.fmt == "" and T.shape == (2, 4)
    np.testing.assert_array_equal(host(T), [[1, 1, 1, 0], [0, 0, 0, 1]])
    np.testing.assert_allclose(host(X)[0, 0, 0], np.array([40, 41, 42, 200]) / 255, rtol=1e-6)
    Image.new("L", (6, 6)).save(tmp_path / "dog" / "big.png")
    mixed = imageDatastore(tmp_path, IncludeSubfolders=True, LabelSource="foldernames")
    with pytest.raises(ValueError, match="cannot collate observations of different sizes"):
        list(minibatchqueue(mixed, MiniBatchSize=8))


def test_custom_training_loop_reduces_the_loss():
    import minidl as dl

    gen = np.random.default_rng(0)
    features = gen.standard_normal((64, 2)).astype(np.float32)   # N x numFeatures
    labels = np.where(features[:, 0] + features[:, 1] > 0, "yes", "no")
    ds = combine(arrayDatastore(features), arrayDatastore(labels))

    def preprocess(dataX, dataT):
        return np.stack(dataX, axis=-1), dl.onehotencode(np.array(dataT), 1,
                                                        ClassNames=["no", "yes"])

    mbq = minibatchqueue(ds, MiniBatchSize=16, MiniBatchFcn=preprocess,
                         MiniBatchFormat=["CB", "CB"])
    rng(0)
    net = dl.dlnetwork([dl.featureInputLayer(2), dl.fullyConnectedLayer(2), dl.softmaxLayer()])

    def modelLoss(net, X, T):
        Y, state = dl.forward(net, X)
        loss = dl.crossentropy(Y, T)
        return loss, dl.dlgradient(loss, net.Learnables), state

    velocity, losses = None, []
    for _ in range(4):
        shuffle(mbq)
        while hasdata(mbq):
            X, T = next(mbq)
            loss, gradients, state = dl.dlfeval(modelLoss, net, X, T)
            net, velocity = dl.sgdmupdate(net, gradients, velocity, 0.1, 0.9)
            losses.append(float(host(loss)))
    assert len(losses) == 16
    assert np.mean(losses[-4:]) < 0.5 * np.mean(losses[:4])
