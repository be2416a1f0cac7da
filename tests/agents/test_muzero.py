"""MuZero: the loop's per-step extras, the search with a true model, unrolled targets against
plain Python for ragged episodes, the value transform, bad input, probes, batch invariance,
one-program sweeps."""

import jax
import jax.numpy as jnp
import mctx
import numpy as np
import pytest
from guarantees import (
    PROBES,
    assert_learning_rate_sweep_is_one_program,
    assert_seed_alone_equals_seed_in_batch,
    run_state,
)

import rljax
from rljax.agents import get_agent
from rljax.agents.base import Clock
from rljax.agents.muzero import (
    MuZeroConfig,
    gumbel_search,
    init,
    learning_rate_at,
    muzero,
    scalar_to_two_hot,
    squash,
    state_value,
    unroll_targets,
    unsquash,
)
from rljax.experiment import train
from rljax.training.loop import make_loop
from rljax.training.plan import build

TINY = {
    "num_envs": 2,
    "buffer_size": 400,
    "batch_size": 8,
    "learning_starts": 40,
    "hidden_sizes": (8,),
    "latent_size": 8,
    "num_simulations": 2,
    "unroll_steps": 2,
    "td_steps": 3,
    "train_frequency": 4,
    "gradient_steps": 1,
}


# --- The loop stores the extras act returns --------------------------------------


def test_rollout_batch_carries_the_search_outputs():
    env, params = rljax.make("CartPole-v1")
    config = MuZeroConfig(**TINY)
    loop = make_loop(env, params, muzero, config, total_steps=64, eval_episodes=1)
    state = loop.init(jax.random.PRNGKey(0), config)
    _, batch, _ = jax.jit(loop._rollout)(state, config)
    K, B = config.train_frequency, config.num_envs
    assert batch.extras["policy"].shape == (K, B, 2)
    assert batch.extras["value"].shape == (K, B)
    np.testing.assert_allclose(batch.extras["policy"].sum(-1), 1.0, rtol=1e-5)
    # other agents have no extras: the batch is what it always was
    dqn = get_agent("dqn")
    dqn_config = rljax.build("dqn", "CartPole-v1").configs[0]
    dqn_loop = make_loop(env, params, dqn, dqn_config, total_steps=256, eval_episodes=1)
    _, dqn_batch, _ = jax.jit(dqn_loop._rollout)(dqn_loop.init(jax.random.PRNGKey(0), dqn_config), dqn_config)
    assert dqn_batch.extras is None


# --- Search with the true model of the Chain ---------------------------------------------------


def chain_search_actions(num_simulations: int, gamma: float = 0.9) -> np.ndarray:
    """The deterministic (gumbel_scale 0) search's action in every non-terminal Chain cell, with
    the true model as ``recurrent_fn``, uniform priors and zero leaf values (so only planning
    can find the reward 3-5 steps away)."""
    env, _ = rljax.make("Chain")
    model = env.model
    T, R = np.asarray(model.T), np.asarray(model.R)
    next_state = jnp.asarray(T.argmax(-1), jnp.int32)  # deterministic corridor
    reward = jnp.asarray((T * R).sum(-1), jnp.float32)
    terminal = jnp.asarray(model.terminal)
    S, A = next_state.shape
    cells = jnp.arange(1, S - 1)
    config = MuZeroConfig(num_simulations=num_simulations, gamma=gamma)

    def recurrent_fn(params, key, action, s):
        s_next = next_state[s, action]
        out = mctx.RecurrentFnOutput(
            reward=reward[s, action],
            discount=jnp.where(terminal[s_next], 0.0, gamma),  # a terminal state ends the return
            prior_logits=jnp.zeros((s.shape[0], A)),
            value=jnp.zeros(s.shape[0]),
        )
        return out, s_next

    root = mctx.RootFnOutput(
        prior_logits=jnp.zeros((cells.shape[0], A)), value=jnp.zeros(cells.shape[0]), embedding=cells
    )
    out = gumbel_search(jax.random.PRNGKey(0), (), root, recurrent_fn, config, A, 0.0)
    return np.asarray(out.action)


def test_search_with_the_true_model_goes_right_in_every_cell():
    actions = chain_search_actions(num_simulations=64)
    np.testing.assert_array_equal(actions, np.ones(5, np.int32))  # RIGHT everywhere, LEFT wins ties


def test_search_with_one_simulation_cannot_see_a_distant_reward():
    # sanity of the test above: with no look-ahead the tie goes to LEFT in the far cells
    actions = chain_search_actions(num_simulations=1)
    assert actions[0] == 0


# --- Value transform ---------------------------------------------------------------------------


def test_squash_inverts_and_two_hot_is_exact():
    x = jnp.array([-300.0, -5.0, -0.3, 0.0, 0.7, 1.0, 42.0, 100.0])
    np.testing.assert_allclose(unsquash(squash(x)), x, rtol=1e-4, atol=1e-4)
    weights = scalar_to_two_hot(x[1:], 10)
    np.testing.assert_allclose(weights.sum(-1), 1.0, rtol=1e-6)
    support = np.arange(-10, 11)
    np.testing.assert_allclose(unsquash((np.asarray(weights) * support).sum(-1)), x[1:], rtol=1e-4, atol=1e-4)


# --- Unrolled targets against plain Python ---------------------------------------------------


def python_targets(r, term, trunc, nv, pi, gamma, K, n):
    """The module docstring's targets, written out with loops over one sub-sequence."""
    S = len(r)
    end = next((t for t in range(K) if term[t] or trunc[t]), None)
    value, vw, pw = [], [], []
    for k in range(K + 1):
        if end is None or k <= end:  # in the episode: the n-step return, ended at the first end
            g, disc = 0.0, 1.0
            for i in range(n):
                t = k + i
                g += disc * r[t]
                disc *= gamma
                if term[t]:
                    break
                if trunc[t] or i == n - 1 or t == S - 1:
                    g += disc * nv[t]
                    break
            value.append(g), vw.append(1.0), pw.append(1.0)
        elif term[end]:  # absorbing state after a terminal
            value.append(0.0), vw.append(1.0), pw.append(0.0)
        elif k == end + 1:  # the final observation of a truncated episode: its bootstrap value
            value.append(nv[end]), vw.append(1.0), pw.append(0.0)
        else:  # unknown future of a truncated episode
            value.append(0.0), vw.append(0.0), pw.append(0.0)
    reward, rw = [], []
    for k in range(K):
        if end is None or k <= end:
            reward.append(r[k]), rw.append(1.0)
        elif term[end]:
            reward.append(0.0), rw.append(1.0)
        else:
            reward.append(0.0), rw.append(0.0)
    return value, vw, pi[: K + 1], pw, reward, rw


@pytest.mark.parametrize("K,n", [(3, 1), (4, 3), (5, 10)])
def test_unroll_targets_match_plain_python_for_ragged_episodes(K, n):
    rng = np.random.default_rng(K * 100 + n)
    S, A, gamma = K + n, 3, 0.9
    fn = jax.jit(lambda *a: unroll_targets(*a, gamma, K, n))
    kinds = {"terminated": 0, "truncated": 0, "none": 0}
    for _ in range(60):
        r = rng.normal(size=S).astype(np.float32)
        ends = rng.random(S) < 0.25
        term = ends & (rng.random(S) < 0.5)
        trunc = ends & ~term
        nv = rng.normal(size=S).astype(np.float32)
        pi = rng.dirichlet(np.ones(A), size=S).astype(np.float32)
        got = fn(jnp.asarray(r), jnp.asarray(term), jnp.asarray(trunc), jnp.asarray(nv), jnp.asarray(pi))
        want = python_targets(r, term, trunc, nv, pi, gamma, K, n)
        for name, w in zip(("value", "value_weight", "policy", "policy_weight", "reward", "reward_weight"), want):
            np.testing.assert_allclose(getattr(got, name), np.asarray(w, np.float32), rtol=1e-5, atol=1e-5)
        first = next((t for t in range(K) if ends[t]), None)
        kinds["none" if first is None else ("terminated" if term[first] else "truncated")] += 1
    assert min(kinds.values()) > 0, kinds  # every kind of sub-sequence was checked


def test_unroll_targets_by_hand():
    """K = 3, n = 2: the episode terminates at step 1; then a truncation at step 0."""
    pi = jnp.full((5, 2), 0.5)
    r = jnp.array([1.0, 2.0, 3.0, 4.0, 5.0])
    nv = jnp.array([10.0, 20.0, 30.0, 40.0, 50.0])
    no = jnp.zeros(5, bool)
    t = unroll_targets(r, no.at[1].set(True), no, nv, pi, 0.5, 3, 2)
    np.testing.assert_allclose(t.value, [1.0 + 0.5 * 2.0, 2.0, 0.0, 0.0])  # no bootstrap past the terminal
    np.testing.assert_allclose(t.value_weight, [1, 1, 1, 1])
    np.testing.assert_allclose(t.policy_weight, [1, 1, 0, 0])
    np.testing.assert_allclose(t.reward, [1.0, 2.0, 0.0])
    np.testing.assert_allclose(t.reward_weight, [1, 1, 1])
    t = unroll_targets(r, no, no.at[0].set(True), nv, pi, 0.5, 3, 2)
    np.testing.assert_allclose(t.value[:2], [1.0 + 0.5 * 10.0, 10.0])  # bootstrap from the final obs
    np.testing.assert_allclose(t.value_weight, [1, 1, 0, 0])
    np.testing.assert_allclose(t.policy_weight, [1, 0, 0, 0])
    np.testing.assert_allclose(t.reward_weight, [1, 0, 0])


# --- Bad input -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "override, match",
    [
        ({"num_simulations": 0}, "num_simulations"),
        ({"max_num_considered_actions": 3}, "max_num_considered_actions"),
        ({"max_num_considered_actions": -1}, "max_num_considered_actions"),
        ({"unroll_steps": 0}, "unroll_steps"),
        ({"td_steps": 0}, "td_steps"),
        ({"value_head": "gaussian"}, "value_head"),
        ({"bootstrap": "mc"}, "bootstrap"),
        ({"gamma": 1.5}, "gamma"),
        ({"learning_rate": 0.0}, "learning_rate"),
        ({"torso": "cnn"}, "cnn"),
        ({"buffer_size": 20}, "buffer_size"),
    ],
)
def test_bad_hyperparameters(override, match):
    with pytest.raises(ValueError, match=match):
        build("muzero", "CartPole-v1", overrides=override, total_steps=10)


def test_continuous_actions_are_refused():
    with pytest.raises(ValueError, match="discrete .*action space"):
        build("muzero", "Pendulum-v1", total_steps=10)


def test_registered():
    assert get_agent("muzero") is muzero
    assert "CartPole-v1" in muzero.presets


# --- Batch invariance and one-program sweeps -------------------------------------------------------


def test_seed_alone_equals_seed_in_batch():
    batch, _ = assert_seed_alone_equals_seed_in_batch(
        lambda **kw: train("muzero", "CartPole-v1", **kw),
        seeds=range(4),
        seed=2,
        overrides=TINY,
        total_steps=160,
        eval_episodes=2,
        lane_width=1,
    )
    assert np.isfinite(batch.metrics["loss"][:, -1]).all()  # it learned (past warm-up) in that time


def test_learning_rate_sweep_is_one_program():
    assert_learning_rate_sweep_is_one_program(
        train,
        muzero,
        [1e-3, 1e-2],
        seeds=range(2),
        overrides=TINY,
        env_id="CartPole-v1",
        total_steps=160,
        eval_episodes=2,
        lane_width=1,
    )


# --- Learning: probes ------------------------------------------------------------------------------

PROBE_CONFIG = {
    "num_envs": 4,
    "buffer_size": 2000,
    "batch_size": 32,
    "learning_starts": 64,
    "learning_rate": 3e-3,
    "learning_rate_end_fraction": 0.1,
    "hidden_sizes": (32,),
    "latent_size": 16,
    "num_simulations": 4,
    "unroll_steps": 2,
    "td_steps": 2,
    "train_frequency": 4,
    "gradient_steps": 4,
    "gamma": 0.9,
    "value_coef": 1.0,
    "support_size": 2,  # values in [-1, 1]: squash(1) = 0.415, well inside -2..2
}


@pytest.mark.parametrize("probe", [1, 2, 3, 4, 5])
def test_probes(probe):
    """Each probe: the predicted values f(h(s)) reach the exact V*(s); the search picks the optimal action."""
    env_id = PROBES[probe]
    result = train("muzero", env_id, seeds=[0], overrides=PROBE_CONFIG, total_steps=3_000, eval_episodes=20)
    env, params = rljax.make(env_id)
    n = env.num_nonterminal_states
    config = MuZeroConfig(**PROBE_CONFIG)
    state = run_state(result, 0)
    v = np.asarray(state_value(state, state.params, jnp.arange(n), config))
    np.testing.assert_allclose(v, env.expected_v(0.9), atol=0.05)
    actions = [
        int(muzero.act(jax.random.PRNGKey(0), state, jnp.int32(s), config, Clock.start(1), False).action)
        for s in range(n)
    ]
    np.testing.assert_array_equal(actions, env.optimal_policy)
    if probe != 2:  # probe 2's return is +-1 by the initial draw, whatever the agent does
        np.testing.assert_array_equal(result.final_eval_return, 1.0)


def test_init_shapes_on_discrete_observations():
    env, params = rljax.make("FrozenLake-v1")
    state = init(jax.random.PRNGKey(0), env, params, MuZeroConfig(**TINY))
    assert state.num_obs_categories == 16 and state.num_actions == 4


def test_grid_maze_preset_finds_the_shortest_path_in_every_seed():
    """Discrete observations (one-hot) and a sparse reward: the deterministic search walks the
    maze notes' 6-move shortest path from the start, in every seed of 4."""
    result = train("muzero", "GridMaze", seeds=range(4), eval_episodes=5, lane_width=4)
    env, params = rljax.make("GridMaze")
    config = build("muzero", "GridMaze").configs[0]
    act = jax.jit(lambda st, o: muzero.act(jax.random.PRNGKey(0), st, o, config, Clock.start(1), False).action)
    for seed in range(4):
        state = run_state(result, seed)
        key = jax.random.PRNGKey(0)
        obs, env_state = env.reset(key, params)
        for step in range(1, 7):
            obs, env_state, _, terminated, truncated, _ = env.step(key, env_state, act(state, obs), params)
            if terminated or truncated:
                break
        assert bool(terminated) and step == 6, (seed, step)
    np.testing.assert_array_equal(result.final_eval_return, 1.0)


def test_the_cartpole_preset_anneals_over_its_own_budget_whatever_the_run_length():
    """A 4x run anneals as the preset's run did, then holds learning_rate * end fraction."""
    fields = muzero.presets["CartPole-v1"]
    config = MuZeroConfig(**{k: v for k, v in fields.items() if k != "total_steps"})
    budget = fields["total_steps"]
    assert config.schedule_steps == budget
    for run_length in (budget, 4 * budget):
        clock = Clock.start(run_length)
        at = lambda steps: float(learning_rate_at(config, clock.replace(env_steps=jnp.int32(steps))))  # noqa: E731
        assert at(budget // 2) == pytest.approx(config.learning_rate * 0.55)
        assert at(budget) == pytest.approx(config.learning_rate * 0.1)
        assert at(3 * budget) == pytest.approx(config.learning_rate * 0.1)
    with pytest.raises(rljax.ValidationError, match="schedule_steps must be in"):
        muzero.validate(MuZeroConfig(schedule_steps=-1), *rljax.make("CartPole-v1"))
