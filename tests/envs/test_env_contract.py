"""The gymnax step contract, checked on every registered rljax environment.

For each rljax id (plus gymnax's CartPole-v1, Breakout-MinAtar and a discretised
CartPole) this runs 64 environments x 300 random steps under
``jit(scan(vmap(step)))`` and checks, with the test's own episode counter:

* ``truncated`` is set exactly on the step where the episode reaches the time
  limit, and no episode is longer;
* ``terminated`` is exactly the environment's own terminal condition (for tabular
  environments ``model.terminal[final_observation]``; otherwise
  ``env.is_terminated`` of the pre-reset state) — never the time limit;
* after ``terminated or truncated`` the observation and state are a fresh reset
  (``state.time == 0``), otherwise the step's own (``time`` + 1);
* rewards are finite floats and observations lie in the observation space.

The time limit is lowered to ``min(default, 20)`` so random play reaches it often.
Modules other people are still writing are skipped until they exist.

Also tests the observation discretiser (:mod:`rljax.envs.wrappers`) and the
registry's unknown-id error.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from gymnax.environments import environment

import rljax
from rljax.envs.registry import _RLJAX_ENVS
from rljax.envs.tabular import TabularModel, model_from_dense
from rljax.envs.wrappers import (
    DiscretizedObservation,
    discretize,
    is_discrete_obs,
    num_observations,
)

NUM_ENVS, NUM_STEPS, MAX_LIMIT = 64, 300, 20
DISCRETISED = "CartPole-v1[discretize=bins-4x4x29x8]"
# Brax's robots share one adapter (tests/envs/test_brax.py checks it against the engine):
# one of them here, not eleven compiles of physics engines.
CASES = sorted(i for i in _RLJAX_ENVS if not i.startswith("brax/") or i == "brax/inverted_pendulum")
CASES += ["CartPole-v1", "Breakout-MinAtar", DISCRETISED]
# The contract does not depend on XLA's optimisations; skipping them halves the
# compile time, which dominates these tests on a small CPU.
FAST_COMPILE = {"xla_backend_optimization_level": 0}


def _random_mdp(num_states: int = 6, num_actions: int = 3, seed: int = 0) -> dict:
    """Arguments for ``TabularMDP``: random dynamics, one terminal state, random start."""
    rng = np.random.default_rng(seed)
    return dict(
        T=rng.dirichlet(np.ones(num_states), size=(num_states, num_actions)),
        R=rng.normal(size=(num_states, num_actions, num_states)),
        initial=np.r_[np.ones(num_states - 1) / (num_states - 1), 0.0],
        terminal=np.arange(num_states) == num_states - 1,
    )


# Ids that cannot be made without arguments.
KWARGS = {"TabularMDP": _random_mdp()}


def _make(case: str) -> tuple[environment.Environment, object]:
    """``rljax.make(case)`` (a missing module is an error, never a skip)."""
    if case == DISCRETISED:
        return rljax.make("CartPole-v1", discretize="bins-4x4x29x8")
    return rljax.make(case, **KWARGS.get(case, {}))


def _tree_equal(a, b) -> jax.Array:
    """Exact for integers and booleans; floats to a few ulp, because XLA may fuse
    the same float computation differently inside and outside ``env.step``."""

    def leaf_equal(x, y):
        x, y = jnp.asarray(x), jnp.asarray(y)
        if jnp.issubdtype(x.dtype, jnp.floating):
            return jnp.all(jnp.abs(x - y) <= 1e-6 + 1e-6 * jnp.abs(y))
        return jnp.all(x == y)

    leaves = jax.tree.leaves(jax.tree.map(leaf_equal, a, b))
    return jnp.all(jnp.stack(leaves))


def _rollout(env, params, key: jax.Array) -> dict[str, np.ndarray]:
    """``NUM_STEPS`` random steps of ``NUM_ENVS`` envs; per-step checks, stacked ``[T, N]``."""
    model = getattr(env, "model", None)
    tabular = isinstance(model, TabularModel)
    # Re-deriving the step from step_env/reset_env is only valid for gymnax's own
    # step (or the discretiser, which mirrors it); other overrides get the public checks.
    replicable = type(env).step in (environment.Environment.step, DiscretizedObservation.step)
    obs_space = env.observation_space(params)

    def step_one(state, key):
        k_act, k_step = jax.random.split(key)
        action = env.action_space(params).sample(k_act)
        obs, new_state, reward, term, trunc, info = env.step(k_step, state, action, params)
        final_obs = info["final_observation"]
        done = term | trunc
        out = {
            "time_before": jnp.asarray(state.time),
            "time_after": jnp.asarray(new_state.time),
            "terminated": term,
            "truncated": trunc,
            "reward": reward,
            "obs_in_space": obs_space.contains(obs) & obs_space.contains(final_obs),
            "info_flags_ok": (info["terminated"] == term) & (info["truncated"] == trunc),
        }
        if tabular:
            out["terminal_ok"] = jnp.asarray(model.terminal)[final_obs] == term
            out["reset_in_support"] = ~done | (jnp.asarray(model.initial)[obs] > 0)
        if replicable:
            k_st, k_re = jax.random.split(k_step)  # as gymnax's Environment.step does
            obs_st, state_st, _, term_st, _ = env.step_env(k_st, state, action, params)
            obs_re, state_re = env.reset_env(k_re, params)
            out["final_obs_ok"] = _tree_equal(final_obs, obs_st) & (term == term_st)
            try:
                out["terminal_ok"] = env.is_terminated(state_st, params) == term
            except NotImplementedError:
                pass
            out["reset_ok"] = jnp.where(
                done,
                _tree_equal(obs, obs_re) & _tree_equal(new_state, state_re),
                _tree_equal(obs, obs_st) & _tree_equal(new_state, state_st),
            )
        return new_state, out

    vstep = jax.vmap(step_one)

    @partial(jax.jit, compiler_options=FAST_COMPILE)
    def run(key):
        k_reset, k_steps = jax.random.split(key)
        _, state = jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(k_reset, NUM_ENVS), params)
        keys = jax.random.split(k_steps, NUM_STEPS * NUM_ENVS).reshape(NUM_STEPS, NUM_ENVS)
        _, outs = jax.lax.scan(vstep, state, keys)
        return outs

    return jax.tree.map(np.asarray, run(key))


@pytest.mark.parametrize("case", CASES)
def test_step_contract(case: str):
    env, params = _make(case)
    default_limit = int(params.max_steps_in_episode)
    assert default_limit >= 1
    limit = min(default_limit, MAX_LIMIT)
    params = params.replace(max_steps_in_episode=limit)
    out = _rollout(env, params, jax.random.key(0))

    term, trunc = out["terminated"], out["truncated"]
    assert term.dtype == trunc.dtype == np.bool_
    assert np.issubdtype(out["reward"].dtype, np.floating)
    assert np.all(np.isfinite(out["reward"]))
    assert out["obs_in_space"].all()
    assert out["info_flags_ok"].all()
    for check in ("terminal_ok", "final_obs_ok", "reset_ok", "reset_in_support"):
        if check in out:
            bad = np.argwhere(~out[check])
            assert bad.size == 0, f"{check} fails at (step, env) {bad[:5].tolist()}"

    # The test's own episode counter: truncated exactly when it reaches the limit.
    ep_len = np.zeros(NUM_ENVS, dtype=np.int64)
    for t in range(NUM_STEPS):
        np.testing.assert_array_equal(out["time_before"][t], ep_len)
        ep_len += 1
        assert ep_len.max() <= limit
        np.testing.assert_array_equal(trunc[t], ep_len == limit, err_msg=f"step {t}")
        done = term[t] | trunc[t]
        ep_len[done] = 0
        np.testing.assert_array_equal(out["time_after"][t], ep_len)


# --- the discretiser ----------------------------------------------------------

# The CartPole Q Learning tutorial's bins, re-typed from the tutorial rather than imported.
THRESH = np.pi / 180 * 12
BINS = [
    np.array([-0.1, 0, 0.1]),
    np.array([-0.75, 0, 0.75]),
    np.linspace(-THRESH, THRESH, 30)[1:-1],
    np.linspace(-1.7, 1.7, 9)[1:-1],
]


def _bins_cell(obs: np.ndarray) -> np.ndarray:
    """The CartPole Q Learning tutorial's cells, row-major over its (4, 4, 29, 8) bins; obs ``[..., 4]``."""
    bins = [np.digitize(obs[..., i], BINS[i]) for i in range(4)]
    return np.ravel_multi_index(bins, (4, 4, 29, 8))


def _notes_cell(obs: np.ndarray) -> np.ndarray:
    """The maze notes' ``sum(d_i * 6**i)``; obs ``[..., 4]``."""
    ranges = [(-2.4, 2.4), (-3, 3), (-0.418, 0.418), (-2, 2)]
    digits = [np.digitize(obs[..., i], np.linspace(lo, hi, 7)[1:-1]) for i, (lo, hi) in enumerate(ranges)]
    return sum(d * 6**i for i, d in enumerate(digits))


def _probe_observations() -> np.ndarray:
    rng = np.random.default_rng(0)
    random = rng.uniform([-2.4, -3, -0.25, -3], [2.4, 3, 0.25, 3], size=(200, 4))
    special = np.array(
        [
            [0.0, 0.0, 0.0, 0.0],  # exactly on edges: np.digitize puts x == edge above it
            [0.1, 0.75, THRESH, 1.7],
            [-0.1, -0.75, -THRESH, -1.7],
            [10.0, 10.0, 1.0, 10.0],  # beyond the outermost edges: end bins
            [-10.0, -10.0, -1.0, -10.0],
        ]
    )
    # float32 neighbours of every edge, where rounding the edges could go wrong.
    neighbours = []
    for edges in BINS:
        for e in edges:
            e32 = np.float32(e)
            neighbours += [np.nextafter(e32, np.float32(-1)), e32, np.nextafter(e32, np.float32(1))]
    # XLA on CPU flushes subnormals to zero, so -1e-45 would count as 0, above the
    # edge 0; observations are never that small in practice.
    neighbours = [v for v in neighbours if v == 0 or abs(v) >= np.finfo(np.float32).tiny]
    border = np.tile(np.array(neighbours, np.float32)[:, None], (1, 4))
    return np.concatenate([random, special, border]).astype(np.float32)


def test_bins_preset_cells():
    env, params = rljax.make("CartPole-v1", discretize="bins-4x4x29x8")
    assert isinstance(env, DiscretizedObservation)
    assert env.num_states == 4 * 4 * 29 * 8 == 3712
    assert env.bins_per_dim == (4, 4, 29, 8) and env.order == "C"
    assert is_discrete_obs(env, params) and num_observations(env, params) == 3712
    assert env.observation_space(params).n == 3712
    obs = _probe_observations()
    got = np.asarray(jax.jit(env.discretize_obs)(obs))  # batched input works too
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got, _bins_cell(obs))
    single = np.asarray(jax.jit(jax.vmap(env.discretize_obs))(obs))
    np.testing.assert_array_equal(single, got)


def test_uniform6_preset_is_notes_index():
    env, _ = rljax.make("CartPole-v1", discretize="uniform6")
    assert env.num_states == 6**4 and env.order == "F"
    obs = _probe_observations()
    np.testing.assert_array_equal(np.asarray(env.discretize_obs(obs)), _notes_cell(obs))


def test_wrapper_discretises_obs_and_final_observation_under_jit_vmap_scan():
    raw, params = rljax.make("CartPole-v1")
    wrapped, _ = discretize(raw, params, "bins-4x4x29x8")
    n_envs, n_steps = 16, 60

    def run(env, key):
        def step(state, key):
            k_act, k_step = jax.random.split(key)
            action = jax.random.randint(k_act, (), 0, 2)
            obs, state, _, term, trunc, info = env.step(k_step, state, action, params)
            return state, (obs, info["final_observation"], term | trunc, state.time)

        def one(key):
            k0, k1 = jax.random.split(key)
            obs0, state = env.reset(k0, params)
            _, outs = jax.lax.scan(step, state, jax.random.split(k1, n_steps))
            return obs0, outs

        return jax.jit(jax.vmap(one), compiler_options=FAST_COMPILE)(jax.random.split(key, n_envs))

    key = jax.random.key(3)
    raw_obs0, (raw_obs, raw_final, raw_done, raw_time) = run(raw, key)
    obs0, (obs, final, done, time) = run(wrapped, key)
    assert obs.dtype == final.dtype == np.int32 and obs.shape == (n_envs, n_steps)
    assert np.asarray(raw_done).any()  # auto-resets happened
    np.testing.assert_array_equal(done, raw_done)
    np.testing.assert_array_equal(time, raw_time)
    for got, ref in ((obs0, raw_obs0), (obs, raw_obs), (final, raw_final)):
        np.testing.assert_array_equal(got, _bins_cell(np.asarray(ref)))


def test_discretise_specs_and_errors():
    cartpole, params = rljax.make("CartPole-v1")
    # Explicit edges and the mapping forms.
    env, _ = discretize(cartpole, params, [[0.0], [], [-0.1, 0.1], [0.0]])
    assert env.bins_per_dim == (2, 1, 3, 2) and env.num_states == 12
    env, _ = discretize(cartpole, params, {"num_bins": 5, "ranges": [None, (-3, 3), None, (-2, 2)]})
    assert env.num_states == 5**4
    np.testing.assert_allclose(env.edges[0], np.linspace(-4.8, 4.8, 6)[1:-1], rtol=1e-6)
    env, _ = discretize(cartpole, params, {"edges": BINS, "order": "F"})
    b = np.array([1, 2, 3, 4])
    mid = np.array([(BINS[i][b[i] - 1] + BINS[i][b[i]]) / 2 for i in range(4)], np.float32)
    assert int(env.discretize_obs(mid)) == np.ravel_multi_index(b, (4, 4, 29, 8), order="F")

    with pytest.raises(ValueError, match="expected 4 edge arrays.*got 3"):
        discretize(cartpole, params, BINS[:3])
    with pytest.raises(ValueError, match="dimension 1 must be sorted"):
        discretize(cartpole, params, [[0.0], [1.0, -1.0], [0.0], [0.0]])
    with pytest.raises(ValueError, match=r"dimension\(s\) \[1, 3\] have infinite bounds.*ranges"):
        rljax.make("CartPole-v1", discretize="uniform:6")
    with pytest.raises(ValueError, match="unknown discretize preset"):
        discretize(cartpole, params, "lecture-3-state")
    with pytest.raises(ValueError, match="uniform:N"):
        discretize(cartpole, params, "uniform:six")
    breakout, bparams = rljax.make("Breakout-MinAtar")
    with pytest.raises(ValueError, match="4 observation dimensions"):
        discretize(breakout, bparams, "bins-4x4x29x8")

    # Already-discrete observations: nothing to discretise; the helpers say so.
    tabular = rljax.envs.TabularEnv(
        model_from_dense(np.full((3, 2, 3), 1 / 3), np.zeros((3, 2, 3)), np.ones(3) / 3), 10, "tiny"
    )
    assert is_discrete_obs(tabular) and num_observations(tabular) == 3
    with pytest.raises(TypeError, match="Box observation space"):
        discretize(tabular, tabular.default_params, [[0.0]])
    assert not is_discrete_obs(cartpole, params)
    with pytest.raises(TypeError, match="not Discrete"):
        num_observations(cartpole, params)


def test_unknown_id_lists_known_ids():
    with pytest.raises(ValueError, match="unknown environment id 'NoSuchEnv-v0'") as info:
        rljax.make("NoSuchEnv-v0")
    message = str(info.value)
    for known in ("Taxi-v3", "CartPole-v0", "CartPole-v1", "Breakout-MinAtar"):
        assert known in message
