"""JAX's persistent compilation cache, on by default, and a check that it really works.

A training program takes seconds to compile (most of a short run); the same command
run again compiles the same program. With the cache on, XLA's executable is saved in
a user cache folder and the second run loads it instead of compiling.

* Folder: ``$RLJAX_COMPILE_CACHE`` if set to a path, else
  ``$XDG_CACHE_HOME/rljax/jax`` (``~/.cache/rljax/jax``). ``RLJAX_COMPILE_CACHE=off``
  (or ``0``, ``false``, ``no``), ``--no-compile-cache`` or ``compile_cache=False`` turn
  it off. The folder used is written in ``manifest.json``.
* Only programs that took at least :data:`MIN_COMPILE_SECONDS` to compile are saved
  (small helpers are cheaper to compile than to read back).
* It is checked, not assumed: :class:`CacheWatch` counts JAX's own cache events
  around a compile. Some CPUs reject every reloaded entry and recompile (jax issue
  38445: the XLA:CPU AOT loader refuses entries it wrote itself), so a "hit" that
  saved no time, or a read error, prints one line saying the cache is not working
  here and how to turn it off.
* Torn entries are removed. JAX writes an entry in place and never replaces one that
  exists (``jax._src.lru_cache.LRUCache.put``), so a process killed while writing
  leaves a truncated file that every later run fails to read and compiles around,
  for good. After a read error :func:`remove_torn_entries` deletes the entries that
  no longer decompress; the next run saves them again.

The cache is trusted code: do not point it at a folder others can write to.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

ENV_VAR = "RLJAX_COMPILE_CACHE"
OFF_VALUES = ("0", "off", "false", "no")
MIN_COMPILE_SECONDS = 1.0

_events: list[tuple[str, float]] = []
_events_lock = threading.Lock()


def _user_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/rljax/jax`` (``~/.cache/rljax/jax``)."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "rljax" / "jax"


def default_cache_dir() -> Path | None:
    """The folder the cache uses by default (None: turned off by ``$RLJAX_COMPILE_CACHE``)."""
    value = os.environ.get(ENV_VAR, "").strip()
    if value.lower() in OFF_VALUES:
        return None
    return Path(value).expanduser() if value else _user_cache_dir()


def resolve(compile_cache: bool | str | os.PathLike | None) -> Path | None:
    """The cache folder for an option value: None = the default, False = off, True = the default
    folder even if the environment variable turned it off, a path = that folder."""
    if compile_cache is None:
        return default_cache_dir()
    if compile_cache is False:
        return None
    if compile_cache is True:
        return _user_cache_dir()
    return Path(compile_cache).expanduser()


@contextlib.contextmanager
def using(folder: Path | None) -> Iterator[Path | None]:
    """JAX's persistent cache in ``folder`` (None: off) inside the block; yields the folder in use.

    On leaving, JAX's cache settings are what they were before and rljax's listeners
    for its events are gone: a run in the Python API leaves the process as it found it.
    JAX decides once per process whether it uses the cache, so each change of folder
    resets that decision.
    """
    import jax
    import jax.monitoring
    from jax.experimental.compilation_cache import compilation_cache

    before = (jax.config.jax_compilation_cache_dir, jax.config.jax_persistent_cache_min_compile_time_secs)
    wanted = None if folder is None else str(folder)
    if wanted is not None:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            print(f"rljax: compile cache off: cannot create {folder} ({err})", file=sys.stderr)
            wanted = None
    changed = wanted != before[0]
    if changed:
        jax.config.update("jax_compilation_cache_dir", wanted)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", MIN_COMPILE_SECONDS)
        compilation_cache.reset_cache()
    jax.monitoring.register_event_listener(_on_event)
    jax.monitoring.register_event_duration_secs_listener(_on_duration)
    try:
        yield None if wanted is None else Path(wanted)
    finally:
        jax.monitoring.unregister_event_listener(_on_event)
        jax.monitoring.unregister_event_duration_listener(_on_duration)
        if changed:
            jax.config.update("jax_compilation_cache_dir", before[0])
            jax.config.update("jax_persistent_cache_min_compile_time_secs", before[1])
            compilation_cache.reset_cache()


def _on_event(name: str, **_: Any) -> None:
    if name.startswith("/jax/compilation_cache/"):
        with _events_lock:
            _events.append((name, 0.0))


def _on_duration(name: str, seconds: float, **_: Any) -> None:
    if name.startswith("/jax/compilation_cache/"):
        with _events_lock:
            _events.append((name, float(seconds)))


@dataclass
class CacheStats:
    """What the cache did during one :class:`CacheWatch`."""

    folder: Path | None
    hits: int = 0
    misses: int = 0
    saved_s: float = 0.0  # compile time the hits saved (JAX's own estimate)
    read_errors: int = 0
    torn_removed: int = 0  # truncated entries (a writer killed mid-write) deleted after failing to read
    programs_loaded: int = 0  # traced programs loaded instead of traced (rljax.runs.program_cache)
    programs_saved: int = 0

    @property
    def working(self) -> bool | None:
        """True: a hit saved time; False: entries were found but not usable; None: nothing to tell."""
        if self.read_errors > self.torn_removed or (self.hits and self.saved_s <= 0.0):
            return False
        return True if self.hits else None

    def as_dict(self) -> dict[str, Any]:
        """For ``summary.json``."""
        return {
            "folder": None if self.folder is None else str(self.folder),
            "hits": self.hits,
            "misses": self.misses,
            "saved_s": round(self.saved_s, 3),
            "working": self.working,
            "programs_loaded": self.programs_loaded,
            "programs_saved": self.programs_saved,
        }


class CacheWatch:
    """Counts the cache's hits, misses and read errors while compiling inside ``with``."""

    def __init__(self, folder: Path | None):
        self.stats = CacheStats(folder)
        self._start = 0
        self._warnings: Any = None
        self._caught: list[warnings.WarningMessage] = []

    def __enter__(self) -> CacheWatch:
        with _events_lock:
            self._start = len(_events)
        self._warnings = warnings.catch_warnings(record=True)
        self._caught = self._warnings.__enter__()
        warnings.simplefilter("always")
        return self

    def __exit__(self, *exc: Any) -> None:
        self._warnings.__exit__(*exc)
        for w in self._caught:  # pass on every warning but JAX's cache-read errors
            if "persistent compilation cache" in str(w.message):
                self.stats.read_errors += 1
            else:
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno, source=w.source)
        with _events_lock:
            events = _events[self._start :]
        for name, seconds in events:
            if name.endswith("/cache_hits"):
                self.stats.hits += 1
            elif name.endswith("/cache_misses"):
                self.stats.misses += 1
            elif name.endswith("/compile_time_saved_sec"):
                self.stats.saved_s += seconds
        if self.stats.read_errors and self.stats.folder is not None:
            torn = remove_torn_entries(self.stats.folder)
            self.stats.torn_removed = len(torn)
            if torn:
                print(
                    f"rljax: removed {len(torn)} torn compile-cache entries from {self.stats.folder} "
                    "(a process was killed while writing them); the next run saves them again.",
                    file=sys.stderr,
                )
        if self.stats.folder is not None and self.stats.working is False:
            print(
                f"rljax: the compile cache in {self.stats.folder} is not working on this machine "
                f"({self.stats.read_errors} unreadable entries, {self.stats.hits} reloads saving "
                f"{self.stats.saved_s:.1f} s; see jax issue 38445): runs compile afresh. "
                f"Turn it off with {ENV_VAR}=off "
                f"or --no-compile-cache.",
                file=sys.stderr,
            )


def remove_torn_entries(folder: Path) -> list[Path]:
    """Deletes the entries of JAX's cache in ``folder`` that do not decompress; returns them.

    Only a truncated or garbled file fails here: an entry that decompresses but that XLA
    refuses to load (jax issue 38445) is left alone, since writing it again would not help.
    """
    from jax._src.compilation_cache import decompress_executable  # JAX's own reader of its entries

    torn = []
    for entry in sorted(Path(folder).glob("*-cache")):
        try:
            decompress_executable(entry.read_bytes())
        except OSError:
            continue  # gone or unreadable for another reason: not ours to judge
        except Exception:
            torn.append(entry)
            for path in (entry, entry.with_name(entry.name[: -len("-cache")] + "-atime")):
                with contextlib.suppress(OSError):
                    path.unlink()
    return torn
