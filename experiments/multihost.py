"""Training across several machines with JAX's multi-controller runtime.

Every process (one per host, or one per GPU) runs this same script. After
``jax.distributed.initialize()`` the processes see one global list of devices;
rljax shards its lanes of runs over all of them with the same Mesh /
NamedSharding code it uses on one machine, so seed s gives the same numbers on
one GPU, eight GPUs or eight hosts (at the same --lane-width). Metrics are
gathered to every process; process 0 writes the run folder (run.json,
metrics.csv, summary.json, curves.png, agent_state.msgpack), which must be on a
filesystem every process sees. With --checkpoint-every each process also saves
its own shards of the training state there (checkpoint.p{i}-of-{n}.msgpack and
the one before it); --resume DIR continues from them on the same number of
processes and devices, with the numbers of an uninterrupted run. A SIGTERM or
SIGINT to any process (a preemption) stops them all after the same segment,
saving first; the script then exits 143 / 130.

Under SLURM (jax.distributed.initialize() reads SLURM's variables itself):

    #!/bin/bash
    #SBATCH --nodes=4 --ntasks-per-node=1 --gpus-per-task=8 --signal=TERM@120
    srun .venv/bin/python experiments/multihost.py --agent dqn --env CartPole-v1 --seeds 1024 \\
        --out results/multihost --checkpoint-every 50000

and after a preemption or a time limit, the same job with ``--resume results/multihost``.

Elsewhere, start one process per host with the coordinator's address:

    python experiments/multihost.py --coordinator host0:1234 --num-processes 4 --process-id $RANK ...

On one machine with no flags it simply runs locally (a useful smoke test).
"""

import argparse
import sys

import jax

import rljax

# Every process: 2 CPU devices each (2 processes on CPUs: 4 global devices); GPUs and TPUs: no change.
rljax.use_cpu_devices()  # before anything uses JAX: 2 CPU devices, as the rljax command has


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agent", default="q_learning")
    parser.add_argument("--env", default="Taxi-v3")
    parser.add_argument("--seeds", type=int, default=16)
    parser.add_argument("--total-steps", type=int, default=None)
    parser.add_argument("--lane-width", type=int, default=8)
    parser.add_argument("--out", default="results/multihost", help="the run folder (process 0 writes it)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing run folder")
    parser.add_argument("--checkpoint-every", type=int, default=None, metavar="STEPS", help="env steps per seed")
    parser.add_argument("--resume", default=None, metavar="DIR", help="continue the run in DIR (same command)")
    parser.add_argument("--coordinator", default=None, help="host:port of process 0 (not needed under SLURM)")
    parser.add_argument("--num-processes", type=int, default=None)
    parser.add_argument("--process-id", type=int, default=None)
    args = parser.parse_args()

    if args.coordinator or args.num_processes:
        jax.distributed.initialize(args.coordinator, args.num_processes, args.process_id)
    else:
        try:
            jax.distributed.initialize()  # auto-detects SLURM / cloud TPU settings
        except (ValueError, RuntimeError):
            pass  # not in a cluster: run on this machine alone

    from rljax.experiment import train
    from rljax.training.interrupts import RunInterrupted

    try:
        result = train(
            args.agent,
            args.env,
            seeds=range(args.seeds),
            total_steps=args.total_steps,
            lane_width=args.lane_width,
            progress=jax.process_index() == 0,
            out=args.resume or args.out,
            overwrite=args.overwrite,
            checkpoint_every=args.checkpoint_every,
            resume=args.resume is not None,
            argv=["python", *sys.argv],  # manifest.json, and the resume command an interrupted run prints
        )
    except RunInterrupted as stop:  # every process stopped after the same segment and saved its shards
        if jax.process_index() == 0:
            print(f"multihost: {stop}", file=sys.stderr)
        return stop.exit_code
    if jax.process_index() == 0:
        print(
            f"{jax.process_count()} process(es), {result.num_devices} device(s): "
            f"mean final return {result.final_eval_return.mean():.3f}; wrote {args.resume or args.out}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
