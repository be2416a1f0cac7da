"""Repeated-run stress check: does any short training run hang?

jaxlib 0.10's CPU LAPACK kernels can deadlock XLA's thread pool when batched
LAPACK calls (the QR of orthogonal initialisers, vmapped over seeds) start
together (see the note in ``rljax/training/batch.py``). The hang is a race: about one
REINFORCE run in ten on a 2-core machine before the fix. This script runs the
same short training many times, each as its own process under a timeout, and
counts the runs that finished, failed and hung::

    python benchmarks/stress_hang.py --agent reinforce --runs 100
    python benchmarks/stress_hang.py --agent dqn --runs 100
    python benchmarks/stress_hang.py --mode init --runs 200    # in-process, seconds

``--mode init`` compiles the lanes' initialisation program once and runs it
again and again in one process (the part that deadlocked): it shows the old
hang in seconds instead of minutes (before the fix, REINFORCE's hung within
the first few hundred calls every time we tried). ``--repo DIR`` runs another checkout's code (for
example ``git worktree add /tmp/before HEAD~1``) with this script, to show the
hang before the fix. Exit code: 0 if every run finished, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

TRAIN_ARGS = {
    "reinforce": ["--env", "CartPole-v1", "--seeds", "2", "--total-steps", "60000", "--eval-episodes", "10"],
    "dqn": ["--env", "CartPole-v1", "--seeds", "2", "--total-steps", "20000", "--eval-episodes", "10"],
}

INIT_PROGRAM = """
import sys
import rljax
if hasattr(rljax, "use_cpu_devices"):  # older checkouts (--repo) gave JAX 2 CPU devices on import
    rljax.use_cpu_devices()  # before anything uses JAX: 2 CPU devices, as the rljax command has
import jax
from rljax.training.plan import build
from rljax.training.batch import BatchRunner
from rljax.training.lanes import Lanes, seed_keys, stack_configs
built = build(sys.argv[1], "CartPole-v1", total_steps=10000)
# build() returns a Plan; older checkouts (--repo) returned (loop, configs).
loop, configs = (built.loop, built.configs) if hasattr(built, "loop") else built
lanes = Lanes(8, 8)
runner = BatchRunner(loop, lanes)
cfg = lanes.pack(stack_configs([configs[0]] * 8))
for i in range(int(sys.argv[2])):
    jax.block_until_ready(runner.init(lanes.pack(seed_keys(range(8 * i, 8 * i + 8))), cfg))
    print("init", i, flush=True)
"""


def _env(repo: str) -> dict[str, str]:
    """The environment that makes ``python`` import ``repo``'s rljax (run it with cwd=repo too:
    ``python -c`` and ``-m`` put the working directory first on ``sys.path``)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.path.abspath(repo) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def run_train(agent: str, runs: int, timeout: float, repo: str, extra: list[str], stop_after_hangs: int = 0) -> dict:
    counts = {"finished": 0, "failed": 0, "hung": 0}
    times = []
    for i in range(runs):
        with tempfile.TemporaryDirectory() as out:
            cmd = [
                sys.executable,
                "-m",
                "rljax.cli",
                "train",
                agent,
                *TRAIN_ARGS[agent],
                "--out",
                out,
                "--overwrite",
                "--no-progress",
                *extra,
            ]
            start = time.perf_counter()
            try:
                proc = subprocess.run(cmd, env=_env(repo), cwd=repo, capture_output=True, text=True, timeout=timeout)
                outcome = "finished" if proc.returncode == 0 else "failed"
                if outcome == "failed":
                    print(proc.stderr[-2000:], file=sys.stderr)
            except subprocess.TimeoutExpired:
                outcome = "hung"
            times.append(time.perf_counter() - start)
        counts[outcome] += 1
        print(f"{agent} run {i + 1}/{runs}: {outcome} in {times[-1]:.1f} s  {counts}", flush=True)
        if stop_after_hangs and counts["hung"] >= stop_after_hangs:
            break
    return {"agent": agent, "runs": sum(counts.values()), **counts, "median_s": sorted(times)[len(times) // 2]}


def run_init(agent: str, runs: int, timeout: float, repo: str) -> dict:
    """Runs INIT_PROGRAM; a call that makes no progress for ``timeout`` seconds is a hang."""
    import queue
    import threading

    cmd = [sys.executable, "-u", "-c", INIT_PROGRAM, agent, str(runs)]
    proc = subprocess.Popen(cmd, env=_env(repo), cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(x) for x in proc.stdout] + [lines.put(None)], daemon=True).start()
    done, outcome = 0, "finished"
    while True:
        try:
            line = lines.get(timeout=timeout)
        except queue.Empty:
            proc.kill()
            outcome = "hung"
            break
        if line is None:
            outcome = "finished" if proc.wait() == 0 else "failed"
            break
        done += line.startswith("init ")
    print(f"{agent} init program: {done}/{runs} calls completed, then {outcome}", flush=True)
    return {"agent": agent, "mode": "init", "runs": runs, "completed": done, "outcome": outcome}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--agent", choices=sorted(TRAIN_ARGS), default="reinforce")
    p.add_argument("--mode", choices=["train", "init"], default="train")
    p.add_argument("--runs", type=int, default=100)
    p.add_argument(
        "--timeout", type=float, default=180.0, help="seconds before a run (with --mode init: one call) counts as hung"
    )
    p.add_argument(
        "--repo",
        default=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
        help="checkout whose rljax to run (default: this one)",
    )
    p.add_argument(
        "--stop-after-hangs",
        type=int,
        default=0,
        metavar="N",
        help="stop after N hung runs (to show an old hang without waiting for all runs)",
    )
    p.add_argument("--json", help="also write the counts here")
    args, extra = p.parse_known_args()
    if args.mode == "init":
        result = run_init(args.agent, args.runs, args.timeout, args.repo)
        ok = result["outcome"] == "finished"
    else:
        result = run_train(args.agent, args.runs, args.timeout, args.repo, extra, args.stop_after_hangs)
        ok = result["finished"] == result["runs"] == args.runs
    print(json.dumps(result))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
