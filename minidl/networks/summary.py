"""``analyzeNetwork`` and ``summary``: a per-layer table of activations and learnables.

For each layer: its name, type, the size and format of its output activations for one
observation (``24(S) × 24(S) × 20(C) × 1(B)``), the sizes of its learnables and their count,
then the network's total, as MATLAB's analyzeNetwork and Keras' ``model.summary()`` show them.
A network with branches (anything but a plain chain) gets one more column, "Inputs": where each
layer's inputs come from ("relu_1" or "in1: bn_2, in2: relu_1"; "-" for a network input), so
the branches can be read from the table as Keras' "Connected to" column shows them.
``analyzeNetwork(net, Plots="figure")`` also draws the table as a matplotlib figure (matplotlib
is imported only then).
"""

from __future__ import annotations

import math
from typing import Any

from .._matlab import check_choice, parse_name_value
from ..layers import Layer, LayerArray, input_names
from .network import LayerGraph, check_network, dlnetwork

__all__ = ["analyzeNetwork", "summary", "NetworkAnalysis"]

HEADERS = ("#", "Name", "Type", "Activations", "Learnable Sizes", "Learnables")
GRAPH_HEADERS = (*HEADERS[:3], "Inputs", *HEADERS[3:])


def activation_text(size: tuple[int, ...], fmt: str) -> str:
    """``24(S) × 24(S) × 20(C) × 1(B)``."""
    return " × ".join(f"{n}({label})" for n, label in zip(size, fmt))


class NetworkAnalysis:
    """What analyzeNetwork found: ``LayerInfo`` (one dict per layer), ``TotalLearnables``,
    ``Figure`` (a matplotlib figure when Plots="figure", else None). Prints as a text table."""

    def __init__(self, rows: list[dict], total: int, graph: bool = False) -> None:
        self.LayerInfo = rows
        self.TotalLearnables = total
        self.Figure: Any = None
        self.headers = GRAPH_HEADERS if graph else HEADERS

    def table_rows(self) -> list[tuple[str, ...]]:
        graph = self.headers is GRAPH_HEADERS
        return [(str(i), r["Name"], r["Type"], *([r["Inputs"]] if graph else []),
                 r["Activations"], r["LearnableSizes"], f"{r['Learnables']:,}")
                for i, r in enumerate(self.LayerInfo, start=1)]

    def __repr__(self) -> str:
        rows, headers = self.table_rows(), self.headers
        widths = [max(len(h), *(len(r[k]) for r in rows)) if rows else len(h)
                  for k, h in enumerate(headers)]
        right = {0, len(headers) - 1}

        def line(cells: tuple[str, ...]) -> str:
            return "   ".join(c.rjust(w) if k in right else c.ljust(w)
                              for k, (c, w) in enumerate(zip(cells, widths))).rstrip()

        head = (f"  Network analysis: {len(rows)} layers, {self.TotalLearnables:,} "
                "learnable parameters")
        body = [line(headers), line(tuple("_" * w for w in widths)), *map(line, rows)]
        total = f"Total learnables: {self.TotalLearnables:,}"
        return "\n".join([head, "", *("    " + b for b in body), "", "    " + total])

    def figure(self) -> Any:
        """The table drawn as a matplotlib figure (imports matplotlib here, not at import time).
        """
        import matplotlib.pyplot as plt

        rows = self.table_rows() or [("",) * len(self.headers)]
        fig, ax = plt.subplots(figsize=(12, 0.8 + 0.35 * (len(rows) + 1)))
        ax.axis("off")
        table = ax.table(cellText=rows, colLabels=self.headers, loc="center", cellLoc="left")
        table.auto_set_font_size(False)
        table.set_fontsize(8)
        table.auto_set_column_width(list(range(len(self.headers))))
        ax.set_title(f"{len(self.LayerInfo)} layers, {self.TotalLearnables:,} learnables",
                     fontsize=10)
        return fig


def analyzeNetwork(net: Any, *args: Any, **kwargs: Any) -> NetworkAnalysis:
    """Analyze a dlnetwork (or a Layer array / list of layers, built into a dlnetwork first).

    ``analyzeNetwork(net, X1, ..., Plots="none")``: example inputs X1, ... (formatted dlarrays)
    give the input size of a network without an input layer, as in MATLAB. ``Plots="none"``
    (default) returns the analysis (``print`` it for the table); ``Plots="figure"`` also draws
    it in ``info.Figure``. An uninitialized network is analyzed through an initialized copy; one
    that cannot be initialized raises its error.
    """
    examples = []
    while args and not isinstance(args[0], str):
        examples, args = [*examples, args[0]], args[1:]
    plots = parse_name_value(args, kwargs, {"Plots": "none"}, "analyzeNetwork")["Plots"]
    plots = check_choice("analyzeNetwork: Plots", plots, ("none", "figure"))
    if not isinstance(net, dlnetwork):
        if isinstance(net, tuple) and net and isinstance(net[0], dlnetwork) or not isinstance(
                net, (list, tuple, Layer, LayerArray, LayerGraph)):
            check_network(net, "analyzeNetwork", "net",
                          "a dlnetwork, a layerGraph or an array of layers")
        net = dlnetwork(net, *examples)
    elif not net.Initialized:
        net = net.initialize(*examples)
    rows, total = [], 0
    sources = {(d, inp): s for s, d, inp in net._connections}
    for layer, (size, fmt) in zip(net.layers_view, net._activations):
        params = [(name, getattr(layer, name)) for name in type(layer).learnables
                  if getattr(layer, name, None) is not None]
        count = sum(math.prod(v.shape) for _, v in params)
        total += count
        rows.append({"Name": layer.Name, "Type": layer.type_name,
                     "Activations": activation_text(size, fmt),
                     "LearnableSizes": ", ".join(f"{n} {'×'.join(map(str, v.shape))}"
                                                 for n, v in params) or "-",
                     "Learnables": count, "Inputs": _inputs_text(layer, sources)})
    info = NetworkAnalysis(rows, total, graph=not net._chain)
    if plots == "figure":
        info.Figure = info.figure()
    return info


def _inputs_text(layer: Any, sources: dict) -> str:
    """Where a layer's inputs come from: "relu_1", or "in1: bn_2, in2: relu_1" for several
    inputs; "-" for an input that the network's input feeds."""
    names = input_names(layer)
    found = [sources.get((layer.Name, inp), "-") for inp in names]
    if len(names) <= 1:
        return found[0] if found else "-"
    return ", ".join(f"{inp}: {src}" for inp, src in zip(names, found))


def summary(net: Any) -> NetworkAnalysis:
    """The network's analysis table (MATLAB's ``summary(net)``); prints as text."""
    return analyzeNetwork(net)
