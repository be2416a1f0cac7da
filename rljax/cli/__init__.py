"""``rljax ...`` command line.

``rljax train AGENT --env ENV_ID --seeds N --out DIR [--total-steps N] [--set key=value ...]``
trains seeds 0..N-1 (or ``--seed-list 3,5,7``) in one compiled program and writes
``DIR/summary.json`` (the contract in the docs' training guide), ``config.json``,
``manifest.json``, ``metrics.csv`` and ``curves.png``. Every check runs before the
output folder is created, so bad input leaves nothing behind.
"""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

from rljax._errors import ValidationError
from rljax.cli.args import UsageError
from rljax.cli.folders import (
    add_evaluate_parser,
    add_render_parser,
    add_report_parser,
    cmd_evaluate,
    cmd_list,
    cmd_render,
    cmd_report,
)
from rljax.cli.run import add_run_arguments, cmd_sweep, cmd_train


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rljax", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_train = sub.add_parser("train", help="train one agent on one environment over many seeds")
    add_run_arguments(p_train, out_required=False)
    _add_resume(p_train, "continue the run in DIR from its last checkpoint (same command otherwise)")
    p_sweep = sub.add_parser("sweep", help="every grid combination x every seed in one compiled program")
    add_run_arguments(p_sweep, out_required=False)
    _add_resume(p_sweep, "continue the sweep in DIR, stopped or killed (same command otherwise)")
    p_sweep.add_argument(
        "--grid",
        action="append",
        default=[],
        metavar="KEY=V1,V2,...",
        help="values of a hyperparameter to sweep, e.g. lr=1e-3,3e-4 (repeatable)",
    )
    p_sweep.add_argument(
        "--allow-recompile", action="store_true", help="allow grids over static hyperparameters (one program per value)"
    )
    sub.add_parser("list", help="list agents and environment ids")
    add_report_parser(sub)
    add_render_parser(sub)
    add_evaluate_parser(sub)
    return parser


def _add_resume(parser: argparse.ArgumentParser, help: str) -> None:
    parser.add_argument("--resume", default=None, metavar="DIR", help=help)


def enable_deterministic_gpu() -> None:
    """Asks XLA for deterministic GPU kernels (no atomics-based reductions).

    Must run before JAX starts its backend; XLA reads the flag then. Scatter-adds
    and some reductions get slower; CPU runs are deterministic without it.
    """
    import os

    flag = "--xla_gpu_deterministic_ops=true"
    flags = os.environ.get("XLA_FLAGS", "")
    if flag not in flags:
        os.environ["XLA_FLAGS"] = f"{flags} {flag}".strip()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``rljax`` console script."""
    args = build_parser().parse_args(argv)
    if getattr(args, "deterministic", False):
        enable_deterministic_gpu()
    commands = {
        "train": cmd_train,
        "sweep": cmd_sweep,
        "list": cmd_list,
        "report": cmd_report,
        "render": cmd_render,
        "evaluate": cmd_evaluate,
    }
    from rljax.runs.files import WriteFailed
    from rljax.training.interrupts import RunInterrupted

    try:
        from rljax.training import devices as host_devices

        host_devices.check()
        host_devices.configure()  # the command line owns its process: 2 CPU devices once JAX loads
        return commands[args.command](args)
    except RunInterrupted as stop:  # the first Ctrl-C / SIGTERM: stopped cleanly after a segment
        print(f"rljax {args.command}: {stop}", file=sys.stderr)
        return stop.exit_code
    except WriteFailed as err:  # the disk, not the input: exit 1
        print(f"rljax {args.command}: error: {err.strerror}", file=sys.stderr)
        return 1
    except (ValidationError, FileExistsError) as err:  # input rljax checked; anything else is a bug: traceback
        print(f"rljax {args.command}: error: {err}", file=sys.stderr)
        return 2


__all__ = ["main", "build_parser", "UsageError", "enable_deterministic_gpu"]
