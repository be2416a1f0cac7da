"""The maze notes' tabular softmax policy gradient, for discrete observations.

The policy is a table ``theta [S, A]`` through a softmax with inverse temperature
``beta``::

    pi(a | s) = exp(beta * theta[s, a]) / sum_b exp(beta * theta[s, b])

Each update sees ``num_envs`` whole episodes (the agent is ``episodic``). Two update
rules (``update_rule``, static):

``"inverse-length"`` (default) — the maze notes' rule. For one episode of T steps with visit
counts N(s) and N(s, a)::

    delta[s, a] = (N(s, a) - pi(s, a) * N(s)) / T
    theta      += learning_rate * delta          (averaged over the B episodes)

Since ``sum_t d/d theta log pi(a_t | s_t) = beta * (N(s, a) - pi(s, a) N(s))``, this is
(1/beta times) the REINFORCE estimate ``R(tau) * sum_t grad log pi(a_t | s_t)`` for the
episode "return" ``R(tau) = 1 / T``: gradient ascent on E[1 / episode length]. It
ignores the environment's rewards and needs episodes that end sooner the better
the policy is (as in the maze, where reaching the goal ends the episode). The
seed's code writes ``theta + eta + delta`` (a typo for ``eta * delta``; this
module multiplies) and keeps NaN for impossible moves; here impossible moves are
left to the environment (GridMaze's blocked moves leave the agent in place and
cost a step, so the 1/T objective learns to avoid them).

``"reinforce"`` — plain REINFORCE with the environment's rewards::

    theta += learning_rate * mean_b sum_t G_t * grad_theta log pi(a_t | s_t)

with discounted returns-to-go ``G_t`` (:func:`rljax.agents.returns.returns_to_go`),
for any episodic reward structure.

``act(..., explore=False)`` is the argmax of ``theta[s]`` (first maximum on ties).
"""

from __future__ import annotations

from typing import Any, Literal, get_args

import jax
import jax.numpy as jnp
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
from rljax.agents.returns import returns_to_go
from rljax.agents.tabular import num_states

UpdateRule = Literal["inverse-length", "reinforce"]
UPDATE_RULES = get_args(UpdateRule)


@struct.dataclass
class TabularPGConfig:
    """Hyperparameters of the tabular policy gradient (static fields marked).

    Attributes:
      learning_rate: eta, the step size of the theta update.
      beta: inverse temperature of the softmax.
      gamma: discount of the returns-to-go (``update_rule="reinforce"`` only).
      initial_theta: the value every entry of theta starts at (uniform policy).
      num_envs: whole episodes per update (static).
      update_rule: ``"inverse-length"`` or ``"reinforce"`` (static), see the module docstring.
    """

    learning_rate: float = 1.0
    beta: float = 1.0
    gamma: float = 0.99
    initial_theta: float = 0.0
    num_envs: int = struct.field(pytree_node=False, default=4)
    update_rule: UpdateRule = struct.field(pytree_node=False, default="inverse-length")


class TabularPGState(struct.PyTreeNode):
    theta: jax.Array  # [S, A]


def validate(config: TabularPGConfig, env: Any, env_params: Any) -> None:
    num_states(env, env_params)  # discrete observations, or a clear error
    check_discrete_actions("tabular_pg", env, env_params, "a softmax over a table's columns")
    if int(config.num_envs) < 1:
        raise ValidationError(f"num_envs (episodes per update) must be >= 1; got {config.num_envs}")
    check_positive("learning_rate", config.learning_rate)
    check_positive("beta", config.beta)
    check_range("gamma", config.gamma, 0.0, 1.0)
    check_choice("update_rule", config.update_rule, UPDATE_RULES)
    max_steps = getattr(env_params, "max_steps_in_episode", None)
    if max_steps is None or int(max_steps) < 1:
        raise ValidationError(f"tabular_pg needs env_params.max_steps_in_episode >= 1; got {max_steps!r}")


def init(key: jax.Array, env: Any, env_params: Any, config: TabularPGConfig) -> TabularPGState:
    del key
    shape = (num_states(env, env_params), int(env.action_space(env_params).n))
    return TabularPGState(theta=jnp.full(shape, config.initial_theta, jnp.float32))


def policy(theta: jax.Array, beta: jax.Array) -> jax.Array:
    """``pi[s, a]``: the softmax of ``beta * theta`` over actions."""
    return jax.nn.softmax(beta * theta, axis=-1)


def act(
    key: jax.Array, state: TabularPGState, obs: jax.Array, config: TabularPGConfig, clock: Clock, explore: bool
) -> jax.Array:
    logits = config.beta * state.theta[obs]
    if explore:
        return jax.random.categorical(key, logits).astype(jnp.int32)
    return jnp.argmax(logits).astype(jnp.int32)


def score_terms(theta: jax.Array, beta: jax.Array, batch: Transition) -> jax.Array:
    """``(onehot(a_t) - pi(. | s_t))`` per step, ``[T, B, A]``: the tutorial's
    ``N(s, a) - pi(s, a) N(s)`` before summing over the steps that visit s."""
    pi = policy(theta, beta)[batch.obs]  # [T, B, A]
    return jax.nn.one_hot(batch.action, theta.shape[1], dtype=jnp.float32) - pi


def update(
    key: jax.Array, state: TabularPGState, batch: Transition, config: TabularPGConfig, clock: Clock
) -> tuple[TabularPGState, dict[str, jax.Array]]:
    del key
    valid = batch.valid.astype(jnp.float32)  # [T, B]
    B = valid.shape[1]
    lengths = valid.sum(0)  # T of each episode, [B]
    terms = score_terms(state.theta, config.beta, batch)  # [T, B, A]
    if config.update_rule == "inverse-length":
        weight = valid / jnp.maximum(lengths, 1.0)  # 1/T on the episode's steps
    else:
        returns = returns_to_go(batch.reward, batch.done, batch.valid, config.gamma)
        weight = valid * returns * config.beta  # grad log softmax(beta theta) = beta * terms
    per_step = weight[..., None] * terms / B  # averaged over the B episodes
    delta = jnp.zeros_like(state.theta).at[batch.obs].add(per_step)  # sum over visits of s
    theta = state.theta + config.learning_rate * delta
    metrics = {"delta_abs_sum": jnp.abs(delta).sum()}  # the tutorial's convergence measure is on pi
    return TabularPGState(theta=theta), metrics


tabular_pg = Agent(
    name="tabular_pg",
    config_type=TabularPGConfig,
    init=init,
    act=act,
    update=update,
    rollout_length=lambda config, env_params: int(env_params.max_steps_in_episode),
    validate=validate,
    episodic=True,
    # GridMaze's time limit is 100 steps; 4 episodes per update = 400 computed steps.
    # Tested for 1x-4x its budget: every seed's greedy policy reaches the goal (return 1).
    presets={"GridMaze": {"total_steps": 200_000}},
)
