"""Signals: SIGTERM and SIGHUP delivered as an interrupt, so a study ends its runs in a final
state and shuts down what it started (a local Ray, the tracking writer) before it exits."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["Terminated", "sigterm_as_interrupt"]


#: The signals that end a study as Ctrl-C does: a supervisor's or kill's, a closed terminal's.
SIGNALS = (signal.SIGTERM, signal.SIGHUP)


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP, delivered as an interrupt so the study ends its runs before exiting.

    Attributes:
        signum: The signal's number (the CLI exits with ``128 + signum``).
    """

    def __init__(self, signum: int = signal.SIGTERM) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM and SIGHUP raise :class:`Terminated` in the main thread.

    Only where we may (the main thread) and for signals whose handling nobody has changed: a
    user's own handler stays, and so does an ignored SIGHUP (``nohup``).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        raise Terminated(signum)

    previous = {}
    for signum in SIGNALS:
        if signal.getsignal(signum) in (signal.SIG_DFL, None):
            previous[signum] = signal.signal(signum, handler)
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)
