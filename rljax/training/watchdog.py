"""A watchdog for compiled segments: a run that stops making progress ends, loudly.

A deadlock inside XLA (see the LAPACK note in :mod:`rljax.training.batch`) or a stuck
host callback leaves the main thread waiting in native code, where no Python
exception or Ctrl-C can reach it: the process would wait forever at 0% CPU.
The watchdog is a daemon thread. :class:`BatchRunner` calls :meth:`Watchdog.beat`
whenever a segment's results arrive. The run counts as hung when no beat comes for

    limit = max(min_seconds, factor * the longest gap between beats so far)

and the process is idle: it used less than ``BUSY_CORES`` of a core over the last
``min(limit, IDLE_WINDOW_SECONDS)``. A segment that is only slow keeps the CPU busy (a
first segment of 20,000 SAC steps on a Brax robot took over 600 s on a loaded 2-core
machine, its XLA threads computing all along) and is left to finish, up to
``busy_factor * limit`` (an endless loop inside a program is busy too). Only the
process's CPU time is read: a host waiting idle for a GPU is judged by the limit alone,
as before. Either way
it prints what it knows, every thread's Python stack (``faulthandler``) and,
where ``gdb`` is installed, every thread's native stack. Then:

- at the command line (``exit=os._exit``), it ends the process with
  :data:`EXIT_HANG`: nothing else can free a thread blocked in native code, and a
  process whose computation is stuck can hang at exit;
- in the Python API (``exit=None``, the default of ``rljax.train``), it raises
  :class:`RunStuck` in the caller, which waits for a segment by polling
  (:meth:`Watchdog.wait`) instead of blocking in native code: a notebook's kernel
  lives on, the stuck computation stays where it is.
"""

from __future__ import annotations

import faulthandler
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from typing import Any, Callable, TextIO

EXIT_HANG = 4
POLL_SECONDS = 0.005  # how often a waiting caller looks at its results and the watchdog


class RunStuck(RuntimeError):
    """No segment finished within the watchdog's limit (Python API; the command line exits instead)."""


DEFAULT_MIN_SECONDS = 600.0
DEFAULT_FACTOR = 20.0
DEFAULT_BUSY_FACTOR = 10.0
BUSY_CORES = 0.1  # process CPU time per second above which the run is computing, not waiting
IDLE_WINDOW_SECONDS = 60.0  # how far back "is it computing?" looks (at most the limit)


def native_stacks(timeout: float = 60.0) -> str:
    """Every thread's native stack of this process, from gdb (a note if gdb is not installed)."""
    gdb = shutil.which("gdb")
    if gdb is None:
        return "(native stacks: gdb is not installed)\n"
    # gdb stops every thread of this process while it reads them, the one waiting
    # for gdb included: its output goes to a file, since a pipe that nobody reads
    # fills up and gdb would block on it forever.
    with tempfile.TemporaryFile("w+") as log:
        try:
            subprocess.run(
                [gdb, "-p", str(os.getpid()), "-batch", "-nx", "-ex", "thread apply all bt 30"],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=timeout,
            )
        except (OSError, subprocess.TimeoutExpired) as e:
            return f"(native stacks: gdb failed: {e})\n"
        log.seek(0)
        text = log.read()
    return text if "Thread" in text else f"(native stacks: gdb gave none: {text.strip()[-300:]})\n"


class Watchdog:
    """Ends the process when :meth:`beat` is not called for far longer than expected.

    Args:
      min_seconds: the shortest limit (the first segment, with nothing to compare
        it to, gets this one). 0 or ``None`` turns the watchdog off.
      factor: the limit is at least ``factor`` times the longest gap seen so far.
      busy_factor: a process still computing past the limit (its CPU busy) is given
        up to ``busy_factor`` times the limit before it counts as stuck.
      advice: what the user should do, printed with the error (e.g. the resume command).
      exit: called with :data:`EXIT_HANG` after the report (default ``os._exit``;
        a test may pass its own); None: :meth:`wait` raises :class:`RunStuck` instead.
      stream: where the report goes (default stderr).
      native: also print native stacks (with gdb, where installed).
    """

    def __init__(
        self,
        min_seconds: float | None = DEFAULT_MIN_SECONDS,
        factor: float = DEFAULT_FACTOR,
        busy_factor: float = DEFAULT_BUSY_FACTOR,
        advice: str = "",
        exit: Callable[[int], None] | None = os._exit,
        stream: TextIO | None = None,
        native: bool = True,
    ):
        self.min_seconds = float(min_seconds or 0.0)
        self.factor = float(factor)
        self.busy_factor = max(1.0, float(busy_factor))
        self.advice = advice
        self._exit = exit
        self._stream = stream
        self._native = native
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._last = time.monotonic()
        self._longest = 0.0
        self._beats = 0
        self._what = "the first segment"
        self._thread: threading.Thread | None = None
        self._tripped: str | None = None  # the error, once tripped with exit=None

    @property
    def enabled(self) -> bool:
        return self.min_seconds > 0

    def limit(self) -> float:
        """Seconds without a beat after which the process counts as hung."""
        with self._lock:
            return max(self.min_seconds, self.factor * self._longest)

    def beat(self, what_next: str = "the next segment") -> None:
        """Progress: resets the clock; ``what_next`` names what is now awaited."""
        now = time.monotonic()
        with self._lock:
            self._longest = max(self._longest, now - self._last)
            self._last = now
            self._beats += 1
            self._what = what_next

    def wait(self, tree: Any) -> None:
        """Returns once every array of ``tree`` is computed; :class:`RunStuck` if the watchdog trips first.

        Waits through :meth:`call` (only when the watchdog raises instead of ending the
        process): a thread blocked in native code could not be woken to raise.
        """
        if self._exit is not None or not self.enabled:
            return
        import jax  # here, not at the top: the command line reads this module's defaults without JAX

        self.call(lambda: jax.block_until_ready(tree))

    def call(self, fn: Callable[[], Any]) -> Any:
        """``fn()``; with a watchdog that raises, on a daemon thread, so that :class:`RunStuck` can
        reach the caller even if ``fn`` blocks in native code (a dispatch behind a stuck program)."""
        if self._exit is not None or not self.enabled:
            return fn()
        box: dict[str, Any] = {}
        done = threading.Event()

        def run() -> None:
            try:
                box["value"] = fn()
            except BaseException as err:  # handed to the caller
                box["error"] = err
            finally:
                done.set()

        # A daemon thread, not a pool's: a thread stuck for good must not hold up the interpreter's exit.
        threading.Thread(target=run, name="rljax-dispatch", daemon=True).start()
        while not done.wait(POLL_SECONDS):
            if self._tripped is not None:
                raise RunStuck(self._tripped)
        if "error" in box:
            raise box["error"]
        return box["value"]

    def __enter__(self) -> "Watchdog":
        if self.enabled:
            self._last = time.monotonic()
            self._thread = threading.Thread(target=self._watch, name="rljax-watchdog", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()

    def _watch(self) -> None:
        samples: deque[tuple[float, float]] = deque([(time.monotonic(), time.process_time())])
        while not self._stop.wait(min(1.0, self.min_seconds / 4)):
            now, cpu = time.monotonic(), time.process_time()
            samples.append((now, cpu))
            with self._lock:
                waited = now - self._last
                limit = max(self.min_seconds, self.factor * self._longest)
                what, longest = self._what, self._longest
            window = min(limit, IDLE_WINDOW_SECONDS)
            while len(samples) > 2 and samples[1][0] <= now - window:
                samples.popleft()
            span, used = now - samples[0][0], cpu - samples[0][1]
            busy = span > 0 and used >= BUSY_CORES * span
            if waited > limit and not busy:
                self._trip(
                    waited, limit, what, longest, f"the process used {used:.1f} s of CPU in the last {span:.0f} s"
                )
                return
            if waited > self.busy_factor * limit:
                self._trip(
                    waited,
                    self.busy_factor * limit,
                    what,
                    longest,
                    f"the process is still computing ({used / span:.0%} of a core over the last {span:.0f} s), "
                    f"{self.busy_factor:g}x the {limit:.3g} s limit: an endless loop inside the program?",
                )
                return

    def _trip(self, waited: float, limit: float, what: str, longest: float, cpu: str) -> None:
        out = self._stream or sys.stderr
        seen = f"the slowest segment so far took {longest:.1f} s" if longest else "no segment has finished yet"
        print(
            f"rljax: no progress for {waited:.0f} s while waiting for {what} ({seen}; limit {limit:.0f} s; {cpu}): "
            "the run looks hung, so it stops here. Every thread's stack follows.",
            file=out,
            flush=True,
        )
        try:
            faulthandler.dump_traceback(file=out, all_threads=True)
        except (ValueError, OSError, AttributeError):  # a stream without a file descriptor
            import traceback

            for tid, frame in sys._current_frames().items():
                print(f"\nThread {tid:#x}:", file=out)
                traceback.print_stack(frame, file=out)
        if self._native:
            print("\nNative stacks:\n" + native_stacks(), file=out, flush=True)
        what_to_do = (
            "What to do: if segments are really this slow, raise the limit (--watchdog SECONDS, "
            "0 turns it off); otherwise this is a hang inside XLA or a callback: report it with the "
            "stacks above."
        )
        if self._exit is None:
            self._tripped = (
                f"no segment finished for {waited:.0f} s (limit {limit:.0f} s; the stacks are on stderr). "
                f"{what_to_do.replace('--watchdog SECONDS', 'watchdog_seconds=')} {self.advice}".rstrip()
            )
            return
        print(
            f"rljax: stopped after {waited:.0f} s without progress (exit code {EXIT_HANG}). "
            f"{what_to_do} {self.advice}".rstrip(),
            file=out,
            flush=True,
        )
        self._exit(EXIT_HANG)
