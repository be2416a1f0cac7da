"""Dynamic programming on a known tabular model: Q-value iteration and policy evaluation.

Everything here works from the *sparse* model arrays of a
:class:`~rljax.envs.tabular.TabularModel` (``next_state`` / ``prob`` / ``reward`` of
shape ``[S, A, K]``), so one Bellman backup costs ``O(S * A * K)`` rather than the
``O(S * A * S)`` of the dense ``T[s, a, s']`` — Taxi (500 states x 6 actions, K = 1)
is a few thousand multiply-adds per sweep.

Conventions, shared by every function in this module:

* **Impossible actions** (``action_mask[s, a]`` False) have ``Q[s, a] = -inf``, always,
  exactly as in the seed-001 tutorial (``np.full(..., -np.inf)`` then only the possible
  actions are updated). They never win a ``max`` and are never chosen greedily.
* **Terminal states** are worth 0: an episode that has entered one is over, so there
  is nothing to bootstrap from. Successors ``s'`` with ``model.terminal[s']`` contribute
  only the reward of the transition into them, and the rows ``Q[s_terminal, :]`` are 0
  (for the allowed actions).
* **gamma** is a traced scalar: it may be a Python float, a jax scalar, or a tracer
  under ``jit`` / ``vmap`` (e.g. ``jax.vmap(lambda g: q_value_iteration(m, g))(gammas)``).
  Concrete values are validated with a ``ValueError``; a traced gamma outside
  ``[0, 1]`` cannot raise, so it yields an all-NaN result instead of a silent wrong one.

Precision follows JAX: float32 by default, float64 under ``jax.enable_x64(True)``.
"""

from __future__ import annotations

import warnings
from functools import partial
from typing import Any, NamedTuple

import chex
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from rljax._errors import ValidationError
from rljax.agents.base import concrete_float
from rljax.envs.tabular import TabularModel

__all__ = [
    "q_value_iteration",
    "policy_evaluation",
    "greedy_policy",
    "state_values",
    "bellman_optimality_backup",
]


# --------------------------------------------------------------------------------------
# The model as device arrays.
# --------------------------------------------------------------------------------------


class ModelArrays(NamedTuple):
    """The parts of a :class:`TabularModel` that planning needs, as jax arrays.

    A NamedTuple is a pytree, so it can be passed into ``jit``-compiled functions as
    an argument (compiled once per shape, not once per model).
    """

    next_state: jax.Array  # int32 [S, A, K]
    prob: jax.Array  # float [S, A, K]
    reward: jax.Array  # float [S, A, K]
    terminal: jax.Array  # bool [S]
    action_mask: jax.Array  # bool [S, A]


def _as_model(model_or_env: Any) -> TabularModel:
    """Returns the :class:`TabularModel` of a model or of an env exposing ``.model``."""
    if isinstance(model_or_env, TabularModel):
        return model_or_env
    model = getattr(model_or_env, "model", None)
    if isinstance(model, TabularModel):
        return model
    raise TypeError(
        "expected a rljax.envs.tabular.TabularModel or an environment with a `.model` "
        f"TabularModel attribute; got {type(model_or_env).__name__}"
    )


def _model_arrays(model_or_env: Any) -> ModelArrays:
    """Converts a model (or an env's model) to device arrays in JAX's default float."""
    model = _as_model(model_or_env)
    dtype = jnp.result_type(float)  # float32, or float64 under enable_x64
    arrays = ModelArrays(
        next_state=jnp.asarray(model.next_state, dtype=jnp.int32),
        prob=jnp.asarray(model.prob, dtype=dtype),
        reward=jnp.asarray(model.reward, dtype=dtype),
        terminal=jnp.asarray(model.terminal, dtype=bool),
        action_mask=jnp.asarray(model.action_mask, dtype=bool),
    )
    S, A, K = arrays.next_state.shape
    chex.assert_shape([arrays.prob, arrays.reward], (S, A, K))
    chex.assert_shape(arrays.terminal, (S,))
    chex.assert_shape(arrays.action_mask, (S, A))
    return arrays


# --------------------------------------------------------------------------------------
# Validation of gamma (concrete values raise; traced values turn the result into NaN).
# --------------------------------------------------------------------------------------


def _check_gamma(gamma: Any) -> float | None:
    """Raises ValueError for a concrete gamma outside [0, 1]; returns it (None if traced)."""
    if np.ndim(gamma) != 0:
        raise ValidationError(
            f"gamma must be a scalar; got shape {np.shape(gamma)} (to sweep several discounts, jax.vmap over gamma)"
        )
    value = concrete_float(gamma)
    if value is not None and not 0.0 <= value <= 1.0:
        raise ValidationError(f"gamma must be in [0, 1]; got {value}")
    return value


def _nan_if_invalid_gamma(x: jax.Array, gamma: jax.Array) -> jax.Array:
    """Poisons the result with NaN when a (traced) gamma is outside [0, 1]."""
    valid = (gamma >= 0.0) & (gamma <= 1.0)
    return jnp.where(valid, x, jnp.nan)


# --------------------------------------------------------------------------------------
# Small building blocks.
# --------------------------------------------------------------------------------------


def state_values(q_values: jax.Array) -> jax.Array:
    """``V(s) = max_a Q(s, a)``, shape ``[S]`` (impossible actions at -inf never win)."""
    chex.assert_rank(q_values, 2)
    return jnp.max(q_values, axis=-1)


def greedy_policy(q_values: jax.Array) -> jax.Array:
    """The greedy action ``argmax_a Q(s, a)`` of every state, int32 ``[S]``.

    Ties go to the lowest action index (deterministic); -inf (impossible) actions are
    only chosen if a state has no possible action at all.
    """
    chex.assert_rank(q_values, 2)
    return jnp.argmax(q_values, axis=-1).astype(jnp.int32)


def _initial_q(action_mask: jax.Array, dtype: Any) -> jax.Array:
    """Q_0: 0 for possible actions, -inf for impossible ones (as in the keras-rl lecture)."""
    return jnp.where(action_mask, jnp.zeros((), dtype), -jnp.inf)


def _bootstrap_values(q_values: jax.Array, terminal: jax.Array) -> jax.Array:
    """The ``V(s')`` that backups bootstrap from: ``max_a Q`` but 0 in terminal states.

    A non-terminal state without any possible action (all -inf) is a dead end; it is
    also given value 0 so that ``0 * -inf`` never turns a backup into NaN.
    """
    v = state_values(q_values)
    return jnp.where(terminal | ~jnp.isfinite(v), jnp.zeros((), v.dtype), v)


def _expected_return(arrays: ModelArrays, next_values: jax.Array, gamma: jax.Array) -> jax.Array:
    """``sum_k p(s,a,k) * (r(s,a,k) + gamma * V(next_state(s,a,k)))``, shape ``[S, A]``."""
    targets = arrays.reward + gamma * next_values[arrays.next_state]  # [S, A, K]
    return jnp.sum(arrays.prob * targets, axis=-1)


def bellman_optimality_backup(q_values: jax.Array, arrays: ModelArrays, gamma: jax.Array) -> jax.Array:
    """One synchronous sweep ``Q <- sum_s' T (R + gamma max_a' Q(s', a'))`` over all (s, a).

    Keeps impossible actions at -inf and terminal states' rows at 0.
    """
    next_values = _bootstrap_values(q_values, arrays.terminal)
    q_new = _expected_return(arrays, next_values, gamma)
    # Terminal states: the episode is over, nothing more to collect.
    q_new = jnp.where(arrays.terminal[:, None], jnp.zeros((), q_new.dtype), q_new)
    return jnp.where(arrays.action_mask, q_new, -jnp.inf)


def _max_abs_change(q_new: jax.Array, q_old: jax.Array) -> jax.Array:
    """Max-norm of ``q_new - q_old`` over the finite (possible) entries."""
    diff = jnp.where(jnp.isfinite(q_new), jnp.abs(q_new - q_old), 0.0)
    return jnp.max(diff)


# --------------------------------------------------------------------------------------
# Q-value iteration.
# --------------------------------------------------------------------------------------


@partial(jax.jit, static_argnames="num_iterations")
def _q_iteration_fixed(arrays: ModelArrays, gamma: jax.Array, num_iterations: int) -> jax.Array:
    """Exactly ``num_iterations`` backups from Q_0 (the seed-001 procedure)."""
    gamma = jnp.asarray(gamma, arrays.prob.dtype)
    q0 = _initial_q(arrays.action_mask, arrays.prob.dtype)
    q = lax.fori_loop(0, num_iterations, lambda _, q: bellman_optimality_backup(q, arrays, gamma), q0)
    return _nan_if_invalid_gamma(q, gamma)


@partial(jax.jit, static_argnames="max_iterations")
def _q_iteration_until_converged(
    arrays: ModelArrays, gamma: jax.Array, tol: jax.Array, max_iterations: int
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Backups until the max-norm change is below tol; returns (Q, iterations, last change).

    The threshold is never below ~2 ulps of the largest |Q|: in float32, values of
    order 10 move by ~1e-6 per rounding, so a change < 1e-8 may never happen and the
    loop would otherwise always run to ``max_iterations``.
    """
    dtype = arrays.prob.dtype
    gamma = jnp.asarray(gamma, dtype)
    tol = jnp.asarray(tol, dtype)
    eps = jnp.finfo(dtype).eps

    def threshold(q):
        scale = jnp.max(jnp.where(jnp.isfinite(q), jnp.abs(q), 0.0))
        return jnp.maximum(tol, 2 * eps * scale)

    def cond(carry):
        i, q, delta = carry
        return (i < max_iterations) & (delta >= threshold(q))

    def body(carry):
        i, q, _ = carry
        q_new = bellman_optimality_backup(q, arrays, gamma)
        return i + 1, q_new, _max_abs_change(q_new, q)

    q0 = _initial_q(arrays.action_mask, dtype)
    carry = (jnp.asarray(0, jnp.int32), q0, jnp.asarray(jnp.inf, dtype))
    iterations, q, delta = lax.while_loop(cond, body, carry)
    return _nan_if_invalid_gamma(q, gamma), iterations, delta


def q_value_iteration(
    model_or_env: Any,
    gamma: float | jax.Array,
    num_iterations: int | None = None,
    tol: float = 1e-8,
    max_iterations: int = 10_000,
) -> jax.Array:
    """Optimal action values ``Q*[S, A]`` of a tabular model by Q-value iteration.

    Starts from ``Q_0 = 0`` on possible actions (-inf on impossible ones) and applies
    the Bellman optimality backup
    ``Q(s,a) <- sum_s' T(s,a,s') [R(s,a,s') + gamma * max_a' Q(s',a')]``
    synchronously to every (s, a), with ``max_a' Q(s', a') := 0`` for terminal s'.

    Args:
      model_or_env: a :class:`~rljax.envs.tabular.TabularModel`, or an environment with
        one as ``.model`` (every rljax tabular environment).
      gamma: discount in [0, 1]; may be traced (jit / vmap over it).
      num_iterations: if given, run exactly this many backups (a ``lax.fori_loop``) —
        this is what the keras-rl lecture does (50 iterations). If None, iterate (``lax.while_loop``)
        until the max-norm change between sweeps is below ``tol``.
      tol: convergence threshold of the while-loop mode (floored at a few ulps of
        max |Q| so that float32 runs can stop).
      max_iterations: cap of the while-loop mode. A :class:`RuntimeWarning` is issued
        (outside of traced code) if it is reached.

    Convergence: for ``gamma < 1`` the backup is a gamma-contraction and the loop
    converges from any start. For ``gamma == 1`` it converges only if episodes end
    (e.g. FrozenLake: every state can reach a terminal state and rewards are
    non-negative); with no terminal states at all a concrete ``gamma == 1`` in
    while-loop mode raises ValueError (use ``num_iterations`` for a finite horizon).

    Returns:
      ``Q`` of shape ``[S, A]`` in JAX's default float dtype.

    Raises:
      ValueError: gamma (concrete) outside [0, 1], or ``gamma == 1`` with no terminal
        states in while-loop mode, a negative ``num_iterations``, or ``max_iterations < 1``.
    """
    arrays = _model_arrays(model_or_env)
    gamma_value = _check_gamma(gamma)
    if num_iterations is not None:
        if int(num_iterations) < 0:
            raise ValidationError(f"num_iterations must be >= 0; got {num_iterations}")
        return _q_iteration_fixed(arrays, gamma, int(num_iterations))

    if int(max_iterations) < 1:
        raise ValidationError(f"max_iterations must be >= 1; got {max_iterations}")
    if gamma_value == 1.0 and not np.any(_as_model(model_or_env).terminal):
        raise ValidationError(
            "gamma = 1 with a model that has no terminal states: undiscounted values are "
            "infinite or undefined, so value iteration to convergence would not stop. "
            "Use gamma < 1, or pass num_iterations for a finite-horizon solution."
        )
    q, iterations, delta = _q_iteration_until_converged(arrays, gamma, tol, int(max_iterations))
    if not isinstance(iterations, jax.core.Tracer) and int(iterations) >= max_iterations:
        warnings.warn(
            f"q_value_iteration did not converge in {max_iterations} iterations "
            f"(last max-norm change {float(delta):.3g} >= tol {tol:g}); "
            "with gamma close to 1 raise max_iterations",
            RuntimeWarning,
            stacklevel=2,
        )
    return q


# --------------------------------------------------------------------------------------
# Policy evaluation.
# --------------------------------------------------------------------------------------


def _policy_matrix(policy: jax.Array, num_states: int, num_actions: int) -> jax.Array:
    """Policy as probabilities ``[S, A]``; int ``[S]`` (deterministic) is one-hot encoded."""
    policy = jnp.asarray(policy)
    if jnp.issubdtype(policy.dtype, jnp.integer):
        chex.assert_shape(policy, (num_states,))
        return jax.nn.one_hot(policy, num_actions, dtype=jnp.result_type(float))
    chex.assert_shape(policy, (num_states, num_actions))
    return policy.astype(jnp.result_type(float))


def _check_policy(policy: np.ndarray, model: TabularModel) -> None:
    """ValueErrors for a concrete policy that is not a distribution over possible actions."""
    if np.any(policy < 0):
        s, a = np.argwhere(policy < 0)[0]
        raise ValidationError(f"policy[{s}, {a}] = {policy[s, a]} is negative")
    sums = policy.sum(axis=1)
    bad = ~np.isclose(sums, 1.0, atol=1e-5)
    if np.any(bad):
        s = int(np.flatnonzero(bad)[0])
        raise ValidationError(f"policy[{s}, :] sums to {sums[s]:.6g}, not 1")
    impossible = (policy > 0) & ~model.action_mask
    if np.any(impossible):
        s, a = np.argwhere(impossible)[0]
        raise ValidationError(
            f"policy[{s}, {a}] = {policy[s, a]:.6g} > 0 but action {a} is impossible in "
            f"state {s} (action_mask False); its value is -inf by this module's convention"
        )


def _policy_dynamics(arrays: ModelArrays, policy: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Per-outcome weights ``pi(a|s) p(s,a,k)`` [S, A, K] and expected reward ``r_pi`` [S]."""
    weights = policy[:, :, None] * arrays.prob
    r_pi = jnp.sum(weights * arrays.reward, axis=(1, 2))
    return weights, r_pi


def _terminates_with_certainty(model: TabularModel, policy: np.ndarray) -> np.ndarray:
    """bool [S]: from s, the policy reaches a terminal state with probability 1.

    Computed in numpy on the policy's support graph: the states that cannot reach a
    terminal state form closed classes; everything that can reach one from every
    reachable state ends with probability 1 (finite chain).
    """
    S = model.num_states
    edges = np.zeros((S, S), dtype=bool)
    s_idx, a_idx = np.meshgrid(np.arange(S), np.arange(model.num_actions), indexing="ij")
    for k in range(model.next_state.shape[2]):
        live = (policy > 0) & (model.prob[:, :, k] > 0)
        edges[s_idx[live], model.next_state[:, :, k][live]] = True
    edges[model.terminal, :] = False  # episodes stop there
    can_terminate = model.terminal.copy()
    while True:  # backward reachability to the terminal set
        grown = can_terminate | edges[:, can_terminate].any(axis=1)
        if (grown == can_terminate).all():
            break
        can_terminate = grown
    # Proper from s iff no state reachable from s is stuck (unable to terminate).
    stuck = ~can_terminate
    reaches_stuck = stuck.copy()
    while True:
        grown = reaches_stuck | edges[:, reaches_stuck].any(axis=1)
        if (grown == reaches_stuck).all():
            break
        reaches_stuck = grown
    return ~reaches_stuck


@jax.jit
def _policy_evaluation_solve(arrays: ModelArrays, policy: jax.Array, gamma: jax.Array) -> jax.Array:
    """Exact ``V`` from the linear system ``(I - gamma P_pi) V = r_pi`` (terminal V = 0)."""
    dtype = arrays.prob.dtype
    gamma = jnp.asarray(gamma, dtype)
    S = arrays.terminal.shape[0]
    weights, r_pi = _policy_dynamics(arrays, policy)
    # Dense P_pi[s, s'] by scatter-add of the sparse outcomes: O(S^2) memory, built once.
    rows = jnp.broadcast_to(jnp.arange(S)[:, None, None], arrays.next_state.shape)
    p_pi = jnp.zeros((S, S), dtype).at[rows, arrays.next_state].add(weights)
    # No bootstrapping from terminal successors, and terminal states' own equation is V = 0.
    live = ~arrays.terminal
    p_pi = p_pi * live[None, :] * live[:, None]
    r_pi = r_pi * live
    v = jnp.linalg.solve(jnp.eye(S, dtype=dtype) - gamma * p_pi, r_pi)
    return _nan_if_invalid_gamma(v, gamma)


@partial(jax.jit, static_argnames="max_iterations")
def _policy_evaluation_iterate(
    arrays: ModelArrays, policy: jax.Array, gamma: jax.Array, tol: jax.Array, max_iterations: int
) -> tuple[jax.Array, jax.Array]:
    """Iterative ``V <- r_pi + gamma P_pi V`` on the sparse arrays, until change < tol."""
    dtype = arrays.prob.dtype
    gamma = jnp.asarray(gamma, dtype)
    tol = jnp.asarray(tol, dtype)
    weights, r_pi = _policy_dynamics(arrays, policy)
    live = ~arrays.terminal
    r_pi = jnp.where(live, r_pi, 0.0)

    def backup(v):
        next_v = jnp.where(live, v, 0.0)[arrays.next_state]  # [S, A, K]
        return jnp.where(live, r_pi + gamma * jnp.sum(weights * next_v, axis=(1, 2)), 0.0)

    def cond(carry):
        i, v, delta = carry
        floor = 2 * jnp.finfo(dtype).eps * jnp.max(jnp.abs(v))
        return (i < max_iterations) & (delta >= jnp.maximum(tol, floor))

    def body(carry):
        i, v, _ = carry
        v_new = backup(v)
        return i + 1, v_new, jnp.max(jnp.abs(v_new - v))

    carry = (jnp.asarray(0, jnp.int32), jnp.zeros_like(r_pi), jnp.asarray(jnp.inf, dtype))
    iterations, v, _ = lax.while_loop(cond, body, carry)
    return _nan_if_invalid_gamma(v, gamma), iterations


def policy_evaluation(
    model_or_env: Any,
    policy: jax.Array,
    gamma: float | jax.Array,
    method: str = "solve",
    tol: float = 1e-8,
    max_iterations: int = 10_000,
) -> jax.Array:
    """State values ``V_pi[S]`` of a fixed policy on a tabular model.

    ``V(s) = sum_a pi(a|s) sum_s' T(s,a,s') [R(s,a,s') + gamma V(s')]`` with
    ``V(s) = 0`` for terminal s (the episode has ended).

    Two methods:

    * ``"solve"`` (default): the exact solution of the linear system
      ``(I - gamma P_pi) V = r_pi`` with ``jnp.linalg.solve``. Chosen as the default
      because it is exact in one step, needs no tolerance, and also handles
      ``gamma = 1`` for policies that end every episode — where iteration converges
      only as fast as episodes end. It builds a dense ``[S, S]`` matrix and costs
      ``O(S^3)``: milliseconds for Taxi (S = 500), too much for S in the tens of
      thousands.
    * ``"iterate"``: repeated sparse backups ``V <- r_pi + gamma P_pi V`` until the
      max-norm change is below ``tol`` (capped at ``max_iterations``): ``O(S A K)``
      memory, for large state spaces.

    Args:
      model_or_env: a TabularModel or an environment with one as ``.model``.
      policy: probabilities ``[S, A]`` (rows sum to 1, no mass on impossible actions),
        or int actions ``[S]`` for a deterministic policy (e.g. :func:`greedy_policy`).
      gamma: discount in [0, 1]; may be traced.
      method: ``"solve"`` or ``"iterate"``.
      tol, max_iterations: stopping rule of ``"iterate"``.

    Raises:
      ValueError: bad gamma, method, or (concrete) policy; or ``gamma == 1`` with a
        policy under which some state never reaches a terminal state (its
        undiscounted value is undefined and the linear system singular).
    """
    model = _as_model(model_or_env)
    arrays = _model_arrays(model)
    S, A = model.num_states, model.num_actions
    gamma_value = _check_gamma(gamma)
    if method not in ("solve", "iterate"):
        raise ValidationError(f"method must be 'solve' or 'iterate'; got {method!r}")
    policy = _policy_matrix(policy, S, A)
    if not isinstance(policy, jax.core.Tracer):
        policy_np = np.asarray(policy)
        _check_policy(policy_np, model)
        if gamma_value == 1.0:
            proper = _terminates_with_certainty(model, policy_np)
            if not proper.all():
                stuck = np.flatnonzero(~proper)
                raise ValidationError(
                    f"gamma = 1 but from states {stuck[:10].tolist()}"
                    f"{'...' if len(stuck) > 10 else ''} the policy may never reach a "
                    "terminal state, so their undiscounted values are undefined; use gamma < 1"
                )
    if method == "solve":
        return _policy_evaluation_solve(arrays, policy, gamma)
    v, iterations = _policy_evaluation_iterate(arrays, policy, gamma, tol, int(max_iterations))
    if not isinstance(iterations, jax.core.Tracer) and int(iterations) >= max_iterations:
        warnings.warn(
            f"policy_evaluation(method='iterate') did not converge in {max_iterations} "
            "iterations; raise max_iterations or use method='solve'",
            RuntimeWarning,
            stacklevel=2,
        )
    return v
