"""How long the command line takes before it does anything: the cheap commands and errors.

Each command runs ``--repeats`` times as a fresh process (``python -m rljax.cli``
from this venv); the table gives the median and the slowest, beside two peers run the
same way: an empty interpreter and ``import jax, flax`` (what every command paid
before the heavy imports moved to the commands that need them). The goal: each cheap
command under 1.5 s on the 2-core CPU.

    .venv/bin/python benchmarks/cli_startup.py [--repeats 7]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GOAL_S = 1.5


def timed(argv: list[str], repeats: int) -> list[float]:
    """Wall seconds of ``repeats`` fresh runs of ``argv`` (stdout and stderr discarded)."""
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        seconds.append(time.perf_counter() - start)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    cli = [sys.executable, "-m", "rljax.cli"]
    with tempfile.TemporaryDirectory() as tmp:
        exists = Path(tmp) / "exists"
        exists.mkdir()
        cases = {
            "rljax list": cli + ["list"],
            "rljax --help": cli + ["--help"],
            "rljax train --help": cli + ["train", "--help"],
            "rljax --version": cli + ["--version"],
            "missing --env": cli + ["train", "dqn", "--out", str(Path(tmp) / "new")],
            "unknown environment id": cli + ["train", "dqn", "--env", "NoSuch-v0", "--out", str(Path(tmp) / "new")],
            "output folder already exists": cli + ["train", "dqn", "--env", "CartPole-v1", "--out", str(exists)],
            "peer: python -c pass": [sys.executable, "-c", "pass"],
            "peer: import jax, flax": [sys.executable, "-c", "import jax, flax"],
        }
        print(f"| command | median s | slowest s | under {GOAL_S} s |")
        print("| --- | --- | --- | --- |")
        for label, argv in cases.items():
            seconds = timed(argv, args.repeats)
            median = statistics.median(seconds)
            ok = "" if label.startswith("peer") else ("yes" if max(seconds) < GOAL_S else "NO")
            print(f"| {label} | {median:.2f} | {max(seconds):.2f} | {ok} |")


if __name__ == "__main__":
    main()
