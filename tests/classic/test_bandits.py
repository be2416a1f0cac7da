"""Tests of rljax.classic.bandits on the keras-rl lecture's bandit (arms 0.7 / 0.2 / 0.3)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rljax.classic import bandits

PROBS = (0.7, 0.2, 0.3)
NUM_RUNS = 1000
NUM_PULLS = 1000


@pytest.fixture(scope="module")
def results():
    """Each strategy once, 1000 runs x 1000 pulls (shared by the tests below)."""
    key = jax.random.key(0)
    out = {
        "epsilon_greedy": bandits.run_bandit("epsilon_greedy", key, PROBS, NUM_PULLS, NUM_RUNS, epsilon=0.1),
        "ucb1": bandits.run_bandit(bandits.UCB1, key, PROBS, NUM_PULLS, NUM_RUNS),
        "thompson": bandits.run_bandit(bandits.ThompsonSampling(), key, PROBS, NUM_PULLS, NUM_RUNS),
    }
    return jax.block_until_ready(out)


def test_shapes_and_regret_definition(results):
    probs = np.asarray(PROBS, np.float32)
    for result in results.values():
        assert result.arms.shape == (NUM_RUNS, NUM_PULLS) and result.arms.dtype == jnp.int32
        assert result.rewards.shape == (NUM_RUNS, NUM_PULLS)
        assert result.cumulative_regret.shape == (NUM_RUNS, NUM_PULLS)
        arms = np.asarray(result.arms)
        assert arms.min() >= 0 and arms.max() < len(PROBS)
        assert set(np.unique(result.rewards)) <= {0.0, 1.0}
        expected = np.cumsum(probs.max() - probs[arms], axis=1)
        np.testing.assert_allclose(result.cumulative_regret, expected, rtol=1e-5, atol=1e-3)
        np.testing.assert_array_equal(result.final_regret, result.cumulative_regret[:, -1])


def test_thompson_beats_epsilon_greedy(results):
    thompson = float(results["thompson"].final_regret.mean())
    eps_greedy = float(results["epsilon_greedy"].final_regret.mean())
    assert thompson < eps_greedy
    last_100 = np.asarray(results["thompson"].arms[:, -100:])
    assert (last_100 == 0).mean() > 0.9


def test_ucb1_regret_is_sublinear(results):
    regret = np.asarray(results["ucb1"].cumulative_regret).mean(axis=0)
    half = NUM_PULLS // 2
    first_half = regret[half - 1]
    second_half = regret[-1] - regret[half - 1]
    assert second_half < first_half
    # Every arm is tried once in the first three pulls.
    first_three = np.sort(np.asarray(results["ucb1"].arms[:, :3]), axis=1)
    np.testing.assert_array_equal(first_three, np.tile([0, 1, 2], (NUM_RUNS, 1)))


def test_runs_are_independent(results):
    for name, result in results.items():
        arms = np.asarray(result.arms[:, :200])
        distinct = len({row.tobytes() for row in arms})
        assert distinct > 0.9 * NUM_RUNS, name


def test_deterministic_for_a_key_and_different_across_keys(results):
    a = bandits.run_bandit("thompson", jax.random.key(1), PROBS, 100, 50)
    b = bandits.run_bandit("thompson", jax.random.key(1), PROBS, 100, 50)
    np.testing.assert_array_equal(a.arms, b.arms)
    np.testing.assert_array_equal(a.rewards, b.rewards)
    # Same shapes as the fixture, so these reuse its compiled program.
    same = bandits.run_bandit("epsilon_greedy", jax.random.key(0), PROBS, NUM_PULLS, NUM_RUNS, epsilon=0.1)
    other = bandits.run_bandit("epsilon_greedy", jax.random.key(5), PROBS, NUM_PULLS, NUM_RUNS, epsilon=0.1)
    np.testing.assert_array_equal(same.arms, results["epsilon_greedy"].arms)
    assert not np.array_equal(other.arms, same.arms)


def test_sample_beta_matches_scipy():
    """The Thompson sampler's Beta draws are Beta-distributed (KS test vs scipy)."""
    scipy_stats = pytest.importorskip("scipy.stats")
    alpha = jnp.array([1.0, 3.0, 0.3, 700.0])
    beta = jnp.array([1.0, 10.0, 0.5, 300.0])
    keys = jax.random.split(jax.random.key(6), 10_000)
    samples = np.asarray(jax.jit(jax.vmap(lambda k: bandits.sample_beta(k, alpha, beta)))(keys))
    assert np.all((samples >= 0) & (samples <= 1))
    for i in range(len(alpha)):
        dist = scipy_stats.beta(float(alpha[i]), float(beta[i]))
        assert scipy_stats.kstest(samples[:, i], dist.cdf).pvalue > 1e-3


def test_rewards_are_bernoulli_of_the_arm():
    """epsilon = 1 pulls uniformly: each arm's success rate is its probability."""
    result = bandits.run_bandit("epsilon_greedy", jax.random.key(3), PROBS, NUM_PULLS, NUM_RUNS, epsilon=1.0)
    arms, rewards = np.asarray(result.arms), np.asarray(result.rewards)
    for a, p in enumerate(PROBS):
        pulled = arms == a
        assert pulled.mean() == pytest.approx(1 / 3, abs=0.005)
        assert rewards[pulled].mean() == pytest.approx(p, abs=0.005)
    # Uniform play loses the mean gap (0 + 0.5 + 0.4) / 3 = 0.3 per pull.
    assert float(result.final_regret.mean()) == pytest.approx(0.3 * NUM_PULLS, rel=0.01)


def test_epsilon_is_traced_and_vmappable():
    def mean_final_regret(epsilon):
        result = bandits.run_bandit("epsilon_greedy", jax.random.key(4), PROBS, 100, 200, epsilon=epsilon)
        return result.final_regret.mean()

    regrets = jax.vmap(mean_final_regret)(jnp.array([0.0, 0.1, 1.0]))
    assert regrets.shape == (3,)
    assert float(regrets[2]) == pytest.approx(0.3 * 100, rel=0.05)
    assert float(regrets[1]) < float(regrets[2])


def test_thompson_prior_is_beta_one_one():
    strategy = bandits.ThompsonSampling()
    assert (strategy.prior_alpha, strategy.prior_beta) == (1.0, 1.0)
    stats = strategy.update(strategy.init(3), jnp.int32(0), jnp.float32(1.0))
    np.testing.assert_array_equal(stats.pulls, [1, 0, 0])
    np.testing.assert_array_equal(stats.wins, [1, 0, 0])


def test_validation_errors():
    key = jax.random.key(0)
    with pytest.raises(ValueError, match="epsilon must be in"):
        bandits.run_bandit("epsilon_greedy", key, PROBS, 10, 2, epsilon=1.5)
    with pytest.raises(ValueError, match="unknown bandit strategy"):
        bandits.run_bandit("softmax", key, PROBS, 10, 2)
    with pytest.raises(TypeError, match="bad parameters for UCB1"):
        bandits.run_bandit("ucb1", key, PROBS, 10, 2, epsilon=0.1)
    with pytest.raises(ValueError, match="prior_alpha must be > 0"):
        bandits.run_bandit("thompson", key, PROBS, 10, 2, prior_alpha=0.0)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        bandits.run_bandit("ucb1", key, (0.5, 1.2), 10, 2)
    with pytest.raises(ValueError, match="num_pulls and num_runs"):
        bandits.run_bandit("ucb1", key, PROBS, 10, 0)
