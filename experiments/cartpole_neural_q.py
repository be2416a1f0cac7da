"""The CartPole Q Learning tutorial's *neural* Q-learning on CartPole-v1: online, no replay, no target network.

The CartPole Q Learning tutorial ("CartPole Q Learning", the ``NeuralQ`` part) fits a Keras network (two
hidden layers of 20 ReLU units, a linear output per action) after EVERY step, on
that one transition, to the Bellman target ``r + gamma * max_a' Q(s', a')``
computed with the same network (no target network), with Adam (Keras' default
learning rate 1e-3) and mean-squared error, gamma = 0.6, epsilon decaying linearly
from 1 to 0.05 over training. As a :class:`rljax.agents.dqn.DQNConfig` that is
:data:`BINS` below: a one-slot replay buffer sampled with batch size 1 is "the
latest transition", and a hard target copy after every gradient step makes the
target network equal to the online network of the step (the target is computed
before the step, as the tutorial's ``predict`` then ``fit``).

One bug of the tutorial is not reproduced: its ``done`` lumps the time limit together
with failure, so it never bootstraps at the time limit; here only a real failure
(``terminated``) stops the bootstrap. The seed decays epsilon per *episode* over
10,000 episodes; here it decays per env step over the run.

Run (about a minute on 2 CPU cores with the defaults)::

    .venv/bin/python experiments/cartpole_neural_q.py --seeds 8 --out results/cartpole_neural_q

Writes to ``--out``: ``curves.png`` (greedy evaluation return over training, mean
over seeds with interquartile and min-max bands) and ``summary.json`` (the
``rljax train`` summary: per-seed final greedy returns, timings, the config).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import rljax

rljax.use_cpu_devices()  # before anything uses JAX: 2 CPU devices, as the rljax command has

from rljax.analysis.plots import plot_curves
from rljax.envs import SOLVED_AT
from rljax.experiment import train
from rljax.runs.files import write_json_atomic

ENV_ID = "CartPole-v1"

# The CartPole Q Learning tutorial's NeuralQ as DQNConfig overrides.
BINS = dict(
    hidden_sizes=(20, 20),
    learning_rate=1e-3,  # Keras' Adam default
    loss="mse",
    gamma=0.6,
    num_envs=1,
    train_frequency=1,  # one fit per env step ...
    gradient_steps=1,
    buffer_size=1,  # ... on the latest transition only (no replay)
    batch_size=1,
    learning_starts=1,
    target_update_interval=1,  # target network = online network (no target network)
    tau=1.0,
    max_grad_norm=0.0,  # Keras fit: no clipping
    epsilon_start=1.0,
    epsilon_end=0.05,
    epsilon_decay_fraction=1.0,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=8, help="train seeds 0..N-1")
    parser.add_argument("--out", default="results/cartpole_neural_q", help="output directory")
    parser.add_argument("--total-steps", type=int, default=100_000, help="env steps per seed")
    parser.add_argument("--eval-episodes", type=int, default=100)
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    result = train(
        "dqn",
        ENV_ID,
        seeds=range(args.seeds),
        overrides=BINS,
        total_steps=args.total_steps,
        eval_episodes=args.eval_episodes,
    )
    summary = result.summary()
    summary["reproduces"] = (
        "the CartPole Q Learning tutorial NeuralQ: online neural Q-learning, no replay, no target network"
    )
    write_json_atomic(out / "summary.json", summary)
    plot_curves(
        [
            (
                "the CartPole Q Learning tutorial neural Q (2x20, gamma 0.6, online)",
                result.metrics["env_steps"][0],
                result.metrics["eval_return"],
            )
        ],
        out / "curves.png",
        title=f"Online neural Q-learning on {ENV_ID}, {args.seeds} seeds",
        solved_at=SOLVED_AT[ENV_ID],
    )
    final = result.final_eval_return
    curve = result.metrics["eval_return"].mean(0)
    print(f"final greedy return per seed: {np.round(final, 1).tolist()}")
    print(
        f"mean {final.mean():.1f}, best eval during training (mean over seeds) {curve.max():.1f}; "
        f"compile {result.compile_time_s:.1f} s, train {result.train_time_s:.1f} s"
    )
    print(f"wrote {out}/summary.json, curves.png")


if __name__ == "__main__":
    main()
