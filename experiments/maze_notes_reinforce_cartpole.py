"""Reproduces the maze notes' REINFORCE on CartPole-v1, beside rljax's default REINFORCE config.

The maze notes ("Deep policy gradient on cartpole") trains a softmax policy network
(one hidden layer of 128 ReLU units) with REINFORCE: one episode per update,
returns-to-go with gamma = 0.9 normalised within the episode, the loss
``-sum_t log pi(a_t|s_t) G_t`` (a sum over the episode's steps), Adam with
lr = 1e-4, 3000 episodes of CartPole-v1. As ``ReinforceConfig`` overrides that is
:data:`NOTES` below. Two bugs of the tutorial's code are not reproduced: it only
updates when an episode *terminates* (so the 500-step episodes it most wants to
learn from never update), and its ``torch.std`` of a one-step episode is NaN.

rljax's default config (:class:`rljax.agents.reinforce.ReinforceConfig`: two
tanh layers of 64, a learned value baseline, batch-normalised advantages,
gamma = 0.99, 8 episodes per update, lr 3e-3 decayed linearly to 0, 600k computed
steps) is trained beside it, and both learning curves go on one plot: the mean over
seeds with the interquartile and min-max bands. The x axis is the mean over seeds of
*valid* environment steps (steps inside an episode; an episodic update budgets
``K * B`` computed steps, of which only the episodes' own steps count).

Run (2-3 minutes on 2 CPU cores with the defaults)::

    .venv/bin/python experiments/maze_notes_reinforce_cartpole.py --seeds 8 --out results/notes_reinforce

Writes to ``--out``: ``eval_return.png`` (argmax policy, mean return over
``--eval-episodes`` fresh episodes, the library's evaluation), ``train_return.png``
(mean return of the sampled training episodes, what the tutorial plots) and
``summary.json`` (final returns, seeds solved at 475, env steps, timings, configs).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import rljax

rljax.use_cpu_devices()  # before anything uses JAX: 2 CPU devices, as the rljax command has

from rljax.agents import get_agent
from rljax.analysis.plots import plot_curves
from rljax.envs import SOLVED_AT
from rljax.experiment import train

ENV_ID = "CartPole-v1"

# The maze notes' REINFORCE as ReinforceConfig overrides.
NOTES = dict(
    hidden_sizes=(128,),
    activation="relu",
    learning_rate=1e-4,
    gamma=0.9,
    normalize="episode",
    num_envs=1,
    baseline=False,
    loss_average="episodes",  # the seed sums over the episode's steps
    lr_schedule="constant",
    max_grad_norm=0.0,  # no clipping
    entropy_coef=0.0,
)
NOTES_EPISODES = 3000  # the tutorial's max_episode; K = 500 computed steps each


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=8, help="seeds 0..N-1 per configuration")
    parser.add_argument("--out", default="results/notes_reinforce", help="output directory")
    parser.add_argument(
        "--notes-episodes", type=int, default=NOTES_EPISODES, help="training episodes of the tutorial's configuration"
    )
    parser.add_argument(
        "--default-steps",
        type=int,
        default=None,
        help="computed env steps of the default config (default: the preset's)",
    )
    parser.add_argument("--eval-episodes", type=int, default=100)
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    default_steps = args.default_steps or get_agent("reinforce").presets[ENV_ID]["total_steps"]

    runs = {
        "the maze notes (h128 relu, lr 1e-4, gamma 0.9, 1 episode/update)": dict(
            overrides=NOTES, total_steps=args.notes_episodes * 500
        ),
        "rljax default (baseline, 8 episodes/update)": dict(overrides={}, total_steps=default_steps),
    }
    seeds = list(range(args.seeds))
    eval_curves, train_curves, summary = [], [], {"env": ENV_ID, "seeds": seeds, "runs": {}}
    for label, spec in runs.items():
        result = train("reinforce", ENV_ID, seeds=seeds, eval_episodes=args.eval_episodes, **spec)
        steps = result.metrics["env_steps"].mean(0)  # valid steps, mean over seeds
        eval_curves.append((label, steps, result.metrics["eval_return"]))
        train_curves.append((label, steps, result.metrics["train_episode_return"]))
        final = result.final_eval_return
        solved = int((final >= SOLVED_AT[ENV_ID]).sum())
        print(
            f"{label}:\n  final argmax return per seed: {[round(float(x), 1) for x in final]}\n"
            f"  solved (>= {SOLVED_AT[ENV_ID]:g}): {solved}/{len(seeds)}; valid env steps per seed: "
            f"mean {result.metrics['env_steps'][:, -1].mean():.0f}; compile {result.compile_time_s:.1f} s, "
            f"train {result.train_time_s:.1f} s"
        )
        summary["runs"][label] = {
            "config": result.configs[0],
            "computed_steps_per_seed": spec["total_steps"],
            "final_eval_return": final.tolist(),
            "seeds_solved": solved,
            "valid_env_steps_per_seed": result.metrics["env_steps"][:, -1].tolist(),
            "eval_return_curve_mean": result.metrics["eval_return"].mean(0).tolist(),
            "compile_time_s": result.compile_time_s,
            "train_time_s": result.train_time_s,
        }
    title = f"REINFORCE on {ENV_ID}, {len(seeds)} seeds"
    plot_curves(
        eval_curves,
        out / "eval_return.png",
        title=title,
        ylabel=f"argmax-policy return ({args.eval_episodes} episodes)",
        solved_at=SOLVED_AT[ENV_ID],
    )
    plot_curves(
        train_curves,
        out / "train_return.png",
        title=title,
        ylabel="training episode return (sampled policy)",
        solved_at=SOLVED_AT[ENV_ID],
    )
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=float))
    print(f"wrote {out}/eval_return.png, train_return.png, summary.json")


if __name__ == "__main__":
    main()
