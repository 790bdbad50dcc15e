"""The examples run, in their fast mode, and produce what they promise.

Each example is run as a script (runpy, ``__name__ == "__main__"``) with ``--fast``, in a
temporary working directory; its printed output, its files and the objects it leaves behind are
checked. Fast mode uses a few hundred images and one epoch, so accuracies are not checked here
(the full runs are reported in README.md and docs/normalization.md).
"""

from __future__ import annotations

import os
import re
import runpy
import sys
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("MPLBACKEND", "Agg")

import minidl as dl  # noqa: E402
import minidl.backend  # noqa: E402

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def run_example(tmp_path, monkeypatch, capsys, request):
    """run_example(name, *args) -> (printed text, the script's globals)."""
    monkeypatch.chdir(tmp_path)
    state = minidl.backend.generator().bit_generator.state  # examples reseed: put it back after
    request.addfinalizer(lambda: setattr(minidl.backend.generator().bit_generator, "state", state))

    def run(name: str, *args: str) -> tuple[str, dict]:
        monkeypatch.setattr(sys, "argv", [str(EXAMPLES / name), "--fast", *args])
        import matplotlib.pyplot as plt

        try:
            namespace = runpy.run_path(str(EXAMPLES / name), run_name="__main__")
        finally:
            plt.close("all")
            dl.use_backend("numpy")
        return capsys.readouterr().out, namespace

    return run


def accuracy(text: str, label: str) -> float:
    match = re.search(re.escape(label) + r"[^:]*:\s*([0-9.]+)%", text)
    assert match, f"no line '{label} ...: <number>%' in the output"
    value = float(match.group(1))
    assert 0 <= value <= 100
    return value


def is_png(path: Path) -> bool:
    return path.is_file() and path.read_bytes()[:8] == PNG


def test_train_example_cnn(run_example, tmp_path):
    out, ns = run_example("train_example_cnn.py", "--out", str(tmp_path / "results"))

    # the documented Layer array, displayed as MATLAB does
    assert "  7x1 Layer array with layers:" in out
    for row in ["Image Input              28x28x3 images with 'zerocenter' normalization",
                "2-D Convolution          20 5x5 convolutions with stride [1  1] and padding "
                "[0  0  0  0]",
                "Instance Normalization   Instance normalization",
                "ReLU                     ReLU",
                "2-D Max Pooling          2x2 max pooling with stride [2  2] and padding "
                "[0  0  0  0]",
                "Fully Connected          10 fully connected layer",
                "Softmax                  softmax"]:
        assert row in out
    # the verbose table with validation and accuracy columns, and its last line
    assert re.search(r"Iteration\s+Epoch\s+TimeElapsed\s+LearnRate\s+TrainingLoss\s+"
                     r"ValidationLoss\s+TrainingAccuracy\s+ValidationAccuracy", out)
    assert "Training stopped: Max epochs completed" in out
    accuracy(out, "Test accuracy")

    plot = tmp_path / "results" / "train_example_cnn_progress.png"
    assert is_png(plot)
    assert not (tmp_path / "training-progress.png").exists()  # moved to the results folder

    # the saved network loads and predicts exactly like the trained one
    saved = dl.load(tmp_path / "results" / "digitsNet.npz")
    X = ns["XTest"][:, :, :, :5]
    np.testing.assert_allclose(dl.extractdata(saved.predict(X)),
                               dl.extractdata(ns["net"].predict(X)), rtol=1e-6, atol=1e-7)
    assert [type(layer).__name__ for layer in saved.Layers][2] == "InstanceNormalizationLayer"


def test_custom_training_loop(run_example):
    out, ns = run_example("custom_training_loop.py")

    assert "PReLU                    PReLU" in out  # the custom layer in the Layer array
    accuracy(out, "Test accuracy (dlnetwork with custom layer)")
    accuracy(out, "Test accuracy (model function with residual connection)")

    # the progress monitor recorded every iteration and saved its figure at Progress 100
    monitor = ns["monitor"]
    assert monitor.MetricData["Loss"].shape == (ns["numIterations"], 2)
    assert monitor.Progress == 100 and os.path.getsize(monitor.PlotFile) > 1000

    # the custom layer's learnable was found by dlnetwork and trained by adamupdate
    net = ns["net"]
    rows = [(layer, name) for layer, name, _ in net.Learnables]
    assert ("prelu", "Alpha") in rows
    alpha = dl.extractdata(next(v for layer, _, v in net.Learnables if layer == "prelu"))
    assert alpha.shape == (1, 1, 20) and not np.allclose(alpha, 0.25)
    # the model function's parameters were updated too (still a dict of dicts of dlarrays)
    params = ns["parameters"]
    assert set(params) == {"conv1", "norm1", "conv2", "norm2", "conv3", "norm3", "fc"}
    assert not np.allclose(dl.extractdata(params["norm2"]["Scale"]), 1)


def test_normalization_tour(run_example, tmp_path):
    out, _ = run_example("normalization_tour.py", "--out", str(tmp_path / "figures"))

    for name in ("normalization_sharing.png", "normalization_statistics.png",
                 "normalization_training.png"):
        path = tmp_path / "figures" / name
        assert is_png(path), name
        assert path.stat().st_size < 200 * 1024, name
    # (a) the picture's groups were checked against the ops
    assert "every group of the picture has mean 0 and variance 1" in out
    # (b) after instance normalization every (channel, image) has mean 0 and std 1
    part_b = out[out.index("statistics of each (channel, image) pair"):]
    row = re.search(r"^\s+instance\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)", part_b, re.M)
    mean_lo, mean_hi, std_lo, std_hi = map(float, row.groups())
    assert abs(mean_lo) < 1e-3 and abs(mean_hi) < 1e-3 and 0.9 < std_lo <= std_hi <= 1.0001
    # (d) batch norm depends on the other images of the mini-batch, instance norm does not
    assert re.search(r"two different mini-batches of 8, instance: max \|difference\| = 0\b", out)
    # (e) every gradient check passed with a small error
    errors = [float(e) for e in re.findall(r"gradcheck .* worst relative error (\S+)", out)]
    assert len(errors) == 4 and max(errors) < 1e-6
    # (f) the table has a row for each of the five variants
    for name in ("no normalization", "batch", "layer", "instance", "group"):
        assert re.search(rf"^\s+{name}\s+[0-9.]+\s+[0-9.]+", out, re.M), name
