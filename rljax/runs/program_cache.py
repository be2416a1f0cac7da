"""Traced programs saved beside the compile cache, so that a repeated run skips Python's tracing.

JAX's persistent compile cache (:mod:`rljax.runs.compile_cache`) saves XLA's work, but it
looks an executable up by the lowered program, so every run still traces and lowers
its programs in Python first: for the default DQN on the 2-core CPU, ~1.9 s of a
2.0 s cached compile. This cache saves the lowered programs themselves
(``jax.export``: StableHLO and their calling convention) and a repeated run compiles
those, skipping the trace.

* Where: ``programs/`` inside the compile-cache folder; on and off with it.
* Which runs: those that ask for it (``rljax train`` and ``rljax sweep`` do, the Python
  API's ``trace_cache=True``), single-process, of a built-in agent on a built-in or
  gymnax environment (:func:`rljax.experiment.train` decides). A user's agent or a
  registered callable may read state the key cannot see, so those are traced every time.
  Off by default in the Python API: the key checks the source *files*, and a process
  that replaced a function in memory (a notebook, a script that patches an agent's
  helper) would otherwise get the program of the code the files hold. A command
  line's process runs only code loaded from files.
* Key: what the caller says built the program (agent, environment and its options,
  the first configuration, the schedule), the arguments' tree, shapes, dtypes and
  shardings, the devices, the versions of Python, JAX and jaxlib, and every JAX
  flag. Hyperparameters that are traced are arguments: their values are not part
  of the program.
* Staleness: an entry lists every Python module that was loaded when it was written,
  with its file's path, size and modification time (as Python's own bytecode cache
  checks); a changed or missing file, or a module now loaded from another file (another
  environment, ``PYTHONPATH``), makes the entry stale, and the run traces afresh and
  rewrites it. Editing rljax, gymnax, flax, ... therefore never reuses an old trace.
* An unreadable or mismatched entry is a miss, never an error.

A program goes through ``jax.export`` whether the entry is new or loaded, so a run's
numbers do not depend on the cache: the first run and every later one compile the
same module (and XLA's cache then finds it). Measured on the default DQN: bitwise
the same state and metrics as the direct ``jit`` path; the only difference in the
optimised programs is that the exported ones keep their unused parameters.

The cache is trusted code, like JAX's: do not point it at a folder others can write to.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import pickle
import platform
import struct
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rljax.runs.files import write_bytes_atomic

FORMAT = 2
SUBFOLDER = "programs"
_MAGIC = b"rljax-programs\n"


def _module_file(module: Any) -> str | None:
    # Read from the module's dict: getattr would load a lazy or deferred module
    # (rljax._deferred_imports: seaborn, pyplot; ~1 s), which no trace used.
    try:
        return object.__getattribute__(module, "__dict__").get("__file__")
    except (AttributeError, TypeError):
        return None


def loaded_sources() -> dict[str, list[Any]]:
    """Every loaded module -> ``[file, size, mtime_ns]`` (what an entry is checked against)."""
    sources = {}
    for name, module in list(sys.modules.items()):
        path = _module_file(module)
        if not path:
            continue
        try:
            stat = os.stat(path)
        except OSError:
            continue
        sources[name] = [path, stat.st_size, stat.st_mtime_ns]
    return sources


def _unchanged(sources: dict[str, list[Any]]) -> bool:
    """True if every module an entry lists is, where loaded now, the same file, and no file changed.

    The first check catches another copy of a package on the path (a different
    environment or ``PYTHONPATH``) whose files elsewhere are unchanged.
    """
    for name, (path, size, mtime_ns) in sources.items():
        module = sys.modules.get(name)
        if module is not None and _module_file(module) not in (None, path):
            return False
        try:
            stat = os.stat(path)
        except OSError:
            return False
        if stat.st_size != size or stat.st_mtime_ns != mtime_ns:
            return False
    return True


def arguments_fingerprint(args: Any) -> str:
    """The tree, shapes, dtypes and shardings of a program's arguments (their values do not matter)."""
    import jax

    leaves, tree = jax.tree.flatten(args)
    return json.dumps([str(tree), [[list(x.shape), str(x.dtype), str(getattr(x, "sharding", None))] for x in leaves]])


def _environment() -> dict[str, Any]:
    """What else decides a trace: versions, devices and JAX's flags."""
    import jax
    import jaxlib

    return {
        "python": sys.version,
        "machine": platform.machine(),
        "jax": jax.__version__,
        "jaxlib": jaxlib.__version__,
        "backend": jax.default_backend(),
        "devices": [[d.platform, d.device_kind, d.id] for d in jax.devices()],
        "flags": {k: repr(v) for k, v in sorted(jax.config.values.items())},
    }


def _flattened(exported: Any) -> Any:
    """``exported`` with its argument and result structures replaced by flat tuples of as many leaves."""
    import jax

    return dataclasses.replace(
        exported,
        in_tree=jax.tree.structure((tuple(range(exported.in_tree.num_leaves)), {})),
        out_tree=jax.tree.structure(tuple(range(exported.out_tree.num_leaves))),
    )


@dataclass
class ProgramCache:
    """Saved ``jax.export`` programs under ``folder / programs``, for one identity.

    ``identity`` names what built the programs (see the module docstring); the
    runner adds its arguments with :meth:`key`. :attr:`loaded` and :attr:`saved`
    count programs, for ``summary.json``.
    """

    folder: Path
    identity: str
    loaded: int = 0
    saved: int = 0
    notes: list[str] = field(default_factory=list)  # warnings the tracing gave, repeated on a load

    def key(self, args: Any) -> str:
        """The entry's name for programs taking ``args`` (shapes, dtypes and shardings)."""
        material = json.dumps([FORMAT, self.identity, arguments_fingerprint(args), _environment()])
        return hashlib.sha256(material.encode()).hexdigest()

    def _path(self, key: str) -> Path:
        return self.folder / SUBFOLDER / f"{key}.bin"

    def load(self, key: str) -> dict[str, Any] | None:
        """The entry's programs (name -> ``jax.export.Exported``), or None: missing, stale or unreadable."""
        from jax import export

        try:
            data = self._path(key).read_bytes()
            if not data.startswith(_MAGIC):
                return None
            at = len(_MAGIC)
            (header_len,) = struct.unpack_from("<Q", data, at)
            at += 8
            header = json.loads(data[at : at + header_len])
            at += header_len
            if header.get("format") != FORMAT or not _unchanged(header["sources"]):
                return None
            trees = pickle.loads(data[at : at + header["trees"]])
            at += header["trees"]
            programs = {}
            for name, size in header["programs"]:
                flat = export.deserialize(bytearray(data[at : at + size]))
                programs[name] = dataclasses.replace(flat, in_tree=trees[name][0], out_tree=trees[name][1])
                at += size
        except Exception:  # a missing, truncated or foreign file: trace afresh
            return None
        self.notes = list(header.get("notes", []))
        self.loaded = len(programs)
        return programs

    def save(self, key: str, programs: dict[str, Any]) -> None:
        """Writes the entry atomically (a reader sees the old file or the whole new one); never raises."""
        # jax.export serialises a pytree's structure only for node types registered with it
        # (optax's states, flax's structs, rljax's configs are not): the structures are
        # pickled apart, and the programs serialised with flat ones of the same leaves.
        trees = pickle.dumps({name: (e.in_tree, e.out_tree) for name, e in programs.items()})
        blobs = [(name, bytes(_flattened(exported).serialize())) for name, exported in programs.items()]
        header = json.dumps(
            {
                "format": FORMAT,
                "identity": self.identity,
                "trees": len(trees),
                "programs": [[name, len(blob)] for name, blob in blobs],
                "notes": self.notes,
                "sources": loaded_sources(),
            }
        ).encode()
        try:
            write_bytes_atomic(
                self._path(key),
                _MAGIC + struct.pack("<Q", len(header)) + header + trees + b"".join(b for _, b in blobs),
            )
        except OSError as err:  # a full disk or a read-only folder costs the next run its trace, nothing more
            print(f"rljax: could not save the traced programs ({err})", file=sys.stderr)
            return
        self.saved = len(blobs)
