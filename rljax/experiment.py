"""The Python API of a training run: ``rljax.train(agent, env_id, seeds, ...)``.

It resolves names to an agent and an environment, applies the tuned preset for
the pair and the user's overrides, validates everything before anything is
traced, then trains every (configuration, seed) pair as one compiled program
(:mod:`rljax.batch`) with an optional progress bar.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import jax
import numpy as np

from rljax.agents import Agent, get_agent
from rljax.agents.base import config_fields, is_static_field
from rljax.batch import DEFAULT_LANE_WIDTH, FAST_COMPILE, BatchRunner, Lanes, seed_keys, stack_configs
from rljax.envs import SOLVED_AT, make  # noqa: F401  (SOLVED_AT: re-exported for scripts)
from rljax.loop import Loop, make_loop
from rljax.runs import (
    MetricsTable,
    check_resume,
    load_checkpoint,
    manifest,
    metrics_rows,
    prepare_out_dir,
    run_spec,
    save_agent_states,
    save_checkpoint,
    write_json_atomic,
)
from rljax.watchdog import DEFAULT_MIN_SECONDS, Watchdog

DEFAULT_TOTAL_STEPS = 100_000


def parse_value(text: str, default: Any, name: str) -> Any:
    """Parses a command-line value to the type of a field's default."""
    try:
        if isinstance(default, bool):
            if text.lower() in ("1", "true", "yes", "on"):
                return True
            if text.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError
        if isinstance(default, int):
            return int(float(text)) if float(text).is_integer() else int(text)
        if isinstance(default, float):
            return float(text)
        if isinstance(default, tuple):
            parts = [p for p in text.replace("(", "").replace(")", "").split(",") if p.strip()]
            kind = type(default[0]) if default else int
            return tuple(kind(p) for p in parts)
        return text
    except ValueError:
        raise ValueError(f"cannot parse {name}={text!r} as {type(default).__name__}") from None


def make_config(agent: Agent, overrides: dict[str, Any] | None = None) -> Any:
    """The agent's default config with ``overrides`` applied (strings are parsed).

    Unknown keys are an error that lists the allowed ones.
    """
    fields = config_fields(agent.config_type)
    default = agent.config_type()
    values = {}
    for key, value in (overrides or {}).items():
        if key not in fields:
            raise ValueError(f"unknown hyperparameter {key!r} for {agent.name}; allowed: {', '.join(sorted(fields))}")
        current = getattr(default, key)
        values[key] = (
            parse_value(value, current, key) if isinstance(value, str) and not isinstance(current, str) else value
        )
    return dataclasses.replace(default, **values)


def config_dict(config: Any) -> dict[str, Any]:
    """Every hyperparameter of a (single) config as plain Python values."""
    out = {}
    for name in config_fields(type(config)):
        value = getattr(config, name)
        out[name] = value.item() if hasattr(value, "item") else value
    return out


@dataclass
class TrainResult:
    """What one call of :func:`train` produced.

    ``metrics[name]`` has shape ``[runs, segments]`` where run i is
    ``(config_ids[i], seeds[i])``; ``final_eval_return[i]`` is the mean return of
    run i's evaluation policy over ``eval_episodes`` fresh episodes after training.
    """

    agent: str
    env_id: str
    env_kwargs: dict[str, Any]
    seeds: list[int]
    config_ids: list[int]
    configs: list[dict[str, Any]]
    metrics: dict[str, np.ndarray]
    final_eval_return: np.ndarray
    eval_episodes: int
    env_steps_per_seed: int
    compile_time_s: float
    train_time_s: float
    lane_width: int
    num_devices: int = 1
    final_state: Any = field(repr=False, default=None)

    def agent_states(self) -> Any:
        """Every run's final agent state, leading axis = run (padding dropped)."""
        from rljax.batch import Lanes

        lanes = Lanes(len(self.seeds), self.lane_width, self.num_devices)
        return lanes.unpack(self.final_state.agent_state)

    @property
    def diverged_at_step(self) -> list[int | None]:
        """Per run: env step at which a loss or parameter first became non-finite, else None."""
        last = self.metrics["diverged_at"][:, -1]
        return [int(s) if s >= 0 else None for s in last]

    def summary(self, config_id: int | None = None) -> dict[str, Any]:
        """The ``summary.json`` contract of ``rljax train`` (for one configuration)."""
        from rljax.runs import versions

        idx = [i for i, c in enumerate(self.config_ids) if config_id is None or c == config_id]
        cid = self.config_ids[idx[0]]
        return {
            "agent": self.agent,
            "env": self.env_id,
            "env_kwargs": self.env_kwargs,
            "seeds": [self.seeds[i] for i in idx],
            "final_eval_return": [float(self.final_eval_return[i]) for i in idx],
            "eval_episodes": self.eval_episodes,
            "env_steps_per_seed": self.env_steps_per_seed,
            "compile_time_s": round(self.compile_time_s, 3),
            "train_time_s": round(self.train_time_s, 3),
            "lane_width": self.lane_width,
            "num_devices": self.num_devices,
            "diverged": [self.diverged_at_step[i] is not None for i in idx],
            "diverged_at_step": [self.diverged_at_step[i] for i in idx],
            "config": self.configs[cid],
            "versions": versions(),
        }


def build(
    agent: str | Agent,
    env_id: str,
    overrides: dict[str, Any] | Sequence[dict[str, Any]] | None = None,
    *,
    env_kwargs: dict[str, Any] | None = None,
    total_steps: int | None = None,
    eval_every: int | None = None,
    eval_episodes: int = 100,
) -> tuple[Loop, list[Any]]:
    """Resolves and validates a run: returns its :class:`Loop` and one config per setting."""
    agent = get_agent(agent) if isinstance(agent, str) else agent
    env_kwargs = dict(env_kwargs or {})
    env, env_params = make(env_id, **env_kwargs)
    preset = agent.preset(env_id)  # tuned defaults live with the agent
    preset_steps = preset.pop("total_steps", DEFAULT_TOTAL_STEPS)
    if overrides is None or isinstance(overrides, dict):
        overrides = [overrides or {}]
    configs = [make_config(agent, {**preset, **o}) for o in overrides]
    for c in configs:
        agent.validate(c, env, env_params)
    total_steps = int(total_steps if total_steps is not None else preset_steps)
    loop = make_loop(
        env,
        env_params,
        agent,
        configs[0],
        total_steps=total_steps,
        eval_every=eval_every,
        eval_episodes=eval_episodes,
    )
    return loop, configs


def train(
    agent: str | Agent,
    env_id: str,
    seeds: Sequence[int] = (0,),
    overrides: dict[str, Any] | Sequence[dict[str, Any]] | None = None,
    *,
    env_kwargs: dict[str, Any] | None = None,
    total_steps: int | None = None,
    eval_every: int | None = None,
    eval_episodes: int = 100,
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
) -> TrainResult:
    """Trains ``agent`` on ``env_id`` for every seed (and every override set) in one program.

    Args:
      agent: an agent name (``"q_learning"``, ``"dqn"``, ...) or an :class:`Agent`.
      env_id: an id for :func:`rljax.make`; ``env_kwargs`` are passed to it.
      seeds: seed s is trained from ``PRNGKey(s)`` alone, so it gives the same
        numbers whatever else is in the batch.
      overrides: hyperparameters over the tuned preset; a list of dicts trains
        every setting for every seed (a sweep) in the same program.
      total_steps: env steps per seed (default: the preset's).
      eval_every, eval_episodes: evaluation cadence and size.
      lane_width: runs per vmapped lane (see :mod:`rljax.batch`).
      on_segment: called between compiled segments with that segment's metrics.
      progress: show the progress bar of the command line (env steps/s, ETA, latest eval
        return) on stderr; False: none.
      compiler_options: XLA options; ``rljax.batch.FAST_COMPILE`` compiles small
        programs several times faster and runs them slower (for short runs).
      checkpoint_dir, checkpoint_every: save the whole training state there every
        ``checkpoint_every`` env steps per seed (rounded to whole segments).
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
    """
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ValueError("need at least one seed")
    loop, configs = build(
        agent,
        env_id,
        overrides,
        env_kwargs=env_kwargs,
        total_steps=total_steps,
        eval_every=eval_every,
        eval_episodes=eval_episodes,
    )
    run_seeds = [s for _ in configs for s in seeds]
    config_ids = [c for c in range(len(configs)) for _ in seeds]
    keys = seed_keys(run_seeds)
    batched = stack_configs([configs[c] for c in config_ids])
    # After jax.distributed.initialize() (multi-host), shard over every process's devices.
    devices = jax.devices() if jax.process_count() > 1 else jax.local_devices()
    num_devices = len(devices) if num_devices is None else int(num_devices)
    if not 1 <= num_devices <= len(devices):
        raise ValueError(f"num_devices must be in [1, {len(devices)}] (available devices); got {num_devices}")
    lanes = Lanes(len(run_seeds), lane_width, num_devices)
    runner = BatchRunner(loop, lanes, devices)
    if watchdog_seconds is not None and watchdog_seconds < 0:
        raise ValueError(f"watchdog_seconds must be >= 0 (0 = off); got {watchdog_seconds}")
    if checkpoint_every is not None and checkpoint_every <= 0:
        raise ValueError(f"checkpoint_every must be > 0 env steps; got {checkpoint_every}")

    folder = None
    if out is not None:  # validated above; only now is anything written
        if len(configs) > 1:
            raise ValueError("out= writes one configuration's run folder; use rljax.sweep for several")
        spec = run_spec(
            "train",
            loop.agent.name,
            env_id,
            env_kwargs or {},
            seeds,
            [overrides or {}] if isinstance(overrides, (dict, type(None))) else list(overrides),
            total_steps,
            eval_every,
            eval_episodes,
            lane_width,
            compiler_options == FAST_COMPILE,
        )
        folder = Path(out)
        if resume:
            check_resume(folder, spec)
        else:
            folder = prepare_out_dir(folder, overwrite)
            write_json_atomic(folder / "run.json", spec)
            write_json_atomic(folder / "manifest.json", manifest(seeds, list(argv) if argv else None))
        checkpoint_dir = folder
        streams = MetricsStreams([folder], seeds)
        user_on_segment = on_segment

        def on_segment(i, metrics):
            streams.append(i, metrics)
            if user_on_segment is not None:
                user_on_segment(i, metrics)

    start = time.perf_counter()
    runner.compile(keys, batched, compiler_options)
    compile_time = time.perf_counter() - start

    restored = None
    if resume:
        if checkpoint_dir is None:
            raise ValueError("resume needs checkpoint_dir")
        restored = load_checkpoint(checkpoint_dir, runner.state_shape(keys, batched))
    every = None
    if checkpoint_every is not None:
        if checkpoint_dir is None:
            raise ValueError("checkpoint_every needs checkpoint_dir")
        every = max(1, round(checkpoint_every / loop.schedule.steps_per_segment))

    bar = _progress_bar(loop, len(run_seeds)) if progress else None
    if bar is not None and restored:
        bar.update(loop.schedule.steps_per_segment * len(run_seeds) * len(restored[1]))

    def after_segment(i, metrics):
        if bar is not None:
            bar.update(loop.schedule.steps_per_segment * len(run_seeds))
            bar.set_postfix(eval_return=f"{np.nanmean(metrics['eval_return']):.2f}")
        if on_segment is not None:
            on_segment(i, metrics)

    def checkpoint(state, history):
        save_checkpoint(checkpoint_dir, state, history)

    start = time.perf_counter()
    state, metrics = runner.run(
        keys,
        batched,
        on_segment=after_segment,
        resume=restored,
        checkpoint_every=every,
        on_checkpoint=checkpoint,
        watchdog=Watchdog(watchdog_seconds, advice=watchdog_advice),
    )
    jax.block_until_ready(state)
    train_time = time.perf_counter() - start
    if bar is not None:
        bar.close()

    result = TrainResult(
        agent=loop.agent.name,
        env_id=env_id,
        env_kwargs=dict(env_kwargs or {}),
        seeds=run_seeds,
        config_ids=config_ids,
        configs=[config_dict(c) for c in configs],
        metrics=metrics,
        final_eval_return=metrics["eval_return"][:, -1],
        eval_episodes=eval_episodes,
        env_steps_per_seed=int(metrics["env_steps"][0, -1]),
        compile_time_s=compile_time,
        train_time_s=train_time,
        lane_width=lane_width,
        num_devices=num_devices,
        final_state=state,
    )
    if folder is not None:
        if resume:  # metrics.csv may hold rows written after the checkpoint: rebuild it
            streams.rebuild(result)
        write_config_outputs(folder, result, 0, result.agent)
        save_agent_states(folder, result.agent_states())
    return result


class MetricsStreams:
    """``metrics.csv`` of one or more run folders, one fsynced segment at a time.

    Folder ``c`` receives the rows of configuration ``c`` (runs ``c * len(seeds)`` to
    ``(c + 1) * len(seeds)`` of the batch).
    """

    def __init__(self, dirs: Sequence[Path], seeds: Sequence[int]):
        self.dirs, self.seeds = [Path(d) for d in dirs], list(seeds)
        self.tables = [MetricsTable(d / "metrics.csv") for d in self.dirs]

    def _part(self, metrics: dict[str, np.ndarray], cid: int, *index: Any) -> dict[str, np.ndarray]:
        n = len(self.seeds)
        return {k: v[(slice(cid * n, (cid + 1) * n), *index)] for k, v in metrics.items()}

    def append(self, segment: int, metrics: dict[str, np.ndarray]) -> None:
        """Appends one segment's rows (``metrics[name]`` has shape ``[runs]``)."""
        n = len(self.seeds)
        for cid, table in enumerate(self.tables):
            table.append(metrics_rows(self.seeds, [cid] * n, self._part(metrics, cid), segment))

    def rebuild(self, result: "TrainResult") -> None:
        """Rewrites every table from a finished result (after a resume)."""
        n = len(self.seeds)
        for cid, d in enumerate(self.dirs):
            (d / "metrics.csv").unlink(missing_ok=True)
            self.tables[cid] = table = MetricsTable(d / "metrics.csv")
            for i in range(result.metrics["env_steps"].shape[1]):
                table.append(metrics_rows(self.seeds, [cid] * n, self._part(result.metrics, cid, i), i))


def write_config_outputs(out: Path, result: TrainResult, config_id: int, label: str) -> dict[str, Any]:
    """``summary.json``, ``config.json`` and ``curves.png`` of one configuration of a result."""
    from rljax.envs import solved_at
    from rljax.plots import plot_curves

    summary = result.summary(config_id)
    rows = [i for i, c in enumerate(result.config_ids) if c == config_id]
    write_json_atomic(out / "config.json", summary["config"])
    plot_curves(
        [(label, result.metrics["env_steps"][rows[0]], result.metrics["eval_return"][rows])],
        out / "curves.png",
        title=f"{result.agent} on {result.env_id}",
        solved_at=solved_at(result.env_id),
    )
    write_json_atomic(out / "summary.json", summary)
    return summary


def grid_combinations(agent: str | Agent, grid: dict[str, Sequence[Any]]) -> tuple[list[dict[str, Any]], list[str]]:
    """Every combination of ``grid`` (``{name: [values]}``), in order, and the static names among them.

    Each value is checked (unknown names and unparsable strings raise ``ValueError``).
    Static hyperparameters change the program's shapes or structure: combinations that
    differ in them cannot share one compiled program (see :func:`group_by_static`).
    """
    import itertools

    agent = get_agent(agent) if isinstance(agent, str) else agent
    if not grid:
        raise ValueError("a sweep needs at least one hyperparameter with a list of values")
    fields = config_fields(agent.config_type)
    for key, values in grid.items():
        if isinstance(values, (str, bytes)) or not len(values):
            raise ValueError(f"grid values of {key!r} must be a non-empty list; got {values!r}")
        for v in values:
            make_config(agent, {key: v})  # unknown key / unparsable value -> clear error
    static = [k for k in grid if is_static_field(fields[k])]
    combos = [dict(zip(grid, values)) for values in itertools.product(*grid.values())]
    return combos, static


def group_by_static(combos: Sequence[dict[str, Any]], static: Sequence[str]) -> list[list[int]]:
    """Indices of ``combos`` grouped by their static values: one compiled program per group."""
    groups: dict[tuple, list[int]] = {}
    for i, combo in enumerate(combos):
        groups.setdefault(tuple(str(combo[k]) for k in static), []).append(i)
    return list(groups.values())


def config_label(combo: dict[str, Any]) -> str:
    """The folder name of a sweep configuration: ``learning_rate=0.001,gamma=0.9``."""
    return ",".join(f"{k}={v}" for k, v in combo.items())


@dataclass
class SweepResult:
    """What :func:`sweep` produced: one :class:`TrainResult` per compiled program.

    ``configs[i]`` (label ``labels[i]``) was trained in ``results[program[i]]`` as
    its configuration ``config_index[i]``.
    """

    combos: list[dict[str, Any]]
    labels: list[str]
    results: list[TrainResult]
    program: list[int]
    config_index: list[int]

    def summary(self, i: int) -> dict[str, Any]:
        """The ``summary.json`` contract of configuration ``i``."""
        return self.results[self.program[i]].summary(self.config_index[i])

    def final_eval_return(self, i: int) -> np.ndarray:
        """Per seed, configuration ``i``'s final evaluation return."""
        result, cid = self.results[self.program[i]], self.config_index[i]
        return result.final_eval_return[np.asarray(result.config_ids) == cid]


def sweep(
    agent: str | Agent,
    env_id: str,
    grid: dict[str, Sequence[Any]],
    seeds: Sequence[int] = (0,),
    overrides: dict[str, Any] | None = None,
    *,
    allow_recompile: bool = False,
    **train_kwargs: Any,
) -> SweepResult:
    """Trains every combination of ``grid`` for every seed: ``rljax sweep`` as a function.

    Combinations that differ only in traced hyperparameters (learning rate, gamma,
    epsilons, ...) run as ONE compiled program; a grid over a static one (network
    widths, ``num_envs``, ...) needs one program per value and is refused unless
    ``allow_recompile``. ``overrides`` apply to every combination; ``train_kwargs``
    go to :func:`train` (``total_steps``, ``eval_episodes``, ``progress``, ...).
    """
    combos, static = grid_combinations(agent, grid)
    if static and not allow_recompile:
        raise ValueError(
            f"a grid over static hyperparameter(s) {', '.join(static)} would compile one program per "
            f"value; pass allow_recompile=True (--allow-recompile) to do that"
        )
    program, config_index, results = [0] * len(combos), [0] * len(combos), []
    for g, members in enumerate(group_by_static(combos, static)):
        results.append(
            train(agent, env_id, seeds, [{**(overrides or {}), **combos[i]} for i in members], **train_kwargs)
        )
        for cid, i in enumerate(members):
            program[i], config_index[i] = g, cid
    return SweepResult(combos, [config_label(c) for c in combos], results, program, config_index)


def _progress_bar(loop: Loop, num_runs: int):
    from tqdm.auto import tqdm

    return tqdm(
        total=loop.schedule.total_steps * num_runs,
        unit="step",
        unit_scale=True,
        desc=f"{loop.agent.name} on {loop.env.name} x{num_runs}",
        dynamic_ncols=True,
    )
