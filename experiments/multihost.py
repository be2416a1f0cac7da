"""Training across several machines with JAX's multi-controller runtime.

Every process (one per host, or one per GPU) runs this same script. After
``jax.distributed.initialize()`` the processes see one global list of devices;
rljax shards its lanes of runs over all of them with the same Mesh /
NamedSharding code it uses on one machine, so seed s gives the same numbers on
one GPU, eight GPUs or eight hosts (at the same --lane-width). Metrics are
gathered to every process; process 0 writes the results.

Under SLURM (jax.distributed.initialize() reads SLURM's variables itself):

    #!/bin/bash
    #SBATCH --nodes=4 --ntasks-per-node=1 --gpus-per-task=8
    srun .venv/bin/python experiments/multihost.py --agent dqn --env CartPole-v1 --seeds 1024 --out results/multihost

Elsewhere, start one process per host with the coordinator's address:

    python experiments/multihost.py --coordinator host0:1234 --num-processes 4 --process-id $RANK ...

On one machine with no flags it simply runs locally (a useful smoke test).
"""

import argparse

import jax


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agent", default="q_learning")
    parser.add_argument("--env", default="Taxi-v3")
    parser.add_argument("--seeds", type=int, default=16)
    parser.add_argument("--total-steps", type=int, default=None)
    parser.add_argument("--lane-width", type=int, default=8)
    parser.add_argument("--out", default="results/multihost")
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

    result = train(
        args.agent,
        args.env,
        seeds=range(args.seeds),
        total_steps=args.total_steps,
        lane_width=args.lane_width,
        progress=jax.process_index() == 0,
    )
    if jax.process_index() == 0:
        from pathlib import Path

        from rljax.files import write_json_atomic

        write_json_atomic(Path(args.out) / "summary.json", result.summary())
        print(
            f"{jax.process_count()} process(es), {result.num_devices} device(s): "
            f"mean final return {result.final_eval_return.mean():.3f}; wrote {args.out}/summary.json"
        )


if __name__ == "__main__":
    main()
