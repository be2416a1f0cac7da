"""``rljax.sweep``: every combination of a hyperparameter grid x every seed, in as few programs as possible.

Combinations that differ only in *traced* hyperparameters (learning rate, gamma,
epsilons, ...) are one compiled program: their configs are stacked and vmapped with
the seeds. A *static* hyperparameter (a network width, ``num_envs``) changes the
program, so each of its values needs its own program (``allow_recompile``). A grid over
``env.NAME`` sweeps an environment parameter (``env.gravity``: domain randomisation): each
run steps its environment with its own value, in the same one program.

With ``out=DIR`` the sweep folder is written: ``manifest.json``, ``sweep.json`` (the
grid and its labels), one run folder per configuration (``DIR/<label>/``, the
contents of a ``rljax train`` folder, so :func:`rljax.load_policy` and
:func:`rljax.report` read it) and ``curves.png`` with every configuration.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import jax
import numpy as np

from rljax._errors import ValidationError
from rljax.agents import Agent, get_agent
from rljax.agents.base import config_fields, is_static_field
from rljax.envs import solved_at
from rljax.experiment import save_final_states, train
from rljax.results import MetricsStreams, TrainResult, write_config_outputs
from rljax.runs import compile_cache
from rljax.runs.files import prepare_out_dir, write_json_atomic
from rljax.runs.locks import releases_folder_locks
from rljax.runs.loggers import LogChoice, SegmentLogger, check_logger, hparams_of
from rljax.runs.manifest import manifest
from rljax.training.batch import DEFAULT_LANE_WIDTH, FAST_COMPILE
from rljax.training.configs import make_config
from rljax.training.interrupts import RunInterrupted
from rljax.training.plan import (
    DEFAULT_EVAL_EPISODES,
    ENV_PREFIX,
    Plan,
    build,
    check_run_options,
    static_env_options,
)


def grid_combinations(
    agent: str | Agent,
    grid: dict[str, Sequence[Any]],
    env_id: str | None = None,
    env_kwargs: dict[str, Any] | None = None,
) -> tuple[list[dict[str, Any]], list[str]]:
    """Every combination of ``grid`` (``{name: [values]}``), in order, and the static names among them.

    Each value is checked (unknown names and unparsable strings raise ``ValueError``).
    Static hyperparameters change the program's shapes or structure: combinations that
    differ in them cannot share one compiled program (see :func:`group_by_static`).
    A name ``env.NAME`` sweeps environment option NAME of ``env_id`` (a domain-randomisation
    study): its values are per-run values of one program unless they change what the
    program is built from (:func:`rljax.training.plan.static_env_options`).
    """
    agent = get_agent(agent) if isinstance(agent, str) else agent
    if not grid:
        raise ValidationError("a sweep needs at least one hyperparameter with a list of values")
    fields = config_fields(agent.config_type)
    env_grid = {k[len(ENV_PREFIX) :]: v for k, v in grid.items() if k.startswith(ENV_PREFIX)}
    for key, values in grid.items():
        if isinstance(values, (str, bytes)) or not len(values):
            raise ValidationError(f"grid values of {key!r} must be a non-empty list; got {values!r}")
        for v in values:
            if not key.startswith(ENV_PREFIX):
                make_config(agent, {key: v})  # unknown key / unparsable value -> clear error
    static = [k for k in grid if not k.startswith(ENV_PREFIX) and is_static_field(fields[k])]
    if env_grid:
        if env_id is None:
            raise ValidationError(f"a grid over environment options ({', '.join(env_grid)}) needs env_id")
        static += [ENV_PREFIX + k for k in static_env_options(agent, env_id, dict(env_kwargs or {}), env_grid)]
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
        return result.final_eval_return[result.rows(cid)]

    def curves(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """Configuration ``i``'s evaluation curves: env steps ``[segments]``, returns ``[seeds, segments]``."""
        result, cid = self.results[self.program[i]], self.config_index[i]
        rows = result.rows(cid)
        return result.curve_steps(rows), result.metrics["eval_return"][rows]


@releases_folder_locks  # the sweep folder's writer lock, taken below, goes when sweep returns or raises
def sweep(
    agent: str | Agent,
    env_id: str,
    grid: dict[str, Sequence[Any]],
    seeds: Sequence[int] = (0,),
    overrides: dict[str, Any] | None = None,
    *,
    allow_recompile: bool = False,
    env_kwargs: dict[str, Any] | None = None,
    total_steps: int | None = None,
    eval_every: int | None = None,
    eval_episodes: int = DEFAULT_EVAL_EPISODES,
    out: str | Path | None = None,
    overwrite: bool = False,
    argv: Sequence[str] | None = None,
    log: LogChoice = "none",
    **train_kwargs: Any,
) -> SweepResult:
    """Trains every combination of ``grid`` for every seed: ``rljax sweep`` as a function.

    Combinations that differ only in traced hyperparameters (learning rate, gamma,
    epsilons, ...) run as ONE compiled program; a grid over a static one (network
    widths, ``num_envs``, ...) needs one program per value and is refused unless
    ``allow_recompile``. ``overrides`` apply to every combination; ``out`` writes the
    sweep folder (see the module docstring; ``overwrite`` replaces one); ``log``
    (``"tensorboard"`` or ``"wandb"``, with ``out``) also logs each configuration folder's
    metrics there (:mod:`rljax.runs.loggers`); the other ``train_kwargs`` go to :func:`train`
    (``lane_width``, ``progress``, ...).
    Every program's configuration is validated before anything is trained or written.
    """
    both = sorted(set(grid) & set(overrides or {}))
    if both:
        raise ValidationError(f"{', '.join(both)} is both swept (grid) and fixed (overrides / --set): give it once")
    combos, static = grid_combinations(agent, grid, env_id, env_kwargs)
    if static and not allow_recompile:
        raise ValidationError(
            f"a grid over static hyperparameter(s) {', '.join(static)} would compile one program per "
            f"value; pass allow_recompile=True (--allow-recompile) to do that"
            + (
                " (an env.NAME is static when it is a constructor option, is read as a Python value by the "
                "environment, or changes the spaces or rollout length the agent is built for)"
                if any(k.startswith(ENV_PREFIX) for k in static)
                else ""
            )
        )
    for name in ("out", "resume", "checkpoint_dir", "on_segment"):
        if name in train_kwargs:
            raise ValidationError(f"sweep does not take {name}= (it writes each configuration's folder itself)")
    check_logger(log)  # a missing extra is a usage error before anything is written
    if log != "none" and out is None:
        raise ValidationError(f"log={log!r} writes into the sweep folder: pass out= too")
    groups = group_by_static(combos, static)
    labels = [config_label(c) for c in combos]
    overrides_of = [{**(overrides or {}), **c} for c in combos]
    plans = [
        build(
            agent,
            env_id,
            [overrides_of[i] for i in members],
            env_kwargs=env_kwargs,
            total_steps=total_steps,
            eval_every=eval_every,
            eval_episodes=eval_episodes,
        )
        for members in groups
    ]
    seeds = check_run_options(
        seeds,
        train_kwargs.get("lane_width", DEFAULT_LANE_WIDTH),
        train_kwargs.get("num_devices"),
        train_kwargs.get("watchdog_seconds"),
        train_kwargs.get("checkpoint_every"),
    )
    folder = None
    if out is not None:  # everything is validated: only now is anything written
        folder = prepare_out_dir(out, overwrite, argv)  # created (or emptied) and locked
        cache_dir = compile_cache.resolve(train_kwargs.get("compile_cache"))
        write_json_atomic(folder / "manifest.json", manifest(seeds, list(argv) if argv else None, cache_dir))
        sweep_info = {"agent": plans[0].agent.name, "env": env_id, "seeds": seeds, "grid": combos}
        write_json_atomic(folder / "sweep.json", {**sweep_info, "labels": labels, "programs": len(groups)})

    program, config_index, results = [0] * len(combos), [0] * len(combos), []
    for g, (members, plan) in enumerate(zip(groups, plans)):
        kwargs = dict(train_kwargs)
        logger = None
        if folder is not None:
            dirs = [folder / labels[i] for i in members]
            for d in dirs:
                d.mkdir()
            kwargs.update(on_segment=MetricsStreams(dirs, seeds).append, checkpoint_dir=folder)
            if log != "none":
                logger = _program_logger(log, dirs, seeds, plan, folder.name)
                kwargs["on_segment"] = _chain(kwargs["on_segment"], logger)
        try:
            result = train(plan, seeds=seeds, **kwargs)
        except RunInterrupted as stop:
            done = [labels[i] for k in range(g) for i in groups[k]]
            raise RunInterrupted(
                stop.signum,
                f"{stop} in program {g + 1} of {len(groups)}; finished configurations: "
                f"{', '.join(done) if done else 'none'}"
                + (f" (complete folders in {folder}); the others have their metrics so far" if folder else "")
                + ". A sweep cannot be resumed: rerun it (--overwrite).",
            ) from None
        finally:
            if logger is not None:
                logger.close()
        results.append(result)
        for cid, i in enumerate(members):
            program[i], config_index[i] = g, cid
        if folder is not None:
            _write_config_folders(folder, result, plan, [labels[i] for i in members], seeds, kwargs)
    swept = SweepResult(combos, labels, results, program, config_index)
    if folder is not None:
        from rljax.analysis.plots import plot_curves

        curves = [(labels[i], *swept.curves(i)) for i in range(len(combos))]
        title = f"{plans[0].agent.name} on {env_id}: sweep"
        plot_curves(curves, folder / "curves.png", title=title, solved_at=solved_at(env_id, env_kwargs))
    return swept


def _write_config_folders(
    folder: Path, result: TrainResult, plan: Plan, labels: list[str], seeds: list[int], kwargs: dict[str, Any]
) -> None:
    """Each configuration of one program: its ``run.json``, agent states and summary files."""
    states = result.agent_states()
    for cid, label in enumerate(labels):
        d = folder / label
        fast = kwargs.get("compiler_options") == FAST_COMPILE
        spec = plan.run_spec("sweep", seeds, kwargs.get("lane_width", DEFAULT_LANE_WIDTH), fast, config=cid)
        write_json_atomic(d / "run.json", spec)
        rows = result.rows(cid)
        save_final_states(d, plan.agent, jax.tree.map(lambda x: x[rows], states), kwargs.get("save_replay", False))
        write_config_outputs(d, result, cid, label)


def _program_logger(log: LogChoice, dirs: list[Path], seeds: list[int], plan: Plan, group: str) -> SegmentLogger:
    """The logger of one compiled program: one W&B run / TensorBoard folder per configuration."""
    from rljax.training.configs import config_dict

    hparams = [
        hparams_of(plan.agent.name, plan.env_id, config_dict(c), plan.env_kwargs_of(i), plan.loop.schedule.total_steps)
        for i, c in enumerate(plan.configs)
    ]
    from rljax.envs.registry import solved_at

    return SegmentLogger(log, dirs, seeds, hparams, group=group, threshold=solved_at(plan.env_id, plan.env_kwargs))


def _chain(*callbacks: Any) -> Any:
    """One ``on_segment`` that calls each of ``callbacks`` in order."""

    def on_segment(i: int, metrics: dict[str, np.ndarray]) -> None:
        for callback in callbacks:
            callback(i, metrics)

    return on_segment
