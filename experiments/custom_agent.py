"""Tabular Double Q-learning (van Hasselt, 2010), written on rljax's ``Agent`` protocol.

Two tables, each valued by the other so that no table picks AND values its own
maximum (the max over noisy estimates is biased upwards; Q-learning's target is)::

    QA, QB <- initial_q                                      # two tables [S, A]
    every environment step, in each of num_envs environments:
        a ~ epsilon-greedy(QA(s, .) + QB(s, .))              # act on the sum
        observe r, s', terminated
        with probability 1/2:                                # a coin per transition
            a* = argmax_a QA(s', a)
            QA(s, a) += learning_rate * (r + gamma * (1 - terminated) * QB(s', a*) - QA(s, a))
        else:
            b* = argmax_a QB(s', a)
            QB(s, a) += learning_rate * (r + gamma * (1 - terminated) * QA(s', b*) - QB(s, a))

Epsilon decays linearly from epsilon_start to epsilon_end over epsilon_decay_fraction
of the run (rljax.agents.exploration); evaluation is greedy on QA + QB. As in
rljax's tabular agents, a pair (table, s, a) that k environments updated in the same
step moves by the mean of its k TD errors.

Run it: ``python experiments/custom_agent.py [--seeds 8] [--env Taxi-v3] [--out DIR]``.
It trains every seed in one compiled program with ``rljax.train``, then shows what a
custom agent gets for free: ``rljax report``, ``rljax.load_policy``, ``rljax evaluate``.
The command line takes it by path as well:
``rljax train experiments/custom_agent.py:double_q_learning --env Taxi-v3 --out DIR``.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

import rljax

if __name__ == "__main__":  # run as a script; loaded as an agent file, it leaves the devices to its importer
    rljax.use_cpu_devices()  # before anything uses JAX: 2 CPU devices, as the rljax command has

from rljax.agents.base import Agent, Clock, Transition, check_range
from rljax.agents.exploration import EpsilonClock, EpsilonSchedule, config_epsilon, epsilon_greedy, validate_epsilon
from rljax.agents.tabular import num_states
from rljax.agents.value_targets import double_q_bootstrap, td_target


@struct.dataclass  # frozen; every field not marked static is traced (a sweep over it is one vmap axis)
class DoubleQConfig:
    learning_rate: float = 0.1
    gamma: float = 0.99
    epsilon_start: float = 1.0
    epsilon_end: float = 0.05
    epsilon_decay_fraction: float = 0.5  # linear schedule: fraction of the run's env steps
    epsilon_decay_rate: float = 0.99  # exponential schedule: factor per step / episode
    initial_q: float = 0.0
    epsilon_schedule: EpsilonSchedule = struct.field(pytree_node=False, default="linear")
    epsilon_clock: EpsilonClock = struct.field(pytree_node=False, default="steps")
    num_envs: int = struct.field(pytree_node=False, default=1)  # shapes the rollout: static


class DoubleQState(struct.PyTreeNode):
    q: jax.Array  # [2, S, A]: QA = q[0], QB = q[1]; one array so a coin can index the table


def validate(config: DoubleQConfig, env: Any, env_params: Any) -> None:
    num_states(env, env_params)  # a clear error for continuous observations
    check_range("learning_rate", config.learning_rate, 0.0, 1.0, low_open=True)
    check_range("gamma", config.gamma, 0.0, 1.0)
    validate_epsilon(config)


def init(key: jax.Array, env: Any, env_params: Any, config: DoubleQConfig) -> DoubleQState:
    del key  # deterministic: both tables start at initial_q
    shape = (2, num_states(env, env_params), env.action_space(env_params).n)
    return DoubleQState(q=jnp.full(shape, config.initial_q, jnp.float32))


def act(
    key: jax.Array, state: DoubleQState, obs: jax.Array, config: DoubleQConfig, clock: Clock, explore: bool
) -> jax.Array:
    epsilon = config_epsilon(config, clock) if explore else 0.0  # explore=False: the greedy evaluation policy
    return epsilon_greedy(key, state.q[0, obs] + state.q[1, obs], epsilon)  # ties broken at random


def update(
    key: jax.Array, state: DoubleQState, batch: Transition, config: DoubleQConfig, clock: Clock
) -> tuple[DoubleQState, dict[str, jax.Array]]:
    def one_step(q: jax.Array, inputs: tuple[jax.Array, Transition]) -> tuple[jax.Array, jax.Array]:
        key, t = inputs  # one time step of B transitions
        learner = jax.random.bernoulli(key, 0.5, t.obs.shape).astype(jnp.int32)  # the coin: 0 -> QA, 1 -> QB
        # The learner's argmax at s', valued by the other table (not the max of the learner's own).
        bootstrap = jax.vmap(double_q_bootstrap)(q[1 - learner, t.next_obs], q[learner, t.next_obs])
        target = td_target(t.reward, t.terminated, config.gamma, bootstrap)  # truncated steps bootstrap
        td_error = jnp.where(t.valid, target - q[learner, t.obs, t.action], 0.0)
        # Mean of repeated (table, s, a) errors: a sum would overshoot when k * learning_rate > 1.
        visits = jnp.zeros_like(q).at[learner, t.obs, t.action].add(t.valid.astype(q.dtype))
        error_sum = jnp.zeros_like(q).at[learner, t.obs, t.action].add(td_error)
        return q + config.learning_rate * error_sum / jnp.maximum(visits, 1.0), jnp.abs(td_error).mean()

    keys = jax.random.split(key, batch.reward.shape[0])  # one coin key per time step
    q, abs_td = jax.lax.scan(one_step, state.q, (keys, batch))
    return DoubleQState(q=q), {"abs_td_error": abs_td.mean(), "epsilon": config_epsilon(config, clock)}


double_q_learning = Agent(
    name="double_q_learning",
    config_type=DoubleQConfig,
    init=init,
    act=act,
    update=update,
    rollout_length=lambda config, env_params: 1,  # an update after every step of the num_envs environments
    validate=validate,
    # Defaults per environment (rljax.train starts from them; the caller's overrides win): Q-learning's
    # Taxi preset. With it all 8 seeds of `python experiments/custom_agent.py` solve Taxi (final greedy
    # return >= 7, mean 7.73), at a median 92.5k env steps against Q-learning's 55k: each table gets half
    # the updates, and Taxi's rewards are deterministic, so there is no maximisation bias to remove.
    presets={"Taxi-v3": {"total_steps": 100_000, "learning_rate": 0.5, "num_envs": 8}},
)


def main() -> None:
    import argparse
    import subprocess
    import sys
    import tempfile
    from pathlib import Path

    import numpy as np

    from rljax.runs.manifest import read_spec

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="Taxi-v3")
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--total-steps", type=int, default=None, help="env steps per seed (default: the preset's)")
    parser.add_argument("--out", default=None, help="results folder (default: a new temporary one)")
    args = parser.parse_args()
    out = Path(args.out or tempfile.mkdtemp(prefix="double_q_")) / f"double_q_learning-{args.env}"

    # 1. Train every seed in one compiled program, into a results folder like `rljax train`'s.
    result = rljax.train(
        double_q_learning,
        args.env,
        seeds=list(range(args.seeds)),
        total_steps=args.total_steps,
        out=out,
        overwrite=True,
    )
    returns = np.asarray(result.final_eval_return)
    print(f"{result.agent} on {args.env}, seeds 0..{args.seeds - 1}: final greedy return per seed {returns.round(2)}")
    print(
        f"mean {returns.mean():.2f}, min {returns.min():.2f}; compile {result.compile_time_s:.1f} s, "
        f"train {result.train_time_s:.1f} s"
    )
    print(f"run.json names the agent {read_spec(out)['agent']!r}, so everything below can rebuild it")

    # 2. What every built-in agent gets, for free: a trained policy, NumPy in, NumPy out ...
    policy = rljax.load_policy(out, seed=0)
    obs, _ = rljax.make(args.env)[0].reset(jax.random.PRNGKey(0), policy.env_params)
    print(f"load_policy(out, seed=0): greedy action {int(policy(np.asarray(obs)))} in state {int(obs)}")
    # ... statistics across seeds, and re-evaluation from the command line (a fresh process).
    rljax_cli = [sys.executable, "-m", "rljax.cli"]
    for command in (["report", str(out)], ["evaluate", str(out), "--episodes", "20"]):
        print(f"$ rljax {' '.join(command)}", flush=True)
        subprocess.run(rljax_cli + command, check=True)


if __name__ == "__main__":
    main()
