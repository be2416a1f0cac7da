"""Running observation statistics and reward scaling, as small pure transformations (optax style).

Each transformation is a NamedTuple of pure functions: ``init`` builds a small
pytree state, ``update`` folds new data into it and returns the new state, and a
reader (``normalize`` / ``scale``) applies the state without changing it. An
agent keeps the state inside its own state, so it is vmapped over seeds,
carried through the compiled loop and checkpointed like the rest; at evaluation
it is frozen by simply not calling ``update``. Nothing branches on a traced value,
so every function runs under ``jax.jit`` and ``jax.vmap``.

::

    running_obs_stats(shape): mean, var, count of every observation so far
        update (Chan et al. parallel algorithm, a batch of n with mean m_b, variance v_b):
            delta = m_b - mean,  N = count + n
            mean' = mean + delta * n / N
            var'  = (var * count + v_b * n + delta^2 * count * n / N) / N,  count' = N
        normalize(obs) = clip((obs - mean) / sqrt(var + epsilon), -clip, clip)

    reward_scaling(gamma): per environment the running discounted return
        R_t = gamma * R_{t-1} + r_t   (R reset to 0 after a step that ended its episode)
        and the running variance of R over every step and environment (as above);
        scale(r) = clip(r / sqrt(var_R + epsilon), -clip, clip)

as Stable-Baselines3's ``RunningMeanStd`` / ``VecNormalize`` and CleanRL's
``NormalizeObservation`` / ``NormalizeReward`` wrappers do. Statistics are kept
in float32 (JAX's default), where those keep float64.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
from flax import struct

from rljax._errors import ValidationError


class RunningStats(struct.PyTreeNode):
    """Mean, (population) variance and count of everything seen so far, per element of ``shape``."""

    mean: jax.Array
    var: jax.Array
    count: jax.Array  # a float scalar: it starts at a small non-zero value


def init_running_stats(shape: tuple[int, ...], initial_count: float = 1e-4) -> RunningStats:
    """Mean 0, variance 1 and a tiny count: a prior that the first batch all but replaces.

    The count starts above zero (1e-4, as Stable-Baselines3's ``RunningMeanStd``)
    so that the first update's weights ``n / (count + n)`` never divide zero by
    zero, and so that normalizing before any update divides by ``sqrt(1 + eps)``
    rather than by zero; it pulls every later estimate towards (0, 1) by a weight
    of ``initial_count / count``, negligible after a few observations.
    """
    shape = tuple(shape)
    return RunningStats(
        mean=jnp.zeros(shape, jnp.float32),
        var=jnp.ones(shape, jnp.float32),
        count=jnp.asarray(initial_count, jnp.float32),
    )


def update_running_stats(stats: RunningStats, batch: jax.Array) -> RunningStats:
    """Fold a batch ``[*leading, *shape]`` (any number of leading axes, at least one element) into ``stats``.

    Chan et al.'s parallel combination of two (mean, variance, count) summaries::

        delta = mean_b - mean,  N = count + n
        mean' = mean + delta * n / N
        var'  = (var * count + var_b * n + delta^2 * count * n / N) / N
    """
    shape = stats.mean.shape
    lead_ndim = batch.ndim - len(shape)
    if lead_ndim < 0 or batch.shape[lead_ndim:] != shape:
        raise ValidationError(f"a batch of shape {batch.shape} does not end in the statistics' shape {shape}")
    x = batch.reshape((-1,) + shape).astype(jnp.float32)
    n = x.shape[0]
    if n == 0:
        raise ValidationError(f"an empty batch (shape {batch.shape}) has no statistics")
    batch_mean = x.mean(axis=0)
    batch_var = x.var(axis=0)
    total = stats.count + n
    delta = batch_mean - stats.mean
    mean = stats.mean + delta * (n / total)
    m2 = stats.var * stats.count + batch_var * n + jnp.square(delta) * (stats.count * n / total)
    return RunningStats(mean=mean, var=m2 / total, count=total)


class ObsNormalizer(NamedTuple):
    """``init() -> stats``; ``update(stats, obs) -> stats``; ``normalize(stats, obs) -> obs'`` (no update)."""

    init: Callable[[], RunningStats]
    update: Callable[[RunningStats, jax.Array], RunningStats]
    normalize: Callable[[RunningStats, jax.Array], jax.Array]


def running_obs_stats(
    shape: tuple[int, ...], epsilon: float = 1e-8, clip: float = 10.0, initial_count: float = 1e-4
) -> ObsNormalizer:
    """Running mean / variance of observations of ``shape``, and normalization by them.

    ``update(stats, obs)`` takes a batch ``[*leading, *shape]`` (e.g. ``[K steps,
    B envs, *shape]``) by the parallel algorithm (see :func:`update_running_stats`);
    ``normalize(stats, obs) = clip((obs - mean) / sqrt(var + epsilon), -clip, clip)``
    for ``obs`` of ``shape`` with any leading axes, in float32.
    """
    shape = tuple(shape)

    def init() -> RunningStats:
        return init_running_stats(shape, initial_count)

    def normalize(stats: RunningStats, obs: jax.Array) -> jax.Array:
        z = (obs.astype(jnp.float32) - stats.mean) / jnp.sqrt(stats.var + epsilon)
        return jnp.clip(z, -clip, clip)

    return ObsNormalizer(init=init, update=update_running_stats, normalize=normalize)


class RewardScalingState(struct.PyTreeNode):
    """The running discounted return of each environment, and the statistics of those returns."""

    returns: jax.Array  # [*env batch shape]
    return_stats: RunningStats  # scalars: over every step and environment so far


class RewardScaler(NamedTuple):
    """``init(batch_shape) -> state``; ``update(state, reward, done) -> state``; ``scale(state, reward) -> reward'``."""

    init: Callable[..., RewardScalingState]
    update: Callable[[RewardScalingState, jax.Array, jax.Array], RewardScalingState]
    scale: Callable[[RewardScalingState, jax.Array], jax.Array]


def reward_scaling(
    gamma: float | jax.Array, epsilon: float = 1e-8, clip: float = 10.0, initial_count: float = 1e-4
) -> RewardScaler:
    """Rewards divided by the running standard deviation of the discounted return.

    Per environment ``R_t = gamma * R_{t-1} + r_t``, with ``R`` reset to 0 after a
    step whose ``done`` (terminated or truncated) is set. ``update(state, reward,
    done)`` (``reward`` and ``done`` of the environment batch shape given to
    ``init``) advances ``R`` and folds the new ``R`` of every environment into the
    running variance; ``scale(state, reward) = clip(reward / sqrt(var_R + epsilon),
    -clip, clip)``. Called in that order on each step, this is Stable-Baselines3's
    ``VecNormalize`` reward normalization (the mean is not subtracted: shifting
    rewards would change which policies are optimal). ``gamma`` may be traced.
    """

    def init(batch_shape: tuple[int, ...] = ()) -> RewardScalingState:
        return RewardScalingState(
            returns=jnp.zeros(tuple(batch_shape), jnp.float32), return_stats=init_running_stats((), initial_count)
        )

    def update(state: RewardScalingState, reward: jax.Array, done: jax.Array) -> RewardScalingState:
        if reward.shape != state.returns.shape or done.shape != state.returns.shape:
            raise ValidationError(
                f"reward {reward.shape} and done {done.shape} must have the environment batch shape "
                f"{state.returns.shape} given to init"
            )
        returns = gamma * state.returns + reward.astype(jnp.float32)
        stats = update_running_stats(state.return_stats, returns)
        # The return is reset after it was counted: the step that ended the episode belongs to it.
        return RewardScalingState(returns=jnp.where(done, 0.0, returns), return_stats=stats)

    def scale(state: RewardScalingState, reward: jax.Array) -> jax.Array:
        return jnp.clip(reward.astype(jnp.float32) / jnp.sqrt(state.return_stats.var + epsilon), -clip, clip)

    return RewardScaler(init=init, update=update, scale=scale)
