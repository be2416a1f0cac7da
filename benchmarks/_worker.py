"""What the comparison benchmarks share: one measurement in a fresh, cold subprocess."""

from __future__ import annotations

import json
import os
import subprocess


def worker_result(cmd: list[str]) -> dict:
    """Runs ``cmd`` (a benchmark's ``--worker`` form) with rljax's compile cache off, so it
    compiles from scratch, and returns the JSON of its last ``RESULT`` line, or
    ``{"error": the end of its output}``."""
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "RLJAX_COMPILE_CACHE": "off"})
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        return {"error": (proc.stderr or proc.stdout)[-2000:]}
    return json.loads(lines[-1][len("RESULT ") :])


def result_row(result) -> dict:
    """What a worker reports of a ``TrainResult``: seconds, steps, each seed's final greedy
    return and its steps to the threshold (first touch and held)."""
    import numpy as np

    summary = result.summary()
    return {
        "compile_s": result.compile_time_s,
        "train_s": result.train_time_s,
        "env_steps_per_seed": int(result.env_steps_per_seed),
        "final_greedy_return": [float(x) for x in np.asarray(result.final_eval_return)],
        "steps_to_threshold": summary["steps_to_threshold"],
        "steps_to_held_threshold": summary["steps_to_held_threshold"],
    }


def train_peer_seeds(train, num_seeds: int) -> tuple:
    """A peer's ``train(key)`` under ``jit(vmap(...))`` over ``PRNGKey(0..N-1)``, as the peers
    run their own seeds: ``(keys, outputs, compile seconds, train seconds)``, lowering and
    compiling timed apart from running."""
    import time

    import jax

    from rljax.training.lanes import seed_keys  # the keys rljax's own rows train seeds 0..N-1 with

    keys = seed_keys(range(num_seeds))
    start = time.perf_counter()
    compiled = jax.jit(jax.vmap(train)).lower(keys).compile()
    compile_s = time.perf_counter() - start
    start = time.perf_counter()
    out = compiled(keys)
    jax.block_until_ready(out)
    return keys, out, compile_s, time.perf_counter() - start


def add_worker_arguments(parser, rows: tuple[str, ...]) -> None:
    """The hidden arguments a comparison script's cold ``--worker ROW`` subprocess takes."""
    import argparse

    parser.add_argument("--rows", default=",".join(rows), help=f"comma-separated, of {', '.join(rows)}")
    parser.add_argument("--worker", choices=rows, help=argparse.SUPPRESS)
    parser.add_argument("--num-seeds", type=int, help=argparse.SUPPRESS)


def print_worker_result(out: dict) -> None:
    """The worker's last line: its result and peak memory, read back by :func:`worker_result`."""
    import resource

    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("RESULT " + json.dumps(out))


def chosen_rows(parser, rows_arg: str, rows: tuple[str, ...]) -> list[str]:
    """``--rows``' comma-separated names, each one of ``rows`` (else the parser's error)."""
    chosen = [r for r in rows_arg.split(",") if r]
    unknown = [r for r in chosen if r not in rows]
    if unknown:
        parser.error(f"unknown row(s) {', '.join(unknown)}; choose from {', '.join(rows)}")
    return chosen
