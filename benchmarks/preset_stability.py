"""Does every tuned preset stay solved when it is given more steps?

A preset (``Agent.presets[env_id]``) is tuned at its ``total_steps`` budget. A user who
trains longer expects at least the same result, but a schedule that stretches with the
run (a learning rate annealed over ``total_steps``, an epsilon decayed over a fraction
of it) makes a longer run a *different* run, and a policy that solved the task keeps
being trained. This benchmark trains every (agent, environment) preset at 1x, 2x and 4x
its budget -- only ``total_steps`` changed, ``rljax.train(agent, env, seeds,
total_steps=multiple * budget, progress=False)``, everything else the preset's (the
number of evaluations too, so their interval stretches with the run) -- and reports,
per cell (preset x multiple):

* solved: seeds whose final greedy evaluation (mean return over ``--eval-episodes``
  fresh episodes, 100 by default) is >= the environment's threshold
  (``rljax.envs.registry.solved_at``), as a count and a fraction;
* the mean and minimum final return;
* held: how many seeds are at or above the threshold at each of the last 3
  evaluations, and how many at all three;
* first touch: seeds with any evaluation >= the threshold;
* compile and train seconds (``TrainResult.compile_time_s`` / ``train_time_s``).

Environments without a threshold (Breakout-MinAtar, GridMaze) report the returns only.
Below the table, one line per preset compares the solved counts at 2x and 4x with 1x:
"drops" when a longer run solves at least 2 seeds fewer, with the one-sided Fisher
exact p-value of the fall (a drop of 1 of 16 is within seed noise); it also says when
4x solves at least 2 fewer than 2x (a preset that gains from 2x and loses it again).

Which presets: every ``presets`` entry of every built-in agent (``rljax.agents``), read
when the script starts. The tabular presets are shared by q_learning, sarsa and
expected_sarsa: q_learning runs all of them, sarsa and expected_sarsa Taxi-v3 and
FrozenLake-v1. The tabular CartPole-v1 preset is for the CartPole Q Learning tutorial's
table (``env_kwargs={"discretize": "bins-4x4x29x8"}``, as in the README), which it is run
with. Noise to keep in mind: FrozenLake's optimal policy succeeds ~74% of the time, so
a 100-episode evaluation of an *optimal* policy is >= 0.70 only ~80% of the time.

Expensive presets are left out unless ``--include-expensive`` (or named in ``--only``):

* DQN on Breakout-MinAtar (500k env steps, the MinAtar CNN): ~23 min of training for
  4 seeds (one lane) at 1x on the 2-core CPU this project is developed on, so 16 seeds
  at 1x + 2x + 4x (7 times the 1x cost) would take 5-11 hours there -- not feasible on
  that CPU;
* MuZero on CartPole-v1 (199,680 env steps, a search per action): 16 seeds at 1x trained
  in 582 s on that CPU (compile 11 s), so 2x takes ~20 min and 4x ~40 min; run it alone,
  e.g. ``--only muzero:CartPole-v1 --multiples 1,2``.
* PPO on Breakout-MinAtar (65.5k env steps, the MinAtar CNN in actor and critic, 4
  epochs): 16 seeds reached the first of 8 evaluations after 17 min on that CPU while
  other jobs shared it.

Run (the cheap presets, 16 seeds at 1x, 2x and 4x: 13 min on a 2-core CPU)::

    .venv/bin/python benchmarks/preset_stability.py --out /tmp/preset_stability.json --curves /tmp/preset_curves
    .venv/bin/python benchmarks/preset_stability.py --only dqn:CartPole-v1 --seed-offset 100 --multiples 1,2 \\
        --out /tmp/preset_stability.json --append
    .venv/bin/python benchmarks/preset_stability.py --only muzero:CartPole-v1 --multiples 1,2 \\
        --out /tmp/preset_stability.json --append --curves /tmp/preset_curves

Writes ``--out`` (JSON: every cell with its per-seed final returns and evaluation
curves; rewritten after each cell, so an interrupted run keeps what it finished; with
``--append`` the cells join those already in the file, a cell run again replacing its
earlier entry) and prints the markdown table of every cell in the file. ``--curves DIR``
saves one PNG per cell: each seed's evaluation returns and their mean against env steps.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import math
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any, Sequence

# rljax from this checkout.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

DEFAULT_MULTIPLES = (1, 2, 4)
# Agents that share another agent's preset table run only these of its environments.
SHARED_PRESET_ENVS = ("Taxi-v3", "FrozenLake-v1")
# Presets whose environment needs options to be what the preset was tuned for.
TABULAR_ENV_KWARGS = {"CartPole-v1": {"discretize": "bins-4x4x29x8"}}
# (agent, env) -> why it is left out by default (see the module docstring).
EXPENSIVE = {
    ("dqn", "Breakout-MinAtar"): "~23 min for 4 seeds at 1x on a 2-core CPU; 16 seeds x (1+2+4)x: 5-11 h",
    ("muzero", "CartPole-v1"): "~10 min for 16 seeds at 1x on a 2-core CPU; 1x+2x+4x: ~70 min",
    ("pqn", "Breakout-MinAtar"): "16 seeds x 491k steps: tens of minutes per multiple on a 2-core CPU",
    ("sac", "Pendulum-v1"): "8 gradient steps per 8 env steps: ~30 min for 16 seeds at 1x on a loaded 2-core CPU",
    ("sac", "MountainCarContinuous-v0"): "~20 min for 16 seeds at 1x on a loaded 2-core CPU",
    ("ppo", "Breakout-MinAtar"): "16 seeds on a loaded 2-core CPU: 17 min to the first of 8 evaluations at 1x",
    ("ppo", "brax/inverted_pendulum"): "1000-step episodes: ~4 min for 16 seeds at 1x on a loaded 2-core CPU",
    ("sac", "brax/inverted_pendulum"): "8 gradient steps per 8 env steps: ~6 min for 16 seeds at 1x, loaded 2-core CPU",
}
DROP_SEEDS = 2  # a longer run "drops" when it solves at least this many seeds fewer than 1x


@dataclasses.dataclass(frozen=True)
class Preset:
    agent: str
    env_id: str
    budget: int  # the preset's total_steps
    env_kwargs: dict[str, Any] = dataclasses.field(default_factory=dict)
    expensive: str = ""  # why it is left out by default ("" = cheap)

    @property
    def key(self) -> str:
        return f"{self.agent}:{self.env_id}"


def discover_presets() -> tuple[list[Preset], list[dict[str, str]]]:
    """Every built-in agent's presets, and the agents that could not be loaded (with why)."""
    from rljax.agents import agent_names, get_agent
    from rljax.training.plan import DEFAULT_TOTAL_STEPS

    agents, skipped = {}, []
    for name in agent_names():
        try:
            agents[name] = get_agent(name)
        except Exception as err:  # an agent module that does not import: say so, run the rest
            skipped.append({"agent": name, "reason": f"{type(err).__name__}: {err}"})
    # q_learning first among the agents sharing its table, so it is the one that runs them all.
    order = sorted(agents, key=lambda n: (n != "q_learning", n))
    owner: dict[int, str] = {}  # id(a preset's fields) -> the first agent that has it
    presets = []
    for name in order:
        table = agents[name].presets
        tabular = getattr(agents[name].config_type, "__name__", "") == "TabularConfig"
        for env_id, fields in table.items():
            # A preset shared with an earlier agent (the same fields) runs again only where
            # SHARED_PRESET_ENVS says; an agent's own preset (SARSA's Taxi-v3) always runs.
            if owner.setdefault(id(fields), name) != name and env_id not in SHARED_PRESET_ENVS:
                continue
            env_kwargs = dict(TABULAR_ENV_KWARGS.get(env_id, {})) if tabular else {}
            budget = int(fields.get("total_steps", DEFAULT_TOTAL_STEPS))
            presets.append(Preset(name, env_id, budget, env_kwargs, EXPENSIVE.get((name, env_id), "")))
    presets.sort(key=lambda p: (p.agent, p.env_id))
    return presets, skipped


def select(presets: Sequence[Preset], only: str | None, include_expensive: bool) -> list[Preset]:
    """``--only agent:env,...`` (expensive ones included when named), else every cheap preset."""
    if not only:
        return [p for p in presets if include_expensive or not p.expensive]
    by_key = {p.key: p for p in presets}
    wanted = [k.strip() for k in only.split(",") if k.strip()]
    unknown = [k for k in wanted if k not in by_key]
    if unknown:
        raise SystemExit(f"unknown preset(s) {', '.join(unknown)}; known: {', '.join(by_key)}")
    return [by_key[k] for k in wanted]


def _count(mask: Any) -> int:
    return int(sum(bool(x) for x in mask))


def run_cell(
    preset: Preset,
    multiple: int,
    seeds: Sequence[int],
    *,
    budget: int | None = None,
    eval_episodes: int = 100,
    compiler_options: dict[str, Any] | None = None,
    compile_cache: bool | None = None,
) -> dict[str, Any]:
    """Trains ``preset`` for ``multiple`` x its budget (or ``budget``) on ``seeds``; one cell's numbers."""
    import numpy as np

    import rljax
    from rljax.envs.registry import solved_at

    base = int(budget if budget is not None else preset.budget)
    start = time.perf_counter()
    result = rljax.train(
        preset.agent,
        preset.env_id,
        seeds=list(seeds),
        env_kwargs=dict(preset.env_kwargs) or None,
        total_steps=multiple * base,
        eval_episodes=eval_episodes,
        progress=False,
        compiler_options=compiler_options,
        compile_cache=compile_cache,
    )
    wall_s = time.perf_counter() - start
    curves = np.asarray(result.metrics["eval_return"], dtype=float)  # [seeds, evaluations]
    steps = np.asarray(result.metrics["env_steps"], dtype=float)
    final = curves[:, -1]
    threshold = solved_at(preset.env_id)
    n = len(seeds)
    cell: dict[str, Any] = {
        "agent": preset.agent,
        "env_id": preset.env_id,
        "env_kwargs": dict(preset.env_kwargs),
        "budget": base,
        "multiple": int(multiple),
        "total_steps": multiple * base,
        "env_steps_per_seed": int(result.env_steps_per_seed),  # what the loop ran (whole segments)
        # Per seed, the env steps its evaluations counted (episodic agents: the valid steps).
        "counted_env_steps_mean": float(steps[:, -1].mean()),
        "seeds": [int(s) for s in seeds],
        "n": n,
        "eval_episodes": int(eval_episodes),
        "evaluations": int(curves.shape[1]),
        "threshold": threshold,
        "final_returns": final.tolist(),
        "mean_final": float(np.nanmean(final)) if np.isfinite(final).any() else None,
        "min_final": float(np.nanmin(final)) if np.isfinite(final).any() else None,
        "diverged": _count(s is not None for s in result.diverged_at_step),
        "compile_s": float(result.compile_time_s),
        "train_s": float(result.train_time_s),
        "wall_s": wall_s,
        "compile_cache_hits": (result.compile_cache or {}).get("hits"),
        "curve": {
            "env_steps": steps.mean(axis=0).tolist(),
            "mean": [float(np.nanmean(c)) if np.isfinite(c).any() else None for c in curves.T],
            "per_seed": curves.tolist(),
        },
    }
    if threshold is None:
        cell.update(solved=None, solved_fraction=None, held_last3=None, held_all_last3=None, first_touch=None)
        return cell
    ok = curves >= threshold  # NaN compares False
    last3 = ok[:, -3:]
    cell.update(
        solved=_count(ok[:, -1]),
        solved_fraction=_count(ok[:, -1]) / n,
        held_last3=[_count(col) for col in last3.T],  # evaluations -3, -2, -1
        held_all_last3=_count(last3.all(axis=1)),
        first_touch=_count(ok.any(axis=1)),
    )
    return cell


def fisher_one_sided(solved_a: int, n_a: int, solved_b: int, n_b: int) -> float:
    """P(b solves this few or fewer | a and b solve at the same rate): one-sided Fisher exact test."""
    total, k = n_a + n_b, solved_a + solved_b
    denominator = math.comb(total, k)
    return sum(math.comb(n_b, j) * math.comb(n_a, k - j) for j in range(max(0, k - n_a), solved_b + 1)) / denominator


def _order(cell: dict[str, Any]) -> tuple:
    return (cell["agent"], cell["env_id"], cell["seeds"][0], cell["multiple"])


def cell_key(cell: dict[str, Any]) -> tuple:
    return (cell["agent"], cell["env_id"], cell["multiple"], tuple(cell["seeds"]), cell["eval_episodes"])


def _seed_range(seeds: Sequence[int]) -> str:
    seeds = list(seeds)
    if seeds == list(range(seeds[0], seeds[0] + len(seeds))):
        return f"{seeds[0]}-{seeds[-1]}" if len(seeds) > 1 else str(seeds[0])
    return ",".join(map(str, seeds))


def _fmt(x: float | None) -> str:
    if x is None:
        return "-"
    return f"{x:.3g}" if abs(x) < 10 else f"{x:.1f}"


def markdown_table(cells: Sequence[dict[str, Any]]) -> str:
    """One row per cell: solved at the end, returns, held over the last 3 evaluations, first touch, seconds."""
    lines = [
        "| agent | env | seeds | x | env steps/seed | threshold | solved (end) | mean final | min final "
        "| >= threshold at last 3 evals | at all 3 | first touch | compile s | train s |",
        "| --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for c in sorted(cells, key=_order):
        n = c["n"]
        has = c["threshold"] is not None
        solved = f"{c['solved']}/{n}" if has else "-"
        held = "/".join(str(h) for h in c["held_last3"]) if has else "-"
        held_all = str(c["held_all_last3"]) if has else "-"
        first = f"{c['first_touch']}/{n}" if has else "-"
        threshold = f"{c['threshold']:g}" if has else "-"
        lines.append(
            f"| {c['agent']} | {c['env_id']} | {_seed_range(c['seeds'])} | {c['multiple']}x "
            f"| {c['env_steps_per_seed']:,} | {threshold} | {solved} "
            f"| {_fmt(c['mean_final'])} | {_fmt(c['min_final'])} | {held} | {held_all} | {first} "
            f"| {c['compile_s']:.1f} | {c['train_s']:.1f} |"
        )
    return "\n".join(lines)


def stability_lines(cells: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per (preset, seeds): the solved counts by multiple and whether a longer run drops below 1x."""
    groups: dict[tuple, dict[int, dict[str, Any]]] = {}
    for c in sorted(cells, key=_order):
        if c["threshold"] is not None:
            groups.setdefault((c["agent"], c["env_id"], tuple(c["seeds"])), {})[c["multiple"]] = c
    out = []
    for (agent, env_id, seeds), by_multiple in groups.items():
        row: dict[str, Any] = {
            "agent": agent,
            "env_id": env_id,
            "seeds": list(seeds),
            "solved": {str(m): by_multiple[m]["solved"] for m in sorted(by_multiple)},
        }
        base = by_multiple.get(1)
        if base is not None:
            row["drops"] = {}
            for m, c in sorted(by_multiple.items()):
                if m == 1:
                    continue
                p = fisher_one_sided(base["solved"], base["n"], c["solved"], c["n"])
                row["drops"][str(m)] = {"fewer": base["solved"] - c["solved"], "p_one_sided": p}
            row["holds"] = all(d["fewer"] < DROP_SEEDS for d in row["drops"].values())
        # Also: a longer run that solves fewer than a shorter one other than 1x (not monotone).
        ordered = sorted(by_multiple.items())
        row["falls"] = [
            {"from": a, "to": b, "fewer": ca["solved"] - cb["solved"]}
            for i, (a, ca) in enumerate(ordered)
            for b, cb in ordered[i + 1 :]
            if a != 1 and ca["solved"] - cb["solved"] >= DROP_SEEDS
        ]
        out.append(row)
    return out


def format_stability(rows: Sequence[dict[str, Any]]) -> str:
    lines = []
    for r in rows:
        n = len(r["seeds"])
        counts = ", ".join(f"{m}x {s}/{n}" for m, s in r["solved"].items())
        verdict = ""
        if "holds" in r:
            if r["holds"]:
                verdict = "holds"
            else:
                m, d = max(r["drops"].items(), key=lambda kv: kv[1]["fewer"])
                verdict = f"DROPS at {m}x ({d['fewer']} fewer, one-sided Fisher p = {d['p_one_sided']:.2g})"
        for f in r.get("falls", []):
            verdict += f"; {f['to']}x solves {f['fewer']} fewer than {f['from']}x"
        base = r["solved"].get("1")
        if base is not None and base < 0.75 * n:
            verdict += f"; 1x itself solves only {base}/{n}"
        lines.append(f"- {r['agent']} {r['env_id']} (seeds {_seed_range(r['seeds'])}): {counts}: {verdict}")
    return "\n".join(lines)


def save_curve(cell: dict[str, Any], folder: Path) -> Path:
    """A PNG of one cell: every seed's evaluation returns (thin) and their mean (thick) against env steps."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    curve = cell["curve"]
    x = np.asarray(curve["env_steps"], dtype=float)
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for row in curve["per_seed"]:
        ax.plot(x, np.asarray(row, dtype=float), color="tab:blue", alpha=0.3, linewidth=0.8)
    mean = np.asarray([np.nan if m is None else m for m in curve["mean"]], dtype=float)
    ax.plot(x, mean, color="black", linewidth=2.2, marker="o", markersize=3, label="mean over seeds")
    if cell["threshold"] is not None:
        ax.axhline(cell["threshold"], color="tab:red", linestyle="--", linewidth=1, label="solved threshold")
    budget = cell["budget"]
    if cell["multiple"] > 1:
        ax.axvline(budget, color="gray", linestyle=":", linewidth=1, label="preset budget")
    solved = "" if cell["solved"] is None else f", solved at the end {cell['solved']}/{cell['n']}"
    ax.set_title(
        f"{cell['agent']} on {cell['env_id']}: {cell['multiple']}x the preset's {budget:,} steps, "
        f"seeds {_seed_range(cell['seeds'])}{solved}",
        fontsize=9,
    )
    ax.set_xlabel("env steps per seed")
    ax.set_ylabel(f"greedy return (mean of {cell['eval_episodes']} episodes)")
    ax.legend(fontsize=8, loc="best")
    ax.grid(alpha=0.3)
    folder.mkdir(parents=True, exist_ok=True)
    env_name = cell["env_id"].replace("/", "_")  # brax/hopper: one file, not a folder
    path = folder / f"{cell['agent']}_{env_name}_{cell['multiple']}x_seeds{_seed_range(cell['seeds'])}.png"
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def run_benchmark(
    presets: Sequence[Preset],
    multiples: Sequence[int],
    seeds: Sequence[int],
    *,
    budget: int | None = None,
    eval_episodes: int = 100,
    compiler_options: dict[str, Any] | None = None,
    compile_cache: bool | None = None,
    out: str | Path | None = None,
    append: bool = False,
    curves: str | Path | None = None,
    command: Sequence[str] | None = None,
    log: Any = print,
) -> dict[str, Any]:
    """Every preset at every multiple on ``seeds``: the report (also written to ``out`` after each cell)."""
    import jax

    from rljax.runs.files import write_json_atomic

    report: dict[str, Any] = {"cells": []}
    if out is not None and append and Path(out).is_file():
        report = json.loads(Path(out).read_text())
    # Each invocation that added cells to the file, in order.
    commands = report.pop("commands", None) or ([report.pop("command")] if report.get("command") else [])
    if command is not None and list(command) not in commands:
        commands.append(list(command))
    report.update(
        benchmark="preset_stability",
        date=datetime.date.today().isoformat(),
        commands=commands,
        hardware={
            "machine": platform.machine(),
            "processor": _cpu_model(),
            "cpu_count": os.cpu_count(),
            "jax_devices": [str(d) for d in jax.devices()],
            "jax": jax.__version__,
        },
        drop_rule=f"a longer run solves >= {DROP_SEEDS} seeds fewer than 1x",
    )
    cells: list[dict[str, Any]] = report["cells"]
    for preset in presets:
        for multiple in multiples:
            cell = run_cell(
                preset,
                multiple,
                seeds,
                budget=budget,
                eval_episodes=eval_episodes,
                compiler_options=compiler_options,
                compile_cache=compile_cache,
            )
            cells[:] = [c for c in cells if cell_key(c) != cell_key(cell)] + [cell]
            report["stability"] = stability_lines(cells)
            if out is not None:  # the cell's numbers first: a plot that fails loses nothing
                write_json_atomic(out, report)
            if curves is not None:
                cell["curve_png"] = str(save_curve(cell, Path(curves)))
                if out is not None:
                    write_json_atomic(out, report)
            solved = "" if cell["solved"] is None else f"solved {cell['solved']}/{cell['n']}, "
            log(
                f"{preset.key} {multiple}x ({cell['env_steps_per_seed']:,} steps/seed, seeds "
                f"{_seed_range(seeds)}): {solved}mean final {_fmt(cell['mean_final'])}, min "
                f"{_fmt(cell['min_final'])}; compile {cell['compile_s']:.1f} s, train {cell['train_s']:.1f} s"
            )
    return report


def main(argv: Sequence[str] | None = None) -> None:
    import rljax

    rljax.use_cpu_devices()  # before anything uses JAX: 2 CPU devices, as the rljax command has

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=16, help="seeds per cell (default 16)")
    parser.add_argument("--seed-offset", type=int, default=0, help="first seed (e.g. 100 for held-out seeds)")
    parser.add_argument(
        "--multiples",
        default=",".join(map(str, DEFAULT_MULTIPLES)),
        help="comma-separated multiples of each preset's budget",
    )
    parser.add_argument("--only", default=None, help="agent:env[,agent:env...] (expensive ones included if named)")
    parser.add_argument(
        "--include-expensive", action="store_true", help="also " + ", ".join(f"{a}:{e}" for a, e in EXPENSIVE)
    )
    parser.add_argument("--eval-episodes", type=int, default=100, help="episodes per evaluation (default 100)")
    parser.add_argument("--out", default="results/preset_stability.json", help="JSON file")
    parser.add_argument("--append", action="store_true", help="add the cells to those already in --out")
    parser.add_argument("--curves", default=None, help="folder for one PNG of evaluation curves per cell")
    parser.add_argument("--list", action="store_true", help="list the presets and exit")
    parser.add_argument("--show", action="store_true", help="print the table of the cells in --out and exit")
    args = parser.parse_args(argv)
    if args.show:
        cells = json.loads(Path(args.out).read_text())["cells"]
        print(markdown_table(cells) + "\n\n" + format_stability(stability_lines(cells)))
        return

    presets, skipped = discover_presets()
    for s in skipped:
        print(f"skipped agent {s['agent']}: {s['reason']}", file=sys.stderr)
    if args.list:
        for p in presets:
            extra = f" env_kwargs={p.env_kwargs}" if p.env_kwargs else ""
            note = f"  (expensive: {p.expensive})" if p.expensive else ""
            print(f"{p.key}: {p.budget:,} steps{extra}{note}")
        return
    chosen = select(presets, args.only, args.include_expensive)
    multiples = [int(m) for m in args.multiples.split(",") if m.strip()]
    seeds = list(range(args.seed_offset, args.seed_offset + args.seeds))
    left_out = [p.key for p in presets if p.expensive and p not in chosen]
    if left_out:
        print(f"left out (expensive; --include-expensive or --only to run): {', '.join(left_out)}", file=sys.stderr)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    report = run_benchmark(
        chosen,
        multiples,
        seeds,
        eval_episodes=args.eval_episodes,
        out=args.out,
        append=args.append,
        curves=args.curves,
        command=["python", "benchmarks/preset_stability.py", *(sys.argv[1:] if argv is None else argv)],
        log=lambda line: print(line, file=sys.stderr, flush=True),
    )
    print(markdown_table(report["cells"]))
    print()
    print(format_stability(report["stability"]))
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
