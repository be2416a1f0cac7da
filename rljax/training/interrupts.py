"""Ctrl-C and SIGTERM during training: stop cleanly after the current segment, or at once on a second.

A run is a chain of compiled segments. Killing it mid-segment loses everything since
the last checkpoint, so the first SIGINT (Ctrl-C) or SIGTERM (``kill``, a cluster's
preemption) only asks the run to stop: the segments in flight finish, the caller
saves a checkpoint and the metrics so far, and raises :class:`RunInterrupted`, whose
``exit_code`` is the shell's convention (130 for SIGINT, 143 for SIGTERM). A second
signal restores the default action and re-sends itself, so the process ends at once,
even inside a long XLA call; every file rljax writes is written atomically, so the
last complete checkpoint stays loadable.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from typing import Any

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class RunInterrupted(KeyboardInterrupt):
    """A run stopped by SIGINT / SIGTERM after a whole segment; ``str()`` says what was kept
    and how to continue. A ``KeyboardInterrupt``, so scripts that catch Ctrl-C catch it."""

    def __init__(self, signum: int, message: str):
        super().__init__(message)
        self.signum = signum
        self.exit_code = 128 + signum
        self.message = message

    def __str__(self) -> str:
        return self.message


class StopOnSignal:
    """Within ``with``: the first SIGINT / SIGTERM sets :attr:`signum` (see :meth:`requested`),
    a second ends the process at once. Does nothing outside the main thread (Python
    delivers signals only there)."""

    def __init__(self, stream: Any = None):
        self.signum: int | None = None
        self._previous: dict[int, Any] = {}
        self._stream = stream

    def requested(self) -> bool:
        """True once a first signal arrived."""
        return self.signum is not None

    def _handle(self, signum: int, frame: Any) -> None:
        if self.signum is None:
            self.signum = signum
            name = signal.Signals(signum).name
            print(
                f"\nrljax: {name}: stopping after the current segment and saving; {name} again stops at once",
                file=self._stream or sys.stderr,
                flush=True,
            )
            return
        self._restore()
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)

    def __enter__(self) -> StopOnSignal:
        if threading.current_thread() is threading.main_thread():
            for signum in SIGNALS:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def _restore(self) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous = {}

    def __exit__(self, *exc: Any) -> None:
        self._restore()
