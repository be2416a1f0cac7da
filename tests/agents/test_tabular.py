"""Tabular TD agents: exact values on probes and Chain, schedules, tie-breaking, batch invariance."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import rljax
from rljax.agents import get_agent
from rljax.agents.base import Clock
from rljax.agents.exploration import epsilon_at, epsilon_greedy_probs, random_argmax
from rljax.agents.tabular import td_target
from rljax.experiment import train as _train
from rljax.training.batch import FAST_COMPILE

AGENTS = ["q_learning", "sarsa", "expected_sarsa"]


def train(*args, **kwargs):
    """Short runs here: compile fast (XLA's backend optimisations cost more than they save)."""
    return _train(*args, compiler_options=FAST_COMPILE, **kwargs)


def learned_q(result, run: int = 0) -> np.ndarray:
    """The Q table of one run from a packed final state."""
    q = np.asarray(result.final_state.agent_state.q)
    return q.reshape((-1,) + q.shape[2:])[run]


@pytest.mark.parametrize(
    "agent,probe",
    [("q_learning", i) for i in range(1, 6)] + [("sarsa", 3), ("sarsa", 5), ("expected_sarsa", 5)],
)
def test_probe_values(agent, probe):
    env_id = [
        "Probe-ConstantReward",
        "Probe-ObsDependentReward",
        "Probe-DiscountedReward",
        "Probe-ActionDependentReward",
        "Probe-ActionObsDependentReward",
    ][probe - 1]
    gamma = 0.9
    result = train(
        agent,
        env_id,
        seeds=[0, 1],
        overrides={"gamma": gamma, "learning_rate": 0.2},
        total_steps=3000,
        eval_episodes=20,
    )
    env, _ = rljax.make(env_id)
    n = env.num_nonterminal_states
    for run in range(2):
        q = learned_q(result, run)[:n]
        expected = env.expected_q(gamma)
        np.testing.assert_allclose(q, expected, atol=0.02)
        np.testing.assert_array_equal(q.argmax(1), env.optimal_policy)
    if probe != 2:  # probe 2's return is +-1 by the initial draw, whatever the agent does
        np.testing.assert_array_equal(result.final_eval_return, 1.0)


def test_chain_values_gamma_09():
    """The CartPole Q Learning tutorial's corridor: Q(5,R)=1, Q(4,R)=0.9, Q(3,R)=0.81 with gamma 0.9."""
    result = train(
        "q_learning",
        "Chain",
        seeds=range(4),
        overrides={"gamma": 0.9, "learning_rate": 0.2},
        total_steps=20_000,
        eval_episodes=10,
    )
    for run in range(4):
        q = learned_q(result, run)
        np.testing.assert_allclose(q[[5, 4, 3], 1], [1.0, 0.9, 0.81], atol=0.02)
    assert np.all(result.final_eval_return == 1.0)


def test_seed_alone_equals_seed_in_batch():
    kwargs = dict(overrides={"gamma": 0.9}, total_steps=4_000, eval_episodes=10)
    batch = train("sarsa", "Chain", seeds=range(16), **kwargs)
    alone = train("sarsa", "Chain", seeds=[3], **kwargs)
    np.testing.assert_array_equal(learned_q(alone, 0), learned_q(batch, 3))
    assert alone.final_eval_return[0] == batch.final_eval_return[3]
    # and different seeds really are different runs
    assert not np.array_equal(learned_q(batch, 3), learned_q(batch, 4))


def test_td_target_terminal_and_truncated():
    reward = jnp.array([1.0, 1.0, 1.0])
    terminated = jnp.array([True, False, False])  # the third is a truncated step: it bootstraps
    bootstrap = jnp.array([5.0, 5.0, 5.0])
    np.testing.assert_allclose(td_target(reward, terminated, 0.9, bootstrap), [1.0, 5.5, 5.5])


@pytest.mark.parametrize(
    "schedule,t,expected",
    [
        ("constant", 100, 0.3),
        ("linear", 0, 1.0),
        ("linear", 50, 0.525),
        ("linear", 1000, 0.05),
        ("exponential", 10, 0.99**10),
        ("exponential", 10_000, 0.05),
        ("inverse", 4, 0.2),
    ],
)
def test_epsilon_schedules(schedule, t, expected):
    start = 0.3 if schedule == "constant" else (1.0 if schedule != "inverse" else 1.0)
    value = epsilon_at(schedule, t, start, 0.05, 100.0, 0.99)
    assert float(value) == pytest.approx(expected, rel=1e-5)


def test_random_argmax_breaks_ties_uniformly():
    values = jnp.array([1.0, 3.0, 3.0, 0.0, 3.0])
    keys = jax.random.split(jax.random.PRNGKey(0), 6000)
    picks = np.asarray(jax.vmap(random_argmax, in_axes=(0, None))(keys, values))
    counts = np.bincount(picks, minlength=5)
    assert counts[0] == counts[3] == 0
    np.testing.assert_allclose(counts[[1, 2, 4]] / 6000, 1 / 3, atol=0.03)
    probs = epsilon_greedy_probs(values, 0.5)
    np.testing.assert_allclose(probs, [0.1, 0.1 + 0.5 / 3, 0.1 + 0.5 / 3, 0.1, 0.1 + 0.5 / 3], rtol=1e-6)


@pytest.mark.parametrize(
    "override,match",
    [
        ({"learning_rate": 0.0}, "learning_rate"),
        ({"learning_rate": -0.1}, "learning_rate"),
        ({"gamma": 1.5}, "gamma"),
        ({"epsilon_end": -0.1}, "epsilon_end"),
        ({"epsilon_schedule": "cosine"}, "epsilon_schedule"),
        ({"no_such_key": 1}, "unknown hyperparameter"),
    ],
)
def test_bad_hyperparameters(override, match):
    with pytest.raises(ValueError, match=match):
        train("q_learning", "Chain", overrides=override, total_steps=10)


def test_continuous_observations_need_a_discretiser():
    with pytest.raises(ValueError, match="discrete observations"):
        train("q_learning", "CartPole-v1", total_steps=10)


def test_clock_drives_epsilon():
    agent = get_agent("q_learning")
    cfg = agent.config_type(epsilon_start=1.0, epsilon_end=0.0, epsilon_decay_fraction=0.5)
    from rljax.agents.exploration import config_epsilon

    clock = Clock.start(1000).replace(env_steps=jnp.int32(250))
    assert float(config_epsilon(cfg, clock)) == pytest.approx(0.5)


@pytest.mark.parametrize("epsilon", [0.0, 0.3, 1.0])
def test_epsilon_greedy_matches_its_distribution(epsilon):
    from rljax.agents.exploration import epsilon_greedy

    values = jnp.array([2.0, -1.0, 2.0, 0.5])
    n = 20_000
    keys = jax.random.split(jax.random.PRNGKey(1), n)
    picks = np.asarray(jax.vmap(epsilon_greedy, in_axes=(0, None, None))(keys, values, epsilon))
    freq = np.bincount(picks, minlength=4) / n
    expected = np.asarray(epsilon_greedy_probs(values, epsilon))
    np.testing.assert_allclose(freq, expected, atol=4 * np.sqrt(0.25 / n))


def test_sweep_is_one_program_and_each_setting_matches_its_own_run():
    """A sweep over a traced hyperparameter equals running each setting alone."""
    lrs = [0.05, 0.5]
    sweep = train(
        "q_learning",
        "Chain",
        seeds=[0, 1],
        overrides=[{"learning_rate": lr} for lr in lrs],
        total_steps=2_000,
        eval_episodes=5,
    )
    assert sweep.config_ids == [0, 0, 1, 1] and sweep.seeds == [0, 1, 0, 1]
    alone = train(
        "q_learning", "Chain", seeds=[1], overrides={"learning_rate": 0.5}, total_steps=2_000, eval_episodes=5
    )
    np.testing.assert_array_equal(learned_q(sweep, 3), learned_q(alone, 0))
    assert not np.array_equal(learned_q(sweep, 1), learned_q(sweep, 3))  # the setting matters


def _batch(obs, action, reward, next_obs, terminated=None):
    """A one-step batch [1, B] of transitions."""
    from rljax.agents.base import Transition

    b = len(obs)
    row = lambda x, dtype: jnp.asarray(x, dtype)[None]
    zeros = np.zeros(b, bool)
    return Transition(
        obs=row(obs, jnp.int32),
        action=row(action, jnp.int32),
        reward=row(reward, jnp.float32),
        next_obs=row(next_obs, jnp.int32),
        terminated=row(zeros if terminated is None else terminated, bool),
        truncated=row(zeros, bool),
        valid=row(np.ones(b, bool), bool),
    )


@pytest.mark.parametrize("learning_rate", [1.0, 0.5])
def test_repeated_pairs_in_one_batch_move_by_the_mean_error_and_cannot_overshoot(learning_rate):
    from rljax.agents.tabular import TabularConfig, TabularState

    agent = get_agent("q_learning")
    config = TabularConfig(learning_rate=learning_rate, gamma=0.5, num_envs=4)
    q = jnp.zeros((3, 2), jnp.float32).at[2].set(jnp.array([4.0, 2.0]))
    # three environments take (0, 1): rewards 1, 2, 6, all to state 2 (max Q 4) -> targets 3, 4, 8;
    # the fourth takes (1, 0) and terminates with reward 5.
    batch = _batch([0, 0, 0, 1], [1, 1, 1, 0], [1.0, 2.0, 6.0, 5.0], [2, 2, 2, 1], [False, False, False, True])
    new, _ = jax.jit(agent.update)(jax.random.PRNGKey(0), TabularState(q), batch, config, Clock.start(100))
    expected = np.asarray(q).copy()
    expected[0, 1] = learning_rate * np.mean([3.0, 4.0, 8.0])  # not learning_rate * (3 + 4 + 8)
    expected[1, 0] = learning_rate * 5.0
    np.testing.assert_allclose(np.asarray(new.q), expected, rtol=1e-6)
    assert new.q[0, 1] <= 8.0  # never past the largest target


@pytest.mark.slow
def test_q_learning_on_taxi_with_8_envs_and_learning_rate_1_does_not_diverge():
    result = train(
        "q_learning",
        "Taxi-v3",
        seeds=range(16),
        overrides={"learning_rate": 1.0, "num_envs": 8},
        total_steps=100_000,
        eval_episodes=20,
    )
    assert result.diverged_at_step == [None] * 16
    q = np.asarray(result.final_state.agent_state.q)
    assert np.isfinite(q).all() and np.abs(q).max() <= 20.0 / (1 - 0.99)  # |r| <= 20: bounded by the returns
    assert np.median(result.final_eval_return) >= 7.0


def test_a_fixed_schedule_horizon_keeps_a_longer_run_exploring_as_the_preset_did():
    """schedule_steps: epsilon decays over its fraction of that many steps, whatever the run's length."""
    from rljax.agents.exploration import config_epsilon
    from rljax.agents.tabular import TabularConfig

    fixed = TabularConfig(epsilon_start=1.0, epsilon_end=0.0, epsilon_decay_fraction=0.5, schedule_steps=400)
    for run_length in (400, 1_600):
        clock = Clock.start(run_length)
        at = [float(config_epsilon(fixed, clock.replace(env_steps=jnp.int32(t)))) for t in (100, 200, 1_000)]
        assert at == pytest.approx([0.5, 0.0, 0.0])
    stretched = TabularConfig(epsilon_start=1.0, epsilon_end=0.0, epsilon_decay_fraction=0.5)
    assert float(config_epsilon(stretched, Clock.start(1_600).replace(env_steps=jnp.int32(200)))) == pytest.approx(0.75)
    with pytest.raises(ValueError, match="schedule_steps must be in"):
        get_agent("q_learning").validate(TabularConfig(schedule_steps=-1), *rljax.make("Chain"))
