"""PQN and DQN on Breakout-MinAtar at the same CPU-sized budget: 16 seeds each, one plot.

Trains (unless the run folders exist) ::

    rljax train pqn --env Breakout-MinAtar --seeds 16 --total-steps 30720 --eval-every 5120 \
        --eval-episodes 16 --out DIR/pqn
    rljax train dqn --env Breakout-MinAtar --seeds 16 --total-steps 30720 --eval-every 5120 \
        --eval-episodes 16 --set buffer_size=30720 --out DIR/dqn

(DQN's replay holds the whole run either way; at its preset's 100k transitions 16 seeds
need ~10 GB), then plots each agent's mean greedy return over its seeds with the
interquartile and min-max bands (``rljax.analysis.plots.plot_curves``) and prints, per agent, the
mean and IQM of the last evaluation. A run folder still being written (no
``summary.json`` yet) is plotted up to the evaluations every seed has reached.

Run::

    .venv/bin/python experiments/pqn_dqn_breakout.py --out results/pqn_dqn_breakout \
        --plot docs/guide/img/pqn_dqn_breakout.png
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import numpy as np

from rljax.analysis.plots import plot_curves
from rljax.analysis.stats import iqm
from rljax.runs.readers import read_eval_curves

ENV_ID = "Breakout-MinAtar"
BUDGET = 30_720
EVAL_EVERY = 5_120
EVAL_EPISODES = 16
EXTRA = {"pqn": [], "dqn": ["--set", f"buffer_size={BUDGET}"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="results/pqn_dqn_breakout")
    parser.add_argument("--seeds", type=int, default=16)
    parser.add_argument("--plot", default="docs/guide/img/pqn_dqn_breakout.png")
    args = parser.parse_args()
    out = Path(args.out)
    curves = []
    for agent in ("pqn", "dqn"):
        folder = out / agent
        if not folder.exists():
            cmd = [sys.executable, "-m", "rljax.cli", "train", agent, "--env", ENV_ID, "--seeds", str(args.seeds)]
            cmd += ["--total-steps", str(BUDGET), "--eval-every", str(EVAL_EVERY)]
            cmd += ["--eval-episodes", str(EVAL_EPISODES)]
            subprocess.run(cmd + ["--no-progress", "--out", str(folder)] + EXTRA[agent], check=True)
        c = read_eval_curves(folder / "metrics.csv", range(args.seeds))
        final = c.returns[:, -1]
        print(
            f"{agent}: {len(c.seeds)} seeds, evaluations at {c.steps.tolist()} env steps; mean return "
            f"{np.round(c.returns.mean(0), 2).tolist()}; last: mean {final.mean():.2f}, IQM {iqm(final):.2f}"
        )
        curves.append((agent.upper(), c.steps, c.returns))
    plot_curves(curves, args.plot, title=f"{ENV_ID}: greedy return ({EVAL_EPISODES} episodes), 16 seeds each")
    print(f"wrote {args.plot}")


if __name__ == "__main__":
    main()
