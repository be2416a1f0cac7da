"""``rljax train`` and ``rljax sweep``: their arguments, the checks that run before the output
folder is created, and the printed summary.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Sequence

from rljax._defaults import DEFAULT_LANE_WIDTH
from rljax.cli.args import ALIASES, LOG_CHOICES, UsageError, key_values, literal, parse_seeds
from rljax.training.watchdog import DEFAULT_MIN_SECONDS as DEFAULT_WATCHDOG_S


def add_run_arguments(p: argparse.ArgumentParser, out_required: bool = True) -> None:
    p.add_argument(
        "agent",
        help="agent name (q_learning, sarsa, expected_sarsa, dqn, reinforce, ...; see `rljax list`) "
        "or your own Agent: package.module:attribute or path/to/file.py:attribute",
    )
    p.add_argument("--env", required=True, help="environment id for rljax.make (gymnax ids too)")
    p.add_argument(
        "--env-arg",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="environment option, e.g. map_name=8x8 or discretize=bins-4x4x29x8 (repeatable)",
    )
    seeds = p.add_mutually_exclusive_group()
    seeds.add_argument("--seeds", type=int, default=None, help="train seeds 0..N-1 (default 1)")
    seeds.add_argument("--seed-list", default=None, help="train exactly these seeds, e.g. 3,5,7")
    p.add_argument("--out", required=out_required, help="output folder (must not exist unless --overwrite)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    p.add_argument("--total-steps", type=int, default=None, help="env steps per seed (default: the preset's)")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="hyperparameter override, e.g. learning_rate=0.5 (repeatable)",
    )
    p.add_argument("--eval-every", type=int, default=None, help="env steps between evaluations")
    p.add_argument("--eval-episodes", type=int, default=100, help="episodes per evaluation (default 100)")
    p.add_argument(
        "--lane-width",
        type=int,
        default=None,
        help="runs per vmapped lane; a seed's numbers depend on it, not on its neighbours",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument(
        "--fast-compile",
        action="store_true",
        help="skip XLA's backend optimisations: compiles faster, runs slower (short runs)",
    )
    p.add_argument(
        "--no-compile-cache",
        action="store_true",
        help="do not use JAX's persistent compilation cache nor rljax's cache of traced programs "
        "(default: on, in ~/.cache/rljax/jax or $RLJAX_COMPILE_CACHE; RLJAX_COMPILE_CACHE=off turns "
        "them off too)",
    )
    p.add_argument(
        "--deterministic",
        action="store_true",
        help="deterministic GPU kernels (--xla_gpu_deterministic_ops); CPU is deterministic already",
    )
    p.add_argument(
        "--num-devices", type=int, default=None, help="shard runs over this many local devices (default: all)"
    )
    p.add_argument(
        "--checkpoint-every",
        type=int,
        default=None,
        metavar="STEPS",
        help="save the whole training state every STEPS env steps per seed",
    )
    p.add_argument(
        "--save-replay",
        action="store_true",
        help="also keep every seed's whole final state, replay buffer included, in DIR/agent_state_full.msgpack "
        "(agent_state.msgpack holds what the trained policy needs)",
    )
    p.add_argument(
        "--watchdog",
        type=float,
        default=DEFAULT_WATCHDOG_S,
        metavar="SECONDS",
        help="if no segment finishes for SECONDS (or 20x the slowest so far) while the process "
        "sits idle (10x that while it computes), print every thread's stack and exit with code 4 "
        f"instead of hanging (default {DEFAULT_WATCHDOG_S:.0f}; 0: off)",
    )
    p.add_argument(
        "--log",
        choices=LOG_CHOICES,
        default="none",
        help="also log every segment's metrics and the hyperparameters to TensorBoard (DIR/tensorboard/) "
        "or W&B (DIR/wandb/; WANDB_MODE=offline keeps it local); optional extras rljax[tensorboard], rljax[wandb]",
    )


def _print_summary(label: str, summary: dict[str, Any]) -> None:
    import numpy as np

    returns = np.asarray(summary["final_eval_return"], dtype=float)
    diverged = sum(summary.get("diverged", []))
    steps = summary.get("env_steps") or [summary["env_steps_per_seed"]]
    if min(steps) == max(steps):
        each = f"{steps[0]} env steps"
    else:  # an episodic agent: each seed's episodes took their own number of steps
        each = f"{min(steps)}-{max(steps)} env steps (of {summary['env_steps_per_seed']} computed)"
    print(
        f"{label}: {len(returns)} seeds x {each}, "
        f"compile {summary['compile_time_s']:.1f} s, train {summary['train_time_s']:.1f} s; "
        f"final greedy return over {summary['eval_episodes']} episodes: mean {np.nanmean(returns):.3f}, "
        f"min {np.nanmin(returns):.3f}, max {np.nanmax(returns):.3f}"
        + (f"; {diverged} seed(s) DIVERGED" if diverged else "")
    )
    if summary.get("solved_threshold") is not None:
        reached = [s for s in summary["steps_to_threshold"] if s is not None]
        when = f", median {np.median(reached):.0f} env steps" if reached else ""
        print(f"  reached {summary['solved_threshold']:g} (solved): {len(reached)} of {len(returns)} seeds{when}")
        if "steps_to_held_threshold" in summary:  # from that evaluation on, every later one stayed solved
            held = [s for s in summary["steps_to_held_threshold"] if s is not None]
            since = f", median from {np.median(held):.0f} env steps" if held else ""
            print(f"  held it to the end: {len(held)} of {len(returns)} seeds{since}")


def _prepare(args: argparse.Namespace) -> tuple[list[int], dict[str, str], dict[str, Any], int]:
    """Parses a train/sweep command's common options (checked here for flag-named messages).

    Imports no JAX: a bad name, a bad number or an existing output folder is refused
    in a fraction of a second.
    """
    _check_names_and_out(args)
    seeds = parse_seeds(1 if args.seeds is None else args.seeds, args.seed_list)
    overrides = key_values(args.set, "--set", ALIASES)
    env_kwargs = {k: literal(v) for k, v in key_values(args.env_arg, "--env-arg").items()}
    if args.total_steps is not None and args.total_steps < 1:
        raise UsageError(f"--total-steps must be >= 1; got {args.total_steps}")
    if not args.watchdog >= 0:
        raise UsageError(f"--watchdog must be >= 0 seconds (0 turns it off); got {args.watchdog}")
    if args.checkpoint_every is not None and args.checkpoint_every < 1:
        raise UsageError(f"--checkpoint-every must be >= 1 env step; got {args.checkpoint_every}")
    lane_width = DEFAULT_LANE_WIDTH if args.lane_width is None else args.lane_width
    if lane_width < 1:
        raise UsageError(f"--lane-width must be >= 1; got {lane_width}")
    return seeds, overrides, env_kwargs, lane_width


def _check_names_and_out(args: argparse.Namespace) -> None:
    """Unknown built-in agent or environment names, and an existing ``--out``, before any heavy import."""
    from rljax.agents import agent_names, get_agent
    from rljax.envs.catalog import env_ids, unknown_env_message
    from rljax.runs.files import check_out_dir

    if ":" not in args.agent and args.agent not in agent_names():
        get_agent(args.agent)  # raises the one-line error (a built-in name imports nothing until it is known)
    registry = sys.modules.get("rljax.envs.registry")  # loaded: it may hold ids register() added
    known = registry.registered_ids() if registry is not None else env_ids()
    if args.env not in known:
        raise UsageError(unknown_env_message(args.env, known))
    if args.out is not None and getattr(args, "resume", None) is None:
        check_out_dir(args.out, args.overwrite)


def _train_kwargs(args: argparse.Namespace, lane_width: int, out: Path) -> dict[str, Any]:
    """The keyword arguments of :func:`rljax.train` that a train / sweep command line sets (besides the plan)."""
    from rljax.training.batch import FAST_COMPILE

    return dict(
        lane_width=lane_width,
        progress=not args.no_progress,
        compiler_options=FAST_COMPILE if args.fast_compile else None,
        checkpoint_every=args.checkpoint_every,
        num_devices=args.num_devices,
        watchdog_seconds=args.watchdog,
        watchdog_advice=_resume_advice(args, out),
        on_hang="exit",
        compile_cache=False if args.no_compile_cache else None,
        # A command line's process runs only code loaded from files, which an entry of
        # the traced-program cache is checked against (rljax.runs.program_cache).
        trace_cache=not args.no_compile_cache,
        save_replay=args.save_replay,
    )


def _resume_advice(args: argparse.Namespace, out: Path) -> str:
    """How to continue a stopped run, for error messages."""
    if args.checkpoint_every:
        cmd = " ".join(["rljax"] + [a for a in sys.argv[1:] if a != "--overwrite"])
        if "--resume" not in sys.argv:
            cmd += f" --resume {out}"
        return f"The last checkpoint is in {out}: continue with `{cmd}`."
    return "No checkpoint was being written (--checkpoint-every STEPS keeps one)."


def _note_rounding(args: argparse.Namespace, schedule: Any) -> None:
    """Says so when the run's step counts are not exactly those asked for (whole segments)."""
    for note in schedule.rounding_notes(args.total_steps, args.eval_every, flags=True):
        print(f"note: {note}")


def cmd_train(args: argparse.Namespace) -> int:
    if args.resume is not None and args.out is not None and Path(args.resume) != Path(args.out):
        raise UsageError("--resume DIR continues the run in DIR; leave out --out or give the same folder")
    if args.resume is None and args.out is None:
        raise UsageError("--out is required (or --resume DIR to continue a run)")
    seeds, overrides, env_kwargs, lane_width = _prepare(args)
    _check_log(args.log)
    from rljax.experiment import train  # after the cheap checks: it imports JAX
    from rljax.training.plan import build

    # Parsed and validated once, here: train() runs this plan as it is.
    plan = build(
        args.agent,
        args.env,
        overrides,
        env_kwargs=env_kwargs,
        total_steps=args.total_steps,
        eval_every=args.eval_every,
        eval_episodes=args.eval_episodes,
    )
    _note_rounding(args, plan.loop.schedule)
    out = Path(args.resume if args.resume is not None else args.out)
    argv = ["rljax"] + sys.argv[1:]
    summary = None
    if args.resume is not None:  # a run killed after it finished: nothing to train again
        from rljax.experiment import finished_run

        summary = finished_run(out, plan.run_spec("train", seeds, lane_width, args.fast_compile), argv)
        if summary is not None:
            print(f"rljax train: {out} has finished already (summary.json): nothing to resume", file=sys.stderr)
    if summary is None:
        with _train_logger(args.log, plan, out, seeds, resume=args.resume is not None) as on_segment:
            result = train(
                plan,
                seeds=seeds,
                out=out,
                overwrite=args.overwrite,
                resume=args.resume is not None,
                argv=argv,
                on_segment=on_segment,
                **_train_kwargs(args, lane_width, out),
            )
        summary = result.summary(0)
    _print_summary(f"{summary['agent']} on {args.env}", summary)
    print(f"results: {out}/summary.json, {out}/curves.png, {out}/metrics.csv")
    if all(summary["diverged"]):
        print("rljax train: error: every seed diverged (non-finite loss or parameters)", file=sys.stderr)
        return 3
    return 0


def _check_log(log: str) -> None:
    """A ``--log`` whose package is missing: a one-line usage error before anything is written."""
    if log != "none":
        from rljax.runs.loggers import LoggerUnavailable, check_logger

        try:
            check_logger(log)  # type: ignore[arg-type]
        except LoggerUnavailable as err:
            raise UsageError(str(err)) from None


def _train_logger(log: str, plan: Any, out: Path, seeds: list[int], resume: bool) -> Any:
    """A context manager giving ``train``'s ``on_segment`` for ``--log`` (None for ``none``)."""
    import contextlib

    if log == "none":
        return contextlib.nullcontext(None)
    from rljax.runs.loggers import SegmentLogger, hparams_of
    from rljax.training.configs import config_dict

    hparams = hparams_of(
        plan.agent.name, plan.env_id, config_dict(plan.configs[0]), plan.env_kwargs, plan.loop.schedule.total_steps
    )
    from rljax.envs.registry import solved_at

    threshold = solved_at(plan.env_id, plan.env_kwargs_of(0))
    return SegmentLogger(log, [out], seeds, [hparams], resume=resume, threshold=threshold)  # type: ignore[arg-type]


def parse_grid(entries: Sequence[str]) -> dict[str, list[str]]:
    """``["lr=1e-3,3e-4", "gamma=0.99,0.95"]`` -> ``{"learning_rate": [...], "gamma": [...]}``."""
    if not entries:
        raise UsageError("sweep needs at least one --grid KEY=V1,V2,...")
    axes: dict[str, list[str]] = {}
    for entry in entries:
        key, sep, values = entry.partition("=")
        key = ALIASES.get(key.strip(), key.strip())
        parts = [v.strip() for v in values.split(",")]
        if not sep or not key or not values.strip() or any(not v for v in parts):
            raise UsageError(f"--grid expects KEY=V1,V2,... with no empty values; got {entry!r}")
        if key in axes:
            raise UsageError(f"--grid names {key!r} twice")
        axes[key] = parts
    return axes


def cmd_sweep(args: argparse.Namespace) -> int:
    if args.resume is not None and args.out is not None and Path(args.resume) != Path(args.out):
        raise UsageError("--resume DIR continues the sweep in DIR; leave out --out or give the same folder")
    if args.resume is None and args.out is None:
        raise UsageError("--out is required (or --resume DIR to continue a sweep)")
    if args.resume is not None and args.overwrite:
        raise UsageError("--resume continues the sweep in DIR; --overwrite would delete it")
    seeds, overrides, env_kwargs, lane_width = _prepare(args)
    _check_log(args.log)
    from rljax.sweeps import sweep  # after the cheap checks: it imports JAX

    out = Path(args.resume if args.resume is not None else args.out)
    result = sweep(
        args.agent,
        args.env,
        parse_grid(args.grid),
        seeds,
        overrides,
        allow_recompile=args.allow_recompile,
        env_kwargs=env_kwargs,
        total_steps=args.total_steps,
        eval_every=args.eval_every,
        eval_episodes=args.eval_episodes,
        out=out,
        overwrite=args.overwrite,
        resume=args.resume is not None,
        argv=["rljax"] + sys.argv[1:],
        log=args.log,
        **_train_kwargs(args, lane_width, out),
    )
    for i, label in enumerate(result.labels):
        _print_summary(label, result.summary(i))
    print(f"results: {out}/<configuration>/summary.json for {len(result.labels)} configurations, {out}/curves.png")
    return 0
