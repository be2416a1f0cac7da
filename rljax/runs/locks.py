"""Folders with one writer at a time: the writer lock (``DIR/.rljax.lock``) that keeps a second
``rljax train`` / ``rljax sweep`` out of a folder another process is writing, taken over from a
holder that died.
"""

from __future__ import annotations

import errno
import functools
import json
import os
import shlex
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Sequence, TypeVar

from rljax._errors import ValidationError

try:
    import fcntl
except ImportError:  # not POSIX (Windows): locks fall back to the recorded pid
    fcntl = None  # type: ignore[assignment]


# --------------------------------------------------------------------------- one writer per folder

LOCK_FILE = ".rljax.lock"


class FolderInUse(ValidationError):
    """The folder's writer lock is held by another process that is still running."""


class FolderLock:
    """The writer lock of one folder: the file ``DIR/.rljax.lock``, held with ``flock``.

    Why ``flock``: the OS drops it when its process ends, however it ends (SIGKILL, out
    of memory), so the lock file a killed run leaves behind holds nothing and the next
    writer takes it over (saying so on stderr) instead of waiting forever. The file
    records who holds it (pid, host, command, start time) for the message that refuses
    a second writer. Where ``flock`` is missing (Windows, a filesystem without locks)
    the record decides: a lock whose pid no longer runs on this host is stale.

    The lock is per open file, so a second lock of the same folder in the same
    process is refused too. Released by :meth:`release` (or ``with``), which removes
    the file.
    """

    def __init__(self, folder: str | os.PathLike, command: str | Sequence[str] | None = None):
        self.folder = Path(folder)
        self.path = self.folder / LOCK_FILE
        self.command = _command_line(command)
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        """Whether this object holds the lock now."""
        return self._fd is not None

    def acquire(self) -> FolderLock:
        """Takes the lock; raises :class:`FolderInUse` (naming the holder) if a running process holds it."""
        if self._fd is not None:
            raise RuntimeError(f"{self.path} is already held by this FolderLock")
        if not self.folder.is_dir():
            raise ValidationError(f"cannot lock {str(self.folder)!r}: not a folder")
        while True:
            fd, created = self._open()
            try:
                got = _try_flock(fd)
                previous = _read_record(fd)
                if got is False or (got is None and not created and _holder_alive(previous)):
                    raise FolderInUse(
                        f"{str(self.folder)!r} is being written by another process ({_describe(previous)}); "
                        f"wait for it to end or stop it"
                    )
                if self._linked(fd):
                    break
            except BaseException:
                os.close(fd)
                raise
            # The holder released it (removing the file) between our open and our flock: again.
            os.close(fd)
        if not created and previous:
            print(
                f"rljax: taking over the stale lock {str(self.path)!r} of a process that ended without "
                f"releasing it ({_describe(previous)})",
                file=sys.stderr,
            )
        record = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "command": self.command,
            "started": round(time.time(), 3),
            "started_at": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        }
        try:
            os.ftruncate(fd, 0)
            os.lseek(fd, 0, os.SEEK_SET)
            os.write(fd, (json.dumps(record) + "\n").encode())
            os.fsync(fd)
        except BaseException:
            self._fd = fd
            self.release()
            raise
        self._fd = fd
        return self

    def release(self) -> None:
        """Removes the lock file and lets go of the lock (nothing if not held)."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            # Removed while still locked: whoever opened it meanwhile sees it gone and starts again.
            if self._linked(fd):
                os.unlink(self.path)
        except OSError:
            pass  # the folder itself is gone
        finally:
            os.close(fd)

    def __enter__(self) -> FolderLock:
        return self if self.held else self.acquire()

    def __exit__(self, *exc: Any) -> None:
        self.release()

    def _open(self) -> tuple[int, bool]:
        """The lock file's descriptor, and whether this call created the file."""
        while True:
            try:
                return os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o666), True
            except FileExistsError:
                pass
            try:
                return os.open(self.path, os.O_RDWR), False
            except FileNotFoundError:
                continue  # released between the two opens

    def _linked(self, fd: int) -> bool:
        """Whether ``fd`` is still the file at :attr:`path` (a released lock's file is removed)."""
        try:
            here, ours = os.stat(self.path), os.fstat(fd)
        except OSError:
            return False
        return (here.st_dev, here.st_ino) == (ours.st_dev, ours.st_ino)


def _try_flock(fd: int) -> bool | None:
    """True: locked; False: another open file holds the lock; None: no ``flock`` here."""
    if fcntl is None:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    except OSError as err:
        if err.errno in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL):
            return None  # a filesystem without locks: the recorded pid decides
        raise
    return True


def _read_record(fd: int) -> dict[str, Any]:
    """Who holds (or held) the lock, as recorded in the file; {} if nothing readable is."""
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        record = json.loads(os.read(fd, 65536).decode())
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def _holder_alive(record: dict[str, Any]) -> bool:
    """Without ``flock``: whether the recorded holder may still run (unknown counts as yes)."""
    pid = record.get("pid")
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return False
    if record.get("host") != socket.gethostname() or os.name != "posix":
        return True  # cannot tell (and on Windows os.kill(pid, 0) would end the process)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # e.g. PermissionError: it runs, as another user
    return True


def _describe(record: dict[str, Any]) -> str:
    """``pid 123 on host, started 2025-01-02 10:11:12, command: rljax train ...``, from a lock record."""
    if not record:
        return "it has not recorded who it is yet"
    started = record.get("started")
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(started)) if isinstance(started, (int, float)) else "?"
    return (
        f"pid {record.get('pid', '?')} on {record.get('host', '?')}, started {when}, "
        f"command: {_command_line(record.get('command') or '?')}"
    )


def _command_line(command: str | Sequence[str] | None) -> str:
    """A command as one short line (messages are one line): this process's own by default."""
    if command is None:
        argv = list(sys.argv)
        command = [Path(sys.executable).name, *argv] if not argv or argv[0] in ("", "-c", "-m") else argv
    text = command if isinstance(command, str) else shlex.join(str(a) for a in command)
    text = " ".join(text.split())
    return text if len(text) <= 300 else text[:297] + "..."


_scopes = threading.local()


def _scope_stack() -> list[list[FolderLock]]:
    stack = getattr(_scopes, "stack", None)
    if stack is None:
        stack = _scopes.stack = []
    return stack


F = TypeVar("F", bound=Callable[..., Any])


def releases_folder_locks(fn: F) -> F:
    """Decorator: the locks ``fn`` takes with :func:`lock_folder` (or :func:`prepare_out_dir`)
    are released when it returns or raises (Ctrl-C included).

    Why a decorator: a run holds its folder from the moment the folder is made to the
    end of the function, so the release belongs to the function's exit, not to a block.
    """

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        stack = _scope_stack()
        stack.append([])
        try:
            return fn(*args, **kwargs)
        finally:
            for lock in reversed(stack.pop()):
                lock.release()

    return wrapper  # type: ignore[return-value]


def lock_folder(folder: str | os.PathLike, command: str | Sequence[str] | None = None) -> FolderLock:
    """Takes ``folder``'s writer lock (:class:`FolderLock`); ``command`` is recorded for messages
    (default: this process's command line).

    Raises :class:`FolderInUse` (a ``ValueError``) naming the other process if it holds it.
    Inside a :func:`releases_folder_locks` function the lock is released when that ends;
    elsewhere by the caller (``with lock_folder(d): ...``).
    """
    lock = FolderLock(folder, command).acquire()
    stack = _scope_stack()
    if stack:
        stack[-1].append(lock)
    return lock
