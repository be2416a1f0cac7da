"""Reward-shaping wrappers.

:class:`FailurePenalty` is the Deep Q Learning blog post's trick: the step that ends an episode by
*failure* (``terminated``, e.g. the pole fell) gets a fixed penalty (-50) instead of
its reward, so the agent learns to avoid it sooner. The Deep Q Learning blog post also penalised the
time-limit end of an episode (its ``gameOver`` lumped both together), punishing
the agent for succeeding; here a *truncated* step keeps its reward.

Shaping changes the returns, so the shaped return is no longer the task's score.
The wrapper leaves the unshaped reward in ``info["true_reward"]``, but rljax's
evaluation sums the environment's reward, so evaluate a policy trained on the
wrapped environment on the *unwrapped* one (``env.env``) to report the true return
(``experiments/deep_q_learning_blog_dqn.py`` does this after every segment).
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp

from rljax.envs._gymnax import environment
from rljax.envs.wrappers import EnvWrapper


class FailurePenalty(EnvWrapper):
    """``reward <- penalty`` on terminated (not truncated) steps; everything else unchanged.

    Attributes:
      env: the wrapped gymnax environment.
      penalty: the reward of a failing step (the Deep Q Learning blog post: -50).
    """

    def __init__(self, env: environment.Environment, penalty: float = -50.0):
        super().__init__(env)
        self.penalty = float(penalty)

    def step_env(self, key, state, action, params):
        obs, state, reward, terminated, info = self.env.step_env(key, state, action, params)
        shaped = jnp.where(terminated, jnp.asarray(self.penalty, jnp.float32), reward)
        return obs, state, shaped.astype(jnp.float32), terminated, {**info, "true_reward": reward}

    @property
    def name(self) -> str:
        return f"FailurePenalty({self.env.name})"

    def __repr__(self) -> str:
        return f"FailurePenalty({self.env.name}, penalty={self.penalty:g})"


def failure_penalty(env_id: str, penalty: float = -50.0, **kwargs: Any) -> tuple[FailurePenalty, Any]:
    """``rljax.make(env_id, **kwargs)`` wrapped in :class:`FailurePenalty`."""
    from rljax.envs.registry import make

    env, params = make(env_id, **kwargs)
    return FailurePenalty(env, penalty), params
