"""Soft Actor-Critic (Haarnoja et al., 2018, with the automatic temperature of the follow-up
paper): twin Q critics with Polyak target networks, a tanh-squashed Gaussian actor, and an
entropy temperature tuned toward a target entropy. Box (continuous) actions only.

Acting, in ``num_envs`` environments at once::

    if env_steps < learning_starts:  a ~ Uniform(low, high)           # warm-up fills the replay
    else:                            u ~ N(mu(s), sigma(s)^2),  a = tanh(u) in (-1, 1)^D
    the environment gets  low + (a + 1) (high - low) / 2               # the Box's own units
    evaluation (explore=False):      a = tanh(mu(s)), deterministic, no draw

Learning, after every ``train_frequency`` steps of those environments::

    add the train_frequency x num_envs new transitions (s, a, r, s', terminated) to replay
    if env_steps >= learning_starts:
        repeat gradient_steps times (the update-to-data ratio is gradient_steps / (train_frequency x num_envs)):
            sample batch_size transitions uniformly; a <- the stored action mapped back to [-1, 1]
            alpha = exp(log_alpha)                             # the same alpha for both losses below
            a', log pi(a'|s') ~ pi(.|s')                      (a fresh reparameterised draw)
            y = r + gamma * (1 - terminated) * (min_i Q_target_i(s', a') - alpha * log pi(a'|s'))
            L_Q = sum_i mean (Q_i(s, a) - y)^2 / 2;        phi <- Adam step on L_Q
            a~, log pi(a~|s) ~ pi(.|s)                        (reparameterised: a~ = tanh(mu + sigma eps))
            L_pi = mean alpha * log pi(a~|s) - min_i Q_i(s, a~)   (the critics just updated)
            theta <- Adam step on L_pi
            L_alpha = -mean log_alpha * (log pi(a~|s) + target_entropy)   (log pi held fixed)
            log_alpha <- Adam step on L_alpha                  if autotune_alpha
            every target_update_interval gradient steps:
                phi_target <- tau * phi + (1 - tau) * phi_target

    log pi(a|s) = log N(u; mu, sigma) - sum_i log(1 - tanh(u_i)^2): the tanh's change of
    variables (:func:`rljax.agents.distributions.squashed_gaussian_log_prob`), written on u
    so that a saturated action never needs atanh.

The choices, and why:

- Only *terminated* transitions stop the bootstrap; a *truncated* one (Pendulum's
  200-step limit ends every episode) bootstraps from its true final observation, which the
  loop hands over as ``next_obs``. Treating the limit as terminal would teach the critic
  that the last steps of every episode are worth only their reward.
- Twin critics and the min of their targets: one critic's overestimation is maximised by
  the actor and fed back through the bootstrap (TD3's clipped double Q).
- Polyak-averaged targets with tau 0.005 (the papers' and SB3's): a target that follows
  the critic slowly keeps the bootstrap from chasing the critic's own noise.
- log_std clipped to [-20, 2] (SB3's bounds): the actor's log-std head is unbounded
  otherwise, and a sigma of e^-20 or e^2 already saturates the tanh or vanishes.
- The temperature is learned as log_alpha (always positive, and its gradient scale does not
  depend on alpha); the target entropy is ``target_entropy_per_dim`` x D, -D by default (the
  paper's -|A|), measured in the squashed [-1, 1] units.
- The action the critic reads and the entropy are in [-1, 1]^D whatever the Box; only the
  environment sees the rescaled action, and replay stores what it saw (mapped back when
  sampled), so a Box's units never change the target entropy.
- Uniform warm-up actions rather than the fresh actor's: they cover the Box evenly before
  the critic has seen anything, as SB3 and CleanRL do.
- Replay is flashbax's item buffer of whole transitions kept in the agent state (so it is
  vmapped over seeds), as in :mod:`rljax.agents.dqn` (whose docstring says why not the flat
  buffer: it cannot give the true final observation of a truncated step).
"""

from __future__ import annotations

import math
from typing import Any

import chex
import flashbax as fbx
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import struct

from rljax._errors import ValidationError
from rljax.agents.base import (
    Agent,
    Clock,
    Transition,
    action_template,
    check_box_actions,
    check_like,
    check_obs_scale,
    check_positive,
    check_range,
    example_transition,
    zero_observation,
)
from rljax.agents.distributions import squashed_gaussian_sample
from rljax.agents.nets import MLP, clipped_adam, scaled_observation
from rljax.agents.value_targets import td_target
from rljax.envs._gymnax import spaces

LOG_STD_MIN, LOG_STD_MAX = -20.0, 2.0  # SB3's bounds on the actor's log-std head


@struct.dataclass
class SACConfig:
    """Hyperparameters of SAC.

    Traced (a sweep over them is one compiled program): ``learning_rate``,
    ``alpha_learning_rate``, ``gamma``, ``tau``, ``initial_alpha``,
    ``target_entropy_per_dim`` and ``max_grad_norm``. Static: everything marked
    ``struct.field(pytree_node=False)``.
    """

    learning_rate: float = 1e-3  # Adam step size of the actor and the critics
    alpha_learning_rate: float = 1e-3  # Adam step size of log_alpha
    gamma: float = 0.99
    tau: float = 0.005  # target <- tau * online + (1 - tau) * target; 1 = hard copy
    initial_alpha: float = 1.0  # the temperature at initialisation (and throughout, without autotune_alpha)
    target_entropy_per_dim: float = -1.0  # target entropy = this x action dimensions (-|A|)
    max_grad_norm: float = 0.0  # global-norm gradient clipping of each loss; 0 = no clipping
    # --- static ---
    autotune_alpha: bool = struct.field(pytree_node=False, default=True)
    hidden_sizes: tuple[int, ...] = struct.field(pytree_node=False, default=(256, 256))
    num_envs: int = struct.field(pytree_node=False, default=1)
    buffer_size: int = struct.field(pytree_node=False, default=100_000)  # transitions per seed
    batch_size: int = struct.field(pytree_node=False, default=256)
    learning_starts: int = struct.field(pytree_node=False, default=1_000)  # env steps (all envs) of uniform actions
    train_frequency: int = struct.field(pytree_node=False, default=1)  # steps per env per update
    gradient_steps: int = struct.field(pytree_node=False, default=1)  # per update
    target_update_interval: int = struct.field(pytree_node=False, default=1)  # in gradient steps
    # Multiplies vector observations before the networks: one factor, or one per feature.
    obs_scale: tuple[float, ...] = struct.field(pytree_node=False, default=(1.0,))


class SACState(struct.PyTreeNode):
    """One seed's learner: actor, twin critics and their targets, the temperature, optimisers, replay."""

    actor_params: Any
    critic_params: Any  # both critics, stacked on a leading axis of 2
    target_critic_params: Any
    log_alpha: jax.Array
    actor_opt_state: optax.OptState
    critic_opt_state: optax.OptState
    alpha_opt_state: optax.OptState
    replay: Any  # flashbax TrajectoryBufferState of Transitions
    gradient_steps: jax.Array  # gradient steps taken so far (drives target updates)
    action_low: tuple[float, ...] = struct.field(pytree_node=False)
    action_high: tuple[float, ...] = struct.field(pytree_node=False)

    @property
    def action_dim(self) -> int:
        return len(self.action_low)

    @property
    def params(self) -> dict[str, Any]:
        """The trained networks: ``{"actor": ..., "critic": ...}``."""
        return {"actor": self.actor_params, "critic": self.critic_params}


# --- Networks ------------------------------------------------------------------------


class Actor(nn.Module):
    """``x [..., F] -> (mean [..., D], log_std [..., D])`` of the Gaussian before the tanh."""

    action_dim: int
    hidden_sizes: tuple[int, ...] = (256, 256)

    @nn.compact
    def __call__(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        h = MLP(self.hidden_sizes, activate_final=True)(x) if self.hidden_sizes else x
        mean = nn.Dense(self.action_dim)(h)
        log_std = jnp.clip(nn.Dense(self.action_dim)(h), LOG_STD_MIN, LOG_STD_MAX)
        return mean, log_std


class TwinCritic(nn.Module):
    """``(x [..., F], a [..., D]) -> Q [2, ...]``: two independent MLP critics, one program
    (``nn.vmap`` stacks their parameters on a leading axis of 2)."""

    hidden_sizes: tuple[int, ...] = (256, 256)

    @nn.compact
    def __call__(self, x: jax.Array, action: jax.Array) -> jax.Array:
        critics = nn.vmap(
            MLP,
            variable_axes={"params": 0},
            split_rngs={"params": True},
            in_axes=None,
            out_axes=0,
            axis_size=2,
        )((*self.hidden_sizes, 1))
        return critics(jnp.concatenate([x, action], axis=-1))[..., 0]


def actor_network(config: SACConfig, action_dim: int) -> Actor:
    return Actor(action_dim, tuple(config.hidden_sizes))


def critic_network(config: SACConfig) -> TwinCritic:
    return TwinCritic(tuple(config.hidden_sizes))


def network_input(obs: jax.Array, config: SACConfig) -> jax.Array:
    """What the networks read: float vectors times ``obs_scale``; any leading axes."""
    return scaled_observation(obs, 0, config.obs_scale)


def policy(state: SACState, actor_params: Any, obs: jax.Array, config: SACConfig) -> tuple[jax.Array, jax.Array]:
    """``(mean, log_std)`` of the pre-squash Gaussian for observations with any leading axes."""
    return actor_network(config, state.action_dim).apply(actor_params, network_input(obs, config))


def q_values(state: SACState, critic_params: Any, obs: jax.Array, action: jax.Array, config: SACConfig) -> jax.Array:
    """Both critics' ``Q(s, a)``, ``[2, N]``, for ``N`` observations and [-1, 1] actions."""
    return critic_network(config).apply(critic_params, network_input(obs, config), action)


# --- Action units ----------------------------------------------------------------------


def to_box(state: SACState, squashed: jax.Array) -> jax.Array:
    """A [-1, 1] action mapped onto the Box: ``low + (a + 1) (high - low) / 2``."""
    low, high = jnp.asarray(state.action_low, jnp.float32), jnp.asarray(state.action_high, jnp.float32)
    return low + (squashed + 1.0) * (0.5 * (high - low))


def from_box(state: SACState, action: jax.Array) -> jax.Array:
    """A Box action mapped back to [-1, 1] (the inverse of :func:`to_box`)."""
    low, high = jnp.asarray(state.action_low, jnp.float32), jnp.asarray(state.action_high, jnp.float32)
    return 2.0 * (action - low) / (high - low) - 1.0


# --- Replay and optimisers --------------------------------------------------------------


def replay_buffer(config: SACConfig):
    """flashbax's item buffer of whole transitions (add ``[K, B]`` batches, sample ``batch_size``)."""
    return fbx.make_item_buffer(
        max_length=config.buffer_size,
        min_length=1,  # warm-up is gated by learning_starts instead
        sample_batch_size=config.batch_size,
        add_sequences=True,
        add_batches=True,
    )


def replay_item(transition: Transition) -> Transition:
    """What the buffer keeps: ``(s, a, r, s', terminated)`` (a truncated step bootstraps like any other)."""
    return transition.replace(truncated=None, valid=None, extras=None)


def optimizer(learning_rate: jax.Array, config: SACConfig) -> optax.GradientTransformation:
    """Global-norm clipping (off at 0), then Adam: rebuilt at each step, as its state does not
    depend on the traced hyperparameters."""
    return clipped_adam(learning_rate, config.max_grad_norm)


def target_entropy(state: SACState, config: SACConfig) -> jax.Array:
    """``target_entropy_per_dim`` x the action dimensions: -|A| by default."""
    return config.target_entropy_per_dim * state.action_dim


# --- Agent functions ---------------------------------------------------------------------


def _box_bounds(env: Any, env_params: Any) -> tuple[tuple[float, ...], tuple[float, ...]]:
    space = env.action_space(env_params)
    (dim,) = space.shape
    low = np.broadcast_to(np.asarray(space.low, np.float64), (dim,))
    high = np.broadcast_to(np.asarray(space.high, np.float64), (dim,))
    return tuple(map(float, low)), tuple(map(float, high))


def init(key: jax.Array, env: Any, env_params: Any, config: SACConfig) -> SACState:
    """Random actor and critics, identical target critics, log_alpha = log(initial_alpha), an empty buffer."""
    actor_key, critic_key = jax.random.split(key)
    low, high = _box_bounds(env, env_params)
    obs = zero_observation(key, env, env_params)
    x = network_input(obs, config)
    actor_params = actor_network(config, len(low)).init(actor_key, x)
    critic_params = critic_network(config).init(critic_key, x, jnp.zeros((len(low),), jnp.float32))
    log_alpha = jnp.log(jnp.asarray(config.initial_alpha, jnp.float32))
    example = replay_item(example_transition(obs, action=action_template(env, env_params)))
    return SACState(
        actor_params=actor_params,
        critic_params=critic_params,
        target_critic_params=critic_params,
        log_alpha=log_alpha,
        actor_opt_state=optimizer(config.learning_rate, config).init(actor_params),
        critic_opt_state=optimizer(config.learning_rate, config).init(critic_params),
        alpha_opt_state=optimizer(config.alpha_learning_rate, config).init(log_alpha),
        replay=replay_buffer(config).init(example),
        gradient_steps=jnp.int32(0),
        action_low=low,
        action_high=high,
    )


def act(key: jax.Array, state: SACState, obs: jax.Array, config: SACConfig, clock: Clock, explore: bool) -> jax.Array:
    """For ONE observation: a uniform action during warm-up, then a squashed-Gaussian draw
    (``explore``); or ``tanh(mean)`` (evaluation); in the Box's units."""
    mean, log_std = policy(state, state.actor_params, obs, config)
    if not explore:
        return to_box(state, jnp.tanh(mean))
    uniform_key, policy_key = jax.random.split(key)
    sampled, _ = squashed_gaussian_sample(policy_key, mean, log_std)
    uniform = jax.random.uniform(uniform_key, sampled.shape, sampled.dtype, -1.0, 1.0)
    return to_box(state, jnp.where(clock.env_steps < config.learning_starts, uniform, sampled))


def critic_targets(
    state: SACState, batch: Transition, key: jax.Array, alpha: jax.Array, config: SACConfig
) -> jax.Array:
    """``y = r + gamma (1 - terminated) (min_i Q_target_i(s', a') - alpha log pi(a'|s'))``, ``[N]``,
    with ``a'`` drawn from the current policy at the true successor ``s'``."""
    mean, log_std = policy(state, state.actor_params, batch.next_obs, config)
    next_action, next_log_prob = squashed_gaussian_sample(key, mean, log_std)
    next_q = q_values(state, state.target_critic_params, batch.next_obs, next_action, config).min(axis=0)
    soft_value = next_q - alpha * next_log_prob
    return jax.lax.stop_gradient(td_target(batch.reward, batch.terminated, config.gamma, soft_value))


def critic_loss(critic_params: Any, state: SACState, batch: Transition, target: jax.Array, config: SACConfig):
    """``sum_i mean (Q_i(s, a) - y)^2 / 2``; returns (loss, Q values ``[2, N]``)."""
    q = q_values(state, critic_params, batch.obs, from_box(state, batch.action), config)
    chex.assert_shape(q, (2, target.shape[0]))
    return 0.5 * jnp.sum(jnp.mean(jnp.square(q - target), axis=1)), q


def actor_loss(actor_params: Any, state: SACState, obs: jax.Array, key: jax.Array, alpha: jax.Array, config: SACConfig):
    """``mean alpha log pi(a~|s) - min_i Q_i(s, a~)`` with ``a~`` reparameterised; returns (loss, log pi)."""
    mean, log_std = policy(state, actor_params, obs, config)
    action, log_prob = squashed_gaussian_sample(key, mean, log_std)
    q = q_values(state, state.critic_params, obs, action, config).min(axis=0)
    return jnp.mean(alpha * log_prob - q), log_prob


def alpha_loss(log_alpha: jax.Array, log_prob: jax.Array, entropy_target: jax.Array) -> jax.Array:
    """``-mean log_alpha (log pi + target_entropy)``: alpha grows while the entropy is below target."""
    return -jnp.mean(log_alpha * jax.lax.stop_gradient(log_prob + entropy_target))


def update_target(online: Any, target: Any, gradient_steps: jax.Array, config: SACConfig) -> Any:
    """Every ``target_update_interval`` gradient steps: ``target <- tau * online + (1 - tau) * target``."""
    blended = optax.incremental_update(online, target, config.tau)
    return optax.periodic_update(blended, target, gradient_steps, config.target_update_interval)


def gradient_step(
    learner: SACState, replay: Any, key: jax.Array, config: SACConfig
) -> tuple[SACState, dict[str, jax.Array]]:
    """One step of the critics, the actor and the temperature on a sampled batch, then the targets.

    ``learner`` is the agent state without its buffer (``replay=None``): the buffer is only
    read here, so the loops and conds around this step do not carry it.
    """
    sample_key, next_key, actor_key = jax.random.split(key, 3)
    batch = replay_buffer(config).sample(replay, sample_key).experience
    chex.assert_shape(batch.reward, (config.batch_size,))
    alpha = jnp.exp(learner.log_alpha)

    target = critic_targets(learner, batch, next_key, alpha, config)
    (q_loss, q), grads = jax.value_and_grad(critic_loss, has_aux=True)(
        learner.critic_params, learner, batch, target, config
    )
    updates, critic_opt_state = optimizer(config.learning_rate, config).update(
        grads, learner.critic_opt_state, learner.critic_params
    )
    learner = learner.replace(critic_params=optax.apply_updates(learner.critic_params, updates))

    (pi_loss, log_prob), grads = jax.value_and_grad(actor_loss, has_aux=True)(
        learner.actor_params, learner, batch.obs, actor_key, alpha, config
    )
    updates, actor_opt_state = optimizer(config.learning_rate, config).update(
        grads, learner.actor_opt_state, learner.actor_params
    )
    actor_params = optax.apply_updates(learner.actor_params, updates)

    log_alpha, alpha_opt_state = learner.log_alpha, learner.alpha_opt_state
    a_loss, grad = jax.value_and_grad(alpha_loss)(log_alpha, log_prob, target_entropy(learner, config))
    if config.autotune_alpha:
        updates, alpha_opt_state = optimizer(config.alpha_learning_rate, config).update(
            grad, alpha_opt_state, log_alpha
        )
        log_alpha = optax.apply_updates(log_alpha, updates)

    steps = learner.gradient_steps + 1
    learner = learner.replace(
        actor_params=actor_params,
        target_critic_params=update_target(learner.critic_params, learner.target_critic_params, steps, config),
        log_alpha=log_alpha,
        actor_opt_state=actor_opt_state,
        critic_opt_state=critic_opt_state,
        alpha_opt_state=alpha_opt_state,
        gradient_steps=steps,
    )
    metrics = {
        "critic_loss": q_loss,
        "actor_loss": pi_loss,
        "alpha_loss": a_loss,
        "alpha": alpha,
        "entropy": -jnp.mean(log_prob),
        "q_value": jnp.mean(q),
    }
    return learner, metrics


METRICS = ("critic_loss", "actor_loss", "alpha_loss", "alpha", "entropy", "q_value")


def update(
    key: jax.Array, state: SACState, batch: Transition, config: SACConfig, clock: Clock
) -> tuple[SACState, dict[str, jax.Array]]:
    """Store the ``[train_frequency, num_envs]`` new transitions; after warm-up, learn from replay."""
    chex.assert_shape(batch.reward, (config.train_frequency, config.num_envs))
    stored = check_like(replay_item(batch), state.replay.experience, 2, "SAC's batch")
    replay = replay_buffer(config).add(state.replay, stored)

    def learn(learner):
        keys = jax.random.split(key, config.gradient_steps)
        learner, metrics = jax.lax.scan(lambda s, k: gradient_step(s, replay, k, config), learner, keys)
        return learner, jax.tree.map(jnp.mean, metrics)

    def warm_up(learner):
        return learner, {name: jnp.float32(jnp.nan) for name in METRICS}

    # The buffer stays out of the cond's carry: under vmap the cond is a select of both
    # branches' outputs, and the replay is most of the state (see dqn.update).
    learner = state.replace(replay=None)
    learner, metrics = jax.lax.cond(clock.env_steps >= config.learning_starts, learn, warm_up, learner)
    return learner.replace(replay=replay), metrics


# --- Checks before anything is traced ---------------------------------------------------


def validate(config: SACConfig, env: Any, env_params: Any) -> None:
    """Clear ``ValueError`` for hyperparameters or environments SAC cannot run."""
    check_box_actions("sac", env, env_params)
    space = env.action_space(env_params)
    if len(space.shape) != 1:
        raise ValidationError(f"sac acts in flat (1-d) Box action spaces; {env.name} has {space!r}")
    low, high = _box_bounds(env, env_params)
    if not (np.all(np.isfinite(low)) and np.all(np.isfinite(high)) and np.all(np.less(low, high))):
        raise ValidationError(f"sac needs finite Box action bounds with low < high; {env.name} has {low} .. {high}")
    obs_space = env.observation_space(env_params)
    if not (isinstance(obs_space, spaces.Box) and len(obs_space.shape) == 1):
        raise ValidationError(f"sac's MLPs need flat (1-d) Box observations; {env.name} has {obs_space!r}")
    check_positive("learning_rate", config.learning_rate)
    check_positive("alpha_learning_rate", config.alpha_learning_rate)
    check_range("gamma", config.gamma, 0.0, 1.0)
    check_range("tau", config.tau, 0.0, 1.0, low_open=True)
    check_positive("initial_alpha", config.initial_alpha)
    if not math.isfinite(float(config.target_entropy_per_dim)):
        raise ValidationError(f"target_entropy_per_dim must be finite; got {config.target_entropy_per_dim}")
    check_range("max_grad_norm", config.max_grad_norm, 0.0, float("inf"))
    for name in (
        "num_envs",
        "buffer_size",
        "batch_size",
        "train_frequency",
        "gradient_steps",
        "target_update_interval",
    ):
        if int(getattr(config, name)) < 1:
            raise ValidationError(f"{name} must be >= 1; got {getattr(config, name)}")
    if int(config.learning_starts) < 0:
        raise ValidationError(f"learning_starts must be >= 0; got {config.learning_starts}")
    if any(int(h) < 1 for h in config.hidden_sizes):  # () is allowed: linear actor and critics
        raise ValidationError(f"hidden_sizes must be widths >= 1; got {config.hidden_sizes}")
    check_obs_scale(config.obs_scale, obs_space)
    if config.batch_size > config.buffer_size:
        raise ValidationError(f"batch_size ({config.batch_size}) must be <= buffer_size ({config.buffer_size})")
    per_update = config.num_envs * config.train_frequency
    if per_update > config.buffer_size:
        raise ValidationError(
            f"buffer_size ({config.buffer_size}) must hold one update's transitions: "
            f"num_envs * train_frequency = {per_update}"
        )


# --- Tuned presets (``rljax train sac --env ...`` starts from these) ---------------------

PRESETS: dict[str, dict[str, Any]] = {
    # Pendulum-v1: rl-zoo's SAC (1 env, one gradient step per env step, learning after 1k
    # uniform steps) with 64x64 networks, batches of 128 and lr 3e-3, its gradient steps
    # taken 8 at a time after every 8 env steps (the same update-to-data ratio, 8x fewer
    # loop iterations). rljax sweep over lr 1e-3 / 3e-3 (seeds 0-15, 20-episode
    # evaluations): IQM -152.4 / -149.3 at 10k steps, the worst seed -479.0 / -183.9.
    # Tested at its 20k budget (100-episode greedy evaluations): IQM -146.0, worst -164.2
    # on seeds 0-15; IQM -142.5, worst -156.4 on seeds 16-31 (rl-zoo's SAC: -157 +- 89); at
    # 2x (40k) IQM -144.5, worst -165.1 and at 4x (80k) IQM -143.4, worst -159.3 on seeds
    # 0-15: tested for 1x-4x its budget (benchmarks/preset_stability.py). rejax's SAC at its own config (10k
    # steps): IQM -153.6, worst -181.4, in 1.8x this preset's time (benchmarks/sac_pendulum.py).
    "Pendulum-v1": {
        "total_steps": 20_000,
        "evaluations": 4,
        "hidden_sizes": (64, 64),
        "batch_size": 128,
        "learning_rate": 3e-3,
        "learning_starts": 1_000,
        "train_frequency": 8,
        "gradient_steps": 8,
    },
    # MountainCarContinuous-v0: rl-zoo's SAC without gSDE (64x64, batches of 256, lr 3e-4,
    # 32 gradient steps after every 32 env steps, gamma 0.9999, tau 0.01), a longer uniform
    # warm-up (5k steps) and a higher target entropy (0 per dimension, not -1). The reward
    # charges 0.1 a^2 per step and pays 100 only at the goal, which white-noise exploration
    # rarely reaches: the zoo's fixed alpha 0.1 left every seed of 16 at "do nothing"
    # (return ~0) by 10k steps, and this preset does no better: 0/16 seeds >= 90 at its 30k
    # budget (IQM -0.1; no training episode reached the goal), nor at 2x and 4x (0/16, IQM
    # -0.04 and -0.02: longer runs only settle closer to zero). Not tested on seeds 16-31.
    # gSDE (the zoo's exploration) is not implemented.
    "MountainCarContinuous-v0": {
        "total_steps": 29_952,  # 3 evaluations of 9,984 env steps (whole updates of 32)
        "evaluations": 3,
        "hidden_sizes": (64, 64),
        "batch_size": 256,
        "buffer_size": 50_000,
        "learning_rate": 3e-4,
        "gamma": 0.9999,
        "tau": 0.01,
        "learning_starts": 5_000,
        "target_entropy_per_dim": 0.0,
        "train_frequency": 32,
        "gradient_steps": 32,
    },
    # brax/inverted_pendulum (Brax's MuJoCo-style InvertedPendulum, positional pipeline,
    # 1000-step episodes): the Pendulum preset's shape (64x64, 8 gradient steps after every 8
    # env steps) with batches of 256, lr 1e-3 and 2k uniform steps. rljax sweep over lr 3e-4
    # / 1e-3 (seeds 0-3, 20-episode evaluations): 1/4 and 4/4 seeds at 1000 at 50k steps; at
    # 1e-3 every seed first reached 1000 at 30k. (lr 3e-3 with batches of 128, the Pendulum
    # preset: 2/4 at 20k, seeds falling back after touching 1000.) At its 50k budget 15/16
    # seeds >= 950 (16 seeds, 100-episode evaluations); at 2x (100k) 16/16, all at 1000; at 4x
    # (200k) 13/16 (seeds 9, 5, 15 at 73.6, 201.6, 810.3): tested to hold for 1x-2x its budget.
    "brax/inverted_pendulum": {
        "total_steps": 50_000,
        "evaluations": 5,
        "hidden_sizes": (64, 64),
        "batch_size": 256,
        "learning_rate": 1e-3,
        "learning_starts": 2_000,
        "train_frequency": 8,
        "gradient_steps": 8,
    },
}

sac = Agent(
    name="sac",
    config_type=SACConfig,
    init=init,
    act=act,
    update=update,
    rollout_length=lambda config, env_params: int(config.train_frequency),
    validate=validate,
    presets=PRESETS,
    # A trained policy needs the actor (act reads nothing else); checkpoints keep the replay for resume.
    policy_state=lambda state: state.replace(replay=None),
)
