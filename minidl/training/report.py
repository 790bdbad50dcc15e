"""What ``trainnet`` reports while it trains: the verbose table, the history, checkpoints.

The training loop emits one *record* per iteration, a dict such as::

    {"Iteration": 50, "Epoch": 2, "TimeElapsed": 7.3, "LearnRate": 0.01,
     "TrainingLoss": 0.41, "ValidationLoss": 0.52, "TrainingAccuracy": 87.5, ...,
     "EpochEnd": False, "Final": False}

(validation values are None where no validation ran), and each reporter below consumes it with
``update(record, net)`` and ends with ``finish(info)``. Reporters know nothing of each other or
of the solver. The progress plot, a reporter too, is ProgressPlot in progress_plot.py.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import numpy as np

from .._matlab import format_properties
from ..networks import save as save_network

__all__ = ["format_number", "format_time", "metric_label", "VerboseTable", "HistoryTable",
           "TrainingInfo", "CheckpointWriter"]

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
# Checkpoints

class CheckpointWriter:
    """Saves the network every ``frequency`` epochs (or iterations) into ``folder``.

    Files are named like MATLAB's ``net_checkpoint__<iteration>__<YYYY_MM_DD__HH_MM_SS>.npz``
    and written with ``save`` (default: minidl's ``save``, atomic); ``paths`` lists them in order.
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
        save = self._save if self._save is not None else save_network
        save(net, path)
        self.paths.append(path)

    def finish(self, info: TrainingInfo) -> None:
        pass
