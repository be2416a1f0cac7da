"""PPO on Brax's hopper: rljax against PureJaxRL's ``ppo_continuous_action.py``, same pipeline, in one run.

Both train ``brax/hopper`` on Brax's ``positional`` pipeline (PureJaxRL's choice; Brax
0.14.2, 1000-step time limit). Each row is a cold subprocess (no compile cache) that trains
4 seeds (``--seeds``) in one ``jit(vmap(...))`` program and reports:

* compile seconds (lowering + XLA compile of the training program) and train seconds
  (running it);
* env steps per second of training: seeds x env steps per seed / train seconds (for
  rljax, train seconds less its evaluations' measured seconds, see below);
* the return at the fixed budget, the same quantity for both rows: per seed, the mean
  undiscounted return of the training episodes (stochastic policy, raw rewards) that
  ended in the last tenth of the run's updates, pooled over those episodes; the table
  gives the mean (and min / max) over seeds. For PureJaxRL that is its
  ``metrics["returned_episode_returns"]`` where ``metrics["returned_episode"]`` is true,
  over its last ``NUM_UPDATES / 10`` updates; for rljax it is the ``train_episode_return``
  metric of the last of 10 segments (``eval_every`` = a tenth of the run), which is that
  same mean over that same window of updates;
* the greedy (Gaussian mean) return of each seed's final policy over ``EVAL_EPISODES``
  fresh episodes of rljax's ``brax/hopper``, by the same evaluator for both rows
  (``rljax.training.evaluate.evaluate``; PureJaxRL's policy reads its final observation
  statistics), outside PureJaxRL's timings. The 10 segments each end in such an evaluation
  (rljax's loop evaluates at every segment's end); they run inside rljax's train
  seconds, so the worker measures them apart (10 x the seconds of one evaluation of the
  trained policies, compiled first), reports them as ``eval s`` and leaves them out of
  env steps/s. PureJaxRL's training evaluates nothing.

The rows:

* ``purejaxrl``: PureJaxRL's ``purejaxrl/ppo_continuous_action.py`` (``make_train(config)``
  with the config of its ``__main__``: 32 minibatches, 4 epochs, 10 steps per env per
  update, Adam 3e-4 constant, eps 1e-5, global-norm clip 0.5, 256-256 tanh actor and
  critic, gamma 0.99, lambda 0.95, clip 0.2, entropy 0, value 0.5, observation and reward
  normalisation), vmapped over ``PRNGKey(0..N-1)``. Only ``NUM_ENVS`` (2048 -> 256) and
  ``TOTAL_TIMESTEPS`` (5e7 -> 512,000 per seed, 200 updates) are reduced to fit a CPU,
  and ``DEBUG`` is off (it prints from inside the program). Its code is unchanged but
  for one thing: its orthogonal initialiser's QR runs on the host, one seed after
  another (a ``pure_callback``): under ``vmap`` over seeds it is a batched LAPACK call,
  which can deadlock jaxlib 0.10's CPU thread pool (the hang ``benchmarks/stress_hang.py``
  measures), and a first full run of this row hung after compiling, every thread waiting.
  It runs once, before training; the parameters equal the original's to float rounding.
* ``rljax-purejaxrl-config``: rljax's PPO (``rljax/agents/ppo.py``) with that config
  mapped onto ``PPOConfig`` (``RLJAX_OVERRIDES``), the same env steps per seed, on
  ``rljax.make("brax/hopper", backend="positional")``, one lane of seeds per device
  (``lane_width`` = seeds / devices: the default width, 8, pads 4 seeds on 2 devices to
  16 runs, 4x the work).

Where the two still differ (no PPOConfig field makes them the same):

* PureJaxRL's ``NormalizeVecObservation`` folds every step's observations into its
  statistics before normalising them; rljax's ``normalize_obs`` reads the statistics of
  before the rollout for the whole rollout and its update, and folds the rollout in after.
* PureJaxRL's ``NormalizeVecReward`` does not clip; rljax's ``scale_rewards`` clips the
  scaled reward to [-10, 10].
* PureJaxRL steps Brax's ``AutoResetWrapper``, which restarts every episode of an
  environment slot from that slot's first initial state; rljax's adapter resets each
  episode from a fresh key (fresh reset noise).
* PureJaxRL treats the time limit as a terminal state; so does this row
  (``truncation_as_terminal=True``), to match.
* rljax's worker uses 2 CPU XLA devices (``rljax.use_cpu_devices()``, as its command line
  does) and shards the seeds over them; PureJaxRL's program runs on JAX's one default CPU
  device.

``--normalize`` sets the normalisation of both rows at once: ``both`` (the config's,
the default), ``obs`` or ``rewards`` alone (PureJaxRL's other normaliser's wrapper left
out of its ``make_train``; rljax's other field off), or ``none`` (PureJaxRL's
``NORMALIZE_ENV: False``; rljax's ``normalize_obs=False, scale_rewards=False``). Without
observation normalisation PureJaxRL's greedy evaluation reads raw observations.

Which difference makes the gap (one-factor runs, one script run per setting, 4 seeds, on a
2-core Intel Xeon VM loaded by other jobs, 2026-12-07; training return, last tenth of the
updates / greedy return, mean (min-max) over seeds)::

    --normalize   purejaxrl                            rljax-purejaxrl-config
    both          586 (522-669) / 731 (527-1047)       1001 (744-1171) / 1019 (567-1671)
    none          930 (822-1074) / 1026 (916-1083)     864 (677-1035) / 1029 (820-1172)
    obs           1079 (1023-1127) / 1174 (1109-1288)  1002 (871-1109) / 1150 (1057-1205)
    rewards       869 (677-1051) / 1111 (598-1404)     922 (847-996) / 1015 (637-1181)

The gap is normalisation's: without it the rows agree (the seed ranges overlap, the greedy
returns are equal), so the reset difference alone does not make it. Neither normaliser
alone opens it either; only PureJaxRL with both at once falls behind, below its own row
with neither, while rljax with both is at its rows with one. So it comes from the two
normalisers together in PureJaxRL's pipeline (its per-step observation statistics, its
unclipped scaled rewards, or how they combine); these runs do not tell which of those two
differences it is. Single runs of 4 seeds: differences of ~100 are within their spread.

Setup: PureJaxRL needs distrax (its wrappers module imports brax, gymnax and navix): run it
in its own environment with rljax's pinned jax and Brax::

    git clone https://github.com/luchris429/purejaxrl /tmp/purejaxrl
    python3 -m venv /tmp/pj-venv
    /tmp/pj-venv/bin/pip install jax==0.10.2 jaxlib==0.10.2 brax==0.14.2 flax optax gymnax==1.0.1 distrax navix

Run::

    .venv/bin/python benchmarks/ppo_brax.py --peer-python /tmp/pj-venv/bin/python --purejaxrl /tmp/purejaxrl
    .venv/bin/python benchmarks/ppo_brax.py --rows rljax-purejaxrl-config   # rljax only
    .venv/bin/python benchmarks/ppo_brax.py --peer-python ... --purejaxrl ... --normalize none

Writes ``--out``/results.json and prints a table with rljax's env steps/s over PureJaxRL's.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

# rljax from this checkout, also for a Python whose environment does not install it.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _worker import (  # benchmarks/, the script's own folder
    add_worker_arguments,
    chosen_rows,
    print_worker_result,
    train_peer_seeds,
    worker_result,
)

ENV_ID = "brax/hopper"
BACKEND = "positional"
ROWS = ("purejaxrl", "rljax-purejaxrl-config")
EVAL_EPISODES = 10
WINDOWS = 10  # the return at the budget: episodes that ended in the last 1/WINDOWS of the updates

# PureJaxRL's purejaxrl/ppo_continuous_action.py __main__ config; NUM_ENVS and
# TOTAL_TIMESTEPS reduced (2048 envs and 5e7 steps are hours on a CPU), DEBUG off.
PUREJAXRL_CONFIG = {
    "LR": 3e-4,
    "NUM_ENVS": 256,
    "NUM_STEPS": 10,
    "TOTAL_TIMESTEPS": 512_000,  # 200 updates of 256 x 10 steps
    "UPDATE_EPOCHS": 4,
    "NUM_MINIBATCHES": 32,
    "GAMMA": 0.99,
    "GAE_LAMBDA": 0.95,
    "CLIP_EPS": 0.2,
    "ENT_COEF": 0.0,
    "VF_COEF": 0.5,
    "MAX_GRAD_NORM": 0.5,
    "ACTIVATION": "tanh",
    "ENV_NAME": "hopper",
    "ANNEAL_LR": False,
    "NORMALIZE_ENV": True,
    "DEBUG": False,
}


def _budget(config: dict) -> tuple[int, int]:
    """(updates, env steps per seed) as PureJaxRL's make_train rounds TOTAL_TIMESTEPS."""
    per_update = config["NUM_ENVS"] * config["NUM_STEPS"]
    updates = int(config["TOTAL_TIMESTEPS"] // per_update)
    return updates, updates * per_update


# The same settings as PPOConfig fields. PureJaxRL's ActorCritic: separate 256-256 tanh
# MLPs for actor and critic, orthogonal init (sqrt 2 / 0.01 / 1.0), a state-independent
# log-std initialised at 0: PPOConfig's shared_torso=False and initial_log_std=0.
RLJAX_OVERRIDES = {
    "num_envs": PUREJAXRL_CONFIG["NUM_ENVS"],
    "rollout_length": PUREJAXRL_CONFIG["NUM_STEPS"],
    "num_epochs": PUREJAXRL_CONFIG["UPDATE_EPOCHS"],
    "num_minibatches": PUREJAXRL_CONFIG["NUM_MINIBATCHES"],
    "learning_rate": PUREJAXRL_CONFIG["LR"],
    "learning_rate_end_fraction": 1.0,  # ANNEAL_LR False: constant
    "adam_eps": 1e-5,
    "max_grad_norm": PUREJAXRL_CONFIG["MAX_GRAD_NORM"],
    "gamma": PUREJAXRL_CONFIG["GAMMA"],
    "gae_lambda": PUREJAXRL_CONFIG["GAE_LAMBDA"],
    "clip_eps": PUREJAXRL_CONFIG["CLIP_EPS"],
    "clip_value_loss": True,
    "normalize_advantages": True,
    "entropy_coef": PUREJAXRL_CONFIG["ENT_COEF"],
    "value_coef": PUREJAXRL_CONFIG["VF_COEF"],
    "hidden_sizes": (256, 256),
    "activation": PUREJAXRL_CONFIG["ACTIVATION"],
    "shared_torso": False,
    "initial_log_std": 0.0,
    "action_bounds": "clip",
    "normalize_obs": True,
    "scale_rewards": True,
    "truncation_as_terminal": True,
}


# --normalize: which of the observation and reward normalisation both rows apply.
NORMALIZE_CHOICES = ("both", "obs", "rewards", "none")


def run_rljax(num_seeds: int, normalize: str = "both") -> dict:
    import rljax

    rljax.use_cpu_devices()  # before anything uses JAX: 2 CPU devices, as the rljax command has
    import jax
    import numpy as np

    from rljax.training.lanes import Lanes

    _, steps = _budget(PUREJAXRL_CONFIG)
    overrides = {
        **RLJAX_OVERRIDES,
        "normalize_obs": normalize in ("both", "obs"),
        "scale_rewards": normalize in ("both", "rewards"),
    }
    kwargs = {
        "overrides": overrides,
        "env_kwargs": {"backend": BACKEND},
        "total_steps": steps,
        "eval_every": steps // WINDOWS,
        "eval_episodes": EVAL_EPISODES,
    }
    seeds = list(range(num_seeds))
    plan = rljax.build("ppo", ENV_ID, **kwargs)
    # One lane of the seeds per device: the default lane width (8) pads 4 seeds on 2
    # devices to 16 runs, 4x the work, which would be timed as rljax's.
    lane_width = math.ceil(num_seeds / jax.device_count())
    result = rljax.train(plan, seeds=seeds, lane_width=lane_width, progress=False, compile_cache=False)

    # The evaluations' share of train seconds: one evaluation of the trained policies
    # (the longest episodes of the run, so an upper bound per evaluation), compiled apart.
    loop, config = plan.loop, plan.run_config(0)
    states = Lanes(len(seeds), result.lane_width, result.num_devices).unpack(result.final_state)
    evaluate = jax.jit(jax.vmap(lambda s: loop.evaluate(s, config))).lower(states).compile()
    jax.block_until_ready(evaluate(states))  # warm
    start = time.perf_counter()
    jax.block_until_ready(evaluate(states))
    eval_s = WINDOWS * (time.perf_counter() - start)

    returns = np.asarray(result.metrics["train_episode_return"])[:, -1]
    episodes = np.asarray(result.metrics["train_episodes"])[:, -1]
    return {
        "compile_s": result.compile_time_s,
        "train_s": result.train_time_s,
        "eval_s": eval_s,
        "env_steps_per_seed": int(result.env_steps_per_seed),
        "final_window_return": [float(x) for x in returns],
        "final_window_episodes": [int(x) for x in episodes],
        "final_greedy_return": [float(x) for x in np.asarray(result.final_eval_return)],
    }


def _orthogonal_one_seed_at_a_time(scale: float = 1.0):
    """jax.nn.initializers.orthogonal with its QR run on the host, one seed after another.

    Under ``vmap`` over seeds the QR becomes a batched LAPACK call, which can deadlock
    jaxlib 0.10's CPU thread pool (see ``benchmarks/stress_hang.py``; rljax runs such
    programs one run at a time). Only the initialisation changes, not its distribution.
    """
    import jax
    import jax.numpy as jnp
    import numpy as np

    def init(key, shape, dtype=jnp.float32):
        n_rows, n_cols = int(np.prod(shape)) // shape[-1], shape[-1]
        matrix_shape = (n_cols, n_rows) if n_rows < n_cols else (n_rows, n_cols)
        a = jax.random.normal(key, matrix_shape, dtype)
        result = (jax.ShapeDtypeStruct(matrix_shape, dtype), jax.ShapeDtypeStruct((matrix_shape[1],) * 2, dtype))
        q, r = jax.pure_callback(
            lambda x: tuple(np.asarray(m, x.dtype) for m in np.linalg.qr(x)), result, a, vmap_method="sequential"
        )
        q = q * jnp.sign(jnp.diagonal(r))
        if n_rows < n_cols:
            q = q.T
        return scale * jnp.reshape(q, shape)

    return init


def run_purejaxrl(purejaxrl_dir: str, num_seeds: int, normalize: str = "both") -> dict:
    # ppo_continuous_action.py imports its wrappers as a top-level module.
    sys.path.insert(0, str(Path(purejaxrl_dir) / "purejaxrl"))
    import jax
    import jax.numpy as jnp
    import numpy as np
    import ppo_continuous_action as ppo

    ppo.orthogonal = _orthogonal_one_seed_at_a_time
    # NORMALIZE_ENV wraps both normalisers; one alone: the other's wrapper left out.
    if normalize == "obs":
        ppo.NormalizeVecReward = lambda env, gamma: env
    elif normalize == "rewards":
        ppo.NormalizeVecObservation = lambda env: env
    config = {**PUREJAXRL_CONFIG, "NORMALIZE_ENV": normalize != "none"}
    updates, steps = _budget(config)
    keys, out, compile_s, train_s = train_peer_seeds(ppo.make_train(config), num_seeds)

    # Its final policies' Gaussian means, on its final observation statistics, by rljax's
    # evaluator on rljax's brax/hopper: the greedy return as rljax's row measures it.
    import rljax
    from rljax.training.evaluate import evaluate

    env, env_params = rljax.make(ENV_ID, backend=BACKEND)
    network = ppo.ActorCritic(env.action_space(env_params).shape[0], activation=PUREJAXRL_CONFIG["ACTIVATION"])
    env_state = out["runner_state"][1]
    if normalize == "both":  # NormalizeVecObsEnvState: one row per env, all equal
        obs_mean, obs_var = env_state.env_state.mean[:, 0], env_state.env_state.var[:, 0]
    elif normalize == "obs":
        obs_mean, obs_var = env_state.mean[:, 0], env_state.var[:, 0]
    else:  # raw observations
        obs_dim = env.observation_space(env_params).shape[0]
        obs_mean, obs_var = jnp.zeros((num_seeds, obs_dim)), jnp.ones((num_seeds, obs_dim))

    def greedy_return(params, mean, var, key):
        def policy(k, obs):
            pi, _ = network.apply(params, (obs - mean) / jnp.sqrt(var + 1e-8))
            return jnp.clip(pi.mean(), -1.0, 1.0)

        return evaluate(key, env, env_params, policy, EVAL_EPISODES).mean()

    eval_keys = jax.vmap(lambda k: jax.random.fold_in(k, 12345))(keys)
    params = out["runner_state"][0].params
    greedy = jax.jit(jax.vmap(greedy_return))(params, obs_mean, obs_var, eval_keys)

    info = out["metrics"]  # each [seeds, updates, NUM_STEPS, NUM_ENVS]
    window = slice(updates - updates // WINDOWS, updates)
    ended = np.asarray(info["returned_episode"])[:, window].reshape(num_seeds, -1)
    returns = np.asarray(info["returned_episode_returns"])[:, window].reshape(num_seeds, -1)
    counts = ended.sum(axis=1)
    means = np.where(counts > 0, (returns * ended).sum(axis=1) / np.maximum(counts, 1), np.nan)
    return {
        "compile_s": compile_s,
        "train_s": train_s,
        "eval_s": 0.0,
        "env_steps_per_seed": steps,
        "final_window_return": [float(x) for x in means],
        "final_window_episodes": [int(x) for x in counts],
        "final_greedy_return": [float(x) for x in np.asarray(greedy)],
    }


def measure(row: str, num_seeds: int, python: str, purejaxrl_dir: str | None, normalize: str = "both") -> dict:
    cmd = [python, os.path.abspath(__file__), "--worker", row, "--num-seeds", str(num_seeds), "--normalize", normalize]
    if purejaxrl_dir:
        cmd += ["--purejaxrl", purejaxrl_dir]
    out = worker_result(cmd)  # cold: every measurement compiles from scratch
    if "error" in out:
        return out
    out["seeds"] = num_seeds
    out["env_steps_per_s"] = num_seeds * out["env_steps_per_seed"] / (out["train_s"] - out["eval_s"])
    return out


def _stats(values: list | None) -> str:
    import numpy as np

    if not values:
        return "-"
    v = np.asarray(values, dtype=float)
    return f"{np.nanmean(v):.0f} ({np.nanmin(v):.0f}-{np.nanmax(v):.0f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_worker_arguments(parser, ROWS)
    parser.add_argument("--seeds", type=int, default=4, help="seeds 0..N-1")
    parser.add_argument("--purejaxrl", help="a checkout of PureJaxRL (its purejaxrl/ppo_continuous_action.py)")
    parser.add_argument("--peer-python", default=sys.executable, help="a Python with PureJaxRL's dependencies")
    parser.add_argument(
        "--normalize",
        choices=NORMALIZE_CHOICES,
        default="both",
        help="normalisation in both rows: observations and rewards (the config's), one of them, or none",
    )
    parser.add_argument("--out", default="results/bench_ppo_brax")
    args = parser.parse_args()
    if args.worker:
        if args.worker == "purejaxrl":
            out = run_purejaxrl(args.purejaxrl, args.num_seeds, args.normalize)
        else:
            out = run_rljax(args.num_seeds, args.normalize)
        print_worker_result(out)
        return

    rows = chosen_rows(parser, args.rows, ROWS)
    if "purejaxrl" in rows and not args.purejaxrl:
        parser.error("the purejaxrl row needs --purejaxrl DIR (a PureJaxRL checkout)")
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    updates, steps = _budget(PUREJAXRL_CONFIG)
    print(
        f"{ENV_ID} ({BACKEND}), {args.seeds} seeds x {steps:,} env steps ({updates} updates); return: "
        f"training episodes ended in the last {updates // WINDOWS} updates, mean (min-max) over seeds; "
        f"normalisation: {args.normalize}"
    )
    header = (
        f"{'row':<24} {'compile s':>9} {'train s':>8} {'eval s':>7} {'env steps/s':>11} "
        f"{'return':>16} {'greedy return':>16}"
    )
    print(header)
    print("-" * len(header))
    results = {}
    for row in rows:
        python = args.peer_python if row == "purejaxrl" else sys.executable
        r = results[row] = measure(row, args.seeds, python, args.purejaxrl, args.normalize)
        if "error" in r:
            print(f"{row:<24} FAILED: {r['error'].strip().splitlines()[-1] if r['error'].strip() else '?'}")
            continue
        print(
            f"{row:<24} {r['compile_s']:>9.1f} {r['train_s']:>8.1f} {r['eval_s']:>7.1f} "
            f"{r['env_steps_per_s']:>11,.0f} {_stats(r['final_window_return']):>16} "
            f"{_stats(r.get('final_greedy_return')):>16}",
            flush=True,
        )
    peer, mine = results.get("purejaxrl", {}), results.get("rljax-purejaxrl-config", {})
    if "env_steps_per_s" in peer and "env_steps_per_s" in mine:
        print(f"env steps/s, rljax / PureJaxRL: {mine['env_steps_per_s'] / peer['env_steps_per_s']:.2f}x")
    record = {
        "env": ENV_ID,
        "backend": BACKEND,
        "env_steps_per_seed": steps,
        "normalize": args.normalize,
        "purejaxrl_config": {**PUREJAXRL_CONFIG, "NORMALIZE_ENV": args.normalize != "none"},
        "rljax_overrides": {k: list(v) if isinstance(v, tuple) else v for k, v in RLJAX_OVERRIDES.items()},
        **results,
    }
    (out_dir / "results.json").write_text(json.dumps(record, indent=2))
    print(f"wrote {out_dir}/results.json")


if __name__ == "__main__":
    main()
