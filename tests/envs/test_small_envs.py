"""Chain, probes, GridMaze, TabularMDP and BernoulliBandit: models, stepping, registry, errors."""

from __future__ import annotations

import functools
from collections import deque

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import rljax
from rljax.envs.bandit import EnvParams as BanditParams
from rljax.envs.chain import make_chain
from rljax.envs.grid_maze import MazeLayout, make_grid_maze
from rljax.envs.probes import make_probe_1, make_probe_2, make_probe_3, make_probe_4, make_probe_5
from rljax.envs.tabular import EnvState, TabularModel
from rljax.envs.tabular_mdp import make_tabular_mdp, three_state_mdp

# ---------------------------------------------------------------- helpers


@functools.lru_cache(maxsize=None)
def made(env_id: str, **kwargs):
    """``rljax.make`` once per configuration: gymnax jits per env instance, so
    sharing instances keeps compilations (most of this file's run time) down."""
    return rljax.make(env_id, **kwargs)


def q_iteration(model: TabularModel, gamma: float, iters: int = 300) -> np.ndarray:
    """Synchronous Bellman optimality updates from Q = 0 (impossible actions -inf).

    Entering a terminal state ends the episode, so its value is 0.
    """
    T, R = model.T, model.R
    Q = np.where(model.action_mask, 0.0, -np.inf)
    for _ in range(iters):
        V = np.where(model.terminal, 0.0, Q.max(axis=1))
        Q = np.where(model.action_mask, (T * (R + gamma * V[None, None, :])).sum(axis=2), -np.inf)
    return Q


def bfs_path(model: TabularModel, start: int, goal: int) -> list[int] | None:
    """A shortest state path from start to goal over the model's possible transitions."""
    parent = {start: None}
    frontier = deque([start])
    while frontier:
        s = frontier.popleft()
        if s == goal:
            path = [s]
            while parent[path[-1]] is not None:
                path.append(parent[path[-1]])
            return path[::-1]
        for a in range(model.num_actions):
            for k in range(model.next_state.shape[2]):
                s2 = int(model.next_state[s, a, k])
                if model.prob[s, a, k] > 0 and s2 not in parent:
                    parent[s2] = s
                    frontier.append(s2)
    return None


def rollout(env, params, actions, seed: int = 0) -> list[tuple]:
    """Steps ``actions`` from a reset; one (obs, reward, terminated, truncated, final_obs) per step."""
    key = jax.random.key(seed)
    key, k = jax.random.split(key)
    _, state = env.reset(k, params)
    out = []
    for a in actions:
        key, k = jax.random.split(key)
        obs, state, reward, terminated, truncated, info = env.step(k, state, a, params)
        out.append((int(obs), float(reward), bool(terminated), bool(truncated), int(info["final_observation"])))
    return out


def step_from(env, params, position: int, action: int, seed: int = 0):
    """One step of a TabularEnv from a chosen state."""
    state = EnvState(position=jnp.int32(position), time=0)
    return env.step(jax.random.key(seed), state, action, params)


def binomial_ok(successes: int, n: int, p: float, sigmas: float = 5.0) -> bool:
    return abs(successes / n - p) <= sigmas * np.sqrt(p * (1 - p) / n) + 1e-9


# ---------------------------------------------------------------- Chain


def test_chain_model_is_the_dssyssr_corridor():
    env, _ = made("Chain")
    m = env.model
    assert (env.length, env.start, env.num_states, env.num_actions) == (7, 3, 7, 2)
    np.testing.assert_array_equal(m.initial, np.eye(7)[3])
    np.testing.assert_array_equal(m.terminal, [True, False, False, False, False, False, True])
    T = m.T
    for s in range(1, 6):
        assert T[s, 0, s - 1] == 1.0 and T[s, 1, s + 1] == 1.0
    expected_r = np.zeros((7, 2))
    expected_r[5, 1] = 1.0  # only entering cell 6 pays
    np.testing.assert_array_equal((T * m.R).sum(axis=2), expected_r)


def test_chain_rollouts_right_pays_left_dies():
    env, params = made("Chain")
    right = rollout(env, params, [1, 1, 1, 1])
    assert [r[1] for r in right] == [0.0, 0.0, 1.0, 0.0]
    assert [r[2] for r in right] == [False, False, True, False]
    assert right[2][4] == 6 and right[2][0] == 3  # final obs is the goal, then auto-reset to 3
    assert right[3][0] == 4  # a new episode continues from the start
    left = rollout(env, params, [0, 0, 0])
    assert [(r[1], r[2]) for r in left] == [(0.0, False), (0.0, False), (0.0, True)]
    assert left[2][4] == 0


def test_chain_truncates_at_time_limit():
    assert make_chain(max_steps_in_episode=3)[1].max_steps_in_episode == 3
    env, params = made("Chain")
    # The limit is a traced param: the compiled step of the default Chain is reused.
    steps = rollout(env, params.replace(max_steps_in_episode=3), [0, 1, 0])
    assert [(r[2], r[3]) for r in steps] == [(False, False), (False, False), (False, True)]


def test_chain_optimal_q_matches_seed_and_value_iteration():
    gamma = 0.9
    env, _ = made("Chain")
    q = env.optimal_q(gamma)
    # The seed: Q(5, right) = 1, Q(4, right) = gamma, Q(3, right) = gamma^2.
    assert q[5, 1] == 1.0 and q[4, 1] == pytest.approx(gamma) and q[3, 1] == pytest.approx(gamma**2)
    np.testing.assert_allclose(q, q_iteration(env.model, gamma), atol=1e-9)
    long_env, _ = make_chain(length=10, start=2)
    np.testing.assert_allclose(long_env.optimal_q(0.5), q_iteration(long_env.model, 0.5), atol=1e-9)


def test_chain_custom_length_and_start():
    env, _ = rljax.make("Chain", length=9, start=2)
    assert env.num_states == 9 and env.start == 2
    np.testing.assert_array_equal(env.model.initial, np.eye(9)[2])
    assert make_chain(length=3)[0].start == 1


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(length=2), "length must be >= 3"),
        (dict(start=0), "strictly inside"),
        (dict(start=6), "strictly inside"),
        (dict(length=5, start=-1), "strictly inside"),
        (dict(max_steps_in_episode=0), "max_steps_in_episode"),
    ],
)
def test_chain_rejects_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_chain(**kwargs)


# ---------------------------------------------------------------- probes

PROBES = {
    # id: (factory, num_actions, non-terminal states, episode length, optimal policy)
    "Probe-ConstantReward": (make_probe_1, 1, 1, 1, [0]),
    "Probe-ObsDependentReward": (make_probe_2, 1, 2, 1, [0, 0]),
    "Probe-DiscountedReward": (make_probe_3, 1, 2, 2, [0, 0]),
    "Probe-ActionDependentReward": (make_probe_4, 2, 1, 1, [1]),
    "Probe-ActionObsDependentReward": (make_probe_5, 2, 2, 1, [0, 1]),
}


@pytest.mark.parametrize("env_id", sorted(PROBES))
def test_probe_shape_and_expected_values(env_id):
    factory, num_actions, n, _, policy = PROBES[env_id]
    env, _ = made(env_id)
    assert type(env) is type(factory()[0]) and env.name == env_id
    assert env.num_actions == num_actions and env.num_states == n + 1
    assert env.num_nonterminal_states == n and env.terminal_state == n
    assert env.model.terminal.tolist() == [False] * n + [True]
    np.testing.assert_array_equal(env.optimal_policy, policy)
    for gamma in (0.0, 0.5, 0.99):
        q = env.expected_q(gamma)
        assert q.shape == (n, num_actions)
        np.testing.assert_allclose(q, q_iteration(env.model, gamma)[:n], atol=1e-9)
        np.testing.assert_allclose(env.expected_v(gamma), q.max(axis=1))


def test_probe_values_are_the_documented_ones():
    assert make_probe_1()[0].expected_q(0.9).tolist() == [[1.0]]
    assert make_probe_2()[0].expected_q(0.9).tolist() == [[-1.0], [1.0]]
    assert make_probe_3()[0].expected_q(0.9).tolist() == [[0.9], [1.0]]
    assert make_probe_4()[0].expected_q(0.9).tolist() == [[-1.0, 1.0]]
    assert make_probe_5()[0].expected_q(0.9).tolist() == [[1.0, -1.0], [-1.0, 1.0]]


@pytest.mark.parametrize("env_id", sorted(PROBES))
def test_probe_episode_length_and_rewards(env_id):
    _, num_actions, n, length, _ = PROBES[env_id]
    env, params = made(env_id)
    for s in range(n):
        for a in range(num_actions):
            _, _, reward, terminated, _, info = step_from(env, params, s, a)
            final = int(info["final_observation"])
            if env_id == "Probe-DiscountedReward" and s == 0:
                assert (float(reward), bool(terminated), final) == (0.0, False, 1)
            else:
                assert float(reward) == env.expected_q(0.9)[s, a]
                assert bool(terminated) and final == n
    # From a reset, the episode lasts exactly `length` steps.
    steps = rollout(env, params, [0] * length)
    assert [r[2] for r in steps] == [False] * (length - 1) + [True]


def test_probe_initial_observations():
    for env_id in ("Probe-ConstantReward", "Probe-DiscountedReward", "Probe-ActionDependentReward"):
        np.testing.assert_array_equal(made(env_id)[0].model.initial[0], 1.0)  # always state 0
    n = 4000
    keys = jax.random.split(jax.random.key(1), n)
    # Probe 2: a random observation, and the reward it predicts.
    env, params = made("Probe-ObsDependentReward")
    obs, states = jax.vmap(env.reset, in_axes=(0, None))(keys, params)
    assert set(np.asarray(obs).tolist()) == {0, 1} and binomial_ok(int(obs.sum()), n, 0.5)
    reward = jax.vmap(env.step, in_axes=(0, 0, None, None))(keys, states, 0, params)[2]
    np.testing.assert_array_equal(reward, 2.0 * np.asarray(obs) - 1.0)
    # Probe 5: +1 for the action equal to the observation, -1 for the other.
    env, params = made("Probe-ActionObsDependentReward")
    np.testing.assert_array_equal(env.model.initial, [0.5, 0.5, 0.0])  # sampled as probe 2's
    states = EnvState(position=obs, time=jnp.zeros(n, dtype=jnp.int32))
    step = jax.vmap(env.step, in_axes=(0, 0, 0, None))
    actions = jnp.concatenate([obs[: n // 2], 1 - obs[n // 2 :]])
    reward = np.asarray(step(keys, states, actions, params)[2])
    assert np.all(reward[: n // 2] == 1.0) and np.all(reward[n // 2 :] == -1.0)


def test_probe_rejects_bad_time_limit():
    with pytest.raises(ValueError, match="max_steps_in_episode"):
        make_probe_3(max_steps_in_episode=0)


# ---------------------------------------------------------------- GridMaze

nan = np.nan
# The maze notes' allowed-move table (up, right, down, left), S0..S7; S8 is the goal.
NOTES_THETA = np.array(
    [
        [nan, 1, 1, nan],  # S0
        [nan, 1, nan, nan],  # S1
        [nan, nan, 1, 1],  # S2
        [1, nan, nan, nan],  # S3
        [nan, 1, 1, nan],  # S4
        [1, nan, nan, 1],  # S5
        [nan, 1, nan, nan],  # S6
        [1, 1, nan, 1],  # S7
    ]
)


def notes_step(state: int, action: int) -> int:
    return state + (-3, 1, 3, -1)[action]  # the seed's step function


def test_grid_maze_walls_match_seed_table_exactly():
    env, _ = made("GridMaze")
    allowed = ~np.isnan(NOTES_THETA)
    np.testing.assert_array_equal(env.allowed_moves[:8], allowed)
    nxt = env.model.next_state[:, :, 0]
    for s in range(8):
        for a in range(4):
            assert nxt[s, a] == (notes_step(s, a) if allowed[s, a] else s), (s, a)
    expected_r = np.zeros((9, 4))
    expected_r[7, 1] = 1.0  # S7 -> right is the only way into S8
    np.testing.assert_array_equal((env.model.T * env.model.R).sum(axis=2), expected_r)
    assert env.model.terminal.tolist() == [False] * 8 + [True]
    assert (env.rows, env.cols, env.start, env.goal) == (3, 3, 0, 8)
    assert env.walls == ((1, 4), (3, 4), (3, 6), (5, 8)) and env.one_way == ((1, 0),)


def test_grid_maze_shortest_path_is_six_moves():
    # With the seed's walls S3 is a dead end (S3|S4 and S3|S6 are walled), so
    # S0 -> S3 -> S4 -> S7 -> S8 is impossible and the way round is 6 moves.
    env, params = made("GridMaze")
    assert bfs_path(env.model, env.start, env.goal) == [0, 1, 2, 5, 4, 7, 8]
    assert bfs_path(env.model, 3, 4) is None or len(bfs_path(env.model, 3, 4)) > 2
    up, right, down, left = 0, 1, 2, 3
    steps = rollout(env, params, [right, right, down, left, down, right])
    assert [r[1] for r in steps] == [0.0] * 5 + [1.0]
    assert [r[2] for r in steps] == [False] * 5 + [True]
    assert [r[0] for r in steps[:5]] == [1, 2, 5, 4, 7]
    assert steps[5][4] == 8 and steps[5][0] == 0  # final obs is the goal, then reset to S0
    # A blocked move (up from S0, into the border) stays put with reward 0.
    obs, _, reward, terminated, _, _ = step_from(env, params, 0, up)
    assert (int(obs), float(reward), bool(terminated)) == (0, 0.0, False)


def test_grid_maze_custom_layouts():
    env, _ = rljax.make("GridMaze", layout=dict(rows=2, cols=3, walls=[(4, 1)], start=0, goal=5))
    assert env.walls == ((1, 4),) and env.num_states == 6
    assert len(bfs_path(env.model, 0, 5)) - 1 == 3
    assert env.model.next_state[1, 2, 0] == 1 and env.model.next_state[4, 0, 0] == 4
    # The goal defaults to the last cell; one_way blocks a single direction.
    env, _ = make_grid_maze(MazeLayout(rows=1, cols=3, one_way=((1, 0),)))
    assert env.goal == 2
    assert env.model.next_state[1, 3, 0] == 1 and env.model.next_state[0, 1, 0] == 1
    # Closing the only corridor makes the shortest path longer.
    env, _ = make_grid_maze(dict(rows=3, cols=3, walls=[(0, 1), (4, 5), (4, 7)], goal=8))
    assert bfs_path(env.model, 0, 8) == [0, 3, 6, 7, 8]


@pytest.mark.parametrize(
    "layout, match",
    [
        (dict(rows=1, cols=1), "at least 2 cells"),
        (dict(rows=2, cols=2, walls=[(0, 3)]), "not adjacent"),
        (dict(rows=2, cols=2, walls=[(2, 3), (3, 4)]), "outside the 2x2 grid"),
        (dict(rows=1, cols=4, walls=[(2, 3, 4)]), "not a pair"),
        (dict(rows=2, cols=2, one_way=[(1, 2)]), "one_way .* not adjacent"),
        (dict(rows=2, cols=2, start=3, goal=3), "start and goal must differ"),
        (dict(rows=2, cols=2, goal=4), "goal 4 is outside"),
        (dict(rows=2, cols=2, start=-1), "start -1 is outside"),
        (dict(rows=2, cols=2, walls=[(0, 1), (0, 2)]), "cannot be reached"),
        (dict(rows=2, cols=2, hole=1), "unknown maze layout keys"),
        ("#.#", "must be a MazeLayout"),
    ],
)
def test_grid_maze_rejects_bad_layouts(layout, match):
    with pytest.raises(ValueError, match=match):
        make_grid_maze(layout)


# ---------------------------------------------------------------- TabularMDP

LECTURE_Q = np.array(
    [
        [18.91891892, 17.02702702, 13.62162162],
        [0.0, -np.inf, -4.87971488],
        [-np.inf, 50.13365013, -np.inf],
    ]
)


def test_tabular_mdp_lecture_preset_reproduces_seed_q_values():
    env, params = made("TabularMDP", preset="lecture-3-state")
    assert env.name == "TabularMDP" and (env.num_states, env.num_actions) == (3, 3)
    np.testing.assert_array_equal(env.model.action_mask, [[1, 1, 1], [1, 0, 1], [0, 1, 0]])
    np.testing.assert_array_equal(env.model.initial, [1.0, 0.0, 0.0])
    # The seed ran 50 synchronous updates from Q = 0 with gamma = 0.9.
    np.testing.assert_allclose(q_iteration(env.model, 0.9, iters=50), LECTURE_Q, atol=1e-6)
    # The same MDP from the raw arrays.
    T, R, mask = three_state_mdp()
    env2, _ = make_tabular_mdp(T, R, action_mask=mask)
    for field in ("next_state", "prob", "reward", "initial", "action_mask", "terminal"):
        np.testing.assert_array_equal(getattr(env.model, field), getattr(env2.model, field))


def test_tabular_mdp_sampled_transitions_follow_T():
    T, _, _ = three_state_mdp()
    env, params = made("TabularMDP", preset="lecture-3-state")
    n = 4000
    keys = jax.random.split(jax.random.key(3), n)
    states = EnvState(position=jnp.full(n, 2, dtype=jnp.int32), time=jnp.zeros(n, dtype=jnp.int32))
    step = jax.vmap(env.step, in_axes=(0, 0, None, None))
    obs, _, reward, terminated, _, _ = step(keys, states, 1, params)
    obs, reward = np.asarray(obs), np.asarray(reward)
    for s2, p in enumerate(T[2, 1]):  # [0.8, 0.1, 0.1]
        assert binomial_ok(int((obs == s2).sum()), n, p), (s2, (obs == s2).mean())
    np.testing.assert_array_equal(reward, np.where(obs == 0, 40.0, 0.0))
    assert not np.any(np.asarray(terminated))
    # An impossible action (1 in state 1) is a no-op with reward 0.
    obs, _, reward, _, _, _ = step(keys, states.replace(position=states.position - 1), 1, params)
    assert np.all(np.asarray(obs) == 1) and np.all(np.asarray(reward) == 0.0)


def test_tabular_mdp_terminal_states():
    T = np.zeros((2, 1, 2))
    T[:, 0, 1] = 1.0
    R = np.zeros((2, 1, 2))
    R[0, 0, 1] = 5.0
    env, params = make_tabular_mdp(T, R, terminal=[False, True], max_steps_in_episode=7)
    assert env.model.terminal.tolist() == [False, True] and params.max_steps_in_episode == 7
    np.testing.assert_array_equal(env.model.initial, [1.0, 0.0])  # state 0 by default
    np.testing.assert_allclose(q_iteration(env.model, 0.9), [[5.0], [0.0]])
    # `initial` may be a start state instead of a distribution.
    np.testing.assert_array_equal(make_tabular_mdp(T, R, initial=1)[0].model.initial, [0.0, 1.0])


def _lecture_with(**changes):
    T, R, mask = three_state_mdp()
    kwargs = dict(T=T, R=R, action_mask=mask)
    kwargs.update(changes)
    return kwargs


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (_lecture_with(T=three_state_mdp()[0] * 0.5), r"T\[0, 0, :\] sums to 0.5"),
        (_lecture_with(R=np.zeros((3, 3, 2))), "R must have the same shape"),
        (_lecture_with(T=np.ones((3, 3))), r"T must have shape \[S, A, S\]"),
        (_lecture_with(T=np.ones((3, 3, 2)) / 2), r"T must have shape \[S, A, S\]"),
        (_lecture_with(action_mask=np.ones((3, 2), bool)), "action_mask must have shape"),
        (_lecture_with(terminal=[True, False]), "terminal must have shape"),
        (_lecture_with(initial=[0.5, 0.2, 0.2]), "initial distribution must be >= 0 and sum to 1"),
        (_lecture_with(initial=3), "initial state 3 is outside the 3 states"),
        (dict(T=three_state_mdp()[0]), "needs both T"),
        (dict(preset="blog"), "unknown TabularMDP preset"),
        (dict(preset="lecture-3-state", T=three_state_mdp()[0]), "either preset or T"),
        (dict(preset="lecture-3-state", max_steps_in_episode=0), "max_steps_in_episode"),
    ],
)
def test_tabular_mdp_rejects_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_tabular_mdp(**kwargs)


def test_tabular_mdp_impossible_action_rows_are_not_validated():
    T, R, mask = three_state_mdp()
    T[1, 1] = 7.0  # garbage in a masked row is ignored...
    make_tabular_mdp(T, R, action_mask=mask)
    with pytest.raises(ValueError, match=r"T\[1, 1, :\] sums to 21"):
        make_tabular_mdp(T, R)  # ...but checked once the action is allowed


# ---------------------------------------------------------------- BernoulliBandit


def test_bandit_pull_frequencies_and_vmap_over_instances():
    env, params = made("BernoulliBandit")
    assert env.num_actions == 3 and env.best_arm == 0
    assert params.max_steps_in_episode == 1 and params.probs.dtype == jnp.float32
    # One batch (one compilation): n pulls of each arm of the default bandit,
    # then arm 0 of three other bandits whose outcomes are certain.
    n = 20000
    other = jnp.array([[0.0, 1.0, 1.0], [1.0, 0.0, 0.0], [1.0, 1.0, 1.0]], dtype=jnp.float32)
    batch = BanditParams(probs=jnp.concatenate([jnp.tile(params.probs, (3 * n, 1)), other]))
    arms = jnp.concatenate([jnp.repeat(jnp.arange(3), n), jnp.zeros(3, dtype=jnp.int32)])
    keys = jax.random.split(jax.random.key(4), 3 * n + 3)
    obs, states = jax.vmap(env.reset)(keys, batch)
    assert obs.dtype == jnp.int32 and np.all(np.asarray(obs) == 0)
    obs, _, reward, terminated, _, _ = jax.vmap(env.step)(keys, states, arms, batch)
    assert obs.dtype == jnp.int32 and np.all(np.asarray(obs) == 0)
    assert reward.dtype == jnp.float32 and set(np.unique(np.asarray(reward))) <= {0.0, 1.0}
    assert np.all(np.asarray(terminated))
    reward = np.asarray(reward)
    np.testing.assert_array_equal(reward[3 * n :], [0.0, 1.0, 1.0])
    wins = reward[: 3 * n].reshape(3, n).sum(axis=1)
    for arm, p in enumerate((0.7, 0.2, 0.3)):
        assert binomial_ok(int(wins[arm]), n, p), (arm, wins[arm] / n)


def test_bandit_model_for_planning():
    env, _ = rljax.make("BernoulliBandit", probs=[0.1, 0.9, 0.5, 0.0])
    m = env.model
    assert m.next_state.shape == (2, 4, 2) and m.terminal.tolist() == [False, True]
    np.testing.assert_allclose(m.prob.sum(axis=2), 1.0)
    np.testing.assert_allclose(m.T.sum(axis=2), 1.0)
    np.testing.assert_allclose(q_iteration(m, 0.9)[0], [0.1, 0.9, 0.5, 0.0], atol=1e-6)
    assert env.best_arm == 1


@pytest.mark.parametrize(
    "probs, match",
    [
        ((0.5,), "at least 2 arm"),
        ([[0.1, 0.2]], "at least 2 arm"),
        ((0.5, 1.5), r"probs\[1\] = 1.5"),
        ((-0.1, 0.5), r"probs\[0\] = -0.1"),
        ((0.5, float("nan")), r"in \[0, 1\]"),
    ],
)
def test_bandit_rejects_bad_probs(probs, match):
    with pytest.raises(ValueError, match=match):
        rljax.make("BernoulliBandit", probs=probs)


# ---------------------------------------------------------------- registry

SMALL_ENV_IDS = ["Chain", "GridMaze", "TabularMDP", "BernoulliBandit", *sorted(PROBES)]


@pytest.mark.parametrize("env_id", SMALL_ENV_IDS)
def test_make_builds_each_small_env(env_id):
    kwargs = dict(preset="lecture-3-state") if env_id == "TabularMDP" else {}
    env, params = made(env_id, **kwargs)
    assert env_id in rljax.registered_ids()
    assert env.name == env_id
    key = jax.random.key(0)
    obs, state = env.reset(key, params)
    assert obs.dtype == jnp.int32 and obs.shape == ()
    assert env.observation_space(params).contains(obs)
    obs, state, reward, terminated, truncated, _ = env.step(key, state, env.num_actions - 1, params)
    assert reward.dtype == jnp.float32 and terminated.dtype == jnp.bool_
    assert env.observation_space(params).contains(obs)
