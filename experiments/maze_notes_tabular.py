"""Reproduces the maze notes' 3x3 maze: tabular policy gradient, SARSA and Q-learning find the shortest path.

The maze notes solve a 3x3 maze (start S0, goal S8, walls as drawn in the tutorial plus its
allowed-move table's one-way block S1 -> S0) three ways:

1. a **tabular softmax policy gradient**: theta [S, A], pi = softmax(beta * theta),
   and after each episode ``theta += eta * (N(s, a) - pi(s, a) N(s)) / T`` (eta 0.1);
2. **SARSA** and 3. **Q-learning** on a Q table (eta 0.1, gamma 0.9, epsilon-greedy).

The seed runs one agent once and prints its final policy. This script trains every
method for several seeds on ``rljax.make("GridMaze")`` (the same maze; a blocked
move leaves the agent in place instead of being forbidden by NaN entries, so the
agents must also learn to avoid walls) and prints, per method and seed, the
greedy (argmax) policy's path from S0 and its length, beside the shortest path found
by breadth-first search (6 moves: S0 S1 S2 S5 S4 S7 S8).

- ``tabular_pg``: the tutorial's rule (``update_rule="inverse-length"``, with the tutorial's
  ``theta + eta + delta`` typo read as ``eta * delta``), 4 episodes per update,
  eta = 1.0 (the default; the tutorial's eta = 0.1 with one episode per update
  also gets there, in about 1000 episodes).
- ``sarsa`` / ``q_learning``: rljax's tabular agents with the tutorial's eta = 0.1 and
  gamma = 0.9; epsilon decays linearly from 1 to 0.05 over half of the run.

Run (under a minute on 2 CPU cores, most of it compilation)::

    .venv/bin/python experiments/maze_notes_tabular.py --seeds 8 --out results/maze_notes_tabular

Writes ``--out/summary.json`` with every printed number.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import deque
from pathlib import Path

import jax
import jax.numpy as jnp

import rljax

rljax.use_cpu_devices()  # before anything uses JAX: 2 CPU devices, as the rljax command has

from rljax.agents import get_agent
from rljax.agents.base import Clock
from rljax.experiment import train
from rljax.training.configs import make_config

METHODS = {
    # agent name -> (config overrides, total env steps per seed)
    "tabular_pg": ({}, 200_000),
    "sarsa": ({"learning_rate": 0.1, "gamma": 0.9}, 20_000),
    "q_learning": ({"learning_rate": 0.1, "gamma": 0.9}, 20_000),
}


def bfs_path(env) -> list[int]:
    """A shortest start -> goal path by breadth-first search on the (deterministic) maze."""
    succ = env.model.next_state[:, :, 0]
    parent = {env.start: None}
    frontier = deque([env.start])
    while frontier:
        s = frontier.popleft()
        for s2 in map(int, succ[s]):
            if s2 not in parent:
                parent[s2] = s
                frontier.append(s2)
    path = [env.goal]
    while parent[path[-1]] is not None:
        path.append(parent[path[-1]])
    return path[::-1]


def greedy_path(result, run: int, env, env_params) -> list[int]:
    """States visited by run ``run``'s evaluation policy (``act(explore=False)``) from a reset."""
    agent = get_agent(result.agent)
    state = jax.tree.map(lambda x: jnp.asarray(x).reshape((-1,) + x.shape[2:])[run], result.final_state.agent_state)
    config = make_config(agent, result.configs[result.config_ids[run]])
    act = jax.jit(lambda k, o: agent.act(k, state, o, config, Clock.start(1), False))
    key = jax.random.PRNGKey(run)
    obs, env_state = env.reset(key, env_params)
    path = [int(obs)]
    for t in range(int(env_params.max_steps_in_episode)):
        key, k_act, k_step = jax.random.split(key, 3)
        action = act(k_act, obs)
        obs, env_state, _, terminated, truncated, info = env.step(k_step, env_state, action, env_params)
        path.append(int(info["final_observation"]))
        if bool(terminated) or bool(truncated):
            break
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=8, help="seeds 0..N-1 per method")
    parser.add_argument("--out", default="results/maze_notes_tabular", help="output directory")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    env, env_params = rljax.make("GridMaze")
    shortest = bfs_path(env)
    print(f"shortest path (BFS): {len(shortest) - 1} moves: {' '.join(f'S{s}' for s in shortest)}")
    summary = {"shortest_path": shortest, "shortest_moves": len(shortest) - 1, "methods": {}}
    for name, (overrides, steps) in METHODS.items():
        start = time.perf_counter()
        result = train(
            name, "GridMaze", seeds=range(args.seeds), overrides=overrides, total_steps=steps, eval_episodes=1
        )
        paths = [greedy_path(result, i, env, env_params) for i in range(args.seeds)]
        moves = [len(p) - 1 if p[-1] == env.goal else None for p in paths]
        optimal = sum(m == len(shortest) - 1 for m in moves)
        print(
            f"\n{name}: budget {steps} env steps per seed, {time.perf_counter() - start:.1f} s "
            f"(compile {result.compile_time_s:.1f} s); shortest path in {optimal}/{args.seeds} seeds"
        )
        for seed, path, m in zip(result.seeds, paths, moves):
            shown = " ".join(f"S{s}" for s in path[:12]) + (" ..." if len(path) > 12 else "")
            print(f"  seed {seed:2d}: {'no goal' if m is None else f'{m} moves'}: {shown}")
        summary["methods"][name] = {
            "total_steps": steps,
            "config": result.configs[0],
            "seeds": result.seeds,
            "greedy_moves": moves,
            "greedy_paths": paths,
            "seeds_on_shortest_path": optimal,
            "compile_time_s": result.compile_time_s,
            "train_time_s": result.train_time_s,
        }
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(f"\nwrote {out / 'summary.json'}")


if __name__ == "__main__":
    main()
