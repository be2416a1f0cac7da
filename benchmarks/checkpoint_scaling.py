"""What a checkpoint costs as the seeds grow: the default DQN on CartPole-v1 at 16, 128 and 1024 seeds.

Each cell trains twice in fresh processes, with checkpoints (``checkpoint_every`` = one
segment) and without, the same short run otherwise, and reports:

- the state's size (parameters, optimiser, replay buffers, environments, every seed) and
  the checkpoint file's size;
- the median seconds of one checkpoint write (``save_checkpoint``, timed in the process);
- the peak resident memory of each process (``ru_maxrss``): with checkpoints minus without
  is what writing them adds;
- the training seconds of each: with minus without is the training time the writes cost.

    python benchmarks/checkpoint_scaling.py                      # 16, 128, 1024 seeds
    python benchmarks/checkpoint_scaling.py --seeds 16,128 --json results/checkpoints.json
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

CELL = r"""
import json, resource, statistics, sys, time
import rljax

rljax.use_cpu_devices()

import jax
import rljax.runs.checkpoints as checkpoints

seeds, total_steps, folder, with_checkpoints = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4] == "1"
writes = []
save = checkpoints.save_checkpoint


def timed(*args, **kwargs):
    start = time.perf_counter()
    save(*args, **kwargs)
    writes.append(time.perf_counter() - start)


checkpoints.save_checkpoint = timed  # what the background writer calls
every = total_steps // 4
result = rljax.train(
    "dqn", "CartPole-v1", seeds=range(seeds), total_steps=total_steps, eval_every=every, eval_episodes=5,
    out=folder, checkpoint_every=every if with_checkpoints else None, progress=False,
)
checkpoint = [p for p in __import__("pathlib").Path(folder).glob("checkpoint*.msgpack")]
print(json.dumps({
    "state_bytes": sum(x.nbytes for x in jax.tree.leaves(result.final_state)),  # padded lanes included
    "checkpoint_bytes": max((p.stat().st_size for p in checkpoint), default=0),
    "writes": len(writes),
    "write_s": statistics.median(writes) if writes else None,
    "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    "train_s": result.train_time_s,
    "compile_s": result.compile_time_s,
}))
"""


def run_cell(seeds: int, total_steps: int, with_checkpoints: bool) -> dict:
    """One fresh process: trains, prints its measurements as JSON."""
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.run(
            [
                sys.executable,
                "-c",
                CELL,
                str(seeds),
                str(total_steps),
                str(Path(tmp) / "run"),
                str(int(with_checkpoints)),
            ],
            capture_output=True,
            text=True,
        )
    if proc.returncode != 0:
        raise SystemExit(f"the {seeds}-seed cell failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", default="16,128,1024", help="comma-separated seed counts")
    parser.add_argument("--total-steps", type=int, default=4096, help="env steps per seed (4 segments)")
    parser.add_argument("--json", default=None, help="also write the rows here")
    args = parser.parse_args(argv)
    rows = []
    print(
        "| seeds | state MiB | checkpoint MiB | write s (median) | peak RSS MiB with / without | train s with / w/o |"
    )
    print("| ---: | ---: | ---: | ---: | ---: | ---: |")
    for seeds in [int(s) for s in args.seeds.split(",")]:
        with_ = run_cell(seeds, args.total_steps, True)
        without = run_cell(seeds, args.total_steps, False)
        rows.append({"seeds": seeds, "with": with_, "without": without})
        mib = 2**20
        print(
            f"| {seeds} | {with_['state_bytes'] / mib:,.0f} | {with_['checkpoint_bytes'] / mib:,.0f} | "
            f"{with_['write_s']:.2f} ({with_['writes']} writes) | "
            f"{with_['peak_rss_bytes'] / mib:,.0f} / {without['peak_rss_bytes'] / mib:,.0f} | "
            f"{with_['train_s']:.1f} / {without['train_s']:.1f} |",
            flush=True,
        )
    if args.json:
        from rljax.runs.files import write_json_atomic

        write_json_atomic(args.json, rows)


if __name__ == "__main__":
    main()
