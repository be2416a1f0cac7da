"""Run folders: atomic file writes, the manifest, and the long metrics table."""

from __future__ import annotations

import csv
import io
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any, Iterable

import numpy as np


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


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def git_commit(cwd: str | os.PathLike | None = None) -> str | None:
    """The commit of the code checkout, when rljax runs from one."""
    cwd = cwd or Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def versions() -> dict[str, Any]:
    """Versions of rljax and its stack, and the device it runs on."""
    import jax

    from rljax._version import __version__

    devices = jax.devices()
    return {
        "rljax": __version__,
        "jax": jax.__version__,
        "jaxlib": _version("jaxlib"),
        "flax": _version("flax"),
        "optax": _version("optax"),
        "gymnax": _version("gymnax"),
        "python": platform.python_version(),
        "device": devices[0].platform,
        "device_kind": devices[0].device_kind,
        "device_count": len(devices),
    }


def manifest(seeds: Iterable[int], argv: list[str] | None = None) -> dict[str, Any]:
    """What produced a run: versions, device, git commit, command line, seeds."""
    return {
        "versions": versions(),
        "git_commit": git_commit(),
        "command": argv if argv is not None else sys.argv,
        "seeds": [int(s) for s in seeds],
    }


METRIC_COLUMNS = ("seed", "config", "step", "metric", "value")


def metrics_rows(
    seeds: list[int], config_ids: list[int], metrics: dict[str, np.ndarray], segment: int
) -> str:
    """CSV rows (no header) of one segment's metrics in the long format."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    steps = metrics["env_steps"]
    for i, (seed, cid) in enumerate(zip(seeds, config_ids)):
        for name, values in metrics.items():
            if name == "env_steps":
                continue
            writer.writerow([seed, cid, int(steps[i]), name, float(values[i])])
    return buf.getvalue()


class MetricsTable:
    """Appends whole segments to ``metrics.csv`` (seed, config, step, metric, value).

    Each segment's rows go in one write followed by fsync, so the table grows while
    the run goes and memory stays bounded however long it is.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        if not self.path.exists():
            write_bytes_atomic(self.path, (",".join(METRIC_COLUMNS) + "\n").encode())

    def append(self, rows: str) -> None:
        with open(self.path, "a") as f:
            f.write(rows)
            f.flush()
            os.fsync(f.fileno())


CHECKPOINT_FILE = "checkpoint.msgpack"


def save_checkpoint(
    run_dir: str | os.PathLike, state: Any, history: list[dict[str, np.ndarray]]
) -> None:
    """Atomically saves the whole packed training state and the metrics so far.

    The state is every array the run carries: parameters, optimiser state, replay
    buffer, environment states, keys, counters. Restored into the same compiled
    program, the run continues bitwise as if it had never stopped.
    """
    import jax
    from flax import serialization

    leaves = [np.asarray(x) for x in jax.tree.leaves(state)]
    payload = {
        "segments_done": len(history),
        "state": {str(i): leaf for i, leaf in enumerate(leaves)},
        "history": [{k: np.asarray(v) for k, v in h.items()} for h in history],
    }
    write_bytes_atomic(Path(run_dir) / CHECKPOINT_FILE, serialization.msgpack_serialize(payload))


def load_checkpoint(run_dir: str | os.PathLike, template: Any) -> tuple[Any, list[dict[str, np.ndarray]]]:
    """Restores ``(state, history)`` saved by :func:`save_checkpoint`.

    ``template`` is a pytree of the state's shapes (``jax.eval_shape`` of init);
    a checkpoint of another shape is an error, not a silent mix.
    """
    import jax
    from flax import serialization

    path = Path(run_dir) / CHECKPOINT_FILE
    payload = serialization.msgpack_restore(path.read_bytes())
    spec_leaves, treedef = jax.tree.flatten(template)
    leaves = [payload["state"][str(i)] for i in range(len(payload["state"]))]
    if len(leaves) != len(spec_leaves) or any(
        tuple(a.shape) != tuple(b.shape) or a.dtype != b.dtype for a, b in zip(leaves, spec_leaves)
    ):
        raise ValueError(f"checkpoint {path} does not match this run's state (different config or code)")
    history = [dict(h) for h in payload["history"]]
    return jax.tree.unflatten(treedef, [jax.numpy.asarray(x) for x in leaves]), history


AGENT_STATE_FILE = "agent_state.msgpack"


def save_agent_states(run_dir: str | os.PathLike, agent_states: Any) -> None:
    """Atomically saves every run's final agent state (unpacked: leading axis = run)."""
    import jax
    from flax import serialization

    leaves = {str(i): np.asarray(x) for i, x in enumerate(jax.tree.leaves(agent_states))}
    write_bytes_atomic(Path(run_dir) / AGENT_STATE_FILE, serialization.msgpack_serialize(leaves))


def load_agent_state(run_dir: str | os.PathLike, template: Any, run_index: int) -> Any:
    """Run ``run_index``'s agent state from :func:`save_agent_states`.

    ``template`` is the pytree of ONE run's agent state (shapes only are used).
    """
    import jax
    from flax import serialization

    payload = serialization.msgpack_restore((Path(run_dir) / AGENT_STATE_FILE).read_bytes())
    spec, treedef = jax.tree.flatten(template)
    leaves = [payload[str(i)][run_index] for i in range(len(payload))]
    if len(leaves) != len(spec) or any(tuple(a.shape) != tuple(b.shape) for a, b in zip(leaves, spec)):
        raise ValueError(f"{run_dir}/{AGENT_STATE_FILE} does not match this agent's state")
    return jax.tree.unflatten(treedef, [jax.numpy.asarray(x) for x in leaves])
