"""What ``trainnet`` reports while it trains: the verbose table, the progress plot, checkpoints.

The training loop emits one *record* per iteration, a dict such as::

    {"Iteration": 50, "Epoch": 2, "TimeElapsed": 7.3, "LearnRate": 0.01,
     "TrainingLoss": 0.41, "ValidationLoss": 0.52, "TrainingAccuracy": 87.5, ...,
     "EpochEnd": False, "Final": False}

(validation values are None where no validation ran), and each reporter below consumes it with
``update(record, net)`` and ends with ``finish(info)``. Reporters know nothing of each other or
of the solver. matplotlib is imported only when the progress plot is asked for.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import numpy as np

from .._matlab import format_properties

__all__ = ["format_number", "format_time", "metric_label", "VerboseTable", "HistoryTable",
           "TrainingInfo", "ProgressPlot", "CheckpointWriter"]

Writer = Callable[[str], Any]

_METRIC_LABELS = {"loss": "Loss", "accuracy": "Accuracy", "crossentropy": "CrossEntropy",
                  "mse": "MSE", "rmse": "RMSE"}


def metric_label(name: str) -> str:
    """The column suffix MATLAB uses for a metric: "accuracy" -> "Accuracy", "rmse" -> "RMSE"."""
    return _METRIC_LABELS.get(name.lower(), name[:1].upper() + name[1:])


def format_number(x: Any) -> str:
    """A number as MATLAB's ``format short g`` shows it: 5 significant digits, no padding.

    0.0092651, 0.045, 2.2743, 100, 1.2346e+05, NaN, Inf.
    """
    x = float(x)
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Inf" if x > 0 else "-Inf"
    return f"{x:.5g}"


def format_time(seconds: float) -> str:
    """Elapsed seconds as ``hh:mm:ss`` (hours keep counting past 24)."""
    s = int(seconds)
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"


# ---------------------------------------------------------------------------------------------
# Verbose table

class VerboseTable:
    """MATLAB's verbose training table, written line by line through ``writer`` (print-like).

    Columns are right-aligned to the width of their header with 4 spaces before each; the
    header is underlined with underscores; an empty cell is blank. Rows appear at iteration 0
    (validation only), iteration 1, every ``frequency`` iterations, at every validation and at
    the last iteration; ``finish`` writes ``Training stopped: <StopReason>``.
    """

    def __init__(self, columns: Sequence[str], frequency: int = 50, writer: Writer = print,
                 widths: Sequence[int] | None = None) -> None:
        self.columns = list(columns)
        self.widths = list(widths) if widths else [len(c) for c in self.columns]
        self.frequency = frequency
        self.writer = writer
        self._started = False

    def header(self) -> list[str]:
        """The header line and its underline."""
        return ["".join(f"    {c:>{w}}" for c, w in zip(self.columns, self.widths)),
                "".join(f"    {'_' * len(c):>{w}}" for c, w in zip(self.columns, self.widths))]

    def format_row(self, record: dict) -> str:
        """One table row: each cell right-aligned to its header's width."""
        return "".join(f"    {self.cell(c, record.get(c)):>{w}}"
                       for c, w in zip(self.columns, self.widths))

    @staticmethod
    def cell(column: str, value: Any) -> str:
        """The text of one cell (blank for None)."""
        if value is None:
            return ""
        if column == "TimeElapsed":
            return format_time(value)
        if column in ("Iteration", "Epoch"):
            return str(int(value))
        return format_number(value)

    def wants(self, record: dict) -> bool:
        """Whether ``record`` gets a row."""
        it = record["Iteration"]
        validated = record.get("ValidationLoss") is not None
        return it <= 1 or it % self.frequency == 0 or validated or bool(record.get("Final"))

    def update(self, record: dict, net: Any = None) -> None:
        if not self.wants(record):
            return
        if not self._started:
            for line in self.header():
                self.writer(line)
            self._started = True
        self.writer(self.format_row(record))

    def finish(self, info: TrainingInfo) -> None:
        self.writer(f"Training stopped: {info.StopReason}")


# ---------------------------------------------------------------------------------------------
# Training history and info

class HistoryTable:
    """A small column table (MATLAB's TrainingHistory / ValidationHistory).

    ``t["Loss"]`` gives a column as a NumPy array, ``t.VariableNames`` the column names,
    ``len(t)`` the number of rows; ``t.append(row_dict)`` adds a row; printing shows the table.
    """

    def __init__(self, names: Sequence[str]) -> None:
        self.VariableNames = list(names)
        self._cols: dict[str, list] = {n: [] for n in names}

    def append(self, row: dict) -> None:
        for name in self.VariableNames:
            value = row.get(name)
            self._cols[name].append(math.nan if value is None else value)

    def __len__(self) -> int:
        return len(self._cols[self.VariableNames[0]]) if self.VariableNames else 0

    def __getitem__(self, name: str) -> np.ndarray:
        if name not in self._cols:
            raise KeyError(f"'{name}' is not a variable of this table; its variables are "
                           + ", ".join(self.VariableNames))
        return np.asarray(self._cols[name])

    def __getattr__(self, name: str) -> np.ndarray:
        cols = self.__dict__.get("_cols", {})
        if name in cols:
            return np.asarray(cols[name])
        raise AttributeError(name)

    def to_dict(self) -> dict[str, np.ndarray]:
        return {n: self[n] for n in self.VariableNames}

    def __repr__(self) -> str:
        shape = f"{len(self)}×{len(self.VariableNames)} table"
        if not len(self):
            return f"  {shape}"
        rows = [{n: self._cols[n][i] for n in self.VariableNames} for i in range(len(self))]
        widths = [max(len(n), *(len(VerboseTable.cell(n, r[n])) for r in rows))
                  for n in self.VariableNames]
        table = VerboseTable(self.VariableNames, widths=widths)
        lines = table.header() + [table.format_row(r) for r in rows]
        return f"  {shape}\n\n" + "\n".join(lines)


class TrainingInfo:
    """What ``trainnet`` returns beside the network (MATLAB's TrainingInfo object).

    TrainingHistory (Iteration, Epoch, LearnRate, Loss and one column per metric, e.g.
    Accuracy), ValidationHistory (Iteration, Loss, metrics), StopReason, OutputNetworkIteration
    (the iteration whose parameters the returned network holds) and PlotFile (the progress PNG,
    or None).
    """

    def __init__(self, training: HistoryTable, validation: HistoryTable) -> None:
        self.TrainingHistory = training
        self.ValidationHistory = validation
        self.StopReason = ""
        self.OutputNetworkIteration = 0
        self.PlotFile: str | None = None

    def __repr__(self) -> str:
        def size(t: HistoryTable) -> str:
            return f"[{len(t)}×{len(t.VariableNames)} table]"

        props = [("TrainingHistory", size(self.TrainingHistory)),
                 ("ValidationHistory", size(self.ValidationHistory)),
                 ("OutputNetworkIteration", str(self.OutputNetworkIteration)),
                 ("StopReason", f'"{self.StopReason}"')]
        return format_properties("TrainingInfo", [(None, props)])


# ---------------------------------------------------------------------------------------------
# Training-progress plot

def _smooth(values: Sequence[float], weight: float = 0.6) -> np.ndarray:
    """Debiased exponential moving average (NaNs are skipped)."""
    out, avg, norm = np.empty(len(values)), 0.0, 0.0
    for i, v in enumerate(values):
        if math.isfinite(v):
            avg, norm = weight * avg + (1 - weight) * v, weight * norm + (1 - weight)
        out[i] = avg / norm if norm else math.nan
    return out


def _interactive() -> bool:
    """True in an interactive session whose matplotlib backend can show windows."""
    if not (hasattr(sys, "ps1") or "IPython" in sys.modules):
        return False
    import matplotlib

    return matplotlib.get_backend().lower() not in ("agg", "pdf", "ps", "svg", "cairo",
                                                     "template")


class ProgressPlot:
    """The training-progress figure: loss (raw and smoothed) and metrics per iteration.

    Validation values are drawn as dashed lines with markers, epochs as vertical lines, and a
    details text (epoch, iteration, time, learning rate, stop reason) sits to the right. In an
    interactive session the figure is redrawn at most every ``redraw_s`` seconds; the PNG is
    always written to ``path`` by ``finish`` (and the path printed through ``writer``).
    """

    def __init__(self, metrics: Sequence[str], path: str, has_validation: bool,
                 writer: Writer = print, redraw_s: float = 1.0) -> None:
        self.panels = ["loss", *metrics]
        self.path = path
        self.has_validation = has_validation
        self.writer = writer
        self.redraw_s = redraw_s
        self.iters: list[int] = []
        self.train: dict[str, list[float]] = {p: [] for p in self.panels}
        self.val: dict[str, list[tuple[int, float]]] = {p: [] for p in self.panels}
        self.epoch_ends: list[int] = []
        self.last: dict = {}
        self._live = _interactive()
        self._last_draw = 0.0
        self._make_figure()

    def _make_figure(self) -> None:
        if self._live:
            import matplotlib.pyplot as plt

            plt.ion()
            self.fig = plt.figure(figsize=(11, 3 + 2.2 * len(self.panels)))
        else:
            from matplotlib.backends.backend_agg import FigureCanvasAgg
            from matplotlib.figure import Figure

            self.fig = Figure(figsize=(11, 3 + 2.2 * len(self.panels)))
            FigureCanvasAgg(self.fig)
        self.axes = self.fig.subplots(len(self.panels), 1, sharex=True, squeeze=False)[:, 0]
        self.fig.subplots_adjust(left=0.08, right=0.72, hspace=0.25)

    def update(self, record: dict, net: Any = None) -> None:
        it = record["Iteration"]
        for p in self.panels:
            label = metric_label(p)
            if it > 0:
                self._append_train(p, record.get("Training" + label))
            value = record.get("Validation" + label)
            if value is not None:
                self.val[p].append((it, float(value)))
        if it > 0:
            self.iters.append(it)
        if record.get("EpochEnd"):
            self.epoch_ends.append(it)
        self.last = record
        if self._live and time.monotonic() - self._last_draw > self.redraw_s:
            self.draw()
            import matplotlib.pyplot as plt

            plt.pause(0.001)
            self._last_draw = time.monotonic()

    def _append_train(self, panel: str, value: Any) -> None:
        self.train[panel].append(math.nan if value is None else float(value))

    def draw(self, stop_reason: str = "") -> None:
        """Redraw every panel and the details text from the data so far."""
        for ax, p in zip(self.axes, self.panels):
            ax.clear()
            raw = self.train[p]
            if raw:
                ax.plot(self.iters, raw, color="tab:blue", alpha=0.3, lw=0.8,
                        label="Training")
                ax.plot(self.iters, _smooth(raw), color="tab:blue", lw=1.6,
                        label="Training (smoothed)")
            if self.val[p]:
                vi, vv = zip(*self.val[p])
                ax.plot(vi, vv, "--o", color="k", ms=3, lw=1, label="Validation")
            for e in self.epoch_ends:
                ax.axvline(e, color="0.85", lw=0.8, zorder=0)
            ax.set_ylabel(metric_label(p) + (" (%)" if p == "accuracy" else ""))
            ax.grid(True, alpha=0.3)
        self.axes[0].legend(loc="upper right", fontsize="small")
        self.axes[-1].set_xlabel("Iteration")
        self.axes[0].set_title("Training Progress", loc="left")
        self._details(stop_reason)
        self.fig.canvas.draw_idle()

    def _details(self, stop_reason: str) -> None:
        r = self.last
        lines = ["Training details",
                 f"Epoch: {r.get('Epoch', 0)}",
                 f"Iteration: {r.get('Iteration', 0)}",
                 f"Elapsed: {format_time(r.get('TimeElapsed', 0.0))}",
                 f"Learning rate: {format_number(r.get('LearnRate', math.nan))}"]
        if stop_reason:
            lines.append(f"Stopped: {stop_reason}")
        for t in list(self.fig.texts):
            t.remove()
        self.fig.text(0.75, 0.88, "\n".join(lines), va="top", family="monospace",
                      fontsize="small")

    def finish(self, info: TrainingInfo) -> None:
        self.draw(info.StopReason)
        folder = os.path.dirname(os.path.abspath(self.path))
        os.makedirs(folder, exist_ok=True)
        self.fig.savefig(self.path, dpi=90)
        info.PlotFile = self.path
        self.writer(f"Training progress plot saved to {self.path}")
        if self._live:
            import matplotlib.pyplot as plt

            plt.pause(0.001)


# ---------------------------------------------------------------------------------------------
# Checkpoints

class CheckpointWriter:
    """Saves the network every ``frequency`` epochs (or iterations) into ``folder``.

    Files are named like MATLAB's ``net_checkpoint__<iteration>__<YYYY_MM_DD__HH_MM_SS>.npz``
    and written with ``save`` (minidl.io.save, atomic); ``paths`` lists them in order.
    """

    def __init__(self, folder: str, frequency: int = 1, unit: str = "epoch",
                 save: Callable[[Any, str], Any] | None = None) -> None:
        self.folder, self.frequency, self.unit = folder, frequency, unit
        self._save = save
        self.paths: list[str] = []
        os.makedirs(folder, exist_ok=True)

    def due(self, record: dict) -> bool:
        it = record["Iteration"]
        loss = record.get("TrainingLoss")
        if it <= 0 or (loss is not None and not math.isfinite(loss)):
            return False  # a non-finite loss stops training before the update: nothing new
        if self.unit == "iteration":
            return it % self.frequency == 0
        return bool(record.get("EpochEnd")) and record["Epoch"] % self.frequency == 0

    def update(self, record: dict, net: Any = None) -> None:
        if not self.due(record):
            return
        stamp = datetime.now().strftime("%Y_%m_%d__%H_%M_%S")
        path = os.path.join(self.folder, f"net_checkpoint__{record['Iteration']}__{stamp}.npz")
        save = self._save
        if save is None:
            from ..networks.io import save
        save(net, path)
        self.paths.append(path)

    def finish(self, info: TrainingInfo) -> None:
        pass
