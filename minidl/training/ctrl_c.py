"""Ctrl+C as a Stop button: a SIGINT handler that asks a training loop to stop at its next check.

trainingProgressMonitor installs one while it is open in the main thread: the first Ctrl+C
sets ``monitor.Stop`` instead of raising KeyboardInterrupt, a second one interrupts as usual.
See docs/dev/progress-monitor.md.
"""

from __future__ import annotations

import os
import signal
import threading
import weakref
from collections.abc import Callable
from typing import Any

__all__ = ["CtrlCStop"]

_MESSAGE = (b"\nStop requested (Ctrl+C): training ends at the next check of monitor.Stop. "
            b"Press Ctrl+C again to interrupt now.\n")


class CtrlCStop:
    """A SIGINT handler that turns the first Ctrl+C into a stop request.

    ``request_stop`` is a bound method of the owner (the monitor), called in the handler: it
    flags the stop and returns True, or returns False when it declines (already stopped, or
    idle), and then the signal is passed on. The method is held weakly, so the handler never
    keeps its owner alive; once the owner has stopped, or restore was called, or the owner is
    collected, a signal goes to the handler that was there before (normally Python's, which
    raises KeyboardInterrupt). ``restore`` puts that handler back if this one is still the installed
    one (another may have been installed on top since; then it stays and this one just
    forwards, and the next restore below it skips it). Make it in the main thread only.
    """

    def __init__(self, request_stop: Callable[[], bool]) -> None:
        self._request_stop = weakref.WeakMethod(request_stop)
        self.previous = signal.getsignal(signal.SIGINT)
        self.active = True
        signal.signal(signal.SIGINT, self.handle)

    def handle(self, signum: int, frame: Any) -> None:
        """The SIGINT handler: request the stop once, else pass the signal on."""
        request_stop = self._request_stop()
        if self.active and request_stop is not None and request_stop():
            self.restore()
            try:  # straight to the terminal: print() may be busy in the interrupted code
                os.write(2, _MESSAGE)
            except OSError:
                pass
            return
        self.forward(signum, frame)

    def forward(self, signum: int, frame: Any) -> None:
        """Do what the handler found at install time would have done."""
        previous = self.previous
        if callable(previous):
            previous(signum, frame)
        elif previous != signal.SIG_IGN:  # SIG_DFL, or a handler not set from Python
            raise KeyboardInterrupt

    def restore(self) -> None:
        """Stop taking Ctrl+C, and reinstall the earlier handler if this one is on top."""
        if not self.active or threading.current_thread() is not threading.main_thread():
            return  # only the main thread may set handlers: a later restore there will
        self.active = False
        if signal.getsignal(signal.SIGINT) == self.handle:
            previous = self.previous
            # Skip handlers of monitors that ended while this one sat on top of them.
            while isinstance(getattr(previous, "__self__", None), CtrlCStop) \
                    and not previous.__self__.active:
                previous = previous.__self__.previous
            signal.signal(signal.SIGINT,
                          previous if previous is not None else signal.default_int_handler)
