"""Tabular TD control: Q-learning, SARSA and expected SARSA on a Q table ``[S, A]``.

The three agents differ only in their bootstrap value of the next state:

    Q-learning        max_a' Q(s', a')
    SARSA             Q(s', a'),  a' ~ epsilon-greedy(Q(s', .))
    expected SARSA    sum_a' pi(a' | s') Q(s', a'),  pi epsilon-greedy

    td_target = r + gamma * (1 - terminated) * bootstrap     (truncated steps bootstrap)
    Q(s, a)  += learning_rate * (td_target - Q(s, a))

With B parallel environments the B updates of one step are applied together, and a
pair (s, a) that k of them visited moves by ``learning_rate`` times the MEAN of its k
TD errors::

    Q(s, a) += learning_rate * mean_{i: (s_i, a_i) = (s, a)} (td_target_i - Q(s, a))

Summing them instead (``.at[].add`` of every error, like a batch gradient) moves Q
k * learning_rate of the way: past the targets whenever k * learning_rate > 1, and
with learning_rate 1 on Taxi's start states it diverged. The mean is a convex step
towards the mean target, so no learning_rate in (0, 1] can overshoot. With the
default ``num_envs=1`` (or no repeated pair) this is the textbook per-step algorithm.

SARSA samples its bootstrap action a' at update time from the same epsilon-greedy
policy the next step will act with (rather than carrying the executed action across
the auto-reset), which is the SARSA target in distribution.
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
from flax import struct

from rljax._errors import ValidationError
from rljax.agents.base import Agent, Clock, Transition, check_discrete_actions, check_range
from rljax.agents.exploration import (
    EpsilonClock,
    EpsilonSchedule,
    config_epsilon,
    epsilon_greedy,
    epsilon_greedy_probs,
    validate_epsilon,
)
from rljax.agents.value_targets import (
    expected_sarsa_bootstrap,
    q_learning_bootstrap,
    sarsa_bootstrap,
    td_target,
)
from rljax.envs.wrappers import is_discrete_obs, num_observations


@struct.dataclass
class TabularConfig:
    """Hyperparameters of the tabular TD agents (static fields marked)."""

    learning_rate: float = 0.1
    gamma: float = 0.99
    epsilon_start: float = 1.0
    epsilon_end: float = 0.05
    epsilon_decay_fraction: float = 0.5  # linear: fraction of the schedule's horizon
    # Env steps over which a linear epsilon decays (epsilon_decay_fraction of it); 0 = the
    # run's length. A preset sets it so that a longer run explores as the preset's did.
    schedule_steps: int = 0
    epsilon_decay_rate: float = 0.99  # exponential: factor per step / episode
    initial_q: float = 0.0
    epsilon_schedule: EpsilonSchedule = struct.field(pytree_node=False, default="linear")
    epsilon_clock: EpsilonClock = struct.field(pytree_node=False, default="steps")
    num_envs: int = struct.field(pytree_node=False, default=1)


class TabularState(struct.PyTreeNode):
    q: jax.Array  # [S, A]


def num_states(env: Any, env_params: Any) -> int:
    """Size of a discrete observation space, or a clear error for continuous ones."""
    if not is_discrete_obs(env, env_params):
        raise ValidationError(
            f"tabular agents need discrete observations, but {env.name} has "
            f"{type(env.observation_space(env_params)).__name__} "
            f"observations; wrap it with a discretiser, e.g. rljax.make(env_id, discretize='uniform6') "
            f"or --env-arg discretize=bins-4x4x29x8"
        )
    return num_observations(env, env_params)


def validate(config: TabularConfig, env: Any, env_params: Any) -> None:
    """Clear ``ValueError`` for an environment a Q table cannot hold, or bad hyperparameters."""
    num_states(env, env_params)
    check_discrete_actions("tabular agents", env, env_params, "a Q table has one column per action")
    check_range("learning_rate", config.learning_rate, 0.0, 1.0, low_open=True)
    check_range("gamma", config.gamma, 0.0, 1.0)
    validate_epsilon(config)


def init(key: jax.Array, env: Any, env_params: Any, config: TabularConfig) -> TabularState:
    """A Q table ``[S, A]`` filled with ``initial_q``."""
    del key
    shape = (num_states(env, env_params), env.action_space(env_params).n)
    return TabularState(q=jnp.full(shape, config.initial_q, jnp.float32))


def act(
    key: jax.Array, state: TabularState, obs: jax.Array, config: TabularConfig, clock: Clock, explore: bool
) -> jax.Array:
    epsilon = config_epsilon(config, clock) if explore else 0.0
    return epsilon_greedy(key, state.q[obs], epsilon)


# Bootstrap values: (key, Q(s', .) [A], epsilon) -> scalar.
# The bootstraps of the three TD agents, as ``(key, q_next [A], epsilon) -> value``.
def max_bootstrap(key: jax.Array, q_next: jax.Array, epsilon: jax.Array) -> jax.Array:
    return q_learning_bootstrap(q_next)


def sampled_bootstrap(key: jax.Array, q_next: jax.Array, epsilon: jax.Array) -> jax.Array:
    return sarsa_bootstrap(q_next, epsilon_greedy(key, q_next, epsilon))


def expected_bootstrap(key: jax.Array, q_next: jax.Array, epsilon: jax.Array) -> jax.Array:
    return expected_sarsa_bootstrap(q_next, epsilon_greedy_probs(q_next, epsilon))


def make_update(bootstrap_fn: Callable) -> Callable:
    """The TD update for a given bootstrap value."""

    def update(key, state: TabularState, batch: Transition, config: TabularConfig, clock: Clock):
        epsilon = config_epsilon(config, clock)

        def one_step(q, inputs):
            key, t = inputs  # one time step of B transitions
            keys = jax.random.split(key, t.obs.shape[0])
            bootstrap = jax.vmap(bootstrap_fn, in_axes=(0, 0, None))(keys, q[t.next_obs], epsilon)
            target = td_target(t.reward, t.terminated, config.gamma, bootstrap)
            td_error = jnp.where(t.valid, target - q[t.obs, t.action], 0.0)
            # Each visited pair moves by the mean of its errors (a sum would overshoot).
            visits = jnp.zeros_like(q).at[t.obs, t.action].add(t.valid.astype(q.dtype))
            error_sum = jnp.zeros_like(q).at[t.obs, t.action].add(td_error)
            q = q + config.learning_rate * error_sum / jnp.maximum(visits, 1.0)
            return q, jnp.abs(td_error).mean()

        keys = jax.random.split(key, batch.reward.shape[0])
        q, abs_td = jax.lax.scan(one_step, state.q, (keys, batch))
        return TabularState(q=q), {"abs_td_error": abs_td.mean(), "epsilon": epsilon}

    return update


# Tuned defaults, measured over 16 seeds (docs/guide/results.md has the numbers, and
# benchmarks/preset_stability.py the solved fraction at 1x, 2x and 4x each budget), with the
# mean-of-repeats batch update. FrozenLake: `rljax sweep q_learning --env FrozenLake-v1
# --seeds 16 --eval-episodes 1000 --grid lr=0.02,0.05,0.1,0.2` gave mean final success 0.724 /
# 0.688 / 0.710 / 0.661 (above 0.02 a seed's greedy policy can end in a loop that never
# reaches the goal). CartPole's bins: lr 0.4 (13/16 reach 475 at 400k steps; 1 at 0.2, 5 at
# 0.7); epsilon decays over 400k steps whatever the run's length (schedule_steps): decaying
# over half of each run's length solved 8/16 at 400k, 16/16 at 800k and 10/16 at 1.6M, so
# what decided the result was how long the agent explored; over a fixed 400k, 16/16 at 800k
# and at 1.6M (every seed at or above 475 from 400k on).
TABULAR_PRESETS = {
    "Taxi-v3": {"total_steps": 100_000, "learning_rate": 0.5, "num_envs": 8},
    "FrozenLake-v1": {"total_steps": 200_000, "learning_rate": 0.02, "num_envs": 8},
    # CartPole-v1 with a discretiser (--env-arg discretize=bins-4x4x29x8).
    "CartPole-v1": {
        "total_steps": 800_000,
        "schedule_steps": 800_000,  # epsilon decays over its first half, 400k steps
        "learning_rate": 0.4,
        "num_envs": 8,
        "epsilon_end": 0.0,
    },
}

# SARSA's bootstrap is one sampled action, noisier than Q-learning's max: at Taxi's shared
# learning rate 0.5 it solved 2/16 seeds at 100k steps and 1/16 at 400k; at 0.1 with 400k
# steps 16/16 (0.2: 12/16).
SARSA_PRESETS = {
    **TABULAR_PRESETS,
    "Taxi-v3": {"total_steps": 400_000, "schedule_steps": 400_000, "learning_rate": 0.1, "num_envs": 8},
}


def _agent(name: str, bootstrap_fn: Callable, presets: dict = TABULAR_PRESETS) -> Agent:
    return Agent(
        name=name,
        config_type=TabularConfig,
        init=init,
        act=act,
        update=make_update(bootstrap_fn),
        rollout_length=lambda config, env_params: 1,
        validate=validate,
        presets=presets,
    )


q_learning = _agent("q_learning", max_bootstrap)
sarsa = _agent("sarsa", sampled_bootstrap, SARSA_PRESETS)
expected_sarsa = _agent("expected_sarsa", expected_bootstrap)
