"""What every agent is: a config, and pure ``init`` / ``act`` / ``update`` functions.

The training loop (:mod:`rljax.training.loop`) only ever talks to an agent through
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
import numpy as np
from flax import struct

from rljax._errors import ValidationError
from rljax.envs._gymnax import spaces

AgentState = Any
Config = Any
Metrics = dict[str, jax.Array]


class Transition(struct.PyTreeNode):
    """A batch of environment transitions, leading axes ``[K steps, B envs]``.

    ``next_obs`` is the true successor of ``obs`` — the final observation when the
    episode ended there, not the auto-reset one — so truncated transitions can
    bootstrap from it. ``valid`` is False for steps an episodic agent must ignore
    (after its episode ended inside the rollout); it is all True otherwise.
    ``action`` has the action space's dtype and shape (``int32`` for ``Discrete``; a
    float vector for ``Box``) after the leading axes. ``extras`` is whatever per-step
    data the agent's ``act`` returned beside the action in an :class:`ActOutput` (a
    pytree, each leaf with the same leading axes), e.g. a tree search's policy and root
    value, or PPO's log-probability and value; ``None`` (no leaves) when ``act``
    returns the action alone.
    """

    obs: jax.Array
    action: jax.Array
    reward: jax.Array
    next_obs: jax.Array
    terminated: jax.Array
    truncated: jax.Array
    valid: jax.Array
    extras: Any = None
    actor_state: Any = None

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


class ActOutput(struct.PyTreeNode):
    """What ``act`` returns when it has per-step data for the rollout batch or an actor
    state: the action; ``extras`` (a pytree the loop stores as ``batch.extras``; e.g. a
    search's policy and value, or the log-probability the action was sampled with); and,
    for an agent with an actor state (``Agent.init_actor_state``), the next one (the
    same structure, shapes and dtypes as the one ``act`` was given)."""

    action: jax.Array
    extras: Any = None
    actor_state: Any = None


def split_act_output(out: Any) -> tuple[jax.Array, Any]:
    """``(action, extras)`` of what ``act`` returned: an :class:`ActOutput`, or an action alone (extras ``None``)."""
    if isinstance(out, ActOutput):
        return out.action, out.extras
    return out, None


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
        actor_state: Any = ...,  # passed only to an agent that has one (Agent.init_actor_state)
    ) -> jax.Array | ActOutput: ...


class UpdateFn(Protocol):
    def __call__(
        self, key: jax.Array, state: AgentState, batch: Transition, config: Config, clock: Clock
    ) -> tuple[AgentState, Metrics]: ...


def config_num_envs(config: Config) -> int:
    """``config.num_envs``: how many environments an agent runs per seed, unless it says otherwise."""
    return int(config.num_envs)


class InitActorStateFn(Protocol):
    def __call__(self, env: Any, env_params: Any, config: Config) -> Any: ...


@dataclass(frozen=True)
class Agent:
    """An algorithm, as the loop sees it.

    Attributes:
      name: the name used by ``rljax train``.
      config_type: the config dataclass; ``config_type()`` gives the defaults.
      init: ``(key, env, env_params, config) -> state``.
      act: ``(key, state, obs, config, clock, explore) -> action`` for ONE
        observation (the loop vmaps it over environments), or ``-> ActOutput(action,
        extras)`` when the rollout batch should carry per-step data beside the action
        (``batch.extras``: a search's policy and value, a sampled action's
        log-probability); evaluation and loaded policies keep the action only. The
        action has the action space's dtype and shape (the loop checks, at trace
        time). ``explore=False`` is the evaluation policy: greedy for value methods,
        argmax (the mean, for continuous actions) for policy gradients. An agent with
        an actor state (``init_actor_state``) is given it as a seventh argument,
        ``act(key, state, obs, config, clock, explore, actor_state)``, and returns
        ``ActOutput(action, extras, next_actor_state)``; :meth:`call_act` is how every
        caller (loop, evaluation, loaded policies) calls ``act``.
      update: ``(key, state, batch, config, clock) -> (state, metrics)`` on a
        :class:`Transition` batch of shape ``[rollout_length, num_envs]``.
      rollout_length: ``(config, env_params) -> K``, env steps per update (static).
      episodic: if True, every rollout starts from freshly reset environments and
        runs ``K`` steps (the time limit), and ``batch.valid`` masks what follows the
        first episode end: the update sees B complete episodes.
      validate: ``(config, env, env_params) -> None``; raises ``ValueError`` with a
        clear message for bad hyperparameters before anything is traced.
      num_envs: ``config -> B``, environments per seed (static; default
        ``config.num_envs``).
      presets: tuned defaults per environment id: ``{env_id: {field: value, ...}}``
        (``total_steps`` may be among them: env steps per seed). ``rljax train`` and
        :func:`rljax.train` start from the preset of the pair; the user's overrides win.
      policy_state: optional ``state -> state``: the part of a final state that a
        trained policy needs, for ``agent_state.msgpack`` (e.g. the state with its
        replay buffer set to ``None``; ``act`` must work on it). ``None``: the whole
        state. Checkpoints always hold the whole state (resume needs the replay).
      init_actor_state: optional ``(env, env_params, config) -> actor state`` of ONE
        environment at an episode's start (a pytree of arrays; ``None`` from it, or no
        function, means the agent acts without one). The actor state is what ``act``
        carries from one step of an environment to the next: a recurrent policy's hidden
        state, a frame stack. The loop keeps one per environment in its carried state
        (so checkpoints and ``--resume`` hold it), sets an environment's back to this
        value after a step that ended its episode (terminated or truncated) and, for an
        ``episodic`` agent, at every rollout's start; ``batch.actor_state`` holds what
        ``act`` read at each step. Every evaluation episode and a loaded policy after
        ``reset()`` start from it. It must not depend on the agent state: a trained
        policy starts from it too.
    """

    name: str
    config_type: type
    init: InitFn
    act: ActFn
    update: UpdateFn
    rollout_length: Callable[[Config, Any], int]
    validate: Callable[[Config, Any, Any], None]
    episodic: bool = False
    num_envs: Callable[[Config], int] = config_num_envs
    presets: Mapping[str, Mapping[str, Any]] = dataclasses.field(default_factory=dict)
    policy_state: Callable[[AgentState], AgentState] | None = None
    init_actor_state: InitActorStateFn | None = None

    def policy_part(self, state: AgentState) -> AgentState:
        """What ``agent_state.msgpack`` keeps of ``state`` (one seed's or stacked): see ``policy_state``."""
        return state if self.policy_state is None else self.policy_state(state)

    def initial_actor_state(self, env: Any, env_params: Any, config: Config) -> Any:
        """One environment's actor state at an episode's start; ``None`` for an agent without one."""
        if self.init_actor_state is None:
            return None
        actor_state = self.init_actor_state(env, env_params, config)
        if actor_state is None:
            return None
        leaves = jax.tree.leaves(actor_state)
        if not leaves or not all(isinstance(x, (jax.Array, np.ndarray)) for x in leaves):
            raise TypeError(
                f"{self.name}'s init_actor_state must give a pytree of arrays (or None); got {actor_state!r}"
            )
        return jax.tree.map(jnp.asarray, actor_state)

    def call_act(
        self,
        key: jax.Array,
        state: AgentState,
        obs: jax.Array,
        config: Config,
        clock: Clock,
        explore: bool,
        actor_state: Any = None,
    ) -> tuple[jax.Array, Any, Any]:
        """``act`` for ONE observation as the loop, evaluations and loaded policies call it:
        ``(action, extras, next actor state)``.

        ``actor_state`` is ``None`` for an agent without one, and ``act`` is then called
        with its six arguments (its next actor state is ``None``); otherwise ``act`` gets
        it as a seventh and must return an :class:`ActOutput` whose ``actor_state`` has
        the same structure, dtypes and shapes (a one-line ``TypeError`` at trace time
        where it does not).
        """
        if actor_state is None:
            action, extras = split_act_output(self.act(key, state, obs, config, clock, explore))
            return action, extras, None
        out = self.act(key, state, obs, config, clock, explore, actor_state)
        if not isinstance(out, ActOutput) or out.actor_state is None:
            raise TypeError(
                f"{self.name} has an actor state, so its act must return ActOutput(action, extras, actor_state); "
                f"got {type(out).__name__}" + ("" if not isinstance(out, ActOutput) else " without an actor_state")
            )
        check_like(out.actor_state, actor_state, 0, f"{self.name}'s next actor_state")
        return out.action, out.extras, out.actor_state

    def preset(self, env_id: str) -> dict[str, Any]:
        """The tuned overrides for ``env_id`` (empty if there are none), ``total_steps`` included."""
        return dict(self.presets.get(env_id, {}))


def reset_where(done: jax.Array, initial: Any, actor_state: Any) -> Any:
    """``actor_state`` (leading axes ``done.shape``: ``[B]`` envs, or ``[K, B]``) with ONE
    environment's ``initial`` actor state put back wherever ``done`` is True: what the loop
    does after a step that ended an episode, and what a recurrent update re-does."""

    def pick(initial_leaf: jax.Array, leaf: jax.Array) -> jax.Array:
        return jnp.where(done.reshape(done.shape + (1,) * (leaf.ndim - done.ndim)), initial_leaf, leaf)

    return jax.tree.map(pick, initial, actor_state)


def schedule_horizon(config: Config, clock: Clock) -> jax.Array:
    """The env steps a config's schedules (learning-rate anneal, epsilon decay) span.

    A config with a ``schedule_steps`` field > 0 fixes it (a preset sets it to its own
    budget, so a longer run is the preset's run followed by steps at the schedules'
    final values); otherwise, and for configs without the field, the run's length.
    """
    if not hasattr(config, "schedule_steps"):
        return clock.horizon
    return jnp.where(config.schedule_steps > 0, config.schedule_steps, clock.horizon)


def annealed_learning_rate(config: Config, clock: Clock) -> jax.Array:
    """``config.learning_rate``, annealed linearly to ``learning_rate * learning_rate_end_fraction``
    over :func:`schedule_horizon` (the run, unless the config fixes it), then held."""
    progress = jnp.clip(clock.env_steps / jnp.maximum(schedule_horizon(config, clock), 1), 0.0, 1.0)
    return config.learning_rate * (1.0 + (config.learning_rate_end_fraction - 1.0) * progress)


def env_shapes(key: jax.Array, env: Any, env_params: Any) -> tuple[jax.Array, int, int]:
    """``(a zero observation, observation categories (0 unless Discrete), action count)``:
    what a discrete-action agent's ``init`` needs to build its networks and buffers.

    A ``Box`` action space has no action count: a one-line ``ValueError`` (an agent
    that can act in one reads :func:`action_template` instead).
    """
    space = env.action_space(env_params)
    if not isinstance(space, spaces.Discrete):
        raise ValidationError(f"env_shapes counts Discrete actions; {env.name} has {type(space).__name__} actions")
    return zero_observation(key, env, env_params), observation_categories(env, env_params), int(space.n)


def zero_observation(key: jax.Array, env: Any, env_params: Any) -> jax.Array:
    """A zero observation with the shape and dtype ``env.reset`` gives (nothing is run)."""
    obs_shape = jax.eval_shape(env.reset, key, env_params)[0]
    return jnp.zeros(obs_shape.shape, obs_shape.dtype)


def observation_categories(env: Any, env_params: Any) -> int:
    """The size of a ``Discrete`` observation space (one-hot encoded by the networks); 0 otherwise."""
    space = env.observation_space(env_params)
    return int(space.n) if isinstance(space, spaces.Discrete) else 0


def action_template(env: Any, env_params: Any) -> jax.Array:
    """A zero action of ``env``'s action space: ``int32[]`` for ``Discrete``, ``dtype[*shape]`` for ``Box``.

    What a transition's ``action`` looks like in the loop's rollouts, and so in a replay
    buffer (which must store a float action as a float).
    """
    space = env.action_space(env_params)
    if isinstance(space, spaces.Discrete):
        return jnp.zeros((), space.dtype)
    if isinstance(space, spaces.Box):
        return jnp.zeros(tuple(space.shape), space.dtype)
    raise ValidationError(f"rljax agents act in Discrete or Box action spaces; {env.name} has {space!r}")


def example_transition(obs: jax.Array, extras: Any = None, action: jax.Array | None = None) -> Transition:
    """One zero transition around ``obs`` (from :func:`env_shapes` or :func:`zero_observation`),
    with the dtypes the loop's rollouts have: the template a replay buffer's ``init`` takes.

    ``action``: a zero action of the action space (:func:`action_template`); the default,
    ``int32[]``, is a ``Discrete`` space's.
    """
    return Transition(
        obs=obs,
        action=jnp.int32(0) if action is None else action,
        reward=jnp.float32(0.0),
        next_obs=obs,
        terminated=jnp.bool_(False),
        truncated=jnp.bool_(False),
        valid=jnp.bool_(True),
        extras=extras,
    )


def check_actions(agent: str, env: Any, env_params: Any, action: jax.Array, batch_shape: tuple[int, ...]) -> None:
    """Raises a one-line ``TypeError`` at trace time unless ``action`` (``[*batch_shape, ...]``)
    has the action space's dtype and shape: nothing downstream casts an action, so a float
    action for a Discrete space (or an int for a Box) would otherwise be truncated or
    rejected far from its cause."""
    space = env.action_space(env_params)
    if isinstance(space, (spaces.Discrete, spaces.Box)):
        expected = (jnp.dtype(space.dtype), (*batch_shape, *tuple(getattr(space, "shape", ()))))
        if (jnp.dtype(action.dtype), tuple(action.shape)) != expected:
            raise TypeError(
                f"{agent}'s act returned {jnp.dtype(action.dtype).name}{list(action.shape[len(batch_shape) :])} "
                f"actions; {env.name}'s action space {space!r} needs "
                f"{expected[0].name}{list(expected[1][len(batch_shape) :])}"
            )


def check_like(batch: Any, template: Any, leading_axes: int, what: str = "batch") -> Any:
    """``batch`` itself, after checking that every leaf has its ``template`` leaf's dtype and,
    past the first ``leading_axes`` axes of each (a rollout's ``[K, B]``, a buffer's
    ``[rows, slots]``), its shape: a one-line ``TypeError`` where one does not.

    For a replay buffer's add: casting what is stored to the template would truncate
    a float action to an int without a word; a mismatch is a bug upstream, so it is
    reported instead.
    """
    paths = jax.tree_util.tree_flatten_with_path(template)[0]
    leaves = jax.tree.leaves(batch)
    if len(leaves) != len(paths):
        raise TypeError(f"{what} has {len(leaves)} arrays; its template has {len(paths)}")
    for (path, slot), x in zip(paths, leaves):
        got = (jnp.dtype(x.dtype), tuple(x.shape[leading_axes:]))
        want = (jnp.dtype(slot.dtype), tuple(slot.shape[leading_axes:]))
        if got != want:
            raise TypeError(
                f"{what}{jax.tree_util.keystr(path)} is {got[0].name}{list(got[1])} per item; "
                f"its template holds {want[0].name}{list(want[1])}"
            )
    return batch


def check_obs_scale(obs_scale: Any, obs_space: Any) -> None:
    """``obs_scale``: one factor > 0, or one per feature of the observation space."""
    scale = tuple(obs_scale)
    if not scale or not all(float(s) > 0 for s in scale):
        raise ValidationError(f"obs_scale must be one or more factors > 0; got {obs_scale}")
    features = getattr(obs_space, "shape", ())[-1:] or (1,)
    if len(scale) not in (1, features[0]):
        raise ValidationError(
            f"obs_scale needs 1 or {features[0]} factors (one per observation feature); got {len(scale)}"
        )


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
        raise ValidationError(f"{name} must be in {interval}; got {value}")


def check_discrete_actions(agent: str, env: Any, env_params: Any, reason: str = "") -> None:
    """Clear ``ValueError`` when ``env``'s action space is not ``Discrete`` (``reason``: why the agent needs it)."""
    space = env.action_space(env_params)
    if not isinstance(space, spaces.Discrete):
        why = f" ({reason})" if reason else ""
        raise ValidationError(
            f"{agent} needs a discrete action space{why}; {env.name} has {type(space).__name__} actions"
        )


def check_box_actions(agent: str, env: Any, env_params: Any, reason: str = "") -> None:
    """Clear ``ValueError`` when ``env``'s action space is not ``Box`` (a continuous-only agent)."""
    space = env.action_space(env_params)
    if not isinstance(space, spaces.Box):
        why = f" ({reason})" if reason else ""
        raise ValidationError(f"{agent} needs a continuous (Box) action space{why}; {env.name} has {space!r}")


def check_choice(name: str, value: Any, allowed: Iterable[str]) -> None:
    """Raises a ValueError naming ``name`` and the allowed values unless ``value`` is one of them."""
    allowed = tuple(allowed)
    if value not in allowed:
        raise ValidationError(f"{name} must be one of {', '.join(allowed)}; got {value!r}")


def concrete_float(x: Any) -> float | None:
    """``float(x)`` for a concrete scalar; None for a tracer (a traced value cannot be checked)."""
    import numpy as np

    return None if isinstance(x, jax.core.Tracer) else float(np.asarray(x))


def check_positive(name: str, value: Any) -> None:
    """Raises a ValueError naming ``name`` unless ``value`` > 0."""
    v = float(value)
    if not v > 0:
        raise ValidationError(f"{name} must be > 0; got {value}")
