"""PPO on CartPole-v1: rljax against PureJaxRL's ``ppo.py``, at PureJaxRL's own config, in one run.

Each row is a cold subprocess (no compile cache) that trains 16 seeds (``--seeds``) under
``jit(vmap(...))`` and reports:

* compile seconds (lowering + XLA compile of the whole training program) and train
  seconds (running it), and their sum: the time to a trained batch of seeds;
* the fraction of seeds solved: each seed's final policy acting greedily (argmax) over
  100 fresh episodes of CartPole-v1 with its 500-step limit, mean return >= 475, by the
  same evaluator for every row (``rljax.training.evaluate.evaluate``, outside the timings);
* for rljax, the env steps at which each seed's greedy evaluation first reached 475 and
  from which it held it to the end (``steps_to_threshold`` / ``steps_to_held_threshold``).

The rows:

* ``rljax-preset``: ``rljax train ppo --env CartPole-v1 --seeds 16`` (rljax's preset);
* ``rljax-purejaxrl-config``: rljax's PPO at PureJaxRL's config (4 envs x 128 steps,
  5e5 env steps, 4 epochs of 4 minibatches, Adam 2.5e-4 annealed to 0, eps 1e-5,
  global-norm clip 0.5, 64-64 tanh, orthogonal init, gamma 0.99, lambda 0.95, clip 0.2,
  value clip, entropy 0.01, value 0.5): PPOConfig's defaults;
* ``rljax-truncation-as-terminal``: the same, with a time-limit truncation treated as a
  terminal state (no bootstrap from the true final observation), as PureJaxRL does:
  what correct bootstrapping is worth here;
* ``purejaxrl``: PureJaxRL's ``purejaxrl/ppo.py`` (``make_train(config)`` with the
  config of its ``__main__``, ``DEBUG`` off), vmapped over ``PRNGKey(0..15)``. Its code
  is unchanged; it calls the pre-1.0 gymnax ``step`` (5 values), so ``gymnax.make`` is
  wrapped by gymnax's own ``LegacyStepAPIWrapper`` for it. It needs distrax (and its
  wrappers module imports brax and navix): run it in
  its own environment with rljax's pinned jax::

      git clone https://github.com/luchris429/purejaxrl /tmp/purejaxrl
      python3 -m venv /tmp/pj-venv
      /tmp/pj-venv/bin/pip install jax==0.10.2 jaxlib==0.10.2 flax optax gymnax==1.0.1 distrax brax navix scipy six

Run::

    .venv/bin/python benchmarks/ppo_cartpole.py --purejaxrl /tmp/purejaxrl --peer-python /tmp/pj-venv/bin/python
    .venv/bin/python benchmarks/ppo_cartpole.py --rows rljax-preset,rljax-purejaxrl-config   # rljax only

Writes ``--out``/results.json and prints a table with the peer's time over rljax's.
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

ENV_ID = "CartPole-v1"
SOLVED_AT = 475.0
EVAL_EPISODES = 100
ROWS = ("rljax-preset", "rljax-purejaxrl-config", "rljax-truncation-as-terminal", "purejaxrl")

# PureJaxRL's purejaxrl/ppo.py __main__ config (DEBUG off: it prints from inside the program).
PUREJAXRL_CONFIG = {
    "LR": 2.5e-4,
    "NUM_ENVS": 4,
    "NUM_STEPS": 128,
    "TOTAL_TIMESTEPS": 5e5,
    "UPDATE_EPOCHS": 4,
    "NUM_MINIBATCHES": 4,
    "GAMMA": 0.99,
    "GAE_LAMBDA": 0.95,
    "CLIP_EPS": 0.2,
    "ENT_COEF": 0.01,
    "VF_COEF": 0.5,
    "MAX_GRAD_NORM": 0.5,
    "ACTIVATION": "tanh",
    "ENV_NAME": ENV_ID,
    "ANNEAL_LR": True,
    "DEBUG": False,
}
PUREJAXRL_STEPS = 499_712  # 5e5 rounded down to whole updates of 4 x 128 steps, as its NUM_UPDATES does


def run_rljax(row: str, num_seeds: int) -> dict:
    import rljax

    rljax.use_cpu_devices()  # before anything uses JAX: 2 CPU devices, as the rljax command has

    if row == "rljax-preset":
        kwargs = {}
    else:  # PPOConfig's defaults are PureJaxRL's config; the preset's own fields are set back to them
        from rljax.agents.ppo import PPOConfig

        defaults = PPOConfig()
        preset = {k: getattr(defaults, k) for k in rljax.get_agent("ppo").preset(ENV_ID) if hasattr(defaults, k)}
        overrides = {**preset, "truncation_as_terminal": row.endswith("terminal")}
        kwargs = {"total_steps": PUREJAXRL_STEPS, "eval_every": PUREJAXRL_STEPS // 20, "overrides": overrides}
    result = rljax.train("ppo", ENV_ID, list(range(num_seeds)), progress=False, compile_cache=False, **kwargs)
    return result_row(result)


def run_purejaxrl(purejaxrl_dir: str, num_seeds: int) -> dict:
    sys.path.insert(0, str(Path(purejaxrl_dir) / "purejaxrl"))  # ppo.py imports its wrappers as a top-level module
    import gymnax
    import jax
    import jax.numpy as jnp
    from gymnax.wrappers.compat import LegacyStepAPIWrapper

    make = gymnax.make
    gymnax.make = lambda *a, **kw: (lambda env, params: (LegacyStepAPIWrapper(env), params))(*make(*a, **kw))
    import ppo  # purejaxrl/ppo.py

    from rljax.training.evaluate import evaluate

    keys, out, compile_s, train_s = train_peer_seeds(ppo.make_train(dict(PUREJAXRL_CONFIG)), num_seeds)

    env, env_params = make(ENV_ID)
    network = ppo.ActorCritic(env.action_space(env_params).n, activation=PUREJAXRL_CONFIG["ACTIVATION"])

    def greedy_return(params, key):
        def policy(k, obs):
            pi, _ = network.apply(params, obs)
            return jnp.argmax(pi.logits)

        return evaluate(key, env, env_params, policy, EVAL_EPISODES).mean()

    params = out["runner_state"][0].params
    eval_keys = jax.vmap(lambda k: jax.random.fold_in(k, 12345))(keys)
    returns = jax.jit(jax.vmap(greedy_return))(params, eval_keys)
    return {
        "compile_s": compile_s,
        "train_s": train_s,
        "env_steps_per_seed": PUREJAXRL_STEPS,
        "final_greedy_return": [float(x) for x in returns],
    }


def measure(row: str, num_seeds: int, python: str, purejaxrl_dir: str | None) -> dict:
    cmd = [python, os.path.abspath(__file__), "--worker", row, "--num-seeds", str(num_seeds)]
    if purejaxrl_dir:
        cmd += ["--purejaxrl", purejaxrl_dir]
    out = worker_result(cmd)  # cold: every measurement compiles from scratch
    if "error" in out:
        return out
    returns = out["final_greedy_return"]
    out["solved"] = sum(r >= SOLVED_AT for r in returns)
    out["seeds"] = len(returns)
    out["total_s"] = out["compile_s"] + out["train_s"]
    return out


def _median(values: list) -> float | None:
    import numpy as np

    values = [v for v in values or [] if v is not None]
    return float(np.median(values)) if values else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_worker_arguments(parser, ROWS)
    parser.add_argument("--seeds", type=int, default=16, help="seeds 0..N-1")
    parser.add_argument("--purejaxrl", help="a checkout of PureJaxRL (its purejaxrl/ppo.py)")
    parser.add_argument("--peer-python", default=sys.executable, help="a Python with PureJaxRL's dependencies")
    parser.add_argument("--out", default="results/bench_ppo_cartpole")
    args = parser.parse_args()
    if args.worker:
        if args.worker == "purejaxrl":
            out = run_purejaxrl(args.purejaxrl, args.num_seeds)
        else:
            out = run_rljax(args.worker, args.num_seeds)
        print_worker_result(out)
        return

    rows = chosen_rows(parser, args.rows, ROWS)
    if "purejaxrl" in rows and not args.purejaxrl:
        parser.error("the purejaxrl row needs --purejaxrl DIR (a PureJaxRL checkout)")
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    results = {}
    header = (
        f"{'row':<30} {'compile s':>9} {'train s':>8} {'total s':>8} {'solved':>7} {'first 475':>10} {'held 475':>9}"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        python = args.peer_python if row == "purejaxrl" else sys.executable
        r = results[row] = measure(row, args.seeds, python, args.purejaxrl)
        if "error" in r:
            print(f"{row:<30} FAILED: {r['error'].strip().splitlines()[-1] if r['error'].strip() else '?'}")
            continue
        first, held = _median(r.get("steps_to_threshold")), _median(r.get("steps_to_held_threshold"))
        print(
            f"{row:<30} {r['compile_s']:>9.1f} {r['train_s']:>8.1f} {r['total_s']:>8.1f} "
            f"{r['solved']:>3}/{r['seeds']:<3} {first if first is not None else '-':>10} "
            f"{held if held is not None else '-':>9}",
            flush=True,
        )
    peer, mine = results.get("purejaxrl", {}), results.get("rljax-preset", {})
    if "total_s" in peer and "total_s" in mine:
        print(f"time to a trained batch, PureJaxRL / rljax's preset: {peer['total_s'] / mine['total_s']:.1f}x")
    (out_dir / "results.json").write_text(
        json.dumps({"env": ENV_ID, "purejaxrl_config": PUREJAXRL_CONFIG, **results}, indent=2)
    )
    print(f"wrote {out_dir}/results.json")


if __name__ == "__main__":
    main()
