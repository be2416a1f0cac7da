"""Reproduces the Deep Q Learning blog post's DQN on CartPole-v1: a 5-unit network, -50 on failure, no target network.

The Deep Q Learning blog post ("Deep Q Learning", Keras) trains a tiny network (Dense(5) on the 4
inputs, a hidden Dense(5), a linear output per action) with replay (a 100,000
transition deque, a batch of 32 after every step once 32 steps were taken),
gamma = 0.95, Adam with learning rate 0.001 and mean-squared error, epsilon
decaying linearly from 0.9 to 0.05 over its 10,000 (printed: 20,000) steps, the
Bellman target computed with the same network (no target network), and reward -50
on the step that ends the game. As :class:`rljax.agents.dqn.DQNConfig` overrides
that is :data:`BLOG` below, trained on CartPole-v1 wrapped in
:class:`rljax.envs.shaping.FailurePenalty`.

Two things of the tutorial are not reproduced: its ``gameOver`` also covers the 500-step
time limit, so it penalised *success* with -50 too (here only ``terminated`` steps
get the penalty, and truncated ones bootstrap); and it stored every transition
twice "to rebalance", which only halves the effective buffer.

The penalty changes the returns, so the agent is evaluated on the *unwrapped*
CartPole-v1 after every segment (greedy policy, ``--eval-episodes`` fresh episodes):
``curves.png`` and ``final_eval_return`` are the true CartPole returns. The shaped
returns the loop itself measures are kept in ``summary.json`` as
``shaped_final_eval_return``.

Run (about a minute on 2 CPU cores with the defaults)::

    .venv/bin/python experiments/deep_q_learning_blog_dqn.py --seeds 8 --out results/deep_q_learning_blog_dqn

Writes to ``--out``: ``curves.png`` and ``summary.json``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import jax
import numpy as np

import rljax

rljax.use_cpu_devices()  # before anything uses JAX: 2 CPU devices, as the rljax command has

from rljax.agents import get_agent
from rljax.analysis.plots import plot_curves
from rljax.envs import SOLVED_AT, register
from rljax.envs.shaping import failure_penalty
from rljax.runs.files import write_json_atomic
from rljax.runs.manifest import versions
from rljax.training.batch import BatchRunner
from rljax.training.configs import config_dict
from rljax.training.lanes import Lanes, seed_keys, stack_configs
from rljax.training.loop import make_loop
from rljax.training.plan import build

ENV_ID = "CartPole-v1"
SHAPED_ID = "CartPole-v1-FailurePenalty"

# The Deep Q Learning blog post's DQN as DQNConfig overrides.
BLOG = dict(
    hidden_sizes=(5, 5),
    learning_rate=1e-3,
    loss="mse",
    gamma=0.95,
    num_envs=1,
    train_frequency=1,  # trainingInterval = 1
    gradient_steps=1,
    batch_size=32,  # replayBatchSize
    learning_starts=32,  # no training while i < replayBatchSize
    buffer_size=100_000,  # queueSize
    target_update_interval=1,  # targets from the network being trained: no target network
    tau=1.0,
    max_grad_norm=0.0,  # Keras fit: no clipping
    epsilon_start=0.9,
    epsilon_end=0.05,
    epsilon_decay_fraction=1.0,  # over the whole run
)
BLOG_STEPS = 20_000  # the printed run (the code says 10,000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=8, help="train seeds 0..N-1")
    parser.add_argument("--out", default="results/deep_q_learning_blog_dqn", help="output directory")
    parser.add_argument("--total-steps", type=int, default=BLOG_STEPS, help="env steps per seed")
    parser.add_argument("--penalty", type=float, default=-50.0, help="reward of a failing step")
    parser.add_argument("--eval-episodes", type=int, default=100)
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    register(SHAPED_ID, lambda **kw: failure_penalty(ENV_ID, args.penalty, **kw))
    agent = get_agent("dqn")
    plan = build(agent, SHAPED_ID, BLOG, total_steps=args.total_steps, eval_episodes=args.eval_episodes)
    loop, configs = plan.loop, plan.configs
    # The same agent evaluated on the unwrapped environment: the true CartPole return.
    raw_env, raw_params = rljax.make(ENV_ID)
    raw_loop = make_loop(
        raw_env, raw_params, agent, configs[0], total_steps=args.total_steps, eval_episodes=args.eval_episodes
    )

    seeds = list(range(args.seeds))
    keys, batched = seed_keys(seeds), stack_configs([configs[0]] * len(seeds))
    lanes = Lanes(len(seeds), 8)
    runner = BatchRunner(loop, lanes)
    start = time.perf_counter()
    runner.compile(keys, batched)
    true_eval = jax.jit(
        lambda s, c: jax.lax.map(lambda a: jax.vmap(lambda si, ci: raw_loop.evaluate(si, ci).mean())(*a), (s, c))
    )
    packed_configs = runner.place(batched)
    compile_time = time.perf_counter() - start

    # Segment by segment (as BatchRunner.run does), with the true evaluation in between.
    start = time.perf_counter()
    state = runner.init(runner.place(keys), packed_configs)
    shaped, true_returns, env_steps = [], [], []
    for _ in range(loop.schedule.num_segments):
        state, metrics = runner.step(state, packed_configs)
        true_returns.append(lanes.unpack(np.asarray(true_eval(state, packed_configs))))
        shaped.append(lanes.unpack(np.asarray(metrics["eval_return"])))
        env_steps.append(int(lanes.unpack(np.asarray(metrics["env_steps"]))[0]))
    train_time = time.perf_counter() - start
    true_returns = np.stack(true_returns, axis=1)  # [seeds, segments]
    shaped = np.stack(shaped, axis=1)
    steps = np.array(env_steps)

    final = true_returns[:, -1]
    summary = {
        "agent": "dqn",
        "env": ENV_ID,
        "trained_on": repr(loop.env),
        "seeds": seeds,
        "reproduces": "Deep Q Learning blog post: 5-unit network, batch 32, gamma 0.95, eps 0.9->0.05, -50 on failure",
        "final_eval_return": final.tolist(),
        "shaped_final_eval_return": shaped[:, -1].tolist(),
        "eval_return_curve": true_returns.tolist(),
        "env_steps": steps.tolist(),
        "eval_episodes": args.eval_episodes,
        "env_steps_per_seed": int(steps[-1]),
        "compile_time_s": round(compile_time, 3),
        "train_time_s": round(train_time, 3),
        "config": config_dict(configs[0]),
        "versions": versions(),
    }
    write_json_atomic(out / "summary.json", summary)
    plot_curves(
        [("the Deep Q Learning blog post DQN (5x5, -50 on failure), true return", steps, true_returns)],
        out / "curves.png",
        title=f"The Deep Q Learning blog post's DQN on {ENV_ID}, {len(seeds)} seeds",
        solved_at=SOLVED_AT[ENV_ID],
    )
    print(f"final greedy return on {ENV_ID} per seed: {np.round(final, 1).tolist()}")
    print(
        f"mean {final.mean():.1f}; best mean over training {true_returns.mean(0).max():.1f}; "
        f"compile {compile_time:.1f} s, train {train_time:.1f} s (incl. the true evaluations)"
    )
    print(f"wrote {out}/summary.json, curves.png")


if __name__ == "__main__":
    main()
