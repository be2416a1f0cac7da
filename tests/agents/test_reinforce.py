"""REINFORCE: the gradient is the policy gradient, returns-to-go, masking, seeds, errors, learning."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import rljax
from rljax.agents import get_agent
from rljax.agents.base import Clock, Transition
from rljax.agents.reinforce import (
    ReinforceConfig,
    features,
    policy_gradient_loss,
    policy_net,
    reinforce,
    reinforce_loss,
    returns_to_go,
)
from rljax.agents.tabular_pg import TabularPGConfig, TabularPGState, tabular_pg
from rljax.experiment import train
from rljax.training.batch import FAST_COMPILE
from rljax.training.loop import make_loop
from rljax.training.plan import build


def run_state(result, run: int):
    """One run's agent state out of a packed ``[lanes, width, ...]`` final state."""
    return jax.tree.map(lambda x: np.asarray(x).reshape((-1,) + x.shape[2:])[run], result.final_state.agent_state)


# ------------------------------------------------------------ returns-to-go


def reference_returns(rewards, done, valid, gamma):
    """Plain-Python returns-to-go, one column (environment) at a time."""
    T, B = rewards.shape
    out = np.zeros((T, B))
    for b in range(B):
        g = 0.0
        for t in reversed(range(T)):
            if not valid[t, b]:
                g = 0.0
                continue
            g = rewards[t, b] + (0.0 if done[t, b] else gamma * g)
            out[t, b] = g
    return out


def ragged_batch():
    """Four episodes of lengths 3, 6, 1 and 4 in a [6, 4] batch; garbage after the ends."""
    rng = np.random.default_rng(0)
    T, lengths = 6, [3, 6, 1, 4]
    rewards = rng.normal(size=(T, 4)).astype(np.float32)
    done = rng.random((T, 4)) < 0.3  # garbage done flags after the ends ...
    valid = np.zeros((T, 4), bool)
    for b, n in enumerate(lengths):
        valid[:n, b] = True
        done[:n, b] = False
        done[n - 1, b] = True  # ... and exactly one end inside each episode
    return rewards, done, valid


@pytest.mark.parametrize("gamma", [0.0, 1.0, 0.9])
def test_returns_to_go_ragged_episodes(gamma):
    rewards, done, valid = ragged_batch()
    got = np.asarray(returns_to_go(rewards, done, valid, gamma))
    np.testing.assert_allclose(got, reference_returns(rewards, done, valid, gamma), rtol=1e-6, atol=1e-6)
    assert np.all(got[~valid] == 0.0)
    if gamma == 0.0:
        np.testing.assert_allclose(got[valid], rewards[valid])


def test_returns_to_go_restarts_at_every_episode_end():
    # Without a valid mask a column may hold several episodes: sums never cross an end.
    rewards = np.array([[1.0], [2.0], [3.0], [4.0], [5.0]], np.float32)
    done = np.array([[False], [True], [False], [False], [True]])
    got = np.asarray(returns_to_go(rewards, done, None, 0.5))[:, 0]
    np.testing.assert_allclose(got, [1 + 0.5 * 2, 2, 3 + 0.5 * 4 + 0.25 * 5, 4 + 0.5 * 5, 5])


# ------------------------------------------------------------ the gradient


# Two non-terminal states (0, 1), two actions, and an absorbing exit (state 2) that
# every (s, a) reaches with probability >= 0.3, so episodes end almost surely.
GRAD_T = np.array(
    [
        [[0.5, 0.2, 0.3], [0.1, 0.5, 0.4]],
        [[0.6, 0.1, 0.3], [0.2, 0.3, 0.5]],
        [[0.0, 0.0, 1.0], [0.0, 0.0, 1.0]],
    ]
)
GRAD_R = np.array(
    [
        [[1.0, 0.0, 2.0], [0.0, 3.0, -1.0]],
        [[-1.0, 0.5, 0.0], [2.0, 0.0, 1.0]],
        [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]],
    ]
)
GRAD_INITIAL = np.array([0.7, 0.3, 0.0])


def exact_objective(theta):
    """J(theta) = initial @ V_pi, with V_pi from a linear solve (undiscounted, episodic)."""
    pi = jax.nn.softmax(theta, axis=-1)  # [2, A] policy of the non-terminal states
    T, R = jnp.asarray(GRAD_T[:2], jnp.float32), jnp.asarray(GRAD_R[:2], jnp.float32)
    r_pi = jnp.einsum("sa,sat,sat->s", pi, T, R)
    P_pi = jnp.einsum("sa,sat->st", pi, T)[:, :2]  # transitions among non-terminal states
    V = jnp.linalg.solve(jnp.eye(2) - P_pi, r_pi)
    return jnp.asarray(GRAD_INITIAL[:2], jnp.float32) @ V


def test_gradient_matches_exact_policy_gradient():
    """Mean of the REINFORCE estimate over many sampled episodes == d J / d theta.

    The episodes are sampled by the real training loop (its rollout, with the tabular
    softmax policy of ``tabular_pg``), and each episode's estimate is minus the
    gradient of REINFORCE's own loss (``normalize="none"``, no baseline,
    ``loss_average="episodes"``, gamma = 1: the unbiased estimator).
    """
    terminal = np.array([False, False, True])
    env, params = rljax.make(
        "TabularMDP", T=GRAD_T, R=GRAD_R, initial=GRAD_INITIAL, terminal=terminal, max_steps_in_episode=60
    )
    theta = jnp.array([[0.3, -0.2], [-0.5, 0.4], [0.0, 0.0]], jnp.float32)
    num_episodes = 100_000
    cfg = TabularPGConfig(num_envs=num_episodes)
    loop = make_loop(env, params, tabular_pg, cfg, total_steps=1)
    state = loop.init(jax.random.PRNGKey(0), cfg).replace(agent_state=TabularPGState(theta))
    _, batch, _ = jax.jit(loop._rollout)(state, cfg)
    assert bool(jnp.all(jnp.any(batch.done & batch.valid, axis=0)))  # every episode ended

    def episode_gradient(column: Transition) -> jax.Array:
        def loss(th):
            log_probs = jax.nn.log_softmax(th)[column.obs, column.action]
            return policy_gradient_loss(log_probs, column, 1.0, "none", "episodes")[0]

        return -jax.grad(loss)(theta)[:2]

    columns = jax.tree.map(lambda x: jnp.moveaxis(x, 1, 0)[:, :, None], batch)  # [N, K, 1]
    grads = np.asarray(jax.jit(jax.vmap(episode_gradient))(columns)).reshape(num_episodes, -1)
    mean = grads.mean(0)
    se = grads.std(0, ddof=1) / np.sqrt(num_episodes)
    exact = np.asarray(jax.grad(exact_objective)(theta[:2])).reshape(-1)
    assert np.all(np.abs(exact) > 5 * se), (exact, se)  # the test can tell a wrong gradient apart
    np.testing.assert_array_less(np.abs(mean - exact), 3 * se)


# ------------------------------------------------------------ masking


def cartpole_batch_and_state(config: ReinforceConfig):
    env, params = rljax.make("CartPole-v1")
    state = reinforce.init(jax.random.PRNGKey(1), env, params, config)
    K, B = 12, 3
    rng = np.random.default_rng(1)
    ends = [4, 11, 7]
    valid = np.zeros((K, B), bool)
    done = np.zeros((K, B), bool)
    for b, n in enumerate(ends):
        valid[: n + 1, b] = True
        done[n, b] = True
    batch = Transition(
        obs=jnp.asarray(rng.normal(size=(K, B, 4)), jnp.float32),
        action=jnp.asarray(rng.integers(0, 2, (K, B)), jnp.int32),
        reward=jnp.ones((K, B), jnp.float32),
        next_obs=jnp.asarray(rng.normal(size=(K, B, 4)), jnp.float32),
        terminated=jnp.asarray(done),
        truncated=jnp.zeros((K, B), bool),
        valid=jnp.asarray(valid),
    )
    garbage = batch.replace(
        obs=jnp.where(batch.valid[..., None], batch.obs, 100.0 * jnp.asarray(rng.normal(size=(K, B, 4)), jnp.float32)),
        action=jnp.where(batch.valid, batch.action, 1 - batch.action),
        reward=jnp.where(batch.valid, batch.reward, 1e3),
        terminated=jnp.where(batch.valid, batch.terminated, jnp.asarray(rng.random((K, B)) < 0.5)),
        truncated=jnp.where(batch.valid, batch.truncated, True),
    )
    return state, batch, garbage


@pytest.mark.parametrize("normalize", ["none", "episode", "batch"])
@pytest.mark.parametrize("loss_average", ["steps", "episodes"])
def test_steps_after_the_end_do_not_change_the_loss(normalize, loss_average):
    config = ReinforceConfig(hidden_sizes=(16,), normalize=normalize, loss_average=loss_average, entropy_coef=0.01)
    state, batch, garbage = cartpole_batch_and_state(config)
    (loss, _), grads = jax.value_and_grad(reinforce_loss, has_aux=True)(state.params, state, batch, config)
    (loss_g, _), grads_g = jax.value_and_grad(reinforce_loss, has_aux=True)(state.params, state, garbage, config)
    np.testing.assert_allclose(loss_g, loss, rtol=1e-6)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7), grads_g, grads)
    # and the update (Adam step included) is the same
    clock = Clock.start(10_000)
    new, _ = reinforce.update(jax.random.PRNGKey(0), state, batch, config, clock)
    new_g, _ = reinforce.update(jax.random.PRNGKey(0), state, garbage, config, clock)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7), new_g.params, new.params)


def test_loss_is_the_mean_over_valid_steps():
    config = ReinforceConfig(hidden_sizes=(16,), normalize="none", baseline=False)
    state, batch, _ = cartpole_batch_and_state(config)
    loss, _ = reinforce_loss(state.params, state, batch, config)
    log_pi = jax.nn.log_softmax(policy_net(config, 2).apply(state.params["policy"], features(batch.obs, 0)))
    log_probs = np.take_along_axis(np.asarray(log_pi), np.asarray(batch.action)[..., None], -1)[..., 0]
    G = reference_returns(np.asarray(batch.reward), np.asarray(batch.done), np.asarray(batch.valid), 0.99)
    valid = np.asarray(batch.valid)
    expected = -np.sum((log_probs * G)[valid]) / valid.sum()
    np.testing.assert_allclose(loss, expected, rtol=1e-5)


# ------------------------------------------------------------ seeds and traced hyperparameters


def test_seed_alone_equals_seed_in_batch():
    kwargs = dict(
        overrides={"hidden_sizes": (8,), "num_envs": 2},
        env_kwargs={"max_steps_in_episode": 20},
        total_steps=800,
        eval_every=400,
        eval_episodes=5,
        compiler_options=FAST_COMPILE,  # same options for both runs: a short run compiles faster
    )
    batch = train("reinforce", "GridMaze", seeds=range(16), **kwargs)
    alone = train("reinforce", "GridMaze", seeds=[2], **kwargs)
    jax.tree.map(np.testing.assert_array_equal, run_state(alone, 0).params, run_state(batch, 2).params)
    np.testing.assert_array_equal(alone.metrics["eval_return"][0], batch.metrics["eval_return"][2])
    # different seeds are different runs (initialisation differs)
    a, b = run_state(batch, 2).params["policy"], run_state(batch, 3).params["policy"]
    assert not all(jax.tree.leaves(jax.tree.map(np.array_equal, a, b)))


def test_learning_rate_gamma_and_entropy_are_traced():
    leaves = jax.tree_util.tree_flatten_with_path(ReinforceConfig())[0]
    names = {path[-1].name for path, _ in leaves}
    assert {"learning_rate", "gamma", "entropy_coef", "value_coef", "max_grad_norm"} <= names
    assert not {"num_envs", "hidden_sizes", "normalize"} & names


# ------------------------------------------------------------ errors


@pytest.mark.parametrize(
    "override,match",
    [
        ({"num_envs": 0}, "num_envs"),
        ({"gamma": 1.5}, "gamma"),
        ({"gamma": -0.1}, "gamma"),
        ({"learning_rate": 0.0}, "learning_rate"),
        ({"learning_rate": -1e-3}, "learning_rate"),
        ({"normalize": "z"}, "normalize"),
        ({"loss_average": "sum"}, "loss_average"),
        ({"entropy_coef": -0.1}, "entropy_coef"),
        ({"hidden_sizes": (0,)}, "hidden_sizes"),
    ],
)
def test_bad_hyperparameters(override, match):
    with pytest.raises(ValueError, match=match):
        build("reinforce", "CartPole-v1", override, total_steps=10)


def test_continuous_actions_are_rejected():
    with pytest.raises(ValueError, match="discrete action space"):
        build("reinforce", "Pendulum-v1", total_steps=10)


def test_registered_and_episodic():
    agent = get_agent("reinforce")
    assert agent is reinforce and agent.episodic
    env, params = rljax.make("CartPole-v1")
    assert agent.rollout_length(ReinforceConfig(), params) == 500


# ------------------------------------------------------------ learning


@pytest.mark.parametrize("env_id", ["Probe-ActionDependentReward", "Probe-ActionObsDependentReward"])
def test_probes_pick_the_optimal_action(env_id):
    result = train(
        "reinforce",
        env_id,
        seeds=range(4),
        env_kwargs={"max_steps_in_episode": 1},
        overrides={"hidden_sizes": (16,)},
        total_steps=4_000,
        eval_every=4_000,
        eval_episodes=20,
        lane_width=4,
        compiler_options=FAST_COMPILE,
    )
    env, params = rljax.make(env_id, max_steps_in_episode=1)
    obs = jnp.arange(env.num_nonterminal_states)
    for run in range(4):
        state = run_state(result, run)
        config = ReinforceConfig(hidden_sizes=(16,))
        actions = jax.vmap(lambda o: reinforce.act(jax.random.PRNGKey(0), state, o, config, Clock.start(1), False))(obs)
        np.testing.assert_array_equal(actions, env.optimal_policy)
    np.testing.assert_array_equal(result.final_eval_return, 1.0)


@pytest.mark.slow
def test_learns_cartpole_default_config():
    """Default config, 4 seeds, 400k computed steps (100 updates of 8 episodes)."""
    result = train(
        "reinforce",
        "CartPole-v1",
        seeds=range(4),
        total_steps=400_000,
        eval_every=200_000,
        eval_episodes=20,
        lane_width=4,
    )
    final = result.final_eval_return
    assert np.median(final) >= 450, final
    assert final.min() >= 300, final


def test_each_seed_reports_its_own_env_steps_and_the_report_aligns_evaluations(tmp_path):
    # An episodic agent's seeds take different numbers of env steps per update.
    import csv
    import json

    from rljax.runs.readers import load_runs

    out = tmp_path / "run"
    train(
        "reinforce",
        "CartPole-v1",
        seeds=[0, 1, 2],
        overrides={"hidden_sizes": (8,), "num_envs": 2},
        total_steps=6_000,
        eval_every=2_000,
        eval_episodes=3,
        progress=False,
        compiler_options=FAST_COMPILE,
        out=out,
    )
    summary = json.loads((out / "summary.json").read_text())
    rows = [r for r in csv.DictReader((out / "metrics.csv").open()) if r["metric"] == "eval_return"]
    last = {s: max(int(r["step"]) for r in rows if r["seed"] == str(s)) for s in (0, 1, 2)}
    assert summary["env_steps"] == [last[0], last[1], last[2]]
    assert len(set(summary["env_steps"])) > 1  # really different: the bug was seed 0's count for all
    assert summary["env_steps_per_seed"] == 6_000 and max(summary["env_steps"]) < 6_000  # 500 slots per episode
    (run,) = load_runs([out])
    curves = run.curves
    assert curves.returns.shape == (3, 3) and np.isfinite(curves.returns).all()  # every evaluation, every seed
    np.testing.assert_array_equal(curves.per_seed_steps[:, -1], summary["env_steps"])
    np.testing.assert_array_equal(curves.steps, np.median(curves.per_seed_steps, axis=0).astype(int))
