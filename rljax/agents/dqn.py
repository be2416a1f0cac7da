"""Deep Q-Network (Mnih et al., 2015): replay, a target network, and Double DQN as an option.

Acting, in ``num_envs`` environments at once: epsilon-greedy on ``Q(s, .)``, with
epsilon decaying linearly from ``epsilon_start`` to ``epsilon_end`` over
``epsilon_decay_fraction`` of the run (evaluation is greedy).

Learning, after every ``train_frequency`` steps of those environments::

    add the train_frequency x num_envs new transitions (s, a, r, s', terminated) to replay
    if env_steps >= learning_starts:                 # warm-up: only fill the buffer
        repeat gradient_steps times:
            sample batch_size transitions uniformly from the filled part of the buffer
            y = r + gamma * (1 - terminated) * max_a' Q_target(s', a')                 # DQN
              = r + gamma * (1 - terminated) * Q_target(s', argmax_a' Q(s', a'))       # Double DQN
            loss = mean_i huber(Q(s_i, a_i) - y_i; huber_delta)      (or squared error)
            theta <- Adam step on the loss (global-norm clipped; learning rate annealed
                     linearly to learning_rate * learning_rate_end_fraction over the run)
            every target_update_interval gradient steps:
                theta_target <- tau * theta + (1 - tau) * theta_target      (tau = 1: hard copy)

Only *terminated* transitions stop the bootstrap. A *truncated* one (the time limit)
bootstraps from its true final observation: the loop hands the agent ``next_obs``
from before gymnax's auto-reset.

Replay is flashbax's item buffer: a ring of ``buffer_size`` whole transitions per
seed, kept in the agent state (so it is vmapped over seeds like everything else)
and sampled uniformly from its filled slots. flashbax's *flat* buffer stores single
timesteps and pairs each with the next one to get ``s'``; at an episode boundary
that successor is the auto-reset observation, not the true final one, it cannot
sample the newest step, and it needs ``buffer_size >= 2 * num_envs`` -- so it can
neither bootstrap truncated steps correctly nor run online Q-learning
(``buffer_size = batch_size = 1``).

Discrete observations (``Discrete`` spaces: Taxi, the probes, ...) are one-hot
encoded; vectors (times ``obs_scale``) go through an MLP, MinAtar images through a
small CNN (:mod:`rljax.agents.nets`).

Why the CartPole preset is built as it is (the measurements: the docs' agent notes):

- Huber loss with delta 20, a fifth of the Q scale 1 / (1 - gamma): the news that an
  episode ended comes only from terminated transitions (~1.5% of a batch) whose TD
  errors are ~Q; delta 1 caps their gradient and solved 4/16 seeds, delta 10-100 15-16/16.
- The learning rate anneals to zero over the preset's budget (``schedule_steps``): once
  the replay has wrapped it holds no failures to learn from, and a network still being
  trained forgot the solution (13/16 at 4x the budget; 16/16 with the anneal).
- Double DQN removes the max-of-noisy-estimates bias at the 500-step truncations
  (14/16 -> 16/16 seeds at the budget).
- The target network sets how fast Q can grow: a soft update has a time constant of
  1 / (tau (1 - gamma)) gradient steps (the preset's tau is 0.1).
"""

from __future__ import annotations

from typing import Any, Literal, get_args

import chex
import flashbax as fbx
import jax
import jax.numpy as jnp
import optax
from flax import struct

from rljax._errors import ValidationError
from rljax.agents.base import (
    Agent,
    Clock,
    Transition,
    action_template,
    annealed_learning_rate,
    check_choice,
    check_discrete_actions,
    check_like,
    check_obs_scale,
    check_positive,
    check_range,
    env_shapes,
    example_transition,
)
from rljax.agents.exploration import EpsilonClock, EpsilonSchedule, config_epsilon, epsilon_greedy, validate_epsilon
from rljax.agents.nets import TORSOS, QNetwork, Torso, clipped_adam, scaled_observation
from rljax.agents.value_targets import double_q_bootstrap, q_learning_bootstrap, td_target
from rljax.envs._gymnax import spaces

Loss = Literal["huber", "mse", "mae"]
LOSSES = get_args(Loss)


@struct.dataclass
class DQNConfig:
    """Hyperparameters of DQN.

    Traced (a sweep over them is one compiled program): ``learning_rate``,
    ``learning_rate_end_fraction``, ``gamma``, ``tau``, ``huber_delta``,
    ``max_grad_norm`` and the ``epsilon_*`` values. Static (they change shapes or
    the program): everything marked ``struct.field(pytree_node=False)``.
    """

    learning_rate: float = 2e-3  # Adam step size at the start of the run
    learning_rate_end_fraction: float = 0.1  # linear anneal to learning_rate * this (1 = constant)
    gamma: float = 0.99
    tau: float = 0.03  # target <- tau * online + (1 - tau) * target; 1 = hard copy
    huber_delta: float = 1.0  # quadratic inside |td| <= delta, linear outside ("huber" loss)
    max_grad_norm: float = 10.0  # global-norm gradient clipping; 0 = no clipping
    epsilon_start: float = 1.0
    epsilon_end: float = 0.05
    epsilon_decay_fraction: float = 0.1  # linear: over this fraction of the run's env steps
    epsilon_decay_rate: float = 0.99  # only for epsilon_schedule="exponential"
    # Env steps over which the learning rate anneals and a linear epsilon decays
    # (``epsilon_decay_fraction`` of it); 0 = the run's length. A preset sets it so that a
    # longer run is the preset's run followed by more steps at the final values.
    schedule_steps: int = 0
    # --- static ---
    epsilon_schedule: EpsilonSchedule = struct.field(pytree_node=False, default="linear")
    epsilon_clock: EpsilonClock = struct.field(pytree_node=False, default="steps")
    hidden_sizes: tuple[int, ...] = struct.field(pytree_node=False, default=(128, 128))
    torso: Torso = struct.field(pytree_node=False, default="mlp")  # "mlp" or "cnn" (MinAtar)
    cnn_channels: int = struct.field(pytree_node=False, default=16)
    embedding_dim: int = struct.field(pytree_node=False, default=16)  # torso="embedding" with hidden layers
    num_envs: int = struct.field(pytree_node=False, default=16)
    buffer_size: int = struct.field(pytree_node=False, default=100_000)  # transitions per seed
    batch_size: int = struct.field(pytree_node=False, default=128)
    learning_starts: int = struct.field(pytree_node=False, default=1_000)  # env steps (all envs)
    train_frequency: int = struct.field(pytree_node=False, default=1)  # steps per env per update
    gradient_steps: int = struct.field(pytree_node=False, default=1)  # per update
    target_update_interval: int = struct.field(pytree_node=False, default=1)  # in gradient steps
    loss: Loss = struct.field(pytree_node=False, default="huber")  # "huber" or "mse"
    double_dqn: bool = struct.field(pytree_node=False, default=False)
    # Multiplies vector observations before the network: one factor, or one per feature
    # (e.g. 1 / each feature's typical magnitude). 1 = unscaled. See the CartPole preset.
    obs_scale: tuple[float, ...] = struct.field(pytree_node=False, default=(1.0,))


class DQNState(struct.PyTreeNode):
    """One seed's learner: networks, optimiser, replay and a gradient-step counter."""

    params: Any  # online Q-network
    target_params: Any  # target Q-network
    opt_state: optax.OptState
    replay: Any  # flashbax TrajectoryBufferState of Transitions
    gradient_steps: jax.Array  # gradient steps taken so far (drives target updates)
    num_actions: int = struct.field(pytree_node=False)
    num_obs_categories: int = struct.field(pytree_node=False)  # > 0: one-hot observations


# --- The Q-function ---------------------------------------------------------


def q_network(config: DQNConfig, num_actions: int, num_obs_categories: int = 0) -> QNetwork:
    """The Flax module of the config's Q-network (it maps ONE observation)."""
    return QNetwork(
        num_actions,
        tuple(config.hidden_sizes),
        config.torso,
        config.cnn_channels,
        num_obs_categories=num_obs_categories,
        embedding_dim=config.embedding_dim,
    )


def network_input(obs: jax.Array, num_obs_categories: int, config: DQNConfig) -> jax.Array:
    """What the Q-network reads: the integer itself for an embedding, else one-hot / float vectors
    (vectors times ``obs_scale``)."""
    if config.torso == "embedding":
        return obs
    return scaled_observation(obs, num_obs_categories, config.obs_scale)


def q_values(state: DQNState, params: Any, obs: jax.Array, config: DQNConfig) -> jax.Array:
    """``Q(obs, .)`` of a batch ``[N, *obs_shape] -> [N, num_actions]`` under ``params``."""
    net = q_network(config, state.num_actions, state.num_obs_categories)
    q = jax.vmap(lambda o: net.apply(params, network_input(o, state.num_obs_categories, config)))(obs)
    chex.assert_shape(q, (obs.shape[0], state.num_actions))
    return q


# --- Replay, optimiser and schedules ----------------------------------------


def replay_buffer(config: DQNConfig):
    """flashbax's item buffer of whole transitions (add ``[K, B]`` batches, sample ``batch_size``)."""
    return fbx.make_item_buffer(
        max_length=config.buffer_size,
        min_length=1,  # warm-up is gated by learning_starts instead
        sample_batch_size=config.batch_size,
        add_sequences=True,
        add_batches=True,
    )


def replay_item(transition: Transition) -> Transition:
    """What the buffer keeps of a transition: ``(s, a, r, s', terminated)``.

    ``truncated`` is not needed (a truncated step bootstraps like any other) and
    ``valid`` is always True for DQN's non-episodic rollouts. Each stored field is
    an array of its own in the buffer, with its own add and sample kernels: storing
    the two unused ones cost the default CartPole program ~0.5 s of its ~4.2 s XLA
    compile (3 runs each: median 4.2 vs 3.6 s), and 2 bytes per transition.
    """
    return transition.replace(truncated=None, valid=None)


learning_rate_at = annealed_learning_rate  # linear over the schedules' horizon (schedule_steps), then held


def optimizer(config: DQNConfig, learning_rate: jax.Array) -> optax.GradientTransformation:
    """Global-norm clipping, then Adam with a (traced) learning rate (:func:`rljax.agents.nets.clipped_adam`).

    Built afresh from the config at each update: its state (Adam's moments) does not
    depend on the traced hyperparameters, so they can differ across a vmapped sweep.
    """
    return clipped_adam(learning_rate, config.max_grad_norm)


# --- Agent functions -----------------------------------------------------------


def init(key: jax.Array, env: Any, env_params: Any, config: DQNConfig) -> DQNState:
    """Random online network, an identical target network, Adam state and an empty buffer."""
    obs, num_obs_categories, num_actions = env_shapes(key, env, env_params)
    net = q_network(config, num_actions, num_obs_categories)
    params = net.init(key, network_input(obs, num_obs_categories, config))
    example = replay_item(example_transition(obs, action=action_template(env, env_params)))
    return DQNState(
        params=params,
        target_params=params,
        opt_state=optimizer(config, config.learning_rate).init(params),
        replay=replay_buffer(config).init(example),
        gradient_steps=jnp.int32(0),
        num_actions=num_actions,
        num_obs_categories=num_obs_categories,
    )


def act(key: jax.Array, state: DQNState, obs: jax.Array, config: DQNConfig, clock: Clock, explore: bool) -> jax.Array:
    """Epsilon-greedy (``explore``, ties broken at random) or greedy action for ONE observation.

    The greedy (evaluation) action is the first of tied maxima, with no random draw: a
    network's float Q values tie almost never (0 exact ties in 10M random observations at
    the CartPole-v1 preset, trained or freshly initialised: ``tests/agents/test_dqn.py``), while
    the tie-break's draw cost a third of every evaluation (100 greedy episodes of 16
    seeds: 0.72 / 0.51 s -> 0.47 / 0.40 s, two runs each). A network whose units are all
    dead (every Q value its zero-initialised bias) would act 0 where the draw was uniform.
    """
    q = q_values(state, state.params, obs[None], config)[0]
    if not explore:
        return jnp.argmax(q).astype(jnp.int32)
    return epsilon_greedy(key, q, config_epsilon(config, clock))


def td_loss(params: Any, state: DQNState, batch: Transition, config: DQNConfig) -> tuple[jax.Array, jax.Array]:
    """Mean Huber (or squared) TD error of a sampled batch ``[N]``; returns (loss, Q(s, a))."""
    q = q_values(state, params, batch.obs, config)
    q_taken = jnp.take_along_axis(q, batch.action[:, None], axis=1)[:, 0]
    q_next_target = q_values(state, state.target_params, batch.next_obs, config)
    if config.double_dqn:  # the online network picks a', the target network evaluates it
        q_next_online = q_values(state, params, batch.next_obs, config)
        bootstrap = jax.vmap(double_q_bootstrap)(q_next_target, q_next_online)
    else:
        bootstrap = jax.vmap(q_learning_bootstrap)(q_next_target)
    target = jax.lax.stop_gradient(td_target(batch.reward, batch.terminated, config.gamma, bootstrap))
    chex.assert_equal_shape([q_taken, target])
    if config.loss == "huber":
        losses = optax.huber_loss(q_taken, target, delta=config.huber_delta)
    elif config.loss == "mae":  # the Keras Taxi tutorial's loss
        losses = jnp.abs(q_taken - target)
    else:
        losses = optax.squared_error(q_taken, target)
    return losses.mean(), q_taken


def update_target(online: Any, target: Any, gradient_steps: jax.Array, config: DQNConfig) -> Any:
    """Every ``target_update_interval`` gradient steps: ``target <- tau * online + (1 - tau) * target``."""
    blended = optax.incremental_update(online, target, config.tau)
    return optax.periodic_update(blended, target, gradient_steps, config.target_update_interval)


def gradient_step(
    learner: DQNState, replay: Any, key: jax.Array, config: DQNConfig, learning_rate: jax.Array
) -> tuple[DQNState, dict[str, jax.Array]]:
    """Sample a batch from ``replay``, take one optimiser step on the TD loss, maybe update the target.

    ``learner`` is the agent state without its buffer (``replay=None``): the buffer is
    only read here, so the loops and conds around this step do not carry it.
    """
    batch = replay_buffer(config).sample(replay, key).experience
    chex.assert_shape(batch.reward, (config.batch_size,))
    (loss, q_taken), grads = jax.value_and_grad(td_loss, has_aux=True)(learner.params, learner, batch, config)
    updates, opt_state = optimizer(config, learning_rate).update(grads, learner.opt_state, learner.params)
    params = optax.apply_updates(learner.params, updates)
    steps = learner.gradient_steps + 1
    learner = learner.replace(
        params=params,
        target_params=update_target(params, learner.target_params, steps, config),
        opt_state=opt_state,
        gradient_steps=steps,
    )
    return learner, {"loss": loss, "q_value": q_taken.mean()}


def update(
    key: jax.Array, state: DQNState, batch: Transition, config: DQNConfig, clock: Clock
) -> tuple[DQNState, dict[str, jax.Array]]:
    """Store the ``[train_frequency, num_envs]`` new transitions; after warm-up, learn from replay."""
    chex.assert_shape(batch.reward, (config.train_frequency, config.num_envs))
    stored = check_like(replay_item(batch), state.replay.experience, 2, "DQN's batch")
    replay = replay_buffer(config).add(state.replay, stored)
    learning_rate = learning_rate_at(config, clock)

    def learn(learner):
        keys = jax.random.split(key, config.gradient_steps)
        learner, metrics = jax.lax.scan(lambda s, k: gradient_step(s, replay, k, config, learning_rate), learner, keys)
        return learner, jax.tree.map(jnp.mean, metrics)

    def warm_up(learner):
        return learner, {"loss": jnp.float32(jnp.nan), "q_value": jnp.float32(jnp.nan)}

    # The buffer is only read while learning, so it stays out of the cond's carry: under
    # vmap the cond becomes a select of both branches' outputs, and the replay is big.
    learner = state.replace(replay=None)
    learner, metrics = jax.lax.cond(clock.env_steps >= config.learning_starts, learn, warm_up, learner)
    metrics.update(epsilon=config_epsilon(config, clock), learning_rate=learning_rate)
    return learner.replace(replay=replay), metrics


# --- Checks before anything is traced ---------------------------------------


def validate(config: DQNConfig, env: Any, env_params: Any) -> None:
    """Clear ``ValueError`` for hyperparameters or environments DQN cannot run."""
    check_discrete_actions("DQN", env, env_params, "one Q value per action")
    obs_space = env.observation_space(env_params)
    if not isinstance(obs_space, (spaces.Discrete, spaces.Box)):
        raise ValidationError(f"DQN needs Discrete or Box observations; {env.name} has {obs_space!r}")
    check_choice("torso", config.torso, TORSOS)
    if config.torso == "cnn" and len(getattr(obs_space, "shape", ())) != 3:
        raise ValidationError(f"torso='cnn' needs [H, W, C] image observations; {env.name} has {obs_space!r}")
    if config.torso == "embedding" and not isinstance(obs_space, spaces.Discrete):
        raise ValidationError(f"torso='embedding' needs Discrete observations; {env.name} has {obs_space!r}")
    check_choice("loss", config.loss, LOSSES)
    check_positive("learning_rate", config.learning_rate)
    check_range("learning_rate_end_fraction", config.learning_rate_end_fraction, 0.0, 1.0)
    check_range("gamma", config.gamma, 0.0, 1.0)
    check_range("tau", config.tau, 0.0, 1.0, low_open=True)
    check_positive("huber_delta", config.huber_delta)
    check_range("max_grad_norm", config.max_grad_norm, 0.0, float("inf"))
    validate_epsilon(config)
    for name in (
        "num_envs",
        "buffer_size",
        "batch_size",
        "train_frequency",
        "gradient_steps",
        "target_update_interval",
        "cnn_channels",
        "embedding_dim",
    ):
        if int(getattr(config, name)) < 1:
            raise ValidationError(f"{name} must be >= 1; got {getattr(config, name)}")
    check_obs_scale(config.obs_scale, obs_space)
    if any(int(h) < 1 for h in config.hidden_sizes):  # () is allowed: a linear Q (or the embedding itself)
        raise ValidationError(f"hidden_sizes must be widths >= 1; got {config.hidden_sizes}")
    if config.batch_size > config.buffer_size:
        raise ValidationError(f"batch_size ({config.batch_size}) must be <= buffer_size ({config.buffer_size})")
    if config.learning_starts < config.batch_size:
        raise ValidationError(
            f"learning_starts ({config.learning_starts}) must be >= batch_size ({config.batch_size}): "
            f"the first batches would sample the same few transitions over and over"
        )
    per_update = config.num_envs * config.train_frequency
    if per_update > config.buffer_size:
        raise ValidationError(
            f"buffer_size ({config.buffer_size}) must hold one update's transitions: "
            f"num_envs * train_frequency = {per_update}"
        )


# --- Tuned presets (``rljax train dqn --env ...`` starts from these) -----------

PRESETS = {
    # CartPole-v1 (experiments/dqn_cartpole_preset_search.py): Huber loss (delta 20, see the
    # module docstring), observations scaled to ~unit magnitude (Adam moves every weight by
    # ~lr, so an unscaled pole angle of ~0.05 rad learns ~20x slower), a 128x48 network, the
    # learning rate annealed to zero over 46k env steps, Double DQN. Tested for 1x-4x its
    # budget: solved (greedy >= 475 over 100 episodes) at the end by 16/16 seeds at 46k,
    # 92k and 184k env steps, 15/16 of seeds 100-115 at 46k and 92k (one never learns).
    "CartPole-v1": {
        "total_steps": 46_080,  # 10 evaluations of 18 updates of 16 envs x 16 steps
        # 100-episode greedy evaluations of a solved policy cost ~1 s per 10 for 16 seeds
        # (a third of the train time at 20): every 4,608 env steps is enough to time it.
        "evaluations": 10,
        "loss": "huber",
        "huber_delta": 20.0,
        "obs_scale": (0.42, 0.5, 4.8, 0.5),
        "hidden_sizes": (128, 48),
        "learning_rate": 1e-2,
        # Annealed to zero over the preset's budget, not over the run: a longer run is this
        # run followed by steps that no longer change the network (see "Staying solved").
        "learning_rate_end_fraction": 0.0,
        "schedule_steps": 46_080,
        "double_dqn": True,
        "tau": 0.1,
        "batch_size": 128,
        "train_frequency": 16,
        "gradient_steps": 16,
        "epsilon_end": 0.04,
    },
    # Taxi-v3: the Keras Taxi tutorial's network and training (experiments/keras_taxi_leaderboard.py):
    # an Embedding(500, 6) whose rows are the Q values, Adam 1e-2, mean absolute error, batches
    # of 64 after every step, no target network, epsilon x0.99 per game down to 0.05, one env
    # per seed. 16 seeds: every one >= 7.55 greedy after 60k steps (mean 7.97). Tested for
    # 1x-4x its budget: 16/16 seeds >= 7 at 60k, 120k and 240k env steps.
    "Taxi-v3": {
        "total_steps": 60_000,
        "torso": "embedding",
        "hidden_sizes": (),
        "learning_rate": 1e-2,
        "learning_rate_end_fraction": 1.0,
        "loss": "mae",
        "batch_size": 64,
        "buffer_size": 100_000,
        "learning_starts": 65,
        "num_envs": 1,
        "tau": 1.0,
        "target_update_interval": 1,
        "max_grad_norm": 0.0,
        "epsilon_end": 0.05,
        "epsilon_schedule": "exponential",
        "epsilon_clock": "episodes",
        "epsilon_decay_rate": 0.99,
    },
    # Breakout-MinAtar: the MinAtar paper's CNN (one 3x3 convolution with 16 filters, a
    # 128-unit layer); a CPU-sized budget (see experiments/minatar_breakout_dqn.py). No solved
    # threshold; not tested beyond 1x (hours for 16 seeds on a CPU).
    "Breakout-MinAtar": {
        "total_steps": 500_000,
        "torso": "cnn",
        "hidden_sizes": (128,),
        "learning_rate": 1e-3,
        "batch_size": 64,
        "learning_starts": 5_000,
        "epsilon_decay_fraction": 0.2,
    },
}

dqn = Agent(
    name="dqn",
    config_type=DQNConfig,
    init=init,
    act=act,
    update=update,
    rollout_length=lambda config, env_params: int(config.train_frequency),
    validate=validate,
    presets=PRESETS,
    # A trained policy needs the networks, not the replay buffer (most of the state:
    # 4.1 of 4.2 MB per seed at the CartPole preset); checkpoints keep it for resume.
    policy_state=lambda state: state.replace(replay=None),
)
