"""Environment throughput: random-action steps per second under ``jit(vmap(scan))``.

Times every environment in the same process and shape (default 1024 envs x 1000
steps), so the numbers compare directly, and prints each one's ratio to a
reference (gymnax's CartPole-v1): a tabular environment such as Taxi-v3 should be
within a factor 2 of CartPole. Ids whose module does not exist yet are skipped.

    python benchmarks/env_throughput.py
    python benchmarks/env_throughput.py --num-envs 256 --num-steps 500 --envs Taxi-v3 CartPole-v1
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass

import jax
import jax.numpy as jnp

import rljax

rljax.use_cpu_devices()  # before anything uses JAX: 2 CPU devices, as the rljax command has

DEFAULT_ENVS = ["Taxi-v3", "CartPole-v1", "CartPole-v0", "Chain", "FrozenLake-v1"]


@dataclass
class Result:
    env_id: str
    compile_s: float
    best_run_s: float
    steps_per_s: float


def make_rollout(env, params, num_envs: int, num_steps: int):
    """A jitted ``key -> (total reward, episodes)`` of ``num_envs`` x ``num_steps`` random steps."""

    def one_env(key: jax.Array):
        k_reset, k_steps = jax.random.split(key)
        _, state = env.reset(k_reset, params)

        def step(carry, key):
            state, total, episodes = carry
            k_act, k_step = jax.random.split(key)
            action = env.action_space(params).sample(k_act)
            _, state, reward, terminated, truncated, _ = env.step(k_step, state, action, params)
            # Accumulate (rather than stack) outputs: keeps memory flat and stops
            # XLA from dead-code-eliminating the step.
            done = jnp.logical_or(terminated, truncated)
            return (state, total + reward, episodes + done.astype(jnp.int32)), None

        init = (state, jnp.zeros((), jnp.float32), jnp.zeros((), jnp.int32))
        (_, total, episodes), _ = jax.lax.scan(step, init, jax.random.split(k_steps, num_steps))
        return total, episodes

    return jax.jit(lambda key: jax.vmap(one_env)(jax.random.split(key, num_envs)))


def benchmark(env_id: str, num_envs: int, num_steps: int, repeats: int = 3) -> Result:
    """Compiles once, warms up once, and keeps the best of ``repeats`` timed runs."""
    env, params = rljax.make(env_id)
    rollout = make_rollout(env, params, num_envs, num_steps)
    key = jax.random.key(0)

    start = time.perf_counter()
    compiled = rollout.lower(key).compile()
    compile_s = time.perf_counter() - start

    jax.block_until_ready(compiled(key))  # warm-up: first-run allocations, caches
    best = float("inf")
    for i in range(repeats):
        k = jax.random.fold_in(key, i + 1)
        start = time.perf_counter()
        jax.block_until_ready(compiled(k))
        best = min(best, time.perf_counter() - start)
    return Result(env_id, compile_s, best, num_envs * num_steps / best)


def _available(env_id: str) -> str | None:
    """None if ``env_id`` can be made, else why not (a module still being written)."""
    try:
        rljax.make(env_id)
    except (ModuleNotFoundError, AttributeError) as e:
        return f"{type(e).__name__}: {e}"
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--num-envs", type=int, default=1024)
    parser.add_argument("--num-steps", type=int, default=1000)
    parser.add_argument("--envs", nargs="+", default=DEFAULT_ENVS, help="environment ids")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs; the best counts")
    parser.add_argument("--reference", default="CartPole-v1", help="id the ratios are relative to")
    parser.add_argument(
        "--check",
        type=float,
        metavar="FACTOR",
        default=None,
        help="exit with status 1 if any environment is more than FACTOR times slower "
        "than the reference (e.g. --check 2)",
    )
    args = parser.parse_args(argv)

    env_ids = list(dict.fromkeys(args.envs + [args.reference]))  # reference last, once
    unknown = [i for i in env_ids if i not in rljax.registered_ids()]
    if unknown:
        parser.error(f"unknown environment id(s) {unknown}; known: {', '.join(rljax.registered_ids())}")
    print(
        f"jax {jax.__version__} on {jax.devices()[0].platform} ({jax.devices()[0].device_kind}); "
        f"{args.num_envs} envs x {args.num_steps} steps, best of {args.repeats}"
    )
    results: dict[str, Result] = {}
    for env_id in env_ids:
        why = _available(env_id)
        if why is not None:
            print(f"{env_id:<20} skipped ({why})")
            continue
        results[env_id] = benchmark(env_id, args.num_envs, args.num_steps, args.repeats)

    ref = results.get(args.reference)
    print(f"\n{'env':<20}{'compile s':>11}{'run s':>9}{'steps/s':>14}{'ratio':>9}")
    slow = []
    for r in results.values():
        # ratio = reference steps/s over this env's: > 1 means slower than the reference.
        ratio = ref.steps_per_s / r.steps_per_s if ref else float("nan")
        print(f"{r.env_id:<20}{r.compile_s:>11.2f}{r.best_run_s:>9.3f}{r.steps_per_s:>14,.0f}{ratio:>9.2f}")
        if args.check is not None and ratio > args.check:
            slow.append(f"{r.env_id} ({ratio:.2f}x)")
    if ref:
        print(f"ratio = {args.reference} steps/s / env steps/s (above 1: slower than {args.reference})")
    if slow:
        print(f"slower than {args.check}x {args.reference}: {', '.join(slow)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
