"""The GPU benchmark suite: one command, about 8 minutes on one GPU, a JSON and a markdown table.

    python benchmarks/gpu_suite.py --out results/gpu_suite          # on the GPU machine
    python benchmarks/gpu_suite.py --tiny --out /tmp/gpu_suite      # the same code paths, toy sizes, CPU

Cells (each its own process, so compile caches and XLA flags do not leak between them):

- the default DQN on CartPole-v1 with 16, 128 and 1024 seeds in one program each:
  compile s, train s, env steps/s, solved fraction, peak device memory;
- the same 128-seed run with ``--deterministic`` (``--xla_gpu_deterministic_ops``): its
  cost as a ratio of train seconds;
- seed 5 alone vs seed 5 in the 1024-seed batch: bitwise equal or not (and if not, the
  largest parameter difference and whether the greedy returns differ);
- Q-learning on Taxi-v3 with 4096 seeds, REINFORCE on CartPole-v1 with 1024 seeds;
- DQN with the MinAtar CNN on Breakout-MinAtar, 16 seeds, a budget of env steps that fits
  in about 3 minutes: the return curve.

``--tiny`` shrinks every size (seeds, steps) so that a CPU runs the whole suite in a
couple of minutes; the test suite runs it (tests/project/test_gpu_suite.py).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from rljax._defaults import DEFAULT_LANE_WIDTH

ROOT = Path(__file__).resolve().parents[1]
SOLVED = {"CartPole-v1": 475.0, "Taxi-v3": 7.0}

FULL = {
    "dqn_seeds": [16, 128, 1024],
    "dqn_steps": None,  # the preset's
    "deterministic_seeds": 128,
    "invariance_batch": 1024,
    "taxi_seeds": 4096,
    "taxi_steps": None,
    "reinforce_seeds": 1024,
    "reinforce_steps": None,
    "breakout_seeds": 16,
    "breakout_steps": 1_000_000,
    "eval_episodes": 100,
}
TINY = {
    "dqn_seeds": [2, 4],
    "dqn_steps": 3000,
    "deterministic_seeds": 2,
    "invariance_batch": 8,
    "taxi_seeds": 8,
    "taxi_steps": 4000,
    "reinforce_seeds": 2,
    "reinforce_steps": 4000,
    "breakout_seeds": 2,
    "breakout_steps": 2000,
    "eval_episodes": 5,
}
TINY_DQN = {"hidden_sizes": (16,), "learning_starts": 200, "batch_size": 32, "buffer_size": 2000}


def peak_memory_bytes() -> int | None:
    """Peak bytes in use on device 0 (GPU); None where the backend does not say (CPU)."""
    import jax

    stats = jax.devices()[0].memory_stats() or {}
    return stats.get("peak_bytes_in_use")


def cell(
    name: str,
    agent: str,
    env: str,
    seeds: list[int],
    total_steps: int | None,
    overrides: dict,
    eval_episodes: int,
    compiler_options: dict | None = None,
    eval_every: int | None = None,
    lane_width: int = DEFAULT_LANE_WIDTH,
) -> dict:
    """Trains one configuration in this process and returns its row."""
    import jax
    import numpy as np

    import rljax

    result = rljax.train(
        agent,
        env,
        seeds,
        overrides,
        total_steps=total_steps,
        eval_episodes=eval_episodes,
        eval_every=eval_every,
        compiler_options=compiler_options,
        lane_width=lane_width,
    )
    steps = result.env_steps_per_seed * len(seeds)
    final = np.asarray(result.final_eval_return, dtype=float)
    row = {
        "cell": name,
        "agent": agent,
        "env": env,
        "seeds": len(seeds),
        "env_steps_per_seed": result.env_steps_per_seed,
        "compile_s": round(result.compile_time_s, 2),
        "train_s": round(result.train_time_s, 2),
        "env_steps_per_s": round(steps / max(result.train_time_s, 1e-9)),
        "mean_return": round(float(np.nanmean(final)), 3),
        "solved_fraction": (float((final >= SOLVED[env]).mean()) if env in SOLVED else None),
        "peak_device_bytes": peak_memory_bytes(),
        "device": str(jax.devices()[0].device_kind),
        "deterministic": "--xla_gpu_deterministic_ops=true" in os.environ.get("XLA_FLAGS", ""),
    }
    if name == "breakout":
        row["curve_steps"] = result.metrics["env_steps"][0].tolist()
        row["curve_mean_return"] = np.nanmean(result.metrics["eval_return"], axis=0).round(3).tolist()
    return row


def invariance(
    batch: int, total_steps: int | None, overrides: dict, eval_episodes: int, compiler_options: dict | None = None
) -> dict:
    """Seed 5 alone vs seed 5 inside a batch of ``batch`` seeds (DQN, CartPole-v1)."""
    import jax
    import numpy as np

    import rljax

    kw = dict(total_steps=total_steps, eval_episodes=eval_episodes, compiler_options=compiler_options)
    alone = rljax.train("dqn", "CartPole-v1", [5], overrides, **kw)
    many = rljax.train("dqn", "CartPole-v1", list(range(batch)), overrides, **kw)
    a = jax.tree.leaves(alone.agent_states().params)
    b = [x[5:6] for x in jax.tree.leaves(many.agent_states().params)]
    diff = max(float(np.max(np.abs(np.asarray(x, float) - np.asarray(y, float)))) for x, y in zip(a, b))
    return {
        "cell": "invariance",
        "batch": batch,
        "bitwise_equal_params": diff == 0.0,
        "max_param_diff": diff,
        "return_alone": float(alone.final_eval_return[0]),
        "return_in_batch": float(many.final_eval_return[5]),
        "returns_differ": float(alone.final_eval_return[0]) != float(many.final_eval_return[5]),
        "device": str(jax.devices()[0].device_kind),
    }


def run_cell(spec: dict) -> dict:
    import rljax

    rljax.use_cpu_devices()  # before anything uses JAX: 2 CPU devices, as the rljax command has

    # JSON turned tuples (hidden_sizes) into lists; configs want them back.
    overrides = {k: tuple(v) if isinstance(v, list) else v for k, v in spec["overrides"].items()}
    options = None
    if spec.get("fast_compile"):
        from rljax.training.batch import FAST_COMPILE as options
    if spec["kind"] == "invariance":
        return invariance(spec["batch"], spec["steps"], overrides, spec["eval_episodes"], options)
    seeds = list(range(spec["seeds"]))
    return cell(
        spec["name"],
        spec["agent"],
        spec["env"],
        seeds,
        spec["steps"],
        overrides,
        spec["eval_episodes"],
        options,
        spec.get("eval_every"),
        spec.get("lane_width", DEFAULT_LANE_WIDTH),
    )


def _train(name: str, agent: str, env: str, seeds: int, steps: int | None, overrides: dict, **extra) -> dict:
    return dict(kind="train", name=name, agent=agent, env=env, seeds=seeds, steps=steps, overrides=overrides, **extra)


def plan(sizes: dict, tiny: bool) -> list[dict]:
    dqn = TINY_DQN if tiny else {}
    steps, n = sizes["dqn_steps"], sizes["deterministic_seeds"]
    cells = [_train(f"dqn_{k}", "dqn", "CartPole-v1", k, steps, dqn) for k in sizes["dqn_seeds"]]
    cells.append(_train(f"dqn_{n}_deterministic", "dqn", "CartPole-v1", n, steps, dqn, deterministic=True))
    cells.append(
        dict(kind="invariance", name="invariance", batch=sizes["invariance_batch"], steps=steps, overrides=dqn)
    )
    cells.append(_train("taxi_q_learning", "q_learning", "Taxi-v3", sizes["taxi_seeds"], sizes["taxi_steps"], {}))
    cells.append(
        _train("reinforce", "reinforce", "CartPole-v1", sizes["reinforce_seeds"], sizes["reinforce_steps"], {})
    )
    breakout = {"hidden_sizes": (16,), "learning_starts": 200, "batch_size": 32} if tiny else {}
    # Tiny: 4 evaluations, not 20 (a greedy untrained CNN plays up to 1,000 steps per episode).
    every = {"eval_every": sizes["breakout_steps"] // 4} if tiny else {}
    cells.append(
        _train(
            "breakout", "dqn", "Breakout-MinAtar", sizes["breakout_seeds"], sizes["breakout_steps"], breakout, **every
        )
    )
    for c in cells:
        c["eval_episodes"] = sizes["eval_episodes"]
        # Toy sizes: XLA's optimisation passes would be most of the time, and the code
        # paths (what --tiny checks) are the same without them. Not for the CNN: it runs
        # ~3x slower without them (tiny Breakout: 244 s vs 90 s in all).
        c["fast_compile"] = tiny and c["name"] != "breakout"
        if tiny and c["kind"] == "train":
            # One lane as wide as the seeds: a default lane of 8 would pad 2 seeds to 8
            # runs, and to 16 over 2 CPU devices (tiny Breakout: train 36 s -> 5 s).
            c["lane_width"] = c["seeds"]
    return cells


def markdown(rows: list[dict]) -> str:
    lines = [
        "| cell | seeds | env steps/seed | compile s | train s | env steps/s | mean return | solved | peak MB |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if r.get("cell") == "invariance":
            continue
        peak = r.get("peak_device_bytes")
        solved = r.get("solved_fraction")
        lines.append(
            f"| {r['cell']} | {r['seeds']} | {r['env_steps_per_seed']} | {r['compile_s']} | {r['train_s']} | "
            f"{r['env_steps_per_s']:,} | {r['mean_return']} | {'—' if solved is None else f'{solved:.0%}'} | "
            f"{'—' if peak is None else round(peak / 2**20)} |"
        )
    by = {r["cell"]: r for r in rows}
    det = [r for r in rows if r["cell"].endswith("_deterministic")]
    if det:
        base = by.get(det[0]["cell"].replace("_deterministic", ""))
        if base:
            lines += [
                "",
                f"`--deterministic` cost: train {det[0]['train_s']} s vs {base['train_s']} s "
                f"(ratio {det[0]['train_s'] / max(base['train_s'], 1e-9):.2f})",
            ]
    inv = by.get("invariance")
    if inv:
        lines += [
            "",
            f"Seed 5 alone vs in a batch of {inv['batch']}: parameters bitwise equal: "
            f"{inv['bitwise_equal_params']} (max difference {inv['max_param_diff']:.3g}); greedy return "
            f"{inv['return_alone']} vs {inv['return_in_batch']}",
        ]
    return "\n".join(lines) + "\n"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="folder for suite.json and suite.md")
    p.add_argument("--tiny", action="store_true", help="toy sizes (CPU): the same code paths in minutes")
    p.add_argument("--only", default=None, help="comma-separated cell names to run (default: all)")
    p.add_argument("--cell", default=None, help=argparse.SUPPRESS)  # internal: run one cell, print its JSON
    args = p.parse_args()
    if args.cell is not None:
        print("CELL " + json.dumps(run_cell(json.loads(args.cell))), flush=True)
        return 0
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    cells = plan(TINY if args.tiny else FULL, args.tiny)
    if args.only:
        keep = set(args.only.split(","))
        cells = [c for c in cells if c["name"] in keep]
    rows = []
    for spec in cells:
        env = dict(os.environ)
        if spec.get("deterministic"):
            env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") + " --xla_gpu_deterministic_ops=true").strip()
        start = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, __file__, "--out", str(out), "--cell", json.dumps(spec)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
        )
        lines = [x for x in proc.stdout.splitlines() if x.startswith("CELL ")]
        if proc.returncode != 0 or not lines:
            print(f"{spec['name']}: FAILED\n{proc.stderr[-2000:]}", file=sys.stderr)
            rows.append({"cell": spec["name"], "failed": True})
            continue
        row = json.loads(lines[-1][5:])
        row["wall_s"] = round(time.perf_counter() - start, 1)
        rows.append(row)
        print(f"{spec['name']}: {json.dumps(row)[:300]}", flush=True)
    ok = [r for r in rows if not r.get("failed")]
    (out / "suite.json").write_text(json.dumps(rows, indent=1))
    (out / "suite.md").write_text(markdown(ok))
    print(markdown(ok))
    return 0 if len(ok) == len(rows) else 1


if __name__ == "__main__":
    sys.exit(main())
