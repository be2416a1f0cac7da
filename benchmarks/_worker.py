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
