"""trainingProgressMonitor: MATLAB's Training Progress plot for custom training loops.

``monitor = trainingProgressMonitor(Metrics=..., Info=..., XLabel=...)`` before the loop, then
``recordMetrics``, ``updateInfo`` and ``monitor.Progress`` in it, and ``monitor.Stop`` as its
stopping test (set by Ctrl+C or the window's Stop button). The histories are MetricData and
InfoData; the figure (figure.py's canvas) is a live window in an interactive session and is
written to PlotFile when the run ends. What MATLAB does, what minidl keeps and why:
docs/dev/progress-monitor.md.
"""

from __future__ import annotations

import math
import numbers
import os
import re
import threading
import time
import weakref
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import numpy as np

from .._matlab import (
    MString,
    check_choice,
    check_flag,
    check_text,
    format_properties,
    format_value,
    parse_name_value,
    unknown_name_message,
)
from .ctrl_c import CtrlCStop
from .figure import ProgressFigure, interactive
from .report import format_number, format_time

__all__ = ["TrainingProgressMonitor", "trainingProgressMonitor", "recordMetrics", "updateInfo",
           "groupSubPlot", "yscale"]

DEFAULT_PLOT_FILE = "training-progress.png"
"""Where the figure goes when the run ends, relative to the current folder (as trainnet's)."""

_VALID_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")
_REDRAW_S = 0.5  # live window: at most one redraw per half second
_IDLE_S = 60.0  # Ctrl+C stops a loop that used the monitor this recently; else it interrupts
_RESAVE_S = 2.0  # after the end of a run: the PNG is rewritten at most every 2 s (and at close)
_SCALES = ("linear", "log")


# ---------------------------------------------------------------------------------------------
# Argument checks

def _name_list(option: str, value: Any) -> list[str]:
    """Metrics or Info as a list of distinct valid names (a single string is one name)."""
    if isinstance(value, str):
        items = [value]
    elif isinstance(value, np.ndarray):
        items = list(value.ravel())
    elif isinstance(value, list | tuple):
        items = list(value)
    else:
        raise TypeError(f"{option} must be a string or a list of strings, "
                        f"got {type(value).__name__}.")
    for item in items:
        if not isinstance(item, str):
            raise TypeError(f"{option} must hold strings, got {type(item).__name__} {item!r}.")
        if not _VALID_NAME.match(item):
            raise ValueError(f"{option} names must start with a letter and hold only letters, "
                             f"digits and underscores, got {item!r}.")
    repeated = sorted({n for n in items if items.count(n) > 1})
    if repeated:
        raise ValueError(f"{option} names must be unique; repeated: "
                         + ", ".join(f"'{n}'" for n in repeated) + ".")
    return [str(n) for n in items]


def _number(what: str, value: Any) -> float:
    """A real number given as a Python or NumPy number, or a one-element array or dlarray."""
    if hasattr(value, "extractdata"):  # dlarray
        value = value.extractdata()
    if hasattr(value, "shape") and hasattr(value, "reshape"):  # NumPy or CuPy array / scalar
        if value.size != 1:
            raise TypeError(f"{what} must be a single number, got an array of shape "
                            f"{tuple(value.shape)}.")
        value = value.reshape(()).item()
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{what} must be a real number, got {type(value).__name__} {value!r}.")
    return float(value)


def _info_value(name: str, value: Any) -> str | int | float:
    """An Info value as stored: text stays text, whole numbers stay ints, others are floats."""
    if isinstance(value, str):
        return str(value)
    if hasattr(value, "extractdata"):  # dlarray
        value = value.extractdata()
    if hasattr(value, "dtype") and np.dtype(value.dtype).kind in "iu" and value.size == 1:
        value = value.reshape(()).item()
    if isinstance(value, numbers.Integral) and not isinstance(value, bool | np.bool_):
        return int(value)
    return _number(f"Info value {name}", value)


def _unknown(name: str, names: Sequence[str], what: str, prop: str) -> ValueError:
    """'X' is not a metric of this monitor ... with a near-miss hint or the valid names."""
    if not names:
        return ValueError(f"'{name}' is not {what}: {prop} is empty. Set monitor.{prop} "
                          f"(or pass {prop}=[...] to trainingProgressMonitor) first.")
    return ValueError(unknown_name_message(name, names, f"{what} (monitor.{prop})"))


def _pairs(args: tuple, kwargs: dict, where: str) -> list[tuple[str, Any]]:
    """Name/value pairs from a dict (MATLAB's struct), positional pairs and keywords."""
    if len(args) == 1 and isinstance(args[0], Mapping):
        items = list(args[0].items())
    elif len(args) == 1:
        raise TypeError(f"{where} takes a dict of name: value, name-value pairs or keywords; "
                        f"got a {type(args[0]).__name__}.")
    elif len(args) % 2:
        raise ValueError(f"Name-value arguments for {where} must come in pairs; "
                         f"got {len(args)} positional values.")
    else:
        items = [(args[i], args[i + 1]) for i in range(0, len(args), 2)]
    items += list(kwargs.items())
    seen: set[str] = set()
    for name, _ in items:
        if not isinstance(name, str):
            raise TypeError(f"Names for {where} must be strings, got {type(name).__name__} "
                            f"{name!r}.")
        if name in seen:
            raise ValueError(f"'{name}' is given more than once to {where}.")
        seen.add(name)
    return items


# ---------------------------------------------------------------------------------------------
# The monitor

class TrainingProgressMonitor:
    """Plots and records the progress of a custom training loop (MATLAB's TrainingProgressMonitor).

    Make one with `trainingProgressMonitor`. Properties: Metrics, Info, XLabel, Progress
    (0-100), Status, Stop, Visible, MetricData, InfoData, and minidl's PlotFile, StartTime and
    ElapsedTime. Methods: recordMetrics, updateInfo, groupSubPlot, yscale, and minidl's draw,
    save and close (``figure`` is the matplotlib Figure).
    docs/dev/progress-monitor.md says how it is shown and saved and how Ctrl+C sets Stop.
    """

    def __init__(self, Metrics: Any = (), Info: Any = (), Visible: Any = True,
                 Progress: Any = 0, Status: Any = "", XLabel: Any = "",
                 PlotFile: str | os.PathLike | None = DEFAULT_PLOT_FILE) -> None:
        # Data
        self._metrics: list[str] = []
        self._steps: dict[str, list[float]] = {}
        self._values: dict[str, list[float]] = {}
        self._info: list[str] = []
        self._info_data: dict[str, list[Any]] = {}
        self._groups: dict[str, list[str]] = {}  # group name -> its metrics, in the given order
        self._scales: dict[str, str] = {}  # axes name (group or ungrouped metric) -> scale
        self._xlabel = self._status = ""
        self._progress = 0.0
        self._visible = False
        self._plot_file: str | None = None
        # State of the run
        self._stop = False
        self._stop_pending = False  # Stop was set by Ctrl+C or the button; end of run to do
        self._ended = False
        self._closed = False
        self._announced = False
        self._unsaved, self._last_save = False, -math.inf
        self._touched = time.monotonic()  # the last use: Ctrl+C means Stop only in an active loop
        self._start_time = datetime.now()
        self._t0 = time.monotonic()
        self._t_end: float | None = None
        # The figure, made on first use
        self._canvas: ProgressFigure | None = None
        self._live = False
        self._layout: tuple[str, ...] | None = None
        self._last_draw = 0.0

        self.Metrics = Metrics
        self.Info = Info
        self.XLabel = XLabel
        self.Status = Status
        self._progress = self._check_progress(Progress)  # not the setter: 100 ends no run here
        self.PlotFile = PlotFile
        self.Visible = Visible  # last: it may open the window
        self._ctrl_c: CtrlCStop | None = None
        if threading.current_thread() is threading.main_thread():
            self._ctrl_c = CtrlCStop(self._on_ctrl_c)
            weakref.finalize(self, self._ctrl_c.restore)

    def _open_window(self) -> None:
        """Show the live window now, as MATLAB does, if Visible and a GUI backend allow it."""
        if self._canvas is None and self._visible and interactive():
            self.draw()

    # ---- properties ----------------------------------------------------------------------------
    @property
    def Metrics(self) -> list[str]:
        """Metric names; each gets a subplot (or shares its group's) and a MetricData entry."""
        return list(self._metrics)

    @Metrics.setter
    def Metrics(self, value: Any) -> None:
        names = _name_list("Metrics", value)
        self._metrics = names
        # Keep what was recorded for names that stay; forget groups and scales of names gone.
        self._steps = {n: self._steps.get(n, []) for n in names}
        self._values = {n: self._values.get(n, []) for n in names}
        self._groups = {g: [m for m in ms if m in names] for g, ms in self._groups.items()}
        self._groups = {g: ms for g, ms in self._groups.items() if ms}
        axes = set(self._groups) | set(names)
        self._scales = {a: s for a, s in self._scales.items() if a in axes}
        self._changed()

    @property
    def Info(self) -> list[str]:
        """Information names, shown with their latest values beside the plot."""
        return list(self._info)

    @Info.setter
    def Info(self, value: Any) -> None:
        names = _name_list("Info", value)
        self._info = names
        self._info_data = {n: self._info_data.get(n, []) for n in names}
        self._changed()

    @property
    def XLabel(self) -> str:
        """Label of the horizontal axis (what the recorded steps count, e.g. "Iteration")."""
        return self._xlabel

    @XLabel.setter
    def XLabel(self, value: Any) -> None:
        self._xlabel = check_text("XLabel", value)
        self._changed()

    @property
    def Status(self) -> str:
        """Free text describing the state of training, shown beside the plot."""
        return self._status

    @Status.setter
    def Status(self, value: Any) -> None:
        self._status = check_text("Status", value)
        self._changed()

    @property
    def Progress(self) -> float:
        """Training progress in percent (0-100); reaching 100 ends the run and writes PlotFile."""
        return self._progress

    @Progress.setter
    def Progress(self, value: Any) -> None:
        self._sync()
        self._progress = self._check_progress(value)
        if self._progress >= 100 and not self._ended:
            self._end_run()
        else:
            self._changed()

    @staticmethod
    def _check_progress(value: Any) -> float:
        progress = _number("Progress", value)
        if not 0 <= progress <= 100:
            raise ValueError(f"Progress must be a percentage in the range [0, 100], "
                             f"got {format_number(progress)}.")
        return progress

    @property
    def Stop(self) -> bool:
        """True once training should stop: after Ctrl+C, or after code sets it to True."""
        self._sync()
        return self._stop

    @Stop.setter
    def Stop(self, value: Any) -> None:
        stop = check_flag("Stop", value)
        self._sync()
        self._stop = stop
        if stop and not self._ended:
            self._end_run()
        else:
            self._changed()

    @property
    def Visible(self) -> bool:
        """Whether a live window is shown (a window already open stays open when set false)."""
        return self._visible

    @Visible.setter
    def Visible(self, value: Any) -> None:
        self._visible = check_flag("Visible", value)
        self._open_window()

    @property
    def PlotFile(self) -> str | None:
        """PNG written when the run ends (minidl; None: only explicit `save` calls write)."""
        return self._plot_file

    @PlotFile.setter
    def PlotFile(self, value: str | os.PathLike | None) -> None:
        if value is not None and not isinstance(value, str | os.PathLike):
            raise TypeError(f"PlotFile must be a file path or None, got "
                            f"{type(value).__name__} {value!r}.")
        self._plot_file = None if value is None else os.fspath(value)

    @property
    def MetricData(self) -> dict[str, np.ndarray]:
        """Per metric, an N x 2 float array: the recorded steps, then the values (a copy)."""
        return {n: np.column_stack([np.asarray(self._steps[n], dtype=float),
                                    np.asarray(self._values[n], dtype=float)]).reshape(-1, 2)
                for n in self._metrics}

    @property
    def InfoData(self) -> dict[str, list[Any]]:
        """Per Info name, the list of values given to updateInfo so far (a copy)."""
        return {n: list(self._info_data[n]) for n in self._info}

    @property
    def StartTime(self) -> datetime:
        """When the monitor was created: the start of the elapsed-time clock (minidl)."""
        return self._start_time

    @property
    def ElapsedTime(self) -> float:
        """Seconds since creation; frozen when the run ends (minidl)."""
        end = self._t_end if self._t_end is not None else time.monotonic()
        return end - self._t0

    # ---- recording -----------------------------------------------------------------------------
    def recordMetrics(self, step: Any, *args: Any, **metrics: Any) -> None:
        """Add one point per named metric at ``step``: ``recordMetrics(10, Loss=0.5)``.

        The values may also come as a dict (MATLAB's struct) or as name-value pairs. Every name
        must be in Metrics; nothing is recorded unless all names and values are valid.
        """
        self._sync()
        x = _number("The step of recordMetrics", step)
        if not math.isfinite(x):
            raise ValueError(f"The step of recordMetrics must be finite, got {x}.")
        checked = []
        for name, value in _pairs(args, metrics, "recordMetrics"):
            if name not in self._steps:
                raise _unknown(name, self._metrics, "a metric of this monitor", "Metrics")
            checked.append((name, _number(f"The value of metric {name}", value)))
        for name, y in checked:
            self._steps[name].append(x)
            self._values[name].append(y)
        self._changed()

    def updateInfo(self, *args: Any, **info: Any) -> None:
        """Set information values shown beside the plot: ``updateInfo(Epoch=3, LearnRate=0.01)``.

        Values are numbers or strings; a dict or name-value pairs work too. Every name must be
        in Info. Each value is also appended to InfoData.
        """
        self._sync()
        checked = []
        for name, value in _pairs(args, info, "updateInfo"):
            if name not in self._info_data:
                raise _unknown(name, self._info, "an information name of this monitor", "Info")
            checked.append((name, _info_value(name, value)))
        for name, value in checked:
            self._info_data[name].append(value)
        self._changed()

    def groupSubPlot(self, groupName: str, metricNames: str | Sequence[str]) -> None:
        """Plot ``metricNames`` together in one subplot whose y-axis label is ``groupName``.

        The metrics must already be in Metrics and must share a y-axis scale (see `yscale`);
        the group gets that scale.
        """
        self._sync()
        group = check_text("groupName", groupName)
        if not group:
            raise ValueError("groupName must not be empty: it labels the subplot's y-axis.")
        names = _name_list("metricNames", metricNames)
        if not names:
            raise ValueError("metricNames must name at least one metric to group.")
        for name in names:
            if name not in self._steps:
                raise _unknown(name, self._metrics, "a metric of this monitor", "Metrics")
        if group in self._steps and group not in names:
            raise ValueError(f"groupName '{group}' is the name of a metric outside the group; "
                             f"choose another name so that yscale's axes names stay distinct.")
        scales = {self._scale_of(self._axes_of(n)) for n in names}
        if len(scales) > 1:
            raise ValueError(f"The metrics of group '{group}' must share a y-axis scale; they "
                             f"have {' and '.join(sorted(scales))}. Set them alike with "
                             f"yscale first.")
        for members in self._groups.values():  # a metric lives in one group only
            members[:] = [m for m in members if m not in names]
        self._groups = {g: ms for g, ms in self._groups.items() if ms and g != group}
        self._groups[group] = names
        for name in names:
            self._scales.pop(name, None)
        self._scales[group] = scales.pop()
        self._changed()

    def yscale(self, axesName: str | Sequence[str], scale: str) -> None:
        """Make the y-axis of a group, or of an ungrouped metric, "linear" or "log"."""
        self._sync()
        scale = check_choice("scale", scale, _SCALES)
        names = _name_list("axesName", axesName)
        for name in names:
            if name in self._groups:
                continue
            if name not in self._steps:
                raise _unknown(name, [*self._groups, *self._metrics],
                               "a group or metric of this monitor", "Metrics")
            group = self._axes_of(name)
            if group != name:
                raise ValueError(f"Metric '{name}' is plotted in group '{group}'; set the "
                                 f"scale of the group: yscale(monitor, '{group}', '{scale}').")
        for name in names:
            self._scales[name] = scale
        self._changed()

    def _axes_of(self, metric: str) -> str:
        """The name of the axes a metric is drawn in: its group, or itself."""
        for group, members in self._groups.items():
            if metric in members:
                return group
        return metric

    def _scale_of(self, axes_name: str) -> str:
        return self._scales.get(axes_name, "linear")

    def _panels(self) -> list[tuple[str, list[str]]]:
        """(y-label, metrics) per subplot, in Metrics order; a group sits at its first metric."""
        panels: list[tuple[str, list[str]]] = []
        placed: set[str] = set()
        for metric in self._metrics:
            axes = self._axes_of(metric)
            if axes not in placed:
                placed.add(axes)
                panels.append((axes, list(self._groups.get(axes, [metric]))))
        return panels

    # ---- end of run ----------------------------------------------------------------------------
    def _sync(self) -> None:
        """Finish a stop that Ctrl+C requested (the signal handler itself only sets a flag)."""
        self._touched = time.monotonic()
        if self._stop_pending:
            self._stop_pending = False
            if not self._ended:
                self._end_run()

    def _request_stop(self) -> bool:
        """The Stop button (and Ctrl+C): flag Stop, unless already stopped; True if flagged.

        Only the flag: the end of the run (clock, PNG) follows at the monitor's next use (mostly
        the loop's check of Stop), outside the signal handler or GUI callback that called this.
        """
        if self._stop:
            return False
        self._stop = self._stop_pending = True
        return True

    def _on_ctrl_c(self) -> bool:
        """Ctrl+C: as the Stop button, unless the monitor sat unused for ``_IDLE_S`` (its loop
        is gone, say): then the signal interrupts as usual (False)."""
        return time.monotonic() - self._touched <= _IDLE_S and self._request_stop()

    def _end_run(self) -> None:
        self._ended = True
        if self._t_end is None:
            self._t_end = time.monotonic()
        if self._ctrl_c is not None:
            self._ctrl_c.restore()
        self._autosave()

    def _changed(self) -> None:
        """After any change: once the run has ended, rewrite the PNG (at most every
        ``_RESAVE_S`` seconds; ``close`` writes the rest); before that, maybe redraw live."""
        self._touched = time.monotonic()
        if self._ended:
            self._unsaved = True
            if time.monotonic() - self._last_save > _RESAVE_S:
                self._autosave()
        elif self._live and time.monotonic() - self._last_draw > _REDRAW_S:
            self.draw()

    def _autosave(self) -> None:
        self._unsaved, self._last_save = False, time.monotonic()
        if self._plot_file is None:
            if self._live:
                self.draw()
            return
        path = self.save()
        if not self._announced:
            self._announced = True
            print(f"Training progress plot saved to {path}")

    def close(self) -> str | None:
        """End monitoring: stop the clock, give Ctrl+C back, write PlotFile; returns its path.

        A live window stays open for you to look at (close it with matplotlib). Calling close
        again does nothing.
        """
        self._sync()
        if self._closed:
            return None
        self._closed = True
        if not self._ended:
            self._end_run()
        else:
            if self._unsaved:
                self._autosave()
            if self._ctrl_c is not None:
                self._ctrl_c.restore()
        return self._plot_file

    def __enter__(self) -> TrainingProgressMonitor:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # ---- drawing -------------------------------------------------------------------------------
    @property
    def figure(self) -> Any:
        """The matplotlib Figure (created on first use; call `draw` to bring it up to date)."""
        return self._figure().figure

    def _figure(self) -> ProgressFigure:
        """The canvas, made on first use: a live window with a Stop button when Visible and the
        session can show one, else off screen; the progress bar above the panels."""
        if self._canvas is None:
            self._live = self._visible and interactive()
            self._canvas = ProgressFigure(self._live, size=(11, 7), details_at=(0.72, 0.86))
            self._canvas.add_progress_bar((0.08, 0.91, 0.60, 0.025))
            if self._live:
                self._canvas.add_stop_button(self._request_stop)
                self._canvas.show()
        return self._canvas

    def draw(self) -> Any:
        """Render the figure from the data so far and return it (a matplotlib Figure)."""
        canvas = self._figure()
        panels = self._panels()
        layout = tuple(label for label, _ in panels)
        if layout != self._layout:
            self._relayout(len(panels))
            self._layout = layout
        for ax, (label, names) in zip(canvas.panels, panels):
            ax.clear()
            for name in names:
                steps = self._steps[name]
                ax.plot(steps, self._values[name], lw=1.3, label=name,
                        marker="o" if len(steps) <= 50 else None, ms=3)
            ax.set_ylabel(label)
            ax.set_yscale(self._scale_of(label))
            ax.grid(True, alpha=0.3)
            if len(names) > 1:
                ax.legend(loc="best", fontsize="small")
            ax.tick_params(labelbottom=ax is canvas.panels[-1])
        if canvas.panels:
            canvas.panels[-1].set_xlabel(self._xlabel)
        canvas.progress(self._progress,
                        f"Training Progress ({self._start_time:%d-%b-%Y %H:%M:%S})")
        canvas.details(self._details())
        canvas.flush()
        self._last_draw = time.monotonic()
        return canvas.figure

    def _relayout(self, n: int) -> None:
        """Replace the subplots by ``n`` stacked ones sharing the x-axis (off screen, the figure
        grows to fit them; a window keeps the size it has)."""
        figure = self._canvas.figure
        if not self._live:
            figure.set_size_inches(11, 3 + 2.2 * max(n, 1))
        bottom = 0.75 / figure.get_size_inches()[1]  # room for tick labels and the xlabel
        self._canvas.stack(n, left=0.08, right=0.68, top=0.86, bottom=bottom, hspace=0.3)

    def _details(self) -> list[str]:
        """The lines of the column beside the plot: state, clock, then the latest Info values."""
        lines = [f"Status: {self._status}",
                 f"Progress: {self._progress:.4g}%",
                 f"Start time: {self._start_time:%Y-%m-%d %H:%M:%S}",
                 f"Elapsed time: {format_time(self.ElapsedTime)}"]
        if self._stop:
            lines.append("Stopped: yes")
        if self._info:
            lines += ["", "Information"]
        for name in self._info:
            values = self._info_data[name]
            lines.append(f"{name}: {_show(values[-1]) if values else ''}")
        return lines

    def save(self, path: str | os.PathLike | None = None) -> str:
        """Render the figure and write it as a PNG (default: PlotFile); returns the path."""
        self._sync()
        target = self._plot_file if path is None else path
        if target is None:
            raise ValueError("save needs a path: PlotFile is None, so pass save(path).")
        if not isinstance(target, str | os.PathLike):
            raise TypeError(f"path must be a file path, got {type(target).__name__}.")
        target = os.fspath(target)
        self.draw()
        self._canvas.save(target)
        return target

    # ---- display -------------------------------------------------------------------------------
    def __repr__(self) -> str:
        def names(items: list[str]) -> str:
            return format_value([MString(n) for n in items]) if items else "[1×0 string]"

        return format_properties("TrainingProgressMonitor", [(None, [
            ("Metrics", names(self._metrics)),
            ("Info", names(self._info)),
            ("XLabel", format_value(MString(self._xlabel))),
            ("Progress", format_value(self._progress)),
            ("Status", format_value(MString(self._status))),
            ("Stop", format_value(self._stop)),
            ("Visible", "on" if self._visible else "off"),
            ("MetricData", "[1×1 struct]"),
            ("InfoData", "[1×1 struct]"),
            ("PlotFile", format_value(MString(self._plot_file)) if self._plot_file else "[]"),
        ])])


def _show(value: Any) -> str:
    """An Info value as text: strings as they are, whole numbers in full, others short g."""
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return str(value)
    return format_number(value)


# ---------------------------------------------------------------------------------------------
# MATLAB's function forms

_CONSTRUCTOR_OPTIONS = {"Metrics": (), "Info": (), "Visible": True, "Progress": 0,
                        "Status": "", "XLabel": "", "PlotFile": DEFAULT_PLOT_FILE}


def trainingProgressMonitor(*args: Any, **options: Any) -> TrainingProgressMonitor:
    """Create a monitor that plots and records a custom training loop's progress.

    Name-Value options: Metrics, Info, Visible, Progress, Status, XLabel (as MATLAB's) and
    PlotFile (minidl: the PNG written when the run ends; None for none). Names match without
    regard to case. The elapsed-time clock starts now, so make it just before the loop.
    """
    opts = parse_name_value(args, options, _CONSTRUCTOR_OPTIONS, "trainingProgressMonitor")
    return TrainingProgressMonitor(**opts)


def _monitor(monitor: Any, where: str) -> TrainingProgressMonitor:
    if not isinstance(monitor, TrainingProgressMonitor):
        raise TypeError(f"{where} needs a TrainingProgressMonitor as its first argument (make "
                        f"one with trainingProgressMonitor), got {type(monitor).__name__}.")
    return monitor


def recordMetrics(monitor: TrainingProgressMonitor, step: Any, *args: Any,
                  **metrics: Any) -> None:
    """Record metric values at a step: `recordMetrics(monitor, iteration, Loss=loss)`.

    Also ``recordMetrics(monitor, step, {"Loss": loss})`` (MATLAB's struct form) and
    name-value pairs. See `TrainingProgressMonitor.recordMetrics`.
    """
    _monitor(monitor, "recordMetrics").recordMetrics(step, *args, **metrics)


def updateInfo(monitor: TrainingProgressMonitor, *args: Any, **info: Any) -> None:
    """Update the information shown beside the plot: `updateInfo(monitor, Epoch=3)`.

    Also a dict (MATLAB's struct) or name-value pairs. See `TrainingProgressMonitor.updateInfo`.
    """
    _monitor(monitor, "updateInfo").updateInfo(*args, **info)


def groupSubPlot(monitor: TrainingProgressMonitor, groupName: str,
                 metricNames: str | Sequence[str]) -> None:
    """Plot several metrics in one subplot whose y-axis label is the group name.

    See `TrainingProgressMonitor.groupSubPlot`.
    """
    _monitor(monitor, "groupSubPlot").groupSubPlot(groupName, metricNames)


def yscale(monitor: TrainingProgressMonitor, axesName: str | Sequence[str], scale: str) -> None:
    """Set the y-axis scale ("linear" or "log") of a group or ungrouped metric's subplot.

    See `TrainingProgressMonitor.yscale`.
    """
    _monitor(monitor, "yscale").yscale(axesName, scale)

