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
:func:`rljax.report` read it) and ``curves.png`` with every configuration. Each program
checkpoints into ``DIR/checkpoints/program-<i>/`` (with ``checkpoint_every``, and when
stopped by a signal); ``resume=True`` continues a sweep that was stopped or killed, to the
same end as an uninterrupted one.
"""

from __future__ import annotations

import itertools
import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import jax
import numpy as np

from rljax._errors import ValidationError
from rljax.agents import Agent, get_agent
from rljax.agents.base import config_fields, is_static_field
from rljax.envs import solved_at
from rljax.experiment import resume_command, save_final_states, train
from rljax.results import MetricsStreams, TrainResult, write_config_outputs
from rljax.runs import compile_cache
from rljax.runs.checkpoints import checkpoint_files
from rljax.runs.files import _read_json_object, prepare_out_dir, remove_torn_writes, write_json_atomic
from rljax.runs.locks import LOCK_FILE, lock_folder, releases_folder_locks
from rljax.runs.loggers import LogChoice, SegmentLogger, check_logger, hparams_of
from rljax.runs.manifest import manifest
from rljax.training.batch import DEFAULT_LANE_WIDTH, FAST_COMPILE
from rljax.training.configs import make_config
from rljax.training.interrupts import RunInterrupted
from rljax.training.lanes import Lanes
from rljax.training.plan import (
    DEFAULT_EVAL_EPISODES,
    ENV_PREFIX,
    Plan,
    build,
    check_fits_in_memory,
    check_run_options,
    run_devices,
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
    its configuration ``config_index[i]``. In a resumed sweep, a program that had
    finished before is not trained again: its result is None, and its configurations
    are read back from their folders in ``folder``.
    """

    combos: list[dict[str, Any]]
    labels: list[str]
    results: list[TrainResult | None]
    program: list[int]
    config_index: list[int]
    folder: Path | None = field(default=None)

    def summary(self, i: int) -> dict[str, Any]:
        """The ``summary.json`` contract of configuration ``i``."""
        result = self.results[self.program[i]]
        if result is None:
            return _read_json_object(self.folder / self.labels[i] / "summary.json")
        return result.summary(self.config_index[i])

    def final_eval_return(self, i: int) -> np.ndarray:
        """Per seed, configuration ``i``'s final evaluation return."""
        result, cid = self.results[self.program[i]], self.config_index[i]
        if result is None:
            return np.asarray(self.summary(i)["final_eval_return"], dtype=float)
        return result.final_eval_return[result.rows(cid)]

    def curves(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """Configuration ``i``'s evaluation curves: env steps ``[segments]``, returns ``[seeds, segments]``."""
        result, cid = self.results[self.program[i]], self.config_index[i]
        if result is None:
            from rljax.runs.readers import read_eval_curves

            curves = read_eval_curves(self.folder / self.labels[i] / "metrics.csv", self.summary(i)["seeds"])
            return curves.steps, curves.returns
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
    resume: bool = False,
    argv: Sequence[str] | None = None,
    log: LogChoice = "none",
    **train_kwargs: Any,
) -> SweepResult:
    """Trains every combination of ``grid`` for every seed: ``rljax sweep`` as a function.

    Combinations that differ only in traced hyperparameters (learning rate, gamma,
    epsilons, ...) run as ONE compiled program; a grid over a static one (network
    widths, ``num_envs``, ...) needs one program per value and is refused unless
    ``allow_recompile``. ``overrides`` apply to every combination; ``out`` writes the
    sweep folder (see the module docstring; ``overwrite`` replaces one; ``resume`` continues
    the one there, stopped or killed: the configurations that finished are read back, the
    others continue from their program's checkpoint, or from the start); ``log``
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
    if resume and (out is None or overwrite):
        raise ValidationError("resume=True continues the sweep folder out= (and does not overwrite it)")
    for name in ("checkpoint_dir", "on_segment"):
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
    # A step count rounded to whole segments is said, as rljax.train says it (once per distinct
    # note: programs of other static settings, another num_envs, may round differently).
    for note in dict.fromkeys(n for plan in plans for n in plan.loop.schedule.rounding_notes(total_steps, eval_every)):
        warnings.warn(note, stacklevel=2)
    devices = run_devices()
    num_devices = train_kwargs.get("num_devices") or len(devices)
    for members, plan in zip(groups, plans):  # the programs run one after another
        lanes = Lanes(len(members) * len(seeds), train_kwargs.get("lane_width", DEFAULT_LANE_WIDTH), num_devices)
        check_fits_in_memory(plan, lanes.num_lanes * lanes.width, devices[:num_devices])
    folder = None
    if out is not None:  # everything is validated: only now is anything written
        sweep_info = {"agent": plans[0].agent.name, "env": env_id, "seeds": seeds, "grid": combos}
        sweep_info.update(labels=labels, programs=len(groups), run=_numbers_settings(plans[0], train_kwargs))
        cache_dir = compile_cache.resolve(train_kwargs.get("compile_cache"))
        folder = _open_sweep_folder(Path(out), sweep_info, seeds, resume, overwrite, argv, cache_dir)

    program, config_index, results = [0] * len(combos), [0] * len(combos), []
    for g, (members, plan) in enumerate(zip(groups, plans)):
        for cid, i in enumerate(members):
            program[i], config_index[i] = g, cid
        kwargs = dict(train_kwargs)
        logger = streams = None
        if folder is not None:
            dirs = [folder / labels[i] for i in members]
            if resume and all((d / "summary.json").is_file() for d in dirs):
                results.append(None)  # finished before: read back from its folders
                continue
            checkpoint_dir = folder / "checkpoints" / f"program-{g}"
            for d in [*dirs, checkpoint_dir]:
                d.mkdir(parents=True, exist_ok=resume)
                remove_torn_writes(d)  # (a killed sweep's; this process holds the sweep folder's lock)
                (d / "summary.json").unlink(missing_ok=True)  # trained again: unfinished until rewritten
            streams = MetricsStreams(dirs, seeds)
            saved = [checkpoint_dir / name for name in checkpoint_files(jax.process_index(), jax.process_count())[:2]]
            resumed = resume and any(f.exists() for f in saved)
            kwargs.update(on_segment=streams.append, checkpoint_dir=checkpoint_dir, resume=resumed)
            if log != "none":
                # On a resume, what the killed sweep logged past its checkpoint is dropped and the
                # held-threshold statistics continue from metrics.csv, as in a resumed rljax train.
                logger = _program_logger(log, dirs, seeds, plan, folder.name, resume)
                kwargs["on_segment"] = _chain(kwargs["on_segment"], logger)
        try:
            result = train(plan, seeds=seeds, **kwargs)
        except RunInterrupted as stop:
            done = [labels[i] for k in range(g) for i in groups[k]]
            then = (
                f" (complete folders in {folder}); the others have their metrics so far. Continue (same numbers "
                f"as an uninterrupted sweep) with: {resume_command(argv, folder, 'rljax.sweep')}"
                if folder
                else ". Nothing was saved (sweep with out=DIR to resume)"
            )
            raise RunInterrupted(
                stop.signum,
                f"{stop} in program {g + 1} of {len(groups)}; finished configurations: "
                f"{', '.join(done) if done else 'none'}{then}",
            ) from None
        finally:
            if logger is not None:
                logger.close()
        results.append(result)
        if folder is not None:
            if kwargs["resume"]:  # rows past the checkpoint were dropped as it went on; a damaged table is whole again
                streams.rebuild(result)
            _write_config_folders(folder, result, plan, [labels[i] for i in members], seeds, kwargs)
    swept = SweepResult(combos, labels, results, program, config_index, folder)
    if folder is not None:
        from rljax.analysis.plots import plot_curves

        curves = [(labels[i], *swept.curves(i)) for i in range(len(combos))]
        title = f"{plans[0].agent.name} on {env_id}: sweep"
        plot_curves(curves, folder / "curves.png", title=title, solved_at=solved_at(env_id, env_kwargs))
    return swept


def _numbers_settings(plan: Plan, train_kwargs: dict[str, Any]) -> dict[str, Any]:
    """What, besides the agent, environment, seeds and grid, decides a sweep's numbers (a resume must match)."""
    spec = plan.run_spec(
        "sweep",
        [],
        train_kwargs.get("lane_width", DEFAULT_LANE_WIDTH),
        train_kwargs.get("compiler_options") == FAST_COMPILE,
    )
    keep = ("env_kwargs", "total_steps", "eval_every", "eval_episodes", "lane_width", "fast_compile")
    return {k: spec[k] for k in keep if k in spec}


def _open_sweep_folder(
    folder: Path,
    sweep_info: dict[str, Any],
    seeds: list[int],
    resume: bool,
    overwrite: bool,
    argv: Sequence[str] | None,
    cache_dir: Path | None,
) -> Path:
    """Creates the sweep folder (or, to resume, checks it is this sweep's), locked; returns it.

    A resume is refused, before anything is written, when ``sweep.json`` says another sweep.
    """
    if not resume:
        prepare_out_dir(folder, overwrite, argv)  # created (or emptied) and locked
    elif not folder.is_dir():
        raise ValidationError(f"--resume: {str(folder)!r} does not exist: there is no sweep to resume")
    else:
        lock_folder(folder, argv)
        saved_file = folder / "sweep.json"
        if saved_file.exists():
            saved = json.loads(json.dumps(_read_json_object(saved_file)))
            now = json.loads(json.dumps(sweep_info))  # the same JSON types as the saved one
            diffs = [f"{k}: saved {saved.get(k)!r}, now {now[k]!r}" for k in now if saved.get(k) != now[k]]
            if diffs:
                where = f"the sweep differs from the one in {str(folder)!r}"
                raise ValidationError(f"--resume: {where} (" + "; ".join(diffs) + ")")
            remove_torn_writes(folder)
            return folder
        remove_torn_writes(folder)
        if not {c.name for c in folder.iterdir()} <= {LOCK_FILE, "manifest.json"}:
            raise ValidationError(f"--resume: {str(folder)!r} is not a sweep folder (no sweep.json)")
    # A new sweep, or one killed before it wrote sweep.json: sweep.json says the folder is a sweep's.
    write_json_atomic(folder / "manifest.json", manifest(seeds, list(argv) if argv else None, cache_dir))
    write_json_atomic(folder / "sweep.json", sweep_info)
    return folder


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


def _program_logger(
    log: LogChoice, dirs: list[Path], seeds: list[int], plan: Plan, group: str, resume: bool
) -> SegmentLogger:
    """The logger of one compiled program: one W&B run / TensorBoard folder per configuration."""
    from rljax.training.configs import config_dict

    hparams = [
        hparams_of(plan.agent.name, plan.env_id, config_dict(c), plan.env_kwargs_of(i), plan.loop.schedule.total_steps)
        for i, c in enumerate(plan.configs)
    ]
    from rljax.envs.registry import solved_at

    threshold = solved_at(plan.env_id, plan.env_kwargs)
    return SegmentLogger(log, dirs, seeds, hparams, resume=resume, group=group, threshold=threshold)


def _chain(*callbacks: Any) -> Any:
    """One ``on_segment`` that calls each of ``callbacks`` in order."""

    def on_segment(i: int, metrics: dict[str, np.ndarray]) -> None:
        for callback in callbacks:
            callback(i, metrics)

    return on_segment
