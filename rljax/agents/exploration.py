"""Epsilon-greedy exploration: schedules and action selection, shared by value-based agents."""

from __future__ import annotations

from typing import Literal, get_args

import jax
import jax.numpy as jnp

from rljax._errors import ValidationError
from rljax.agents.base import Clock, check_choice, check_range, schedule_horizon

EpsilonSchedule = Literal["constant", "linear", "exponential", "inverse"]
EpsilonClock = Literal["steps", "episodes"]
EPSILON_SCHEDULES = get_args(EpsilonSchedule)
EPSILON_CLOCKS = get_args(EpsilonClock)


def epsilon_at(
    schedule: str,
    t: jax.Array,
    start: jax.Array,
    end: jax.Array,
    decay_duration: jax.Array,
    decay_rate: jax.Array,
) -> jax.Array:
    """Exploration rate after ``t`` steps (or episodes).

    - ``constant``: ``start``.
    - ``linear``: from ``start`` to ``end`` over ``decay_duration`` steps, then ``end``.
    - ``exponential``: ``max(end, start * decay_rate ** t)`` (the CartPole Q Learning tutorial's x0.99 per episode).
    - ``inverse``: ``start / (t + 1)`` (the maze notes' 0.5 / (episode + 1)).
    """
    t = jnp.asarray(t, jnp.float32)
    if schedule == "constant":
        return jnp.asarray(start, jnp.float32)
    if schedule == "linear":
        frac = jnp.clip(t / jnp.maximum(decay_duration, 1.0), 0.0, 1.0)
        return start + frac * (end - start)
    if schedule == "exponential":
        return jnp.maximum(end, start * decay_rate**t)
    if schedule == "inverse":
        return start / (t + 1.0)
    raise ValidationError(f"unknown epsilon schedule {schedule!r}; allowed: {', '.join(EPSILON_SCHEDULES)}")


def config_epsilon(config, clock: Clock) -> jax.Array:
    """Epsilon for a config with the ``epsilon_*`` fields, at the clock's time.

    A linear schedule decays over ``epsilon_decay_fraction`` of the schedules' horizon
    (:func:`rljax.agents.base.schedule_horizon`: the run's env steps unless the config
    fixes it with ``schedule_steps``).
    """
    t = clock.env_steps if config.epsilon_clock == "steps" else clock.episodes
    return epsilon_at(
        config.epsilon_schedule,
        t,
        config.epsilon_start,
        config.epsilon_end,
        config.epsilon_decay_fraction * schedule_horizon(config, clock),
        config.epsilon_decay_rate,
    )


def validate_epsilon(config) -> None:
    """Clear errors for bad ``epsilon_*`` fields of a config."""
    check_choice("epsilon_schedule", config.epsilon_schedule, EPSILON_SCHEDULES)
    check_choice("epsilon_clock", config.epsilon_clock, EPSILON_CLOCKS)
    check_range("epsilon_start", config.epsilon_start, 0.0, 1.0)
    check_range("epsilon_end", config.epsilon_end, 0.0, 1.0)
    check_range("epsilon_decay_rate", config.epsilon_decay_rate, 0.0, 1.0)
    check_range("epsilon_decay_fraction", config.epsilon_decay_fraction, 0.0, 1.0, low_open=True)
    if hasattr(config, "schedule_steps"):
        check_range("schedule_steps", config.schedule_steps, 0, 2**31 - 1)
    if config.epsilon_schedule == "linear" and config.epsilon_clock != "steps":
        raise ValidationError("a linear epsilon schedule decays over env steps; set epsilon_clock=steps")


def _nth_max(values: jax.Array, fraction: jax.Array) -> jax.Array:
    """Among the maxima of ``values`` [A], the one at ``fraction`` in [0, 1) of the way."""
    is_max = values >= values.max()
    n = jnp.floor(fraction * is_max.sum()).astype(jnp.int32)
    return jnp.argmax(jnp.cumsum(is_max) > n).astype(jnp.int32)


def random_argmax(key: jax.Array, values: jax.Array) -> jax.Array:
    """Index of a maximum of ``values`` ([A]), ties broken uniformly at random.

    A fixed tie-break (always the first maximum) stalls learning on
    zero-initialised tables: every state keeps choosing action 0.
    """
    return _nth_max(values, jax.random.uniform(key))


def epsilon_greedy(key: jax.Array, values: jax.Array, epsilon: jax.Array) -> jax.Array:
    """With probability ``epsilon`` a uniform action, else a (tie-broken) greedy one.

    One uniform number u decides all three choices: u < epsilon explores, and then
    u / epsilon is itself uniform and picks the action; otherwise
    (u - epsilon) / (1 - epsilon) is uniform and breaks ties among the maxima.
    A single draw keeps the per-step program (and its compile time) small.
    """
    num_actions = values.shape[-1]
    u = jax.random.uniform(key)
    explore = u < epsilon
    random_action = jnp.minimum(jnp.floor(u / jnp.where(explore, epsilon, 1.0) * num_actions), num_actions - 1).astype(
        jnp.int32
    )
    greedy_fraction = jnp.clip((u - epsilon) / jnp.maximum(1.0 - epsilon, 1e-12), 0.0, 1.0 - 1e-7)
    return jnp.where(explore, random_action, _nth_max(values, greedy_fraction))


def epsilon_greedy_probs(values: jax.Array, epsilon: jax.Array) -> jax.Array:
    """The action distribution of :func:`epsilon_greedy` (ties share the greedy mass)."""
    num_actions = values.shape[-1]
    is_max = (values >= values.max(axis=-1, keepdims=True)).astype(jnp.float32)
    greedy = is_max / is_max.sum(axis=-1, keepdims=True)
    return epsilon / num_actions + (1.0 - epsilon) * greedy
