"""The training-progress canvas that trainnet's plot and trainingProgressMonitor both draw on.

One matplotlib figure: a live pyplot window where the session can show one (`interactive`),
else an off-screen Agg figure that renders only when saved; a stack of panels sharing the
horizontal axis on the left; a monospace details column on the right; optionally a progress
bar on top and, in a window, a Stop button; and `save`, which writes the image atomically (a
reader never sees half a PNG, though the monitor rewrites it after a run ends). What goes into
the panels is the caller's: `ProgressPlot` (progress_plot.py) and `TrainingProgressMonitor`
(progressmonitor.py).

matplotlib is imported when the first figure is made, never by ``import minidl``.
"""

from __future__ import annotations

import os
import sys
import tempfile
import weakref
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["interactive", "ProgressFigure", "DPI"]

DPI = 90
"""Resolution of the saved image (dots per inch): an 11-inch-wide figure is 990 pixels wide."""

_NO_WINDOW_BACKENDS = ("agg", "pdf", "ps", "svg", "cairo", "template")


def _matplotlib(pyplot: bool = False) -> Any:
    """The matplotlib package (its figure, Agg canvas and widgets loaded), or matplotlib.pyplot.

    ``import minidl`` must not import matplotlib (slow to import, and a figure may never be
    made), and pyplot is imported only where a window is wanted (it may pick a GUI backend).
    """
    # Lazy on purpose: the one function-level import of figure.py (no cycle: see above).
    import matplotlib
    import matplotlib.backends.backend_agg
    import matplotlib.figure
    import matplotlib.widgets

    if pyplot:
        import matplotlib.pyplot

        return matplotlib.pyplot
    return matplotlib


def interactive() -> bool:
    """True in an interactive session whose matplotlib backend can show windows.

    That is a Python prompt or IPython/Jupyter, with a GUI (or inline) backend. A script, or a
    session on a headless backend (Agg, PDF, ...), gets no window: its figures are only saved.
    """
    if not (hasattr(sys, "ps1") or "IPython" in sys.modules):
        return False
    return _matplotlib().get_backend().lower() not in _NO_WINDOW_BACKENDS


class ProgressFigure:
    """A training-progress figure: a live window (``live``) or an off-screen Agg figure.

    ``size`` is (width, height) in inches; ``details_at`` the (x, y) figure fraction of the
    top-left corner of the details column. ``figure`` is the matplotlib Figure, ``panels``
    the stacked axes made by `stack`, top to bottom.
    """

    def __init__(self, live: bool, size: tuple[float, float],
                 details_at: tuple[float, float]) -> None:
        self.live = live
        self.details_at = details_at
        if live:
            plt = _matplotlib(pyplot=True)
            plt.ion()
            self.figure = plt.figure(figsize=size)
        else:
            mpl = _matplotlib()
            self.figure = mpl.figure.Figure(figsize=size)
            mpl.backends.backend_agg.FigureCanvasAgg(self.figure)
        self.panels: list[Any] = []
        self._bar: Any = None
        self._stop_button: Any = None

    def stack(self, n: int, *, left: float, right: float, hspace: float,
              top: float | None = None, bottom: float | None = None) -> list[Any]:
        """Replace the panels by ``n`` axes stacked in one column and sharing the x-axis.

        The edges are figure fractions (None: matplotlib's default); only the bottom panel
        keeps its x tick labels. Returns the new panels, top to bottom.
        """
        for ax in self.panels:
            ax.remove()
        self.panels = []
        if n:
            grid = self.figure.add_gridspec(n, 1, left=left, right=right, top=top,
                                            bottom=bottom, hspace=hspace)
            self.panels = list(grid.subplots(sharex=True, squeeze=False)[:, 0])
        return self.panels

    def details(self, lines: Sequence[str]) -> None:
        """Show ``lines`` as the details column (replacing the figure's previous texts)."""
        for text in list(self.figure.texts):
            text.remove()
        x, y = self.details_at
        self.figure.text(x, y, "\n".join(lines), va="top", family="monospace",
                         fontsize="small")

    def add_progress_bar(self, rect: tuple[float, float, float, float]) -> None:
        """Add the axes of a progress bar at ``rect`` (figure fractions; labelled "progress")."""
        self._bar = self.figure.add_axes(rect, label="progress")

    def progress(self, percent: float, title: str) -> None:
        """Draw the progress bar filled to ``percent`` (0-100), the percentage at its right
        and ``title`` above it."""
        ax = self._bar
        ax.clear()
        ax.barh([0], [percent], height=1.0, color="tab:blue")
        ax.set_xlim(0, 100)
        ax.set_ylim(-0.5, 0.5)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(title, loc="left")
        ax.text(101, 0, f"{percent:.0f}%", va="center", ha="left", fontsize="small")

    def add_stop_button(self, request_stop: Callable[[], Any]) -> None:
        """Add a Stop button at the top right (labelled "stop-button") that calls
        ``request_stop`` when clicked.

        ``request_stop`` is a bound method, held weakly: the window must not keep its owner
        alive. The button is kept here (matplotlib holds widgets only weakly).
        """
        method = weakref.WeakMethod(request_stop)

        def on_click(event: Any) -> None:
            request = method()
            if request is not None:
                request()

        ax = self.figure.add_axes((0.86, 0.90, 0.10, 0.05), label="stop-button")
        self._stop_button = _matplotlib().widgets.Button(ax, "Stop", color="#f2c4c4",
                                                         hovercolor="#e89a9a")
        self._stop_button.on_clicked(on_click)

    def show(self) -> None:
        """Open the live window without blocking (no-op off screen)."""
        if self.live:
            _matplotlib(pyplot=True).show(block=False)

    def pause(self) -> None:
        """Let the live window's GUI loop draw and handle events for a moment (no-op off screen)."""
        if self.live:
            _matplotlib(pyplot=True).pause(0.001)

    def flush(self) -> None:
        """Draw the live window now and handle its pending events (no-op off screen)."""
        if self.live:
            self.figure.canvas.draw_idle()
            self.figure.canvas.flush_events()

    def save(self, path: str) -> str:
        """Write the figure to ``path`` at `DPI`; returns the path written.

        The format follows the extension, as matplotlib's savefig does (none: PNG, with
        ".png" appended). Missing folders are made. The image goes to a temporary file beside
        the target first and is renamed over it, so the target is never half written.
        """
        canvas = self.figure.canvas
        fmt = os.path.splitext(path)[1][1:]
        if not fmt:
            fmt = canvas.get_default_filetype()
            path = path.rstrip(".") + "." + fmt
        folder = os.path.dirname(os.path.abspath(path))
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp",
                                   dir=folder)
        os.close(fd)
        try:
            self.figure.savefig(tmp, dpi=DPI, format=fmt)
            # mkstemp makes the file private (0600): keep the old file's mode, or use 0644
            os.chmod(tmp, os.stat(path).st_mode & 0o777 if os.path.exists(path) else 0o644)
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        return path
