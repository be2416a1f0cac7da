"""REINFORCE: Monte-Carlo policy gradient with an optional learned baseline.

Each update sees ``num_envs`` whole episodes (the agent is ``episodic``: the loop
resets B environments and rolls out ``K = max_steps_in_episode`` steps; ``batch.valid``
is False after each environment's first episode end). Then, top to bottom::

    G_t   = r_t + gamma * G_{t+1}                 returns-to-go, per episode (returns_to_go)
    A_t   = G_t - V(s_t)                          if baseline, else G_t
    A_t   = normalise(A_t)                        "none" | "episode" | "batch"
    loss  = -sum_t w_t log pi(a_t | s_t) A_t      policy-gradient surrogate (A_t held fixed)
          + value_coef   * sum_t w_t (V(s_t) - G_t)^2 / 2      (if baseline)
          - entropy_coef * sum_t w_t H(pi(. | s_t))
    params <- Adam(clip_by_global_norm(grad loss), learning_rate)

with weights ``w_t`` zero on invalid steps and, on valid ones,

- ``loss_average="steps"`` (default): ``w_t = 1 / N``, N = number of valid steps in
  the batch: the loss is the mean over every valid step of every episode (a long
  episode contributes more terms than a short one);
- ``loss_average="episodes"``: ``w_t = 1 / B``: the sum over each episode's steps,
  averaged over the B episodes. Its gradient (with ``normalize="none"``, no baseline,
  ``gamma = 1``) is the unbiased REINFORCE estimate of grad E[return]; the maze notes'
  loss (a sum over one episode) is this with B = 1.

The policy and the value baseline are separate MLPs on the same input (discrete
observations one-hot encoded) trained by one Adam optimiser. With Adam the value
coefficient matters little (Adam rescales per parameter); it acts through the
shared global-norm clip. ``act(..., explore=True)`` samples from the softmax
policy; ``explore=False`` (evaluation) takes its argmax.

The maze notes' configuration is ``hidden_sizes=(128,), activation="relu",
learning_rate=1e-4, gamma=0.9, normalize="episode", num_envs=1, baseline=False,
loss_average="episodes", lr_schedule="constant", max_grad_norm=0`` (see
``experiments/maze_notes_reinforce_cartpole.py``). It differs from the tutorial's code in
two bug fixes: episodes that reach the time limit are learned from (the seed
updates only on ``terminated``, so its 500-step episodes never update), and the
normalisation uses the population std plus 1e-8 (the tutorial's ``torch.std`` of a
one-step episode is NaN).
"""

from __future__ import annotations

from typing import Any, Literal, get_args

import jax
import jax.numpy as jnp
import optax
from flax import struct

from rljax._errors import ValidationError
from rljax.agents.base import (
    Agent,
    Clock,
    Transition,
    check_choice,
    check_discrete_actions,
    check_positive,
    check_range,
)
from rljax.agents.nets import ACTIVATIONS, MLP, Activation, clipped_adam, encode_observation
from rljax.agents.returns import (
    NORMALIZATIONS,
    Normalization,
    masked_mean,
    normalize_advantages,
    returns_to_go,
)
from rljax.envs._gymnax import spaces

LossAverage = Literal["steps", "episodes"]
LrSchedule = Literal["constant", "linear"]
LOSS_AVERAGES = get_args(LossAverage)
LR_SCHEDULES = get_args(LrSchedule)

__all__ = [
    "ReinforceConfig",
    "ReinforceState",
    "reinforce",
    "returns_to_go",
    "policy_gradient_loss",
    "reinforce_loss",
    "loss_weights",
]


@struct.dataclass
class ReinforceConfig:
    """Hyperparameters of REINFORCE (static fields marked; the rest can be vmapped).

    Attributes:
      learning_rate: Adam step size (start value if ``lr_schedule="linear"``).
      gamma: discount of the returns-to-go.
      entropy_coef: weight of the entropy bonus (0 = none).
      value_coef: weight of the baseline's squared-error loss.
      max_grad_norm: global-norm gradient clip; 0 disables it.
      adam_eps: Adam's epsilon.
      num_envs: B, whole episodes per update (static).
      hidden_sizes: widths of the hidden layers of both MLPs (static).
      activation: ``"tanh"`` or ``"relu"`` (static).
      normalize: ``"none"`` | ``"episode"`` | ``"batch"`` advantage normalisation (static).
      baseline: learn a state-value baseline V(s) and use ``G - V`` (static).
      loss_average: ``"steps"`` | ``"episodes"``, see the module docstring (static).
      lr_schedule: ``"constant"``, or ``"linear"`` decay to 0 over the run's updates,
        which lets the final policy settle (static).
    """

    learning_rate: float = 3e-3
    gamma: float = 0.99
    entropy_coef: float = 0.0
    value_coef: float = 0.5
    max_grad_norm: float = 1.0
    adam_eps: float = 1e-8
    num_envs: int = struct.field(pytree_node=False, default=8)
    hidden_sizes: tuple[int, ...] = struct.field(pytree_node=False, default=(64, 64))
    activation: Activation = struct.field(pytree_node=False, default="tanh")
    normalize: Normalization = struct.field(pytree_node=False, default="batch")
    baseline: bool = struct.field(pytree_node=False, default=True)
    loss_average: LossAverage = struct.field(pytree_node=False, default="steps")
    lr_schedule: LrSchedule = struct.field(pytree_node=False, default="linear")


class ReinforceState(struct.PyTreeNode):
    params: Any  # {"policy": ..., "value": ...} ("value" only with a baseline)
    opt_state: Any
    # Static: size of a Discrete observation space (one-hot encoded), 0 for Box.
    num_obs_categories: int = struct.field(pytree_node=False, default=0)
    num_actions: int = struct.field(pytree_node=False, default=2)


def policy_net(config: ReinforceConfig, num_actions: int) -> MLP:
    """Logits of the softmax policy; a 0.01-scaled head starts it near uniform."""
    return MLP(
        (*config.hidden_sizes, num_actions), activation=config.activation, kernel_init="orthogonal", head_scale=0.01
    )


def value_net(config: ReinforceConfig) -> MLP:
    """The baseline's state value (one output)."""
    return MLP((*config.hidden_sizes, 1), activation=config.activation, kernel_init="orthogonal")


# The network input (one-hot for discrete observations), shared with DQN.
features = encode_observation


def optimizer(config: ReinforceConfig, learning_rate: jax.Array) -> optax.GradientTransformation:
    """Global-norm clip (off when ``max_grad_norm`` is 0) then Adam, all traced
    (:func:`rljax.agents.nets.clipped_adam`)."""
    return clipped_adam(learning_rate, config.max_grad_norm, config.adam_eps)


# ----------------------------------------------------------------- validation


def _observation_info(env: Any, env_params: Any) -> tuple[int, tuple[int, ...]]:
    space = env.observation_space(env_params)
    if isinstance(space, spaces.Discrete):
        return int(space.n), (int(space.n),)
    shape = tuple(int(d) for d in space.shape)
    if len(shape) != 1:
        raise ValidationError(
            f"reinforce's MLP needs flat (1-d) or Discrete observations; {env.name} has shape {shape}"
        )
    return 0, shape


def validate(config: ReinforceConfig, env: Any, env_params: Any) -> None:
    """Clear errors for bad hyperparameters or an unsupported environment."""
    check_discrete_actions("reinforce", env, env_params, "a softmax policy")
    _observation_info(env, env_params)
    if int(config.num_envs) < 1:
        raise ValidationError(f"num_envs (episodes per update) must be >= 1; got {config.num_envs}")
    check_positive("learning_rate", config.learning_rate)
    check_range("gamma", config.gamma, 0.0, 1.0)
    check_range("entropy_coef", config.entropy_coef, 0.0, float("inf"))
    check_range("value_coef", config.value_coef, 0.0, float("inf"))
    check_range("max_grad_norm", config.max_grad_norm, 0.0, float("inf"))
    check_positive("adam_eps", config.adam_eps)
    check_choice("normalize", config.normalize, NORMALIZATIONS)
    check_choice("loss_average", config.loss_average, LOSS_AVERAGES)
    check_choice("lr_schedule", config.lr_schedule, LR_SCHEDULES)
    check_choice("activation", config.activation, ACTIVATIONS)
    if any(int(w) < 1 for w in config.hidden_sizes):
        raise ValidationError(f"hidden_sizes must all be >= 1; got {config.hidden_sizes}")
    max_steps = getattr(env_params, "max_steps_in_episode", None)
    if max_steps is None or int(max_steps) < 1:
        raise ValidationError(
            f"reinforce rolls out whole episodes and needs env_params.max_steps_in_episode >= 1; "
            f"{env.name} has {max_steps!r}"
        )


def rollout_length(config: ReinforceConfig, env_params: Any) -> int:
    """K = the time limit, so each of the B environments completes one episode."""
    return int(env_params.max_steps_in_episode)


# ----------------------------------------------------------------- agent functions


def init(key: jax.Array, env: Any, env_params: Any, config: ReinforceConfig) -> ReinforceState:
    num_categories, shape = _observation_info(env, env_params)
    num_actions = int(env.action_space(env_params).n)
    dummy = jnp.zeros(shape, jnp.float32)
    key_pi, key_v = jax.random.split(key)
    params = {"policy": policy_net(config, num_actions).init(key_pi, dummy)}
    if config.baseline:
        params["value"] = value_net(config).init(key_v, dummy)
    opt_state = optimizer(config, config.learning_rate).init(params)
    return ReinforceState(params, opt_state, num_categories, num_actions)


def act(
    key: jax.Array,
    state: ReinforceState,
    obs: jax.Array,
    config: ReinforceConfig,
    clock: Clock,
    explore: bool,
) -> jax.Array:
    """A sample of the softmax policy (``explore=True``) or its argmax (evaluation)."""
    x = features(obs, state.num_obs_categories)
    logits = policy_net(config, state.num_actions).apply(state.params["policy"], x)
    if explore:
        return jax.random.categorical(key, logits).astype(jnp.int32)
    return jnp.argmax(logits).astype(jnp.int32)


def loss_weights(valid: jax.Array, loss_average: str) -> jax.Array:
    """Per-step weights ``w_t`` ([T, B]) of the loss: 0 on invalid steps, else
    ``1 / (number of valid steps)`` ("steps") or ``1 / B`` ("episodes")."""
    valid = valid.astype(jnp.float32)
    if loss_average == "steps":
        return valid / jnp.maximum(valid.sum(), 1.0)
    if loss_average == "episodes":
        return valid / valid.shape[-1]
    check_choice("loss_average", loss_average, LOSS_AVERAGES)
    raise AssertionError("unreachable")


def policy_gradient_loss(
    log_probs: jax.Array,
    batch: Transition,
    gamma: jax.Array,
    normalize: str,
    loss_average: str,
    values: jax.Array | None = None,
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """The REINFORCE surrogate ``-sum_t w_t log pi(a_t|s_t) A_t`` of one batch.

    Args:
      log_probs: ``[T, B]`` log-probability of the taken actions (differentiable).
      batch: the episodes (rewards, done, valid of shape ``[T, B]``).
      gamma: as in :class:`ReinforceConfig`.
      normalize: as in :class:`ReinforceConfig`.
      loss_average: as in :class:`ReinforceConfig`.
      values: optional ``[T, B]`` baseline V(s_t); it is not differentiated here.

    Returns:
      ``(loss, aux)`` with ``aux["returns"]`` (G, [T, B]), ``aux["advantages"]``
      (the normalised advantages used, [T, B]) and ``aux["weights"]``.
    """
    valid = batch.valid
    returns = returns_to_go(batch.reward, batch.done, valid, gamma)
    advantages = returns if values is None else returns - jax.lax.stop_gradient(values)
    advantages = jax.lax.stop_gradient(normalize_advantages(advantages, valid, normalize))
    weights = loss_weights(valid, loss_average)
    loss = -jnp.sum(weights * jnp.where(valid, log_probs, 0.0) * advantages)
    return loss, {"returns": returns, "advantages": advantages, "weights": weights}


def scheduled_learning_rate(config: ReinforceConfig, clock: Clock, steps_per_update: int) -> jax.Array:
    """The learning rate of this update: constant, or decayed linearly towards 0.

    The run makes ``clock.horizon / steps_per_update`` updates (the loop budgets
    ``K * B`` computed steps per update; ``clock.env_steps`` counts only valid
    steps, so it is not a fraction of the run for an episodic agent).
    """
    lr = jnp.asarray(config.learning_rate, jnp.float32)
    if config.lr_schedule == "constant":
        return lr
    total_updates = jnp.maximum(clock.horizon // steps_per_update, 1).astype(jnp.float32)
    return lr * jnp.clip(1.0 - clock.updates.astype(jnp.float32) / total_updates, 0.0, 1.0)


def reinforce_loss(
    params: Any, state: ReinforceState, batch: Transition, config: ReinforceConfig
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """The full loss of one batch of episodes (policy surrogate, baseline, entropy)
    as a function of ``params``; ``state`` supplies only its static fields."""
    x = features(batch.obs, state.num_obs_categories)  # [T, B, D]
    logits = policy_net(config, state.num_actions).apply(params["policy"], x)  # [T, B, A]
    log_pi = jax.nn.log_softmax(logits)
    log_probs = jnp.take_along_axis(log_pi, batch.action[..., None].astype(jnp.int32), -1)[..., 0]
    values = value_net(config).apply(params["value"], x)[..., 0] if config.baseline else None
    pg_loss, aux = policy_gradient_loss(log_probs, batch, config.gamma, config.normalize, config.loss_average, values)
    w = aux["weights"]
    entropy = -jnp.sum(jnp.exp(log_pi) * log_pi, axis=-1)
    loss = pg_loss - config.entropy_coef * jnp.sum(w * entropy)
    metrics = {"policy_loss": pg_loss, "entropy": masked_mean(entropy, batch.valid)}
    if config.baseline:
        squared_error = jnp.where(batch.valid, jnp.square(values - aux["returns"]), 0.0)
        loss = loss + config.value_coef * 0.5 * jnp.sum(w * squared_error)
        metrics["value_loss"] = masked_mean(squared_error, batch.valid)
    return loss, metrics


def update(
    key: jax.Array, state: ReinforceState, batch: Transition, config: ReinforceConfig, clock: Clock
) -> tuple[ReinforceState, dict[str, jax.Array]]:
    """One Adam step on the loss of B whole episodes."""
    del key
    T, B = batch.reward.shape
    (loss, metrics), grads = jax.value_and_grad(reinforce_loss, has_aux=True)(state.params, state, batch, config)
    lr = scheduled_learning_rate(config, clock, T * B)
    updates, opt_state = optimizer(config, lr).update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    metrics.update(loss=loss, learning_rate=lr, grad_norm=optax.tree.norm(grads))
    return state.replace(params=params, opt_state=opt_state), metrics


reinforce = Agent(
    name="reinforce",
    config_type=ReinforceConfig,
    init=init,
    act=act,
    update=update,
    rollout_length=rollout_length,
    validate=validate,
    episodic=True,
    # 8 episodes per update; CartPole-v1's K = 500, so one update budgets 4000
    # computed steps (fewer valid ones while episodes are short): 150 updates.
    # Tested for 1x-4x its budget: 16/16 seeds >= 475 at 608k, 1.2M and 2.4M env steps.
    presets={"CartPole-v1": {"total_steps": 600_000}},
)
