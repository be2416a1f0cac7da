"""Checkpoints: the newest and the one before it, whole or one shard per process, each with a
checksum; a damaged newest falls back to the previous one.
"""

from __future__ import annotations

import os
import re
import sys
import threading
from pathlib import Path
from typing import Any, NamedTuple, Sequence

import numpy as np

from rljax._errors import ValidationError
from rljax.runs.files import (
    DamagedFile,
    _damaged,
    _pack,
    _pack_to,
    _unpack,
    map_entry,
    map_entry_pieces,
    map_header,
    map_key,
    write_atomic,
    write_bytes_atomic,
)

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
    leaves, progress = jax.tree.leaves(state), _progress(history, segment_seconds)

    def body():  # {"state": {"0": leaf, ...}, **progress}, one array on the host at a time
        # In flax's order (keys sorted), so the bytes are those of _pack(payload).
        yield map_header(1 + len(progress))
        for key in sorted([*progress, "state"]):
            if key != "state":
                yield map_entry(key, progress[key])
                continue
            yield map_key("state") + map_header(len(leaves))
            for i in sorted(range(len(leaves)), key=str):
                leaf = leaves[i]
                sharded = isinstance(leaf, jax.Array) and len(leaf.addressable_shards) > 1
                yield from map_entry_pieces(str(i), _host_copy(leaf) if sharded else np.asarray(leaf))

    run_dir = Path(run_dir)
    # The new file is complete before the newest so far becomes the previous one.
    write_atomic(
        run_dir / CHECKPOINT_FILE, lambda f: _pack_to(f, body()), keep_previous=run_dir / PREVIOUS_CHECKPOINT_FILE
    )


class BackgroundCheckpoints:
    """:func:`save_checkpoint` on a thread, while the next segments train; at most one write in flight.

    :meth:`save` copies the state to the host first (the next segment updates the state
    in place: its buffers are donated), then writes the copy as :func:`save_checkpoint`
    does, atomically: a process killed mid-write keeps the checkpoint before. The next
    :meth:`save` and :meth:`wait` wait for the write, and raise its error (a full disk)
    there. In a multi-process run the write is synchronous: every process must have
    saved its shards before any goes on (:func:`rljax.training.processes.on_every_process`).
    """

    def __init__(self, run_dir: str | os.PathLike):
        self.run_dir = Path(run_dir)
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._host: Any = None  # the last host copy, reused by the next save

    def save(self, state: Any, history: list[dict[str, np.ndarray]], segment_seconds: Sequence[float] = ()) -> None:
        """Starts writing a checkpoint of ``state`` (a copy of it: the caller may go on at once)."""
        import jax

        self.wait()
        if jax.process_count() > 1:
            save_checkpoint(self.run_dir, state, history, segment_seconds)
            return
        # A copy, not a view of buffers the next segment reuses; into the previous save's copy
        # when the shapes match (written by now): no fresh pages to fault in every time.
        reuse = self._host if self._host is not None and _same_layout(self._host, state) else None
        host = jax.tree.map(_host_copy, state, reuse) if reuse is not None else jax.tree.map(_host_copy, state)
        self._host = host
        history, seconds = list(history), list(segment_seconds)

        def write() -> None:
            try:
                save_checkpoint(self.run_dir, host, history, seconds)
            except BaseException as err:  # handed to the training thread at the next save or wait
                self._error = err

        # A daemon thread: a second Ctrl-C ends the process at once; the write is atomic, so
        # the checkpoint before it stays whole and a resume starts from that one.
        self._thread = threading.Thread(target=write, name="rljax-checkpoint", daemon=True)
        self._thread.start()

    def wait(self) -> None:
        """Returns once the checkpoint being written is on disk; raises the write's error, if any."""
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._error is not None:
            err, self._error = self._error, None
            raise err


def _host_copy(x: Any, into: np.ndarray | None = None) -> np.ndarray:
    """``x`` copied to a host array (``into`` if given), shard by shard: one copy, where ``np.array``
    of a sharded array makes two (it assembles the shards, then copies)."""
    import jax

    if into is None:
        into = np.empty(np.shape(x), x.dtype if hasattr(x, "dtype") else np.asarray(x).dtype)
    if isinstance(x, jax.Array) and x.is_fully_addressable:
        for shard in x.addressable_shards:
            into[shard.index] = np.asarray(shard.data)
    else:
        into[...] = np.asarray(x)
    return into


def _same_layout(host: Any, state: Any) -> bool:
    import jax

    a, b = jax.tree.structure(host), jax.tree.structure(state)
    return a == b and all(
        h.shape == np.shape(x) and h.dtype == x.dtype for h, x in zip(jax.tree.leaves(host), jax.tree.leaves(state))
    )


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
        raise ValidationError(f"resume: {other}") if other else problem
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
        raise ValidationError(f"checkpoint {path} does not match this run's state (different config or code)")
    del state, payload  # each host array goes as soon as its device copy exists
    for i in range(len(leaves)):
        leaves[i] = jax.numpy.asarray(leaves[i])
    return Checkpoint(jax.tree.unflatten(treedef, leaves), history, seconds)


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
        raise ValidationError(
            f"checkpoint {path} was written by {written[0]} processes over {written[1]} devices; this run has "
            f"{now[0]} over {now[1]}: resume it with the same processes and devices"
        )
    spec_leaves, treedef = jax.tree.flatten(template)
    shards, bounds = payload["shards"], payload["bounds"]
    if len(shards) != len(spec_leaves) or len(bounds) != len(spec_leaves):
        raise ValidationError(f"checkpoint {path} does not match this run's state (different config or code)")
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
                raise ValidationError(f"checkpoint {path} does not match this run's state (different config or code)")
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
                raise (
                    ValidationError(f"resume: {other}") if other else DamagedFile(f"no {path.name} in {str(run_dir)!r}")
                )
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
            raise ValidationError(f"resume: the checkpoint of process {int(wrong[0])} does not match this run")
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
