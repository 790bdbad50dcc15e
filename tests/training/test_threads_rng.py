"""Issue 18, threads and randomness: predict's result (and its BLAS threading) does not depend on
which thread calls it; ``rng`` governs every random choice; concurrent trainnet runs do not
depend on each other's timing."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import minidl as dl

threadpoolctl = pytest.importorskip("threadpoolctl")


def _blas_threads() -> int:
    infos = [i for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"]
    return max((i["num_threads"] for i in infos), default=0)


def _in_thread(fn):
    out = {}

    def run():
        try:
            out["value"] = fn()
        except BaseException as err:  # noqa: BLE001
            out["error"] = err

    t = threading.Thread(target=run)
    t.start()
    t.join()
    if "error" in out:
        raise out["error"]
    return out["value"]


def test_predict_blas_threading_is_the_same_from_any_thread():
    """A functionLayer records how many threads BLAS may use while predict runs: the main
    thread and a worker thread see the same number (minidl's cap applies in both)."""
    seen: list[int] = []

    def spy(X):
        seen.append(_blas_threads())
        return X

    net = dl.dlnetwork([dl.featureInputLayer(256), dl.fullyConnectedLayer(256),
                        dl.functionLayer(spy), dl.fullyConnectedLayer(8)])
    X = np.random.default_rng(0).random((128, 256)).astype("float32")
    dl.predict(net, X)  # the main thread first, as a script would
    main = seen[-1]
    _in_thread(lambda: dl.predict(net, X))
    assert seen[-1] == main, f"BLAS may use {seen[-1]} threads from a worker, {main} from main"
    dl.predict(net, X)
    assert seen[-1] == main


def test_predict_result_does_not_depend_on_the_thread():
    net = dl.dlnetwork([dl.imageInputLayer([12, 12, 3], Normalization="none"),
                        dl.convolution2dLayer(3, 16, Padding="same"), dl.reluLayer(),
                        dl.fullyConnectedLayer(300), dl.fullyConnectedLayer(5)])
    X = np.random.default_rng(1).random((12, 12, 3, 96)).astype("float32")
    main = dl.extractdata(dl.predict(net, X))
    other = _in_thread(lambda: dl.extractdata(dl.predict(net, X)))
    np.testing.assert_array_equal(main, other)


def test_split_each_label_randomized_follows_rng(tmp_path):
    from tests.networks.test_files import _png

    for label in ("a", "b"):
        (tmp_path / label).mkdir()
        for i in range(12):
            _png(tmp_path / label / f"{i:02d}.png")
    ds = dl.imageDatastore(str(tmp_path), IncludeSubfolders=True, LabelSource="foldernames")
    picks = []
    for _ in range(2):
        dl.rng(11)
        first, _ = dl.splitEachLabel(ds, 0.5, "randomized")
        picks.append(list(first.Files))
    assert picks[0] == picks[1]
    dl.rng(12)
    assert list(dl.splitEachLabel(ds, 0.5, "randomized")[0].Files) != picks[0]


def _run(net, X, T, output_fcn=None):
    opts = dl.trainingOptions("sgdm", MaxEpochs=4, MiniBatchSize=8, Shuffle="every-epoch",
                              Verbose=False, OutputFcn=output_fcn)
    return dl.trainnet(X, T, net, "crossentropy", opts)[0]


def test_trainnet_run_has_its_own_generator():
    """rng(5) then a run gives one result, whatever another thread draws from the global
    generator while the run shuffles."""
    rs = np.random.default_rng(0)
    X = rs.random((64, 4)).astype("float32")
    T = np.array(["a", "b"] * 32)
    net = dl.dlnetwork([dl.featureInputLayer(4), dl.fullyConnectedLayer(2), dl.softmaxLayer()])
    dl.rng(5)
    alone = _run(net, X, T)

    started, done = threading.Event(), threading.Event()

    def output_fcn(info):
        if info["State"] == "start":
            started.set()
        elif info["State"] == "iteration":
            done.wait(0.002)  # let the other thread draw between iterations
        return False

    ds = dl.arrayDatastore(np.arange(100))

    def draw():
        started.wait(10)
        while not done.is_set():
            dl.shuffle(ds)  # draws from the global generator

    dl.rng(5)
    drawer = threading.Thread(target=draw)
    drawer.start()
    try:
        together = _run(net, X, T, output_fcn)
    finally:
        done.set()
        drawer.join()
    for a, b in zip(alone.Learnables.Value, together.Learnables.Value):
        np.testing.assert_array_equal(dl.extractdata(a), dl.extractdata(b))
