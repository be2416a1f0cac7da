"""DQN's embedding torso (the Keras Taxi tutorial's ``Embedding(500, 6)`` network) and MAE loss."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import rljax
from rljax.agents.base import Transition
from rljax.agents.dqn import DQNConfig, init, q_values, td_loss, validate
from rljax.agents.nets import QNetwork

EMBEDDING = {"torso": "embedding", "hidden_sizes": ()}


def taxi_state(config: DQNConfig):
    env, params = rljax.make("Taxi-v3")
    return init(jax.random.PRNGKey(0), env, params, config)


def test_without_hidden_layers_the_embedding_rows_are_the_q_values():
    config = DQNConfig(**EMBEDDING)
    state = taxi_state(config)
    table = np.asarray(state.params["params"]["Embed_0"]["embedding"])
    assert table.shape == (500, 6) and list(state.params["params"]) == ["Embed_0"]  # no head
    obs = jnp.array([0, 17, 499])
    np.testing.assert_array_equal(np.asarray(q_values(state, state.params, obs, config)), table[[0, 17, 499]])


def test_with_hidden_layers_the_embedding_feeds_them():
    net = QNetwork(6, (8,), "embedding", num_obs_categories=500, embedding_dim=4)
    params = net.init(jax.random.PRNGKey(0), jnp.int32(3))
    assert params["params"]["Embed_0"]["embedding"].shape == (500, 4)
    assert net.apply(params, jnp.int32(3)).shape == (6,)


def test_mae_loss_is_the_mean_absolute_td_error():
    config = DQNConfig(**EMBEDDING, loss="mae", gamma=0.5)
    state = taxi_state(config)
    batch = Transition(
        obs=jnp.array([1, 2]),
        action=jnp.array([0, 3]),
        reward=jnp.array([-1.0, 20.0]),
        next_obs=jnp.array([5, 6]),
        terminated=jnp.array([False, True]),
        truncated=jnp.array([False, False]),
        valid=jnp.array([True, True]),
    )
    q = np.asarray(state.params["params"]["Embed_0"]["embedding"])
    target = np.array([-1.0 + 0.5 * q[5].max(), 20.0])  # the second step is terminal: no bootstrap
    expected = np.abs(q[[1, 2], [0, 3]] - target).mean()
    np.testing.assert_allclose(jax.jit(td_loss)(state.params, state, batch, config)[0], expected, rtol=1e-6)


def test_the_embedding_needs_discrete_observations():
    env, params = rljax.make("CartPole-v1")
    with pytest.raises(ValueError, match="torso='embedding' needs Discrete observations"):
        validate(DQNConfig(**EMBEDDING), env, params)
