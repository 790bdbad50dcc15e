"""Tests for the training reports: the verbose table, number formats, history tables, plot,
and the figure the plot draws on."""

import math
import os
import sys

import numpy as np
import pytest

from minidl.training.figure import ProgressFigure, interactive
from minidl.training.progress_plot import ProgressPlot
from minidl.training.report import (
    CheckpointWriter,
    HistoryTable,
    TrainingInfo,
    VerboseTable,
    format_number,
    format_time,
    metric_label,
)

COLUMNS = ["Iteration", "Epoch", "TimeElapsed", "LearnRate", "TrainingLoss", "ValidationLoss"]


@pytest.mark.parametrize("value, text", [
    (0.0092651, "0.0092651"), (0.045, "0.045"), (2.27431, "2.2743"), (0.0960234, "0.096023"),
    (0.03645, "0.03645"), (100.0, "100"), (92.1875, "92.188"), (123456.0, "1.2346e+05"),
    (1e-5, "1e-05"), (math.nan, "NaN"), (math.inf, "Inf"), (-math.inf, "-Inf"), (0, "0"),
])
def test_format_number_is_short_g(value, text):
    assert format_number(value) == text


def test_format_time():
    assert format_time(0.4) == "00:00:00"
    assert format_time(8.9) == "00:00:08"
    assert format_time(3725) == "01:02:05"


def test_metric_labels():
    assert [metric_label(m) for m in ["accuracy", "rmse", "mse", "crossentropy", "loss"]] == \
        ["Accuracy", "RMSE", "MSE", "CrossEntropy", "Loss"]


def test_verbose_table_matches_matlab_transcript():
    # The transcript in matlab_api.md §8 (iteration 0 holds only the validation loss).
    lines = []
    table = VerboseTable(COLUMNS, frequency=50, writer=lines.append)
    table.update({"Iteration": 0, "Epoch": 0, "TimeElapsed": 8.2, "LearnRate": 0.0001,
                  "TrainingLoss": None, "ValidationLoss": 4.3566})
    table.update({"Iteration": 1, "Epoch": 1, "TimeElapsed": 8.7, "LearnRate": 0.0001,
                  "TrainingLoss": 6.4292, "ValidationLoss": None})
    table.finish(_info("Max epochs completed"))
    assert lines == [
        "    Iteration    Epoch    TimeElapsed    LearnRate    TrainingLoss    ValidationLoss",
        "    _________    _____    ___________    _________    ____________    ______________",
        "            0        0       00:00:08       0.0001                            4.3566",
        "            1        1       00:00:08       0.0001          6.4292                  ",
        "Training stopped: Max epochs completed",
    ]


def test_verbose_table_without_validation_and_row_frequency():
    lines = []
    table = VerboseTable(COLUMNS[:5], frequency=50, writer=lines.append)
    for it in range(1, 121):
        table.update({"Iteration": it, "Epoch": it, "TimeElapsed": 0, "LearnRate": 0.05,
                      "TrainingLoss": 0.26302, "Final": it == 120})
    assert lines[0] == "    Iteration    Epoch    TimeElapsed    LearnRate    TrainingLoss"
    assert lines[2] == "            1        1       00:00:00         0.05         0.26302"
    assert [int(line.split()[0]) for line in lines[2:]] == [1, 50, 100, 120]


def test_verbose_table_metric_columns_and_wide_values():
    table = VerboseTable(["Iteration", "TrainingAccuracy"], writer=lambda s: None)
    assert table.format_row({"Iteration": 123456, "TrainingAccuracy": 87.5}) == \
        "       123456                87.5"


def test_history_table_columns_and_display():
    t = HistoryTable(["Iteration", "Loss"])
    t.append({"Iteration": 1, "Loss": 0.5})
    t.append({"Iteration": 2, "Loss": None})
    assert len(t) == 2
    np.testing.assert_array_equal(t["Iteration"], [1, 2])
    assert math.isnan(t.Loss[1])
    assert "2×2 table" in repr(t) and "Iteration" in repr(t)
    with pytest.raises(KeyError, match="'Accuracy' is not a variable"):
        t["Accuracy"]


def _info(reason):
    info = TrainingInfo(HistoryTable(["Iteration", "Loss"]), HistoryTable(["Iteration", "Loss"]))
    info.StopReason = reason
    return info


def test_training_info_display():
    text = repr(_info("Max epochs completed"))
    assert "TrainingInfo with properties:" in text
    assert 'StopReason: "Max epochs completed"' in text
    assert "TrainingHistory: [0×2 table]" in text


def test_progress_plot_writes_png(tmp_path):
    path = str(tmp_path / "sub" / "progress.png")
    lines = []
    plot = ProgressPlot(["accuracy"], path, has_validation=True, writer=lines.append)
    plot.update({"Iteration": 0, "Epoch": 0, "ValidationLoss": 2.0, "ValidationAccuracy": 10.0})
    for it in range(1, 21):
        plot.update({"Iteration": it, "Epoch": 1 + it // 10, "TimeElapsed": it,
                     "LearnRate": 0.01, "TrainingLoss": 2.0 / it, "TrainingAccuracy": 4.0 * it,
                     "ValidationLoss": 1.0 if it == 20 else None, "EpochEnd": it % 10 == 0})
    info = _info("Max epochs completed")
    plot.finish(info)
    assert os.path.getsize(path) > 1000 and info.PlotFile == path
    assert lines == [f"Training progress plot saved to {path}"]


def test_checkpoint_writer_names_and_frequency(tmp_path):
    saved = []
    writer = CheckpointWriter(str(tmp_path / "ck"), frequency=2, unit="epoch",
                              save=lambda net, path: saved.append((net, path)))
    for it in range(1, 7):
        writer.update({"Iteration": it, "Epoch": (it + 1) // 2, "EpochEnd": it % 2 == 0}, "net")
    assert len(saved) == 1 and saved[0][0] == "net"
    name = os.path.basename(saved[0][1])
    assert name.startswith("net_checkpoint__4__") and name.endswith(".npz")
    assert len(name) == len("net_checkpoint__4__2024_01_31__12_00_00.npz")
    per_iter = CheckpointWriter(str(tmp_path / "ck2"), frequency=3, unit="iteration",
                                save=lambda net, path: saved.append(path))
    for it in range(1, 8):
        per_iter.update({"Iteration": it, "Epoch": 1}, None)
    assert [os.path.basename(p).split("__")[1] for p in per_iter.paths] == ["3", "6"]
    stopped = CheckpointWriter(str(tmp_path / "ck3"), frequency=1, unit="iteration",
                               save=lambda net, path: None)
    for it, loss in [(1, 0.5), (2, math.inf), (3, math.nan)]:  # the last two skip the update
        stopped.update({"Iteration": it, "Epoch": 1, "TrainingLoss": loss}, None)
    assert [os.path.basename(p).split("__")[1] for p in stopped.paths] == ["1"]


def test_progress_figure_saves_atomically_and_as_savefig_names_files(tmp_path):
    canvas = ProgressFigure(False, size=(4, 3), details_at=(0.7, 0.9))
    canvas.stack(2, left=0.1, right=0.6, hspace=0.3)
    canvas.details(["Training details", "Epoch: 1"])
    target = tmp_path / "out" / "plot.png"
    assert canvas.save(str(target)) == str(target)
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert os.stat(target).st_mode & 0o777 == 0o644
    os.chmod(target, 0o600)
    canvas.save(str(target))                            # rewritten in place: the mode stays
    assert os.stat(target).st_mode & 0o777 == 0o600
    assert canvas.save(str(tmp_path / "plain")) == str(tmp_path / "plain.png")  # as savefig
    assert sorted(os.listdir(tmp_path / "out")) == ["plot.png"]  # no temporary file is left
    assert sorted(os.listdir(tmp_path)) == ["out", "plain.png"]
    with pytest.raises(ValueError, match="not supported"):
        canvas.save(str(tmp_path / "plot.nope"))
    assert sorted(os.listdir(tmp_path)) == ["out", "plain.png"]


def test_no_window_outside_an_interactive_session(monkeypatch):
    monkeypatch.delattr("sys.ps1", raising=False)
    monkeypatch.delitem(sys.modules, "IPython", raising=False)
    assert interactive() is False
