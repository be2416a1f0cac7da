"""Taxi-v3 against Gymnasium's reference table.

Gymnasium 1.3 refuses ``gymnasium.make("Taxi-v3")`` as deprecated; ``Taxi-v4``
with default arguments (``is_rainy=False``, ``fickle_passenger=False``) has the
same dry, deterministic table, which the first test checks.
"""

from __future__ import annotations

import gymnasium
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rljax.envs import make
from rljax.envs.tabular import EnvState
from rljax.envs.taxi import LOCS, decode, encode, make_taxi

GYM_ID = "Taxi-v4"


@pytest.fixture(scope="module")
def gym_taxi():
    return gymnasium.make(GYM_ID).unwrapped


@pytest.fixture(scope="module")
def taxi():
    return make_taxi()


def _in_episode(s: int) -> bool:
    """States an episode can visit before termination: passenger not yet at the destination."""
    _, _, pass_loc, dest_idx = decode(s)
    return pass_loc != dest_idx


def test_reference_is_the_classic_deterministic_taxi(gym_taxi):
    assert not gym_taxi.fickle_passenger
    assert len(gym_taxi.P) == 500
    for s in range(500):
        assert sorted(gym_taxi.P[s]) == list(range(6))
        for a in range(6):
            outcomes = gym_taxi.P[s][a]
            assert len(outcomes) == 1 and outcomes[0][0] == 1.0, (s, a, outcomes)


def test_encode_decode_match_gymnasium(gym_taxi):
    for s in range(500):
        assert decode(s) == tuple(gym_taxi.decode(s))
        assert encode(*decode(s)) == s == gym_taxi.encode(*decode(s))


def test_table_matches_gymnasium(taxi, gym_taxi):
    env, _ = taxi
    m = env.model
    assert m.next_state.shape == (500, 6, 1) and m.action_mask.all()
    for s in range(500):
        for a in range(6):
            ((p, s_next, r, done),) = gym_taxi.P[s][a]
            assert m.next_state[s, a, 0] == s_next, (s, a)
            assert m.prob[s, a, 0] == p, (s, a)
            assert m.reward[s, a, 0] == r, (s, a)
            if _in_episode(s):
                assert m.terminal[s_next] == done, (s, a)


def test_terminated_differs_only_after_delivery(taxi, gym_taxi):
    """Gymnasium flags the delivery transition; rljax flags the state it leads to.

    The two disagree only on moves from post-delivery states (never stepped from,
    since the episode has ended) into the four delivered states.
    """
    env, _ = taxi
    terminal = env.model.terminal
    delivered = {encode(*LOCS[d], d, d) for d in range(4)}
    assert set(np.flatnonzero(terminal)) == delivered
    mismatches = []
    for s in range(500):
        for a in range(6):
            ((_, s_next, _, done),) = gym_taxi.P[s][a]
            if terminal[s_next] != done:
                mismatches.append((s, a, s_next, done))
    assert mismatches  # the known difference exists ...
    for s, _, s_next, done in mismatches:  # ... and is only this one
        assert not _in_episode(s) and s_next in delivered and not done


def test_every_delivery_is_terminal_and_rewarded(taxi, gym_taxi):
    env, _ = taxi
    deliveries = [(s, a) for s in range(500) for a in range(6) if gym_taxi.P[s][a][0][3]]
    assert len(deliveries) == 4  # taxi at the destination with the passenger, dropoff
    for s, a in deliveries:
        assert a == 5
        assert env.model.reward[s, a, 0] == 20.0
        assert env.model.terminal[env.model.next_state[s, a, 0]]


def test_initial_distribution_matches_gymnasium(taxi, gym_taxi):
    env, _ = taxi
    np.testing.assert_allclose(env.model.initial, gym_taxi.initial_state_distrib, atol=1e-7)
    support = np.flatnonzero(env.model.initial)
    assert len(support) == 300
    for s in support:
        _, _, pass_loc, dest_idx = decode(s)
        assert pass_loc < 4 and pass_loc != dest_idx


def test_time_limit_matches_gymnasium(taxi):
    env, params = taxi
    assert params.max_steps_in_episode == gymnasium.make(GYM_ID).spec.max_episode_steps == 200
    registry_env, registry_params = make("Taxi-v3")
    assert registry_env.name == "Taxi-v3"
    assert registry_params.max_steps_in_episode == 200
    assert make_taxi(max_steps_in_episode=50)[1].max_steps_in_episode == 50


def test_jitted_steps_follow_the_table(taxi, gym_taxi):
    env, params = taxi
    rng = np.random.default_rng(0)
    episode_states = np.array([s for s in range(500) if _in_episode(s)])
    n = 400
    states = rng.choice(episode_states, n)
    actions = rng.integers(0, 6, n)
    # Include all four deliveries so termination is exercised.
    states[:4] = [encode(*LOCS[d], 4, d) for d in range(4)]
    actions[:4] = 5
    batch = EnvState(position=jnp.asarray(states, jnp.int32), time=jnp.zeros(n, jnp.int32))
    keys = jax.random.split(jax.random.key(0), n)
    step = jax.jit(jax.vmap(env.step, in_axes=(0, 0, 0, None)))
    obs, new_state, reward, terminated, truncated, info = step(keys, batch, jnp.asarray(actions, jnp.int32), params)
    final = np.asarray(info["final_observation"])
    expected = [gym_taxi.P[int(s)][int(a)][0] for s, a in zip(states, actions)]
    np.testing.assert_array_equal(final, [e[1] for e in expected])
    np.testing.assert_array_equal(reward, [e[2] for e in expected])
    np.testing.assert_array_equal(terminated, [e[3] for e in expected])
    assert np.asarray(terminated)[:4].all()
    assert not np.asarray(truncated).any()
    # Auto-reset: terminated steps restart in an initial state at time 0.
    obs, terminated = np.asarray(obs), np.asarray(terminated)
    np.testing.assert_array_equal(obs[~terminated], final[~terminated])
    assert (env.model.initial[obs[terminated]] > 0).all()
    np.testing.assert_array_equal(new_state.time, np.where(terminated, 0, 1))


def test_scripted_delivery_and_truncation(taxi):
    env, params = taxi
    S, N, E, W, PICKUP, DROPOFF = range(6)
    # Passenger at R (0, 0), destination G (0, 4), taxi at (2, 2). The wall east
    # of (0, 1) forces the detour through row 2.
    start = encode(2, 2, 0, 1)
    plan = [W, W, N, N, PICKUP, S, S, E, E, E, E, N, N, DROPOFF]
    step = jax.jit(env.step)
    state = EnvState(position=jnp.int32(start), time=0)
    key = jax.random.key(1)
    total = 0.0
    for i, a in enumerate(plan):
        key, sub = jax.random.split(key)
        obs, state, reward, terminated, truncated, info = step(sub, state, a, params)
        total += float(reward)
        assert bool(terminated) == (i == len(plan) - 1)
    assert int(info["final_observation"]) == encode(0, 4, 1, 1)
    assert total == 20 - (len(plan) - 1)
    # The 200th step is truncated, not terminated.
    state = EnvState(position=jnp.int32(start), time=199)
    *_, terminated, truncated, _ = step(key, state, N, params)
    assert bool(truncated) and not bool(terminated)
