"""DQN with the small MinAtar CNN on Breakout-MinAtar: does the greedy return rise over training?

Breakout-MinAtar (gymnax) is a 10x10 Breakout with 4 binary channels (paddle, ball,
trail, bricks) and 3 actions; a random policy scores about 0.5-1 per episode. The
agent is rljax's DQN with the ``cnn`` torso of :mod:`rljax.agents.nets` (one 3x3
convolution with 16 filters, as in the MinAtar paper's DQN baseline, then a
128-unit hidden layer): the ``dqn`` preset for ``Breakout-MinAtar`` (see
``rljax/agents/dqn.py``), which this script uses unless ``--set`` overrides it.

The MinAtar paper trains for 5M frames; on a CPU this script runs a modest budget
(``--total-steps``, default 500k env steps per seed, 4 seeds in one lane), which is
enough to see the evaluation return rise clearly above random play, not to reach
the paper's final scores.

Run (about 25 minutes on 2 CPU cores with the defaults; measured: mean greedy
return 2.97 at 25k steps -> 18.3 at 525k)::

    .venv/bin/python experiments/minatar_breakout_dqn.py --seeds 4 --out results/minatar_breakout_dqn

Writes to ``--out``: ``curves.png`` (greedy return over training, mean over seeds
with interquartile and min-max bands) and ``summary.json`` (the ``rljax train``
summary plus the per-seed curves).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import rljax

rljax.use_cpu_devices()  # before anything uses JAX: 2 CPU devices, as the rljax command has

from rljax.analysis.plots import plot_curves
from rljax.experiment import train
from rljax.runs.files import write_json_atomic

ENV_ID = "Breakout-MinAtar"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=4, help="train seeds 0..N-1")
    parser.add_argument("--out", default="results/minatar_breakout_dqn", help="output directory")
    parser.add_argument("--total-steps", type=int, default=None, help="env steps per seed (default: the preset's)")
    parser.add_argument("--eval-episodes", type=int, default=32)
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="hyperparameter override over the preset (repeatable)",
    )
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    overrides = dict(pair.split("=", 1) for pair in args.set)

    def progress(i, metrics):
        print(
            f"  segment {i + 1}: {int(metrics['env_steps'][0])} env steps, greedy return "
            f"{np.round(metrics['eval_return'], 2).tolist()}",
            flush=True,
        )

    result = train(
        "dqn",
        ENV_ID,
        seeds=range(args.seeds),
        overrides=overrides,
        total_steps=args.total_steps,
        eval_episodes=args.eval_episodes,
        lane_width=args.seeds,
        on_segment=progress,
    )
    curves = result.metrics["eval_return"]
    steps = result.metrics["env_steps"][0]
    summary = result.summary()
    summary["eval_return_curve"] = curves.tolist()
    summary["env_steps"] = steps.tolist()
    write_json_atomic(out / "summary.json", summary)
    plot_curves(
        [("DQN, MinAtar CNN", steps, curves)],
        out / "curves.png",
        title=f"DQN on {ENV_ID}, {args.seeds} seeds",
        ylabel=f"greedy return ({args.eval_episodes} episodes)",
    )
    mean = curves.mean(0)
    print(f"greedy return, mean over seeds, per evaluation: {np.round(mean, 2).tolist()}")
    print(
        f"first {mean[0]:.2f} -> last {mean[-1]:.2f} (best {mean.max():.2f}); "
        f"compile {result.compile_time_s:.1f} s, train {result.train_time_s:.1f} s"
    )
    print(f"wrote {out}/summary.json, curves.png")


if __name__ == "__main__":
    main()
