"""The Python API of a training run: ``rljax.train(agent, env_id, seeds, ...)``.

It resolves names to an agent and an environment, applies the tuned preset for
the pair and the user's overrides, validates everything before anything is
traced, then trains every (configuration, seed) pair as one compiled program
(:mod:`rljax.training.batch`) with an optional progress bar.
"""

from __future__ import annotations

import os
import sys
import time
import warnings
from pathlib import Path
from typing import Any, Callable, Sequence

import jax
import numpy as np

from rljax._errors import ValidationError
from rljax.agents import Agent
from rljax.results import MetricsStreams, TrainResult, write_config_outputs
from rljax.runs import compile_cache as compile_cache_module
from rljax.runs.agent_states import FULL_STATE_FILE, save_agent_states
from rljax.runs.checkpoints import BackgroundCheckpoints, load_checkpoint, save_checkpoint
from rljax.runs.files import _read_json_object, check_out_dir, prepare_out_dir, remove_torn_writes, write_json_atomic
from rljax.runs.locks import LOCK_FILE, lock_folder, releases_folder_locks
from rljax.runs.manifest import check_resume, manifest
from rljax.training.batch import DEFAULT_LANE_WIDTH, FAST_COMPILE, BatchRunner, to_host
from rljax.training.configs import config_dict
from rljax.training.interrupts import RunInterrupted, StopOnSignal
from rljax.training.lanes import Lanes, seed_keys, stack_configs
from rljax.training.loop import Loop
from rljax.training.plan import Plan, as_plan, check_fits_in_memory, check_run_options, program_cache, run_devices
from rljax.training.processes import StopRequested, on_every_process
from rljax.training.watchdog import DEFAULT_MIN_SECONDS, Watchdog


@releases_folder_locks  # the run folder's writer lock, taken below, goes when train returns or raises
def train(
    agent: str | Agent | Plan,
    env_id: str | None = None,
    seeds: Sequence[int] = (0,),
    overrides: dict[str, Any] | Sequence[dict[str, Any]] | None = None,
    *,
    env_kwargs: dict[str, Any] | None = None,
    total_steps: int | None = None,
    eval_every: int | None = None,
    eval_episodes: int | None = None,
    lane_width: int = DEFAULT_LANE_WIDTH,
    on_segment: Callable[[int, dict[str, np.ndarray]], None] | None = None,
    progress: bool = True,
    compiler_options: dict[str, Any] | None = None,
    checkpoint_dir: str | Path | None = None,
    checkpoint_every: int | None = None,
    resume: bool = False,
    num_devices: int | None = None,
    watchdog_seconds: float | None = DEFAULT_MIN_SECONDS,
    watchdog_advice: str = "",
    on_hang: str = "raise",
    out: str | Path | None = None,
    overwrite: bool = False,
    argv: Sequence[str] | None = None,
    compile_cache: bool | str | Path | None = None,
    trace_cache: bool = False,
    save_replay: bool = False,
) -> TrainResult:
    """Trains ``agent`` on ``env_id`` for every seed (and every override set) in one program.

    Args:
      agent: an agent name (``"q_learning"``, ``"dqn"``, ...), an :class:`Agent`, or a
        :class:`Plan` from :func:`build` (then leave out ``env_id``, ``overrides``,
        ``env_kwargs``, ``total_steps``, ``eval_every`` and ``eval_episodes``: the plan
        fixed them, and it is not validated again).
      env_id: an id for :func:`rljax.make`; ``env_kwargs`` are passed to it.
      seeds: seed s is trained from ``PRNGKey(s)`` alone, so it gives the same
        numbers whatever else is in the batch.
      overrides: hyperparameters over the tuned preset; a list of dicts trains
        every setting for every seed (a sweep) in the same program.
      total_steps: env steps per seed (default: the preset's).
      eval_every: env steps between evaluations (default: as in :func:`build`).
      eval_episodes: episodes per evaluation (default 100).
      lane_width: runs per vmapped lane (see :mod:`rljax.training.batch`).
      on_segment: called between compiled segments with that segment's metrics.
      progress: show the progress bar of the command line (env steps/s, ETA, latest eval
        return) on stderr; False: none.
      compiler_options: XLA options; ``rljax.training.batch.FAST_COMPILE`` compiles small
        programs several times faster and runs them slower (for short runs).
      checkpoint_dir: save the whole training state in this folder every
        ``checkpoint_every`` env steps per seed.
      checkpoint_every: env steps per seed between checkpoints (rounded to whole
        segments).
      resume: continue from the checkpoint in ``checkpoint_dir``; the result is
        bitwise the one an uninterrupted run gives, however many times the run was
        stopped or killed (``kill -9`` included). With ``out``, a run killed before its
        first checkpoint starts again from the beginning, and a finished one is trained
        again from its last checkpoint, to the same result (``rljax train --resume``
        says it has finished instead).
      num_devices: shard the lanes over this many local devices (default: all
        of them); per-seed results are bitwise the same on any count >= 2, and
        agree with one device's to float rounding (neural agents).
      watchdog_seconds: if no segment finishes for this long (or 20x the slowest
        segment so far, whichever is longer) while the process sits idle (10x that
        while its CPU computes), print every thread's stack and stop as ``on_hang``
        says (:mod:`rljax.training.watchdog`); 0 or None: never.
      watchdog_advice: a line the watchdog adds to its error (e.g. how to resume).
      on_hang: what the watchdog does after its report: ``"raise"`` :class:`RunStuck`
        here (the interpreter lives on; the stuck computation stays where it is) or
        ``"exit"`` the process with exit code 4 (the command line's choice).
      out: write the run folder of ``rljax train`` there (``run.json``,
        ``manifest.json``, ``metrics.csv`` streamed segment by segment,
        ``summary.json``, ``config.json``, ``curves.png``, the final agent states
        and, with ``checkpoint_every``, checkpoints): what :func:`rljax.report` and
        :func:`rljax.load_policy` read. Everything is validated before the folder
        is created. ``resume=True`` continues the run in ``out``.
      overwrite: replace an existing ``out`` folder.
      argv: the command line recorded in ``manifest.json`` (default: this process's).
      compile_cache: JAX's persistent compilation cache (:mod:`rljax.runs.compile_cache`):
        None = on, in the user cache folder unless ``$RLJAX_COMPILE_CACHE`` says
        otherwise; False = off; a path = that folder.
      trace_cache: also reuse traced programs saved in the compile-cache folder
        (:mod:`rljax.runs.program_cache`; built-in agents and environments only), skipping
        Python's tracing on a repeated run. Off by default: an entry is checked against
        the source files, not against the functions in memory, so in a process that
        replaced or wrapped a function (a notebook, a script that patches an agent) it
        would run the code the files hold. ``rljax train`` and ``rljax sweep`` turn it
        on: their process runs only code loaded from files.
      save_replay: with ``out``, also write ``agent_state_full.msgpack``: every seed's
        whole final state, replay buffer included (``agent_state.msgpack`` holds what
        the trained policy needs, see :attr:`Agent.policy_state`).
    """
    plan = as_plan(
        agent,
        env_id,
        overrides,
        env_kwargs=env_kwargs,
        total_steps=total_steps,
        eval_every=eval_every,
        eval_episodes=eval_episodes,
    )
    seeds = check_run_options(seeds, lane_width, num_devices, watchdog_seconds, checkpoint_every)
    for note in plan.loop.schedule.rounding_notes(total_steps, eval_every):  # a value changed is said so
        warnings.warn(note, stacklevel=2)
    if on_hang not in ("raise", "exit"):
        raise ValidationError(f"on_hang must be 'raise' or 'exit'; got {on_hang!r}")
    exits = on_hang == "exit"
    loop, configs = plan.loop, plan.configs
    if out is not None and len(configs) > 1:
        raise ValidationError("out= writes one configuration's run folder; use rljax.sweep for several")
    if resume and out is None and checkpoint_dir is None:
        raise ValidationError("resume needs checkpoint_dir (or out)")
    if checkpoint_every is not None and out is None and checkpoint_dir is None:
        raise ValidationError("checkpoint_every needs checkpoint_dir (or out)")
    run_seeds = [s for _ in configs for s in seeds]
    config_ids = [c for c in range(len(configs)) for _ in seeds]
    keys = seed_keys(run_seeds)
    batched = stack_configs([plan.run_config(c) for c in config_ids])
    devices = run_devices()
    if num_devices is None and len(devices) == 1 and devices[0].platform == "cpu":
        warnings.warn(ONE_CPU_DEVICE, stacklevel=2)
    num_devices = len(devices) if num_devices is None else int(num_devices)
    lanes = Lanes(len(run_seeds), lane_width, num_devices)
    runner = BatchRunner(loop, lanes, devices)
    num_runs = lanes.num_lanes * lanes.width
    need = runner.state_bytes(keys, batched)
    check_fits_in_memory(plan, num_runs, devices[:num_devices], need=need, host_copy=checkpoint_every is not None)

    # JAX's cache settings only for this run: the caller's process is left as it was.
    with compile_cache_module.using(compile_cache_module.resolve(compile_cache)) as cache_dir:
        writer = jax.process_index() == 0  # process 0 writes the run folder (see open_run_folder)
        folder = None
        has_checkpoint = resume
        if out is not None:  # validated above; only now is anything written
            spec = plan.run_spec("train", seeds, lane_width, compiler_options == FAST_COMPILE)
            folder, has_checkpoint = open_run_folder(Path(out), spec, seeds, resume, overwrite, argv, cache_dir)
            checkpoint_dir = folder
            if resume and not has_checkpoint:
                print(f"rljax: {str(folder)!r} has no checkpoint yet: training from the beginning", file=sys.stderr)
            streams = MetricsStreams([folder], seeds) if writer else None
            user_on_segment = on_segment

            def on_segment(i, metrics):
                if streams is not None:
                    streams.append(i, metrics)
                if user_on_segment is not None:
                    user_on_segment(i, metrics)

        start = time.perf_counter()
        with compile_cache_module.CacheWatch(cache_dir) as cache_watch:
            programs = program_cache(plan, cache_dir, trace_cache)
            runner.compile(keys, batched, compiler_options, programs)
        compile_time = time.perf_counter() - start
        if programs is not None:
            cache_watch.stats.programs_loaded, cache_watch.stats.programs_saved = programs.loaded, programs.saved

        template = runner.state_shape(keys, batched)
        restored = load_checkpoint(checkpoint_dir, template, runner.sharding) if has_checkpoint else None
        # Training seconds at the end of each segment (for time-to-threshold), continued over a resume.
        segment_seconds = list(restored.segment_seconds) if restored else []
        offset = next((t for t in reversed(segment_seconds) if np.isfinite(t)), 0.0)
        every = None
        if checkpoint_every is not None:
            every = max(1, round(checkpoint_every / loop.schedule.steps_per_segment))

        bar = _progress_bar(loop, len(run_seeds)) if progress else None
        if bar is not None and restored:
            bar.update(loop.schedule.steps_per_segment * len(run_seeds) * len(restored.history))

        def after_segment(i, metrics):
            segment_seconds.append(offset + time.perf_counter() - start)
            if bar is not None:
                bar.update(loop.schedule.steps_per_segment * len(run_seeds))
                returns = np.asarray(metrics["eval_return"], dtype=float)
                returns = returns[np.isfinite(returns)]  # every seed diverged: nan, without numpy's warning
                bar.set_postfix(eval_return=f"{returns.mean():.2f}" if returns.size else "nan")
            if on_segment is not None:
                on_segment(i, metrics)

        # Checkpoints are written on a thread while the next segments train (one at a time).
        checkpoints = BackgroundCheckpoints(checkpoint_dir) if checkpoint_dir is not None else None

        def checkpoint(state, history):
            on_every_process(lambda: checkpoints.save(state, history, segment_seconds), "a checkpoint")

        start = time.perf_counter()
        with StopOnSignal() as stopper:  # Ctrl-C / SIGTERM: finish the segment, save, then stop
            should_stop = StopRequested(stopper)
            try:
                state, metrics = runner.run(
                    keys,
                    batched,
                    on_segment=after_segment,
                    resume=(restored.state, restored.history) if restored else None,
                    checkpoint_every=every,
                    on_checkpoint=checkpoint,
                    watchdog=Watchdog(watchdog_seconds, advice=watchdog_advice, exit=os._exit if exits else None),
                    should_stop=should_stop,
                )
                jax.block_until_ready(state)
            finally:
                if checkpoints is not None:  # the last checkpoint is on disk (or its error raised) before anything else
                    checkpoints.wait()
        train_time = time.perf_counter() - start
        if bar is not None:
            bar.close()
        done = metrics["env_steps"].shape[1]
        if done < loop.schedule.num_segments:  # stopped by a signal
            saved = checkpoint_dir is not None
            if saved:  # nothing trains after it: written at once, without a host copy
                history = [{k: v[:, j] for k, v in metrics.items()} for j in range(done)]
                last = (checkpoint_dir, state, history, segment_seconds)
                on_every_process(lambda: save_checkpoint(*last), "a checkpoint")
            signum = should_stop.signum
            raise RunInterrupted(signum, _interrupt_message(signum, loop, done, folder, saved, argv))

        result = TrainResult(
            agent=loop.agent.name,
            env_id=plan.env_id,
            env_kwargs=dict(plan.env_kwargs),
            config_env_kwargs=[plan.env_kwargs_of(c) for c in range(len(configs))],
            seeds=run_seeds,
            config_ids=config_ids,
            configs=[config_dict(c) for c in configs],
            metrics=metrics,
            final_eval_return=metrics["eval_return"][:, -1],
            eval_episodes=plan.eval_episodes,
            # Every seed's env steps for non-episodic agents; an episodic agent computes this
            # many steps per seed, of which each seed's own valid ones are summary's env_steps.
            env_steps_per_seed=loop.schedule.total_steps,
            compile_time_s=compile_time,
            train_time_s=train_time,
            lane_width=lane_width,
            num_devices=num_devices,
            final_state=state,
            segment_seconds=np.asarray(segment_seconds, dtype=np.float64),
            compile_cache=cache_watch.stats.as_dict(),
        )
        if folder is not None:
            finish_run_folder(folder, result, loop.agent, lanes, save_replay, streams if restored else None)
        return result


ONE_CPU_DEVICE = (
    "JAX has 1 CPU device here and the rljax command 2: neural agents' numbers agree with the "
    "command line's only to float rounding, and training is slower. For the command line's "
    "numbers, call rljax.use_cpu_devices() before anything uses JAX."
)


def open_run_folder(
    folder: Path,
    spec: dict[str, Any],
    seeds: Sequence[int],
    resume: bool,
    overwrite: bool,
    argv: Sequence[str] | None,
    cache_dir: Path | None,
) -> tuple[Path, bool]:
    """Creates (or, to resume, checks) a run's folder, locked for this process; returns it and
    whether it holds a checkpoint to resume from.

    A multi-process run has one folder (on a filesystem every process sees): process 0
    writes and locks it; every process writes only its own checkpoint shards into it.

    To resume, the folder may be one that any instant of a run left when killed: the
    temporary file of a write cut short is deleted; a folder killed before it held
    ``run.json`` is started afresh; ``summary.json`` goes first (it says that the run
    finished, and this one now writes the rest of the folder again).
    """
    writer = jax.process_index() == 0
    if resume:
        found = [False]

        def open_folder():
            if writer and folder.is_dir():  # (a missing one: check_resume says there is nothing to resume)
                lock_folder(folder, argv)  # before reading it: one writer per folder
                remove_torn_writes(folder)
                if {c.name for c in folder.iterdir()} <= {LOCK_FILE, "manifest.json"}:  # killed as it began
                    _write_run_files(folder, spec, seeds, argv, cache_dir)
            found[0] = check_resume(folder, spec)
            if writer:
                (folder / "summary.json").unlink(missing_ok=True)

        on_every_process(open_folder, "opening the run folder")
        return folder, found[0]
    if jax.process_count() > 1:  # every process refuses an existing folder before process 0 empties it
        on_every_process(lambda: check_out_dir(folder, overwrite), "checking the run folder")

    def make_folder():
        if writer:
            made = prepare_out_dir(folder, overwrite, argv)  # created (or emptied) and locked
            _write_run_files(made, spec, seeds, argv, cache_dir)

    on_every_process(make_folder, "creating the run folder")
    return folder, False


def _write_run_files(folder: Path, spec: dict[str, Any], seeds: Sequence[int], argv, cache_dir) -> None:
    """A new run folder's ``run.json`` (first: a folder with it holds a run) and ``manifest.json``."""
    write_json_atomic(folder / "run.json", spec)
    write_json_atomic(folder / "manifest.json", manifest(seeds, list(argv) if argv else None, cache_dir))


@releases_folder_locks
def finished_run(folder: str | Path, spec: dict[str, Any], argv: Sequence[str] | None = None) -> dict[str, Any] | None:
    """The ``summary.json`` of the run in ``folder`` if it has finished (None otherwise).

    ``ValueError`` if the folder is another run's (``spec`` differs) or, with
    :class:`rljax.runs.locks.FolderInUse`, if another process is writing it.
    """
    folder = Path(folder)
    if not (folder / "summary.json").is_file():
        return None
    lock_folder(folder, argv)  # a run being resumed removes its summary first, under this lock
    check_resume(folder, spec)
    if not (folder / "summary.json").is_file():
        return None
    return _read_json_object(folder / "summary.json")


def finish_run_folder(
    folder: Path,
    result: TrainResult,
    agent: Agent,
    lanes: Lanes,
    save_replay: bool,
    resumed_streams: MetricsStreams | None,
) -> None:
    """Writes a finished run's summary, curves, config and final agent states into its folder.

    ``resumed_streams``: the metrics streams of a resumed run, whose ``metrics.csv`` may
    hold rows written after its checkpoint and is rebuilt from the result.
    """
    if jax.process_count() == 1:
        states = result.agent_states()
    else:  # every process takes part in gathering what process 0 writes (the replay only if asked)
        states = result.final_state.agent_state
        states = lanes.unpack(to_host(states if save_replay else agent.policy_part(states)))
    if jax.process_index() == 0:
        if resumed_streams is not None:
            resumed_streams.rebuild(result)
        save_final_states(folder, agent, states, save_replay)
        write_config_outputs(folder, result, 0, result.agent)  # summary.json last: the run is finished


def save_final_states(folder: Path, agent: Agent, states: Any, save_replay: bool) -> None:
    """``agent_state.msgpack`` (the policy's part) and, if asked, the whole states."""
    save_agent_states(folder, agent.policy_part(states))
    if save_replay:
        save_agent_states(folder, states, file=FULL_STATE_FILE)


def _interrupt_message(
    signum: int, loop: Loop, done: int, folder: Path | None, saved: bool, argv: Sequence[str] | None
) -> str:
    """What an interrupted run kept, and the exact way to continue it."""
    import signal

    steps = done * loop.schedule.steps_per_segment
    head = (
        f"{signal.Signals(signum).name}: stopped after segment {done} of {loop.schedule.num_segments} "
        f"({steps:,} of {loop.schedule.total_steps:,} env steps per seed)"
    )
    if folder is None:
        return head + ("; checkpoint saved" if saved else "; nothing was saved (train with out=DIR to resume)")
    return (
        f"{head}; checkpoint and metrics so far in {folder}; continue (same numbers as an uninterrupted "
        f"run) with: {resume_command(argv, folder, 'rljax.train')}"
    )


def resume_command(argv: Sequence[str] | None, folder: Path, function: str) -> str:
    """The command that continues the run (or sweep) in ``folder``: ``argv`` with ``--resume folder``
    (without ``--overwrite``), or the Python call ``function(..., out=folder, resume=True)``."""
    if argv and "--resume" not in argv:
        return " ".join([*(a for a in argv if a != "--overwrite"), "--resume", str(folder)])
    if argv:
        return " ".join(argv)
    return f"{function}(..., out={str(folder)!r}, resume=True)"


def _progress_bar(loop: Loop, num_runs: int):
    from tqdm.auto import tqdm

    return tqdm(
        total=loop.schedule.total_steps * num_runs,
        unit="step",
        unit_scale=True,
        desc=f"{loop.agent.name} on {loop.env.name} x{num_runs}",
        dynamic_ncols=True,
    )
