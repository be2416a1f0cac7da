"""Files that are never half-written, and read back checked.

The bottom layer of everything rljax writes (run folders, reports, plots, GIFs): atomic
writes, JSON of NumPy values, fresh output folders (each under a writer lock,
:mod:`rljax.runs.locks`), the msgpack files with a checksum that checkpoints and agent
states are stored in, and the readers that turn an empty, cut-short or corrupted file
into a one-line :class:`DamagedFile` error naming it, never a traceback from a parser.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any, BinaryIO, Callable, Iterable, Sequence

from rljax._errors import ValidationError
from rljax.runs.locks import LOCK_FILE, _scope_stack, lock_folder


def write_bytes_atomic(
    path: str | os.PathLike, data: bytes | Iterable[bytes], keep_previous: str | os.PathLike | None = None
) -> None:
    """Writes ``data`` to ``path`` so that readers see the old file or the new, never half.

    ``data``: the bytes, or chunks of them (a large table written without holding it whole).
    ``keep_previous``: move the file ``path`` held (if any) there, once the new one is complete.
    A process killed mid-write leaves the old file and a ``.NAME.*.tmp`` beside it, which
    :func:`remove_torn_writes` clears.
    """

    def write(f: BinaryIO) -> None:
        for chunk in [data] if isinstance(data, (bytes, bytearray, memoryview)) else data:
            f.write(chunk)

    write_atomic(path, write, keep_previous)


def write_atomic(
    path: str | os.PathLike, write: Callable[[BinaryIO], None], keep_previous: str | os.PathLike | None = None
) -> None:
    """:func:`write_bytes_atomic` with ``write(file)`` writing the new file (it may seek)."""
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; results are meant to be shared
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        if keep_previous is not None and path.exists():
            # The new file is complete on disk before the old one moves: at every moment
            # a whole file sits at one of the two names (bar the instant between renames).
            os.replace(path, keep_previous)
        os.replace(tmp, path)
    except OSError as err:  # disk full, read-only, quota...: the old file is untouched; say which
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(err, WriteFailed):
            raise
        raise WriteFailed(
            err.errno, f"cannot write {path}: {err.strerror or err} (the previous file is unchanged)"
        ) from None
    except BaseException:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


_TORN_WRITE = re.compile(r"\..+\.[A-Za-z0-9_]{8}\.tmp")  # what mkstemp above names a file being written


def remove_torn_writes(folder: str | os.PathLike) -> list[str]:
    """Deletes the temporary files of atomic writes that a killed process left in ``folder``; their names.

    Call it only while holding the folder's writer lock: another writer's files in progress look the same.
    (A torn checkpoint's would otherwise stay, as large as the checkpoint, for good.)
    """
    removed = []
    for child in Path(folder).iterdir():
        if _TORN_WRITE.fullmatch(child.name) and child.is_file():
            child.unlink(missing_ok=True)
            removed.append(child.name)
    return removed


class WriteFailed(OSError):
    """A file could not be written (disk full, ...); the message names it; the old file is intact."""


def _fsync_dir(folder: Path) -> None:
    """Makes renames in ``folder`` durable (a crash right after could otherwise undo them)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # not possible everywhere (Windows); the rename itself is still atomic
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_json_atomic(path: str | os.PathLike, obj: Any) -> None:
    """Atomically writes ``obj`` as indented JSON (numpy values converted)."""
    write_bytes_atomic(path, (json.dumps(to_jsonable(obj), indent=2) + "\n").encode())


def to_jsonable(obj: Any) -> Any:
    """Converts numpy / jax scalars and arrays (recursively) to plain Python values."""
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if hasattr(obj, "tolist") and not isinstance(obj, (str, bytes)):
        return to_jsonable(obj.tolist())
    if isinstance(obj, float) and obj != obj:
        return None  # NaN is not JSON
    return obj


def check_out_dir(path: str | os.PathLike, overwrite: bool) -> None:
    """``FileExistsError`` for an output path that exists (without ``overwrite``) or is not a folder."""
    path = Path(path)
    if path.exists():
        if not overwrite:
            raise FileExistsError(f"output folder {str(path)!r} already exists; pass --overwrite to replace it")
        if not path.is_dir():
            raise FileExistsError(f"output path {str(path)!r} exists and is not a folder")


def prepare_out_dir(path: str | os.PathLike, overwrite: bool, command: str | Sequence[str] | None = None) -> Path:
    """Creates an empty output folder and takes its writer lock (see :func:`lock_folder`).

    An existing folder is refused unless ``overwrite``, and, even then, while another
    process writes it: the lock is taken before anything in it is deleted. Call it
    inside a :func:`releases_folder_locks` function, which releases the lock.
    """
    if not _scope_stack():
        raise RuntimeError("prepare_out_dir locks the folder: call it inside a @releases_folder_locks function")
    path = Path(path)
    check_out_dir(path, overwrite)
    if path.exists():
        lock_folder(path, command)  # refuses a folder another process writes, before deleting anything
        for child in path.iterdir():
            if child.name == LOCK_FILE:
                continue
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()
        return path
    path.mkdir(parents=True)  # FileExistsError if another process made it first
    lock_folder(path, command)
    return path


class DamagedFile(ValidationError):
    """A run-folder file that is empty, cut short or corrupted; the message names it and what is wrong."""


def _damaged(path: Path, why: str) -> DamagedFile:
    return DamagedFile(f"malformed {path.name} in {str(path.parent)!r}: {why}")


# msgpack bin values hold at most 4 GiB: larger bodies are stored in chunks.
_CHUNK = 1 << 30
_PACKED = "rljax-msgpack-sha256"


def _pack(payload: Any) -> bytes:
    """``payload`` as msgpack, wrapped with the SHA-256 of its bytes (a flipped byte is then caught)."""
    from flax import serialization

    out = io.BytesIO()
    _pack_to(out, [serialization.msgpack_serialize(payload)])
    return out.getvalue()


def _pack_to(f: BinaryIO, body: Iterable[bytes]) -> None:
    """Writes the msgpack bytes ``body`` yields, wrapped as :func:`_pack` wraps them, piece by piece:
    only the piece being written is held (a checkpoint then needs one array's copy, not the state's).

    The file reads back with :func:`_unpack` like :func:`_pack`'s: its record lists the body's
    chunks first and their SHA-256 last, and the chunk count is written once it is known.
    Build ``body`` with :func:`map_header` and :func:`map_entry`.
    """
    import msgpack

    def bin_header(n: int) -> bytes:
        return b"\xc4" + n.to_bytes(1, "big") if n < 256 else b"\xc6" + n.to_bytes(4, "big")

    digest, chunks = hashlib.sha256(), 0
    f.write(b"\x83" + msgpack.packb("format") + msgpack.packb(_PACKED) + msgpack.packb("body"))
    count_at = f.tell()
    f.write(b"\xdd" + (0).to_bytes(4, "big"))  # an array of (so far) 0 chunks
    for piece in body:
        view = memoryview(piece)
        for i in range(0, len(view), _CHUNK):
            chunk = view[i : i + _CHUNK]
            f.write(bin_header(len(chunk)))
            f.write(chunk)
            digest.update(chunk)
            chunks += 1
    f.write(msgpack.packb("sha256") + msgpack.packb(digest.hexdigest()))
    end = f.tell()
    f.seek(count_at + 1)
    f.write(chunks.to_bytes(4, "big"))
    f.seek(end)


def map_header(count: int) -> bytes:
    """The msgpack bytes that open a map of ``count`` entries (for :func:`_pack_to`)."""
    import msgpack

    return msgpack.Packer().pack_map_header(count)


def map_key(key: str) -> bytes:
    """A map key's msgpack bytes (for an entry whose value :func:`_pack_to` is given in pieces)."""
    import msgpack

    return msgpack.packb(key)


def map_entry(key: str, value: Any) -> bytes:
    """One map entry's msgpack bytes, as flax encodes it inside a whole map (large arrays in chunks)."""
    from flax import serialization

    return serialization.msgpack_serialize({key: value})[1:]  # without the one-entry map's header


def map_entry_pieces(key: str, value: Any) -> list[bytes | memoryview]:
    """:func:`map_entry`'s bytes in pieces, an array's data as a view of its memory, not a copy.

    Writing a checkpoint was mostly copying: ``tobytes``, msgpack's buffer, the slice
    without the map header (2.7 of 5.3 s for 440 MiB). The pieces join to exactly
    :func:`map_entry`'s bytes (tested); arrays that flax would chunk (over 1 GiB), object
    dtypes and non-arrays go through :func:`map_entry`.
    """
    import msgpack
    import numpy as np  # here: the command line's argument checks import this module without numpy
    from flax import serialization

    if (
        not isinstance(value, np.ndarray)
        or value.dtype.hasobject
        or value.dtype.isalignedstruct
        or value.nbytes > serialization.MAX_CHUNK_SIZE
    ):
        return [map_entry(key, value)]
    data = np.ascontiguousarray(value).reshape(-1).view(np.uint8)
    n = data.size
    # flax's ndarray: ExtType(1, packb((shape, dtype name, raw bytes))), as msgpack writes them.
    inner = b"\x93" + msgpack.packb(value.shape) + msgpack.packb(value.dtype.name)
    inner += _sized(n, b"\xc4\xc5\xc6")  # bin 8 / 16 / 32
    size = len(inner) + n
    fixext = {1: b"\xd4", 2: b"\xd5", 4: b"\xd6", 8: b"\xd7", 16: b"\xd8"}
    ext = fixext[size] if size in fixext else _sized(size, b"\xc7\xc8\xc9")  # ext 8 / 16 / 32
    ext += int(serialization._MsgpackExtType.ndarray).to_bytes(1, "big", signed=True)
    return [msgpack.packb(key) + ext + inner, memoryview(data)]


def _sized(n: int, tags: bytes) -> bytes:
    """msgpack's header for a length ``n``: ``tags[0]`` and 1 byte, ``tags[1]`` and 2, or ``tags[2]`` and 4."""
    width = 0 if n <= 0xFF else 1 if n <= 0xFFFF else 2
    return tags[width : width + 1] + n.to_bytes(1 << width, "big")


def _restore_msgpack(path: Path, data: bytes) -> Any:
    from flax import serialization

    try:
        return serialization.msgpack_restore(data)
    except Exception as err:  # msgpack and flax's array hook raise many kinds on bad bytes
        why = "ends early (truncated?)" if "incomplete" in str(err) else "not msgpack data (corrupted?)"
        raise _damaged(path, why) from None


def _unpack(path: Path) -> Any:
    """What :func:`_pack` wrote to ``path`` (or a file of an older rljax, without the checksum).

    Raises :class:`DamagedFile` for an unreadable, empty, cut-short or corrupted file.
    """
    try:
        data = path.read_bytes()
    except OSError as err:
        raise _damaged(path, f"cannot read it ({err.strerror or err})") from None
    if not data:
        raise _damaged(path, "empty file")
    # Each copy of the bytes is dropped as soon as the next exists (a checkpoint of a thousand
    # seeds is gigabytes): the file's, then its chunks, then the joined body.
    payload = _restore_msgpack(path, data)
    del data
    if isinstance(payload, dict) and payload.get("format") == _PACKED:
        chunks, digest = payload.pop("body", None), payload.get("sha256")
        del payload
        if not isinstance(chunks, list) or not all(isinstance(c, bytes) for c in chunks) or not isinstance(digest, str):
            raise _damaged(path, "its checksum record is broken (corrupted?)")
        body = b"".join(chunks)
        del chunks
        if hashlib.sha256(body).hexdigest() != digest:
            raise _damaged(path, "checksum mismatch (corrupted?)")
        payload = _restore_msgpack(path, body)
    return payload


def _read_json(path: Path) -> Any:
    """A JSON file; :class:`DamagedFile` (one line, naming it) if empty, cut short or not JSON."""
    try:
        data = path.read_bytes()
    except OSError as err:
        raise ValidationError(f"cannot read {path.name} in {str(path.parent)!r}: {err}") from None
    if not data.strip():
        raise _damaged(path, "empty file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise _damaged(path, "not UTF-8 text (corrupted?)") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        where = f"{err.msg} at line {err.lineno} column {err.colno}"
        # A file cut short fails at its very end, inside the string it ends in, or on
        # the start of the literal it ends in (``nu`` of null, ``-`` of a number).
        if err.pos >= len(text.rstrip()) or err.msg.startswith("Unterminated string") or _cut_literal(text[err.pos :]):
            raise _damaged(path, f"ends early (truncated?): {where}") from None
        raise _damaged(path, f"not valid JSON: {where}") from None


def _cut_literal(tail: str) -> bool:
    """Is ``tail`` (a JSON text from where parsing failed) the beginning of one literal and nothing else?"""
    tail = tail.rstrip()
    words = ("null", "true", "false", "NaN", "Infinity", "-Infinity")
    return bool(tail) and (any(w.startswith(tail) for w in words) or re.fullmatch(r"-?[0-9.eE+-]*", tail) is not None)


def _read_json_object(path: Path) -> dict[str, Any]:
    """A JSON file that must hold an object (``run.json``, ``sweep.json``)."""
    obj = _read_json(path)
    if not isinstance(obj, dict):
        raise _damaged(path, f"expected a JSON object, got {type(obj).__name__}")
    return obj
