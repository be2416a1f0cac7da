"""Trained policies, loaded back from run folders: ``rljax.load_policy(run_dir, seed)``.

A ``rljax train`` folder (and each configuration folder of a ``rljax sweep``)
holds ``run.json`` (what was trained) and ``agent_state.msgpack`` (every seed's
final agent state). :func:`load_policy` rebuilds the agent from the first,
restores one seed's state from the second, and returns its evaluation policy
(``agent.act(..., explore=False)``: greedy for value methods, argmax for policy
gradients; the mean for a continuous policy), jitted, for any environment ``rljax
train`` can train on. Actions come out as NumPy arrays of the action space's dtype:
an int for ``Discrete``, a float vector inside the bounds for ``Box``.

A policy with a memory (an agent with an actor state, e.g. ``ppo`` with
``recurrent=True``) keeps its actor state between calls: call :meth:`TrainedPolicy.reset`
at every episode's start (a freshly loaded policy starts reset), as the training loop
and its evaluations do.
"""

from __future__ import annotations

import functools
import itertools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from rljax._errors import ValidationError
from rljax.agents import get_agent
from rljax.agents.base import Agent, Clock
from rljax.runs.agent_states import load_agent_state
from rljax.runs.manifest import read_spec, resolve_run_dir
from rljax.training.plan import build


@dataclass(frozen=True)
class TrainedPolicy:
    """One seed's trained evaluation policy and what it was trained on.

    Call it with an observation, as a NumPy array or a Python number (a
    Gymnasium observation works as it is): ``action = policy(obs)``. Inside
    traced code (a ``lax.scan`` over an episode), use :meth:`act`, or :meth:`step`
    for a policy with a memory (``initial_actor_state`` is not ``None``): then calls
    of the policy carry its actor state from one to the next, and :meth:`reset` (at
    every episode's start) sets it back to ``initial_actor_state``.
    """

    env: Any
    env_params: Any
    agent: Agent
    config: Any
    agent_state: Any
    seed: int
    spec: dict[str, Any]
    run_dir: Path

    @functools.cached_property
    def initial_actor_state(self) -> Any:
        """The actor state at an episode's start (:attr:`rljax.agents.base.Agent.init_actor_state`);
        ``None`` for a policy without a memory."""
        return self.agent.initial_actor_state(self.env, self.env_params, self.config)

    def step(self, key: jax.Array, obs: jax.Array, actor_state: Any) -> tuple[jax.Array, Any]:
        """The policy as a pure function ``(key, obs, actor_state) -> (action, next actor state)``
        (traceable), for any agent: ``actor_state`` is ``None`` for one without a memory."""
        # The clock at the end of training: the evaluation policy should not read
        # it, but one that did would see the trained agent's clock.
        horizon = int(self.spec.get("total_steps") or 0)
        clock = Clock.start(horizon).replace(env_steps=jnp.int32(horizon))
        action, _, actor_state = self.agent.call_act(key, self.agent_state, obs, self.config, clock, False, actor_state)
        return action, actor_state

    def act(self, key: jax.Array, obs: jax.Array) -> jax.Array:
        """The policy as a pure function ``(key, obs) -> action`` (traceable); a policy with a
        memory has no such function: a one-line ``TypeError`` points to :meth:`step`."""
        if self.initial_actor_state is not None:
            raise TypeError(
                f"{self.agent.name}'s policy carries an actor state: use step(key, obs, actor_state) "
                "starting from initial_actor_state, or call the policy"
            )
        return self.step(key, obs, None)[0]

    def reset(self) -> None:
        """Starts a new episode: the actor state goes back to ``initial_actor_state`` (a no-op
        for a policy without one). Call it whenever the environment was reset."""
        self._memory[0] = self.initial_actor_state

    def __call__(self, obs: Any, key: jax.Array | None = None) -> np.ndarray:
        """The action for one observation (NumPy in, NumPy out: an int, or a float vector for Box actions).

        ``key`` feeds a policy that draws (ties, a stochastic agent); by default each call
        takes the next key of the policy's own stream, ``fold_in(PRNGKey(seed), call
        number)``: no two calls share a key, and a freshly loaded policy repeats the sequence.
        """
        space = self.env.observation_space(self.env_params)
        obs = jnp.asarray(np.asarray(obs), dtype=space.dtype)
        if obs.shape != tuple(space.shape):
            raise ValidationError(
                f"observation of shape {obs.shape}; {self.env.name} observations have shape {tuple(space.shape)}"
            )
        if key is None:
            key = jax.random.fold_in(jax.random.PRNGKey(self.seed), next(self._calls))
        if self.initial_actor_state is None:
            return np.asarray(self._jitted_act(key, obs))
        action, self._memory[0] = self._jitted_step(key, obs, self._memory[0])
        return np.asarray(action)

    @functools.cached_property
    def _calls(self) -> itertools.count:
        return itertools.count()  # a cached_property writes the instance's __dict__: allowed on a frozen dataclass

    @functools.cached_property
    def _memory(self) -> list[Any]:
        return [self.initial_actor_state]  # the actor state the next call reads

    @functools.cached_property
    def _jitted_act(self):
        return jax.jit(self.act)  # compiled on the first call

    @functools.cached_property
    def _jitted_step(self):
        return jax.jit(self.step)


def load_policy(
    run_dir: str | os.PathLike, seed: int, config: int | str | None = None, agent: Agent | None = None
) -> TrainedPolicy:
    """Seed ``seed``'s trained evaluation policy from a ``rljax train`` or ``rljax sweep`` folder.

    Args:
      run_dir: the run folder (or sweep folder).
      seed: one of the run's seeds.
      config: for a sweep folder, which configuration: its label (the
        sub-folder's name, e.g. ``"learning_rate=0.001"``) or its index.
      agent: the :class:`Agent` the run trained; only needed for a custom agent that
        ``run.json`` cannot name (one made inside a function or at ``python -c``):
        any other is rebuilt from its name or import path there
        (:func:`rljax.agents.agent_ref`).

    Raises:
      FileNotFoundError: not a finished run folder.
      ValueError: ``seed`` was not trained there (the message lists the seeds that
        were), ``config`` is missing, unknown or given for a train folder, or the
        run's agent cannot be imported here.
    """
    run_dir = resolve_run_dir(run_dir, config)
    spec = read_spec(run_dir)
    seeds = [int(s) for s in spec["seeds"]]
    if seed not in seeds:
        raise ValidationError(
            f"seed {seed} was not trained in {str(run_dir)!r}; its seeds are: {', '.join(map(str, seeds))}"
        )
    if agent is None:
        try:
            agent = get_agent(spec["agent"])
        except ValueError as err:
            raise ValidationError(
                f"cannot rebuild the agent of {str(run_dir)!r}: {err}; or pass it: load_policy(..., agent=...)"
            ) from None
    overrides = spec.get("overrides") or [{}]
    plan = build(
        agent,
        spec["env"],
        overrides[0],
        env_kwargs=spec.get("env_kwargs") or {},
        total_steps=spec.get("total_steps"),
        eval_every=spec.get("eval_every"),
        eval_episodes=spec.get("eval_episodes") or 100,
    )
    loop, agent_config = plan.loop, plan.configs[0]
    template = jax.eval_shape(
        lambda k: loop.agent.init(k, loop.env, loop.env_params, agent_config), jax.random.PRNGKey(0)
    )
    # Saved states are ordered by seed (one configuration per folder).
    agent_state = load_agent_state(run_dir, loop.agent.policy_part(template), seeds.index(seed), whole=template)
    spec = {**spec, "total_steps": loop.schedule.total_steps}
    return TrainedPolicy(loop.env, loop.env_params, loop.agent, agent_config, agent_state, seed, spec, run_dir)
