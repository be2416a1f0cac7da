"""The commands that read run folders: ``rljax report``, ``rljax render``, ``rljax evaluate``;
and ``rljax list``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from rljax._defaults import DEFAULT_RESAMPLES, MAX_FPS
from rljax.cli.args import UsageError

# --------------------------------------------------------------------------- report


def add_report_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Adds ``rljax report DIR [DIR ...] [--out] [--csv] [--plot] [--resamples] [--allow-mixed]``."""
    p = subparsers.add_parser(
        "report", help="statistics over seeds (IQM, bootstrap CIs, P(improvement)) of run and sweep folders"
    )
    p.add_argument("dirs", nargs="+", metavar="DIR", help="run folders (summary.json) or sweep folders (sweep.json)")
    p.add_argument("--out", default=None, help="write the markdown report here (default: print it)")
    p.add_argument("--csv", default=None, help="also write one CSV row per run / configuration here")
    p.add_argument("--plot", default=None, help="also write learning curves with bootstrap bands (PNG) here")
    p.add_argument(
        "--resamples",
        type=int,
        default=DEFAULT_RESAMPLES,
        help=f"bootstrap resamples for the tables and the plot's per-step bands (default {DEFAULT_RESAMPLES})",
    )
    p.add_argument(
        "--allow-mixed",
        action="store_true",
        help="report runs on different environments together (no cross-environment comparison)",
    )
    return p


def cmd_report(args: argparse.Namespace) -> int:
    """Runs ``rljax report``: computes everything first, then writes; on bad input prints
    the error and returns 2 with nothing written."""
    from rljax.analysis.report_tables import report

    try:
        markdown, _ = report(
            args.dirs,
            out=args.out,
            csv_path=args.csv,
            plot=args.plot,
            num_resamples=args.resamples,
            allow_mixed=args.allow_mixed,
        )
    except ValueError as err:
        print(f"rljax report: error: {err}", file=sys.stderr)
        return 2
    written = [p for p in (args.out, args.csv, args.plot) if p is not None]
    if args.out is None:
        print(markdown, end="")
    if written:
        # stderr, so that without --out stdout is exactly the markdown (pipeable).
        print(f"rljax report: wrote {', '.join(written)}", file=sys.stderr)
    return 0


# --------------------------------------------------------------------------- render


def add_render_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Adds ``rljax render DIR --seed S --out FILE [--episodes] [--fps] [--max-steps]``."""
    p = subparsers.add_parser("render", help="a GIF of a trained seed's greedy agent (from a `rljax train` folder)")
    p.add_argument("dir", metavar="DIR", help="run folder written by `rljax train`")
    p.add_argument("--seed", type=int, required=True, help="which of the run's seeds to render")
    p.add_argument("--out", required=True, help="GIF file to write, e.g. agent.gif")
    p.add_argument("--episodes", type=int, default=1, help="fresh episodes to play one after another (default 1)")
    p.add_argument("--fps", type=float, default=30, help=f"frames per second, at most {MAX_FPS} (default 30)")
    p.add_argument(
        "--max-steps",
        type=int,
        default=None,
        help="cut each episode after this many steps (default: the environment's time limit)",
    )
    return p


def cmd_render(args: argparse.Namespace) -> int:
    """Runs ``rljax render``; on bad input prints the error and returns 2, writing nothing."""
    from rljax.policies.render import render_run

    try:
        result = render_run(
            args.dir, args.seed, args.out, episodes=args.episodes, fps=args.fps, max_steps=args.max_steps
        )
    except (ValueError, FileNotFoundError) as err:
        print(f"rljax render: error: {err}", file=sys.stderr)
        return 2
    outcomes = ", ".join(f"{r:g} in {n} steps ({e})" for r, n, e in zip(result.returns, result.lengths, result.ends))
    print(f"{result.agent} on {result.env}, seed {result.seed}: {len(result.returns)} episode(s): {outcomes}")
    print(f"wrote {result.path} ({result.num_frames} frames at {args.fps:g} fps)")
    return 0


# --------------------------------------------------------------------------- evaluate


def add_evaluate_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Adds ``rljax evaluate DIR [--episodes N] [--gymnasium [ID]] [--config LABEL]``."""
    p = subparsers.add_parser(
        "evaluate",
        help="play every trained seed again (in rljax and, with --gymnasium, in Gymnasium's own environment)",
    )
    p.add_argument("dir", metavar="DIR", help="run folder written by `rljax train` (or a sweep folder with --config)")
    p.add_argument("--episodes", type=int, default=100, help="episodes per seed (default 100)")
    p.add_argument(
        "--gymnasium",
        nargs="?",
        const=True,
        default=False,
        metavar="ID",
        help="also play in Gymnasium: the environment's twin (CartPole-v0/v1, Acrobot-v1, MountainCar-v0, Pendulum-v1, "
        "Taxi-v3, FrozenLake-v1, FrozenLake8x8-v1), or the Gymnasium id ID (give it after DIR); "
        "needs rljax[gymnasium]",
    )
    p.add_argument("--config", default=None, help="a sweep folder's configuration: its label or index")
    p.add_argument(
        "--resamples",
        type=int,
        default=DEFAULT_RESAMPLES,
        help=f"bootstrap resamples of the across-seed CIs (default {DEFAULT_RESAMPLES})",
    )
    return p


def cmd_evaluate(args: argparse.Namespace) -> int:
    """Runs ``rljax evaluate``; on bad input prints one line and returns 2."""
    if args.episodes < 1:
        raise UsageError(f"--episodes must be >= 1; got {args.episodes}")
    if args.resamples < 1:
        raise UsageError(f"--resamples must be >= 1; got {args.resamples}")
    if not Path(args.dir).is_dir():
        raise UsageError(f"{args.dir!r} is not a folder")
    if args.gymnasium is not False:
        try:
            import gymnasium  # noqa: F401
        except ImportError:
            raise UsageError("--gymnasium needs the gymnasium package: pip install rljax[gymnasium]") from None
    from rljax.policies.evaluate_run import evaluate_run, format_evaluation

    config: int | str | None = args.config
    if isinstance(config, str) and config.isdigit():
        config = int(config)
    try:
        result = evaluate_run(
            args.dir, episodes=args.episodes, gymnasium=args.gymnasium, config=config, num_resamples=args.resamples
        )
    except FileNotFoundError as err:
        raise UsageError(str(err)) from None
    print(format_evaluation(result))
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from rljax.agents import agent_names
    from rljax.envs.catalog import env_ids  # not rljax.envs: listing ids needs no gymnax / JAX

    print("agents:", ", ".join(agent_names()))
    print("environments:", ", ".join(env_ids()))
    return 0
