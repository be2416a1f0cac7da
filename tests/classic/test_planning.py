"""Tests of rljax.classic.planning against the keras-rl lecture's printed table and independent numpy solutions.

The numpy references below never call rljax.classic.planning: they work on the dense
``model.T`` / ``model.R`` in float64 (policy iteration with exact linear solves), so
the sparse JAX code is checked against a different algorithm on a different
representation. Tight tolerances run under ``jax.enable_x64(True)`` (the model's
probabilities are float32 numbers, but the references use those same numbers, via
``model.T``); float32 runs are checked with float32-sized tolerances.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import rljax
from rljax.classic import planning
from rljax.envs.tabular import model_from_dense

# ----------------------------------------------------------------------------------------
# The keras-rl lecture's MDP and its printed result (50 iterations of Q-value iteration, gamma 0.9).
# ----------------------------------------------------------------------------------------

SEED_TRANSITIONS = [  # shape=[s, a, s'], None = impossible action
    [[0.7, 0.3, 0.0], [1.0, 0.0, 0.0], [0.8, 0.2, 0.0]],
    [[0.0, 1.0, 0.0], None, [0.0, 0.0, 1.0]],
    [None, [0.8, 0.1, 0.1], None],
]
SEED_REWARDS = [  # shape=[s, a, s']
    [[+10, 0, 0], [0, 0, 0], [0, 0, 0]],
    [[0, 0, 0], [0, 0, 0], [0, 0, -50]],
    [[0, 0, 0], [+40, 0, 0], [0, 0, 0]],
]
SEED_POSSIBLE_ACTIONS = [[0, 1, 2], [0, 2], [1]]
SEED_Q_TABLE = np.array(
    [
        [18.91891892, 17.02702702, 13.62162162],
        [0.0, -np.inf, -4.87971488],
        [-np.inf, 50.13365013, -np.inf],
    ]
)


def seed_model():
    T = np.array([[row if row is not None else [0.0, 0.0, 0.0] for row in state] for state in SEED_TRANSITIONS])
    mask = np.zeros((3, 3), dtype=bool)
    for s, actions in enumerate(SEED_POSSIBLE_ACTIONS):
        mask[s, actions] = True
    return model_from_dense(T, np.array(SEED_REWARDS, float), np.array([1.0, 0.0, 0.0]), action_mask=mask)


def assert_q_close(q, expected, atol=0.0, rtol=0.0):
    """Same -inf pattern exactly, finite entries within tolerance."""
    q = np.asarray(q, dtype=np.float64)
    np.testing.assert_array_equal(np.isneginf(q), np.isneginf(expected))
    finite = np.isfinite(expected)
    np.testing.assert_allclose(q[finite], expected[finite], atol=atol, rtol=rtol)


def test_lecture_table_float64():
    with jax.enable_x64(True):
        q = planning.q_value_iteration(seed_model(), 0.9, num_iterations=50)
        assert q.dtype == jnp.float64
        assert_q_close(q, SEED_Q_TABLE, atol=1e-6)


def test_lecture_table_default_float32():
    q = planning.q_value_iteration(seed_model(), 0.9, num_iterations=50)
    assert q.shape == (3, 3)
    assert_q_close(q, SEED_Q_TABLE, rtol=1e-6, atol=1e-6)


def test_lecture_greedy_policy_and_values():
    q = planning.q_value_iteration(seed_model(), 0.9, num_iterations=50)
    np.testing.assert_array_equal(planning.greedy_policy(q), [0, 0, 1])
    np.testing.assert_allclose(planning.state_values(q), SEED_Q_TABLE.max(axis=1), rtol=1e-6)


def test_lecture_accepts_env_with_model():
    class HasModel:
        model = seed_model()

    q = planning.q_value_iteration(HasModel(), 0.9, num_iterations=50)
    assert_q_close(q, SEED_Q_TABLE, rtol=1e-6, atol=1e-6)


# ----------------------------------------------------------------------------------------
# Independent numpy references on dense T / R.
# ----------------------------------------------------------------------------------------


def numpy_policy_values(T, R, terminal, policy, gamma):
    """V_pi by an exact float64 linear solve; terminal states are worth 0."""
    S = T.shape[0]
    live = ~terminal
    P = np.einsum("sa,sat->st", policy, T) * live[None, :] * live[:, None]
    r = np.einsum("sa,sat,sat->s", policy, T, R) * live
    return np.linalg.solve(np.eye(S) - gamma * P, r)


def numpy_optimal_q(T, R, terminal, mask, gamma):
    """Q* by policy iteration with exact linear solves (float64)."""
    S, A, _ = T.shape
    live = ~terminal
    r_sa = np.einsum("sat,sat->sa", T, R)
    pi = np.argmax(mask, axis=1)  # first possible action
    for _ in range(1000):
        v = numpy_policy_values(T, R, terminal, np.eye(A)[pi], gamma)
        q = r_sa + gamma * T @ (v * live)
        q[terminal] = 0.0
        q[~mask] = -np.inf
        best = np.argmax(q, axis=1)
        # Switch only on a strict improvement, so ties cannot make it cycle.
        improve = q[np.arange(S), best] > q[np.arange(S), pi] + 1e-12
        if not improve.any():
            return q
        pi = np.where(improve, best, pi)
    raise AssertionError("policy iteration did not converge")


def random_mdp(seed, S=12, A=4, with_terminal=True, with_mask=True):
    rng = np.random.default_rng(seed)
    T = rng.dirichlet(np.full(S, 0.3), size=(S, A))
    T[T < 0.02] = 0.0  # sparsify, so K < S like real environments
    T /= T.sum(axis=2, keepdims=True)
    R = rng.normal(size=(S, A, S))
    mask = np.ones((S, A), dtype=bool)
    if with_mask:
        mask[rng.random((S, A)) < 0.25] = False
        mask[np.arange(S), rng.integers(A, size=S)] = True  # >= 1 possible action
    terminal = np.zeros(S, dtype=bool)
    if with_terminal:
        terminal[rng.choice(S, size=2, replace=False)] = True
    T[~mask] = 0.0
    T[~mask, 0] = 1.0  # impossible rows are ignored; any distribution passes validation
    return model_from_dense(T, R, np.full(S, 1.0 / S), terminal=terminal, action_mask=mask)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("gamma", [0.5, 0.9, 0.97])
def test_value_iteration_matches_numpy_policy_iteration(seed, gamma):
    model = random_mdp(seed, with_terminal=seed % 2 == 0, with_mask=seed < 3)
    expected = numpy_optimal_q(model.T, model.R, model.terminal, model.action_mask, gamma)
    with jax.enable_x64(True):
        q = planning.q_value_iteration(model, gamma, tol=1e-12)
        assert_q_close(q, expected, atol=1e-5)
    q32 = planning.q_value_iteration(model, gamma)
    assert q32.dtype == jnp.float32
    assert_q_close(q32, expected, atol=2e-4, rtol=1e-4)


def test_fixed_iterations_converge_to_while_loop_result():
    model = random_mdp(7)
    with jax.enable_x64(True):
        q_fixed = planning.q_value_iteration(model, 0.8, num_iterations=400)
        q_while = planning.q_value_iteration(model, 0.8, tol=1e-12)
        assert_q_close(q_fixed, np.asarray(q_while), atol=1e-9)
        q_zero = planning.q_value_iteration(model, 0.8, num_iterations=0)
        assert_q_close(q_zero, np.where(model.action_mask, 0.0, -np.inf))


@pytest.mark.parametrize("seed", range(3))
def test_policy_evaluation_matches_linear_solve(seed):
    model = random_mdp(seed)
    rng = np.random.default_rng(100 + seed)
    policy = rng.random(model.action_mask.shape) * model.action_mask
    policy /= policy.sum(axis=1, keepdims=True)
    expected = numpy_policy_values(model.T, model.R, model.terminal, policy, 0.9)
    with jax.enable_x64(True):
        np.testing.assert_allclose(planning.policy_evaluation(model, policy, 0.9), expected, atol=1e-8)
        v_iter = planning.policy_evaluation(model, policy, 0.9, method="iterate", tol=1e-12)
        np.testing.assert_allclose(v_iter, expected, atol=1e-8)
    v32 = planning.policy_evaluation(model, jnp.asarray(policy, jnp.float32), 0.9)
    np.testing.assert_allclose(v32, expected, atol=1e-5, rtol=1e-5)
    assert np.all(np.asarray(v32)[model.terminal] == 0.0)


def test_greedy_policy_value_equals_optimal_value():
    model = random_mdp(3)
    with jax.enable_x64(True):
        q = planning.q_value_iteration(model, 0.95, tol=1e-12)
        v_greedy = planning.policy_evaluation(model, planning.greedy_policy(q), 0.95)
        np.testing.assert_allclose(v_greedy, planning.state_values(q), atol=1e-8)


def test_gamma_is_traceable_and_vmappable():
    model = random_mdp(5)
    gammas = jnp.array([0.0, 0.5, 0.9])
    batched = jax.vmap(lambda g: planning.q_value_iteration(model, g))(gammas)
    assert batched.shape == (3, 12, 4)
    for i, g in enumerate([0.0, 0.5, 0.9]):
        assert_q_close(batched[i], np.asarray(planning.q_value_iteration(model, g)), atol=1e-5)
    fixed = jax.jit(lambda g: planning.q_value_iteration(model, g, num_iterations=30))(0.9)
    assert_q_close(fixed, np.asarray(planning.q_value_iteration(model, 0.9, num_iterations=30)), atol=1e-6)
    # A traced, out-of-range gamma cannot raise; it poisons the result instead.
    bad = jax.vmap(lambda g: planning.q_value_iteration(model, g, num_iterations=5))(jnp.array([1.5]))
    assert np.all(np.isnan(bad))
    v = jax.vmap(lambda g: planning.policy_evaluation(model, jnp.argmax(model.action_mask, 1), g))(gammas)
    assert v.shape == (3, 12) and np.all(np.isfinite(v))


def test_validation_errors():
    model = seed_model()
    with pytest.raises(ValueError, match=r"gamma must be in \[0, 1\]"):
        planning.q_value_iteration(model, 1.5)
    with pytest.raises(ValueError, match=r"gamma must be in \[0, 1\]"):
        planning.q_value_iteration(model, -0.1, num_iterations=3)
    with pytest.raises(ValueError, match="gamma must be a scalar"):
        planning.q_value_iteration(model, jnp.array([0.9, 0.8]))
    with pytest.raises(ValueError, match="no terminal states"):
        planning.q_value_iteration(model, 1.0)
    planning.q_value_iteration(model, 1.0, num_iterations=10)  # finite horizon is fine
    with pytest.raises(TypeError, match="TabularModel"):
        planning.q_value_iteration(object(), 0.9)
    with pytest.raises(ValueError, match="sums to"):
        planning.policy_evaluation(model, np.full((3, 3), 0.5), 0.9)
    with pytest.raises(ValueError, match="impossible"):
        planning.policy_evaluation(model, np.eye(3)[[0, 1, 1]], 0.9)  # action 1 in state 1
    with pytest.raises(ValueError, match="method"):
        planning.policy_evaluation(model, np.array([0, 0, 1]), 0.9, method="magic")
    with pytest.raises(ValueError, match="never reach a terminal"):
        planning.policy_evaluation(model, np.array([0, 0, 1]), 1.0)


# ----------------------------------------------------------------------------------------
# Real environments.
# ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "env_id, kwargs",
    [
        ("Taxi-v3", {}),
        ("FrozenLake-v1", {"map_name": "4x4", "is_slippery": True}),
    ],
)
def test_real_env_matches_numpy(env_id, kwargs):
    env, _ = rljax.make(env_id, **kwargs)
    model = env.model
    T, R = model.T, model.R
    gamma = 0.99
    expected = numpy_optimal_q(T, R, model.terminal, model.action_mask, gamma)
    with jax.enable_x64(True):
        q = planning.q_value_iteration(env, gamma, tol=1e-12)
        assert_q_close(q, expected, atol=1e-5)
    q32 = planning.q_value_iteration(env, gamma)
    assert_q_close(q32, expected, atol=1e-3, rtol=1e-5)
    # Policy evaluation of the greedy policy equals the numpy solve and V*.
    pi = np.asarray(planning.greedy_policy(q32))
    v = planning.policy_evaluation(env, pi, gamma)
    v_np = numpy_policy_values(T, R, model.terminal, np.eye(model.num_actions)[pi], gamma)
    np.testing.assert_allclose(v, v_np, atol=1e-3, rtol=1e-5)
    np.testing.assert_allclose(v_np, expected.max(axis=1), atol=1e-6)


def test_frozen_lake_optimal_success_probability():
    """Success probability of the greedy policy on FrozenLake 4x4 slippery.

    FrozenLake's only reward is 1 on reaching the goal, so the undiscounted value is
    the probability of ever reaching it. With no time limit the optimal policy
    succeeds with probability ~0.8235 from the start; under Gymnasium's 100-step
    limit the same policy succeeds ~0.74 of the time (the often-quoted figure).
    """
    env, _ = rljax.make("FrozenLake-v1", map_name="4x4", is_slippery=True)
    model = env.model
    start = int(np.argmax(model.initial))
    with jax.enable_x64(True):
        q = planning.q_value_iteration(env, 0.999, tol=1e-12)
        pi = planning.greedy_policy(q)
        success = planning.policy_evaluation(env, pi, 1.0)  # proper policy: gamma = 1 allowed
    p_success = float(success[start])
    assert 0.7 <= p_success <= 0.85
    assert p_success == pytest.approx(0.8235, abs=1e-3)
    # The 100-step-limited success of the same policy, by backward induction in numpy.
    pi = np.asarray(pi)
    live = ~model.terminal
    P = model.T[np.arange(model.num_states), pi]
    r = np.sum(P * model.R[np.arange(model.num_states), pi], axis=1)
    v = np.zeros(model.num_states)
    for _ in range(100):
        v = live * (r + P @ (live * v))
    assert v[start] == pytest.approx(0.74, abs=0.01)
