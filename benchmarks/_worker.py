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
