"""Running observation statistics and reward scaling against numpy and plain Python, under jit and vmap."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rljax.agents.normalize import (
    RunningStats,
    reward_scaling,
    running_obs_stats,
    update_running_stats,
)


def with_prior(samples, initial_count, axis=0):
    """numpy's mean / var of all samples, combined with the initial state's prior (mean 0, var 1)."""
    samples = np.asarray(samples, np.float64)
    n, m, v = samples.shape[axis], samples.mean(axis), samples.var(axis)
    c = initial_count
    total = n + c
    return n * m / total, (c + n * v + m**2 * c * n / total) / total, total


def batches(seed, shape, sizes):
    """Batches with leading axes of various ranks, far from the prior (mean 3, std 2)."""
    rng = np.random.default_rng(seed)
    return [(3.0 + 2.0 * rng.normal(size=lead + shape)).astype(np.float32) for lead in sizes]


SIZES = [(5,), (2, 3), (1,), (4, 2, 2)]  # [n], [K, B], a single observation, more leading axes


class TestRunningObsStats(chex.TestCase):
    @chex.variants(with_jit=True, without_jit=True)
    def test_several_updates_equal_numpy_on_all_samples(self):
        shape = (3, 2)
        for initial_count in (1e-4, 0.5):  # the default, and a prior large enough to see
            tx = running_obs_stats(shape, initial_count=initial_count)
            update = self.variant(tx.update)
            stats = tx.init()
            data = batches(0, shape, SIZES)
            for batch in data:
                stats = update(stats, batch)
            everything = np.concatenate([b.reshape((-1,) + shape) for b in data])
            mean, var, count = with_prior(everything, initial_count)
            np.testing.assert_allclose(stats.mean, mean, rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(stats.var, var, rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(stats.count, count, rtol=1e-7)
            # Without the prior the numbers are numpy's own, to the prior's tiny weight.
            if initial_count == 1e-4:
                np.testing.assert_allclose(stats.mean, everything.mean(0), rtol=1e-3)
                np.testing.assert_allclose(stats.var, everything.var(0), rtol=1e-3)

    def test_under_vmap_over_seeds(self):
        shape, seeds = (4,), 3
        tx = running_obs_stats(shape)
        stats = jax.vmap(lambda _: tx.init())(jnp.arange(seeds))
        per_seed = [batches(seed, shape, [(8, 2)] * 3) for seed in range(seeds)]
        update = jax.jit(jax.vmap(tx.update))
        for step in range(3):
            stats = update(stats, jnp.stack([per_seed[s][step] for s in range(seeds)]))
        for s in range(seeds):
            mean, var, count = with_prior(np.concatenate([b.reshape(-1, 4) for b in per_seed[s]]), 1e-4)
            np.testing.assert_allclose(stats.mean[s], mean, rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(stats.var[s], var, rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(stats.count[s], count, rtol=1e-7)

    @chex.variants(with_jit=True, without_jit=True)
    def test_normalize_of_a_known_state(self):
        tx = running_obs_stats((2,), epsilon=0.0, clip=10.0)
        stats = RunningStats(mean=jnp.array([1.0, -2.0]), var=jnp.array([4.0, 0.25]), count=jnp.float32(7.0))
        obs = jnp.array([[3.0, -2.0], [0.0, -1.5], [-1.0, 0.0]])
        got = self.variant(tx.normalize)(stats, obs)
        np.testing.assert_array_equal(got, [[1.0, 0.0], [-0.5, 1.0], [-1.0, 4.0]])
        # The reader leaves the state alone: evaluation just never calls update.
        np.testing.assert_array_equal(stats.mean, [1.0, -2.0])

    @chex.variants(with_jit=True, without_jit=True)
    def test_epsilon_and_clip(self):
        tx = running_obs_stats((3,), epsilon=1e-2, clip=2.0)
        stats = RunningStats(mean=jnp.zeros(3), var=jnp.array([0.0, 1.0, 1.0]), count=jnp.float32(1.0))
        got = self.variant(tx.normalize)(stats, jnp.array([0.01, 5.0, -100.0]))
        np.testing.assert_allclose(got, [0.1, 2.0, -2.0], rtol=1e-6)  # 0.01 / sqrt(0 + 0.01), clipped, clipped

    def test_fresh_state_normalizes_nearly_nothing(self):
        tx = running_obs_stats((2,))
        np.testing.assert_allclose(tx.normalize(tx.init(), jnp.array([0.5, -3.0])), [0.5, -3.0], rtol=1e-7)

    def test_int_observations_and_shape_checks(self):
        stats = update_running_stats(running_obs_stats((2,)).init(), jnp.array([[0, 2], [2, 4]], jnp.int32))
        np.testing.assert_allclose(stats.mean, [1.0, 3.0], rtol=1e-4)
        with pytest.raises(ValueError, match="does not end in"):
            update_running_stats(stats, jnp.zeros((3, 4)))
        with pytest.raises(ValueError, match="empty batch"):
            update_running_stats(stats, jnp.zeros((0, 2)))


def reference_reward_scaling(rewards, dones, gamma, epsilon, clip, initial_count):
    """Plain Python, one step and one environment at a time: the returns, their variance so far,
    and the scaled rewards (each step's reward by the std that includes that step's returns)."""
    K, B = rewards.shape
    ret, seen, scaled = [0.0] * B, [], np.zeros((K, B))
    for k in range(K):
        for b in range(B):
            ret[b] = gamma * ret[b] + float(rewards[k, b])
            seen.append(ret[b])
        _, var, _ = with_prior(seen, initial_count)
        for b in range(B):
            scaled[k, b] = max(-clip, min(clip, rewards[k, b] / np.sqrt(var + epsilon)))
            if dones[k, b]:
                ret[b] = 0.0
    return np.array(ret), np.array(seen), scaled


def reward_stream(seed, K=40, B=3):
    rng = np.random.default_rng(seed)
    rewards = rng.normal(1.0, 2.0, size=(K, B)).astype(np.float32)
    dones = rng.random((K, B)) < 0.15
    dones[-1, 0] = True  # a reset on the very last step too
    return rewards, dones


class TestRewardScaling(chex.TestCase):
    @chex.variants(with_jit=True, without_jit=True)
    def test_against_plain_python(self):
        rewards, dones = reward_stream(0)
        for initial_count in (1e-4, 0.5):
            scaler = reward_scaling(0.9, clip=1.5, initial_count=initial_count)

            @self.variant
            def step(state, reward, done):
                state = scaler.update(state, reward, done)
                return state, scaler.scale(state, reward)

            state, got = scaler.init((3,)), []
            for k in range(len(rewards)):
                state, scaled = step(state, rewards[k], dones[k])
                got.append(scaled)
            ret, seen, want = reference_reward_scaling(rewards, dones, 0.9, 1e-8, 1.5, initial_count)
            np.testing.assert_allclose(np.stack(got), want, rtol=1e-5, atol=1e-6)
            assert (np.abs(want) == 1.5).any() and (np.abs(want) < 1.5).any()  # the clip bit, not always
            np.testing.assert_allclose(state.returns, ret, rtol=1e-5, atol=1e-6)
            assert state.returns[0] == 0.0  # reset after the last step's done
            # The scale is the std of the discounted returns sequence (plus the prior's tiny weight).
            _, var, count = with_prior(seen, initial_count)
            np.testing.assert_allclose(state.return_stats.var, var, rtol=1e-5)
            np.testing.assert_allclose(state.return_stats.count, count, rtol=1e-7)
            if initial_count == 1e-4:
                np.testing.assert_allclose(np.sqrt(state.return_stats.var), np.std(seen), rtol=1e-3)

    def test_return_resets_at_done(self):
        scaler = reward_scaling(0.5)
        state = scaler.init((2,))
        state = scaler.update(state, jnp.array([1.0, 1.0]), jnp.array([False, True]))
        np.testing.assert_array_equal(state.returns, [1.0, 0.0])
        state = scaler.update(state, jnp.array([2.0, 2.0]), jnp.array([False, False]))
        np.testing.assert_array_equal(state.returns, [2.5, 2.0])  # 0.5 * 1 + 2; a fresh episode: 2

    def test_traced_gamma_under_vmap_over_seeds(self):
        gammas = jnp.array([0.0, 0.9, 0.99])
        rewards, dones = reward_stream(1, K=25, B=2)

        def run(gamma):
            scaler = reward_scaling(gamma)

            def body(state, xs):
                state = scaler.update(state, *xs)
                return state, scaler.scale(state, xs[0])

            return jax.lax.scan(body, scaler.init((2,)), (jnp.asarray(rewards), jnp.asarray(dones)))

        states, scaled = jax.jit(jax.vmap(run))(gammas)
        for i, gamma in enumerate(gammas.tolist()):
            ret, _, want = reference_reward_scaling(rewards, dones, gamma, 1e-8, 10.0, 1e-4)
            np.testing.assert_allclose(scaled[i], want, rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(states.returns[i], ret, rtol=1e-5, atol=1e-6)

    def test_shapes_are_checked(self):
        scaler = reward_scaling(0.9)
        with pytest.raises(ValueError, match="environment batch shape"):
            scaler.update(scaler.init((2,)), jnp.zeros(3), jnp.zeros(3, bool))
