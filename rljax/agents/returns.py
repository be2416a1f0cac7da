"""Monte-Carlo returns and masked statistics over ``[T, B]`` batches of whole episodes.

Shared by the episodic policy-gradient agents (:mod:`rljax.agents.reinforce`,
:mod:`rljax.agents.tabular_pg`). Pure ``jax.numpy``; no network code, so importing
it is cheap.
"""

from __future__ import annotations

from typing import Literal, get_args

import jax
import jax.numpy as jnp

from rljax.agents.base import check_choice

Normalization = Literal["none", "episode", "batch"]
NORMALIZATIONS = get_args(Normalization)


def returns_to_go(
    rewards: jax.Array,
    done: jax.Array,
    valid: jax.Array | None,
    gamma: float | jax.Array,
) -> jax.Array:
    """Discounted returns-to-go of every step, computed backwards with ``lax.scan``.

    For each column ``b`` (one environment) and each step ``t``::

        G[t] = r[t] + gamma * (1 - done[t]) * G[t + 1]        G[T] = 0

    so the sum never crosses an episode boundary: the step where an episode ends
    (terminated *or* truncated) gets ``G = r``, and the next episode in the same
    column starts a fresh sum. Truncated episodes are not bootstrapped (plain
    Monte-Carlo REINFORCE). Where ``valid`` is False the return is 0, and nothing
    from an invalid step flows into a valid one (an invalid step's reward is
    dropped and the accumulation restarts from 0 after it).

    Args:
      rewards: float ``[T, B]`` (or ``[T]``), reward of the transition at step t.
      done: bool ``[T, B]``, True where the step ended an episode.
      valid: bool ``[T, B]`` or None (all valid); False for steps to ignore, e.g.
        what follows an episode's end inside an episodic rollout.
      gamma: discount in [0, 1]; may be a traced value. ``gamma = 0`` gives
        ``G = r``; ``gamma = 1`` the undiscounted sum to the episode's end.

    Returns:
      float32 array with the shape of ``rewards``.
    """
    rewards = jnp.asarray(rewards, jnp.float32)
    done = jnp.asarray(done, bool)
    valid = jnp.ones_like(done) if valid is None else jnp.asarray(valid, bool)
    gamma = jnp.asarray(gamma, jnp.float32)

    def backward(g_next, step):
        r, d, v = step
        g = r + gamma * jnp.where(d, 0.0, g_next)
        g = jnp.where(v, g, 0.0)
        return g, g

    _, g = jax.lax.scan(backward, jnp.zeros_like(rewards[0]), (rewards, done, valid), reverse=True)
    return g


def masked_mean(x: jax.Array, mask: jax.Array, axis=None) -> jax.Array:
    """Mean of ``x`` over the entries where ``mask`` is True (0 where there are none)."""
    mask = mask.astype(x.dtype)
    return (x * mask).sum(axis) / jnp.maximum(mask.sum(axis), 1.0)


def masked_normalize(x: jax.Array, mask: jax.Array, axis=None, eps: float = 1e-8) -> jax.Array:
    """``(x - mean) / (std + eps)`` over the masked entries along ``axis``; 0 outside the mask.

    ``std`` is the population standard deviation (ddof = 0), so a group with a
    single entry normalises to 0 instead of NaN (the maze notes' ``torch.std`` of a
    one-step episode is NaN).
    """
    mean = masked_mean(x, mask, axis)
    mean_b = mean if axis is None else jnp.expand_dims(mean, axis)
    var = masked_mean(jnp.square(x - mean_b), mask, axis)
    std_b = jnp.sqrt(var) if axis is None else jnp.expand_dims(jnp.sqrt(var), axis)
    return jnp.where(mask, (x - mean_b) / (std_b + eps), 0.0)


def normalize_advantages(advantages: jax.Array, valid: jax.Array, mode: str) -> jax.Array:
    """Normalises ``[T, B]`` advantages over valid steps.

    ``"none"``: unchanged (zeroed outside ``valid``); ``"episode"``: per column, i.e.
    per episode, as in the maze notes; ``"batch"``: over every valid step of the batch.
    """
    if mode == "none":
        return jnp.where(valid, advantages, 0.0)
    if mode == "episode":
        return masked_normalize(advantages, valid, axis=0)
    if mode == "batch":
        return masked_normalize(advantages, valid, axis=None)
    check_choice("normalize", mode, NORMALIZATIONS)
    raise AssertionError("unreachable")
