"""CartPole-v0: gymnax's CartPole with the original 200-step time limit.

gymnax only registers ``CartPole-v1`` (500 steps). Gymnasium's ``CartPole-v0`` has
the same dynamics and differs only in its ``TimeLimit`` (200 steps) and reward
threshold (195 instead of 475), so v0 here is a thin subclass that changes the
default ``max_steps_in_episode`` and the name. See
``tests/envs/test_cartpole_gymnasium.py`` for how gymnax's CartPole compares with
Gymnasium's step by step.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from gymnax.environments.classic_control.cartpole import CartPole, EnvParams

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
    fields = {f.name for f in dataclasses.fields(EnvParams)}
    unknown = sorted(set(kwargs) - fields)
    if unknown:
        raise TypeError(
            f"CartPole-v0 got unknown option(s) {unknown}; valid options are the EnvParams fields: {sorted(fields)}"
        )
    env = CartPoleV0()
    return env, env.default_params.replace(**kwargs)
