"""DQN on CartPole-v1: rljax against rejax, each at its own default or at matched hyperparameters.

``--compare-defaults``: ``rljax train dqn --env CartPole-v1 --seeds 16`` (the Huber
preset, its evaluations) beside rejax's DQN at rejax's own tuned CartPole config
(:data:`REJAX_TUNED`), each cold in its own subprocess: compile + train seconds, their
ratio, and the fraction of seeds solved. ``--breakdown``: where the default's train
time goes. Without either:

For every (library, number of seeds) it starts a fresh subprocess, so each
measurement gets its own compile cache and its own peak memory, and reports:

* compile time (lowering + XLA compile of the whole training program),
* train time (running it), and env steps per second = seeds x steps / train time,
* peak memory: the subprocess's maximum resident set size (``ru_maxrss``),
* fraction solved: each seed's final *greedy* policy over 100 fresh episodes of
  CartPole-v1, mean return >= 475, measured the same way for both libraries
  (``rljax.training.evaluate.evaluate``, outside the timings).

Matched hyperparameters (:data:`MATCHED`): rljax's earlier (squared-error, 200k-step)
CartPole-v1 preset, field by field -- 16 environments, one gradient step of batch 128 after every vector step, a
100k replay buffer, 1,000 warm-up steps, Adam with the learning rate 2e-3 annealed
linearly to 2e-4 over the run (rejax: the same ``optax.linear_schedule``), gamma
0.99, a soft target update with tau 0.03 after every gradient step (rejax:
``polyak = 0.97``, ``target_update_freq`` = one vector step), epsilon 1 -> 0.05
linearly over the first 10% of steps, a 128x128 ReLU MLP, squared-error loss
(rejax's ``l2_loss`` is half of it: the same Adam steps), no Double DQN, one
evaluation at the end -- except gradient clipping, off for both (rljax's preset
clips the global norm at 10; rejax can only clip element-wise). What cannot be
matched: rejax treats the 500-step time limit as a terminal state (no bootstrap),
rljax bootstraps truncated steps; rejax's warm-up acts uniformly at random, rljax's
with its epsilon schedule (epsilon ~ 1 there anyway). ``--config preset`` runs
rljax's preset itself (with its clipping).

rljax runs seeds in vmapped lanes of a fixed width (8 by default) so that a seed
gives the same numbers alone and in a batch; a lone seed is padded to a full lane.
The benchmark uses ``lane_width = min(8, seeds)`` unless ``--lane-width`` says
otherwise, so one seed costs one run.

rejax (PyPI ``rejax``) is written for gymnax < 1.0, whose ``step`` returns
``(obs, state, reward, done, info)``; gymnax 1.x returns ``terminated`` and
``truncated`` separately. :class:`FiveTupleEnv` adapts the environment for it; rejax
itself is unchanged. Install it in its own venv, so rljax's pinned versions stay
untouched (rejax 0.1.3 resolves to the same jax 0.10.2 / flax / optax / gymnax 1.0.1
as rljax's lockfile; rljax's own modules come from this checkout)::

    python3 -m venv /tmp/rejax-venv
    /tmp/rejax-venv/bin/pip install rejax==0.1.3 flashbax scipy matplotlib tqdm pillow six

Run::

    .venv/bin/python benchmarks/dqn_cartpole.py --compare-defaults --rejax-python /tmp/rejax-venv/bin/python
    .venv/bin/python benchmarks/dqn_cartpole.py --breakdown
    .venv/bin/python benchmarks/dqn_cartpole.py --rejax-python /tmp/rejax-venv/bin/python
    .venv/bin/python benchmarks/dqn_cartpole.py --seeds 1,16 --total-steps 100000 --libs rljax

Writes ``--out``/results.json (every measurement) and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

# rljax from this checkout, also for a Python whose environment does not install it.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _worker import train_peer_seeds, worker_result  # benchmarks/, the script's own folder

ENV_ID = "CartPole-v1"
SOLVED_AT = 475.0
EVAL_EPISODES = 100

# rljax's earlier CartPole-v1 preset (squared error), every field spelled out, without
# gradient clipping (rejax only has element-wise clipping, rljax global-norm).
MATCHED = dict(
    num_envs=16,
    train_frequency=1,
    gradient_steps=1,
    batch_size=128,
    buffer_size=100_000,
    learning_starts=1_000,
    learning_rate=2e-3,
    learning_rate_end_fraction=0.1,  # linear over the run (rejax: an optax schedule)
    gamma=0.99,
    tau=0.03,
    target_update_interval=1,
    epsilon_start=1.0,
    epsilon_end=0.05,
    epsilon_decay_fraction=0.1,
    hidden_sizes=(128, 128),
    loss="mse",
    max_grad_norm=0.0,
    double_dqn=False,
)


# rejax's own tuned DQN for CartPole-v1 (``configs/gymnax/cartpole.yaml`` in the rejax
# repository, commit 4954fbf): a dueling swish 64x64 network, Double DQN, 10 envs, 5
# gradient steps of batch 100 per vector step, Polyak 0.98, 100k env steps, its own
# evaluation every 2,500 steps. ``--compare defaults`` runs it, unchanged, beside
# ``rljax train dqn --env CartPole-v1`` (rljax's default, its evaluations included).
REJAX_TUNED = dict(
    agent="DuelingQNetwork",
    agent_kwargs={"activation": "swish"},
    num_envs=10,
    buffer_size=50_000,
    fill_buffer=5_000,
    batch_size=100,
    max_grad_norm=10,
    learning_rate=0.001,
    num_epochs=5,
    total_timesteps=100_000,
    eval_freq=2_500,
    polyak=0.98,
    eps_start=1,
    eps_end=0.05,
    exploration_fraction=0.5,
    gamma=0.99,
    ddqn=True,
    normalize_observations=False,
)


# --- rljax ----------------------------------------------------------------------------


def run_rljax_default(num_seeds: int) -> dict:
    """``rljax train dqn --env CartPole-v1 --seeds N``: the preset, its evaluations, lane width 8."""
    import rljax

    rljax.use_cpu_devices()  # before anything uses JAX: 2 CPU devices, as the rljax command has

    result = rljax.train("dqn", ENV_ID, seeds=range(num_seeds), progress=False)
    return {
        "compile_s": result.compile_time_s,
        "train_s": result.train_time_s,
        "env_steps_per_seed": result.env_steps_per_seed,
        "final_greedy_return": result.final_eval_return.tolist(),
        "config": "rljax default (preset)",
    }


def run_rljax(num_seeds: int, total_steps: int, config: str, lane_width: int) -> dict:
    import rljax

    rljax.use_cpu_devices()  # before anything uses JAX: 2 CPU devices, as the rljax command has

    from rljax.agents import get_agent
    from rljax.experiment import train

    get_agent("dqn")  # registers the preset
    overrides = MATCHED if config == "matched" else {}
    steps = total_steps or get_agent("dqn").presets[ENV_ID]["total_steps"]
    result = train(
        "dqn",
        ENV_ID,
        seeds=range(num_seeds),
        overrides=overrides,
        total_steps=steps,
        eval_every=steps,
        eval_episodes=EVAL_EPISODES,
        lane_width=lane_width,
    )
    return {
        "compile_s": result.compile_time_s,
        "train_s": result.train_time_s,
        "env_steps_per_seed": result.env_steps_per_seed,
        "final_greedy_return": result.final_eval_return.tolist(),
        "config": result.configs[0],
        "lane_width": lane_width,
    }


# --- rejax ----------------------------------------------------------------------------


class FiveTupleEnv:
    """gymnax < 1.0's ``step`` API over a gymnax 1.x environment (for rejax).

    ``done = terminated or truncated``, as gymnax < 1.0 reported it.
    """

    def __init__(self, env):
        self.env = env

    def __getattr__(self, name):
        if name == "env":
            raise AttributeError(name)
        return getattr(self.env, name)

    def reset(self, key, params=None):
        return self.env.reset(key, params)

    def step(self, key, state, action, params=None):
        import jax.numpy as jnp

        obs, state, reward, terminated, truncated, info = self.env.step(key, state, action, params)
        return obs, state, reward, jnp.logical_or(terminated, truncated), info


def _train_rejax(algo, env, env_params, num_seeds: int) -> dict:
    """Compiles and runs rejax's ``algo.train`` vmapped over seeds 0..N-1 (timed apart), then
    evaluates each seed's final greedy network the same way as rljax (outside the timings)."""
    import jax
    import jax.numpy as jnp

    from rljax.training.evaluate import evaluate

    keys, (ts, _), compile_s, train_s = train_peer_seeds(algo.train, num_seeds)

    def greedy_return(params, key):
        def policy(k, obs):
            return jnp.argmax(algo.agent.apply(params, obs[None])[0])

        return evaluate(key, env, env_params, policy, EVAL_EPISODES).mean()

    eval_keys = jax.vmap(lambda k: jax.random.fold_in(k, 12345))(keys)
    returns = jax.jit(jax.vmap(greedy_return))(ts.q_ts.params, eval_keys)
    return {"compile_s": compile_s, "train_s": train_s, "final_greedy_return": [float(x) for x in returns]}


def run_rejax(num_seeds: int, total_steps: int) -> dict:
    import flax.linen as nn
    import jax.numpy as jnp
    import optax
    from rejax import DQN
    from rejax.networks import DiscreteQNetwork, EpsilonGreedyPolicy

    import rljax

    env, env_params = rljax.make(ENV_ID)
    m = MATCHED
    num_updates = -(-total_steps // m["num_envs"])
    # rljax anneals the learning rate linearly over the run's env steps; one gradient
    # step per vector step makes that a schedule over gradient steps for optax.
    learning_rate = optax.linear_schedule(
        m["learning_rate"], m["learning_rate"] * m["learning_rate_end_fraction"], num_updates
    )
    algo = DQN.create(
        env=FiveTupleEnv(env),
        env_params=env_params,
        agent_kwargs={"activation": "relu"},  # rejax's default activation is swish
        num_envs=m["num_envs"],
        buffer_size=m["buffer_size"],
        fill_buffer=m["learning_starts"],
        batch_size=m["batch_size"],
        learning_rate=learning_rate,
        gamma=m["gamma"],
        max_grad_norm=jnp.inf,
        eps_start=m["epsilon_start"],
        eps_end=m["epsilon_end"],
        exploration_fraction=m["epsilon_decay_fraction"],
        target_update_freq=m["num_envs"],  # every vector step = every gradient step
        polyak=1.0 - m["tau"],
        ddqn=m["double_dqn"],
        num_epochs=m["gradient_steps"],
        total_timesteps=total_steps,
        eval_freq=total_steps,  # one evaluation, at the end
        skip_initial_evaluation=True,
    )
    # DQN.create fixes hidden_layer_sizes=(64, 64) (passing it too is a TypeError): set the width here.
    algo = algo.replace(
        agent=EpsilonGreedyPolicy(DiscreteQNetwork)(
            hidden_layer_sizes=tuple(m["hidden_sizes"]), action_dim=env.action_space(env_params).n, activation=nn.relu
        )
    )
    return {
        **_train_rejax(algo, env, env_params, num_seeds),
        "env_steps_per_seed": int(num_updates * m["num_envs"]),
        "config": {k: (v if not isinstance(v, tuple) else list(v)) for k, v in MATCHED.items()},
    }


def run_rejax_tuned(num_seeds: int) -> dict:
    """rejax's DQN at :data:`REJAX_TUNED`, vmapped over seeds, its own evaluations included."""
    import copy

    from rejax import DQN

    import rljax

    env, env_params = rljax.make(ENV_ID)
    algo = DQN.create(env=FiveTupleEnv(env), env_params=env_params, **copy.deepcopy(REJAX_TUNED))
    return {
        **_train_rejax(algo, env, env_params, num_seeds),
        "env_steps_per_seed": REJAX_TUNED["total_timesteps"],
        "config": "rejax tuned (configs/gymnax/cartpole.yaml)",
    }


def compare_defaults(num_seeds: int, rejax_python: str, out_dir: Path) -> None:
    """Each library at its own default for CartPole-v1, cold (no compile cache), in turn."""
    rows = {}
    for lib, python in [("rljax-default", sys.executable), ("rejax-tuned", rejax_python)]:
        r = measure(lib, num_seeds, 0, "preset", python, 0)
        rows[lib] = r
        if "error" in r:
            print(f"{lib}: FAILED: {r['error'].splitlines()[-1] if r['error'] else '?'}")
            continue
        print(
            f"{lib:<14} {num_seeds} seeds x {r['env_steps_per_seed']:,} env steps: compile {r['compile_s']:.1f} s "
            f"+ train {r['train_s']:.1f} s = {r['compile_s'] + r['train_s']:.1f} s; "
            f"solved {r['solved_fraction']:.0%} (greedy mean >= {SOLVED_AT:g} over {EVAL_EPISODES} episodes)",
            flush=True,
        )
    if all("error" not in r for r in rows.values()):
        total = {k: r["compile_s"] + r["train_s"] for k, r in rows.items()}
        print(f"time to train {num_seeds} seeds, rejax / rljax: {total['rejax-tuned'] / total['rljax-default']:.1f}x")
    (out_dir / "defaults.json").write_text(
        json.dumps({"env": ENV_ID, "rejax_tuned": REJAX_TUNED, "rows": rows}, indent=2)
    )
    print(f"wrote {out_dir}/defaults.json")


# --- where the time goes -------------------------------------------------------------


def _timed(fn, *args) -> float:
    """Median of 3 runs of a compiled ``fn(*args)`` (compiled once first), in seconds.

    The arguments' leading (seed) axis is split over the local devices, as ``rljax
    train`` splits its lanes (2 CPU devices by default, rljax/training/devices.py), so the
    parts are timed on the same hardware share as the run they are compared with.
    """
    import jax
    import numpy as np
    from jax.sharding import Mesh, NamedSharding, PartitionSpec

    devices = jax.local_devices()
    seeds = jax.tree.leaves(args)[0].shape[0]
    if len(devices) > 1 and seeds % len(devices) == 0:
        sharding = NamedSharding(Mesh(np.array(devices), ("seeds",)), PartitionSpec("seeds"))
        args = jax.device_put(args, sharding)
    compiled = jax.jit(fn).lower(*args).compile()
    times = []
    for _ in range(3):
        start = time.perf_counter()
        jax.block_until_ready(compiled(*args))
        times.append(time.perf_counter() - start)
    return sorted(times)[1]


def breakdown(num_seeds: int, total_steps: int | None, lane_width: int) -> dict:
    """The default DQN's train time beside its gradient steps alone and its env steps alone.

    Same seeds, network, batch size and counts as ``rljax train dqn --env CartPole-v1``
    (the preset, its evaluation cadence): the gradient steps run on one random batch
    (no replay sampling), the env steps with random actions (no network). What is left
    of the train time is the overhead the library controls: replay, acting, the
    evaluations, bookkeeping.
    """
    import jax
    import jax.numpy as jnp

    import rljax

    rljax.use_cpu_devices()  # before anything uses JAX: 2 CPU devices, as the rljax command has

    from rljax.agents import dqn
    from rljax.training.lanes import seed_keys, stack_configs

    plan = rljax.build("dqn", ENV_ID, total_steps=total_steps)
    config, loop = plan.configs[0], plan.loop
    env, env_params = loop.env, loop.env_params
    result = rljax.train(plan, seeds=range(num_seeds), lane_width=lane_width, progress=False)
    steps = result.env_steps_per_seed
    per_update = config.num_envs * config.train_frequency
    updates = steps // per_update
    warm = -(-config.learning_starts // per_update)
    grad_steps = max(0, updates - warm) * config.gradient_steps
    keys = seed_keys(range(num_seeds))
    batched = stack_configs([config] * num_seeds)

    def gradient_steps_alone(key, cfg):
        state = dqn.init(key, env, env_params, cfg)
        k_obs, k_next, k_act, k_rew = jax.random.split(key, 4)
        obs_shape = state.replay.experience.obs.shape[2:]
        n = cfg.batch_size
        batch = dqn.Transition(
            obs=jax.random.normal(k_obs, (n, *obs_shape)),
            action=jax.random.randint(k_act, (n,), 0, state.num_actions),
            reward=jax.random.uniform(k_rew, (n,)),
            next_obs=jax.random.normal(k_next, (n, *obs_shape)),
            terminated=jnp.zeros(n, bool),
            truncated=jnp.zeros(n, bool),
            valid=jnp.ones(n, bool),
        )
        learner = state.replace(replay=None)

        def step(learner, _):
            (loss, _), grads = jax.value_and_grad(dqn.td_loss, has_aux=True)(learner.params, learner, batch, cfg)
            updates_, opt_state = dqn.optimizer(cfg, cfg.learning_rate).update(grads, learner.opt_state, learner.params)
            params = dqn.optax.apply_updates(learner.params, updates_)
            target = dqn.update_target(params, learner.target_params, learner.gradient_steps + 1, cfg)
            learner = learner.replace(params=params, target_params=target, opt_state=opt_state)
            return learner.replace(gradient_steps=learner.gradient_steps + 1), loss

        return jax.lax.scan(step, learner, None, length=grad_steps)[1].sum()

    def env_steps_alone(key):
        reset_keys = jax.random.split(key, config.num_envs)
        obs, states = jax.vmap(env.reset, in_axes=(0, None))(reset_keys, env_params)

        def step(carry, k):
            states, total = carry
            k_act, k_step = jax.random.split(k)
            actions = jax.random.randint(k_act, (config.num_envs,), 0, env.action_space(env_params).n)
            step_keys = jax.random.split(k_step, config.num_envs)
            _, states, reward, *_ = jax.vmap(env.step, in_axes=(0, 0, 0, None))(step_keys, states, actions, env_params)
            return (states, total + reward.sum()), None

        return jax.lax.scan(step, (states, 0.0), jax.random.split(key, steps // config.num_envs))[0][1]

    def evaluations_alone(key, agent_state, cfg):
        from rljax.agents.base import Clock
        from rljax.training.evaluate import evaluate

        def policy(k, obs):
            return dqn.act(k, agent_state, obs, cfg, Clock.start(steps), False)

        eval_keys = jax.random.split(key, loop.schedule.num_segments)
        return jax.lax.map(
            lambda k: evaluate(k, env, env_params, policy, loop.schedule.eval_episodes).mean(), eval_keys
        )

    grad_s = _timed(jax.vmap(gradient_steps_alone), keys, batched)
    env_s = _timed(jax.vmap(env_steps_alone), keys)
    # The trained policies play longer episodes than the early ones: an upper bound.
    eval_s = _timed(jax.vmap(evaluations_alone), keys, result.agent_states(), batched)
    train_s = result.train_time_s
    returns = result.final_eval_return
    return {
        "seeds": num_seeds,
        "devices": len(jax.local_devices()),
        "env_steps_per_seed": steps,
        "gradient_steps_per_seed": grad_steps,
        "evaluations": loop.schedule.num_segments,
        "eval_episodes": loop.schedule.eval_episodes,
        "compile_s": result.compile_time_s,
        "train_s": train_s,
        "gradient_steps_alone_s": grad_s,
        "env_steps_alone_s": env_s,
        "evaluations_with_final_policy_s": eval_s,
        "overhead_share": max(0.0, train_s - grad_s - env_s) / train_s,
        "solved": int((returns >= SOLVED_AT).sum()),
    }


# --- driver -----------------------------------------------------------------------------


def worker(args: argparse.Namespace) -> None:
    if args.lib == "rljax-default":
        out = run_rljax_default(args.num_seeds)
    elif args.lib == "rejax-tuned":
        out = run_rejax_tuned(args.num_seeds)
    elif args.lib == "rljax":
        out = run_rljax(args.num_seeds, args.total_steps, args.config, args.lane_width or min(8, args.num_seeds))
    else:
        out = run_rejax(args.num_seeds, args.total_steps)
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("RESULT " + json.dumps(out))


def measure(lib: str, num_seeds: int, total_steps: int, config: str, python: str, lane_width: int) -> dict:
    cmd = [
        python,
        os.path.abspath(__file__),
        "--worker",
        lib,
        "--num-seeds",
        str(num_seeds),
        "--total-steps",
        str(total_steps),
        "--config",
        config,
        "--lane-width",
        str(lane_width),
    ]
    out = worker_result(cmd)  # cold: every measurement compiles from scratch
    if "error" in out:
        return out
    returns = out["final_greedy_return"]
    out["solved_fraction"] = sum(r >= SOLVED_AT for r in returns) / len(returns)
    out["env_steps_per_s"] = num_seeds * out["env_steps_per_seed"] / out["train_s"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", default="1,16,128", help="comma-separated numbers of seeds")
    parser.add_argument("--libs", default="rljax,rejax", help="rljax, rejax or both")
    parser.add_argument("--total-steps", type=int, default=200_000, help="env steps per seed")
    parser.add_argument(
        "--lane-width",
        type=int,
        default=0,
        help="rljax runs per vmapped lane (default: min(8, seeds); rljax's own default 8 pads a single seed to 8 runs)",
    )
    parser.add_argument(
        "--config",
        default="matched",
        choices=["matched", "preset"],
        help="rljax: the matched hyperparameters or its tuned preset",
    )
    parser.add_argument("--rejax-python", default=sys.executable, help="a Python that can import both rejax and rljax")
    parser.add_argument("--out", default="results/bench_dqn_cartpole")
    parser.add_argument(
        "--breakdown",
        action="store_true",
        help="only: where the default DQN's train time goes (gradient steps alone, env steps alone, the rest)",
    )
    parser.add_argument(
        "--compare-defaults",
        action="store_true",
        help="only: rljax's default DQN beside rejax's own tuned CartPole config, 16 seeds (--seeds N), cold",
    )
    parser.add_argument("--worker", choices=["rljax", "rejax", "rljax-default", "rejax-tuned"], help=argparse.SUPPRESS)
    parser.add_argument("--num-seeds", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        args.lib = args.worker
        worker(args)
        return

    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    if args.compare_defaults:
        compare_defaults(int(args.seeds.split(",")[0]) if args.seeds != "1,16,128" else 16, args.rejax_python, out_dir)
        return
    if args.breakdown:
        n = int(args.seeds.split(",")[0]) if args.seeds != "1,16,128" else 16
        r = breakdown(n, None if args.total_steps == 200_000 else args.total_steps, args.lane_width or min(8, n))
        print(
            f"default DQN on {r['devices']} device(s), {r['seeds']} seeds x {r['env_steps_per_seed']:,} env steps "
            f"({r['gradient_steps_per_seed']:,} gradient steps, {r['evaluations']} evaluations of "
            f"{r['eval_episodes']} episodes): train {r['train_s']:.1f} s = gradient steps alone "
            f"{r['gradient_steps_alone_s']:.1f} s + env steps alone {r['env_steps_alone_s']:.1f} s + the rest "
            f"(replay, acting, evaluation, bookkeeping): overhead share {r['overhead_share']:.0%}, of which "
            f"evaluations at most {r['evaluations_with_final_policy_s']:.1f} s (the final policies, alone); "
            f"compile {r['compile_s']:.1f} s; solved {r['solved']}/{r['seeds']}"
        )
        (out_dir / "breakdown.json").write_text(json.dumps(r, indent=2))
        return
    rows = []
    header = (
        f"{'library':<16} {'seeds':>5} {'compile s':>9} {'train s':>8} {'steps/s':>10} {'peak MB':>8} {'solved':>7}"
    )
    print(header)
    print("-" * len(header))
    for lib in args.libs.split(","):
        python = args.rejax_python if lib == "rejax" else sys.executable
        label = lib if lib == "rejax" else f"rljax ({args.config})"
        for n in [int(s) for s in args.seeds.split(",")]:
            r = measure(lib, n, args.total_steps, args.config, python, args.lane_width)
            r.update(library=label, seeds=n)
            rows.append(r)
            if "error" in r:
                print(f"{label:<16} {n:>5}  FAILED: {r['error'].splitlines()[-1] if r['error'] else '?'}")
            else:
                print(
                    f"{label:<16} {n:>5} {r['compile_s']:>9.1f} {r['train_s']:>8.1f} "
                    f"{r['env_steps_per_s']:>10,.0f} {r['peak_rss_mb']:>8.0f} {r['solved_fraction']:>7.0%}",
                    flush=True,
                )
            (out_dir / "results.json").write_text(
                json.dumps(
                    {"env": ENV_ID, "total_steps": args.total_steps, "matched": MATCHED, "rows": rows},
                    indent=2,
                    default=list,
                )
            )
    print(f"wrote {out_dir}/results.json")


if __name__ == "__main__":
    main()
