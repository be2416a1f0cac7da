"""CartPole-v0 and CartPoleNoVel-v1: gymnax's CartPole with the original 200-step time limit,
and with its velocities hidden.

gymnax only registers ``CartPole-v1`` (500 steps). Gymnasium's ``CartPole-v0`` has
the same dynamics and differs only in its ``TimeLimit`` (200 steps) and reward
threshold (195 instead of 475), so v0 here is a thin subclass that changes the
default ``max_steps_in_episode`` and the name. See
``tests/envs/test_cartpole_gymnasium.py`` for how gymnax's CartPole compares with
Gymnasium's step by step.

``CartPoleNoVel-v1`` is CartPole-v1 observed through its cart position and pole angle
only, ``[x, theta]``: the velocities are hidden, so a policy must infer them from the
observations it has seen (the partially observed CartPole of the recurrent-RL
literature; RL Baselines3 Zoo's id for the same task). Dynamics, rewards, time limit
(500) and solved threshold (475) are CartPole-v1's.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp

from rljax.envs._gymnax import classic_cartpole, spaces

CartPole, EnvParams, EnvState = classic_cartpole.CartPole, classic_cartpole.EnvParams, classic_cartpole.EnvState

#: Gymnasium's ``gymnasium.make("CartPole-v0").spec.max_episode_steps``.
V0_MAX_STEPS = 200


class CartPoleV0(CartPole):
    """gymnax's CartPole-v1 dynamics with v0's 200-step episode limit."""

    @property
    def default_params(self) -> EnvParams:
        return EnvParams(max_steps_in_episode=V0_MAX_STEPS)

    @property
    def name(self) -> str:
        return "CartPole-v0"


class CartPoleNoVelocity(CartPole):
    """gymnax's CartPole-v1 whose observation is ``[x, theta]``: position and angle, no velocities."""

    def get_obs(self, state: EnvState, params: Any = None, key: Any = None) -> jax.Array:
        return jnp.array([state.x, state.theta])

    def observation_space(self, params: EnvParams) -> spaces.Box:
        high = jnp.array([params.x_threshold * 2, params.theta_threshold_radians * 2])
        return spaces.Box(-high, high, (2,), dtype=jnp.float32)

    @property
    def name(self) -> str:
        return "CartPoleNoVel-v1"


def _check_fields(env_id: str, kwargs: dict[str, Any]) -> None:
    fields = {f.name for f in dataclasses.fields(EnvParams)}
    unknown = sorted(set(kwargs) - fields)
    if unknown:
        raise TypeError(
            f"{env_id} got unknown option(s) {unknown}; valid options are the EnvParams fields: {sorted(fields)}"
        )


def make_cartpole_no_velocity(**kwargs: Any) -> tuple[CartPoleNoVelocity, EnvParams]:
    """Makes CartPoleNoVel-v1 and its parameters (``kwargs``: overrides of CartPole's ``EnvParams``,
    as for :func:`make_cartpole_v0`; the time limit stays v1's 500 steps unless overridden)."""
    _check_fields("CartPoleNoVel-v1", kwargs)
    env = CartPoleNoVelocity()
    return env, env.default_params.replace(**kwargs)


def make_cartpole_v0(**kwargs: Any) -> tuple[CartPoleV0, EnvParams]:
    """Makes CartPole-v0 and its parameters.

    Args:
      **kwargs: overrides of gymnax's CartPole ``EnvParams`` fields, e.g.
        ``max_steps_in_episode=100`` or ``force_mag=5.0``. The derived fields
        ``total_mass`` and ``polemass_length`` are not recomputed, as in gymnax:
        override them too when changing ``masscart``, ``masspole`` or ``length``.

    Returns:
      ``(env, env_params)`` with ``env_params.max_steps_in_episode == 200`` unless
      overridden.
    """
    _check_fields("CartPole-v0", kwargs)
    env = CartPoleV0()
    return env, env.default_params.replace(**kwargs)
