"""``rljax ...`` command line.

``rljax train AGENT --env ENV_ID --seeds N --out DIR [--total-steps N] [--set key=value ...]``
trains seeds 0..N-1 (or ``--seed-list 3,5,7``) in one compiled program and writes
``DIR/summary.json`` (the contract in DESIGN.md), ``config.json``,
``manifest.json``, ``metrics.csv`` and ``curves.png``. Every check runs before the
output folder is created, so bad input leaves nothing behind.
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path
from typing import Any, Sequence


class UsageError(Exception):
    """Bad command-line input: printed without a traceback, exit code 2."""


def _key_values(pairs: Sequence[str], flag: str) -> dict[str, str]:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise UsageError(f"{flag} expects key=value; got {pair!r}")
        out[key.strip()] = value.strip()
    return out


def _literal(text: str) -> Any:
    """An environment argument: a Python literal if it parses as one, else the string."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def parse_seeds(seeds: int | None, seed_list: str | None) -> list[int]:
    """``--seeds N`` -> 0..N-1; ``--seed-list 3,5,7`` -> exactly those."""
    if seed_list is not None:
        try:
            out = [int(s) for s in seed_list.split(",") if s.strip()]
        except ValueError:
            raise UsageError(f"--seed-list expects comma-separated integers; got {seed_list!r}") from None
        if not out or any(s < 0 for s in out):
            raise UsageError(f"--seed-list needs non-negative integers; got {seed_list!r}")
        if len(set(out)) != len(out):
            raise UsageError(f"--seed-list has repeated seeds: {seed_list!r}")
        return out
    if seeds is None or seeds < 1:
        raise UsageError(f"--seeds must be >= 1; got {seeds}")
    return list(range(seeds))


def _add_run_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("agent", help="agent name: q_learning, sarsa, expected_sarsa, ...")
    p.add_argument("--env", required=True, help="environment id for rljax.make (gymnax ids too)")
    p.add_argument("--env-arg", action="append", default=[], metavar="KEY=VALUE",
                   help="environment option, e.g. map_name=8x8 or discretize=seed000 (repeatable)")
    seeds = p.add_mutually_exclusive_group()
    seeds.add_argument("--seeds", type=int, default=None, help="train seeds 0..N-1 (default 1)")
    seeds.add_argument("--seed-list", default=None, help="train exactly these seeds, e.g. 3,5,7")
    p.add_argument("--out", required=True, help="output folder (must not exist unless --overwrite)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    p.add_argument("--total-steps", type=int, default=None, help="env steps per seed (default: the preset's)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="hyperparameter override, e.g. learning_rate=0.5 (repeatable)")
    p.add_argument("--eval-every", type=int, default=None, help="env steps between evaluations")
    p.add_argument("--eval-episodes", type=int, default=100, help="episodes per evaluation (default 100)")
    p.add_argument("--lane-width", type=int, default=None,
                   help="runs per vmapped lane; a seed's numbers depend on it, not on its neighbours")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--fast-compile", action="store_true",
                   help="skip XLA's backend optimisations: compiles faster, runs slower (short runs)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rljax", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_train = sub.add_parser("train", help="train one agent on one environment over many seeds")
    _add_run_arguments(p_train)
    sub.add_parser("list", help="list agents and environment ids")
    return parser


def cmd_train(args: argparse.Namespace) -> int:
    seeds = parse_seeds(1 if args.seeds is None else args.seeds, args.seed_list)
    from rljax.agents import agent_names, get_agent
    from rljax.batch import DEFAULT_LANE_WIDTH, FAST_COMPILE
    from rljax.experiment import SOLVED_AT, build, train
    from rljax.plots import plot_curves
    from rljax.runs import MetricsTable, manifest, metrics_rows, prepare_out_dir, write_json_atomic

    if args.agent not in agent_names():
        raise UsageError(f"unknown agent {args.agent!r}; known agents: {', '.join(agent_names())}")
    overrides = _key_values(args.set, "--set")
    env_kwargs = {k: _literal(v) for k, v in _key_values(args.env_arg, "--env-arg").items()}
    if args.total_steps is not None and args.total_steps < 1:
        raise UsageError(f"--total-steps must be >= 1; got {args.total_steps}")
    lane_width = args.lane_width or DEFAULT_LANE_WIDTH
    # Validate everything (env id, hyperparameters, shapes) before touching the disk.
    build(get_agent(args.agent), args.env, overrides, env_kwargs=env_kwargs,
          total_steps=args.total_steps, eval_every=args.eval_every, eval_episodes=args.eval_episodes)
    out = prepare_out_dir(args.out, args.overwrite)
    write_json_atomic(out / "manifest.json", manifest(seeds, ["rljax"] + sys.argv[1:]))
    table = MetricsTable(out / "metrics.csv")

    def on_segment(i, metrics):
        table.append(metrics_rows(seeds, [0] * len(seeds), metrics, i))

    result = train(
        args.agent, args.env, seeds, overrides, env_kwargs=env_kwargs, total_steps=args.total_steps,
        eval_every=args.eval_every, eval_episodes=args.eval_episodes, lane_width=lane_width,
        on_segment=on_segment, progress=not args.no_progress,
        compiler_options=FAST_COMPILE if args.fast_compile else None,
    )
    summary = result.summary()
    write_json_atomic(out / "config.json", summary["config"])
    plot_curves(
        [(result.agent, result.metrics["env_steps"][0], result.metrics["eval_return"])],
        out / "curves.png",
        title=f"{result.agent} on {args.env}",
        solved_at=SOLVED_AT.get(args.env),
    )
    write_json_atomic(out / "summary.json", summary)
    returns = result.final_eval_return
    print(
        f"{result.agent} on {args.env}: {len(seeds)} seeds x {result.env_steps_per_seed} env steps, "
        f"compile {result.compile_time_s:.1f} s, train {result.train_time_s:.1f} s\n"
        f"final greedy return over {args.eval_episodes} episodes: mean {returns.mean():.3f}, "
        f"min {returns.min():.3f}, max {returns.max():.3f}\n"
        f"results: {out}/summary.json, {out}/curves.png, {out}/metrics.csv"
    )
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from rljax.agents import agent_names
    from rljax.envs import registered_ids

    print("agents:", ", ".join(agent_names()))
    print("environments:", ", ".join(registered_ids()))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``rljax`` console script."""
    args = build_parser().parse_args(argv)
    commands = {"train": cmd_train, "list": cmd_list}
    try:
        return commands[args.command](args)
    except (UsageError, ValueError, FileExistsError) as err:
        print(f"rljax {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
