"""Multi-armed bandit strategies as pure functions, simulated over thousands of runs at once.

A strategy is a small frozen pytree dataclass with three methods, in the style of
rlax / optax::

    stats = strategy.init(num_arms)              # per-arm statistics of one run
    arm = strategy.select(key, stats)            # which arm to pull next
    stats = strategy.update(stats, arm, reward)  # fold the observed reward in

Strategies' hyperparameters (``epsilon``, ``c``, the Beta prior) are pytree leaves,
so they can be traced: ``jax.vmap`` over a batch of ``EpsilonGreedy(epsilon=eps)``
sweeps epsilon in one compiled program. All strategies share the same sufficient
statistics, :class:`ArmStats` (pulls and summed rewards per arm), which are all a
Bernoulli bandit needs.

:func:`run_bandit` runs one strategy ``num_runs`` times independently (``vmap`` over
runs, each with its own key split from the given key) for ``num_pulls`` pulls
(``lax.scan``), pulling the arms of rljax's ``BernoulliBandit`` environment (reward
~ Bernoulli(probs[a])), and reports the cumulative regret
``sum_t (max_a p_a - p_{a_t})`` computed from the true probabilities (the
*pseudo*-regret: it does not depend on the reward noise).

The keras-rl lecture (``Bandits``) pulls arms ``[0.7, 0.2, 0.3]`` with Thompson sampling on Beta
posteriors, and asks for epsilon-greedy as an exercise; both are here, with UCB1.
"""

from __future__ import annotations

import functools
from typing import Any, Protocol

import chex
import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from rljax._errors import ValidationError
from rljax.agents.base import concrete_float
from rljax.agents.exploration import epsilon_greedy, random_argmax
from rljax.envs import make

__all__ = [
    "ArmStats",
    "BanditStrategy",
    "EpsilonGreedy",
    "UCB1",
    "ThompsonSampling",
    "BanditResult",
    "STRATEGIES",
    "run_bandit",
    "simulate_run",
    "sample_beta",
    "sample_gamma",
]


# --------------------------------------------------------------------------------------
# Per-arm statistics shared by every strategy.
# --------------------------------------------------------------------------------------


class ArmStats(struct.PyTreeNode):
    """What one run has seen so far.

    Attributes:
      pulls: float32 ``[A]``, how many times each arm was pulled.
      wins: float32 ``[A]``, the sum of each arm's rewards (its number of successes).
    """

    pulls: jax.Array
    wins: jax.Array

    @property
    def total_pulls(self) -> jax.Array:
        return jnp.sum(self.pulls)

    @property
    def means(self) -> jax.Array:
        """Empirical mean reward per arm; 0 for arms never pulled."""
        return self.wins / jnp.maximum(self.pulls, 1.0)


def init_arm_stats(num_arms: int) -> ArmStats:
    """No pulls, no wins."""
    zeros = jnp.zeros((num_arms,), jnp.float32)
    return ArmStats(pulls=zeros, wins=zeros)


def update_arm_stats(stats: ArmStats, arm: jax.Array, reward: jax.Array) -> ArmStats:
    """Counts one more pull of ``arm`` and adds its reward."""
    chex.assert_rank([arm, reward], 0)
    return ArmStats(
        pulls=stats.pulls.at[arm].add(1.0),
        wins=stats.wins.at[arm].add(reward.astype(jnp.float32)),
    )


class BanditStrategy(Protocol):
    """The interface :func:`run_bandit` expects."""

    def init(self, num_arms: int) -> ArmStats: ...

    def select(self, key: jax.Array, stats: ArmStats) -> jax.Array: ...

    def update(self, stats: ArmStats, arm: jax.Array, reward: jax.Array) -> ArmStats: ...

    def validate(self) -> None: ...


# --------------------------------------------------------------------------------------
# Beta sampling (for Thompson sampling).
# --------------------------------------------------------------------------------------


def sample_gamma(key: jax.Array, alpha: jax.Array) -> jax.Array:
    """Exact Gamma(alpha, 1) samples, elementwise (Marsaglia & Tsang, 2000).

    Why not ``jax.random.gamma``: it splits a key per element and runs a nested
    while-loop per element, which under ``vmap`` over thousands of runs is slow on
    CPU. Here all elements share one vectorised rejection
    loop: each round proposes for every element at once and keeps the first accepted
    proposal of each (acceptance is >= 95% per round for alpha >= 1, so a handful of
    rounds covers a whole batch; measured ~3-4x faster per step for 1000 runs x 3 arms).
    For alpha < 1 it uses ``Gamma(alpha) = Gamma(alpha + 1) * U^(1 / alpha)``, which
    can underflow to 0 for alpha << 1 (Thompson's posteriors have alpha >= the prior).
    """
    boost_key, key = jax.random.split(key)
    a = jnp.where(alpha < 1.0, alpha + 1.0, alpha)
    d = a - 1.0 / 3.0
    c = 1.0 / jnp.sqrt(9.0 * d)

    def not_all_done(carry):
        return ~jnp.all(carry[2])

    def propose(carry):
        key, sample, done = carry
        key, normal_key, uniform_key = jax.random.split(key, 3)
        x = jax.random.normal(normal_key, a.shape, a.dtype)
        u = jax.random.uniform(uniform_key, a.shape, a.dtype)
        v = (1.0 + c * x) ** 3
        safe_v = jnp.where(v > 0, v, 1.0)
        accept = (v > 0) & (jnp.log(u) < 0.5 * x * x + d - d * safe_v + d * jnp.log(safe_v))
        sample = jnp.where(~done & accept, d * safe_v, sample)
        return key, sample, done | accept

    init = (key, jnp.zeros_like(a), jnp.zeros(a.shape, bool))
    _, g, _ = jax.lax.while_loop(not_all_done, propose, init)
    u = jax.random.uniform(boost_key, a.shape, a.dtype, minval=jnp.finfo(a.dtype).tiny)
    return jnp.where(alpha < 1.0, g * u ** (1.0 / alpha), g)


def sample_beta(key: jax.Array, alpha: jax.Array, beta: jax.Array) -> jax.Array:
    """Exact Beta(alpha, beta) samples, elementwise: ``Ga / (Ga + Gb)`` of two gammas."""
    chex.assert_equal_shape([alpha, beta])
    g = sample_gamma(key, jnp.stack([alpha, beta]))
    return g[0] / (g[0] + g[1])


# --------------------------------------------------------------------------------------
# The strategies.
# --------------------------------------------------------------------------------------


@struct.dataclass
class EpsilonGreedy:
    """With probability ``epsilon`` a uniformly random arm, else the best empirical mean.

    Unpulled arms count as mean 0 (Sutton & Barto's zero initial estimates), and ties
    are broken uniformly at random: with a first-index tie-break, arm 0 — the best
    arm of the keras-rl lecture's bandit — would be favoured for free.
    """

    epsilon: float | jax.Array = 0.1

    def init(self, num_arms: int) -> ArmStats:
        return init_arm_stats(num_arms)

    def select(self, key: jax.Array, stats: ArmStats) -> jax.Array:
        return epsilon_greedy(key, stats.means, self.epsilon)

    def update(self, stats: ArmStats, arm: jax.Array, reward: jax.Array) -> ArmStats:
        return update_arm_stats(stats, arm, reward)

    def validate(self) -> None:
        eps = concrete_float(self.epsilon)
        if eps is not None and not 0.0 <= eps <= 1.0:
            raise ValidationError(f"EpsilonGreedy: epsilon must be in [0, 1]; got {eps}")


@struct.dataclass
class UCB1:
    """Upper confidence bound: pull ``argmax_a mean_a + sqrt(c ln t / n_a)``.

    ``c = 2`` is UCB1 of Auer, Cesa-Bianchi & Fischer (2002), whose regret grows as
    ``O(log t)``. Arms never pulled have an infinite bonus, so each arm is pulled
    once first (in random order: ties are broken at random).
    """

    c: float | jax.Array = 2.0

    def init(self, num_arms: int) -> ArmStats:
        return init_arm_stats(num_arms)

    def select(self, key: jax.Array, stats: ArmStats) -> jax.Array:
        log_t = jnp.log(jnp.maximum(stats.total_pulls, 1.0))
        bonus = jnp.sqrt(self.c * log_t / jnp.maximum(stats.pulls, 1.0))
        index = jnp.where(stats.pulls > 0, stats.means + bonus, jnp.inf)
        return random_argmax(key, index)

    def update(self, stats: ArmStats, arm: jax.Array, reward: jax.Array) -> ArmStats:
        return update_arm_stats(stats, arm, reward)

    def validate(self) -> None:
        c = concrete_float(self.c)
        if c is not None and not c >= 0.0:
            raise ValidationError(f"UCB1: c must be >= 0; got {c}")


@struct.dataclass
class ThompsonSampling:
    """Thompson sampling with Beta priors: sample each arm's ``p`` from its posterior.

    Arm a's posterior after ``w`` wins in ``n`` pulls is
    ``Beta(prior_alpha + w, prior_beta + n - w)`` (the keras-rl lecture uses the uniform prior
    Beta(1, 1)); the arm with the largest sample is pulled, so an arm is chosen with
    the posterior probability that it is the best.
    """

    prior_alpha: float | jax.Array = 1.0
    prior_beta: float | jax.Array = 1.0

    def init(self, num_arms: int) -> ArmStats:
        return init_arm_stats(num_arms)

    def select(self, key: jax.Array, stats: ArmStats) -> jax.Array:
        alpha = self.prior_alpha + stats.wins
        beta = self.prior_beta + stats.pulls - stats.wins
        samples = sample_beta(key, alpha, beta)
        return jnp.argmax(samples).astype(jnp.int32)  # ties have probability 0

    def update(self, stats: ArmStats, arm: jax.Array, reward: jax.Array) -> ArmStats:
        return update_arm_stats(stats, arm, reward)

    def validate(self) -> None:
        for name in ("prior_alpha", "prior_beta"):
            value = concrete_float(getattr(self, name))
            if value is not None and not value > 0.0:
                raise ValidationError(f"ThompsonSampling: {name} must be > 0; got {value}")


STRATEGIES: dict[str, type] = {
    "epsilon_greedy": EpsilonGreedy,
    "ucb1": UCB1,
    "thompson": ThompsonSampling,
}


# --------------------------------------------------------------------------------------
# Simulation.
# --------------------------------------------------------------------------------------


@struct.dataclass
class BanditResult:
    """Everything :func:`run_bandit` records, one row per run.

    Attributes:
      arms: int32 ``[runs, pulls]``, the arm pulled at each step.
      rewards: float32 ``[runs, pulls]``, the reward it paid (0 or 1).
      cumulative_regret: float32 ``[runs, pulls]``, ``sum_{s <= t} (max(p) - p[a_s])``.
    """

    arms: jax.Array
    rewards: jax.Array
    cumulative_regret: jax.Array

    @property
    def final_regret(self) -> jax.Array:
        """Cumulative regret after the last pull, ``[runs]``."""
        return self.cumulative_regret[:, -1]


@functools.lru_cache(maxsize=None)
def _bandit_env(num_arms: int):
    """One BernoulliBandit env per number of arms.

    The env only reads the arm probabilities from its ``EnvParams`` (a traced
    argument), so reusing one env object keeps ``jit``'s cache warm across calls
    with different probabilities.
    """
    env, _ = make("BernoulliBandit", probs=np.full(num_arms, 0.5))
    return env


def simulate_run(
    strategy: BanditStrategy, env: Any, env_params: Any, key: jax.Array, num_pulls: int
) -> tuple[jax.Array, jax.Array]:
    """One run: ``num_pulls`` pulls of ``strategy`` on a bandit env (``lax.scan``).

    Args:
      strategy: an :class:`EpsilonGreedy`, :class:`UCB1`, :class:`ThompsonSampling`
        (or anything with the same ``init / select / update`` methods).
      env: a gymnax bandit environment (``rljax.make("BernoulliBandit", ...)``).
      env_params: its params (holding the arm probabilities).
      key: this run's key; every draw below comes from a key split from it.
      num_pulls: static number of pulls.

    Returns:
      ``(arms [num_pulls] int32, rewards [num_pulls] float32)``.
    """
    reset_key, pulls_key = jax.random.split(key)
    _, env_state = env.reset(reset_key, env_params)
    stats = strategy.init(env.num_actions)

    def pull(carry, step_key):
        stats, env_state = carry
        select_key, env_key = jax.random.split(step_key)
        arm = jnp.asarray(strategy.select(select_key, stats), jnp.int32)
        # Each pull is a one-step episode; gymnax's step auto-resets the bandit.
        _, env_state, reward, _, _, _ = env.step(env_key, env_state, arm, env_params)
        stats = strategy.update(stats, arm, reward)
        return (stats, env_state), (arm, reward)

    step_keys = jax.random.split(pulls_key, num_pulls)
    _, (arms, rewards) = jax.lax.scan(pull, (stats, env_state), step_keys)
    return arms, rewards.astype(jnp.float32)


@functools.partial(jax.jit, static_argnames=("env", "num_pulls", "num_runs"))
def _run_batch(
    strategy: BanditStrategy, env: Any, env_params: Any, key: jax.Array, num_pulls: int, num_runs: int
) -> BanditResult:
    """``num_runs`` independent runs (vmap over per-run keys) and their regret."""
    run_keys = jax.random.split(key, num_runs)
    arms, rewards = jax.vmap(lambda k: simulate_run(strategy, env, env_params, k, num_pulls))(run_keys)
    probs = env_params.probs
    regret = jnp.max(probs) - probs[arms]  # pseudo-regret: from the true probabilities
    return BanditResult(arms=arms, rewards=rewards, cumulative_regret=jnp.cumsum(regret, axis=1))


def _build_strategy(strategy: Any, strategy_params: dict[str, Any]) -> BanditStrategy:
    """A strategy instance from a name, a class (+ params) or an instance (+ overrides)."""
    if isinstance(strategy, str):
        if strategy not in STRATEGIES:
            raise ValidationError(f"unknown bandit strategy {strategy!r}; known: {', '.join(STRATEGIES)}")
        strategy = STRATEGIES[strategy]
    if isinstance(strategy, type):
        try:
            return strategy(**strategy_params)
        except TypeError as e:
            raise TypeError(f"bad parameters for {strategy.__name__}: {e}") from None
    if strategy_params:
        return strategy.replace(**strategy_params)
    return strategy


def run_bandit(
    strategy: str | type | BanditStrategy,
    key: jax.Array,
    probs: Any,
    num_pulls: int,
    num_runs: int,
    **strategy_params: Any,
) -> BanditResult:
    """Runs a bandit strategy ``num_runs`` times independently on a Bernoulli bandit.

    Args:
      strategy: ``"epsilon_greedy"``, ``"ucb1"`` or ``"thompson"``; or one of the
        classes :class:`EpsilonGreedy`, :class:`UCB1`, :class:`ThompsonSampling`; or an
        instance (``strategy_params`` then override its fields).
      key: PRNG key; run ``i`` uses the ``i``-th key of ``jax.random.split(key, num_runs)``,
        so the same key gives the same result and runs are independent.
      probs: the arms' success probabilities, e.g. ``(0.7, 0.2, 0.3)``.
      num_pulls: pulls per run.
      num_runs: independent runs (vmapped).
      **strategy_params: the strategy's hyperparameters, e.g. ``epsilon=0.1``.

    Returns:
      A :class:`BanditResult` with ``[num_runs, num_pulls]`` arrays.

    Raises:
      ValueError: unknown strategy name, bad hyperparameters, probs not a 1-D
        sequence of >= 2 numbers in [0, 1], or non-positive ``num_pulls``/``num_runs``.

    Example::

        result = run_bandit("thompson", jax.random.key(0), (0.7, 0.2, 0.3), 1000, 2000)
        result.final_regret.mean()
    """
    strategy = _build_strategy(strategy, strategy_params)
    strategy.validate()
    if int(num_pulls) < 1 or int(num_runs) < 1:
        raise ValidationError(f"num_pulls and num_runs must be >= 1; got {num_pulls} and {num_runs}")
    probs_np = np.asarray(probs, dtype=np.float32)
    # The env's factory validates probs (1-D, >= 2 arms, each in [0, 1]) with clear errors.
    _, env_params = make("BernoulliBandit", probs=probs_np)
    env = _bandit_env(int(probs_np.shape[0]))
    return _run_batch(strategy, env, env_params, key, int(num_pulls), int(num_runs))
