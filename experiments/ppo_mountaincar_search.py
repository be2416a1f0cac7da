"""The search behind PPO's MountainCarContinuous-v0 preset: which settings leave the do-nothing optimum.

MountainCarContinuous-v0 pays -0.1 a^2 per step and +100 at the flag (999 steps at most); a
policy that never reaches the flag learns to stand still (return ~0). "Solved" is
Gymnasium's threshold, a greedy (Gaussian mean) return >= 90.

Every stage is :func:`rljax.sweep`: traced hyperparameters (gamma, initial_log_std,
entropy_coef) vary inside one compiled program; each static setting (normalize_obs,
scale_rewards, num_envs, rollout_length) is its own program. Stages score with 10-episode
greedy evaluations every 32,768 env steps on seeds 0-15; ``check`` runs the preset as
``rljax train`` does (100-episode evaluations) on seeds 0-15 and 16-31.

1. ``switches``: observation normalisation x reward scaling, gamma 0.99 / 0.999, and PPO's
   defaults (4 envs x 128 steps, no normalisation) at the same budget.
2. ``explore``: initial_log_std -1 / 0 / 0.5 x entropy_coef 0 / 0.01, both switches on.
3. ``shape``: 4 / 16 / 64 envs x 64 / 256 / 1024 steps per rollout, both switches on.
4. ``budget``: the base at 65k, 131k and 262k env steps per seed.
5. ``check``: the preset, 100-episode evaluations, seeds 0-15 and 16-31.

Base (what every stage changes one thing of): 16 envs x 256 steps, 4 epochs of 8
minibatches, lr 3e-4 annealed to 0, entropy 0.01, initial log-std 0, 131,072 env steps.

    .venv/bin/python experiments/ppo_mountaincar_search.py --out results/ppo_mcc_search

Score of a configuration: seeds whose final greedy return is >= 90, then the IQM of the
final returns. ``train_s`` is the program's train time divided by its configurations.

What it found (seeds 0-15, 10-episode evaluations; 2-core Intel Xeon CPU shared with other
jobs, 2026-12-07; the search stages took ~45 min there). Solved / IQM of the final returns:

- ``switches``: PPO's defaults 0/16 (IQM -0.0 at gamma 0.99, -0.1 at 0.999); the base
  without observation normalisation 0/16 with or without reward scaling (IQM -2.6 to
  -64.1: the action penalty without the flag); with it 16/16 in all four: 95.6 / 95.6
  (gamma 0.99 / 0.999) without reward scaling, 93.7 / 93.9 with it. The velocity spans
  +-0.07 and the position ~1.8: unnormalised, the networks barely see the velocity.
- ``explore`` (reward scaling on, gamma 0.99): initial log-std -1 0/16 at entropy 0 and
  0.01; 0: 15/16 (93.6) and 16/16 (93.7); 0.5: 6/16 (89.4, 89.2: a noisier policy's mean
  is a less economical driver).
- ``shape`` (reward scaling on; gamma 0.99 / 0.999): 4 envs x 256 16/16, 16/16; 64 x 256
  3/16, 5/16 (8 updates); 16 x 64 12/16, 16/16; 16 x 1024 8/16, 11/16 (8 updates, seeds
  still at 0).
- ``budget`` (reward scaling on): 65k steps 14/16 (97.3), 16/16 (97.1); 262k 15/16 (91.0),
  12/16 (90.8): with the anneal stretched over a longer run the returns drift down.
- The preset is the base without reward scaling; ``check`` (100-episode evaluations) on
  seeds 0-15: 16/16, IQM 95.6, worst 93.5 (``rljax train ppo --env
  MountainCarContinuous-v0 --seeds 16``: compile 67 s, train 158 s on the loaded CPU).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

import rljax

rljax.use_cpu_devices()  # before anything uses JAX: 2 CPU devices, as the rljax command has

from rljax.analysis.stats import iqm

ENV = "MountainCarContinuous-v0"
SOLVED = 90.0
TOTAL_STEPS = 131_072
EVAL_EVERY = 32_768
BASE: dict[str, Any] = {
    "num_envs": 16,
    "rollout_length": 256,
    "num_epochs": 4,
    "num_minibatches": 8,
    "learning_rate": 3e-4,
    "normalize_obs": True,
    "scale_rewards": True,
}
DEFAULTS = {k: False for k in ("normalize_obs", "scale_rewards")}  # PPO's own defaults, nothing else set

# (label, overrides on top of BASE, grid, total_steps)
STAGES: dict[str, list[tuple[str, dict[str, Any], dict[str, list[Any]], int]]] = {
    "switches": [
        ("ppo defaults", {"__defaults__": True}, {"gamma": [0.99, 0.999]}, TOTAL_STEPS),
        (
            "base",
            {},
            {"normalize_obs": [False, True], "scale_rewards": [False, True], "gamma": [0.99, 0.999]},
            TOTAL_STEPS,
        ),
    ],
    "explore": [
        ("base", {}, {"initial_log_std": [-1.0, 0.0, 0.5], "entropy_coef": [0.0, 0.01]}, TOTAL_STEPS),
    ],
    "shape": [
        ("4 envs x 256", {"num_envs": 4}, {"gamma": [0.99, 0.999]}, TOTAL_STEPS),
        ("64 envs x 256", {"num_envs": 64}, {"gamma": [0.99, 0.999]}, TOTAL_STEPS),
        ("16 envs x 64", {"rollout_length": 64}, {"gamma": [0.99, 0.999]}, TOTAL_STEPS),
        ("16 envs x 1024", {"rollout_length": 1024}, {"gamma": [0.99, 0.999]}, TOTAL_STEPS),
    ],
    "budget": [
        ("base 65k", {}, {"gamma": [0.99, 0.999]}, 65_536),
        ("base 262k", {}, {"gamma": [0.99, 0.999]}, 262_144),
    ],
}


def score(returns: np.ndarray) -> dict[str, Any]:
    """Solved count and IQM of one configuration's ``[seeds, segments]`` greedy returns."""
    final = returns[:, -1]
    return {
        "solved": int((final >= SOLVED).sum()),
        "seeds": len(final),
        "iqm": round(float(iqm(final)), 1),
        "worst": round(float(final.min()), 1),
        "finals": np.round(final, 1).tolist(),
    }


def run_stage(name: str, seeds: range, eval_episodes: int) -> list[dict[str, Any]]:
    rows = []
    for label, change, grid, total_steps in STAGES[name]:
        overrides = dict(DEFAULTS) if change.get("__defaults__") else {**BASE, **change}
        start = time.perf_counter()
        sweep = rljax.sweep(
            "ppo",
            ENV,
            grid,
            seeds=seeds,
            overrides=overrides,
            allow_recompile=True,
            total_steps=total_steps,
            eval_every=EVAL_EVERY,
            eval_episodes=eval_episodes,
            progress=False,
        )
        wall = time.perf_counter() - start
        for i, combo in enumerate(sweep.combos):
            result = sweep.results[sweep.program[i]]
            per_config = result.train_time_s / sweep.program.count(sweep.program[i])
            row = {"stage": name, "variant": label, "total_steps": total_steps, **combo}
            row.update(score(sweep.curves(i)[1]), train_s=round(per_config, 1))
            rows.append(row)
            print(
                f"[{name}] {label:14s} {total_steps:7d} {sweep.labels[i]:55s} solved {row['solved']:2d}/{row['seeds']} "
                f"IQM {row['iqm']:6.1f} worst {row['worst']:6.1f} train {per_config:.0f}s/config",
                flush=True,
            )
        print(f"[{name}] {label}: {len(sweep.combos)} configs x {len(seeds)} seeds in {wall:.0f} s", flush=True)
    return rows


def check(seed_sets: list[range]) -> list[dict[str, Any]]:
    """The preset as ``rljax train`` runs it: 100-episode evaluations, compile and train time."""
    rows = []
    for seeds in seed_sets:
        r = rljax.train("ppo", ENV, seeds=seeds, eval_episodes=100, progress=False, compile_cache=False)
        row = {"stage": "check", "seed_range": f"{seeds.start}-{seeds.stop - 1}"}
        row.update(score(r.metrics["eval_return"]))
        row.update(compile_s=round(r.compile_time_s, 1), train_s=round(r.train_time_s, 1))
        rows.append(row)
        print(
            f"[check] seeds {row['seed_range']}: solved {row['solved']}/{row['seeds']} (final greedy mean of 100 "
            f"episodes >= {SOLVED:.0f}), IQM {row['iqm']}, worst {row['worst']}, "
            f"compile {row['compile_s']} s, train {row['train_s']} s",
            flush=True,
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="results/ppo_mcc_search", help="folder for results.json")
    parser.add_argument("--seeds", type=int, default=16, help="seeds per configuration in the search stages")
    parser.add_argument("--eval-episodes", type=int, default=10, help="episodes per evaluation in the search")
    parser.add_argument("--stages", default="switches,explore,shape,budget,check", help="comma-separated")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for name in args.stages.split(","):
        if name == "check":
            rows += check([range(0, 16), range(16, 32)])
        else:
            rows += run_stage(name, range(args.seeds), args.eval_episodes)
        (out / "results.json").write_text(json.dumps(rows, indent=1, default=str))
    print(f"results: {out / 'results.json'}")


if __name__ == "__main__":
    main()
