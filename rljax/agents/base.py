"""What every agent is: a config, and pure ``init`` / ``act`` / ``update`` functions.

The training loop (:mod:`rljax.loop`) only ever talks to an agent through
:class:`Agent`, so tabular TD, replay-based DQN and whole-episode REINFORCE all
run in the same compiled loop.

A config is a ``flax.struct`` dataclass: fields that change shapes or program
structure (table sizes, network widths, number of environments, schedule kind)
are static (``struct.field(pytree_node=False)``); every other hyperparameter
(learning rate, gamma, epsilon values, tau, ...) is a pytree leaf, so it is a
traced value and a sweep over it is one more ``vmap`` axis.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping, Protocol

import jax
import jax.numpy as jnp
from flax import struct
from gymnax.environments import spaces

AgentState = Any
Config = Any
Metrics = dict[str, jax.Array]


class Transition(struct.PyTreeNode):
    """A batch of environment transitions, leading axes ``[K steps, B envs]``.

    ``next_obs`` is the true successor of ``obs`` — the final observation when the
    episode ended there, not the auto-reset one — so truncated transitions can
    bootstrap from it. ``valid`` is False for steps an episodic agent must ignore
    (after its episode ended inside the rollout); it is all True otherwise.
    ``extras`` is whatever per-step data the agent's :attr:`Agent.act_with_extras`
    returned beside the action (a pytree, each leaf with the same leading axes), e.g.
    a tree search's policy and root value; ``None`` (no leaves) for every other agent.
    """

    obs: jax.Array
    action: jax.Array
    reward: jax.Array
    next_obs: jax.Array
    terminated: jax.Array
    truncated: jax.Array
    valid: jax.Array
    extras: Any = None

    @property
    def done(self) -> jax.Array:
        return jnp.logical_or(self.terminated, self.truncated)


class Clock(struct.PyTreeNode):
    """Counts kept by the loop for one seed; schedules (epsilon, ...) read them."""

    env_steps: jax.Array  # valid environment steps so far, summed over the B envs
    episodes: jax.Array  # completed episodes so far, summed over the B envs
    updates: jax.Array  # calls of ``agent.update`` so far
    horizon: jax.Array  # environment steps the whole run will take (for "fraction of training")

    @classmethod
    def start(cls, horizon: int) -> "Clock":
        return cls(jnp.int32(0), jnp.int32(0), jnp.int32(0), jnp.int32(horizon))


class InitFn(Protocol):
    def __call__(self, key: jax.Array, env: Any, env_params: Any, config: Config) -> AgentState: ...


class ActFn(Protocol):
    def __call__(
        self,
        key: jax.Array,
        state: AgentState,
        obs: jax.Array,
        config: Config,
        clock: Clock,
        explore: bool,
    ) -> jax.Array: ...


class ActWithExtrasFn(Protocol):
    def __call__(
        self,
        key: jax.Array,
        state: AgentState,
        obs: jax.Array,
        config: Config,
        clock: Clock,
        explore: bool,
    ) -> tuple[jax.Array, Any]: ...


class UpdateFn(Protocol):
    def __call__(
        self, key: jax.Array, state: AgentState, batch: Transition, config: Config, clock: Clock
    ) -> tuple[AgentState, Metrics]: ...


@dataclass(frozen=True)
class Agent:
    """An algorithm, as the loop sees it.

    Attributes:
      name: the name used by ``rljax train``.
      config_type: the config dataclass; ``config_type()`` gives the defaults.
      init: ``(key, env, env_params, config) -> state``.
      act: ``(key, state, obs, config, clock, explore) -> action`` for ONE
        observation (the loop vmaps it over environments). ``explore=False`` is the
        evaluation policy: greedy for value methods, argmax for policy gradients.
      update: ``(key, state, batch, config, clock) -> (state, metrics)`` on a
        :class:`Transition` batch of shape ``[rollout_length, num_envs]``.
      rollout_length: ``(config, env_params) -> K``, env steps per update (static).
      episodic: if True, every rollout starts from freshly reset environments and
        runs ``K`` steps (the time limit), and ``batch.valid`` masks what follows the
        first episode end: the update sees B complete episodes.
      validate: ``(config, env, env_params) -> None``; raises ``ValueError`` with a
        clear message for bad hyperparameters before anything is traced.
      act_with_extras: optional ``(key, state, obs, config, clock, explore) -> (action,
        extras)``: the action as ``act`` would choose it, plus a pytree of per-step data
        (e.g. a search's policy and value) that the loop stores in the rollout batch as
        ``batch.extras``. When given, the loop's rollouts call it instead of ``act``;
        ``act`` stays the plain policy (evaluation, loaded policies). ``None``: rollouts
        call ``act`` and ``batch.extras`` is ``None``.
      presets: tuned defaults per environment id: ``{env_id: {field: value, ...}}``
        (``total_steps`` may be among them: env steps per seed). ``rljax train`` and
        :func:`rljax.train` start from the preset of the pair; the user's overrides win.
      policy_state: optional ``state -> state``: the part of a final state that a
        trained policy needs, for ``agent_state.msgpack`` (e.g. the state with its
        replay buffer set to ``None``; ``act`` must work on it). ``None``: the whole
        state. Checkpoints always hold the whole state (resume needs the replay).
    """

    name: str
    config_type: type
    init: InitFn
    act: ActFn
    update: UpdateFn
    rollout_length: Callable[[Config, Any], int]
    validate: Callable[[Config, Any, Any], None]
    episodic: bool = False
    act_with_extras: ActWithExtrasFn | None = None
    presets: Mapping[str, Mapping[str, Any]] = dataclasses.field(default_factory=dict)
    policy_state: Callable[[AgentState], AgentState] | None = None

    def policy_part(self, state: AgentState) -> AgentState:
        """What ``agent_state.msgpack`` keeps of ``state`` (one seed's or stacked): see ``policy_state``."""
        return state if self.policy_state is None else self.policy_state(state)

    def preset(self, env_id: str) -> dict[str, Any]:
        """The tuned overrides for ``env_id`` (empty if there are none), ``total_steps`` included."""
        return dict(self.presets.get(env_id, {}))


def annealed_learning_rate(config: Config, clock: Clock) -> jax.Array:
    """``config.learning_rate``, annealed linearly over the run to ``learning_rate *
    learning_rate_end_fraction`` (both traced; progress is env steps / the run's horizon)."""
    progress = jnp.clip(clock.env_steps / jnp.maximum(clock.horizon, 1), 0.0, 1.0)
    return config.learning_rate * (1.0 + (config.learning_rate_end_fraction - 1.0) * progress)


def env_shapes(key: jax.Array, env: Any, env_params: Any) -> tuple[jax.Array, int, int]:
    """``(a zero observation, observation categories (0 unless Discrete), action count)``:
    what a network-based agent's ``init`` needs to build its networks and buffers."""
    obs_space = env.observation_space(env_params)
    num_obs_categories = int(obs_space.n) if isinstance(obs_space, spaces.Discrete) else 0
    num_actions = int(env.action_space(env_params).n)
    obs_shape = jax.eval_shape(env.reset, key, env_params)[0]
    return jnp.zeros(obs_shape.shape, obs_shape.dtype), num_obs_categories, num_actions


def example_transition(obs: jax.Array, extras: Any = None) -> Transition:
    """One zero transition around ``obs`` (from :func:`env_shapes`), with the dtypes the
    loop's rollouts have: the template a replay buffer's ``init`` takes."""
    return Transition(
        obs=obs,
        action=jnp.int32(0),
        reward=jnp.float32(0.0),
        next_obs=obs,
        terminated=jnp.bool_(False),
        truncated=jnp.bool_(False),
        valid=jnp.bool_(True),
        extras=extras,
    )


def check_obs_scale(obs_scale: Any, obs_space: Any) -> None:
    """``obs_scale``: one factor > 0, or one per feature of the observation space."""
    scale = tuple(obs_scale)
    if not scale or not all(float(s) > 0 for s in scale):
        raise ValueError(f"obs_scale must be one or more factors > 0; got {obs_scale}")
    features = getattr(obs_space, "shape", ())[-1:] or (1,)
    if len(scale) not in (1, features[0]):
        raise ValueError(f"obs_scale needs 1 or {features[0]} factors (one per observation feature); got {len(scale)}")


def config_fields(config_type: type) -> dict[str, dataclasses.Field]:
    """The fields of a config dataclass, by name."""
    return {f.name: f for f in dataclasses.fields(config_type)}


def is_static_field(field: dataclasses.Field) -> bool:
    """True for config fields that change shapes or program structure."""
    return not field.metadata.get("pytree_node", True)


def check_range(name: str, value: Any, low: float, high: float, low_open=False, high_open=False) -> None:
    """Raises a ValueError naming ``name`` unless ``value`` lies in the given interval."""
    v = float(value)
    ok_low = v > low if low_open else v >= low
    ok_high = v < high if high_open else v <= high
    if not (ok_low and ok_high) or v != v:
        interval = f"{'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
        raise ValueError(f"{name} must be in {interval}; got {value}")


def check_discrete_actions(agent: str, env: Any, env_params: Any, reason: str = "") -> None:
    """Clear ``ValueError`` when ``env``'s action space is not ``Discrete`` (``reason``: why the agent needs it)."""
    space = env.action_space(env_params)
    if not isinstance(space, spaces.Discrete):
        why = f" ({reason})" if reason else ""
        raise ValueError(f"{agent} needs a discrete action space{why}; {env.name} has {type(space).__name__} actions")


def check_choice(name: str, value: Any, allowed: Iterable[str]) -> None:
    """Raises a ValueError naming ``name`` and the allowed values unless ``value`` is one of them."""
    allowed = tuple(allowed)
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(allowed)}; got {value!r}")


def concrete_float(x: Any) -> float | None:
    """``float(x)`` for a concrete scalar; None for a tracer (a traced value cannot be checked)."""
    import numpy as np

    return None if isinstance(x, jax.core.Tracer) else float(np.asarray(x))


def check_positive(name: str, value: Any) -> None:
    """Raises a ValueError naming ``name`` unless ``value`` > 0."""
    v = float(value)
    if not v > 0:
        raise ValueError(f"{name} must be > 0; got {value}")
