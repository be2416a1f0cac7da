"""The maze notes' tabular softmax policy gradient: the update rule, the maze's shortest path, errors."""

from __future__ import annotations

from collections import deque

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import rljax
from rljax.agents import get_agent
from rljax.agents.base import Clock, Transition
from rljax.agents.tabular_pg import TabularPGConfig, TabularPGState, policy, tabular_pg
from rljax.experiment import train
from rljax.training.batch import FAST_COMPILE
from rljax.training.plan import build


def run_theta(result, run: int) -> np.ndarray:
    theta = np.asarray(result.final_state.agent_state.theta)
    return theta.reshape((-1,) + theta.shape[2:])[run]


def bfs_shortest(env) -> int:
    """Fewest moves from the start to the goal, by breadth-first search on the model."""
    succ = env.model.next_state[:, :, 0]  # GridMaze is deterministic
    dist = {env.start: 0}
    frontier = deque([env.start])
    while frontier:
        s = frontier.popleft()
        for s2 in succ[s]:
            if int(s2) not in dist:
                dist[int(s2)] = dist[s] + 1
                frontier.append(int(s2))
    return dist[env.goal]


def greedy_path(env, theta: np.ndarray, limit: int = 100) -> list[int]:
    """States visited by the argmax policy from the start (stops at the goal or the limit)."""
    succ = env.model.next_state[:, :, 0]
    path = [env.start]
    while path[-1] != env.goal and len(path) <= limit:
        path.append(int(succ[path[-1], int(np.argmax(theta[path[-1]]))]))
    return path


def test_maze_notes_tabular_shortest_path_is_6():
    env, _ = rljax.make("GridMaze")
    assert bfs_shortest(env) == 6


@pytest.mark.parametrize("update_rule", ["inverse-length", "reinforce"])
def test_maze_ends_on_the_shortest_path_for_every_seed(update_rule):
    overrides = {"update_rule": update_rule}
    if update_rule == "reinforce":
        overrides["gamma"] = 0.9
    result = train(
        "tabular_pg", "GridMaze", seeds=range(8), overrides=overrides, eval_episodes=1, compiler_options=FAST_COMPILE
    )
    env, _ = rljax.make("GridMaze")
    shortest = bfs_shortest(env)
    for run in range(8):
        path = greedy_path(env, run_theta(result, run))
        assert path[-1] == env.goal and len(path) - 1 == shortest, (run, path)
    np.testing.assert_array_equal(result.final_eval_return, 1.0)


def test_custom_maze_shortest_path():
    layout = dict(rows=3, cols=4, walls=[(1, 5), (2, 6), (5, 9), (6, 10), (7, 11)], start=0, goal=11)
    result = train(
        "tabular_pg",
        "GridMaze",
        seeds=range(4),
        env_kwargs={"layout": layout},
        total_steps=200_000,
        eval_episodes=1,
        lane_width=4,
        compiler_options=FAST_COMPILE,
    )
    env, _ = rljax.make("GridMaze", layout=layout)
    for run in range(4):
        path = greedy_path(env, run_theta(result, run))
        assert path[-1] == env.goal and len(path) - 1 == bfs_shortest(env), (run, path)


def notes_update_theta(theta, pi, s_a_history, eta):
    """The maze notes' ``Agent.update_theta`` for one episode, with its ``+ eta +`` typo fixed
    to ``+ eta *`` and every action allowed (no NaN entries)."""
    T = len(s_a_history) - 1
    delta = np.zeros_like(theta)
    for i in range(theta.shape[0]):
        for j in range(theta.shape[1]):
            N_i = len([sa for sa in s_a_history if sa[0] == i])
            N_ij = len([sa for sa in s_a_history if sa[0] == i and sa[1] == j])
            delta[i, j] = (N_ij - pi[i, j] * N_i) / T
    return theta + eta * delta


def test_update_is_seeds_rule_averaged_over_episodes():
    rng = np.random.default_rng(0)
    S, A, K = 5, 4, 7
    theta = rng.normal(size=(S, A)).astype(np.float32)
    lengths = [3, 7]  # two episodes; garbage after the first one's end
    obs = rng.integers(0, S - 1, size=(K, 2))
    action = rng.integers(0, A, size=(K, 2))
    valid = np.zeros((K, 2), bool)
    done = np.zeros((K, 2), bool)
    for b, n in enumerate(lengths):
        valid[:n, b] = True
        done[n - 1, b] = True
    batch = Transition(
        obs=jnp.asarray(obs),
        action=jnp.asarray(action),
        reward=jnp.zeros((K, 2)),
        next_obs=jnp.asarray(obs),
        terminated=jnp.asarray(done),
        truncated=jnp.zeros((K, 2), bool),
        valid=jnp.asarray(valid),
    )
    config = TabularPGConfig(learning_rate=0.3, beta=1.5)
    new, _ = tabular_pg.update(
        jax.random.PRNGKey(0), TabularPGState(jnp.asarray(theta)), batch, config, Clock.start(100)
    )
    pi = np.asarray(policy(jnp.asarray(theta), 1.5))
    expected = np.zeros_like(theta)
    for b, n in enumerate(lengths):
        # the seed's history: (state, action) pairs, then the final (goal, nan); like the
        # seed's theta (no row for S8), the table passed has no row for the goal S - 1
        history = [[int(obs[t, b]), int(action[t, b])] for t in range(n)] + [[S - 1, np.nan]]
        expected[:-1] += notes_update_theta(theta[:-1], pi[:-1], history, 0.3) - theta[:-1]
    np.testing.assert_allclose(np.asarray(new.theta), theta + expected / 2, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "override,match",
    [
        ({"num_envs": 0}, "num_envs"),
        ({"learning_rate": 0.0}, "learning_rate"),
        ({"beta": -1.0}, "beta"),
        ({"gamma": 1.5}, "gamma"),
        ({"update_rule": "adam"}, "update_rule"),
    ],
)
def test_bad_hyperparameters(override, match):
    with pytest.raises(ValueError, match=match):
        build("tabular_pg", "GridMaze", override, total_steps=10)


def test_continuous_observations_are_rejected():
    with pytest.raises(ValueError, match="discrete observations"):
        build("tabular_pg", "CartPole-v1", total_steps=10)


def test_registered_and_episodic():
    agent = get_agent("tabular_pg")
    assert agent is tabular_pg and agent.episodic
    _, params = rljax.make("GridMaze")
    assert agent.rollout_length(TabularPGConfig(), params) == params.max_steps_in_episode
