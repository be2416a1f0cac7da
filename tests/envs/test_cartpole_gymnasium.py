"""gymnax's CartPole (rljax's CartPole-v0 and gymnax's CartPole-v1) against Gymnasium's.

Each test puts both implementations in the same state (Gymnasium through
``env.unwrapped.state``) and compares one step for both actions: next state within
float32 tolerance, same reward, same ``terminated``. The time limits are compared
with ``gymnasium.make(...).spec.max_episode_steps``.

Differences found (gymnax 1.0.1 vs Gymnasium 1.x), each pinned by a test below:

* Precision: gymnax keeps the state in float32 (no x64) and compares it with the
  thresholds in float32; Gymnasium keeps a float64 state and only casts the
  observation to float32. One step agrees to ~1e-7 relative, but trajectories
  drift apart over an episode (the system is chaotic), and a next state within a
  float32 ulp of a threshold can terminate in one and not the other (e.g.
  ``x == float32(2.4)`` is 2.4000000954 > 2.4 for Gymnasium, not > 2.4f for gymnax).
* Reward at termination: both give +1 on the terminating step. Stepping an
  already-terminal state gives 0 in gymnax (its reward is ``1 - prev_terminal``)
  but 1 in Gymnasium the first time (0 afterwards, with a warning). Unreachable
  in normal use: gymnax auto-resets and Gymnasium requires ``reset()``.
* ``sutton_barto_reward``: Gymnasium's option (0 per step, -1 on termination) has
  no gymnax counterpart; derive it as ``-terminated`` if needed.
* Observation space: gymnax bounds the velocities with ``float32.max``, Gymnasium
  with ``inf`` (same ±4.8 and ±0.419 for position and angle).
* Initial state: both U(-0.05, 0.05) in every dimension; Gymnasium also accepts
  ``reset(options={"low": ..., "high": ...})``, gymnax has no such option.
* Actions: gymnax computes ``force = force_mag * (2a - 1)`` without checking
  ``a``; Gymnasium asserts ``a in {0, 1}``.
* Types: gymnax's reward is a float32 array and ``terminated`` a bool array;
  Gymnasium returns a Python float and bool. Both observations are float32.
* Time limits: v0 200 and v1 500 steps in both; ``truncated`` is set on the step
  that reaches the limit, together with ``terminated`` if both happen at once.
"""

from __future__ import annotations

import dataclasses
import math
import warnings

import gymnasium
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from gymnax.environments.classic_control.cartpole import EnvState

import rljax

IDS = ["CartPole-v0", "CartPole-v1"]
X_T = 2.4
THETA_T = 12 * 2 * math.pi / 360
TAU = 0.02


def _gym(env_id: str) -> gymnasium.Env:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # CartPole-v0 is "out of date"
        return gymnasium.make(env_id)


def _sample_states(seed: int = 0) -> np.ndarray:
    """float32 ``[N, 4]`` non-terminal states: interior, near the thresholds, on-policy."""
    rng = np.random.default_rng(seed)
    interior = np.stack(
        [
            rng.uniform(-2.3, 2.3, 200),
            rng.uniform(-2.5, 2.5, 200),
            rng.uniform(-0.2, 0.2, 200),
            rng.uniform(-3.0, 3.0, 200),
        ],
        axis=1,
    )
    # Just inside a threshold, moving outwards fast enough that about half cross it
    # on the next step (x' = x + tau * x_dot, theta' likewise).
    near = []
    for dim, thresh in ((0, X_T), (2, THETA_T)):
        for sign in (-1.0, 1.0):
            n = 30
            gap = rng.uniform(1e-4, 0.03 * thresh, n)
            s = np.stack(
                [
                    rng.uniform(-2.0, 2.0, n),
                    rng.uniform(-1.0, 1.0, n),
                    rng.uniform(-0.15, 0.15, n),
                    rng.uniform(-1.0, 1.0, n),
                ],
                axis=1,
            )
            s[:, dim] = sign * (thresh - gap)
            s[:, dim + 1] = sign * gap / TAU * rng.uniform(0.0, 2.0, n)
            near.append(s)
    # States Gymnasium itself visits under random actions.
    env = _gym("CartPole-v1")
    env.reset(seed=seed)
    visited = []
    while len(visited) < 100:
        visited.append(np.array(env.unwrapped.state))
        _, _, terminated, truncated, _ = env.step(int(rng.integers(2)))
        if terminated or truncated:
            env.reset()
    states = np.concatenate([interior, *near, np.array(visited)]).astype(np.float32)
    assert not np.any((np.abs(states[:, 0]) > X_T) | (np.abs(states[:, 2]) > THETA_T))
    return states


def _gymnasium_step(env: gymnasium.Env, state: np.ndarray, action: int):
    env.reset()  # fresh TimeLimit counter and steps_beyond_terminated
    env.unwrapped.state = np.asarray(state, dtype=np.float64)
    obs, reward, terminated, truncated, _ = env.step(action)
    return obs, np.array(env.unwrapped.state), reward, terminated, truncated


def _gymnax_step(env, params, states: np.ndarray, actions: np.ndarray):
    """One vmapped ``env.step`` from each state; returns the pre-reset observation."""
    batch = EnvState(
        x=jnp.asarray(states[:, 0]),
        x_dot=jnp.asarray(states[:, 1]),
        theta=jnp.asarray(states[:, 2]),
        theta_dot=jnp.asarray(states[:, 3]),
        time=jnp.zeros(len(states), jnp.int32),
    )
    keys = jax.random.split(jax.random.key(0), len(states))
    step = jax.jit(jax.vmap(env.step, in_axes=(0, 0, 0, None)))
    _, _, reward, terminated, truncated, info = step(keys, batch, jnp.asarray(actions), params)
    return (
        np.asarray(info["final_observation"]),
        np.asarray(reward),
        np.asarray(terminated),
        np.asarray(truncated),
    )


@pytest.fixture(scope="module")
def states() -> np.ndarray:
    return _sample_states()


@pytest.mark.parametrize("env_id", IDS)
def test_one_step_matches_gymnasium(env_id: str, states: np.ndarray):
    env, params = rljax.make(env_id)
    gym_env = _gym("CartPole-v1")  # v0 and v1 share dynamics; only the limit differs
    all_states = np.concatenate([states, states])
    actions = np.repeat(np.array([0, 1], np.int32), len(states))
    next_gx, reward_gx, term_gx, trunc_gx = _gymnax_step(env, params, all_states, actions)

    results = [_gymnasium_step(gym_env, s, int(a)) for s, a in zip(all_states, actions)]
    obs_gym = np.stack([r[0] for r in results])
    state64 = np.stack([r[1] for r in results])
    reward_gym = np.array([r[2] for r in results])
    term_gym = np.array([r[3] for r in results])

    assert next_gx.dtype == obs_gym.dtype == np.float32
    np.testing.assert_allclose(next_gx, obs_gym, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(reward_gx, reward_gym)  # 1.0 everywhere, termination included
    assert np.all(reward_gx == 1.0)
    assert not trunc_gx.any()

    # Only a next state within float32 error of a threshold may legitimately differ.
    margin = np.minimum(np.abs(np.abs(state64[:, 0]) - X_T), np.abs(np.abs(state64[:, 2]) - THETA_T))
    clear = margin > 1e-5
    assert clear.mean() > 0.99
    np.testing.assert_array_equal(term_gx[clear], term_gym[clear])
    # The sample really exercises termination on both sides of the thresholds.
    assert 50 < term_gym.sum() < len(term_gym) - 50


@pytest.mark.parametrize("env_id, limit", [("CartPole-v0", 200), ("CartPole-v1", 500)])
def test_time_limits_match_gymnasium(env_id: str, limit: int):
    env, params = rljax.make(env_id)
    assert env.name == env_id
    assert params.max_steps_in_episode == limit == _gym(env_id).spec.max_episode_steps

    # gymnax: truncated exactly on the step whose counter reaches the limit.
    state = EnvState(x=0.0, x_dot=0.0, theta=0.0, theta_dot=0.0, time=0)
    for time, expected in ((limit - 2, False), (limit - 1, True)):
        *_, truncated, _ = env.step(jax.random.key(0), state.replace(time=time), 1, params)
        assert bool(truncated) is expected

    # Gymnasium: hold the pole upright so only the TimeLimit can end the episode.
    gym_env = _gym(env_id)
    gym_env.reset(seed=0)
    flags = []
    for _ in range(limit):
        gym_env.unwrapped.state = np.zeros(4)
        _, _, terminated, truncated, _ = gym_env.step(1)
        flags.append((terminated, truncated))
    assert flags[-1] == (False, True)
    assert not any(t for _, t in flags[:-1])


def test_physical_constants_match_gymnasium():
    _, params = rljax.make("CartPole-v1")
    gym = _gym("CartPole-v1").unwrapped
    for name in (
        "gravity",
        "masscart",
        "masspole",
        "total_mass",
        "length",
        "polemass_length",
        "force_mag",
        "tau",
        "theta_threshold_radians",
        "x_threshold",
    ):
        assert getattr(params, name) == pytest.approx(getattr(gym, name), rel=1e-12), name
    assert gym.kinematics_integrator == "euler"  # the only integrator gymnax has


def test_initial_state_range_matches_gymnasium():
    env, params = rljax.make("CartPole-v1")
    obs, _ = jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(jax.random.key(1), 4096), params)
    obs = np.asarray(obs)
    gym_env = _gym("CartPole-v1")
    gym_obs = np.stack([gym_env.reset(seed=i)[0] for i in range(512)])
    for o in (obs, gym_obs):
        assert o.dtype == np.float32
        assert np.all(np.abs(o) <= 0.05)
        assert np.all(o.min(axis=0) < -0.04) and np.all(o.max(axis=0) > 0.04)


def test_observation_space_bounds_differ_only_in_velocity_sentinel():
    env, params = rljax.make("CartPole-v1")
    high = np.asarray(env.observation_space(params).high, dtype=np.float64)
    gym_high = _gym("CartPole-v1").observation_space.high.astype(np.float64)
    np.testing.assert_allclose(high[[0, 2]], gym_high[[0, 2]], rtol=1e-6)
    assert np.all(high[[1, 3]] == np.finfo(np.float32).max)
    assert np.all(np.isinf(gym_high[[1, 3]]))


def test_documented_difference_stepping_a_terminal_state():
    """gymnax rewards 0 from an already-terminal state, Gymnasium 1 (first time only)."""
    env, params = rljax.make("CartPole-v1")
    s = np.array([3.0, 0.0, 0.0, 0.0], np.float32)  # past x_threshold
    _, reward_gx, term_gx, _ = _gymnax_step(env, params, s[None], np.array([1], np.int32))
    _, _, reward_gym, term_gym, _ = _gymnasium_step(_gym("CartPole-v1"), s, 1)
    assert term_gx[0] and term_gym
    assert reward_gx[0] == 0.0 and reward_gym == 1.0


def test_documented_difference_threshold_compared_in_float32():
    """A state exactly at float32(2.4) is past 2.4 for Gymnasium's float64 check only."""
    env, params = rljax.make("CartPole-v1")
    s = np.array([X_T, 0.0, 0.0, 0.0], np.float32)
    _, _, term_gx, _ = _gymnax_step(env, params, s[None], np.array([1], np.int32))
    _, _, _, term_gym, _ = _gymnasium_step(_gym("CartPole-v1"), s, 1)
    assert not term_gx[0] and term_gym


def test_documented_difference_no_sutton_barto_reward():
    from gymnax.environments.classic_control.cartpole import EnvParams

    assert "sutton_barto_reward" not in {f.name for f in dataclasses.fields(EnvParams)}
    gym_env = gymnasium.make("CartPole-v1", sutton_barto_reward=True)
    gym_env.reset(seed=0)
    gym_env.unwrapped.state = np.array([0.0, 0.0, 0.0, 0.0])
    assert gym_env.step(1)[1] == 0.0
    gym_env.unwrapped.state = np.array([X_T - 1e-3, 1.0, 0.0, 0.0])
    _, reward, terminated, _, _ = gym_env.step(1)
    assert terminated and reward == -1.0


def test_make_cartpole_v0_options():
    env, params = rljax.make("CartPole-v0", max_steps_in_episode=50)
    assert params.max_steps_in_episode == 50 and env.default_params.max_steps_in_episode == 200
    with pytest.raises(ValueError, match="unknown option.*'max_steps'.*its options: max_steps_in_episode"):
        rljax.make("CartPole-v0", max_steps=50)
