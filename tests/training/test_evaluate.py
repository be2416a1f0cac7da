"""rljax.training.evaluate skips gymnax's per-step auto-reset, and its returns stay bitwise those of ``env.step``."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rljax.envs import discretize, make
from rljax.training.evaluate import evaluate, steps_like_gymnax


def reference_evaluate(key, env, env_params, policy, num_episodes):
    """The evaluation as it was written first: ``env.step`` (auto-reset included) at every step."""

    def episode(key):
        key_reset, key = jax.random.split(key)
        obs, state = env.reset(key_reset, env_params)

        def body(carry):
            key, obs, state, total, _ = carry
            key, key_act, key_step = jax.random.split(key, 3)
            obs, state, reward, terminated, truncated, _ = env.step(key_step, state, policy(key_act, obs), env_params)
            return key, obs, state, total + reward, jnp.logical_or(terminated, truncated)

        return jax.lax.while_loop(lambda c: ~c[-1], body, (key, obs, state, jnp.float32(0.0), jnp.bool_(False)))[3]

    return jax.vmap(episode)(jax.random.split(key, num_episodes))


def random_policy(env, env_params):
    space = env.action_space(env_params)
    return lambda key, obs: space.sample(key)


@pytest.mark.parametrize(
    "env_id, kwargs",
    [
        ("CartPole-v1", {}),
        ("FrozenLake-v1", {"is_slippery": True}),  # the step itself draws from its key
        ("Taxi-v3", {}),
        ("Breakout-MinAtar", {}),  # sticky actions: random inside step_env
        ("Pendulum-v1", {}),  # continuous actions, time limit only
        ("DeepSea-bsuite", {}),  # overrides step: evaluated with its own step
    ],
)
def test_returns_are_bitwise_those_of_env_step(env_id, kwargs):
    env, params = make(env_id, **kwargs)
    policy = random_policy(env, params)
    key = jax.random.PRNGKey(3)
    fast = jax.jit(lambda k: evaluate(k, env, params, policy, 12))(key)
    slow = jax.jit(lambda k: reference_evaluate(k, env, params, policy, 12))(key)
    np.testing.assert_array_equal(np.asarray(fast), np.asarray(slow))
    if env_id in ("CartPole-v1", "Taxi-v3", "Pendulum-v1"):  # dense rewards: returns that differ per episode
        assert np.unique(np.asarray(fast)).size > 1


def test_a_discretised_environment_takes_the_fast_path_with_the_same_returns():
    cartpole, params = make("CartPole-v1")
    env, params = discretize(cartpole, params, "bins-4x4x29x8")
    assert steps_like_gymnax(env)
    policy = random_policy(env, params)
    key = jax.random.PRNGKey(5)
    fast = jax.jit(lambda k: evaluate(k, env, params, policy, 12))(key)
    slow = jax.jit(lambda k: reference_evaluate(k, env, params, policy, 12))(key)
    np.testing.assert_array_equal(np.asarray(fast), np.asarray(slow))


def test_which_environments_keep_their_own_step():
    assert steps_like_gymnax(make("CartPole-v1")[0])
    assert steps_like_gymnax(make("Taxi-v3")[0])
    assert not steps_like_gymnax(make("DeepSea-bsuite")[0])  # its step is its own


class Endless:
    """An environment whose episodes never end (no time limit): reward 1 per step."""

    def reset(self, key, params):
        return jnp.zeros(1), jnp.int32(0)

    def step(self, key, state, action, params):
        return jnp.zeros(1), state + 1, jnp.float32(1.0), jnp.bool_(False), jnp.bool_(False), {}


def test_an_episode_without_an_end_stops_at_the_step_cap():
    returns = evaluate(jax.random.PRNGKey(0), Endless(), None, lambda k, o: 0, num_episodes=3, max_steps=50)
    np.testing.assert_array_equal(np.asarray(returns), [50.0, 50.0, 50.0])  # 50 steps each, then stopped
    env, params = make("CartPole-v1")  # an episode that ends first keeps its own end
    capped = evaluate(jax.random.PRNGKey(0), env, params, random_policy(env, params), 20, max_steps=100_000)
    assert (np.asarray(capped) < 100).all()
