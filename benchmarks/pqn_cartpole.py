"""PQN on CartPole-v1 beside the default DQN, both at their presets, cold, in alternating pairs.

Each measurement is a fresh subprocess (``benchmarks/_worker.py``: rljax's compile cache
off, so every program compiles from scratch) that trains 16 seeds (``--seeds``) the way
``rljax train AGENT --env CartPole-v1 --seeds 16 --no-compile-cache`` does, and reports:

* compile seconds (tracing, lowering and XLA compiles of the init, training and
  evaluation programs) and train seconds (running them, the preset's evaluations
  included), and their sum: the time to a trained batch of seeds;
* the seeds solved: each seed's final greedy evaluation (100 episodes) at 475 or more;
* the median over seeds of the env steps at which a seed's evaluation first reached 475
  and from which it held 475 to the end (``summary.json``'s ``steps_to_threshold`` and
  ``steps_to_held_threshold``; seeds that never did are left out of the median);
* peak memory: the subprocess's maximum resident set size, read by the subprocess itself
  at its end (``resource.getrusage(RUSAGE_SELF).ru_maxrss``).

The rows run in ``--pairs`` rounds (default 3), each round every row once, their order
alternating from one round to the next, so that a change in the machine's load falls on
both agents; the table gives the median of each column over the rounds, and the ratio
is the median over rounds of PQN's total over DQN's total in the same round.

Rows: ``pqn`` (``rljax train pqn --env CartPole-v1``: the preset), ``dqn``
(``rljax train dqn --env CartPole-v1``: the default DQN), and optionally ``pqn-purejaxql``:
purejaxql's ``config/alg/pqn_cartpole.yaml`` as overrides (:data:`PUREJAXQL_CARTPOLE`,
500k env steps; minutes per run on 2 CPU cores, so not in the default rows).

Run::

    .venv/bin/python benchmarks/pqn_cartpole.py
    .venv/bin/python benchmarks/pqn_cartpole.py --pairs 1 --rows pqn,dqn,pqn-purejaxql

Writes ``--out``/results.json (every measurement) and prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

# rljax from this checkout, also for a Python whose environment does not install it.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _worker import print_worker_result, result_row, worker_result  # benchmarks/, the script's own folder

ENV_ID = "CartPole-v1"
SOLVED_AT = 475.0
ROWS = ("pqn", "dqn", "pqn-purejaxql")
DEFAULT_ROWS = ("pqn", "dqn")

# purejaxql's config/alg/pqn_cartpole.yaml, over the preset's fields (the rest are
# PQNConfig's defaults: gamma 0.99, global-norm clip 10, squared error, start epsilon 1).
PUREJAXQL_CARTPOLE = {
    "num_envs": 32,
    "rollout_length": 64,
    "num_epochs": 4,
    "num_minibatches": 16,
    "hidden_sizes": (256, 256),
    "optimizer": "radam",
    "learning_rate": 1e-4,
    "learning_rate_end_fraction": 0.0,
    "reward_scale": 0.1,
    "q_lambda": 0.95,
    "epsilon_end": 0.2,
    "epsilon_decay_fraction": 0.2,
    "schedule_steps": 0,
}
PUREJAXQL_STEPS = 499_712  # 5e5 rounded down to whole updates of 32 x 64 steps
PUREJAXQL_EVAL_EVERY = 124_928  # 4 evaluations


def run_row(row: str, num_seeds: int, total_steps: int | None, overrides: dict) -> dict:
    """Trains ``num_seeds`` seeds of one row in this process; what the table needs."""
    import rljax

    rljax.use_cpu_devices()  # before anything uses JAX: 2 CPU devices, as the rljax command has

    agent = "dqn" if row == "dqn" else "pqn"
    kwargs = {}
    if row == "pqn-purejaxql":
        kwargs = {"total_steps": PUREJAXQL_STEPS, "eval_every": PUREJAXQL_EVAL_EVERY}
        overrides = {**PUREJAXQL_CARTPOLE, **overrides}
    if total_steps:
        kwargs = {"total_steps": total_steps, "eval_every": total_steps}
    result = rljax.train(
        agent, ENV_ID, list(range(num_seeds)), overrides=overrides, progress=False, compile_cache=False, **kwargs
    )
    return {**result_row(result), "config": result.summary()["config"]}


def measure(row: str, num_seeds: int, total_steps: int | None = None, overrides: dict | None = None) -> dict:
    """One row in a cold subprocess (``_worker.worker_result``), with its derived numbers."""
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", row, "--num-seeds", str(num_seeds)]
    if total_steps:
        cmd += ["--total-steps", str(total_steps)]
    if overrides:
        cmd += ["--overrides", json.dumps(overrides)]
    out = worker_result(cmd)
    if "error" in out:
        return out
    out["solved"] = sum(r >= SOLVED_AT for r in out["final_greedy_return"])
    out["seeds"] = len(out["final_greedy_return"])
    out["total_s"] = out["compile_s"] + out["train_s"]
    out["median_steps_first"] = _median(out["steps_to_threshold"])
    out["median_steps_held"] = _median(out["steps_to_held_threshold"])
    return out


def _median(values: list | None) -> float | None:
    values = [v for v in values or [] if v is not None]
    return float(np.median(values)) if values else None


def round_orders(rows: list[str], pairs: int) -> list[list[str]]:
    """The order of the rows in each round: as given, then reversed, and so on."""
    return [list(rows) if i % 2 == 0 else list(reversed(rows)) for i in range(pairs)]


def summarize(rounds: list[dict[str, dict]], rows: list[str]) -> dict[str, dict]:
    """Per row, the median over rounds of every column (failed measurements left out)."""
    table = {}
    for row in rows:
        done = [r[row] for r in rounds if row in r and "error" not in r[row]]
        if not done:
            continue
        table[row] = {
            "measurements": len(done),
            "seeds": done[0]["seeds"],
            "env_steps_per_seed": done[0]["env_steps_per_seed"],
            **{
                key: _median([m[key] for m in done])
                for key in (
                    "compile_s",
                    "train_s",
                    "total_s",
                    "solved",
                    "median_steps_first",
                    "median_steps_held",
                    "peak_rss_mb",
                )
            },
            "solved_each": [m["solved"] for m in done],
        }
        if row != "dqn":
            ratios = [
                r[row]["total_s"] / r["dqn"]["total_s"]
                for r in rounds
                if row in r and "dqn" in r and "error" not in r[row] and "error" not in r["dqn"]
            ]
            table[row]["ratio_to_dqn"] = _median(ratios)
            table[row]["ratios_to_dqn"] = ratios
    return table


def markdown(table: dict[str, dict]) -> str:
    """The table printed at the end (and pasted into docs/guide/results.md)."""

    def num(x, fmt):
        return "-" if x is None else format(x, fmt) + ("x" if fmt == ".2f" else "")

    lines = [
        "| row | env steps per seed | compile s | train s | total s | / DQN total | solved (each round) "
        "| median env steps to 475, first / held | peak RSS MB |",
        "| --- | ---: | ---: | ---: | ---: | ---: | --- | --- | ---: |",
    ]
    for row, t in table.items():
        solved = ", ".join(f"{s}/{t['seeds']}" for s in t["solved_each"])
        ratio = "1 (reference)" if row == "dqn" else num(t.get("ratio_to_dqn"), ".2f")
        lines.append(
            f"| {row} | {t['env_steps_per_seed']:,} | {t['compile_s']:.1f} | {t['train_s']:.1f} | "
            f"{t['total_s']:.1f} | {ratio} | {solved} | "
            f"{num(t['median_steps_first'], ',.0f')} / {num(t['median_steps_held'], ',.0f')} | "
            f"{t['peak_rss_mb']:.0f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", default=",".join(DEFAULT_ROWS), help=f"comma-separated, of {', '.join(ROWS)}")
    parser.add_argument("--pairs", type=int, default=3, help="rounds of every row, in alternating order")
    parser.add_argument("--seeds", type=int, default=16, help="seeds 0..N-1")
    parser.add_argument("--total-steps", type=int, help="env steps per seed for every row (default: the presets')")
    parser.add_argument("--overrides", default="{}", help="JSON hyperparameter overrides for every row (tests)")
    parser.add_argument("--out", default="results/bench_pqn_cartpole")
    parser.add_argument("--worker", choices=ROWS, help=argparse.SUPPRESS)
    parser.add_argument("--num-seeds", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    overrides = json.loads(args.overrides)
    if args.worker:
        out = run_row(args.worker, args.num_seeds, args.total_steps, overrides)
        print_worker_result(out)
        return

    rows = [r for r in args.rows.split(",") if r]
    unknown = [r for r in rows if r not in ROWS]
    if unknown or "dqn" not in rows:
        parser.error(f"rows must include dqn (the reference) and be of {', '.join(ROWS)}; got {args.rows}")
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    rounds: list[dict[str, dict]] = []
    for i, order in enumerate(round_orders(rows, args.pairs)):
        rounds.append({})
        for row in order:
            r = rounds[-1][row] = measure(row, args.seeds, args.total_steps, overrides)
            if "error" in r:
                print(f"round {i + 1} {row}: FAILED: {r['error'].strip().splitlines()[-1:] or '?'}", flush=True)
                continue
            print(
                f"round {i + 1} {row:<14} compile {r['compile_s']:5.1f} s  train {r['train_s']:6.1f} s  "
                f"solved {r['solved']}/{r['seeds']}  peak {r['peak_rss_mb']:.0f} MB",
                flush=True,
            )
        (out_dir / "results.json").write_text(
            json.dumps({"env": ENV_ID, "argv": sys.argv, "rounds": rounds}, indent=2, default=list)
        )
    table = summarize(rounds, rows)
    (out_dir / "results.json").write_text(
        json.dumps({"env": ENV_ID, "argv": sys.argv, "rounds": rounds, "table": table}, indent=2, default=list)
    )
    print(markdown(table))
    print(f"wrote {out_dir}/results.json")


if __name__ == "__main__":
    main()
