"""MuZero's costs: search (simulations per second) and training (env steps per second), 1 and 16 seeds.

1. Search: the acting search (``act_with_extras``, Gumbel MuZero with the learned model, as
   the loop calls it: vmapped over ``num_envs`` observations) on CartPole with an
   untrained network, jitted and timed after a warm-up call, for several
   ``num_simulations``. Reported: searches per second (one per observation) and
   simulations per second (searches x num_simulations).
2. Training: the CartPole preset (``rljax.train``) for ``--total-steps`` env steps per
   seed, for 1 seed (a lane of 1) and 16 seeds (two lanes of 8); compile and train seconds
   and env steps per second (all seeds together).

Run (a few CPU minutes)::

    .venv/bin/python benchmarks/muzero_search.py --out results/bench_muzero

Writes ``--out/muzero_search.json``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import jax
import jax.numpy as jnp

import rljax

rljax.use_cpu_devices()  # before anything uses JAX: 2 CPU devices, as the rljax command has

from rljax.agents.base import Clock
from rljax.agents.muzero import MuZeroConfig, act_with_extras, init, muzero
from rljax.experiment import train
from rljax.runs.files import write_json_atomic
from rljax.training.configs import make_config

ENV_ID = "CartPole-v1"


def time_search(num_simulations: int, num_envs: int, repeats: int) -> dict:
    env, params = rljax.make(ENV_ID)
    preset = {k: v for k, v in muzero.preset(ENV_ID).items() if k != "total_steps"}
    config: MuZeroConfig = make_config(muzero, {**preset, "num_simulations": num_simulations, "num_envs": num_envs})
    state = init(jax.random.PRNGKey(0), env, params, config)
    obs = jax.vmap(lambda k: env.reset(k, params)[0])(jax.random.split(jax.random.PRNGKey(1), num_envs))

    @jax.jit
    def search(key, obs):
        keys = jax.random.split(key, num_envs)
        return jax.vmap(lambda k, o: act_with_extras(k, state, o, config, Clock.start(1), True))(keys, obs)

    start = time.perf_counter()
    jax.block_until_ready(search(jax.random.PRNGKey(2), obs))
    compile_s = time.perf_counter() - start
    start = time.perf_counter()
    for i in range(repeats):
        out = search(jax.random.PRNGKey(3 + i), obs)
    jax.block_until_ready(out)
    seconds = (time.perf_counter() - start) / repeats
    return {
        "num_simulations": num_simulations,
        "num_envs": num_envs,
        "compile_s": compile_s,
        "seconds_per_batch": seconds,
        "searches_per_s": num_envs / seconds,
        "simulations_per_s": num_envs * num_simulations / seconds,
    }


def time_training(num_seeds: int, total_steps: int) -> dict:
    result = train("muzero", ENV_ID, seeds=range(num_seeds), total_steps=total_steps, eval_episodes=10)
    steps = int(result.metrics["env_steps"][0][-1])
    return {
        "seeds": num_seeds,
        "env_steps_per_seed": steps,
        "compile_time_s": result.compile_time_s,
        "train_time_s": result.train_time_s,
        "env_steps_per_s": steps * num_seeds / result.train_time_s,
        "note": "train time includes the evaluations (10 episodes each, with the search)",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="results/bench_muzero")
    parser.add_argument("--simulations", default="4,16,50", help="comma-separated num_simulations")
    parser.add_argument("--num-envs", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--total-steps", type=int, default=20_000, help="env steps per seed of the training runs")
    parser.add_argument("--seeds", default="1,16", help="comma-separated seed counts of the training runs")
    args = parser.parse_args()
    report = {"device": jax.devices()[0].platform, "jax": jax.__version__, "search": [], "training": []}
    for n in [int(s) for s in args.simulations.split(",") if s]:
        row = time_search(n, args.num_envs, args.repeats)
        report["search"].append(row)
        print(
            f"search: {n} simulations x {args.num_envs} observations: {row['simulations_per_s']:.0f} simulations/s "
            f"({row['searches_per_s']:.0f} searches/s; compile {row['compile_s']:.1f} s)"
        )
    for seeds in [int(s) for s in args.seeds.split(",") if s]:
        row = time_training(seeds, args.total_steps)
        report["training"].append(row)
        print(
            f"training: {seeds} seed(s) x {row['env_steps_per_seed']} env steps: {row['env_steps_per_s']:.0f} env "
            f"steps/s (compile {row['compile_time_s']:.1f} s, train {row['train_time_s']:.1f} s)"
        )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out / "muzero_search.json", report)
    print(f"wrote {out / 'muzero_search.json'}")


if __name__ == "__main__":
    jnp.zeros(())  # initialise the backend before timing
    main()
