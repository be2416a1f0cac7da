"""Lanes of runs as compiled programs: XLA options per program (init, training segment,
evaluation), lanes sharded over every device and process, programs exported for the
traced-program cache, and results gathered back to the host.

How runs are laid out in lanes, and why a seed gives the same bits alone as in a batch:
:mod:`rljax.training.lanes`.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import re
import sys
import warnings
from typing import Any, Callable, Literal, Sequence

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from rljax._defaults import DEFAULT_LANE_WIDTH  # noqa: F401  (there, so the CLI reads it without JAX)
from rljax._errors import ValidationError
from rljax.runs.program_cache import ProgramCache
from rljax.training.lanes import (
    LANE_AXIS,
    Lanes,
    _lane_init,
    _one_run_at_a_time,
    _over_lanes,
    _sharded_over_lanes,
    tree_bytes,
)
from rljax.training.loop import Loop, LoopState, segment_metrics
from rljax.training.watchdog import Watchdog

# XLA options for short runs: the CPU backend's optimisation passes dominate the
# compile time of small programs; without them compiling is ~2-3x faster and
# running ~4x slower (measured on the Taxi segment program). XLA's CPU compile time is
# mostly code generation, one MLIR/LLVM module per fused kernel (~10 ms each); its
# older, non-MLIR fusion emitters make fewer and smaller kernels (default DQN's init
# program: 0.66 -> 0.36 s, its evaluation 0.60 -> 0.41 s, bitwise the same state).
FAST_COMPILE = {"xla_backend_optimization_level": 0, "xla_cpu_use_fusion_emitters": False}

# What the runner's segment program uses on CPU: XLA's CPU backend at LLVM optimisation
# level 1 instead of its default 3. Measured on the default DQN (CartPole-v1, 16 seeds,
# quiet 2-core CPU): compile 14.4 s -> 10.6 s, train 11.4 s -> 10.6 s, bitwise the same
# returns (DQN and tabular Q-learning; REINFORCE's differ in the last digits). The heavy
# work of these programs is in library calls (matrix products) that the LLVM level does
# not touch; level 3 spends its time vectorising small fused loops.
CPU_COMPILE = {"xla_backend_optimization_level": 1}

# The evaluation program: as the segment's, with the older fusion emitters (fewer kernels
# to generate). Measured alone on a 2-core CPU: compile 0.60 -> 0.41 s (default DQN),
# 0.69 -> 0.49 s (tabular Q-learning on Chain), same run time (0.054 / 0.050 s per
# evaluation of 16 seeds). The training part keeps the new emitters: without them its
# compile is 0.5 s shorter but each segment runs 20% longer (0.29 -> 0.35 s), and it
# changes the default DQN's numbers.
EVAL_COMPILE = {**CPU_COMPILE, "xla_cpu_use_fusion_emitters": False}

Program = Literal["init", "segment", "evaluate"]


def default_compiler_options(program: Program = "segment") -> dict | None:
    """XLA options of the runner's programs on CPU (XLA's defaults, None, elsewhere):
    :data:`CPU_COMPILE` for the training part, :data:`EVAL_COMPILE` for the evaluation,
    and :data:`FAST_COMPILE` for ``init``, which runs once per run, so only its compile
    time counts. Options given to :meth:`BatchRunner.compile` are merged over these."""
    if jax.default_backend() != "cpu":
        return None
    return dict({"init": FAST_COMPILE, "segment": CPU_COMPILE, "evaluate": EVAL_COMPILE}[program])


class BatchRunner:
    """Compiled ``init`` and ``segment`` of a :class:`Loop` over packed lanes.

    Each is compiled once per (loop, lane layout); calling ``segment`` repeatedly
    from Python leaves room for progress bars and checkpoints between segments.
    With ``lanes.num_devices > 1`` the lanes are sharded over that many local
    devices (a ``Mesh`` with ``NamedSharding``; no ``pmap``).
    """

    def __init__(self, loop: Loop, lanes: Lanes, devices: Sequence[Any] | None = None):
        self.loop = loop
        self.lanes = lanes
        if lanes.num_devices > 1:
            # Multi-host: pass jax.devices() (every process's devices) after
            # jax.distributed.initialize(); by default the local ones.
            devices = list(devices or jax.local_devices())[: lanes.num_devices]
            if len(devices) != lanes.num_devices:
                raise ValidationError(f"asked for {lanes.num_devices} devices; {len(devices)} available")
            self.mesh = Mesh(np.array(devices), (LANE_AXIS,))
            init = _sharded_over_lanes(_lane_init(loop), self.mesh)
        else:
            self.mesh = None
            init = _over_lanes(_lane_init(loop))
        # The traceable programs; ``compile`` replaces ``init`` / ``segment`` / ``evaluate``
        # with their ahead-of-time compiled executables, which cannot be traced again.
        # A segment is two programs, its training and its evaluation: XLA compiles them
        # apart in about half the time it takes fused (default DQN: 6.9 + 1.8 s vs 13.6 s
        # on a busy 2-core CPU), and on two cores at once.
        self._init_program = jax.jit(init, compiler_options=default_compiler_options("init"))
        self._programs = {name: self._lanes_program(name) for name in self._parts()}
        self.init = self._init_program
        self.segment, self.evaluate = self._programs["segment"], self._programs["evaluate"]
        self._checked_lapack = False

    def _parts(self) -> dict[str, Callable]:
        """One run's segment, as the two programs it is compiled into."""
        return {"segment": self.loop.train_segment, "evaluate": self.loop.evaluate_segment}

    def _lanes_program(self, name: str, one_run_at_a_time: bool = False) -> Any:
        """Program ``name`` of one run -> a jitted program over packed lanes."""
        fn = self._parts()[name]
        lane = _one_run_at_a_time(fn) if one_run_at_a_time else jax.vmap(fn)
        program = _over_lanes(lane) if self.mesh is None else _sharded_over_lanes(lane, self.mesh)
        # The training part updates the state in place (donated); the evaluation only reads it.
        donate = (0,) if name == "segment" else ()
        return jax.jit(program, donate_argnums=donate, compiler_options=default_compiler_options(name))

    def step(self, state: LoopState, packed_configs: Any) -> tuple[LoopState, dict[str, jax.Array]]:
        """One segment of every run (``Loop.segment``): its training, then its evaluation.

        Both programs are dispatched asynchronously; the metrics are device arrays.
        """
        state, train_metrics = self.segment(state, packed_configs)
        return state, segment_metrics(train_metrics, self.evaluate(state, packed_configs))

    @property
    def sharding(self) -> NamedSharding | None:
        """Where packed arrays live: their lane axis split over the mesh (None: one device)."""
        return None if self.mesh is None else NamedSharding(self.mesh, PartitionSpec(LANE_AXIS))

    def place(self, tree: Any) -> Any:
        """Packs ``[size, ...]`` runs into lanes, on the devices they will run on (every group)."""
        return self._put(self.lanes.pack(tree))

    def place_groups(self, tree: Any) -> list[Any]:
        """Packs ``[size, ...]`` runs into the groups the programs run one after another."""
        return [self._put(group) for group in self.lanes.groups(self.lanes.pack(tree))]

    def _put(self, packed: Any) -> Any:
        """Packed host arrays on the devices (their lane axis split over the mesh)."""
        if self.mesh is None:
            return jax.device_put(packed)
        sharding = self.sharding
        # Built shard by shard, so each process (multi-host) supplies only its own.
        return jax.tree.map(
            lambda x: jax.make_array_from_callback(x.shape, sharding, lambda idx: np.asarray(x[idx])), packed
        )

    def compile(
        self,
        keys: jax.Array,
        configs: Any,
        compiler_options: dict | None = None,
        program_cache: ProgramCache | None = None,
    ) -> None:
        """Compiles ``init``, ``segment`` and ``evaluate`` ahead of time (so their cost can be timed).

        ``compiler_options`` are XLA options, e.g. :data:`FAST_COMPILE`. With a
        ``program_cache`` (:mod:`rljax.runs.program_cache`) the programs go through
        ``jax.export``: a saved entry is loaded instead of tracing, a new one is saved.
        """
        packed_keys, packed_configs = self._first_group(keys), self._first_group(configs)
        if program_cache is not None:
            try:
                self._compile_exported(packed_keys, packed_configs, compiler_options, program_cache)
            except _NotExportable as err:  # e.g. a host callback: traced and compiled as usual below
                print(f"rljax: the traced programs are not cached: {err}", file=sys.stderr)
            else:
                self._checked_lapack = True
                return
        # With the shardings the state will have: a leaf a program reads but XLA then drops
        # (PPO's critic, unread by its evaluation) would otherwise be lowered as replicated
        # and refuse the lane-sharded state on several devices.
        state_shape = self._with_sharding(jax.eval_shape(self._init_program, packed_keys, packed_configs))
        # XLA compiles without holding the GIL; tracing and lowering hold it. The training
        # part, the longest to trace and to compile, goes first: it compiles (or loads from
        # the compile cache) on another thread while this one traces the evaluation and
        # init. Default DQN from a warm XLA cache: compile median 2.3 -> 2.0 s (most of what
        # is left is tracing, which the program cache above skips: 0.5 s); cold, the three
        # compiles keep both cores busy either way.
        with concurrent.futures.ThreadPoolExecutor(2, thread_name_prefix="rljax-compile") as pool:
            segment = pool.submit(self._lowered("segment", state_shape, packed_configs).compile, compiler_options)
            evaluate = pool.submit(self._lowered("evaluate", state_shape, packed_configs).compile, compiler_options)
            self.init = self._init_program.lower(packed_keys, packed_configs).compile(compiler_options)
            self.segment, self.evaluate = segment.result(), evaluate.result()
        self._checked_lapack = True

    def _compile_exported(self, packed_keys, packed_configs, compiler_options, cache: ProgramCache) -> None:
        """:meth:`compile` through ``jax.export``, loading the traced programs from ``cache`` if it has them."""
        key = cache.key((packed_keys, packed_configs))
        lowered = self._lowered_from_cache(cache, key, packed_keys, packed_configs)
        with concurrent.futures.ThreadPoolExecutor(2, thread_name_prefix="rljax-compile") as pool:
            if lowered is None:  # trace; the training part compiles while the others trace (see compile)
                state_shape = self._with_sharding(jax.eval_shape(self._init_program, packed_keys, packed_configs))
                cache.notes, exported, compiling = [], {}, {}
                for name in ("segment", "evaluate"):
                    exported[name] = self._exported(name, state_shape, packed_configs, cache.notes)
                    program = self._lower_exported(name, exported[name], packed_keys, packed_configs, state_shape)
                    compiling[name] = pool.submit(program.compile, compiler_options)
                exported["init"] = _export(self._init_program, packed_keys, packed_configs)
                init = self._lower_exported("init", exported["init"], packed_keys, packed_configs, state_shape)
                cache.save(key, exported)
            else:
                compiling = {
                    name: pool.submit(lowered[name].compile, compiler_options) for name in ("segment", "evaluate")
                }
                init = lowered["init"]
            self.init = init.compile(compiler_options)
            self.segment, self.evaluate = compiling["segment"].result(), compiling["evaluate"].result()

    def _lowered_from_cache(self, cache: ProgramCache, key: str, packed_keys, packed_configs) -> dict[str, Any] | None:
        """``{name: Lowered}`` of the programs ``cache`` holds under ``key``, or None (then they are traced)."""
        exported = cache.load(key)
        if exported is None:
            return None
        try:
            init = exported["init"]
            state_shape = self._with_sharding(jax.tree.unflatten(init.out_tree, init.out_avals))
            lowered = {
                name: self._lower_exported(name, program, packed_keys, packed_configs, state_shape)
                for name, program in exported.items()
            }
        except Exception:  # an entry that does not fit these arguments: trace afresh
            cache.loaded = 0
            return None
        for note in cache.notes:  # the warnings the trace gave (the LAPACK rebuild)
            warnings.warn(note, stacklevel=5)
        return lowered

    def _exported(self, name: str, state_shape: Any, packed_configs: Any, notes: list[str]) -> Any:
        """Program ``name`` traced and exported (after the LAPACK check rebuilt it if needed)."""
        exported = _export(self._programs[name], state_shape, packed_configs)
        note = self._unbatch_lapack(name, exported.mlir_module())
        if note is not None:
            warnings.warn(note, stacklevel=5)
            notes.append(note)
            exported = _export(self._programs[name], state_shape, packed_configs)
        return exported

    def _lower_exported(self, name: str, exported: Any, packed_keys, packed_configs, state_shape) -> Any:
        """Exported program ``name`` lowered, with the options and donation of the traced one."""
        donate = (0,) if name == "segment" else ()
        options = default_compiler_options(name)
        args = (packed_keys, packed_configs) if name == "init" else (state_shape, packed_configs)
        return jax.jit(exported.call, donate_argnums=donate, compiler_options=options).lower(*args)

    def _with_sharding(self, shapes: Any) -> Any:
        """Shapes of packed arrays with the sharding they will have (an exported program needs it)."""
        sharding = self.sharding
        return jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=sharding), shapes)

    def _lowered(self, name: str, state_shape: Any, packed_configs: Any) -> Any:
        """Program ``name`` lowered, after the LAPACK check (see the note above) rebuilt it if needed."""
        lowered = self._programs[name].lower(state_shape, packed_configs)
        note = self._unbatch_lapack(name, lowered.as_text())
        if note is not None:
            warnings.warn(note, stacklevel=3)
            lowered = self._programs[name].lower(state_shape, packed_configs)
        return lowered

    def _unbatch_lapack(self, name: str, program_text: str) -> str | None:
        """On CPU, rebuilds program ``name`` one run at a time if it calls LAPACK.

        See the LAPACK note above: a vmapped LAPACK call can deadlock jaxlib 0.10's
        CPU thread pool. Returns the warning to give when the program was rebuilt.
        """
        calls = lapack_calls(program_text)
        if not calls or self.lanes.width == 1 or jax.default_backend() != "cpu":
            return None
        self._programs[name] = self._lanes_program(name, one_run_at_a_time=True)
        setattr(self, name, self._programs[name])
        return (
            f"the {name} program calls LAPACK ({', '.join(calls)}); on CPU, jaxlib 0.10 can deadlock "
            "on batched LAPACK calls, so each lane runs its runs one after another instead of vmapping "
            "them (slower, same results for every seed whatever the batch)"
        )

    def run(
        self,
        keys: jax.Array,
        configs: Any,
        on_segment: Callable[[int, dict[str, np.ndarray]], None] | None = None,
        resume: tuple[LoopState, list[dict[str, np.ndarray]]] | None = None,
        checkpoint_every: int | None = None,
        on_checkpoint: Callable[[LoopState, list[dict[str, np.ndarray]]], None] | None = None,
        watchdog: Watchdog | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> tuple[LoopState, dict[str, np.ndarray]]:
        """Runs every segment; returns the final packed state and metrics ``[size, segments]``.

        Segment i+1 is dispatched before segment i's metrics are read, so the
        device never waits for Python (progress bars, CSV writes).

        Args:
          keys: ``[size, 2]`` one key per run.
          configs: a config whose leaves have a leading ``[size]`` axis.
          on_segment: called with each segment's index and metrics (numpy,
            ``[size]`` each), in order, possibly while the next segment runs.
          resume: ``(packed state, metrics of the segments it has done)`` to
            continue from, e.g. a checkpoint.
          checkpoint_every: every ``checkpoint_every`` segments (not after the last),
            ``on_checkpoint`` is called.
          on_checkpoint: ``on_checkpoint(state, history)`` gets the packed state and
            the metrics of every segment so far.
          watchdog: a :class:`rljax.training.watchdog.Watchdog`, told of every segment
            that finishes; it ends the process if one never does.
          should_stop: asked before each segment is dispatched; True stops the run
            there (after the segments in flight finish): the returned state and
            metrics are those of the segments done, consistent with each other.
        """
        with watchdog if watchdog is not None else contextlib.nullcontext():
            return self._run(keys, configs, on_segment, resume, checkpoint_every, on_checkpoint, watchdog, should_stop)

    def _run(self, keys, configs, on_segment, resume, checkpoint_every, on_checkpoint, watchdog, should_stop):
        config_groups = self.place_groups(configs)
        if not self._checked_lapack:  # not compiled ahead of time: the same check, before the first call
            state_shape = jax.eval_shape(self._init_program, self._first_group(keys), config_groups[0])
            for name in self._programs:
                self._lowered(name, state_shape, config_groups[0])
        self._checked_lapack = True
        if resume is None:
            groups = [self.init(k, c) for k, c in zip(self.place_groups(keys), config_groups)]
            history = []
        else:
            groups, history = self._split(resume[0]), list(resume[1])
        num_segments = self.loop.schedule.num_segments
        pending: tuple[int, Any] | None = None
        # Dispatched asynchronously. A watchdog that raises dispatches on a thread of its own:
        # XLA's CPU client can block the dispatching thread in native code behind a stuck program.
        dispatch = (lambda fn: fn()) if watchdog is None else watchdog.call

        def finish(item):
            i, device_metrics = item
            if watchdog is not None:
                watchdog.wait(device_metrics)  # RunStuck if it never comes (a watchdog that raises)
            joined = self.lanes.join([to_host(m) for m in device_metrics])
            metrics = {k: np.asarray(v) for k, v in self.lanes.unpack(joined).items()}
            history.append(metrics)
            if watchdog is not None:
                watchdog.beat(f"segment {i + 2} of {num_segments}")
            if on_segment is not None:
                on_segment(i, metrics)

        for i in range(len(history), num_segments):
            if should_stop is not None and should_stop():
                break
            stepped = dispatch(lambda: [self.step(g, c) for g, c in zip(groups, config_groups)])
            groups, metrics = [g for g, _ in stepped], [m for _, m in stepped]
            if pending is not None:
                finish(pending)
            pending = (i, metrics)
            if checkpoint_every and on_checkpoint and (i + 1) % checkpoint_every == 0 and i + 1 < num_segments:
                finish(pending)
                pending = None
                on_checkpoint(self._join(groups), history)  # before the next call donates these states
                if watchdog is not None:
                    watchdog.beat(f"segment {i + 2} of {num_segments}")
        if pending is not None:
            finish(pending)
        return self._join(groups, donate=True), stack_history(history)

    def _first_group(self, tree: Any) -> Any:
        """Group 0 of ``[size, ...]`` runs, placed: what the programs are compiled for."""
        return self._put(self.lanes.groups(self.lanes.pack(tree))[0])

    def _join(self, groups: list[Any], donate: bool = False) -> Any:
        """The groups' states as one packed state ``[num_lanes, ...]`` (each device joins its own lanes)."""
        if len(groups) == 1:
            return groups[0]
        return self._jit_placed(self.lanes.join, donate_argnums=(0,) if donate else ())(groups)

    def _split(self, state: Any) -> list[Any]:
        """A packed state ``[num_lanes, ...]`` (a checkpoint's) -> the groups' states, on their devices."""
        if self.lanes.num_groups == 1:
            return [jax.device_put(state, self.sharding) if self.mesh is not None else state]
        return self._jit_placed(self.lanes.groups)(state)

    def _jit_placed(self, fn: Callable, **kwargs: Any) -> Callable:
        """``jax.jit(fn)`` whose outputs have the lane sharding (on one device: where JAX puts them)."""
        placed = {} if self.mesh is None else {"out_shardings": self.sharding}
        return jax.jit(fn, **kwargs, **placed)

    def state_bytes(self, keys: jax.Array, configs: Any) -> int:
        """Bytes of every group's state together (abstract; :meth:`compile` reuses the trace)."""
        shapes = jax.eval_shape(self._init_program, self._first_group(keys), self._first_group(configs))
        return self.lanes.num_groups * tree_bytes(shapes)

    def state_shape(self, keys: jax.Array, configs: Any) -> Any:
        """Shapes and dtypes of the packed state of every group (a template for restoring checkpoints)."""
        return jax.eval_shape(self._init_program, self.place(keys), self.place(configs))


class _NotExportable(Exception):
    """``jax.export`` refused a program (the runner then traces it without the program cache)."""


def _export(program: Any, *args: Any) -> Any:
    """``jax.export.export(program)(*args)``, its refusal as :class:`_NotExportable`."""
    try:
        return jax.export.export(program)(*args)
    except Exception as err:  # tracing errors too: the plain path traces again and raises them there
        raise _NotExportable(str(err).splitlines()[0] if str(err) else type(err).__name__) from err


def lapack_calls(hlo_text: str) -> list[str]:
    """The distinct LAPACK custom-call targets in a lowered program's text (CPU)."""
    return sorted(set(re.findall(r"lapack_[a-z0-9]+_ffi", hlo_text)))


def to_host(tree: Any) -> Any:
    """Numpy copies of (possibly multi-host sharded) arrays, gathered from every process."""

    def one(x):
        if isinstance(x, jax.Array) and not x.is_fully_addressable:
            from jax.experimental import multihost_utils

            return np.asarray(multihost_utils.process_allgather(x, tiled=True))
        return np.asarray(x)

    return jax.tree.map(one, tree)


def stack_history(history: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Per-segment metrics ``[size]`` -> metrics ``[size, segments]``."""
    if not history:
        return {}
    return {k: np.stack([h[k] for h in history], axis=1) for k in history[0]}
