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
from rljax.envs.params import param_fields, parse_option, set_fields, spaces_signature, untraceable_fields
from rljax.envs.registry import is_builtin as is_builtin_env
from rljax.runs.manifest import run_spec
from rljax.runs.program_cache import ProgramCache
from rljax.training import devices as host_devices
from rljax.training.configs import config_dict, make_config
from rljax.training.lanes import tree_bytes
from rljax.training.loop import MAX_STEPS, Loop, RunConfig, make_loop

DEFAULT_TOTAL_STEPS = 100_000
DEFAULT_EVAL_EPISODES = 100
# An override ``env.NAME`` (``--set env.gravity=12``, ``--grid env.gravity=9.8,12``) is the
# environment option NAME of that configuration.
ENV_PREFIX = "env."


@dataclass(frozen=True)
class Plan:
    """A resolved and validated run, ready for :func:`train`: what :func:`build` returns.

    ``configs[i]`` is the agent's preset with ``overrides[i]`` applied; ``loop`` is
    the compiled-program recipe for them. ``total_steps`` is what was asked for
    (``None``: the preset's); ``loop.schedule.total_steps`` is what will run.
    ``config_env_kwargs[i]``: configuration i's environment options (``env_kwargs`` and its
    ``env.NAME`` overrides); ``env_values[i]``: the ``EnvParams`` fields they set that its
    runs take as values of the program (:class:`rljax.training.loop.RunConfig`), empty
    when they set none.
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
    config_env_kwargs: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    env_values: list[dict[str, Any]] = dataclasses.field(default_factory=list)

    def run_config(self, config: int) -> Any:
        """What one run of configuration ``config`` is given: its agent config, or a
        :class:`RunConfig` with the environment values it sets."""
        values = self.env_values[config] if self.env_values else {}
        return RunConfig(self.configs[config], dict(values)) if values else self.configs[config]

    def env_kwargs_of(self, config: int) -> dict[str, Any]:
        """Configuration ``config``'s environment options."""
        return dict(self.config_env_kwargs[config]) if self.config_env_kwargs else dict(self.env_kwargs)

    def run_spec(
        self, command: str, seeds: Sequence[int], lane_width: int, fast_compile: bool, config: int | None = None
    ) -> dict[str, Any]:
        """``run.json`` of this plan (of its configuration ``config`` only, for a sweep's folder)."""
        overrides = self.overrides if config is None else [self.overrides[config]]
        return run_spec(
            command,
            agent_ref(self.agent),  # a custom agent by its import path: load_policy rebuilds it
            self.env_id,
            self.env_kwargs_of(0 if config is None else config),
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
    overrides = [dict(overrides or {})] if overrides is None or isinstance(overrides, dict) else list(overrides)
    if not overrides:
        raise ValidationError("overrides must be a dict or a non-empty list of dicts")
    overrides, env_options = _split_env_overrides(overrides, env_kwargs)
    env, env_params = make(env_id, **env_options[0])
    preset = agent.preset(env_id)  # tuned defaults live with the agent
    preset_steps = preset.pop("total_steps", DEFAULT_TOTAL_STEPS)
    preset_evaluations = preset.pop("evaluations", None)  # a preset's evaluation cadence, if it has one
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
    env_values = _env_values(env_id, env, env_params, env_options, agent, configs)
    return Plan(
        agent,
        env_id,
        env_kwargs,
        overrides,
        configs,
        loop,
        total_steps,
        eval_every,
        int(eval_episodes),
        env_options,
        env_values,
    )


def _split_env_overrides(
    overrides: list[dict[str, Any]], env_kwargs: dict[str, Any]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Each configuration's overrides -> (its agent overrides, its environment options:
    ``env_kwargs`` and its ``env.NAME`` overrides)."""
    agent_overrides, env_options = [], []
    for o in overrides:
        own = {k[len(ENV_PREFIX) :]: parse_option(v) for k, v in o.items() if k.startswith(ENV_PREFIX)}
        twice = sorted(set(own) & set(env_kwargs))
        if twice:
            raise ValidationError(
                f"environment option(s) {', '.join(twice)} given both as env.NAME and as an environment "
                "option (env_kwargs / --env-arg): give it once"
            )
        if "" in own:
            raise ValidationError("an env.NAME override needs a NAME (an environment option, e.g. env.gravity)")
        agent_overrides.append({k: v for k, v in o.items() if not k.startswith(ENV_PREFIX)})
        env_options.append({**env_kwargs, **own})
    return agent_overrides, env_options


def _env_values(
    env_id: str, env: Any, env_params: Any, env_options: list[dict[str, Any]], agent: Agent, configs: list[Any]
) -> list[dict[str, Any]]:
    """Per configuration, the ``EnvParams`` fields its options set that its runs take as values
    of the program (see :class:`RunConfig`); checks that the configurations can share one program.

    The fields the environment reads as Python values (:func:`untraceable_fields`), and every
    other option (a constructor's, ``discretize``), stay constants of the program, so they
    must be the same in every configuration. A value that changes the spaces an agent is built
    for, or its rollout length, needs a program of its own.
    """
    names = sorted(set().union(*(set_fields(env_params, o) for o in env_options)))
    if not names:
        return [{} for _ in env_options]
    traced = [n for n in names if n not in untraceable_fields(env, env_params, names)]
    signature = (spaces_signature(env, env_params), int(agent.rollout_length(configs[0], env_params)))
    first_constants = {k: v for k, v in env_options[0].items() if k not in traced}
    values = []
    for i, options in enumerate(env_options):
        params = env_params
        if i > 0:
            constants = {k: v for k, v in options.items() if k not in traced}
            if constants != first_constants:
                raise ValidationError(
                    f"configurations in one program must share the environment options it compiles in "
                    f"({first_constants} vs {constants}); run them as separate programs"
                )
            params = make(env_id, **options)[1]
            if (spaces_signature(env, params), int(agent.rollout_length(configs[i], params))) != signature:
                raise ValidationError(
                    f"environment options {options} change the observation or action space, or the rollout "
                    f"length, that the agent is built for; run them as a separate program"
                )
        values.append({n: getattr(params, n) for n in traced})
    return values


def static_env_options(agent: str | Agent, env_id: str, env_kwargs: dict[str, Any], grid: dict[str, Any]) -> list[str]:
    """The names of ``grid`` (``{option: [values]}``, options of ``env_id``) whose values need one
    compiled program each: constructor options, fields the environment reads as Python values,
    and fields whose values change the spaces or the rollout length the agent is built for.

    Every value is checked (``rljax.make``'s one-line errors) before anything is traced.
    """
    agent = get_agent(agent) if isinstance(agent, str) else agent
    base_env, base_params = make(env_id, **env_kwargs)
    preset = {k: v for k, v in agent.preset(env_id).items() if k not in ("total_steps", "evaluations")}
    config = make_config(agent, preset)
    static = []
    for name, values in grid.items():
        if name in env_kwargs:
            raise ValidationError(
                f"environment option {name} is both swept (env.{name}) and fixed (--env-arg): give it once"
            )
        made = [make(env_id, **{**env_kwargs, name: parse_option(v)}) for v in values]  # checks each value
        fields = set_fields(base_params, {name: parse_option(values[0])})
        if name not in param_fields(base_params) or untraceable_fields(base_env, base_params, fields):
            static.append(name)
            continue
        signatures = {
            (spaces_signature(base_env, params), int(agent.rollout_length(config, params))) for _, params in made
        }
        if len(signatures) > 1:
            static.append(name)
    return static


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
        # The constants of the program besides env_kwargs, and the fields it takes as values.
        "env_options": plan.env_kwargs_of(0),
        "env_values": sorted(plan.env_values[0]) if plan.env_values else [],
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


def state_bytes(plan: Plan, num_runs: int) -> int:
    """Bytes of the training state of ``num_runs`` runs of ``plan`` (abstract: nothing is computed).

    Parameters, optimiser state, replay buffers, environment states: what every run
    carries from one segment to the next, for all of them at once.
    """
    config = plan.run_config(0)
    loop = plan.loop
    one = jax.eval_shape(lambda k, c: loop.start(k, c, loop.init_agent(k, c)), jax.random.PRNGKey(0), config)
    return tree_bytes(one) * num_runs


def memory_available(devices: Sequence[Any]) -> tuple[int | None, str]:
    """Bytes the run's state may take on ``devices`` and where they are (None: unknown)."""
    if devices and devices[0].platform != "cpu":
        stats = devices[0].memory_stats() or {}
        limit = stats.get("bytes_limit")
        return (None if limit is None else int(limit) * len(devices)), f"{len(devices)} {devices[0].platform} device(s)"
    try:
        with open("/proc/meminfo") as f:
            info = dict(line.split(":", 1) for line in f)
        return int(info["MemAvailable"].split()[0]) * 1024, "this machine's available memory"
    except (OSError, KeyError, ValueError):
        return None, "this machine"


def check_fits_in_memory(
    plan: Plan, num_runs: int, devices: Sequence[Any], need: int | None = None, host_copy: bool = False
) -> None:
    """One line (:class:`ValidationError`) when the runs' state alone is larger than the memory there is.

    Checked before anything is compiled or written: otherwise the run would end in an
    allocator's traceback, or in the operating system killing the process. ``need``: the
    state's bytes if known (default :func:`state_bytes`). ``host_copy``: periodic checkpoints
    copy the state to the host while training goes on, which on CPU devices is the same memory.
    """
    need = state_bytes(plan, num_runs) if need is None else need
    have, where = memory_available(devices)
    copied = host_copy and (not devices or devices[0].platform == "cpu")
    if have is not None and need * (2 if copied else 1) > have:
        also = ", and as much again for the checkpoints' host copy" if copied else ""
        raise ValidationError(
            f"{num_runs} runs of {plan.agent.name} on {plan.env_id} carry {need / 2**30:,.1f} GiB of state{also} "
            f"({need / num_runs / 2**20:,.1f} MiB each: parameters, optimiser, replay, environments), more than "
            f"{where} ({have / 2**30:,.1f} GiB): train fewer seeds at once or shrink the largest buffer"
            + (" (or checkpoint only when stopped: no --checkpoint-every)" if copied else "")
        )
