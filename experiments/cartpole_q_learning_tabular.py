"""The CartPole Q Learning tutorial: tabular Q-learning on CartPole with a hand-made 4x4x29x8 discretisation.

Reproduces the tutorial's setup (CartPole-v1, its bin edges, alpha 0.1, gamma 0.9,
epsilon falling linearly from 1 to 0.05 over training, one environment) beside
rljax's tuned preset for the same discretisation, over many seeds at once, and
plots both learning curves with their seed-to-seed spread. Unlike the tutorial,
time-limit truncations bootstrap (only real terminations do not).

    .venv/bin/python experiments/cartpole_q_learning_tabular.py --seeds 16 --out results/bins
"""

import argparse
from pathlib import Path

import rljax

rljax.use_cpu_devices()  # before anything uses JAX: 2 CPU devices, as the rljax command has

from rljax.analysis.plots import plot_curves
from rljax.experiment import train
from rljax.runs.files import write_json_atomic

SETTINGS = {
    "the CartPole Q Learning tutorial (alpha 0.1, gamma 0.9, 1 env)": dict(
        overrides={
            "learning_rate": 0.1,
            "gamma": 0.9,
            "epsilon_end": 0.05,
            "epsilon_decay_fraction": 1.0,
            "schedule_steps": 0,  # over this run's own 400k steps (the preset fixes its own horizon)
            "num_envs": 1,
        },
        total_steps=400_000,
    ),
    "rljax preset": dict(overrides={}, total_steps=None),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=16)
    parser.add_argument("--out", default="results/bins")
    args = parser.parse_args()
    out = Path(args.out)
    curves, summary = [], {}
    for label, setting in SETTINGS.items():
        result = train(
            "q_learning",
            "CartPole-v1",
            seeds=range(args.seeds),
            env_kwargs={"discretize": "bins-4x4x29x8"},
            progress=True,
            **setting,
        )
        returns = result.final_eval_return
        print(
            f"{label}: final greedy return mean {returns.mean():.1f} (min {returns.min():.1f}, "
            f"max {returns.max():.1f}) after {result.env_steps_per_seed} steps/seed, "
            f"compile {result.compile_time_s:.1f} s, train {result.train_time_s:.1f} s"
        )
        curves.append((label, result.metrics["env_steps"][0], result.metrics["eval_return"]))
        summary[label] = result.summary()
    plot_curves(curves, out / "curves.png", title="Tabular Q-learning, CartPole-v1 (bins bins)", solved_at=195)
    write_json_atomic(out / "summary.json", summary)
    print(f"wrote {out}/curves.png and {out}/summary.json")


if __name__ == "__main__":
    main()
