"""PPO's presets validate and build, and its MinAtar CNN torso reads batches as it reads single images.

No learning here: the presets' numbers are in rljax/agents/ppo.py and docs/guide/results.md.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import rljax
from rljax.agents.ppo import PPOConfig, forward, init, ppo


@pytest.mark.parametrize("env_id", sorted(ppo.presets))
def test_every_preset_validates_and_builds(env_id):
    plan = rljax.build("ppo", env_id)
    assert plan.loop.schedule.total_steps >= ppo.presets[env_id]["total_steps"]


def test_the_cnn_torso_reads_a_batch_as_it_reads_each_image():
    env, env_params = rljax.make("Breakout-MinAtar")
    preset = ppo.presets["Breakout-MinAtar"]
    config = PPOConfig(**{k: v for k, v in preset.items() if k not in ("total_steps", "evaluations")})
    state = init(jax.random.PRNGKey(0), env, env_params, config)
    assert {"actor_image", "critic_image"} <= set(state.params["net"]["params"])
    keys = jax.random.split(jax.random.PRNGKey(1), 6)
    obs = jax.vmap(lambda k: env.reset(k, env_params)[0])(keys).reshape(2, 3, 10, 10, -1)
    logits, values = forward(state, state.params, obs, config)
    assert logits.shape == (2, 3, env.action_space(env_params).n) and values.shape == (2, 3)
    one_logits, one_value = forward(state, state.params, obs[1, 2], config)
    np.testing.assert_allclose(one_logits, logits[1, 2], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(one_value, values[1, 2], rtol=1e-5, atol=1e-6)


def test_mlp_networks_have_no_convolution():
    env, env_params = rljax.make("CartPole-v1")
    state = init(jax.random.PRNGKey(0), env, env_params, PPOConfig())
    assert set(state.params["net"]["params"]) == {"actor", "critic"}
    assert jnp.shape(forward(state, state.params, jnp.zeros((5, 4)), PPOConfig())[1]) == (5,)


@pytest.mark.parametrize(
    "env_id,override,match",
    [
        ("Breakout-MinAtar", {"torso": "mlp"}, "torso='mlp' does not fit"),
        ("CartPole-v1", {"torso": "cnn"}, "torso='cnn' does not fit"),
        ("Breakout-MinAtar", {"torso": "resnet"}, "torso must be one of"),
        ("Breakout-MinAtar", {"cnn_channels": 0}, "cnn_channels must be >= 1"),
        ("Breakout-MinAtar", {"normalize_obs": True}, "torso='cnn' reads images"),
    ],
)
def test_torso_errors(env_id, override, match):
    with pytest.raises(ValueError, match=match):
        rljax.build("ppo", env_id, override, total_steps=10)
