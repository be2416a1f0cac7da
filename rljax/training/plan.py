"""A run, resolved and validated before anything is traced: :func:`build` returns a :class:`Plan`
(the agent, its configurations from the preset and the user's overrides, the loop's recipe), and
:func:`check_run_options` checks how the run is laid out (seeds, lanes, devices).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import jax

from rljax._errors import ValidationError
from rljax.agents import Agent, agent_names, agent_ref, get_agent
from rljax.envs import make
from rljax.envs.registry import is_builtin as is_builtin_env
from rljax.runs.manifest import run_spec
from rljax.runs.program_cache import ProgramCache
from rljax.training import devices as host_devices
from rljax.training.configs import config_dict, make_config
from rljax.training.loop import MAX_STEPS, Loop, make_loop

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
        raise ValidationError("overrides must be a dict or a non-empty list of dicts")
    configs = [make_config(agent, {**preset, **o}) for o in overrides]
    if total_steps is not None and int(total_steps) < 1:
        raise ValidationError(f"total_steps must be >= 1 env step; got {total_steps}")
    if int(eval_episodes) < 1:
        raise ValidationError(f"eval_episodes must be >= 1; got {eval_episodes}")
    steps = int(total_steps if total_steps is not None else preset_steps)
    if steps > MAX_STEPS:
        raise ValidationError(
            f"total_steps must be <= {MAX_STEPS:,} (the loop counts env steps in int32); got {steps:,}"
        )
    if eval_every is not None and int(eval_every) > MAX_STEPS:
        raise ValidationError(f"eval_every must be <= {MAX_STEPS:,} env steps; got {int(eval_every):,}")
    loop = make_loop(
        env,
        env_params,
        agent,
        configs[0],
        total_steps=steps,
        eval_every=eval_every if eval_every is not None or not preset_evaluations else steps // preset_evaluations,
        eval_episodes=int(eval_episodes),
    )  # make_loop validates configs[0] (its static fields shape the loop) and the step count; the others here
    for c in configs[1:]:
        agent.validate(c, env, env_params)
    return Plan(agent, env_id, env_kwargs, overrides, configs, loop, total_steps, eval_every, int(eval_episodes))


def program_cache(plan: Plan, folder: Path | None, trace_cache: bool = True) -> ProgramCache | None:
    """The traced-program cache of ``plan``'s programs (:mod:`rljax.runs.program_cache`), or None.

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


def as_plan(agent: str | Agent | Plan, env_id: str | None, overrides: Any, **build_kwargs: Any) -> Plan:
    """``agent`` itself when it is a :class:`Plan` (then nothing else may say what to build)."""
    if isinstance(agent, Plan):
        given = {k: v for k, v in {"env_id": env_id, "overrides": overrides, **build_kwargs}.items() if v is not None}
        if given:
            raise ValidationError(f"train(plan, ...) takes these from the plan; do not pass {', '.join(sorted(given))}")
        return agent
    if env_id is None:
        raise ValidationError("train needs an environment id (or a Plan from rljax.build)")
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
        raise ValidationError("need at least one seed")
    if any(s < 0 for s in seeds) or len(set(seeds)) != len(seeds):
        raise ValidationError(f"seeds must be distinct non-negative integers; got {seeds}")
    if any(s >= 2**32 for s in seeds):
        raise ValidationError(f"seeds must be < 2**32 (a seed is a 32-bit key); got {max(seeds)}")
    if int(lane_width) < 1:
        raise ValidationError(f"lane_width must be >= 1; got {lane_width}")
    available = len(run_devices())
    if num_devices is not None and not 1 <= int(num_devices) <= available:
        raise ValidationError(f"num_devices must be in [1, {available}] (available devices); got {num_devices}")
    if watchdog_seconds is not None and not watchdog_seconds >= 0:
        raise ValidationError(f"watchdog_seconds must be >= 0 (0 = off); got {watchdog_seconds}")
    if checkpoint_every is not None and int(checkpoint_every) <= 0:
        raise ValidationError(f"checkpoint_every must be > 0 env steps; got {checkpoint_every}")
    if checkpoint_every is not None and int(checkpoint_every) > MAX_STEPS:
        raise ValidationError(f"checkpoint_every must be <= {MAX_STEPS:,} env steps; got {int(checkpoint_every):,}")
    return seeds


def run_devices() -> list[Any]:
    # After jax.distributed.initialize() (multi-host), shard over every process's devices.
    return jax.devices() if jax.process_count() > 1 else jax.local_devices()
