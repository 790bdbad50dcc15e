"""Confusion matrices as MATLAB computes and draws them: ``confusionmat``, ``confusionchart`` and
``categories`` (the classes of a label array).

``C = confusionmat(trueLabels, predictedLabels)``: ``C[i, j]`` counts the observations whose
true class is class i and whose predicted class is class j (rows: true, columns: predicted),
for the classes in ``categories`` order (the sorted distinct labels of both arguments, as for
MATLAB's categorical labels) or in the order given by ``Order``. Labels are NumPy arrays (or
lists) of strings, numbers or booleans, as minidl's scores2label returns them; MATLAB's
second output (the order) is ``categories`` of the labels, or the Order given.

``confusionchart(trueLabels, predictedLabels, ...)`` or ``confusionchart(C, classLabels)``
draws the matrix with matplotlib into ``cm.Figure`` (a ConfusionMatrixChart); ``cm.saveas(path)``
writes it as a PNG. Its options are MATLAB's: Title, XLabel, YLabel, Normalization
("absolute", "row-normalized", "column-normalized", "total-normalized": what the cells show),
RowSummary and ColumnSummary ("off", "absolute", "row-normalized"/"column-normalized",
"total-normalized": the per-class panels beside and below the matrix).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from .._matlab import check_choice, check_class_names, parse_name_value

__all__ = ["confusionmat", "confusionchart", "categories", "ConfusionMatrixChart"]


def _labels(name: str, v: Any) -> np.ndarray:
    """Labels as a 1-D array of strings, numbers or booleans (None/objects: a TypeError)."""
    if v is None or isinstance(v, (str, bytes)) or not hasattr(v, "__len__"):
        raise TypeError(f"{name} must be an array or list of labels, got {type(v).__name__}.")
    a = np.asarray(v.extractdata() if hasattr(v, "extractdata") else v)
    if a.ndim > 1 and max(a.shape) != a.size:
        raise ValueError(f"{name} must be a vector of labels, got size "
                         f"{'x'.join(map(str, a.shape))}.")
    a = a.ravel()
    if a.dtype.kind not in "biufUS":
        raise TypeError(f"{name} must hold strings, numbers or booleans, got dtype {a.dtype}.")
    return a


def categories(labels: Any) -> np.ndarray:
    """The classes of a label array: its distinct labels, sorted (MATLAB's ``categories`` of a
    categorical array; minidl's labels are plain arrays, so the classes are those present)."""
    return np.unique(_labels("labels", labels))


def confusionmat(trueLabels: Any, predictedLabels: Any, *args: Any, **kwargs: Any) -> np.ndarray:
    """The K x K confusion matrix (int64): rows are true classes, columns predicted classes.

    ``Order`` (a list of the class names) sets the classes and their order; it must hold every
    label that occurs. Without it the classes are ``categories`` of both arguments together.
    """
    g = _labels("trueLabels", trueLabels)
    h = _labels("predictedLabels", predictedLabels)
    if g.size != h.size:
        raise ValueError(f"confusionmat: trueLabels and predictedLabels must have the same number "
                         f"of labels, got {g.size} and {h.size}.")
    order = parse_name_value(args, kwargs, {"Order": None}, "confusionmat")["Order"]
    both = np.concatenate([g, h]) if g.dtype.kind == h.dtype.kind or g.size == 0 else None
    if both is None:
        raise TypeError(f"confusionmat: trueLabels ({g.dtype}) and predictedLabels ({h.dtype}) "
                        "must be labels of one kind (both text or both numbers).")
    if order is None:
        classes = np.unique(both)
    else:
        classes = check_class_names("confusionmat: Order", order)
        if np.unique(classes).size != classes.size:
            raise ValueError("confusionmat: Order must not repeat a class.")
        missing = np.setdiff1d(np.unique(both), classes)
        if missing.size:
            raise ValueError(f"confusionmat: Order must include every label; it lacks "
                             f"{missing[0]!r}.")
    sorter = np.argsort(classes)
    index = sorter[np.searchsorted(classes, both, sorter=sorter)]
    k = classes.size
    flat = index[: g.size] * k + index[g.size:]
    return np.bincount(flat, minlength=k * k).reshape(k, k).astype(np.int64)


_NORMALIZATIONS = ("absolute", "row-normalized", "column-normalized", "total-normalized")
_ROW_SUMMARIES = ("off", "absolute", "row-normalized", "total-normalized")
_COLUMN_SUMMARIES = ("off", "absolute", "column-normalized", "total-normalized")


class ConfusionMatrixChart:
    """A drawn confusion matrix (MATLAB's ConfusionMatrixChart): NormalizedValues (the counts,
    K x K), ClassLabels, Title, Normalization, RowSummary, ColumnSummary, and Figure (the
    matplotlib figure). ``saveas(path)`` writes it as a PNG."""

    def __init__(self, counts: np.ndarray, labels: np.ndarray, opts: dict) -> None:
        self.NormalizedValues = counts
        self.ClassLabels = labels
        self.Title = opts["Title"]
        self.XLabel, self.YLabel = opts["XLabel"], opts["YLabel"]
        self.Normalization = opts["Normalization"]
        self.RowSummary, self.ColumnSummary = opts["RowSummary"], opts["ColumnSummary"]
        self.Figure = self._draw()

    def _cells(self) -> np.ndarray:
        """The values the cells show, as Normalization says."""
        c = self.NormalizedValues.astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            if self.Normalization == "row-normalized":
                c = c / c.sum(axis=1, keepdims=True)
            elif self.Normalization == "column-normalized":
                c = c / c.sum(axis=0, keepdims=True)
            elif self.Normalization == "total-normalized":
                c = c / max(c.sum(), 1)
        return np.nan_to_num(c)

    def _summary(self, axis: int, mode: str) -> np.ndarray:
        """Per class: the correct and incorrect counts (or fractions) of a row (axis 1) or
        column (axis 0), as MATLAB's row and column summaries show them."""
        c = self.NormalizedValues.astype(np.float64)
        right = np.diag(c)
        total = c.sum(axis=axis)
        out = np.stack([right, total - right], axis=1)
        if mode.endswith("-normalized") and mode != "total-normalized":
            out = out / np.maximum(total, 1)[:, None]
        elif mode == "total-normalized":
            out = out / max(c.sum(), 1)
        return out

    def _draw(self) -> Any:
        from matplotlib.figure import Figure  # not pyplot: no window, no global state

        k = len(self.ClassLabels)
        rows = self.RowSummary != "off"
        cols = self.ColumnSummary != "off"
        fig = Figure(figsize=(2 + 0.6 * k + 1.2 * rows, 1.6 + 0.6 * k + 1.0 * cols))
        grid = fig.add_gridspec(1 + cols, 1 + rows, width_ratios=[k, 2][: 1 + rows],
                                height_ratios=[k, 2][: 1 + cols])
        ax = fig.add_subplot(grid[0, 0])
        cells = self._cells()
        ax.imshow(cells, cmap="Blues")
        names = [str(x) for x in self.ClassLabels.tolist()]
        ax.set_xticks(range(k), names, rotation=45, ha="right")
        ax.set_yticks(range(k), names)
        ax.set_xlabel(self.XLabel)
        ax.set_ylabel(self.YLabel)
        peak = cells.max() if cells.size else 0
        for i in range(k):  # one label per cell: k x k text objects (small k)
            for j in range(k):
                text = _cell_text(cells[i, j], self.Normalization)
                ax.text(j, i, text, ha="center", va="center",
                        color="white" if peak and cells[i, j] > peak / 2 else "black")
        if self.Title:
            ax.set_title(self.Title)
        if rows:
            self._panel(fig.add_subplot(grid[0, 1]), self._summary(1, self.RowSummary),
                        self.RowSummary, vertical=True)
        if cols:
            self._panel(fig.add_subplot(grid[1, 0]), self._summary(0, self.ColumnSummary),
                        self.ColumnSummary, vertical=False)
        fig.tight_layout()
        return fig

    @staticmethod
    def _panel(ax: Any, values: np.ndarray, mode: str, vertical: bool) -> None:
        """A summary panel: per class, its correct (blue) and incorrect (red) part."""
        data = values if vertical else values.T
        ax.imshow(np.zeros_like(data), cmap="Greys", vmin=0, vmax=1)
        for (i, j), v in np.ndenumerate(data):
            ax.text(j, i, _cell_text(v, mode), ha="center", va="center",
                    color=("tab:blue" if (j if vertical else i) == 0 else "tab:red"))
        ax.set_xticks([])
        ax.set_yticks([])

    def saveas(self, path: str | os.PathLike) -> None:
        """Write the chart to ``path`` as a PNG (MATLAB's ``saveas(cm, "file.png")``)."""
        self.Figure.savefig(os.fspath(path), format="png", dpi=90)

    def __repr__(self) -> str:
        return (f"  ConfusionMatrixChart with properties:\n\n"
                f"    NormalizedValues: [{self.NormalizedValues.shape[0]}x"
                f"{self.NormalizedValues.shape[1]} double]\n"
                f"         ClassLabels: [{len(self.ClassLabels)}x1]\n")


def _cell_text(v: float, mode: str) -> str:
    return f"{int(round(v))}" if mode in ("absolute", "off") else f"{100 * v:.1f}%"


def confusionchart(*args: Any, **kwargs: Any) -> ConfusionMatrixChart:
    """Draw a confusion matrix (MATLAB's confusionchart); returns a ConfusionMatrixChart.

    ``confusionchart(trueLabels, predictedLabels, ...)`` or ``confusionchart(C, classLabels,
    ...)`` with C a K x K count matrix. Options (MATLAB's): Title, XLabel ("Predicted Class"),
    YLabel ("True Class"), Normalization, RowSummary, ColumnSummary (see the module docstring).
    """
    if len(args) < 2:
        raise TypeError("confusionchart takes (trueLabels, predictedLabels, ...) or "
                        f"(C, classLabels, ...), got {len(args)} arguments")
    first, second, rest = args[0], args[1], args[2:]
    a = np.asarray(first) if not isinstance(first, (str, bytes)) and first is not None else None
    if a is not None and a.ndim == 2 and a.shape[0] == a.shape[1] and a.shape[0] > 1 \
            and a.dtype.kind in "biuf":
        counts = a
        if (counts < 0).any() or not np.isfinite(counts).all():
            raise ValueError("confusionchart: C must hold nonnegative counts.")
        labels = check_class_names("confusionchart: classLabels", second)
        if labels.size != counts.shape[0]:
            raise ValueError(f"confusionchart: classLabels has {labels.size} names for a "
                             f"{counts.shape[0]} x {counts.shape[0]} matrix C.")
    else:
        g = _labels("trueLabels", first)
        h = _labels("predictedLabels", second)
        counts = confusionmat(g, h)
        labels = np.unique(np.concatenate([g, h]))
    opts = parse_name_value(rest, kwargs, {
        "Title": "", "XLabel": "Predicted Class", "YLabel": "True Class",
        "Normalization": "absolute", "RowSummary": "off", "ColumnSummary": "off"},
        "confusionchart")
    for name in ("Title", "XLabel", "YLabel"):
        if not isinstance(opts[name], str):
            raise TypeError(f"confusionchart: {name} must be a string, got "
                            f"{type(opts[name]).__name__}.")
    opts["Normalization"] = check_choice("Normalization", opts["Normalization"], _NORMALIZATIONS)
    opts["RowSummary"] = check_choice("RowSummary", opts["RowSummary"], _ROW_SUMMARIES)
    opts["ColumnSummary"] = check_choice("ColumnSummary", opts["ColumnSummary"],
                                         _COLUMN_SUMMARIES)
    return ConfusionMatrixChart(np.asarray(counts), labels, opts)
