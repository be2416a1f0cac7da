"""The run folder, both ways: everything rljax writes into one, and reads back out of it.

Written: ``run.json`` (what was trained), ``manifest.json`` (versions, command),
``metrics.csv`` (the long metrics table, one fsynced segment at a time),
``summary.json``, checkpoints (the newest and the one before it) and the final
agent states, all atomically; the msgpack files carry a checksum of their contents.
Read back: :func:`load_runs` (summaries and curves, for reports),
:func:`read_spec` / :func:`resolve_run_dir` and :func:`load_agent_state` (for
:func:`rljax.load_policy`), :func:`load_checkpoint` (for ``--resume``). A file that
is empty, cut short or corrupted is a one-line ``ValueError`` naming it and what is
wrong with it (:class:`DamagedFile`), never a traceback from a parser.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import platform
import re
import subprocess
import sys
from dataclasses import dataclass, field
from functools import cached_property
from importlib import metadata
from pathlib import Path
from typing import Any, Iterable, NamedTuple, Sequence

import numpy as np

from rljax.files import WriteFailed, to_jsonable, write_bytes_atomic


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def git_commit(cwd: str | os.PathLike | None = None) -> str | None:
    """The commit of the code checkout, when rljax runs from one."""
    cwd = cwd or Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=5)
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


def manifest(
    seeds: Iterable[int], argv: list[str] | None = None, compile_cache: str | os.PathLike | None = None
) -> dict[str, Any]:
    """What produced a run: versions, device, git commit, command line, seeds, the compile cache folder."""
    return {
        "versions": versions(),
        "git_commit": git_commit(),
        "command": argv if argv is not None else sys.argv,
        "seeds": [int(s) for s in seeds],
        "compile_cache_dir": None if compile_cache is None else str(compile_cache),
    }


class DamagedFile(ValueError):
    """A run-folder file that is empty, cut short or corrupted; the message names it and what is wrong."""


def _damaged(path: Path, why: str) -> DamagedFile:
    return DamagedFile(f"malformed {path.name} in {str(path.parent)!r}: {why}")


METRIC_COLUMNS = ("seed", "config", "step", "metric", "value")
METRIC_HEADER = ",".join(METRIC_COLUMNS) + "\n"


def metrics_rows(seeds: list[int], config_ids: list[int], metrics: dict[str, np.ndarray], segment: int) -> str:
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
        if self.path.exists():
            self._repair()
        else:
            write_bytes_atomic(self.path, METRIC_HEADER.encode())

    def _repair(self) -> None:
        """Makes an existing table (one being resumed) safe to append to.

        A resumed run rewrites its whole table from the checkpoint when it ends, so a
        damaged one can lose its rows; until then new segments must land on whole
        lines under the header: a cut-short last row goes, a table without its
        header (empty, corrupted) starts again from the header.
        """
        header = METRIC_HEADER.encode()
        with open(self.path, "rb+") as f:
            data = f.read()
            if not data.startswith(header):
                f.seek(0)
                f.truncate()
                f.write(header)
            elif not data.endswith(b"\n"):
                f.truncate(data.rfind(b"\n") + 1)
            f.flush()
            os.fsync(f.fileno())

    def append(self, rows: str) -> None:
        """Appends whole rows and fsyncs them; a failed write (disk full) names the file."""
        try:
            with open(self.path, "a") as f:
                f.write(rows)
                f.flush()
                os.fsync(f.fileno())
        except OSError as err:  # a partial last row is dropped when the table is reopened (resume)
            raise WriteFailed(err.errno, f"cannot append to {self.path}: {err.strerror or err}") from None


CHECKPOINT_FILE = "checkpoint.msgpack"
# The checkpoint before the newest, kept so that a damaged newest one costs some segments, not the run.
PREVIOUS_CHECKPOINT_FILE = "checkpoint.prev.msgpack"
# Where --resume moves a damaged newest checkpoint (kept for a look; the next save must not rotate it
# over the good previous one).
DAMAGED_CHECKPOINT_FILE = "checkpoint.damaged.msgpack"
# A multi-process run: each process saves its own shards of the state (gathering them on one host
# does not scale to a thousand seeds of replay buffers), in files named by its index and the count.
_SHARDED_CHECKPOINT = re.compile(r"checkpoint\.p(\d+)-of-(\d+)\.(?:prev\.)?msgpack")


def checkpoint_files(process_index: int = 0, process_count: int = 1) -> tuple[str, str, str]:
    """Names of one process's newest, previous and damaged checkpoint files (one process: the plain names)."""
    if process_count == 1:
        return CHECKPOINT_FILE, PREVIOUS_CHECKPOINT_FILE, DAMAGED_CHECKPOINT_FILE
    stem = f"checkpoint.p{process_index}-of-{process_count}"
    return f"{stem}.msgpack", f"{stem}.prev.msgpack", f"{stem}.damaged.msgpack"


def _other_layout(run_dir: Path, process_count: int) -> str | None:
    """Why ``run_dir``'s checkpoints cannot resume a run of ``process_count`` processes (None: no other layout)."""
    counts = {int(m[2]) for f in run_dir.glob("checkpoint*.msgpack") if (m := _SHARDED_CHECKPOINT.fullmatch(f.name))}
    if process_count > 1 and any((run_dir / f).exists() for f in (CHECKPOINT_FILE, PREVIOUS_CHECKPOINT_FILE)):
        counts.add(1)
    counts.discard(process_count)
    if not counts:
        return None
    written = " or ".join(f"{n} process{'es' if n > 1 else ''}" for n in sorted(counts))
    return (
        f"the checkpoint in {str(run_dir)!r} was written by a run of {written}; this one has {process_count}: "
        f"resume it with the same processes and devices"
    )


# msgpack bin values hold at most 4 GiB: larger bodies are stored in chunks.
_CHUNK = 1 << 30
_PACKED = "rljax-msgpack-sha256"


def _pack(payload: Any) -> bytes:
    """``payload`` as msgpack, wrapped with the SHA-256 of its bytes (a flipped byte is then caught)."""
    from flax import serialization

    body = serialization.msgpack_serialize(payload)
    chunks = [memoryview(body)[i : i + _CHUNK] for i in range(0, len(body), _CHUNK)] or [b""]
    return serialization.msgpack_serialize(
        {"format": _PACKED, "sha256": hashlib.sha256(body).hexdigest(), "body": chunks}
    )


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
    payload = _restore_msgpack(path, data)
    if isinstance(payload, dict) and payload.get("format") == _PACKED:
        chunks, digest = payload.get("body"), payload.get("sha256")
        if not isinstance(chunks, list) or not all(isinstance(c, bytes) for c in chunks) or not isinstance(digest, str):
            raise _damaged(path, "its checksum record is broken (corrupted?)")
        body = b"".join(chunks)
        if hashlib.sha256(body).hexdigest() != digest:
            raise _damaged(path, "checksum mismatch (corrupted?)")
        payload = _restore_msgpack(path, body)
    return payload


class Checkpoint(NamedTuple):
    """What :func:`load_checkpoint` restores: the packed state, the metrics of the segments
    done, and the training seconds at the end of each (NaN where unknown)."""

    state: Any
    history: list[dict[str, np.ndarray]]
    segment_seconds: list[float]


def save_checkpoint(
    run_dir: str | os.PathLike,
    state: Any,
    history: list[dict[str, np.ndarray]],
    segment_seconds: Sequence[float] = (),
) -> None:
    """Atomically saves the whole packed training state and the metrics so far.

    The state is every array the run carries: parameters, optimiser state, replay
    buffer, environment states, keys, counters. Restored into the same compiled
    program, the run continues bitwise as if it had never stopped.
    ``segment_seconds``: training seconds at the end of each segment done (for
    time-to-threshold after a resume).

    In a multi-process run (``jax.process_count() > 1``) every process calls this and
    writes only its own shards, to ``checkpoint.p{index}-of-{count}.msgpack`` (and keeps
    its previous one), with the whole metrics history.
    """
    import jax

    if jax.process_count() > 1:
        return _save_shards(Path(run_dir), state, history, segment_seconds)
    leaves = [np.asarray(x) for x in jax.tree.leaves(state)]
    payload = {"state": {str(i): leaf for i, leaf in enumerate(leaves)}, **_progress(history, segment_seconds)}
    run_dir = Path(run_dir)
    # The new file is complete before the newest so far becomes the previous one.
    write_bytes_atomic(run_dir / CHECKPOINT_FILE, _pack(payload), keep_previous=run_dir / PREVIOUS_CHECKPOINT_FILE)


def load_checkpoint(run_dir: str | os.PathLike, template: Any, sharding: Any = None) -> Checkpoint:
    """Restores what :func:`save_checkpoint` saved.

    ``template`` is a pytree of the state's shapes (``jax.eval_shape`` of init);
    a checkpoint of another shape is an error, not a silent mix. When the newest
    checkpoint is missing or damaged (empty, cut short, corrupted), the previous one
    is restored instead, saying so in one line on stderr (the damaged file is moved
    to ``checkpoint.damaged.msgpack``); when both are, a one-line :class:`DamagedFile`.

    In a multi-process run every process restores its own shards, into global arrays of
    ``sharding`` (the runner's); the processes agree on the newest checkpoint all of them
    have, and an error on one is an error on all.
    """
    import jax

    run_dir = Path(run_dir)
    if jax.process_count() > 1:
        return _load_shards(run_dir, template, sharding)
    newest, previous = run_dir / CHECKPOINT_FILE, run_dir / PREVIOUS_CHECKPOINT_FILE
    try:
        if not newest.exists():
            raise DamagedFile(f"no {CHECKPOINT_FILE} in {str(run_dir)!r}")
        return _restore_checkpoint(newest, template)
    except DamagedFile as err:
        problem = err
    if not previous.exists():
        other = _other_layout(run_dir, 1)
        raise ValueError(f"resume: {other}") if other else problem
    try:
        restored = _restore_checkpoint(previous, template)
    except DamagedFile as err:
        raise DamagedFile(f"{problem}; the previous checkpoint is damaged too: {err}") from None
    kept = ""
    if newest.exists():
        os.replace(newest, run_dir / DAMAGED_CHECKPOINT_FILE)
        kept = f"; the damaged one is now {DAMAGED_CHECKPOINT_FILE}"
    print(
        f"rljax: {problem}; resuming from the previous checkpoint, {PREVIOUS_CHECKPOINT_FILE} "
        f"(after segment {len(restored.history)}){kept}",
        file=sys.stderr,
    )
    return restored


def _restore_checkpoint(path: Path, template: Any) -> Checkpoint:
    """One checkpoint file: :class:`DamagedFile` if unreadable, ``ValueError`` if of another run."""
    import jax

    payload = _unpack(path)
    if not isinstance(payload, dict) or not isinstance(payload.get("state"), dict):
        raise _damaged(path, "not an rljax checkpoint (no training state in it)")
    state = payload["state"]
    if not all(str(i) in state and isinstance(state[str(i)], np.ndarray) for i in range(len(state))):
        raise _damaged(path, "its training state is incomplete (corrupted?)")
    history, seconds = _restore_progress(path, payload)
    spec_leaves, treedef = jax.tree.flatten(template)
    leaves = [state[str(i)] for i in range(len(state))]
    if len(leaves) != len(spec_leaves) or any(
        tuple(a.shape) != tuple(b.shape) or a.dtype != b.dtype for a, b in zip(leaves, spec_leaves)
    ):
        raise ValueError(f"checkpoint {path} does not match this run's state (different config or code)")
    state = jax.tree.unflatten(treedef, [jax.numpy.asarray(x) for x in leaves])
    return Checkpoint(state, history, seconds)


def _progress(history: list[dict[str, np.ndarray]], segment_seconds: Any) -> dict[str, Any]:
    """The part of a checkpoint's payload that says how far the run got (both kinds of checkpoint)."""
    return {
        "segments_done": len(history),
        "history": [{k: np.asarray(v) for k, v in h.items()} for h in history],
        "segment_seconds": np.asarray(list(segment_seconds), dtype=np.float64),
    }


def _restore_progress(path: Path, payload: dict[str, Any]) -> tuple[list[dict[str, np.ndarray]], list[float]]:
    """What :func:`_progress` saved: the metrics history and the seconds at each segment's end (NaN if unknown)."""
    history = payload.get("history")
    if not isinstance(history, list) or not all(
        isinstance(h, dict) and all(isinstance(v, np.ndarray) for v in h.values()) for h in history
    ):
        raise _damaged(path, "its metrics history is broken (corrupted?)")
    history = [dict(h) for h in history]
    seconds = [float(t) for t in np.asarray(payload.get("segment_seconds", []), dtype=np.float64).ravel()]
    return history, seconds if len(seconds) == len(history) else [float("nan")] * len(history)


def _index_bounds(index: tuple[slice, ...], shape: tuple[int, ...]) -> tuple[tuple[int, int], ...]:
    """A shard's index (slices into the global array) as (start, stop) per axis."""
    return tuple(sl.indices(n)[:2] for sl, n in zip(index, shape))


def _save_shards(run_dir: Path, state: Any, history: list[dict[str, np.ndarray]], segment_seconds: Any) -> None:
    """This process's part of a multi-process checkpoint: its shards of every leaf, where each goes."""
    import jax

    leaves = jax.tree.leaves(state)
    shards: dict[str, dict[str, np.ndarray]] = {}
    bounds: dict[str, np.ndarray] = {}
    for i, leaf in enumerate(leaves):
        unique = {}  # a shard replicated on several of this process's devices is saved once
        for shard in leaf.addressable_shards:
            unique.setdefault(_index_bounds(shard.index, leaf.shape), shard.data)
        shards[str(i)] = {str(j): np.asarray(data) for j, data in enumerate(unique.values())}
        bounds[str(i)] = np.asarray(list(unique), dtype=np.int64).reshape(len(unique), leaf.ndim, 2)
    payload = {
        "layout": {
            "process_index": jax.process_index(),
            "process_count": jax.process_count(),
            "num_devices": len(leaves[0].sharding.device_set),
        },
        "shards": shards,
        "bounds": bounds,
        **_progress(history, segment_seconds),
    }
    newest, previous, _ = checkpoint_files(jax.process_index(), jax.process_count())
    write_bytes_atomic(run_dir / newest, _pack(payload), keep_previous=run_dir / previous)


def _restore_shards(path: Path, template: Any, sharding: Any) -> Checkpoint:
    """One process's checkpoint file, as global arrays of ``sharding`` built from its own shards.

    :class:`DamagedFile` if unreadable; ``ValueError`` if of another run or another layout.
    """
    import jax

    payload = _unpack(path)
    if not isinstance(payload, dict) or not all(
        isinstance(payload.get(k), dict) for k in ("layout", "shards", "bounds")
    ):
        raise _damaged(path, "not an rljax multi-process checkpoint (no training state in it)")
    history, seconds = _restore_progress(path, payload)
    layout = payload["layout"]
    written = (int(layout.get("process_count", -1)), int(layout.get("num_devices", -1)))
    now = (jax.process_count(), len(sharding.device_set))
    if written != now or int(layout.get("process_index", -1)) != jax.process_index():
        raise ValueError(
            f"checkpoint {path} was written by {written[0]} processes over {written[1]} devices; this run has "
            f"{now[0]} over {now[1]}: resume it with the same processes and devices"
        )
    spec_leaves, treedef = jax.tree.flatten(template)
    shards, bounds = payload["shards"], payload["bounds"]
    if len(shards) != len(spec_leaves) or len(bounds) != len(spec_leaves):
        raise ValueError(f"checkpoint {path} does not match this run's state (different config or code)")
    leaves = []
    for i, spec in enumerate(spec_leaves):
        data, where = shards.get(str(i)), bounds.get(str(i))
        if not isinstance(data, dict) or not isinstance(where, np.ndarray) or len(data) != len(where):
            raise _damaged(path, "its training state is incomplete (corrupted?)")
        saved = {tuple(map(tuple, b.tolist())): data.get(str(j)) for j, b in enumerate(where)}
        arrays = []
        for device, index in sharding.addressable_devices_indices_map(spec.shape).items():
            shard = saved.get(_index_bounds(index, spec.shape))
            expected = tuple(stop - start for start, stop in _index_bounds(index, spec.shape))
            if not isinstance(shard, np.ndarray) or shard.shape != expected or shard.dtype != spec.dtype:
                raise ValueError(f"checkpoint {path} does not match this run's state (different config or code)")
            arrays.append(jax.device_put(shard, device))
        leaves.append(jax.make_array_from_single_device_arrays(spec.shape, sharding, arrays))
    return Checkpoint(jax.tree.unflatten(treedef, leaves), history, seconds)


def common_checkpoint(segments: np.ndarray) -> int | None:
    """The segments done by the newest checkpoint that every process has.

    ``segments[p]`` lists what process ``p`` can restore (segments done of its newest
    and previous files; negative: missing or damaged). They differ when a process was
    killed while the others had saved, or when a file is damaged; None: no common one.
    """
    common = set.intersection(*({int(s) for s in row if s >= 0} for row in np.atleast_2d(segments)))
    return max(common) if common else None


def _load_shards(run_dir: Path, template: Any, sharding: Any) -> Checkpoint:
    """:func:`load_checkpoint` of a multi-process run: every process restores its own file.

    The processes must restore the same segment, so they agree on it (a collective) before
    any goes on: the newest checkpoint every one of them has, falling back as one process
    alone would; an error on any process is an error on every one (none is left waiting).
    """
    import jax
    from jax.experimental.multihost_utils import process_allgather

    me, count = jax.process_index(), jax.process_count()
    names = checkpoint_files(me, count)
    newest, previous, damaged = (run_dir / name for name in names)

    def attempt(path: Path) -> tuple[Checkpoint | None, ValueError | None]:
        try:
            if not path.exists():
                other = _other_layout(run_dir, count)
                raise ValueError(f"resume: {other}") if other else DamagedFile(f"no {path.name} in {str(run_dir)!r}")
            return _restore_shards(path, template, sharding), None
        except ValueError as err:
            return None, err

    def done(restored: Checkpoint | None, err: ValueError | None) -> int:
        # -2: a checkpoint of another run or layout: not something to fall back from.
        return len(restored.history) if restored else -1 if isinstance(err, DamagedFile) else -2

    def agree(rows: list[int]) -> np.ndarray:
        got = np.asarray(process_allgather(np.asarray(rows, dtype=np.int32))).reshape(count, len(rows))
        wrong = np.flatnonzero((got == -2).any(axis=1))
        if wrong.size:
            if me in wrong:
                raise next(e for e in errors if e is not None and not isinstance(e, DamagedFile))
            raise ValueError(f"resume: the checkpoint of process {int(wrong[0])} does not match this run")
        return got

    first, problem = attempt(newest)
    errors = [problem]
    got = agree([done(first, problem)])
    if first is not None and (got[:, 0] == got[0, 0]).all():
        return first
    second, second_problem = attempt(previous)
    errors.append(second_problem)
    segments = common_checkpoint(agree([done(first, problem), done(second, second_problem)]))
    if segments is None:
        mine = "; ".join(str(e) for e in errors if e is not None) or "its checkpoints are fine"
        raise DamagedFile(f"resume: no checkpoint that every process can restore (process {me}: {mine})")
    if first is not None and len(first.history) == segments:
        return first
    kept = ""
    if problem is not None and newest.exists():
        os.replace(newest, damaged)
        kept = f"; the damaged one is now {damaged.name}"
    why = problem if problem is not None else f"{newest.name} is newer than another process's checkpoint"
    print(
        f"rljax: process {me}: {why}; resuming from the previous checkpoint, {previous.name} "
        f"(after segment {segments}){kept}",
        file=sys.stderr,
    )
    return second


AGENT_STATE_FILE = "agent_state.msgpack"  # what a trained policy needs (Agent.policy_part)
FULL_STATE_FILE = "agent_state_full.msgpack"  # the whole final states, replay included (if asked)


def save_agent_states(run_dir: str | os.PathLike, agent_states: Any, file: str = AGENT_STATE_FILE) -> None:
    """Atomically saves every run's final agent state (unpacked: leading axis = run)."""
    import jax

    leaves = {str(i): np.asarray(x) for i, x in enumerate(jax.tree.leaves(agent_states))}
    write_bytes_atomic(Path(run_dir) / file, _pack(leaves))


def load_agent_state(
    run_dir: str | os.PathLike, template: Any, run_index: int, whole: Any = None, file: str = AGENT_STATE_FILE
) -> Any:
    """Run ``run_index``'s agent state from :func:`save_agent_states`.

    ``template`` is the pytree of ONE run's agent state (shapes only are used).
    ``whole``: the template of the whole state, for folders written before
    ``agent_state.msgpack`` left the replay buffer out (their file matches it; the
    whole state is returned then).
    """
    import jax

    path = Path(run_dir) / file
    payload = _unpack(path)
    if not isinstance(payload, dict) or not all(
        str(i) in payload and isinstance(payload[str(i)], np.ndarray) for i in range(len(payload))
    ):
        raise _damaged(path, "not rljax agent states (corrupted?)")
    stacked = [payload[str(i)] for i in range(len(payload))]

    def matches(spec: list[Any]) -> bool:
        return len(stacked) == len(spec) and all(
            a.ndim == b.ndim + 1 and a.shape[0] > run_index and tuple(a.shape[1:]) == tuple(b.shape)
            for a, b in zip(stacked, spec)
        )

    spec, treedef = jax.tree.flatten(template)
    if not matches(spec) and whole is not None and matches(jax.tree.leaves(whole)):
        spec, treedef = jax.tree.flatten(whole)
    if not matches(spec):
        raise ValueError(f"{run_dir}/{file} does not match this agent's state")
    leaves = [a[run_index] for a in stacked]
    return jax.tree.unflatten(treedef, [jax.numpy.asarray(x) for x in leaves])


# --------------------------------------------------------------------------- reading run folders back


class Curves(NamedTuple):
    """Evaluation return over training: ``returns[i, t]`` is seed ``seeds[i]`` at evaluation ``t``.

    ``steps[t]`` is evaluation ``t``'s env step: every seed's for a non-episodic agent,
    the median over the seeds for an episodic one (its seeds' episodes take their own
    numbers of steps; ``per_seed_steps[i, t]`` is seed ``seeds[i]``'s).
    """

    steps: np.ndarray
    seeds: list[int]
    returns: np.ndarray
    per_seed_steps: np.ndarray | None = None


@dataclass(eq=False)
class Run:
    """One configuration's seeds, as read from a run folder.

    ``final_returns`` is NaN where ``summary.json`` holds null (a non-finite return).
    ``diverged`` is None when the run did not record divergence (older runs).
    """

    label: str
    path: Path
    env: str
    env_kwargs: dict[str, Any]
    agent: str
    config: dict[str, Any]
    seeds: list[int]
    final_returns: np.ndarray
    diverged: np.ndarray | None = None
    diverged_at_step: list[int | None] | None = None
    # Per seed: first env step whose evaluation reached the solved threshold (None: never;
    # the whole field None: not recorded, e.g. an environment without a threshold).
    steps_to_threshold: list[int | None] | None = None
    sweep: str | None = None
    summary: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def env_label(self) -> str:
        """The environment id, with its options when it has any (they make it another task)."""
        if not self.env_kwargs:
            return self.env
        opts = ", ".join(f"{k}={v!r}" for k, v in sorted(self.env_kwargs.items()))
        return f"{self.env} ({opts})"

    @cached_property
    def curves(self) -> Curves:
        """``eval_return`` per seed and step from ``metrics.csv``, read on first use."""
        return read_eval_curves(self.path / "metrics.csv", self.seeds)


def _read_json(path: Path) -> Any:
    """A JSON file; :class:`DamagedFile` (one line, naming it) if empty, cut short or not JSON."""
    try:
        data = path.read_bytes()
    except OSError as err:
        raise ValueError(f"cannot read {path.name} in {str(path.parent)!r}: {err}") from None
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


def _summary_error(path: Path, why: str) -> ValueError:
    return ValueError(f"malformed summary.json in {str(path)!r}: {why}")


def _load_run(folder: Path, label: str, sweep: str | None = None) -> Run:
    """A :class:`Run` from ``folder/summary.json``, checking the fields a report relies on."""
    summary = _read_json(folder / "summary.json")
    if not isinstance(summary, dict):
        raise _summary_error(folder, "expected a JSON object")
    for key in ("env", "seeds", "final_eval_return"):
        if key not in summary:
            raise _summary_error(folder, f"missing key {key!r}")
    if not isinstance(summary["env"], str):
        raise _summary_error(folder, "'env' must be a string")
    seeds, returns = summary["seeds"], summary["final_eval_return"]
    if not isinstance(seeds, list) or not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds):
        raise _summary_error(folder, "'seeds' must be a list of integers")
    if not isinstance(returns, list) or len(returns) != len(seeds):
        raise _summary_error(folder, "'final_eval_return' must be a list with one value per seed")
    if not all(r is None or (isinstance(r, (int, float)) and not isinstance(r, bool)) for r in returns):
        raise _summary_error(folder, "'final_eval_return' must hold numbers (or null)")
    if not seeds:
        raise _summary_error(folder, "no seeds")
    diverged = summary.get("diverged")
    if diverged is not None:
        if (
            not isinstance(diverged, list)
            or len(diverged) != len(seeds)
            or not all(isinstance(d, bool) for d in diverged)
        ):
            raise _summary_error(folder, "'diverged' must be a list with one true/false per seed")
        diverged = np.asarray(diverged, dtype=bool)
    steps_to_threshold = summary.get("steps_to_threshold")
    if steps_to_threshold is not None and (
        not isinstance(steps_to_threshold, list)
        or len(steps_to_threshold) != len(seeds)
        or not all(s is None or (isinstance(s, int) and not isinstance(s, bool) and s >= 0) for s in steps_to_threshold)
    ):
        raise _summary_error(folder, "'steps_to_threshold' must be a list with one env step (or null) per seed")
    env_kwargs = summary.get("env_kwargs") or {}
    config = summary.get("config") or {}
    if not isinstance(env_kwargs, dict) or not isinstance(config, dict):
        raise _summary_error(folder, "'env_kwargs' and 'config' must be JSON objects")
    return Run(
        label=label,
        path=folder,
        env=summary["env"],
        env_kwargs=env_kwargs,
        agent=str(summary.get("agent", "?")),
        config=config,
        seeds=seeds,
        # null is how runs.to_jsonable writes a NaN return.
        final_returns=np.array([np.nan if r is None else r for r in returns], dtype=float),
        diverged=diverged,
        diverged_at_step=summary.get("diverged_at_step"),
        steps_to_threshold=steps_to_threshold,
        sweep=sweep,
        summary=summary,
    )


def _natural_key(name: str) -> list[Any]:
    """Sorts ``lr=3e-4`` style names with numbers in numeric order (2 before 10)."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def _sweep_config_dirs(folder: Path, sweep: Any) -> list[Path]:
    """The configuration folders of a sweep, in the sweep's own order."""
    labels = sweep.get("labels") if isinstance(sweep, dict) else None
    if isinstance(labels, list) and all(isinstance(label, str) for label in labels) and labels:
        dirs = [folder / label for label in labels]
        for d in dirs:
            if not (d / "summary.json").is_file():
                raise ValueError(
                    f"sweep {str(folder)!r}: configuration {d.name!r} has no summary.json (unfinished sweep?)"
                )
        return dirs
    # No label list (hand-made or older sweep.json): every subfolder that is a run.
    dirs = sorted((d for d in folder.iterdir() if (d / "summary.json").is_file()), key=lambda d: _natural_key(d.name))
    if not dirs:
        raise ValueError(f"sweep {str(folder)!r} has no configuration folders with a summary.json")
    return dirs


def load_runs(paths: Sequence[str | Path]) -> list[Run]:
    """Reads run folders and sweep folders (expanded to one :class:`Run` per configuration).

    A folder with ``sweep.json`` is a sweep; otherwise one with ``summary.json`` is a
    run. A run's label is its folder name, a sweep configuration's ``sweep/config``;
    labels that would collide fall back to the path as given. Raises ValueError on a
    path that is neither, on malformed JSON (naming the file), or on a folder given twice.
    """
    if not paths:
        raise ValueError("no run or sweep folders given")
    runs: list[Run] = []
    for given in paths:
        folder = Path(given)
        name = folder.resolve().name
        if not folder.is_dir():
            raise ValueError(f"{str(given)!r} is not a folder (expected a run or sweep folder)")
        if (folder / "sweep.json").is_file():
            sweep = _read_json_object(folder / "sweep.json")
            for d in _sweep_config_dirs(folder, sweep):
                runs.append(_load_run(d, f"{name}/{d.name}", sweep=name))
        elif (folder / "summary.json").is_file():
            runs.append(_load_run(folder, name))
        else:
            raise ValueError(
                f"{str(given)!r} is neither a run folder (no summary.json) nor a sweep folder (no sweep.json)"
            )
    seen: dict[Path, str] = {}
    for run in runs:
        key = run.path.resolve()
        if key in seen:
            raise ValueError(f"{str(run.path)!r} is given more than once")
        seen[key] = run.label
    labels = [run.label for run in runs]
    for run in runs:
        if labels.count(run.label) > 1:
            run.label = str(run.path)
    return runs


def read_eval_curves(path: Path, seeds: Sequence[int]) -> Curves:
    """``eval_return`` of ``seeds`` from a long metrics table, evaluation by evaluation.

    A seed's k-th ``eval_return`` row is its k-th evaluation (rows are appended one
    segment at a time); evaluations that every seed reached are kept (a run cut short
    leaves the tail ragged). See :class:`Curves` for the steps.

    Seeds absent from the table are left out (``Curves.seeds`` says which remain). A
    table with several configurations is an error: each sweep configuration has its own.
    """
    if not path.is_file():
        raise ValueError(f"no metrics.csv in {str(path.parent)!r}: cannot plot its learning curve")
    try:
        data = path.read_bytes()
    except OSError as err:
        raise ValueError(f"cannot read {path.name} in {str(path.parent)!r}: {err}") from None
    if not data.strip():
        raise _damaged(path, f"empty file (expected the header {METRIC_HEADER.strip()})")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise _damaged(path, "not UTF-8 text (corrupted?)") from None
    if not text.endswith("\n"):
        # Every row rljax writes ends its line: a last row without one was cut short, and
        # its value may read as another number.
        raise _damaged(path, "the last row has no line end (truncated?)")
    by_seed: dict[int, list[tuple[int, float]]] = {}
    configs: set[str] = set()
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        missing = set(METRIC_COLUMNS) - set(reader.fieldnames or ())
        if missing:
            raise _damaged(path, f"missing column(s) {', '.join(sorted(missing))} in its header")
        for row in reader:
            if None in row or None in row.values():  # too many or too few fields
                raise _damaged(path, f"line {reader.line_num}: not a row of {METRIC_HEADER.strip()}")
            if row["metric"] != "eval_return":
                continue
            try:
                seed, step, value = int(row["seed"]), int(float(row["step"])), float(row["value"])
            except (TypeError, ValueError):
                raise _damaged(path, f"line {reader.line_num}: not a row of {METRIC_HEADER.strip()}") from None
            configs.add(row["config"])
            by_seed.setdefault(seed, []).append((step, value))
    except csv.Error as err:
        raise _damaged(path, f"line {reader.line_num}: {err}") from None
    if len(configs) > 1:
        raise ValueError(f"{str(path)!r} holds several configurations ({', '.join(sorted(configs))})")
    present = [s for s in seeds if s in by_seed]
    if not present:
        raise ValueError(f"{str(path)!r} has no eval_return rows for seeds {list(seeds)}")
    n = min(len(by_seed[s]) for s in present)
    table = np.array([by_seed[s][:n] for s in present], dtype=float).reshape(len(present), n, 2)
    per_seed_steps, returns = table[..., 0].astype(np.int64), table[..., 1]
    if (np.diff(per_seed_steps, axis=1) <= 0).any():
        raise _damaged(path, "a seed's eval_return rows do not go forward in steps")
    steps = np.median(per_seed_steps, axis=0).astype(np.int64)
    return Curves(steps, present, returns, per_seed_steps)


def resolve_run_dir(run_dir: str | os.PathLike, config: int | str | None = None) -> Path:
    """The run folder that holds the agent states: ``run_dir`` itself, or one configuration of a sweep."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"{str(run_dir)!r} is not a folder")
    sweep_file = run_dir / "sweep.json"
    if sweep_file.exists():
        labels = _read_json_object(sweep_file).get("labels", [])
        if not isinstance(labels, list):
            raise _damaged(sweep_file, "'labels' must be a list")
        if config is None:
            raise ValueError(f"{str(run_dir)!r} is a sweep folder: pass config= one of {labels} (or its index)")
        if isinstance(config, int) and not isinstance(config, bool):
            if not 0 <= config < len(labels):
                raise ValueError(f"config index {config} out of range: the sweep has {len(labels)} configurations")
            config = labels[config]
        if config not in labels:
            raise ValueError(f"unknown configuration {config!r}; the sweep's configurations are: {labels}")
        return run_dir / str(config)
    if config is not None:
        raise ValueError(f"config= selects a configuration of a sweep folder; {str(run_dir)!r} is a train folder")
    return run_dir


def read_spec(run_dir: Path) -> dict[str, Any]:
    """``run.json`` of a finished run folder, checked."""
    spec_file = run_dir / "run.json"
    if not spec_file.exists():
        raise FileNotFoundError(f"{str(run_dir)!r} has no run.json: not a `rljax train` or `rljax sweep` run folder")
    if not (run_dir / AGENT_STATE_FILE).exists():
        raise FileNotFoundError(
            f"{str(run_dir)!r} has no {AGENT_STATE_FILE}: the run has not finished "
            f"(or was written by an rljax that did not save agent states)"
        )
    spec = _read_json_object(spec_file)
    missing = [k for k in ("agent", "env", "seeds") if k not in spec]
    if missing:
        raise ValueError(f"{spec_file} lacks {', '.join(missing)}")
    return spec


def run_spec(
    command: str,
    agent: str,
    env: str,
    env_kwargs: dict[str, Any],
    seeds: Sequence[int],
    overrides: Sequence[dict[str, Any]],
    total_steps: int | None,
    eval_every: int | None,
    eval_episodes: int,
    lane_width: int,
    fast_compile: bool,
) -> dict[str, Any]:
    """``run.json``: what determines a run's numbers (a resumed run must match it exactly)."""
    return to_jsonable(
        {
            "command": command,
            "agent": agent,
            "env": env,
            "env_kwargs": dict(env_kwargs),
            "seeds": [int(s) for s in seeds],
            "overrides": [dict(o) for o in overrides],
            "total_steps": total_steps,
            "eval_every": eval_every,
            "eval_episodes": eval_episodes,
            "lane_width": lane_width,
            "fast_compile": fast_compile,
        }
    )


def check_resume(out: Path, spec: dict[str, Any]) -> None:
    """Raises ``ValueError`` unless ``out`` holds a checkpoint of the run ``spec`` describes."""
    import jax

    spec_file = out / "run.json"
    count = jax.process_count()
    newest, previous, _ = checkpoint_files(jax.process_index(), count)
    if not spec_file.exists() or not any((out / c).exists() for c in (newest, previous)):
        other = _other_layout(out, count) if spec_file.exists() else None
        raise ValueError(f"--resume: {other or f'{str(out)!r} has no checkpoint to resume from'}")
    saved = _read_json_object(spec_file)
    saved_spec = {k: saved.get(k) for k in spec}
    current = json.loads(json.dumps(spec))  # same JSON types as the saved one
    if saved_spec != current:
        diffs = [f"{k}: saved {saved_spec[k]!r}, now {current[k]!r}" for k in spec if saved_spec[k] != current[k]]
        raise ValueError("--resume: the command differs from the saved run (" + "; ".join(diffs) + ")")
