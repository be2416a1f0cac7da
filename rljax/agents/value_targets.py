"""Value targets, rlax style: small single-stream functions that every value agent shares.

Each function works on ONE stream (one transition, or one trajectory of ``T``
steps); batches come from ``jax.vmap``. Shapes are checked with chex. Episode
ends are kept apart, as the loop hands them over:

- ``terminated``: the episode really ended (a terminal state): nothing to
  bootstrap from, the value past it is zero;
- ``truncated``: the time limit cut it: the state was not terminal, so the
  target bootstraps from the value of the true final observation.

::

    td_target(r, terminated, gamma, v_next)       = r + gamma * (1 - terminated) * v_next
    q_learning_bootstrap(q_next)                  = max_a q_next[a]
    double_q_bootstrap(q_next_target, q_next_sel) = q_next_target[argmax_a q_next_sel[a]]
    sarsa_bootstrap(q_next, a_next)               = q_next[a_next]
    expected_sarsa_bootstrap(q_next, probs)       = sum_a probs[a] q_next[a]
    n_step_targets(r, terminated, truncated, v_next, gamma, n)[t]
        = sum_{k<m} gamma^k r_{t+k} + gamma^m v_next[t+m-1]   (no bootstrap if the stream
          terminated at t+m-1), m = steps to the first end, to n, or to the stream's end
    gae_advantages(r, terminated, truncated, v, v_next, gamma, lambda_) -> (A, A + v)
        delta_t = r_t + gamma * (1 - terminated_t) * v_next[t] - v[t]
        A_t     = delta_t + gamma * lambda_ * (1 - done_t) * A_{t+1},   A_T = 0
    q_lambda_targets(r, terminated, truncated, q_next_max, gamma, lambda_)[t] = G_t
        G_t = r_t + gamma * (1 - terminated_t) * [lambda_ G_{t+1} + (1 - lambda_) q_next_max[t]]
              if step t+1 is in the same episode, else
        G_t = r_t + gamma * (1 - terminated_t) * q_next_max[t]
              (step t terminated or truncated, or t = T - 1)

``done_t = terminated_t or truncated_t``. ``v_next[t]`` / ``q_next_max[t]`` belong
to the true successor of step t: the final observation where the episode ended,
the observation after the rollout for its last step.
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp

from rljax._errors import ValidationError


def td_target(reward: jax.Array, terminated: jax.Array, gamma: jax.Array, bootstrap: jax.Array) -> jax.Array:
    """``r + gamma * bootstrap``, without bootstrapping past a terminal state (any matching shapes)."""
    chex.assert_equal_shape([reward, terminated, bootstrap])
    return reward + gamma * (1.0 - terminated.astype(jnp.float32)) * bootstrap


def q_learning_bootstrap(q_next: jax.Array) -> jax.Array:
    """``max_a Q(s', a)`` of one state's action values ``[A]``."""
    chex.assert_rank(q_next, 1)
    return q_next.max()


def double_q_bootstrap(q_next_target: jax.Array, q_next_selector: jax.Array) -> jax.Array:
    """Double Q-learning: the selector's greedy action, valued by the target ``[A]``."""
    chex.assert_rank([q_next_target, q_next_selector], 1)
    chex.assert_equal_shape([q_next_target, q_next_selector])
    return q_next_target[jnp.argmax(q_next_selector)]


def sarsa_bootstrap(q_next: jax.Array, action_next: jax.Array) -> jax.Array:
    """SARSA: the value of the action actually taken next."""
    chex.assert_rank([q_next, action_next], [1, 0])
    return q_next[action_next]


def expected_sarsa_bootstrap(q_next: jax.Array, probs_next: jax.Array) -> jax.Array:
    """Expected SARSA: the next state's value under the policy's probabilities ``[A]``."""
    chex.assert_rank([q_next, probs_next], 1)
    chex.assert_equal_shape([q_next, probs_next])
    return jnp.sum(probs_next * q_next)


def n_step_targets(
    rewards: jax.Array,
    terminated: jax.Array,
    truncated: jax.Array,
    next_values: jax.Array,
    gamma: jax.Array,
    n: int,
) -> jax.Array:
    """n-step bootstrapped targets ``[T]`` of one trajectory ``[T]``.

    ``next_values[t]`` is the value of the true successor of step t (for a step
    that ended the episode, of its final observation). From each t the target
    sums up to ``n`` discounted rewards, stopping at the first episode end: a
    terminated end adds nothing more, a truncated one bootstraps from its
    ``next_values``; so does the n-th step, or the last step of the trajectory,
    when no end came first. ``n`` is static; ``gamma`` may be traced.
    """
    chex.assert_rank([rewards, terminated, truncated, next_values], 1)
    chex.assert_equal_shape([rewards, terminated, truncated, next_values])
    if n < 1:
        raise ValidationError(f"n must be >= 1; got {n}")
    T = rewards.shape[0]
    t = jnp.arange(T)
    target = jnp.zeros(T, jnp.float32)
    discount = jnp.ones(T, jnp.float32)
    open_ = jnp.ones(T, bool)  # no episode end yet between t and t + k
    for k in range(n):
        idx = t + k
        inside = idx < T
        i = jnp.minimum(idx, T - 1)
        live = open_ & inside
        target = target + jnp.where(live, discount * rewards[i], 0.0)
        ended = terminated[i] | truncated[i]
        last = (k == n - 1) | (idx == T - 1)
        bootstrap = live & ~terminated[i] & (truncated[i] | last)
        target = target + jnp.where(bootstrap, discount * gamma * next_values[i], 0.0)
        discount = discount * gamma
        open_ = live & ~ended
    return target


def gae_advantages(
    rewards: jax.Array,
    terminated: jax.Array,
    truncated: jax.Array,
    values: jax.Array,
    next_values: jax.Array,
    gamma: jax.Array,
    lambda_: jax.Array,
    truncation_as_terminal: bool = False,
) -> tuple[jax.Array, jax.Array]:
    """Generalized advantage estimates and the critic's targets ``([T], [T])`` of one trajectory.

    ``values[t]`` is V(s_t); ``next_values[t]`` is V of the true successor of step
    t (its final observation where the episode ended; ``values[t + 1]`` otherwise;
    the observation after the rollout for the last step)::

        delta_t = r_t + gamma * (1 - terminated_t) * next_values[t] - values[t]
        A_t     = delta_t + gamma * lambda_ * (1 - done_t) * A_{t+1},   A_T = 0
        returns = A + values

    The sum never crosses an episode end of either kind; a truncated step still
    bootstraps from its final observation. ``truncation_as_terminal=True``
    (static) treats a truncated step as terminated, i.e. no bootstrap, as
    PureJaxRL's PPO does; it is there to measure that behaviour, not to use it.
    ``gamma`` and ``lambda_`` may be traced.
    """
    chex.assert_rank([rewards, terminated, truncated, values, next_values], 1)
    chex.assert_equal_shape([rewards, terminated, truncated, values, next_values])
    done = jnp.logical_or(terminated, truncated)
    no_bootstrap = done if truncation_as_terminal else terminated
    deltas = rewards + gamma * (1.0 - no_bootstrap.astype(jnp.float32)) * next_values - values
    # The carry's dtype must not change across the scan: fix the per-step factor's dtype up front.
    decay = (gamma * lambda_ * (1.0 - done.astype(jnp.float32))).astype(deltas.dtype)

    def step(next_advantage, inputs):
        delta, decay_t = inputs
        advantage = delta + decay_t * next_advantage
        return advantage, advantage

    _, advantages = jax.lax.scan(step, jnp.zeros((), deltas.dtype), (deltas, decay), reverse=True)
    return advantages, advantages + values


def q_lambda_targets(
    rewards: jax.Array,
    terminated: jax.Array,
    truncated: jax.Array,
    next_q_max: jax.Array,
    gamma: jax.Array,
    lambda_: jax.Array,
) -> jax.Array:
    """Peng's Q(lambda) targets ``[T]`` of one trajectory, as PQN (Gallici et al. 2025) computes them.

    ``next_q_max[t]`` is ``max_a Q(s', a)`` of the true successor of step t. Backwards::

        G_t = r_t + gamma * (1 - terminated_t) * [lambda_ G_{t+1} + (1 - lambda_) next_q_max[t]]

    while step t+1 is in the same episode; where step t ended its episode
    (terminated, or truncated: then it bootstraps from its own final
    observation and never mixes in the next episode's return) or is the last
    step of the rollout, ``G_t = r_t + gamma * (1 - terminated_t) * next_q_max[t]``.
    ``lambda_ = 0`` gives one-step Q-learning targets. ``gamma`` and ``lambda_``
    may be traced.
    """
    chex.assert_rank([rewards, terminated, truncated, next_q_max], 1)
    chex.assert_equal_shape([rewards, terminated, truncated, next_q_max])
    # Written as next_q_max + lambda_ * (G_{t+1} - next_q_max) with the mixing weight
    # zeroed at episode ends and at the rollout's end, so that one scan covers both cases.
    continues = jnp.logical_not(jnp.logical_or(terminated, truncated)).at[-1].set(False)
    discount = gamma * (1.0 - terminated.astype(jnp.float32))
    mix = lambda_ * continues.astype(jnp.float32)
    # One dtype for every input, so that the scan's carry keeps its type.
    dtype = jnp.result_type(rewards, discount, next_q_max)

    def step(next_return, inputs):
        r, discount_t, mix_t, q_max = inputs
        target = r + discount_t * (q_max + mix_t * (next_return - q_max))
        return target, target

    xs = (rewards.astype(dtype), discount.astype(dtype), mix.astype(dtype), next_q_max.astype(dtype))
    _, targets = jax.lax.scan(step, jnp.zeros((), dtype), xs, reverse=True)
    return targets
