"""SAC on Pendulum-v1: rljax against rejax's SAC, at each one's own config and budget, in one run.

Each row is a cold subprocess (no compile cache) that trains 16 seeds (``--seeds``) in one
program and reports compile seconds (lowering + XLA compile of the whole training program),
train seconds (running it) and their sum, and each seed's final policy acting greedily (the
squashed mean of its Gaussian) over 100 fresh 200-step episodes of gymnax's Pendulum-v1, by
the same evaluator for every row (``rljax.training.evaluate.evaluate``, outside the timings).
The table gives the IQM (``rljax.analysis.stats.iqm``) and the worst of the 16 final returns.

The rows:

* ``rljax-preset``: ``rljax.train("sac", "Pendulum-v1", seeds=range(16))``, the preset
  (20k env steps, evaluations every 5k);
* ``rljax-rejax-budget``: the same preset at rejax's 10k env steps, evaluated every 5k
  steps as the preset is (the preset's own cadence, 4 evaluations per run, would be every
  2.5k steps: not whole updates of 8, and rljax rounds that to 312 updates and the run up
  to 5 segments, 12,480 steps);
* ``rejax``: rejax 0.1.3's SAC at its own Pendulum-v1 config (``configs/gymnax/pendulum.yaml``
  of its repository, below as ``REJAX_CONFIG``: 10k env steps, 1 env, batches of 256, lr
  0.01, swish 64x64, observation normalisation, an evaluation of 128 episodes every 100
  steps inside its training program), trained as its README does
  (``jax.jit(jax.vmap(SAC.create(**config).train))`` over ``PRNGKey(0..15)``);
* ``rejax-rljax-budget``: the same config with ``total_timesteps`` 20k, rljax's preset budget.

rejax 0.1.3 calls the pre-1.0 gymnax ``step`` (5 values), so the environment it makes is
wrapped by gymnax's own ``LegacyStepAPIWrapper`` (done = terminated or truncated, as the
old API had it); its algorithm is unchanged. rejax runs in its own environment with
rljax's pinned jax (the one ``benchmarks/ppo_cartpole.py`` uses, plus rejax)::

    python3 -m venv /tmp/pj-venv
    /tmp/pj-venv/bin/pip install jax==0.10.2 jaxlib==0.10.2 flax optax gymnax==1.0.1 distrax scipy
    /tmp/pj-venv/bin/pip install rejax==0.1.3

Run::

    .venv/bin/python benchmarks/sac_pendulum.py --peer-python /tmp/pj-venv/bin/python
    .venv/bin/python benchmarks/sac_pendulum.py --rows rljax-preset,rljax-rejax-budget   # rljax only

Writes ``--out``/results.json and prints a table with rejax's time over rljax's.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

# rljax from this checkout, also for a Python whose environment does not install it.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _worker import (  # benchmarks/, the script's own folder
    add_worker_arguments,
    chosen_rows,
    print_worker_result,
    result_row,
    train_peer_seeds,
    worker_result,
)

ENV_ID = "Pendulum-v1"
EVAL_EPISODES = 100
ROWS = ("rljax-preset", "rljax-rejax-budget", "rejax", "rejax-rljax-budget")
REJAX_STEPS = 10_000
RLJAX_STEPS = 20_000  # rljax's preset budget (PRESETS["Pendulum-v1"] in rljax/agents/sac.py)
RLJAX_EVAL_EVERY = 5_000  # the preset's cadence at 20k (4 evaluations): whole updates of 8 at 10k too

# rejax's configs/gymnax/pendulum.yaml, its ``sac`` entry (the field names of rejax 0.1.3).
REJAX_CONFIG = {
    "env": ENV_ID,
    "agent_kwargs": {"activation": "swish"},
    "num_envs": 1,
    "buffer_size": 10_000,
    "fill_buffer": 256,
    "batch_size": 256,
    "learning_rate": 0.01,
    "num_epochs": 1,
    "total_timesteps": REJAX_STEPS,
    "eval_freq": 100,
    "gamma": 0.99,
    "polyak": 0.98,
    "target_entropy_ratio": None,
    "normalize_observations": True,
}


def run_rljax(row: str, num_seeds: int) -> dict:
    import rljax

    rljax.use_cpu_devices()  # before anything uses JAX: 2 CPU devices, as the rljax command has
    kwargs = {} if row == "rljax-preset" else {"total_steps": REJAX_STEPS, "eval_every": RLJAX_EVAL_EVERY}
    result = rljax.train("sac", ENV_ID, list(range(num_seeds)), progress=False, compile_cache=False, **kwargs)
    return result_row(result)


def run_rejax(row: str, num_seeds: int) -> dict:
    import jax
    import jax.numpy as jnp
    import rejax.compat
    from gymnax.wrappers.compat import LegacyStepAPIWrapper
    from rejax import SAC

    from rljax.training.evaluate import evaluate

    class LegacyStep(LegacyStepAPIWrapper):
        # rejax deep-copies its config (dataclasses.asdict), and the wrapper's attribute
        # forwarding recurses on a copy made without __init__; the wrapper holds no state.
        def __deepcopy__(self, memo):
            return self

    make = rejax.compat._gymnax_make  # what rejax's create() calls for a gymnax id
    rejax.compat._gymnax_make = lambda *a, **kw: (lambda env, params: (LegacyStep(env), params))(*make(*a, **kw))

    steps = RLJAX_STEPS if row == "rejax-rljax-budget" else REJAX_STEPS
    algo = SAC.create(**{**REJAX_CONFIG, "total_timesteps": steps})
    keys, (ts, _), compile_s, train_s = train_peer_seeds(algo.train, num_seeds)

    env, env_params = make(ENV_ID)  # gymnax's Pendulum-v1, unwrapped: what rljax's rows are evaluated on
    actor = algo.actor

    def greedy_return(ts, key):
        def policy(k, obs):
            obs = algo.normalize_obs(ts.obs_rms_state, obs)  # the statistics it trained with
            dist = actor.apply(ts.actor_ts.params, obs[None], method="_action_dist")
            return (actor.action_loc + jnp.tanh(dist.mean()) * actor.action_scale)[0]

        return evaluate(key, env, env_params, policy, EVAL_EPISODES).mean()

    eval_keys = jax.vmap(lambda k: jax.random.fold_in(k, 12345))(keys)
    returns = jax.jit(jax.vmap(greedy_return))(ts, eval_keys)
    return {
        "compile_s": compile_s,
        "train_s": train_s,
        "env_steps_per_seed": int(ts.global_step[0]),
        "final_greedy_return": [float(x) for x in returns],
    }


def measure(row: str, num_seeds: int, python: str) -> dict:
    load_before = os.getloadavg()[0]
    out = worker_result([python, os.path.abspath(__file__), "--worker", row, "--num-seeds", str(num_seeds)])
    out["load_1min"] = [load_before, os.getloadavg()[0]]  # the machine is shared: before and after
    if "error" in out:
        return out
    import numpy as np

    from rljax.analysis.stats import iqm

    returns = out["final_greedy_return"]
    out["iqm"] = float(iqm(returns))
    out["worst"] = float(np.min(returns))
    out["seeds"] = len(returns)
    out["total_s"] = out["compile_s"] + out["train_s"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_worker_arguments(parser, ROWS)
    parser.add_argument("--seeds", type=int, default=16, help="seeds 0..N-1")
    parser.add_argument("--peer-python", default=sys.executable, help="a Python with rejax installed")
    parser.add_argument("--out", default="results/bench_sac_pendulum")
    args = parser.parse_args()
    if args.worker:
        if args.worker.startswith("rejax"):
            out = run_rejax(args.worker, args.num_seeds)
        else:
            out = run_rljax(args.worker, args.num_seeds)
        print_worker_result(out)
        return

    rows = chosen_rows(parser, args.rows, ROWS)
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    results = {}
    header = f"{'row':<20} {'steps':>6} {'compile s':>9} {'train s':>8} {'total s':>8} {'IQM':>7} {'worst':>7}"
    print(header)
    print("-" * len(header))
    for row in rows:
        python = args.peer_python if row.startswith("rejax") else sys.executable
        r = results[row] = measure(row, args.seeds, python)
        if "error" in r:
            print(f"{row:<20} FAILED: {r['error'].strip().splitlines()[-1] if r['error'].strip() else '?'}")
            continue
        print(
            f"{row:<20} {r['env_steps_per_seed']:>6} {r['compile_s']:>9.1f} {r['train_s']:>8.1f} "
            f"{r['total_s']:>8.1f} {r['iqm']:>7.1f} {r['worst']:>7.1f}",
            flush=True,
        )
    for peer, mine, what in (
        ("rejax", "rljax-preset", "each at its own config"),
        ("rejax", "rljax-rejax-budget", "both at 10k steps"),
        ("rejax-rljax-budget", "rljax-preset", "both at 20k steps"),
    ):
        p, m = results.get(peer, {}), results.get(mine, {})
        if "total_s" in p and "total_s" in m:
            print(f"compile + train, {peer} / {mine} ({what}): {p['total_s'] / m['total_s']:.2f}x")
    (out_dir / "results.json").write_text(
        json.dumps({"env": ENV_ID, "rejax_config": REJAX_CONFIG, **results}, indent=2)
    )
    print(f"wrote {out_dir}/results.json")


if __name__ == "__main__":
    main()
