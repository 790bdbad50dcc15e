"""Tests for minidl.training.progressmonitor: MATLAB's trainingProgressMonitor for custom loops."""

import gc
import os
import signal
import threading

import matplotlib.image
import numpy as np
import pytest

import minidl as dl
import minidl.training.progressmonitor as pm
from minidl.training.progressmonitor import (
    TrainingProgressMonitor,
    groupSubPlot,
    recordMetrics,
    trainingProgressMonitor,
    updateInfo,
    yscale,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    """Run in a scratch folder (the default PlotFile is relative) and check that every monitor
    gives Ctrl+C back once it is closed or collected."""
    monkeypatch.chdir(tmp_path)
    before = signal.getsignal(signal.SIGINT)
    yield
    if signal.getsignal(signal.SIGINT) != before:
        gc.collect()                                    # a monitor still waiting to be freed
    after = signal.getsignal(signal.SIGINT)
    signal.signal(signal.SIGINT, before)
    assert after == before, "a monitor left its SIGINT handler installed"


def panel_axes(fig):
    """The metric subplots of a monitor's figure (not the progress bar or the Stop button)."""
    return [ax for ax in fig.axes if ax.get_label() not in ("progress", "stop-button")]


def loss_monitor(**options):
    options.setdefault("PlotFile", None)
    return trainingProgressMonitor(Metrics=["TrainingLoss", "ValidationLoss", "Accuracy"],
                                   Info=["Epoch", "LearnRate"], XLabel="Iteration", **options)


# ---- histories -------------------------------------------------------------------------------

def test_metric_data_is_step_value_matrix_per_metric():
    m = loss_monitor()
    recordMetrics(m, 1, TrainingLoss=2.5, Accuracy=10)
    recordMetrics(m, 2, {"TrainingLoss": np.float32(1.5)})            # MATLAB's struct form
    recordMetrics(m, 3, "TrainingLoss", dl.dlarray(np.array([[0.5]])))  # name-value pairs
    m.recordMetrics(3, ValidationLoss=np.array(0.75))                  # method form
    data = m.MetricData
    assert list(data) == ["TrainingLoss", "ValidationLoss", "Accuracy"]
    np.testing.assert_allclose(data["TrainingLoss"], [[1, 2.5], [2, 1.5], [3, 0.5]])
    np.testing.assert_allclose(data["ValidationLoss"], [[3, 0.75]])
    np.testing.assert_allclose(data["Accuracy"], [[1, 10]])
    assert data["Accuracy"].dtype == np.float64
    data["Accuracy"][0, 1] = -1                                        # a copy
    assert m.MetricData["Accuracy"][0, 1] == 10
    m.close()


def test_unrecorded_metric_has_an_empty_n_by_2_matrix():
    m = loss_monitor()
    assert m.MetricData["ValidationLoss"].shape == (0, 2)
    m.close()


def test_info_data_keeps_every_value_as_given():
    m = loss_monitor()
    updateInfo(m, Epoch="1 of 3", LearnRate=0.01)
    updateInfo(m, {"Epoch": np.int64(2)})
    updateInfo(m, "LearnRate", dl.dlarray(np.float32(0.005)))
    info = m.InfoData
    assert info["Epoch"] == ["1 of 3", 2] and isinstance(info["Epoch"][1], int)
    assert info["LearnRate"] == pytest.approx([0.01, 0.005])
    m.close()


def test_changing_metrics_keeps_the_history_of_names_that_stay():
    m = loss_monitor()
    recordMetrics(m, 1, TrainingLoss=1.0, Accuracy=50)
    m.Metrics = ["Accuracy", "Gradient_Norm"]
    assert list(m.MetricData) == ["Accuracy", "Gradient_Norm"]
    np.testing.assert_allclose(m.MetricData["Accuracy"], [[1, 50]])
    assert m.MetricData["Gradient_Norm"].shape == (0, 2)
    m.close()


def test_constructor_options_and_display():
    m = trainingProgressMonitor("metrics", "Loss", Info="Epoch", XLabel="Epoch",
                                Status="Starting", Progress=5, Visible="off", PlotFile=None)
    assert m.Metrics == ["Loss"] and m.Info == ["Epoch"]
    assert (m.XLabel, m.Status, m.Progress, m.Visible, m.Stop) == ("Epoch", "Starting", 5, False,
                                                                   False)
    text = repr(m)
    assert 'Metrics: "Loss"' in text and 'Status: "Starting"' in text and "Stop: 0" in text
    m.close()


# ---- validation ------------------------------------------------------------------------------

def test_recording_an_unknown_metric_is_an_error_with_a_hint():
    m = loss_monitor()
    with pytest.raises(ValueError, match=r"'trainingloss' is not a metric.*Did you mean "
                                         r"'TrainingLoss'"):
        recordMetrics(m, 1, trainingloss=1.0)
    with pytest.raises(ValueError, match="Valid names are 'TrainingLoss'"):
        recordMetrics(m, 1, Zebra=1.0)
    m.close()


def test_recording_without_metrics_says_to_set_them():
    m = trainingProgressMonitor(PlotFile=None)
    with pytest.raises(ValueError, match="Metrics is empty"):
        recordMetrics(m, 1, Loss=1.0)
    m.close()


def test_a_failed_record_records_nothing():
    m = loss_monitor()
    with pytest.raises(ValueError):
        recordMetrics(m, 1, TrainingLoss=1.0, Nope=2.0)
    with pytest.raises(TypeError, match="value of metric Accuracy must be a single number"):
        recordMetrics(m, 1, TrainingLoss=1.0, Accuracy=np.ones(3))
    assert m.MetricData["TrainingLoss"].shape == (0, 2)
    m.close()


@pytest.mark.parametrize("args, kwargs, error, message", [
    (("x",), {"TrainingLoss": 1.0}, TypeError, "step of recordMetrics must be a real number"),
    ((True,), {"TrainingLoss": 1.0}, TypeError, "step of recordMetrics"),
    ((np.inf,), {"TrainingLoss": 1.0}, ValueError, "step of recordMetrics must be finite"),
    ((1,), {"TrainingLoss": "high"}, TypeError, "value of metric TrainingLoss must be a real"),
    ((1, "TrainingLoss"), {}, TypeError, "takes a dict"),
    ((1, "TrainingLoss", 1.0, "Accuracy"), {}, ValueError, "must come in pairs"),
    ((1, {"TrainingLoss": 1.0}), {"TrainingLoss": 2.0}, ValueError, "more than once"),
])
def test_record_metrics_argument_errors(args, kwargs, error, message):
    m = loss_monitor()
    with pytest.raises(error, match=message):
        recordMetrics(m, *args, **kwargs)
    m.close()


def test_updating_unknown_info_is_an_error():
    m = loss_monitor()
    with pytest.raises(ValueError, match=r"'epoch' is not an information name.*'Epoch'"):
        updateInfo(m, epoch=1)
    with pytest.raises(TypeError, match="Info value Epoch must be a real number"):
        updateInfo(m, Epoch=[1, 2])
    assert m.InfoData["Epoch"] == []
    m.close()


@pytest.mark.parametrize("value, error", [(-1, ValueError), (100.5, ValueError),
                                          ("50", TypeError), (np.nan, ValueError)])
def test_progress_must_be_a_percentage(value, error):
    m = loss_monitor()
    with pytest.raises(error, match="Progress"):
        m.Progress = value
    assert m.Progress == 0
    m.Progress = np.float32(12.5)
    assert m.Progress == 12.5
    m.close()


@pytest.mark.parametrize("option, value, error, message", [
    ("Metrics", ["Loss", "Loss"], ValueError, "must be unique; repeated: 'Loss'"),
    ("Metrics", ["2ndLoss"], ValueError, "must start with a letter"),
    ("Metrics", ["Training Loss"], ValueError, "letters, digits and underscores"),
    ("Info", [1], TypeError, "Info must hold strings"),
    ("Info", 3, TypeError, "Info must be a string or a list of strings"),
    ("XLabel", 3, ValueError, "XLabel must be a character vector or string"),
    ("Status", None, ValueError, "Status must be a character vector or string"),
    ("Visible", "maybe", ValueError, "Visible must be true or false"),
    ("PlotFile", 3, TypeError, "PlotFile must be a file path or None"),
])
def test_property_validation(option, value, error, message):
    with pytest.raises(error, match=message):
        trainingProgressMonitor(**{option: value})


def test_unknown_constructor_option_and_function_forms_need_a_monitor():
    with pytest.raises(ValueError, match="'Metric' is not an option.*Did you mean 'Metrics'"):
        trainingProgressMonitor(Metric="Loss")
    for call in (lambda: recordMetrics("monitor", 1, Loss=1), lambda: updateInfo(None, A=1),
                 lambda: groupSubPlot({}, "L", "Loss"), lambda: yscale(3, "Loss", "log")):
        with pytest.raises(TypeError, match="needs a TrainingProgressMonitor"):
            call()


# ---- groups, scales and the figure -----------------------------------------------------------

def test_each_metric_has_its_own_subplot_by_default():
    m = loss_monitor()
    recordMetrics(m, 1, TrainingLoss=1.0, Accuracy=3.0)
    axes = panel_axes(m.draw())
    assert [ax.get_ylabel() for ax in axes] == ["TrainingLoss", "ValidationLoss", "Accuracy"]
    assert [ax.get_yscale() for ax in axes] == ["linear"] * 3
    assert axes[-1].get_xlabel() == "Iteration"
    m.close()


def test_group_sub_plot_and_yscale_change_the_axes():
    m = loss_monitor()
    groupSubPlot(m, "Loss", ["TrainingLoss", "ValidationLoss"])
    yscale(m, "Loss", "log")
    for i in range(1, 5):
        recordMetrics(m, i, TrainingLoss=1 / i, Accuracy=20 * i)
    recordMetrics(m, 4, ValidationLoss=0.4)
    axes = panel_axes(m.draw())
    assert [ax.get_ylabel() for ax in axes] == ["Loss", "Accuracy"]
    assert [ax.get_yscale() for ax in axes] == ["log", "linear"]
    loss_lines = axes[0].get_lines()
    assert [line.get_label() for line in loss_lines] == ["TrainingLoss", "ValidationLoss"]
    np.testing.assert_allclose(loss_lines[0].get_xdata(), [1, 2, 3, 4])
    np.testing.assert_allclose(loss_lines[0].get_ydata(), [1, 1 / 2, 1 / 3, 1 / 4])
    assert [t.get_text() for t in axes[0].get_legend().get_texts()] == \
        ["TrainingLoss", "ValidationLoss"]
    assert axes[1].get_legend() is None
    yscale(m, ["Loss", "Accuracy"], "linear")
    assert [ax.get_yscale() for ax in panel_axes(m.draw())] == ["linear", "linear"]
    m.close()


def test_regrouping_moves_a_metric_and_a_group_sits_at_its_first_metric():
    m = loss_monitor()
    groupSubPlot(m, "Loss", ["TrainingLoss", "ValidationLoss"])
    groupSubPlot(m, "Validation", ["Accuracy", "ValidationLoss"])
    labels = [ax.get_ylabel() for ax in panel_axes(m.draw())]
    assert labels == ["Loss", "Validation"]
    assert [line.get_label() for line in panel_axes(m.figure)[0].get_lines()] == ["TrainingLoss"]
    m.Metrics = ["Accuracy", "TrainingLoss"]           # ValidationLoss leaves its group
    labels = [ax.get_ylabel() for ax in panel_axes(m.draw())]
    assert labels == ["Validation", "Loss"]
    m.close()


def test_group_and_scale_errors():
    m = loss_monitor()
    with pytest.raises(ValueError, match="'Acc' is not a metric.*'Accuracy'"):
        groupSubPlot(m, "Both", ["TrainingLoss", "Acc"])
    with pytest.raises(ValueError, match="groupName 'Accuracy' is the name of a metric"):
        groupSubPlot(m, "Accuracy", ["TrainingLoss", "ValidationLoss"])
    yscale(m, "TrainingLoss", "log")
    with pytest.raises(ValueError, match="must share a y-axis scale; they have linear and log"):
        groupSubPlot(m, "Loss", ["TrainingLoss", "ValidationLoss"])
    yscale(m, "ValidationLoss", "LOG")                 # scale names match without case
    groupSubPlot(m, "Loss", ["TrainingLoss", "ValidationLoss"])
    assert panel_axes(m.draw())[0].get_yscale() == "log"
    with pytest.raises(ValueError, match="plotted in group 'Loss'"):
        yscale(m, "TrainingLoss", "linear")
    with pytest.raises(ValueError, match="scale must be one of 'linear', 'log'"):
        yscale(m, "Loss", "symlog")
    with pytest.raises(ValueError, match="'Los' is not a group or metric.*'Loss'"):
        yscale(m, "Los", "log")
    m.close()


def test_info_status_and_progress_are_shown_beside_the_plot():
    m = loss_monitor()
    updateInfo(m, Epoch="2 of 4", LearnRate=0.0125)
    m.Status = "Running"
    m.Progress = 40
    fig = m.draw()
    text = "\n".join(t.get_text() for t in fig.texts)
    for line in ["Status: Running", "Progress: 40%", "Epoch: 2 of 4", "LearnRate: 0.0125",
                 "Elapsed time: 00:00:00"]:
        assert line in text
    bar = [ax for ax in fig.axes if ax.get_label() == "progress"][0]
    assert bar.patches[0].get_width() == 40
    m.close()


def test_nothing_is_drawn_while_recording_without_a_window(monkeypatch):
    draws = []
    real_draw = TrainingProgressMonitor.draw
    monkeypatch.setattr(TrainingProgressMonitor, "draw",
                        lambda self: draws.append(1) or real_draw(self))
    m = trainingProgressMonitor(Metrics="TrainingLoss", Info="Epoch", PlotFile="progress.png")
    for i in range(1, 100):
        recordMetrics(m, i, TrainingLoss=1 / i)
        updateInfo(m, Epoch=i)
        m.Progress = i
    assert draws == [] and not os.path.exists("progress.png")
    m.Progress = 100                                    # the end of the run: one render
    assert len(draws) == 1 and os.path.exists("progress.png")
    m.close()


# ---- the PNG ---------------------------------------------------------------------------------

def assert_png(path):
    with open(path, "rb") as f:
        assert f.read(8) == PNG_SIGNATURE
    image = matplotlib.image.imread(path)
    assert image.ndim == 3 and image.shape[0] > 300 and image.shape[1] > 600
    assert image[..., :3].std() > 0.05                  # not a blank canvas


def test_save_writes_a_valid_png(tmp_path):
    m = loss_monitor()
    recordMetrics(m, 1, TrainingLoss=1.0)
    path = m.save(tmp_path / "sub" / "plot.png")
    assert path == str(tmp_path / "sub" / "plot.png")
    assert_png(path)
    with pytest.raises(ValueError, match="save needs a path"):
        m.save()
    m.close()


def test_the_plot_file_is_written_at_progress_100_and_kept_up_to_date(capsys):
    m = trainingProgressMonitor(Metrics="Loss")         # default PlotFile, current folder
    recordMetrics(m, 1, Loss=1.0)
    assert not os.path.exists("training-progress.png")
    m.Progress = 100
    assert_png("training-progress.png")
    assert "Training progress plot saved to training-progress.png" in capsys.readouterr().out
    os.remove("training-progress.png")
    for k in range(20):                                  # changes after the end: no file per
        m.Status = f"Done {k}"                           # change (at most one every 2 s)...
    assert not os.path.exists("training-progress.png")
    elapsed = m.ElapsedTime
    assert m.ElapsedTime == elapsed                      # the clock stopped at the end
    assert m.close() == "training-progress.png"          # ...and close writes the last state
    assert_png("training-progress.png")
    assert capsys.readouterr().out == ""                 # announced once only
    assert m.close() is None


def test_close_and_with_block_write_the_plot_file():
    with trainingProgressMonitor(Metrics="Loss", PlotFile="run/plot.png") as m:
        recordMetrics(m, 1, Loss=1.0)
        assert not os.path.exists("run/plot.png")
    assert_png("run/plot.png")


def test_plot_file_none_writes_nothing():
    m = trainingProgressMonitor(Metrics="Loss", PlotFile=None)
    recordMetrics(m, 1, Loss=1.0)
    m.Progress = 100
    m.close()
    assert os.listdir(".") == []


# ---- Stop: Ctrl+C and code -------------------------------------------------------------------

def test_first_ctrl_c_sets_stop_and_the_second_interrupts(capfd):
    original = signal.getsignal(signal.SIGINT)
    m = trainingProgressMonitor(Metrics="Loss", PlotFile="stopped.png")
    recordMetrics(m, 1, Loss=1.0)
    assert signal.getsignal(signal.SIGINT) != original
    os.kill(os.getpid(), signal.SIGINT)                 # no KeyboardInterrupt
    assert "Stop requested (Ctrl+C)" in capfd.readouterr().err
    assert signal.getsignal(signal.SIGINT) == original  # handed back at once
    assert m.Stop is True                               # the loop's check ends the run...
    assert_png("stopped.png")                           # ...and writes the plot
    with pytest.raises(KeyboardInterrupt):
        os.kill(os.getpid(), signal.SIGINT)
    m.close()


def test_ctrl_c_interrupts_when_the_monitor_is_no_longer_used():
    """A monitor left open after its loop died (a notebook variable, say) does not swallow
    Ctrl+C: a loop that has not used it for a minute is not running."""
    m = trainingProgressMonitor(Metrics="Loss", PlotFile=None)
    recordMetrics(m, 1, Loss=1.0)
    m._touched -= 61
    with pytest.raises(KeyboardInterrupt):
        os.kill(os.getpid(), signal.SIGINT)
    assert not m.Stop
    m.close()


def test_close_and_garbage_collection_give_ctrl_c_back():
    original = signal.getsignal(signal.SIGINT)
    m = trainingProgressMonitor(Metrics="Loss", PlotFile=None)
    m.close()
    assert signal.getsignal(signal.SIGINT) == original
    m = trainingProgressMonitor(Metrics="Loss", PlotFile=None)
    del m
    gc.collect()
    assert signal.getsignal(signal.SIGINT) == original
    with pytest.raises(KeyboardInterrupt):
        os.kill(os.getpid(), signal.SIGINT)


def test_nested_monitors_each_take_one_ctrl_c():
    original = signal.getsignal(signal.SIGINT)
    outer = trainingProgressMonitor(Metrics="Loss", PlotFile=None)
    inner = trainingProgressMonitor(Metrics="Loss", PlotFile=None)
    os.kill(os.getpid(), signal.SIGINT)
    assert inner.Stop and not outer.Stop
    os.kill(os.getpid(), signal.SIGINT)
    assert outer.Stop
    assert signal.getsignal(signal.SIGINT) == original
    outer.close()
    inner.close()


def test_a_monitor_closed_under_another_forwards_ctrl_c():
    outer = trainingProgressMonitor(Metrics="Loss", PlotFile=None)
    inner = trainingProgressMonitor(Metrics="Loss", PlotFile=None)
    outer.close()                                       # its handler is not on top: it stays
    os.kill(os.getpid(), signal.SIGINT)                 # inner takes this one
    assert inner.Stop and not outer.Stop
    with pytest.raises(KeyboardInterrupt):              # outer's handler passes it on
        os.kill(os.getpid(), signal.SIGINT)
    inner.close()


def test_a_monitor_made_in_another_thread_leaves_ctrl_c_alone():
    original = signal.getsignal(signal.SIGINT)
    made = []
    thread = threading.Thread(target=lambda: made.append(
        trainingProgressMonitor(Metrics="Loss", PlotFile=None)))
    thread.start()
    thread.join()
    assert isinstance(made[0], TrainingProgressMonitor)
    assert signal.getsignal(signal.SIGINT) == original
    made[0].Stop = True
    made[0].close()


def test_code_can_set_stop():
    original = signal.getsignal(signal.SIGINT)
    m = trainingProgressMonitor(Metrics="Loss", PlotFile=None)
    m.Stop = True
    assert m.Stop is True and signal.getsignal(signal.SIGINT) == original
    with pytest.raises(ValueError, match="Stop must be true or false"):
        m.Stop = "yes"
    m.close()


def click_stop_button(fig):
    """Press and release the left mouse button in the middle of the Stop button."""
    from matplotlib.backend_bases import MouseEvent

    button = [ax for ax in fig.axes if ax.get_label() == "stop-button"][0]
    x, y = button.transAxes.transform((0.5, 0.5))
    for name in ("button_press_event", "button_release_event"):
        fig.canvas.callbacks.process(name, MouseEvent(name, fig.canvas, x, y, button=1))


@pytest.mark.filterwarnings("ignore:.*non-interactive.*:UserWarning")
def test_live_window_has_a_stop_button(monkeypatch):
    import matplotlib.pyplot as plt

    monkeypatch.setattr(pm, "interactive", lambda: True)   # as in a session with a GUI
    monkeypatch.setattr(pm, "_REDRAW_S", 0.0)            # no throttling of live redraws
    m = trainingProgressMonitor(Metrics="Loss", PlotFile=None)
    try:
        lines = panel_axes(m.figure)[0].get_lines()      # the window opens at once, empty
        assert [list(line.get_ydata()) for line in lines] == [[]]
        recordMetrics(m, 1, Loss=1.0)                   # redrawn live
        fig = m.figure
        assert plt.fignum_exists(fig.number)
        assert panel_axes(fig)[0].get_lines()[0].get_ydata().tolist() == [1.0]
        click_stop_button(fig)
        assert m.Stop is True
    finally:
        m.close()
        plt.close(m.figure)


def test_visible_false_never_opens_a_window(monkeypatch):
    import matplotlib.pyplot as plt

    monkeypatch.setattr(pm, "interactive", lambda: True)
    windows = plt.get_fignums()
    m = trainingProgressMonitor(Metrics="Loss", Visible=False, PlotFile=None)
    recordMetrics(m, 1, Loss=1.0)
    m.draw()
    assert plt.get_fignums() == windows                 # no pyplot figure was made
    assert m.figure.canvas.__class__.__name__ == "FigureCanvasAgg"
    m.close()


# ---- a custom loop ---------------------------------------------------------------------------

def test_a_custom_training_loop_reports_through_the_monitor():
    rng = np.random.default_rng(0)
    X = dl.dlarray(rng.standard_normal((3, 64)).astype(np.float32), "CB")
    T = dl.dlarray(np.array([[1.0, -2.0, 0.5]], np.float32) @ X.extractdata(), "CB")
    parameters = {"Weights": dl.dlarray(np.zeros((1, 3), np.float32)),
                  "Bias": dl.dlarray(np.zeros((1, 1), np.float32))}

    def modelLoss(parameters, X, T):
        loss = dl.mse(dl.fullyconnect(X, parameters["Weights"], parameters["Bias"]), T)
        return loss, dl.dlgradient(loss, parameters)

    numIterations, learnRate = 30, 0.2
    monitor = trainingProgressMonitor(Metrics="Loss", Info=["Iteration", "LearnRate"],
                                      XLabel="Iteration", PlotFile=None)
    yscale(monitor, "Loss", "log")
    iteration = 0
    while iteration < numIterations and not monitor.Stop:
        iteration += 1
        loss, gradients = dl.dlfeval(modelLoss, parameters, X, T)
        parameters = dl.dlupdate(lambda w, g: w - learnRate * g, parameters, gradients)
        recordMetrics(monitor, iteration, Loss=loss)
        updateInfo(monitor, Iteration=f"{iteration} of {numIterations}", LearnRate=learnRate)
        monitor.Progress = 100 * iteration / numIterations
        if iteration == 20:
            os.kill(os.getpid(), signal.SIGINT)         # the user presses Ctrl+C
    monitor.Status = "Stopped" if monitor.Stop else "Done"

    losses = monitor.MetricData["Loss"]
    assert iteration == 20 and losses.shape == (20, 2)
    np.testing.assert_array_equal(losses[:, 0], np.arange(1, 21))
    assert losses[-1, 1] < losses[0, 1] / 10            # it learned
    assert monitor.InfoData["Iteration"][-1] == "20 of 30"
    assert monitor.Progress == pytest.approx(100 * 20 / 30)
    monitor.close()
    assert_png(monitor.save("loop.png"))
    assert "Status: Stopped" in "\n".join(t.get_text() for t in monitor.figure.texts)
