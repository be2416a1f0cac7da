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
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp


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
        raise ValueError(f"n must be >= 1; got {n}")
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
