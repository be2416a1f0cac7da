"""Files that are never half-written: atomic writes, JSON of NumPy values, fresh output folders.

The bottom layer of everything rljax writes (run folders, reports, plots, GIFs).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> None:
    """Writes ``data`` to ``path`` so that readers see the old file or the new, never half."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; results are meant to be shared
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


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


def prepare_out_dir(path: str | os.PathLike, overwrite: bool) -> Path:
    """Creates an empty run folder; refuses an existing one unless ``overwrite``."""
    path = Path(path)
    if path.exists():
        if not overwrite:
            raise FileExistsError(f"output folder {str(path)!r} already exists; pass --overwrite to replace it")
        if not path.is_dir():
            raise FileExistsError(f"output path {str(path)!r} exists and is not a folder")
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path
