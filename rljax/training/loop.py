"""The one place where agents and environments are composed into a training run.

A run of one seed is::

    state = init(key, config)
    repeat num_segments times:                 # segment = scan, then evaluate
        repeat iterations_per_segment times:   # iteration = rollout, then update
            roll out K steps in B environments  -> Transition batch [K, B]
            agent.update(batch)
        evaluate the greedy policy on fresh episodes

``train(key, config)`` is that whole run as one pure function, so
``jax.jit(jax.vmap(train))(keys, configs)`` trains many seeds (and many
hyperparameter settings) as one program. :mod:`rljax.training.batch` runs the same
``init`` / ``segment`` functions in fixed-width lanes, with Python (progress bars,
checkpoints) between segments.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

from rljax._errors import ValidationError
from rljax.agents.base import Agent, AgentState, Clock, Config, Transition, check_actions, reset_where
from rljax.training.evaluate import evaluate


class LoopState(struct.PyTreeNode):
    """Everything one seed's run carries from one iteration to the next."""

    agent_state: AgentState
    env_state: Any
    obs: jax.Array  # [B, ...] current observations
    clock: Clock
    key: jax.Array  # training key stream
    eval_key: jax.Array  # evaluation keys are folded from this, one per segment
    segment: jax.Array  # segments completed
    episode_return: jax.Array  # [B] running undiscounted return of each env's episode
    episode_length: jax.Array  # [B]
    diverged_at: jax.Array  # env steps at the first non-finite loss or parameter; -1 if none
    # [B, ...] what ``act`` reads at the next step (Agent.init_actor_state); None: an agent without one
    actor_state: Any = None


# The loop counts env steps, episodes and updates per seed in int32 (JAX's default without x64).
MAX_STEPS = 2**31 - 1


class RunConfig(struct.PyTreeNode):
    """One run's configuration when it sets environment parameters: the agent's config and
    the ``EnvParams`` fields the run sets (``{"gravity": 12.0}``), as values of the program
    rather than constants, so runs with different values share one program.

    The environment's ``reset`` and ``step`` (in training and in evaluation) see the run's
    values; the agent is built from :attr:`Loop.env_params`, whose spaces these values do not
    change (:func:`rljax.training.plan.build` checks that). A run that sets none passes its
    agent config alone, and its program is the one it always was.
    """

    agent: Config
    env: dict[str, jax.Array]


def split_run_config(config: Config | RunConfig, env_params: Any) -> tuple[Config, Any]:
    """``(agent config, environment parameters)`` of one run (``env_params`` with its values set)."""
    if isinstance(config, RunConfig):
        return config.agent, env_params.replace(**config.env)
    return config, env_params


@dataclass(frozen=True)
class Schedule:
    """How a run is cut into iterations and segments (all static)."""

    steps_per_iteration: int  # K * B environment steps per update
    iterations_per_segment: int
    num_segments: int
    eval_episodes: int

    @property
    def steps_per_segment(self) -> int:
        return self.steps_per_iteration * self.iterations_per_segment

    @property
    def total_steps(self) -> int:
        return self.steps_per_segment * self.num_segments

    def rounding_notes(self, total_steps: int | None, eval_every: int | None, flags: bool = False) -> list[str]:
        """How the step counts asked for differ from those that run (whole segments of whole
        updates), one sentence each: named as the command line's flags or as keyword arguments."""
        total_name, every_name = ("--total-steps ", "--eval-every ") if flags else ("total_steps=", "eval_every=")
        notes = []
        if total_steps is not None and self.total_steps != total_steps:
            notes.append(
                f"{total_name}{total_steps} runs as {self.total_steps} env steps per seed "
                f"({self.num_segments} segments of {self.steps_per_segment})"
            )
        if eval_every is not None and self.steps_per_segment != eval_every:
            notes.append(
                f"{every_name}{eval_every} runs as {self.steps_per_segment} env steps "
                f"(whole updates of {self.steps_per_iteration} env steps)"
            )
        return notes


def make_schedule(steps_per_iteration: int, total_steps: int, eval_every: int, eval_episodes: int) -> Schedule:
    """Rounds ``eval_every`` to whole iterations and ``total_steps`` up to whole segments."""
    if total_steps <= 0:
        raise ValidationError(f"total_steps must be > 0; got {total_steps}")
    if eval_every <= 0:
        raise ValidationError(f"eval_every must be > 0; got {eval_every}")
    if eval_episodes <= 0:
        raise ValidationError(f"eval_episodes must be > 0; got {eval_episodes}")
    iterations = max(1, round(min(eval_every, total_steps) / steps_per_iteration))
    segments = max(1, math.ceil(total_steps / (iterations * steps_per_iteration)))
    schedule = Schedule(steps_per_iteration, iterations, segments, eval_episodes)
    if schedule.total_steps > MAX_STEPS:  # rounded up to whole segments, past what the counters hold
        raise ValidationError(
            f"total_steps must be <= {MAX_STEPS:,} per seed (the loop counts env steps in int32); "
            f"{total_steps:,} rounds up to {schedule.total_steps:,} in whole segments"
        )
    return schedule


@dataclass(frozen=True)
class Loop:
    """Pure ``init`` / ``segment`` / ``train`` functions for one (env, agent, static config).

    Build with :func:`make_loop`. None of the methods has side effects; all can be
    jitted and vmapped over ``(key, config)``.
    """

    env: Any
    env_params: Any
    agent: Agent
    num_envs: int
    rollout_length: int
    schedule: Schedule

    def init(self, key: jax.Array, config: Config) -> LoopState:
        """Initial state of one seed: agent init and environment resets."""
        return self.start(key, config, self.init_agent(key, config))

    def init_agent(self, key: jax.Array, config: Config) -> AgentState:
        """The agent's initial state for the seed whose key is ``key`` (part of :meth:`init`)."""
        _, key_agent, _, _ = jax.random.split(key, 4)
        config, _ = split_run_config(config, self.env_params)
        return self.agent.init(key_agent, self.env, self.env_params, config)

    def initial_actor_state(self, config: Config) -> Any:
        """One environment's actor state at an episode's start (``None`` for an agent without one)."""
        return self.agent.initial_actor_state(self.env, self.env_params, config)

    def _reset_actor_state(self, actor_state: Any, config: Config, done: jax.Array | None = None) -> Any:
        """The ``[B, ...]`` actor states set back to the initial one (only where ``done`` [B] is True, if given)."""
        initial = self.initial_actor_state(config)
        if initial is None:
            return None
        if done is None:
            return jax.tree.map(lambda x: jnp.broadcast_to(x, (self.num_envs, *x.shape)), initial)
        return reset_where(done, initial, actor_state)

    def start(self, key: jax.Array, config: Config, agent_state: AgentState) -> LoopState:
        """:meth:`init` given the agent's initial state: environment resets and counters."""
        config, env_params = split_run_config(config, self.env_params)
        key, _, key_reset, eval_key = jax.random.split(key, 4)
        reset_keys = jax.random.split(key_reset, self.num_envs)
        obs, env_state = jax.vmap(self.env.reset, in_axes=(0, None))(reset_keys, env_params)
        zeros = jnp.zeros(self.num_envs, jnp.float32)
        return LoopState(
            agent_state=agent_state,
            env_state=env_state,
            obs=obs,
            clock=Clock.start(self.schedule.total_steps),
            key=key,
            eval_key=eval_key,
            segment=jnp.int32(0),
            episode_return=zeros,
            episode_length=jnp.zeros(self.num_envs, jnp.int32),
            diverged_at=jnp.int32(-1),
            actor_state=self._reset_actor_state(None, config),
        )

    def _rollout(self, state: LoopState, config: Config):
        """K steps in B environments -> (state, Transition [K, B], completed-episode stats)."""
        config, params = split_run_config(config, self.env_params)
        env, agent = self.env, self.agent
        key, key_reset = jax.random.split(state.key)
        obs, env_state = state.obs, state.env_state
        ep_return, ep_length = state.episode_return, state.episode_length
        actor_state = state.actor_state
        if agent.episodic:  # every rollout is B fresh episodes
            reset_keys = jax.random.split(key_reset, self.num_envs)
            obs, env_state = jax.vmap(env.reset, in_axes=(0, None))(reset_keys, params)
            ep_return, ep_length = jnp.zeros_like(ep_return), jnp.zeros_like(ep_length)
            actor_state = self._reset_actor_state(actor_state, config)

        def step(carry, _):
            key, obs, env_state, ep_return, ep_length, ended, actor_state = carry
            # One split for the whole step: fewer PRNG calls, smaller program.
            keys = jax.random.split(key, 2 * self.num_envs + 1)
            key, act_keys, step_keys = keys[0], keys[1 : self.num_envs + 1], keys[self.num_envs + 1 :]
            # ``act`` may return ActOutput(action, extras[, actor_state]): the agent's per-step
            # data (a search's policy and value, a sample's log-probability) rides in the batch.
            action, extras, next_actor_state = jax.vmap(
                lambda k, o, a: agent.call_act(k, state.agent_state, o, config, state.clock, True, a)
            )(act_keys, obs, actor_state)
            check_actions(agent.name, env, self.env_params, action, (self.num_envs,))
            next_obs, env_state, reward, terminated, truncated, info = jax.vmap(env.step, in_axes=(0, 0, 0, None))(
                step_keys, env_state, action, params
            )
            valid = ~ended
            transition = Transition(
                obs=obs,
                action=action,
                reward=reward,
                next_obs=info["final_observation"],
                terminated=terminated,
                truncated=truncated,
                valid=valid,
                extras=extras,
                actor_state=actor_state,
            )
            done = jnp.logical_or(terminated, truncated)
            # The next episode's first act reads the initial actor state.
            actor_state = self._reset_actor_state(next_actor_state, config, done)
            ep_return = ep_return + jnp.where(valid, reward, 0.0)
            ep_length = ep_length + valid.astype(jnp.int32)
            finished = done & valid
            stats = (jnp.where(finished, ep_return, 0.0), finished, jnp.where(finished, ep_length, 0))
            ep_return = jnp.where(done, 0.0, ep_return)
            ep_length = jnp.where(done, 0, ep_length)
            if agent.episodic:
                ended = ended | done
            return (key, next_obs, env_state, ep_return, ep_length, ended, actor_state), (transition, stats)

        ended = jnp.zeros(self.num_envs, bool)
        carry = (key, obs, env_state, ep_return, ep_length, ended, actor_state)
        (key, obs, env_state, ep_return, ep_length, _, actor_state), (batch, stats) = jax.lax.scan(
            step, carry, None, length=self.rollout_length
        )
        state = state.replace(
            key=key,
            obs=obs,
            env_state=env_state,
            episode_return=ep_return,
            episode_length=ep_length,
            actor_state=actor_state,
        )
        return state, batch, stats

    def _iteration(self, state: LoopState, config: Config):
        """One rollout and one agent update."""
        state, batch, (returns, finished, lengths) = self._rollout(state, config)
        clock = state.clock.replace(
            env_steps=state.clock.env_steps + batch.valid.sum(dtype=jnp.int32),
            episodes=state.clock.episodes + finished.sum(dtype=jnp.int32),
        )
        key, key_update = jax.random.split(state.key)
        agent_config, _ = split_run_config(config, self.env_params)
        agent_state, metrics = self.agent.update(key_update, state.agent_state, batch, agent_config, clock)
        clock = clock.replace(updates=clock.updates + 1)
        state = state.replace(
            agent_state=agent_state,
            clock=clock,
            key=key,
            # Agents report NaN for "no value yet" (e.g. DQN's loss during warm-up), so an
            # update's metrics signal divergence by an infinity; NaN parameters are
            # caught at the end of the segment.
            diverged_at=_first_divergence(state.diverged_at, no_infinity(metrics), clock.env_steps),
        )
        episode_stats = (returns.sum(), finished.sum(dtype=jnp.int32), lengths.sum())
        return state, (metrics, episode_stats)

    def evaluate(self, state: LoopState, config: Config) -> jax.Array:
        """Returns of ``eval_episodes`` fresh episodes of the agent's evaluation policy."""
        key = jax.random.fold_in(state.eval_key, state.segment)
        config, env_params = split_run_config(config, self.env_params)
        initial = self.initial_actor_state(config)  # every episode starts from it

        def policy(k, obs, actor_state):
            action, _, actor_state = self.agent.call_act(
                k, state.agent_state, obs, config, state.clock, False, actor_state
            )
            check_actions(self.agent.name, self.env, self.env_params, action, ())
            return action, actor_state

        if initial is None:
            return evaluate(key, self.env, env_params, lambda k, o: policy(k, o, None)[0], self.schedule.eval_episodes)
        return evaluate(key, self.env, env_params, policy, self.schedule.eval_episodes, actor_state=initial)

    def train_segment(self, state: LoopState, config: Config) -> tuple[LoopState, dict[str, jax.Array]]:
        """``iterations_per_segment`` iterations (the training part of :meth:`segment`)."""
        state, (agent_metrics, (ret_sum, count, len_sum)) = jax.lax.scan(
            lambda s, _: self._iteration(s, config), state, None, length=self.schedule.iterations_per_segment
        )
        # The learner's part only (``Agent.policy_part``: DQN's and MuZero's without the
        # replay): the buffer holds what the environment gave, and a non-finite value
        # there reaches the parameters through the loss. Checking 100k stored
        # transitions cost the default DQN's training program 0.7 s of its ~6.9 s compile.
        learner = self.agent.policy_part(state.agent_state)
        state = state.replace(
            diverged_at=_first_divergence(state.diverged_at, all_finite(learner), state.clock.env_steps)
        )
        completed = count.sum()
        denom = jnp.maximum(completed, 1)
        metrics = {
            "env_steps": state.clock.env_steps,
            "train_episode_return": jnp.where(completed > 0, ret_sum.sum() / denom, jnp.nan),
            "train_episode_length": jnp.where(completed > 0, len_sum.sum() / denom, jnp.nan),
            "train_episodes": completed,
            "diverged_at": state.diverged_at,
        }
        metrics.update({k: jnp.nanmean(v) for k, v in agent_metrics.items()})
        return state.replace(segment=state.segment + 1), metrics

    def evaluate_segment(self, state: LoopState, config: Config) -> dict[str, jax.Array]:
        """The evaluation that ends a segment (the rest of :meth:`segment`), after :meth:`train_segment`.

        It only reads the state, so the next segment's training need not wait for it.
        """
        just_trained = state.replace(segment=state.segment - 1)  # its evaluation key is that segment's
        eval_returns = self.evaluate(just_trained, config)
        return {"eval_return": eval_returns.mean(), "eval_return_std": eval_returns.std()}

    def segment(self, state: LoopState, config: Config) -> tuple[LoopState, dict[str, jax.Array]]:
        """``iterations_per_segment`` iterations, then one evaluation. Returns scalar metrics.

        :class:`rljax.training.batch.BatchRunner` compiles the two parts as two programs:
        XLA compiles them apart in less time than fused (and in parallel), and a
        segment's evaluation runs beside the next segment's training.
        """
        state, train_metrics = self.train_segment(state, config)
        return state, segment_metrics(train_metrics, self.evaluate_segment(state, config))

    def train(self, key: jax.Array, config: Config) -> tuple[LoopState, dict[str, jax.Array]]:
        """A whole run of one seed; metrics have a leading ``[num_segments]`` axis."""
        state = self.init(key, config)
        return jax.lax.scan(lambda s, _: self.segment(s, config), state, None, length=self.schedule.num_segments)


def segment_metrics(train_metrics: dict[str, Any], eval_metrics: dict[str, Any]) -> dict[str, Any]:
    """One segment's metrics in their order (``metrics.csv``'s rows): env steps, evaluation, training."""
    return {"env_steps": train_metrics["env_steps"], **eval_metrics, **train_metrics}


def all_finite(tree: Any) -> jax.Array:
    """True when every floating-point value in ``tree`` is finite."""
    leaves = [x for x in jax.tree.leaves(tree) if jnp.issubdtype(jnp.asarray(x).dtype, jnp.floating)]
    if not leaves:
        return jnp.bool_(True)
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in leaves]))


def no_infinity(tree: Any) -> jax.Array:
    """True when no floating-point value in ``tree`` is +-inf (NaN allowed)."""
    leaves = [x for x in jax.tree.leaves(tree) if jnp.issubdtype(jnp.asarray(x).dtype, jnp.floating)]
    if not leaves:
        return jnp.bool_(True)
    return ~jnp.any(jnp.stack([jnp.any(jnp.isinf(x)) for x in leaves]))


def _first_divergence(diverged_at: jax.Array, finite: jax.Array, env_steps: jax.Array) -> jax.Array:
    """Keeps the first env step at which ``finite`` failed (-1 while it never has)."""
    return jnp.where((diverged_at < 0) & ~finite, env_steps, diverged_at)


def make_loop(
    env: Any,
    env_params: Any,
    agent: Agent,
    config: Config,
    *,
    total_steps: int,
    eval_every: int | None = None,
    eval_episodes: int = 100,
) -> Loop:
    """Composes ``agent`` with ``env`` into a :class:`Loop`.

    Args:
      env: a gymnax environment.
      env_params: its parameters.
      agent: the algorithm.
      config: a config of ``agent.config_type``; only its static fields are read
        here (the traced ones are arguments of ``init`` / ``segment`` / ``train``).
      total_steps: environment steps per seed (rounded up to whole segments).
      eval_every: environment steps between evaluations (default: total_steps / 20).
      eval_episodes: episodes per evaluation.
    """
    agent.validate(config, env, env_params)
    num_envs = int(agent.num_envs(config))
    if num_envs < 1:
        raise ValidationError(f"num_envs must be >= 1; got {num_envs}")
    rollout_length = int(agent.rollout_length(config, env_params))
    if eval_every is None:
        eval_every = max(1, total_steps // 20)
    schedule = make_schedule(rollout_length * num_envs, total_steps, eval_every, eval_episodes)
    return Loop(env, env_params, agent, num_envs, rollout_length, schedule)
