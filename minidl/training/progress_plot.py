"""trainnet's training-progress plot (Plots="training-progress"), drawn on the shared canvas.

One panel for the loss and one per metric, per iteration: the raw training values, their
smoothed curve, validation values as a dashed line with markers and epochs as vertical lines;
the details column shows epoch, iteration, elapsed time, learning rate and the stop reason.
The canvas (live window or off screen, PNG) is figure.py's.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from .figure import ProgressFigure, interactive
from .report import TrainingInfo, Writer, format_number, format_time, metric_label

__all__ = ["ProgressPlot"]


def _smooth(values: Sequence[float], weight: float = 0.6) -> np.ndarray:
    """Debiased exponential moving average (NaNs are skipped)."""
    out, avg, norm = np.empty(len(values)), 0.0, 0.0
    for i, v in enumerate(values):
        if math.isfinite(v):
            avg, norm = weight * avg + (1 - weight) * v, weight * norm + (1 - weight)
        out[i] = avg / norm if norm else math.nan
    return out


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
        self._live = interactive()
        self._last_draw = 0.0
        self.canvas = ProgressFigure(self._live, size=(11, 3 + 2.2 * len(self.panels)),
                                     details_at=(0.75, 0.88))
        self.fig = self.canvas.figure
        self.axes = self.canvas.stack(len(self.panels), left=0.08, right=0.72, hspace=0.25)

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
            self.canvas.pause()
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
        self.canvas.details(self._details(stop_reason))
        self.fig.canvas.draw_idle()

    def _details(self, stop_reason: str) -> list[str]:
        """The lines of the details column."""
        r = self.last
        lines = ["Training details",
                 f"Epoch: {r.get('Epoch', 0)}",
                 f"Iteration: {r.get('Iteration', 0)}",
                 f"Elapsed: {format_time(r.get('TimeElapsed', 0.0))}",
                 f"Learning rate: {format_number(r.get('LearnRate', math.nan))}"]
        if stop_reason:
            lines.append(f"Stopped: {stop_reason}")
        return lines

    def finish(self, info: TrainingInfo) -> None:
        self.draw(info.StopReason)
        self.canvas.save(self.path)
        info.PlotFile = self.path
        self.writer(f"Training progress plot saved to {self.path}")
        self.canvas.pause()
