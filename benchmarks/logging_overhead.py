"""Cost of progress bars and streamed metrics, against the same run with them off.

Three ways to run the same training (same seeds, same segments, same compiled
segment program), timed in one process, best of ``--repeats``:

  quiet       segments called from Python, nothing between them
  logged      + a tqdm progress bar and every segment's metrics appended to a CSV
  tensorboard + `--log tensorboard` on top of that (rljax.runs.loggers: an event file per
                seed plus the mean and IQM, the hyperparameters, flushed every 5 s)
  one-program the whole run as a single XLA program, in the same lanes of 8

    .venv/bin/python benchmarks/logging_overhead.py [--agent q_learning --env Taxi-v3 --seeds 16]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import jax
import numpy as np

import rljax

rljax.use_cpu_devices()  # before anything uses JAX: 2 CPU devices, as the rljax command has

from rljax.runs.loggers import SegmentLogger, hparams_of
from rljax.runs.metrics import MetricsTable, metrics_rows
from rljax.training.batch import BatchRunner
from rljax.training.configs import config_dict
from rljax.training.lanes import Lanes, _over_lanes, seed_keys, stack_configs
from rljax.training.plan import build


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agent", default="q_learning")
    parser.add_argument("--env", default="Taxi-v3")
    parser.add_argument("--seeds", type=int, default=16)
    parser.add_argument("--total-steps", type=int, default=None)
    parser.add_argument("--eval-every", type=int, default=None, help="env steps per segment")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    plan = build(args.agent, args.env, total_steps=args.total_steps, eval_every=args.eval_every)
    loop, configs = plan.loop, plan.configs
    seeds = list(range(args.seeds))
    keys, batched = seed_keys(seeds), stack_configs(configs * len(seeds))
    runner = BatchRunner(loop, Lanes(len(seeds), 8))
    runner.compile(keys, batched)
    lanes = runner.lanes
    train_all = jax.jit(_over_lanes(jax.vmap(loop.train)))
    packed_keys, packed_configs = lanes.pack(keys), lanes.pack(batched)
    jax.block_until_ready(train_all(packed_keys, packed_configs))  # compile

    def quiet():
        state, _ = runner.run(keys, batched)
        jax.block_until_ready(state)

    # Seconds spent inside the TensorBoard logger, per call, over all repeats: a direct
    # measure of its cost, which a busy machine's timing noise cannot hide or inflate.
    logger_seconds: list[float] = []
    hparams = hparams_of(args.agent, args.env, config_dict(configs[0]), total_steps=loop.schedule.total_steps)

    def logged(log: str = "none"):
        from tqdm.auto import tqdm

        with tempfile.TemporaryDirectory() as tmp:
            table = MetricsTable(Path(tmp) / "metrics.csv")
            bar = tqdm(total=loop.schedule.total_steps * len(seeds), unit="step", unit_scale=True, leave=False)
            logger = SegmentLogger(log, [tmp], seeds, [hparams]) if log != "none" else None

            def on_segment(i, metrics):
                table.append(metrics_rows(seeds, [0] * len(seeds), metrics, i))
                bar.update(loop.schedule.steps_per_segment * len(seeds))
                bar.set_postfix(eval_return=f"{np.nanmean(metrics['eval_return']):.2f}")
                if logger is not None:
                    t = time.perf_counter()
                    logger(i, metrics)
                    logger_seconds.append(time.perf_counter() - t)

            state, _ = runner.run(keys, batched, on_segment=on_segment)
            jax.block_until_ready(state)
            bar.close()
            if logger is not None:
                t = time.perf_counter()
                logger.close()  # the last flush is part of the cost
                logger_seconds.append(time.perf_counter() - t)

    def one_program():
        jax.block_until_ready(train_all(packed_keys, packed_configs))

    times = {}

    def tensorboard():
        logged("tensorboard")

    runs = [("quiet", quiet), ("logged", logged), ("tensorboard", tensorboard), ("one-program", one_program)]
    for name, fn in runs * args.repeats:
        start = time.perf_counter()
        fn()
        times[name] = min(times.get(name, np.inf), time.perf_counter() - start)

    steps = loop.schedule.total_steps * len(seeds)
    print(
        f"{args.agent} on {args.env}: {args.seeds} seeds x {loop.schedule.total_steps} steps, "
        f"{loop.schedule.num_segments} segments, jax {jax.__version__} on {jax.devices()[0].platform}; "
        f"best of {args.repeats}"
    )
    for name, t in times.items():
        print(f"  {name:<12} {t:7.3f} s  {steps / t:12,.0f} steps/s  {100 * (t / times['quiet'] - 1):+6.1f}% vs quiet")
    per_run = sum(logger_seconds) / args.repeats
    print(
        f"  inside the TensorBoard logger: {1000 * per_run:.1f} ms per run "
        f"({loop.schedule.num_segments} segments x {args.seeds} seeds + close), "
        f"{100 * per_run / times['quiet']:.2f}% of the quiet run"
    )


if __name__ == "__main__":
    main()
