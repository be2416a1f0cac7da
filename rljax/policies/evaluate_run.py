"""``rljax evaluate DIR``: play a run folder's trained seeds again, in rljax and in Gymnasium.

Every seed's evaluation policy comes from :func:`rljax.load_policy`. rljax's own
evaluation plays ``episodes`` fresh episodes of the pure-JAX environment (keys derived
from the seed alone, not the training's evaluation keys). With ``gymnasium`` the same
policies also play ``episodes`` episodes of Gymnasium's own environment (NumPy, float64
dynamics, its ``TimeLimit``), so the two can be put side by side: for a correct
reimplementation the per-seed means agree within sampling error.

Gymnasium twins (:data:`GYMNASIUM_TWINS`): CartPole-v0/v1, Acrobot-v1, MountainCar-v0,
Pendulum-v1 (continuous actions: float vectors, as the policy gives them),
Taxi-v3 (Gymnasium 1.3 names it ``Taxi-v4``; without rain or a fickle passenger it is
the same table) and FrozenLake-v1 / FrozenLake8x8-v1 (with their ``map_name``,
``desc`` and ``is_slippery``). A run trained on discretised observations
(``--env-arg discretize=...``) bins Gymnasium's observations with the same edges.
"""

from __future__ import annotations

import dataclasses
import math
import os
import warnings
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from rljax._defaults import DEFAULT_RESAMPLES
from rljax._errors import ValidationError

#: rljax / gymnax id -> Gymnasium id of the same environment.
GYMNASIUM_TWINS: dict[str, str] = {
    "CartPole-v0": "CartPole-v0",
    "CartPole-v1": "CartPole-v1",
    "Acrobot-v1": "Acrobot-v1",
    "MountainCar-v0": "MountainCar-v0",
    "Pendulum-v1": "Pendulum-v1",
    "Taxi-v3": "Taxi-v4",
    "FrozenLake-v1": "FrozenLake-v1",
    "FrozenLake8x8-v1": "FrozenLake8x8-v1",
}
# Environment options Gymnasium's twin takes under the same name.
_SHARED_OPTIONS: dict[str, tuple[str, ...]] = {
    "FrozenLake-v1": ("map_name", "desc", "is_slippery"),
    "FrozenLake8x8-v1": ("map_name", "desc", "is_slippery"),
}
# A seed's evaluation keys: fold_in(PRNGKey(seed), _EVAL_TAG), apart from its training keys.
_EVAL_TAG = 0x0E7A1


@dataclass(frozen=True)
class SeedReturns:
    """One seed's episode returns in rljax (and, if asked, in Gymnasium)."""

    seed: int
    rljax: np.ndarray  # [episodes]
    gymnasium: np.ndarray | None  # [episodes]
    training_final: float | None  # summary.json's final_eval_return of this seed

    @staticmethod
    def stderr(x: np.ndarray) -> float:
        """Standard error of the mean of ``x`` (0 for one episode)."""
        return float(np.std(x, ddof=1) / math.sqrt(x.size)) if x.size > 1 else 0.0

    def z(self) -> float | None:
        """(Gymnasium mean - rljax mean) in standard errors of the difference; 0 when both are exact."""
        if self.gymnasium is None:
            return None
        diff = float(self.gymnasium.mean() - self.rljax.mean())
        se = math.hypot(self.stderr(self.rljax), self.stderr(self.gymnasium))
        if se == 0:
            return 0.0 if diff == 0 else math.copysign(math.inf, diff)
        return diff / se


@dataclass(frozen=True)
class Evaluation:
    """What :func:`evaluate_run` measured: per seed, and across seeds (:func:`rljax.analysis.stats.summarize`)."""

    agent: str
    env_id: str
    gymnasium_id: str | None
    episodes: int
    seeds: list[SeedReturns]
    rljax_summary: dict[str, Any]
    gymnasium_summary: dict[str, Any] | None


def gymnasium_twin(env_id: str, env_kwargs: dict[str, Any], gym_id: str | None = None) -> tuple[str, dict[str, Any]]:
    """The Gymnasium id and ``gymnasium.make`` options of a run's environment.

    ``gym_id`` names one explicitly (its spaces are checked when the policies load);
    otherwise ``env_id`` must have a twin. Options without a Gymnasium counterpart
    (a CartPole ``force_mag``, say) are an error: the twin would be a different
    environment. ``max_steps_in_episode`` becomes Gymnasium's ``max_episode_steps``.
    """
    kwargs = {k: v for k, v in env_kwargs.items() if k != "discretize"}
    if gym_id is None:
        if env_id not in GYMNASIUM_TWINS:
            raise ValidationError(
                f"{env_id} has no Gymnasium twin (those with one: {', '.join(GYMNASIUM_TWINS)}); "
                f"name one with --gymnasium ID"
            )
        gym_id = GYMNASIUM_TWINS[env_id]
    options: dict[str, Any] = {}
    if "max_steps_in_episode" in kwargs:
        options["max_episode_steps"] = int(kwargs.pop("max_steps_in_episode"))
    shared = _SHARED_OPTIONS.get(env_id, ())
    unknown = sorted(k for k in kwargs if k not in shared)
    if unknown:
        raise ValidationError(
            f"the run's environment option(s) {', '.join(unknown)} have no counterpart in Gymnasium's {gym_id}"
        )
    options.update(kwargs)
    return gym_id, options


def _make_gymnasium(gym_id: str, options: dict[str, Any]) -> Any:
    import gymnasium

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # CartPole-v0 "is out of date"
            return gymnasium.make(gym_id, **options)
    except gymnasium.error.Error as err:
        raise ValidationError(f"Gymnasium cannot make {gym_id!r}: {err}") from None


def _check_spaces(policy: Any, gym_env: Any, gym_id: str) -> None:
    """The Gymnasium environment must take the policy's actions and give its observations."""
    env, params = policy.env, policy.env_params
    inner = getattr(env, "env", env) if hasattr(env, "discretize_obs") else env
    obs_shape = tuple(inner.observation_space(params).shape)
    gym_obs = tuple(gym_env.observation_space.shape)
    ours, theirs = _describe_actions(env.action_space(params)), _describe_actions(gym_env.action_space)
    if gym_obs != obs_shape or ours is None or ours != theirs:
        raise ValidationError(
            f"Gymnasium's {gym_id} (observations {gym_obs}, {theirs or 'unsupported'} actions) does not fit the policy "
            f"trained on {env.name} (observations {obs_shape}, {ours or 'unsupported'} actions)"
        )


def _describe_actions(space: Any) -> str | None:
    """``"n discrete"`` or ``"continuous (shape)"`` of a gymnax or Gymnasium action space; None for others."""
    if getattr(space, "n", None) is not None:
        return f"{int(space.n)} discrete"
    shape, low = getattr(space, "shape", None), getattr(space, "low", None)
    if shape is not None and low is not None:
        return f"continuous {tuple(int(d) for d in shape)}"
    return None


def _batched_act(template: Any):
    """``(agent_state, key, obs[N, ...], actor states[N, ...]) -> (actions[N], actor states[N, ...])``,
    jitted once for every seed (the state is an argument); the actor states are ``None``
    for a policy without a memory."""
    import jax
    import jax.numpy as jnp

    env = template.env
    discretize = getattr(env, "discretize_obs", None)
    inner = env.env if discretize is not None else env
    dtype = inner.observation_space(template.env_params).dtype

    def act(agent_state, key, obs, actor_states):
        policy = dataclasses.replace(template, agent_state=agent_state)
        obs = jnp.asarray(obs, dtype=dtype)
        if discretize is not None:  # the run saw binned observations: bin Gymnasium's the same way
            obs = discretize(obs)
        return jax.vmap(policy.step)(jax.random.split(key, obs.shape[0]), obs, actor_states)

    return jax.jit(act)


def _rljax_returns(template: Any, states: Sequence[Any], seeds: Sequence[int], episodes: int) -> np.ndarray:
    """``[seeds, episodes]`` returns in rljax's environment, every seed in one vmapped program."""
    import jax

    from rljax.training.evaluate import evaluate

    initial = template.initial_actor_state  # every episode starts from it (None: no memory)

    def play(agent_state, key):
        policy = dataclasses.replace(template, agent_state=agent_state)
        if initial is None:
            return evaluate(key, template.env, template.env_params, policy.act, episodes)
        return evaluate(key, template.env, template.env_params, policy.step, episodes, actor_state=initial)

    stacked = jax.tree.map(lambda *xs: np.stack([np.asarray(x) for x in xs]), *states)
    keys = jax.vmap(lambda s: jax.random.fold_in(jax.random.PRNGKey(s), _EVAL_TAG))(np.asarray(seeds))
    return np.asarray(jax.jit(jax.vmap(play))(stacked, keys), dtype=np.float64)


def _gymnasium_returns(
    act: Any,
    agent_state: Any,
    seed: int,
    episodes: int,
    gym_id: str,
    options: dict[str, Any],
    envs: list[Any],
    initial_actor_state: Any = None,
) -> np.ndarray:
    """``[episodes]`` returns of one seed's policy in Gymnasium, the episodes stepped side by side.

    One batched policy call per time step for all unfinished episodes (a call per
    episode step would cost a dispatch each). Episode ``i`` of seed ``s`` resets with
    a Gymnasium seed drawn from ``SeedSequence([s, i])``: reproducible, distinct. A policy
    with a memory carries one actor state per episode, each from ``initial_actor_state``.
    """
    import jax

    while len(envs) < episodes:
        envs.append(_make_gymnasium(gym_id, options))
    first = [
        envs[i].reset(seed=int(np.random.SeedSequence([seed, i]).generate_state(1)[0]))[0] for i in range(episodes)
    ]
    obs = np.stack([np.asarray(o) for o in first])
    totals = np.zeros(episodes, dtype=np.float64)
    active = np.ones(episodes, dtype=bool)
    key = jax.random.fold_in(jax.random.PRNGKey(seed), _EVAL_TAG + 1)
    # On the device once: a NumPy state would be copied in at every call (a DQN's state
    # carries its replay buffer, tens of MB).
    agent_state = jax.device_put(agent_state)
    actor_states = jax.tree.map(lambda x: np.broadcast_to(x, (episodes, *x.shape)), initial_actor_state)
    t = 0
    while active.any():
        actions, actor_states = act(agent_state, jax.random.fold_in(key, t), obs, actor_states)
        actions = np.asarray(actions)
        for i in np.flatnonzero(active):
            # A Discrete action as a Python int; a Box action as the float array it is.
            action = int(actions[i]) if np.issubdtype(actions.dtype, np.integer) else actions[i]
            o, reward, terminated, truncated, _ = envs[i].step(action)
            obs[i] = o
            totals[i] += float(reward)
            if terminated or truncated:
                active[i] = False
        t += 1
    return totals


def evaluate_run(
    run_dir: str | os.PathLike,
    episodes: int = 100,
    gymnasium: bool | str = False,
    config: int | str | None = None,
    num_resamples: int = DEFAULT_RESAMPLES,
) -> Evaluation:
    """Plays every seed of a run folder for ``episodes`` episodes (and in Gymnasium, if asked).

    Args:
      run_dir: a ``rljax train`` folder, or a sweep folder with ``config``.
      episodes: episodes per seed (and per environment).
      gymnasium: False: rljax's own evaluation only; True: also in the environment's
        Gymnasium twin; a string: in that Gymnasium id.
      config: a sweep configuration's label or index (see :func:`rljax.load_policy`).
      num_resamples: bootstrap resamples of the across-seed intervals.

    Raises:
      FileNotFoundError: ``run_dir`` is not a finished run folder.
      ValueError: ``episodes < 1``, a bad ``config``, no Gymnasium twin, an unknown
        Gymnasium id, or one whose spaces do not fit the policy; all before anything is played.
    """
    from rljax.analysis.stats import summarize
    from rljax.policies.trained import load_policy
    from rljax.runs.manifest import read_spec, resolve_run_dir

    if int(episodes) < 1:
        raise ValidationError(f"episodes must be >= 1; got {episodes}")
    episodes = int(episodes)
    folder = resolve_run_dir(run_dir, config)
    spec = read_spec(folder)
    seeds = [int(s) for s in spec["seeds"]]
    gym_id = options = None
    if gymnasium is not False:
        gym_id, options = gymnasium_twin(
            spec["env"], dict(spec.get("env_kwargs") or {}), None if gymnasium is True else str(gymnasium)
        )
        probe = _make_gymnasium(gym_id, options)  # an unknown id fails here, before any policy loads
    policies = [load_policy(folder, s) for s in seeds]
    template = policies[0]
    if gym_id is not None:
        _check_spaces(template, probe, gym_id)
    training_final = _training_finals(folder, seeds)
    states = [p.agent_state for p in policies]
    own = _rljax_returns(template, states, seeds, episodes)
    gym = None
    if gym_id is not None:
        act, envs = _batched_act(template), [probe]
        gym = np.stack(
            [
                _gymnasium_returns(act, st, s, episodes, gym_id, options, envs, template.initial_actor_state)
                for s, st in zip(seeds, states)
            ]
        )
        for env in envs:
            env.close()
    per_seed = [
        SeedReturns(s, own[i], None if gym is None else gym[i], training_final.get(s)) for i, s in enumerate(seeds)
    ]
    return Evaluation(
        agent=template.agent.name,  # run.json may hold a custom agent's import path
        env_id=spec["env"],
        gymnasium_id=gym_id,
        episodes=episodes,
        seeds=per_seed,
        rljax_summary=summarize(own.mean(axis=1), num_resamples=num_resamples),
        gymnasium_summary=None if gym is None else summarize(gym.mean(axis=1), num_resamples=num_resamples),
    )


def _training_finals(folder: Any, seeds: Sequence[int]) -> dict[int, float]:
    """``summary.json``'s final evaluation return by seed ({} when it cannot be read)."""
    import json

    try:
        summary = json.loads((folder / "summary.json").read_text())
        return {int(s): float(r) for s, r in zip(summary["seeds"], summary["final_eval_return"])}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def format_evaluation(result: Evaluation) -> str:
    """The text ``rljax evaluate`` prints: a row per seed, then the across-seed mean and IQM."""
    gym = result.gymnasium_id
    lines = [
        f"{result.agent} on {result.env_id}: {len(result.seeds)} seed(s) x {result.episodes} episodes "
        f"of the evaluation policy" + (f"; Gymnasium: {gym}" if gym else "")
    ]
    header = f"{'seed':>6}  {'training final':>14}  {'rljax mean ± se':>20}"
    if gym:
        header += f"  {'gymnasium mean ± se':>20}  {'diff / se':>9}"
    lines.append(header)
    for r in result.seeds:
        final = "-" if r.training_final is None else f"{r.training_final:.3f}"
        row = f"{r.seed:>6}  {final:>14}  {_pm(r.rljax):>20}"
        if r.gymnasium is not None:
            row += f"  {_pm(r.gymnasium):>20}  {r.z():>+9.2f}"
        lines.append(row)
    s = result.rljax_summary
    lines.append(
        f"across seeds ({100 * s['confidence']:.0f}% percentile bootstrap CIs, {s['num_resamples']} resamples):"
    )
    lines.append(_aggregate_line("rljax", s))
    if result.gymnasium_summary is not None:
        lines.append(_aggregate_line("gymnasium", result.gymnasium_summary))
        within = sum(abs(r.z()) <= 3 for r in result.seeds)
        lines.append(f"Gymnasium and rljax agree within 3 standard errors for {within} of {len(result.seeds)} seed(s)")
    if s.get("ci_note"):
        lines.append(f"note: {s['ci_note']}")
    return "\n".join(lines)


def _pm(x: np.ndarray) -> str:
    return f"{x.mean():.3f} ± {SeedReturns.stderr(x):.3f}"


def _aggregate_line(name: str, s: dict[str, Any]) -> str:
    return (
        f"  {name:<10} mean {s['mean']:.3f} [{s['mean_ci_low']:.3f}, {s['mean_ci_high']:.3f}]   "
        f"IQM {s['iqm']:.3f} [{s['iqm_ci_low']:.3f}, {s['iqm_ci_high']:.3f}]"
    )
