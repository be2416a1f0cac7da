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


def make_cartpole_no_velocity() -> tuple[CartPoleNoVelocity, EnvParams]:
    """Makes CartPoleNoVel-v1 and its parameters (CartPole-v1's: a 500-step time limit).

    Its options, as for every environment, are its ``EnvParams`` fields (``rljax.make``).
    """
    env = CartPoleNoVelocity()
    return env, env.default_params


def make_cartpole_v0() -> tuple[CartPoleV0, EnvParams]:
    """Makes CartPole-v0 and its parameters: ``env_params.max_steps_in_episode == 200``.

    Its options, as for every environment, are its ``EnvParams`` fields
    (``rljax.make("CartPole-v0", force_mag=5.0)``; see :mod:`rljax.envs.params`, which also
    recomputes the derived ``total_mass`` and ``polemass_length`` when ``masscart``,
    ``masspole`` or ``length`` change).
    """
    env = CartPoleV0()
    return env, env.default_params
