"""Real learning runs of the tabular agents, 16 seeds each, against the issue's thresholds."""

import numpy as np
import pytest

import rljax
from rljax.experiment import train
from rljax.training.batch import FAST_COMPILE


def test_taxi_q_learning_every_seed_near_optimal():
    result = train("q_learning", "Taxi-v3", seeds=range(16))
    # the optimal policy's mean return is about 7.9; random play about -770
    assert result.final_eval_return.min() >= 7.0, result.final_eval_return


def test_frozen_lake_slippery_success_rate():
    result = train("q_learning", "FrozenLake-v1", seeds=range(16), eval_episodes=1000)
    # the optimal policy succeeds about 74% of the time within the 100-step limit
    assert result.final_eval_return.mean() >= 0.70, result.final_eval_return


def test_discretised_cartpole_reaches_bins_level():
    result = train("q_learning", "CartPole-v1", seeds=range(16), env_kwargs={"discretize": "bins-4x4x29x8"})
    assert result.final_eval_return.mean() >= 195, result.final_eval_return


@pytest.mark.parametrize("agent", ["q_learning", "sarsa", "expected_sarsa"])
def test_grid_maze_shortest_path(agent):
    """Every seed's greedy policy walks the maze's shortest path (6 moves in the maze notes' maze)."""
    env, params = rljax.make("GridMaze")
    result = train(
        agent,
        "GridMaze",
        seeds=range(8),
        overrides={"gamma": 0.9, "learning_rate": 0.5},
        total_steps=5_000,
        eval_episodes=10,
        compiler_options=FAST_COMPILE,
    )
    q = np.asarray(result.final_state.agent_state.q)
    q = q.reshape((-1,) + q.shape[2:])
    shortest = shortest_path_length(env)
    for run in range(8):
        assert greedy_path_length(env, q[run]) == shortest


def shortest_path_length(env) -> int:
    """Breadth-first search over the model from the start to the goal."""
    model = env.model
    start = int(np.argmax(model.initial))
    frontier, seen, depth = {start}, {start}, 0
    while frontier:
        if any(model.terminal[s] for s in frontier):
            return depth
        frontier = {int(n) for s in frontier for n in model.next_state[s].ravel()} - seen
        seen |= frontier
        depth += 1
    raise AssertionError("goal unreachable")


def greedy_path_length(env, q: np.ndarray, limit: int = 50) -> int:
    """Moves the greedy policy takes from the start to a terminal state (deterministic maze)."""
    model = env.model
    s = int(np.argmax(model.initial))
    for step in range(1, limit + 1):
        s = int(model.next_state[s, int(np.argmax(q[s])), 0])
        if model.terminal[s]:
            return step
    return limit + 1
