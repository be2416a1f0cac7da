"""Policy evaluation on fresh episodes: run each to termination or its time limit."""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp

Policy = Callable[[jax.Array, jax.Array], jax.Array]  # (key, obs) -> action


def episode_return(key: jax.Array, env: Any, env_params: Any, policy: Policy) -> jax.Array:
    """Undiscounted return of one episode of ``policy``, from a fresh reset.

    Runs until the environment reports ``terminated`` or ``truncated`` (its own
    time limit), so the episode length is whatever the environment allows.
    """
    key_reset, key = jax.random.split(key)
    obs, env_state = env.reset(key_reset, env_params)

    def cond(carry):
        return ~carry[-1]

    def body(carry):
        key, obs, env_state, total, _ = carry
        key, key_act, key_step = jax.random.split(key, 3)
        action = policy(key_act, obs)
        obs, env_state, reward, terminated, truncated, _ = env.step(key_step, env_state, action, env_params)
        return key, obs, env_state, total + reward, jnp.logical_or(terminated, truncated)

    init = (key, obs, env_state, jnp.float32(0.0), jnp.bool_(False))
    return jax.lax.while_loop(cond, body, init)[3]


def evaluate(key: jax.Array, env: Any, env_params: Any, policy: Policy, num_episodes: int) -> jax.Array:
    """Returns of ``num_episodes`` independent episodes, shape ``[num_episodes]``.

    Each episode gets its own key split from ``key``; the episodes run in
    parallel (``vmap``) until the last one ends.
    """
    keys = jax.random.split(key, num_episodes)
    return jax.vmap(lambda k: episode_return(k, env, env_params, policy))(keys)
