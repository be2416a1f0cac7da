"""The search behind DQN's CartPole-v1 preset: Huber loss, 16 seeds solved in as little wall time as possible.

Every stage is :func:`rljax.sweep`: a grid over traced hyperparameters (learning rate,
tau, huber_delta, gamma, epsilons) is ONE compiled program with every configuration
and seed vmapped together; a static one (network widths, batch size, double DQN,
obs_scale) changes the program, so each static variant is its own sweep. Stages 1-3 score with
20-episode evaluations on seeds 0-15, stage 4 checks the winner with the preset's
own 100-episode evaluations on seeds 0-15 and on fresh seeds 16-47.

1. ``delta``: huber_delta in {1, 3, 10, 20, 100} at the preset (why Huber(1) fails).
2. ``traced``: learning_rate x tau x huber_delta at the preset's static structure.
3. ``static``: one change at a time at the preset -- a 128x64, 128x32, 64x32, 64x64 or
   128x128 network, batch 64, Double DQN, no obs_scale.
4. ``check``: the preset, 100-episode evaluations, seeds 0-15 and 16-47.

Score of a configuration: seeds whose final greedy return is >= 475 ("solved"), then
seeds solved at both of the last two evaluations, then the median env step at which a
seed first reached 475. ``train_s`` is the program's train time divided by its
configurations (compile excluded): what one configuration of 16 seeds costs.

    .venv/bin/python experiments/dqn_cartpole_preset_search.py --out results/dqn_cartpole_search

takes ~6.5 minutes on 2 CPU cores (``--quick``: stages 1 and 4, ~2.5). What it found
(Dec 2026, seeds 0-15, 20-episode evaluations unless said otherwise):

- ``delta``: huber_delta 1 solves 4/16, 3: 10/16, 10: 16/16, 20: 15/16, 100: 15/16. On
  64 more seeds (16-79) 10 solves 55/64, 20 61/64: the preset's 20. Why 1 fails: the
  docstring of :mod:`rljax.agents.dqn`.
- ``traced``: learning rate 1e-2 with tau 0.1 (the middle of the grid) solves 16/16
  (delta 10) and 15/16 (delta 20); the 8 other points of lr {6e-3, 1e-2, 1.4e-2} x
  tau {0.07, 0.1, 0.15} solve 11-15/16.
- ``static`` (when the preset's network was 128x64): 64x64 13/16, 128x128 16/16 at 1.4x
  the train time of 128x64, batch 64 14/16, Double DQN 14/16, no obs_scale 13/16 with the
  median first solve at 32k env steps instead of 4.6k.
- Network widths (Dec 3 2026, 32-48 seeds, 20-episode evaluations; then ``check``-style
  100-episode runs of seeds 0-15, 16-47 and 100-131): the gradient steps are most of the
  train time and the second layer most of their multiply-adds. Seeds 0-31: 128x64 30/32
  (train 20.6 s per configuration of 32 seeds), 128x32 29-30/32 (14.4 s), 128x16 26-28/32,
  64x32 27-29/32 (9.8 s), 256x16 29-31/32. Seeds 16-63 over lr {1e-2, 1.4e-2, 2e-2} x tau
  {0.1, 0.15}: 128x32 37-45/48 (best at the preset's 1e-2 / 0.1), 64x32 34-42/48. With
  100-episode evaluations 128x32 solved 14/16, 30/32, 30/32 (74/80) and 128x48 16/16,
  29/32, 30/32 (75/80, as 128x64): the preset's 128x48, 18.3 s cold against 21.4 s
  (medians of 4 alternating pairs, see the preset's comments in rljax/agents/dqn.py).
- ``check`` (100-episode evaluations, as ``rljax train`` ran it then, 20 evaluations,
  XLA's default CPU options): seeds 0-15 15/16, 16-47 31/32 (and, run separately,
  100-131 28/32). Since then the preset evaluates 10 times and the CPU programs compile
  at LLVM level 1, which changes the floating-point trajectory: 15/16, 28/32 and 29/32
  (72/80); compile ~8-10 s, train ~9 s for 16 seeds on a quiet machine.

Earlier hand-run sweeps, not repeated here (all at 46-48k env steps, 16-32 seeds):
without obs_scale a 64x64 network never leaves the ~250-step plateau (0/8); gamma 0.95-
0.98 plateaus at ~250-300 (4-10/32); a single hidden layer of 64-256 units 0-4/32;
collecting 1600-4096 env steps between updates (fewer evaluations, see ``eval_every``)
solves 13-28/32.
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

from rljax.agents.dqn import PRESETS

ENV = "CartPole-v1"
SOLVED = 475.0
PRESET = dict(PRESETS[ENV])
TOTAL_STEPS = PRESET.pop("total_steps")
# The preset's evaluation cadence is applied by rljax.build itself; it is not a hyperparameter.
PRESET.pop("evaluations", None)

STAGES: dict[str, list[tuple[str, dict[str, Any], dict[str, list[Any]]]]] = {
    "delta": [("preset", {}, {"huber_delta": [1.0, 3.0, 10.0, 20.0, 100.0]})],
    "traced": [
        ("preset", {}, {"learning_rate": [6e-3, 1e-2, 1.4e-2], "tau": [0.07, 0.1, 0.15], "huber_delta": [10.0, 20.0]})
    ],
    "static": [
        ("128x64", {"hidden_sizes": (128, 64)}, {"learning_rate": [1e-2]}),
        ("128x32", {"hidden_sizes": (128, 32)}, {"learning_rate": [1e-2]}),
        ("64x32", {"hidden_sizes": (64, 32)}, {"learning_rate": [1e-2, 1.4e-2]}),
        ("64x64", {"hidden_sizes": (64, 64)}, {"learning_rate": [1e-2]}),
        ("128x128", {"hidden_sizes": (128, 128)}, {"learning_rate": [1e-2]}),
        ("batch 64", {"batch_size": 64}, {"learning_rate": [1e-2]}),
        ("double DQN", {"double_dqn": True}, {"learning_rate": [1e-2]}),
        ("no obs_scale", {"obs_scale": (1.0,)}, {"learning_rate": [1e-2]}),
    ],
}


def score(steps: np.ndarray, returns: np.ndarray) -> dict[str, Any]:
    """Solved counts and time to solve of one configuration's ``[seeds, segments]`` eval returns."""
    final = returns[:, -1]
    first = [int(steps[np.argmax(r >= SOLVED)]) for r in returns if (r >= SOLVED).any()]
    return {
        "solved": int((final >= SOLVED).sum()),
        "seeds": len(final),
        "solved_last_two": int((returns[:, -2:] >= SOLVED).all(axis=1).sum()),
        "median_first_solve_step": float(np.median(first)) if first else None,
        "finals": np.round(final, 1).tolist(),
    }


def run_stage(name: str, seeds: range, total_steps: int, eval_episodes: int) -> list[dict[str, Any]]:
    rows = []
    for label, static, grid in STAGES[name]:
        start = time.perf_counter()
        sweep = rljax.sweep(
            "dqn",
            ENV,
            grid,
            seeds=seeds,
            overrides={**PRESET, **static},
            total_steps=total_steps,
            eval_episodes=eval_episodes,
            progress=False,
        )
        wall = time.perf_counter() - start
        result = sweep.results[0]
        per_config = result.train_time_s / len(sweep.combos)
        for i, combo in enumerate(sweep.combos):
            row = {"stage": name, "variant": label, **static, **combo, **score(*sweep.curves(i))}
            row.update(train_s=round(per_config, 2), compile_s=round(result.compile_time_s, 2))
            rows.append(row)
            print(
                f"[{name}] {label:12s} {sweep.labels[i]:55s} solved {row['solved']:2d}/{row['seeds']} "
                f"last-two {row['solved_last_two']:2d} first-solve {row['median_first_solve_step']} "
                f"train {per_config:.1f}s/config",
                flush=True,
            )
        print(f"[{name}] {label}: {len(sweep.combos)} configs x {len(seeds)} seeds in {wall:.0f} s", flush=True)
    return rows


def check(seed_sets: list[range]) -> list[dict[str, Any]]:
    """The preset as ``rljax train`` runs it: 100-episode evaluations, compile and train time."""
    rows = []
    for seeds in seed_sets:
        r = rljax.train("dqn", ENV, seeds=seeds, eval_episodes=100, progress=False, compile_cache=False)
        row = {"stage": "check", "seed_range": f"{seeds.start}-{seeds.stop - 1}"}
        row.update(score(r.metrics["env_steps"][0], r.metrics["eval_return"]))
        row.update(compile_s=round(r.compile_time_s, 2), train_s=round(r.train_time_s, 2))
        rows.append(row)
        print(
            f"[check] seeds {row['seed_range']}: solved {row['solved']}/{row['seeds']} (final greedy mean of 100 "
            f"episodes >= {SOLVED:.0f}), median first solve at {row['median_first_solve_step']} env steps, "
            f"compile {row['compile_s']} s, train {row['train_s']} s",
            flush=True,
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="results/dqn_cartpole_search", help="folder for results.json")
    parser.add_argument("--seeds", type=int, default=16, help="seeds per configuration in stages 1-3")
    parser.add_argument("--total-steps", type=int, default=TOTAL_STEPS, help="env steps per seed (the preset's)")
    parser.add_argument("--eval-episodes", type=int, default=20, help="episodes per evaluation in stages 1-3")
    parser.add_argument("--quick", action="store_true", help="stages 1 and 4 only (~3 minutes)")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print(f"base: DQN's {ENV} preset, {args.total_steps} env steps: {PRESET}", flush=True)
    rows = []
    for name in ["delta"] if args.quick else ["delta", "traced", "static"]:
        rows += run_stage(name, range(args.seeds), args.total_steps, args.eval_episodes)
    rows += check([range(0, 16), range(16, 48)])
    (out / "results.json").write_text(json.dumps(rows, indent=1, default=str))
    print(f"results: {out / 'results.json'}")


if __name__ == "__main__":
    main()
