"""Reproduces the keras-rl lecture's "Bonus: MuZero": MuZero on CartPole, here Gumbel MuZero in rljax.

The lecture runs muzero-general (a PyTorch MuZero) on CartPole-v1 with its own settings;
its summary figure shows a total reward of about 415 after about 120 self-played games.
This script trains, in one plot:

- rljax's default: ``rljax train muzero --env CartPole-v1`` (the preset in
  :mod:`rljax.agents.muzero`);
- muzero-general's CartPole settings where they translate (:data:`MUZERO_GENERAL`):
  50 simulations, 10 unroll steps, td_steps 50, batch 128, discount 0.997, a
  categorical support of -10..10. What does not translate: its PUCT search with
  Dirichlet noise and visit-count temperatures (here Gumbel MuZero's search, whose
  policy target is the completed-Q improved policy), its prioritised replay and
  reanalyse, its separate self-play / training processes and its SGD schedule (here
  both configurations learn with Adam, as often per env step as the rljax default).
  Its value support (|x| <= ~109) is narrower than its discount's values (up to ~333
  at 0.997): its value targets above ~109 are clipped, as in muzero-general.

muzero-general's "about 415 after about 120 games" is drawn as a dotted line; its
x position is not comparable (games, not env steps, and its learner runs beside
self-play at its own pace), so it is a level, not a point.

Run (on 2 shared CPU cores: the default compiles in ~31 s and trains in ~181 s, the
50-simulation search with 10-step unrolls in ~57 s and ~676 s; ~16 minutes in all)::

    .venv/bin/python experiments/muzero_cartpole.py --seeds 4 --out results/muzero_cartpole

Writes to ``--out``: ``curves.png`` and ``summary.json`` (per-seed curves included).

Measured (the command above; two runs gave the same returns to the last digit):

- rljax default: final returns 500, 472.15, 478.1, 500 (3/4 >= 475); all 4 seeds
  reached 475 at some evaluation (first at 50k-110k env steps, median 74,880);
- muzero-general's settings: final 321.0, 490.4, 490.7, 492.7 (3/4 >= 475; seed 0's
  last 10 evaluations swing between 249 and 498); all 4 reached 475 (first at
  30k-140k, median 79,872); 3.7-5.5x the training seconds of the default per env
  step (1,040-1,180 against 4,400-5,800 env steps/s over the 4 seeds, evaluations
  included).

Both end above muzero-general's reported ~415 on average (487.6 and 448.7), at
199,680 env steps per seed. The 50-simulation, 10-step-unroll settings buy no sample
efficiency over the default's 16 simulations and 5 steps: mean return over the 20
evaluations 377 against 373, over the last 10 455 against 469 (22/40 and 26/40 >= 475).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import rljax

rljax.use_cpu_devices()  # before anything uses JAX: 2 CPU devices, as the rljax command has

from rljax.envs import SOLVED_AT
from rljax.experiment import train
from rljax.runs.files import write_json_atomic

ENV_ID = "CartPole-v1"

# muzero-general's CartPole settings that have a counterpart in MuZeroConfig.
MUZERO_GENERAL = dict(
    num_simulations=50,
    unroll_steps=10,
    td_steps=50,
    batch_size=128,
    gamma=0.997,
    support_size=10,
)
MUZERO_GENERAL_REPORTED = 415.0  # its summary figure: total reward after ~120 self-played games


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=4, help="train seeds 0..N-1")
    parser.add_argument("--out", default="results/muzero_cartpole", help="output directory")
    parser.add_argument("--total-steps", type=int, default=None, help="env steps per seed (default: the preset's)")
    parser.add_argument("--eval-episodes", type=int, default=100)
    parser.add_argument("--skip-muzero-general", action="store_true", help="only the rljax default")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    runs = {"rljax default (preset)": {}}
    if not args.skip_muzero_general:
        runs["muzero-general's CartPole settings"] = MUZERO_GENERAL
    curves, summary = [], {"env": ENV_ID, "reproduces": "the keras-rl lecture's Bonus: MuZero", "runs": {}}
    for label, overrides in runs.items():
        result = train(
            "muzero",
            ENV_ID,
            seeds=range(args.seeds),
            overrides=overrides,
            total_steps=args.total_steps,
            eval_episodes=args.eval_episodes,
            lane_width=args.seeds,
        )
        curves.append((label, result.curve_steps(result.rows()), result.metrics["eval_return"]))
        final = result.final_eval_return
        solved = int((final >= SOLVED_AT[ENV_ID]).sum())
        steps = int(result.metrics["env_steps"][0][-1])
        # Training seconds include the evaluations (every total_steps / 20 and the final one),
        # so env steps/s is the whole run's rate, not the acting-and-learning rate alone.
        steps_per_s = steps * args.seeds / max(result.train_time_s, 1e-9)
        summary["runs"][label] = {
            **result.summary(),
            "seeds_solved": solved,
            "env_steps_per_second": steps_per_s,
            "eval_return_curve_mean": result.metrics["eval_return"].mean(0).tolist(),
            # Per seed, so the figure can be redrawn (and checked) without training again.
            "curve_env_steps": result.curve_steps(result.rows()).tolist(),
            "eval_return_curves": result.metrics["eval_return"].tolist(),
        }
        reached = [s for s in result.summary()["steps_to_threshold"] if s is not None]
        print(
            f"{label}: final deterministic-search return per seed {[round(float(x), 2) for x in final]} "
            f"({args.eval_episodes} episodes); solved (>= {SOLVED_AT[ENV_ID]:g}) {solved}/{args.seeds} "
            f"after {steps} env steps per seed; {len(reached)}/{args.seeds} reached it at some evaluation "
            f"(first at {reached}); compile {result.compile_time_s:.1f} s, train {result.train_time_s:.1f} s "
            f"({steps_per_s:,.0f} env steps/s over all seeds, evaluations included)"
        )
    write_json_atomic(out / "summary.json", summary)
    plot(out / "curves.png", curves, args.seeds)
    print(f"wrote {out}/summary.json, curves.png")


def plot(path: Path, curves, seeds: int) -> None:
    """Mean and min-max band per configuration, the solved line and muzero-general's reported level."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from rljax.runs.files import write_bytes_atomic

    fig, ax = plt.subplots(figsize=(7, 4.2))
    handles, labels = [], []
    for label, steps, returns in curves:
        returns = np.asarray(returns, dtype=float)
        (line,) = ax.plot(steps, returns.mean(0))
        band = ax.fill_between(steps, returns.min(0), returns.max(0), color=line.get_color(), alpha=0.15)
        # One legend entry per configuration that shows both its mean line and its band.
        handles.append((band, line))
        labels.append(f"{label}: mean, min-max over {seeds} seeds")
    handles.append(ax.axhline(SOLVED_AT[ENV_ID], color="grey", linestyle="--", linewidth=1))
    labels.append(f"solved threshold ({SOLVED_AT[ENV_ID]:g})")
    handles.append(ax.axhline(MUZERO_GENERAL_REPORTED, color="black", linestyle=":", linewidth=1))
    labels.append(f"muzero-general's reported ~{MUZERO_GENERAL_REPORTED:g} after ~120 games (a level, not a point)")
    ax.set_xlabel("env steps per seed")
    ax.set_ylabel("evaluation return (deterministic search)")
    ax.set_title(f"Gumbel MuZero on {ENV_ID}, {seeds} seeds")
    # Below the axes: inside, it hid the low end of a band (a seed's dip late in training).
    ax.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, -0.14), fontsize=8)

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=120, bbox_inches="tight")
    plt.close(fig)
    write_bytes_atomic(path, buf.getvalue())


if __name__ == "__main__":
    main()
