"""PQN: Q(lambda) targets at truncations, LayerNorm, schedules, configuration errors, probes,
batch invariance, one-program sweeps, resume, loading a policy, and real (small) learning on
CartPole-v1."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from guarantees import (
    PROBES,
    assert_learning_rate_sweep_is_one_program,
    assert_resume_equals_uninterrupted,
    assert_seed_alone_equals_seed_in_batch,
    run_state,
)

import rljax
from rljax.agents.base import Clock, Transition
from rljax.agents.nets import QNetwork
from rljax.agents.pqn import PQNConfig, epsilon_now, init, lambda_targets, learning_rate_at, pqn, q_values
from rljax.training.batch import FAST_COMPILE


def train(*args, **kwargs):
    """PQN runs as fast to compile as they can be (short runs), without a progress bar."""
    return rljax.train("pqn", *args, compiler_options=FAST_COMPILE, progress=False, **kwargs)


def cartpole_state(config: PQNConfig, seed: int = 0):
    env, params = rljax.make("CartPole-v1")
    return init(jax.random.PRNGKey(seed), env, params, config)


# --- Q(lambda) targets on a hand-made rollout ---------------------------------------------


def test_a_truncated_step_bootstraps_from_its_final_observation():
    """One env, 4 steps: step 1 is truncated (its next_obs is the final observation, not
    obs[2], the next episode's start), step 2 terminated, step 3 the rollout's last."""
    gamma, lam, scale = 0.9, 0.8, 0.5
    config = PQNConfig(gamma=gamma, q_lambda=lam, reward_scale=scale, num_envs=1, rollout_length=4, hidden_sizes=(16,))
    state = cartpole_state(config)
    obs = jax.random.normal(jax.random.PRNGKey(1), (4, 1, 4))
    final_obs = jax.random.normal(jax.random.PRNGKey(2), (1, 4))
    after = jax.random.normal(jax.random.PRNGKey(3), (1, 4))
    next_obs = jnp.stack([obs[1], final_obs, jax.random.normal(jax.random.PRNGKey(4), (1, 4)), after])
    batch = Transition(
        obs=obs,
        action=jnp.zeros((4, 1), jnp.int32),
        reward=jnp.array([[1.0], [2.0], [3.0], [4.0]]),
        next_obs=next_obs,
        terminated=jnp.array([[False], [False], [True], [False]]),
        truncated=jnp.array([[False], [True], [False], [False]]),
        valid=jnp.ones((4, 1), bool),
    )
    targets = np.asarray(jax.jit(lambda_targets)(state, batch, config)[:, 0], np.float64)
    q_next = np.asarray(q_values(state, state.params, next_obs[:, 0], config), np.float64).max(1)
    r = scale * np.array([1.0, 2.0, 3.0, 4.0])
    g3 = r[3] + gamma * q_next[3]  # the last step bootstraps from the observation after the rollout
    g2 = r[2]  # terminated: no bootstrap
    g1 = r[1] + gamma * q_next[1]  # truncated: max Q of its final observation, nothing of step 2
    g0 = r[0] + gamma * (lam * g1 + (1 - lam) * q_next[0])
    np.testing.assert_allclose(targets, [g0, g1, g2, g3], rtol=1e-5)
    q_next_start = np.asarray(q_values(state, state.params, obs[2], config)).max()
    assert not np.isclose(q_next[1], q_next_start)  # the final observation's value is not the next start's


def test_layer_norm_sits_before_each_hidden_relu_and_off_leaves_the_plain_network():
    x = jax.random.normal(jax.random.PRNGKey(0), (4,))
    plain = QNetwork(2, (8, 8)).init(jax.random.PRNGKey(1), x)
    normed = QNetwork(2, (8, 8), layer_norm=True).init(jax.random.PRNGKey(1), x)
    mlp = normed["params"]["MLP_0"]
    assert set(plain["params"]["MLP_0"]) == {"Dense_0", "Dense_1", "Dense_2"}
    assert set(mlp) == {"Dense_0", "LayerNorm_0", "Dense_1", "LayerNorm_1", "Dense_2"}
    # LayerNorm right after the first Dense: scaling that layer's weights and bias changes nothing
    scaled = jax.tree.map(lambda p: p, normed)
    scaled["params"]["MLP_0"]["Dense_0"] = jax.tree.map(lambda p: 7.0 * p, mlp["Dense_0"])
    net = QNetwork(2, (8, 8), layer_norm=True)
    np.testing.assert_allclose(net.apply(scaled, x), net.apply(normed, x), rtol=1e-4, atol=1e-5)
    # and the CNN torso's convolution is normalised over its channels too
    image = jnp.ones((10, 10, 4))
    cnn = QNetwork(3, (16,), torso="cnn", layer_norm=True).init(jax.random.PRNGKey(2), image)
    assert "LayerNorm_0" in cnn["params"]["MinAtarTorso_0"]


# --- Acting and schedules ----------------------------------------------------------------


def test_greedy_action_is_the_argmax_and_exploration_decays_over_the_schedule():
    config = PQNConfig(hidden_sizes=(32,), epsilon_start=1.0, epsilon_end=0.1, epsilon_decay_fraction=0.5)
    state = cartpole_state(config)
    obs = jax.random.normal(jax.random.PRNGKey(3), (256, 4))
    greedy = jax.jit(jax.vmap(lambda k, o: pqn.act(k, state, o, config, Clock.start(1000), False)))
    keys = jax.random.split(jax.random.PRNGKey(4), 256)
    np.testing.assert_array_equal(greedy(keys, obs), jnp.argmax(q_values(state, state.params, obs, config), axis=1))
    clock = Clock.start(1000)
    at = lambda steps: clock.replace(env_steps=jnp.int32(steps))  # noqa: E731
    assert float(epsilon_now(config, at(0))) == pytest.approx(1.0)
    assert float(epsilon_now(config, at(250))) == pytest.approx(0.55)
    assert float(epsilon_now(config, at(900))) == pytest.approx(0.1)
    explore = jax.jit(jax.vmap(lambda k: pqn.act(k, state, obs[0], config, at(0), True)))
    assert 0.4 < float(explore(jax.random.split(jax.random.PRNGKey(5), 4000)).mean()) < 0.6  # epsilon 1: uniform


def test_schedule_steps_fix_the_schedules_horizon_whatever_the_run_length():
    config = PQNConfig(epsilon_decay_fraction=0.5, learning_rate=1e-3, schedule_steps=4_000)
    for run_length in (4_000, 16_000):
        at = lambda steps: Clock.start(run_length).replace(env_steps=jnp.int32(steps))  # noqa: E731
        assert float(learning_rate_at(config, at(2_000))) == pytest.approx(0.5e-3)
        assert float(learning_rate_at(config, at(12_000))) == 0.0
        assert float(epsilon_now(config, at(1_000))) == pytest.approx(0.525)
        assert float(epsilon_now(config, at(9_000))) == pytest.approx(0.05)
    unset = dataclasses.replace(config, schedule_steps=0)  # the run's length
    assert float(learning_rate_at(unset, Clock.start(16_000).replace(env_steps=jnp.int32(8_000)))) == pytest.approx(
        0.5e-3
    )


# --- Configuration errors, before anything is traced -------------------------------------


@pytest.mark.parametrize(
    "env_id,override,match",
    [
        ("CartPole-v1", {"q_lambda": -0.1}, r"q_lambda must be in \[0.0, 1.0\]; got -0.1"),
        ("CartPole-v1", {"q_lambda": 1.5}, r"q_lambda must be in \[0.0, 1.0\]; got 1.5"),
        ("CartPole-v1", {"num_minibatches": 3}, r"num_minibatches \(3\) must divide num_envs \* rollout_length"),
        ("CartPole-v1", {"num_epochs": 0}, "num_epochs must be >= 1; got 0"),
        ("CartPole-v1", {"num_envs": 0}, "num_envs must be >= 1"),
        ("CartPole-v1", {"gamma": 1.5}, "gamma must be in"),
        ("CartPole-v1", {"learning_rate": 0.0}, "learning_rate must be > 0"),
        ("CartPole-v1", {"reward_scale": 0.0}, "reward_scale must be > 0"),
        ("CartPole-v1", {"epsilon_end": 1.2}, "epsilon_end must be in"),
        ("CartPole-v1", {"epsilon_decay_fraction": 0.0}, "epsilon_decay_fraction must be in"),
        ("CartPole-v1", {"loss": "mae"}, "loss must be one of mse, huber"),
        ("CartPole-v1", {"optimizer": "sgd"}, "optimizer must be one of adam, radam"),
        ("CartPole-v1", {"torso": "cnn"}, r"torso='cnn' needs \[H, W, C\] image observations"),
        ("CartPole-v1", {"torso": "embedding"}, "torso must be one of mlp, cnn"),
        ("CartPole-v1", {"hidden_sizes": (0,)}, "hidden_sizes"),
        ("Pendulum-v1", {}, "PQN needs a discrete action space .*Pendulum-v1 has Box actions"),
    ],
)
def test_bad_configurations_are_one_line_errors(env_id, override, match):
    with pytest.raises(ValueError, match=match) as err:
        rljax.build("pqn", env_id, override, total_steps=10)
    assert "\n" not in str(err.value)


def test_static_and_traced_fields():
    leaves = jax.tree_util.tree_flatten_with_path(PQNConfig())[0]
    names = {path[-1].name for path, _ in leaves}
    assert {"learning_rate", "gamma", "q_lambda", "reward_scale", "epsilon_end", "schedule_steps"} <= names
    assert not {"num_envs", "rollout_length", "num_epochs", "num_minibatches", "layer_norm", "loss"} & names


# --- Probes: exact values and optimal actions -----------------------------------------------

PROBE_CONFIG = {
    "num_envs": 4,
    "rollout_length": 16,
    "num_minibatches": 2,
    "hidden_sizes": (16,),
    "learning_rate": 3e-3,
    "learning_rate_end_fraction": 0.1,
    "gamma": 0.9,
    "epsilon_decay_fraction": 0.3,
    # Without replay, the values of actions the greedy policy avoids are learned from
    # exploration alone: at epsilon 0.05 probe 5's Q(1, 0) had reached -0.61 of -1 at the end.
    "epsilon_end": 0.3,
}


@pytest.mark.parametrize("probe", sorted(PROBES))
def test_probe_values_and_actions(probe):
    env_id = PROBES[probe]
    result = train(env_id, seeds=[0, 1], overrides=PROBE_CONFIG, total_steps=8_192, eval_episodes=20)
    env, _ = rljax.make(env_id)
    config = PQNConfig(**PROBE_CONFIG)
    for run in range(2):
        state = run_state(result, run)
        q = np.asarray(q_values(state, state.params, jnp.arange(env.num_nonterminal_states), config))
        np.testing.assert_allclose(q, env.expected_q(0.9), atol=0.03)
        np.testing.assert_array_equal(q.argmax(1), env.optimal_policy)
    if probe != 2:  # probe 2's return is +-1 by the initial draw, whatever the agent does
        np.testing.assert_array_equal(result.final_eval_return, 1.0)


# --- Batch invariance, one-program sweeps, resume, loading -----------------------------------

TINY = {"num_envs": 4, "rollout_length": 8, "num_minibatches": 2, "num_epochs": 2, "hidden_sizes": (16,)}


def test_seed_alone_equals_seed_in_batch():
    assert_seed_alone_equals_seed_in_batch(
        lambda **kw: train("CartPole-v1", **kw),
        seeds=range(6),
        seed=4,
        metrics=("eval_return", "loss"),
        overrides=TINY,
        total_steps=512,
        eval_episodes=3,
    )


def test_learning_rate_sweep_is_one_program():
    lrs = [1e-4, 1e-3, 1e-2]
    result = assert_learning_rate_sweep_is_one_program(
        lambda agent, **kw: rljax.train(agent, "CartPole-v1", compiler_options=FAST_COMPILE, progress=False, **kw),
        pqn,
        lrs,
        seeds=range(2),
        overrides={**TINY, "learning_rate_end_fraction": 1.0},
        total_steps=128,
        eval_episodes=2,
    )
    np.testing.assert_allclose(result.metrics["learning_rate"][::2, 0], lrs, rtol=1e-6)


def test_an_interrupted_and_resumed_run_equals_the_uninterrupted_one(tmp_path, test_compile_cache):
    assert_resume_equals_uninterrupted(
        lambda **kw: train("CartPole-v1", **kw),
        tmp_path / "run",
        ("eval_return", "loss", "epsilon", "learning_rate"),
        seeds=[0, 3, 5],
        lane_width=1,  # 3 lanes on 2 devices: 2 groups, joined into one checkpoint and split again
        overrides=TINY,
        total_steps=640,
        eval_every=128,
        eval_episodes=2,
    )


def test_a_loaded_policy_is_the_greedy_policy_of_the_trained_network(tmp_path):
    out = tmp_path / "run"
    result = train("CartPole-v1", seeds=[0, 2], overrides=TINY, total_steps=256, eval_episodes=2, out=out)
    policy = rljax.load_policy(out, seed=2)
    env, params = rljax.make("CartPole-v1")
    observations = jax.vmap(lambda k: env.reset(k, params)[0])(jax.random.split(jax.random.PRNGKey(5), 20))
    actions = np.stack([policy(np.asarray(o)) for o in observations])
    state = run_state(result, 1)
    expected = np.argmax(q_values(state, state.params, observations, PQNConfig(**TINY)), axis=1)
    np.testing.assert_array_equal(actions, expected)


# --- Learning ----------------------------------------------------------------------------------


def test_learns_cartpole_at_the_preset():
    """The preset (153.6k steps), 4 seeds in lanes of 2 (no padding runs on 2 CPU devices)."""
    result = rljax.train("pqn", "CartPole-v1", seeds=range(4), eval_episodes=20, lane_width=2, progress=False)
    assert (result.final_eval_return >= 475).sum() >= 3, result.final_eval_return
