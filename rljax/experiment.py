"""The Python API of a training run: ``rljax.train(agent, env_id, seeds, ...)``.

It resolves names to an agent and an environment, applies the tuned preset for
the pair and the user's overrides, validates everything before anything is
traced, then trains every (configuration, seed) pair as one compiled program
(:mod:`rljax.batch`) with an optional progress bar.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import jax
import numpy as np

from rljax import compile_cache as compile_cache_module
from rljax import host_devices
from rljax.agents import Agent, agent_names, agent_ref, get_agent
from rljax.batch import DEFAULT_LANE_WIDTH, FAST_COMPILE, BatchRunner, Lanes, seed_keys, stack_configs, to_host
from rljax.configs import config_dict, make_config
from rljax.envs import make
from rljax.envs.registry import is_builtin as is_builtin_env
from rljax.files import check_out_dir, lock_folder, prepare_out_dir, releases_folder_locks, write_json_atomic
from rljax.interrupts import RunInterrupted, StopOnSignal
from rljax.loop import Loop, make_loop
from rljax.program_cache import ProgramCache
from rljax.results import MetricsStreams, TrainResult, write_config_outputs
from rljax.runs import (
    FULL_STATE_FILE,
    check_resume,
    load_checkpoint,
    manifest,
    run_spec,
    save_agent_states,
    save_checkpoint,
)
from rljax.watchdog import DEFAULT_MIN_SECONDS, Watchdog

DEFAULT_TOTAL_STEPS = 100_000
DEFAULT_EVAL_EPISODES = 100


@dataclass(frozen=True)
class Plan:
    """A resolved and validated run, ready for :func:`train`: what :func:`build` returns.

    ``configs[i]`` is the agent's preset with ``overrides[i]`` applied; ``loop`` is
    the compiled-program recipe for them. ``total_steps`` is what was asked for
    (``None``: the preset's); ``loop.schedule.total_steps`` is what will run.
    """

    agent: Agent
    env_id: str
    env_kwargs: dict[str, Any]
    overrides: list[dict[str, Any]]
    configs: list[Any]
    loop: Loop
    total_steps: int | None
    eval_every: int | None
    eval_episodes: int

    def run_spec(
        self, command: str, seeds: Sequence[int], lane_width: int, fast_compile: bool, config: int | None = None
    ) -> dict[str, Any]:
        """``run.json`` of this plan (of its configuration ``config`` only, for a sweep's folder)."""
        overrides = self.overrides if config is None else [self.overrides[config]]
        return run_spec(
            command,
            agent_ref(self.agent),  # a custom agent by its import path: load_policy rebuilds it
            self.env_id,
            self.env_kwargs,
            seeds,
            overrides,
            self.total_steps,
            self.eval_every,
            self.eval_episodes,
            lane_width,
            fast_compile,
        )


def build(
    agent: str | Agent,
    env_id: str,
    overrides: dict[str, Any] | Sequence[dict[str, Any]] | None = None,
    *,
    env_kwargs: dict[str, Any] | None = None,
    total_steps: int | None = None,
    eval_every: int | None = None,
    eval_episodes: int = DEFAULT_EVAL_EPISODES,
) -> Plan:
    """Resolves and validates a run (names, preset, overrides, environment, schedule); traces nothing.

    Every error a run's configuration can have is raised here, before anything is
    traced or written. ``train(plan, seeds)`` runs the result without checking again.
    Besides config fields, a preset may hold ``total_steps`` (env steps per seed, used
    when ``total_steps`` is None) and ``evaluations`` (how many evaluations the run has,
    used when ``eval_every`` is None; otherwise one every ``total_steps / 20``).
    """
    agent = get_agent(agent) if isinstance(agent, str) else agent
    env_kwargs = dict(env_kwargs or {})
    env, env_params = make(env_id, **env_kwargs)
    preset = agent.preset(env_id)  # tuned defaults live with the agent
    preset_steps = preset.pop("total_steps", DEFAULT_TOTAL_STEPS)
    preset_evaluations = preset.pop("evaluations", None)  # a preset's evaluation cadence, if it has one
    overrides = [dict(overrides or {})] if overrides is None or isinstance(overrides, dict) else list(overrides)
    if not overrides:
        raise ValueError("overrides must be a dict or a non-empty list of dicts")
    configs = [make_config(agent, {**preset, **o}) for o in overrides]
    if total_steps is not None and int(total_steps) < 1:
        raise ValueError(f"total_steps must be >= 1 env step; got {total_steps}")
    if int(eval_episodes) < 1:
        raise ValueError(f"eval_episodes must be >= 1; got {eval_episodes}")
    steps = int(total_steps if total_steps is not None else preset_steps)
    loop = make_loop(
        env,
        env_params,
        agent,
        configs[0],
        total_steps=steps,
        eval_every=eval_every if eval_every is not None or not preset_evaluations else steps // preset_evaluations,
        eval_episodes=int(eval_episodes),
    )  # make_loop validates configs[0] (its static fields shape the loop); the others here
    for c in configs[1:]:
        agent.validate(c, env, env_params)
    return Plan(agent, env_id, env_kwargs, overrides, configs, loop, total_steps, eval_every, int(eval_episodes))


def program_cache(plan: Plan, folder: Path | None, trace_cache: bool = True) -> ProgramCache | None:
    """The traced-program cache of ``plan``'s programs (:mod:`rljax.program_cache`), or None.

    Only when asked (``trace_cache``), and only where the key can name everything the
    trace reads: a built-in agent on a built-in or gymnax environment, in a
    single-process run, with the compile cache on.
    """
    if not trace_cache or folder is None or jax.process_count() > 1:
        return None
    if agent_ref(plan.agent) not in agent_names() or not is_builtin_env(plan.env_id):
        return None
    loop = plan.loop
    identity = {
        "agent": plan.agent.name,
        "env_id": plan.env_id,
        "env_kwargs": plan.env_kwargs,
        # The loop was built from the first configuration (its static fields shape it).
        "config": config_dict(plan.configs[0]),
        "num_envs": loop.num_envs,
        "rollout_length": loop.rollout_length,
        "schedule": dataclasses.asdict(loop.schedule),
    }
    return ProgramCache(folder, json.dumps(identity, sort_keys=True, default=repr))


def _as_plan(agent: str | Agent | Plan, env_id: str | None, overrides: Any, **build_kwargs: Any) -> Plan:
    """``agent`` itself when it is a :class:`Plan` (then nothing else may say what to build)."""
    if isinstance(agent, Plan):
        given = {k: v for k, v in {"env_id": env_id, "overrides": overrides, **build_kwargs}.items() if v is not None}
        if given:
            raise ValueError(f"train(plan, ...) takes these from the plan; do not pass {', '.join(sorted(given))}")
        return agent
    if env_id is None:
        raise ValueError("train needs an environment id (or a Plan from rljax.build)")
    build_kwargs = {k: v for k, v in build_kwargs.items() if v is not None}
    return build(agent, env_id, overrides, **build_kwargs)


def check_run_options(
    seeds: Sequence[int],
    lane_width: int,
    num_devices: int | None,
    watchdog_seconds: float | None,
    checkpoint_every: int | None,
) -> list[int]:
    """Checks how a run is laid out and watched (before anything is written); returns the seeds as ints."""
    host_devices.check()  # otherwise a bad RLJAX_CPU_DEVICES would leave JAX's count silently
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ValueError("need at least one seed")
    if any(s < 0 for s in seeds) or len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be distinct non-negative integers; got {seeds}")
    if int(lane_width) < 1:
        raise ValueError(f"lane_width must be >= 1; got {lane_width}")
    available = len(_devices())
    if num_devices is not None and not 1 <= int(num_devices) <= available:
        raise ValueError(f"num_devices must be in [1, {available}] (available devices); got {num_devices}")
    if watchdog_seconds is not None and not watchdog_seconds >= 0:
        raise ValueError(f"watchdog_seconds must be >= 0 (0 = off); got {watchdog_seconds}")
    if checkpoint_every is not None and int(checkpoint_every) <= 0:
        raise ValueError(f"checkpoint_every must be > 0 env steps; got {checkpoint_every}")
    return seeds


def _devices() -> list[Any]:
    # After jax.distributed.initialize() (multi-host), shard over every process's devices.
    return jax.devices() if jax.process_count() > 1 else jax.local_devices()


def _on_every_process(step: Callable[[], Any], what: str) -> Any:
    """``step()``; in a multi-process run, an error on any process is an error on every one.

    Why: the processes meet in collectives every segment, so one that stops alone (a
    folder in use, a full disk) would leave the others waiting forever. The check is a
    collective, so it is also a barrier: no process goes on before ``step`` is done on all.
    """
    if jax.process_count() == 1:
        return step()
    from jax.experimental.multihost_utils import process_allgather

    result, error = None, None
    try:
        result = step()
    except Exception as err:
        error = err
    failed = np.flatnonzero(np.asarray(process_allgather(np.int32(error is not None))))
    if error is not None:
        raise error
    if failed.size:
        raise RuntimeError(f"{what} failed on process {', '.join(map(str, failed))} (see its error)")
    return result


class _StopRequested:
    """``should_stop`` of a run: in a multi-process one, True on every process once any got a signal.

    Why: a cluster signals each process on its own, a little apart (or only some); all must
    stop before the same segment, or the others wait for it in that segment's collectives.
    :attr:`signum` is the signal that stopped the run (the highest, if several came).
    """

    def __init__(self, stopper: StopOnSignal):
        self.stopper = stopper
        self.signum: int | None = None

    def __call__(self) -> bool:
        signum = self.stopper.signum or 0
        if jax.process_count() > 1:
            from jax.experimental.multihost_utils import process_allgather

            signum = int(np.asarray(process_allgather(np.int32(signum))).max())
        self.signum = signum or None
        return self.signum is not None


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
      lane_width: runs per vmapped lane (see :mod:`rljax.batch`).
      on_segment: called between compiled segments with that segment's metrics.
      progress: show the progress bar of the command line (env steps/s, ETA, latest eval
        return) on stderr; False: none.
      compiler_options: XLA options; ``rljax.batch.FAST_COMPILE`` compiles small
        programs several times faster and runs them slower (for short runs).
      checkpoint_dir: save the whole training state in this folder every
        ``checkpoint_every`` env steps per seed.
      checkpoint_every: env steps per seed between checkpoints (rounded to whole
        segments).
      resume: continue from the checkpoint in ``checkpoint_dir``; the result is
        bitwise the one an uninterrupted run gives.
      num_devices: shard the lanes over this many local devices (default: all
        of them); per-seed results are the same as on one device.
      watchdog_seconds: if no segment finishes for this long (or 20x the slowest
        segment so far, whichever is longer), print every thread's stack and end
        the process with exit code 4 (:mod:`rljax.watchdog`); 0 or None: never.
      watchdog_advice: a line the watchdog adds to its error (e.g. how to resume).
      out: write the run folder of ``rljax train`` there (``run.json``,
        ``manifest.json``, ``metrics.csv`` streamed segment by segment,
        ``summary.json``, ``config.json``, ``curves.png``, the final agent states
        and, with ``checkpoint_every``, checkpoints): what :func:`rljax.report` and
        :func:`rljax.load_policy` read. Everything is validated before the folder
        is created. ``resume=True`` continues the run in ``out``.
      overwrite: replace an existing ``out`` folder.
      argv: the command line recorded in ``manifest.json`` (default: this process's).
      compile_cache: JAX's persistent compilation cache (:mod:`rljax.compile_cache`):
        None = on, in the user cache folder unless ``$RLJAX_COMPILE_CACHE`` says
        otherwise; False = off; a path = that folder.
      trace_cache: also reuse traced programs saved in the compile-cache folder
        (:mod:`rljax.program_cache`; built-in agents and environments only), skipping
        Python's tracing on a repeated run. Off by default: an entry is checked against
        the source files, not against the functions in memory, so in a process that
        replaced or wrapped a function (a notebook, a script that patches an agent) it
        would run the code the files hold. ``rljax train`` and ``rljax sweep`` turn it
        on: their process runs only code loaded from files.
      save_replay: with ``out``, also write ``agent_state_full.msgpack``: every seed's
        whole final state, replay buffer included (``agent_state.msgpack`` holds what
        the trained policy needs, see :attr:`Agent.policy_state`).
    """
    plan = _as_plan(
        agent,
        env_id,
        overrides,
        env_kwargs=env_kwargs,
        total_steps=total_steps,
        eval_every=eval_every,
        eval_episodes=eval_episodes,
    )
    seeds = check_run_options(seeds, lane_width, num_devices, watchdog_seconds, checkpoint_every)
    loop, configs = plan.loop, plan.configs
    if out is not None and len(configs) > 1:
        raise ValueError("out= writes one configuration's run folder; use rljax.sweep for several")
    if resume and out is None and checkpoint_dir is None:
        raise ValueError("resume needs checkpoint_dir (or out)")
    if checkpoint_every is not None and out is None and checkpoint_dir is None:
        raise ValueError("checkpoint_every needs checkpoint_dir (or out)")
    run_seeds = [s for _ in configs for s in seeds]
    config_ids = [c for c in range(len(configs)) for _ in seeds]
    keys = seed_keys(run_seeds)
    batched = stack_configs([configs[c] for c in config_ids])
    devices = _devices()
    num_devices = len(devices) if num_devices is None else int(num_devices)
    lanes = Lanes(len(run_seeds), lane_width, num_devices)
    runner = BatchRunner(loop, lanes, devices)

    cache_dir = compile_cache_module.enable(compile_cache_module.resolve(compile_cache))
    # A multi-process run has one folder (on a filesystem every process sees): process 0
    # writes and locks it; every process writes only its own checkpoint shards into it.
    writer = jax.process_index() == 0
    folder = None
    if out is not None:  # validated above; only now is anything written
        spec = plan.run_spec("train", seeds, lane_width, compiler_options == FAST_COMPILE)
        folder = Path(out)
        if resume:

            def open_folder():
                if writer and folder.is_dir():  # (a missing one: check_resume says there is nothing to resume)
                    lock_folder(folder, argv)  # before reading it: one writer per folder
                check_resume(folder, spec)

            _on_every_process(open_folder, "opening the run folder")
        else:
            if jax.process_count() > 1:  # every process refuses an existing folder before process 0 empties it
                _on_every_process(lambda: check_out_dir(folder, overwrite), "checking the run folder")

            def make_folder():
                if writer:
                    made = prepare_out_dir(folder, overwrite, argv)  # created (or emptied) and locked
                    write_json_atomic(made / "run.json", spec)
                    write_json_atomic(made / "manifest.json", manifest(seeds, list(argv) if argv else None, cache_dir))

            _on_every_process(make_folder, "creating the run folder")
        checkpoint_dir = folder
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

    restored = load_checkpoint(checkpoint_dir, runner.state_shape(keys, batched), runner.sharding) if resume else None
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

    def checkpoint(state, history):
        _on_every_process(lambda: save_checkpoint(checkpoint_dir, state, history, segment_seconds), "a checkpoint")

    start = time.perf_counter()
    with StopOnSignal() as stopper:  # Ctrl-C / SIGTERM: finish the segment, save, then stop
        should_stop = _StopRequested(stopper)
        state, metrics = runner.run(
            keys,
            batched,
            on_segment=after_segment,
            resume=(restored.state, restored.history) if restored else None,
            checkpoint_every=every,
            on_checkpoint=checkpoint,
            watchdog=Watchdog(watchdog_seconds, advice=watchdog_advice),
            should_stop=should_stop,
        )
        jax.block_until_ready(state)
    train_time = time.perf_counter() - start
    if bar is not None:
        bar.close()
    done = metrics["env_steps"].shape[1]
    if done < loop.schedule.num_segments:  # stopped by a signal
        saved = out is not None or checkpoint_every is not None  # a sweep's programs cannot resume
        if saved:
            history = [{k: v[:, j] for k, v in metrics.items()} for j in range(done)]
            checkpoint(state, history)
        signum = should_stop.signum
        raise RunInterrupted(signum, _interrupt_message(signum, loop, done, folder, saved, argv))

    result = TrainResult(
        agent=loop.agent.name,
        env_id=plan.env_id,
        env_kwargs=dict(plan.env_kwargs),
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
        if jax.process_count() == 1:
            states = result.agent_states()
        else:  # every process takes part in gathering what process 0 writes (the replay only if asked)
            states = state.agent_state if save_replay else loop.agent.policy_part(state.agent_state)
            states = lanes.unpack(to_host(states))
        if writer:
            if resume:  # metrics.csv may hold rows written after the checkpoint: rebuild it
                streams.rebuild(result)
            write_config_outputs(folder, result, 0, result.agent)
            save_final_states(folder, loop.agent, states, save_replay)
    return result


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
    if argv and "--resume" not in argv:
        command = " ".join([*(a for a in argv if a != "--overwrite"), "--resume", str(folder)])
    elif argv:
        command = " ".join(argv)
    else:
        command = f"rljax.train(..., out={str(folder)!r}, resume=True)"
    return (
        f"{head}; checkpoint and metrics so far in {folder}; continue (same numbers as an uninterrupted "
        f"run) with: {command}"
    )


def _progress_bar(loop: Loop, num_runs: int):
    from tqdm.auto import tqdm

    return tqdm(
        total=loop.schedule.total_steps * num_runs,
        unit="step",
        unit_scale=True,
        desc=f"{loop.agent.name} on {loop.env.name} x{num_runs}",
        dynamic_ncols=True,
    )
