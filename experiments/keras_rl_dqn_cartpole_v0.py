"""Reproduces the keras-rl lecture's keras-rl DQN on CartPole-v0 (soft target updates, tau = 1e-2).

The keras-rl lecture ("Bonus: Reinforcement Learning", the "Cartpole and DQN" part) builds

    model = Sequential([Flatten, Dense(16, relu), Dense(16, relu), Dense(16, relu), Dense(nb_actions)])
    memory = SequentialMemory(limit=50000, window_length=1)
    dqn = DQNAgent(model, nb_actions, memory=memory, nb_steps_warmup=10,
                   target_model_update=1e-2, policy=EpsGreedyQPolicy())
    dqn.compile(Adam(lr=1e-3)); dqn.fit(env, nb_steps=5000)

on CartPole-v0 (200-step episodes, solved at a mean of 195), and tests 5 greedy
episodes (140-200 steps). keras-rl's defaults fill in the rest: batch 32, gamma
0.99, one gradient step per env step, epsilon 0.1 constant, no Double DQN, and a
``target_model_update < 1`` is a soft update ``target <- 0.01 * online + 0.99 *
target`` after every gradient step; its loss with the default ``delta_clip = inf``
is the squared error. As :class:`rljax.agents.dqn.DQNConfig` overrides that is
:data:`LECTURE` below.

One thing of the tutorial is not reproduced: ``nb_steps_warmup=10`` is smaller than the
batch of 32, which is why its log warns "Not enough entries to sample without
replacement"; rljax refuses ``learning_starts < batch_size``, so learning starts
after 32 steps. keras-rl also (like the Deep Q Learning blog post) treats the time limit as terminal;
here a truncated step bootstraps.

Besides the tutorial's 5,000 steps, the same config is trained for ``--long-steps``
(default 50,000) to show where it goes with more experience.

Run (about a minute on 2 CPU cores with the defaults)::

    .venv/bin/python experiments/keras_rl_dqn_cartpole_v0.py --seeds 8 --out results/lecture_keras_rl

Writes to ``--out``: ``curves.png`` (greedy evaluation return over training) and
``summary.json``.
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

ENV_ID = "CartPole-v0"

# The keras-rl lecture's keras-rl DQNAgent as DQNConfig overrides.
LECTURE = dict(
    hidden_sizes=(16, 16, 16),
    learning_rate=1e-3,
    loss="mse",  # keras-rl's huber with delta_clip = inf is the squared error
    gamma=0.99,
    num_envs=1,
    train_frequency=1,
    gradient_steps=1,
    batch_size=32,
    buffer_size=50_000,  # SequentialMemory(limit=50000)
    learning_starts=32,  # nb_steps_warmup=10 < batch 32: see the docstring
    target_update_interval=1,  # target_model_update=1e-2: soft update after every step
    tau=1e-2,
    max_grad_norm=0.0,
    epsilon_schedule="constant",  # EpsGreedyQPolicy(eps=0.1)
    epsilon_start=0.1,
    epsilon_end=0.1,
    double_dqn=False,
)
LECTURE_STEPS = 5_000  # nb_steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=8, help="train seeds 0..N-1")
    parser.add_argument("--out", default="results/lecture_keras_rl", help="output directory")
    parser.add_argument("--total-steps", type=int, default=LECTURE_STEPS, help="the tutorial's nb_steps")
    parser.add_argument("--long-steps", type=int, default=50_000, help="a longer run of the same config (0: skip)")
    parser.add_argument("--eval-episodes", type=int, default=100)
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    runs = {f"the keras-rl lecture keras-rl DQN, {args.total_steps} steps": args.total_steps}
    if args.long_steps:
        runs[f"same config, {args.long_steps} steps"] = args.long_steps
    curves, summary = [], {"env": ENV_ID, "reproduces": "the keras-rl lecture keras-rl DQN on CartPole-v0", "runs": {}}
    for label, steps in runs.items():
        result = train(
            "dqn",
            ENV_ID,
            seeds=range(args.seeds),
            overrides=LECTURE,
            total_steps=steps,
            eval_episodes=args.eval_episodes,
        )
        curves.append((label, result.metrics["env_steps"][0], result.metrics["eval_return"]))
        final = result.final_eval_return
        solved = int((final >= SOLVED_AT[ENV_ID]).sum())
        summary["runs"][label] = {
            **result.summary(),
            "seeds_solved": solved,
            "eval_return_curve_mean": result.metrics["eval_return"].mean(0).tolist(),
        }
        print(
            f"{label}: final greedy return per seed {np.round(final, 1).tolist()}; mean {final.mean():.1f}, "
            f"solved (>= {SOLVED_AT[ENV_ID]:g}) {solved}/{args.seeds}; compile {result.compile_time_s:.1f} s, "
            f"train {result.train_time_s:.1f} s"
        )
    write_json_atomic(out / "summary.json", summary)
    plot_curves(
        curves,
        out / "curves.png",
        title=f"The keras-rl lecture's keras-rl DQN on {ENV_ID}, {args.seeds} seeds",
        solved_at=SOLVED_AT[ENV_ID],
    )
    print(f"wrote {out}/summary.json, curves.png")


if __name__ == "__main__":
    main()
