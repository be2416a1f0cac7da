"""PPO: distributions against scipy, GAE at truncations, configuration errors, probes,
batch invariance, one-program sweeps, resume, and real (small) learning on CartPole-v1
and Pendulum-v1."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.special
import scipy.stats
from guarantees import (
    PROBES,
    assert_learning_rate_sweep_is_one_program,
    assert_resume_equals_uninterrupted,
    assert_seed_alone_equals_seed_in_batch,
    run_state,
)

import rljax
from rljax.agents.base import Clock, Transition
from rljax.agents.distributions import (
    categorical_entropy,
    categorical_log_prob,
    gaussian_entropy,
    gaussian_log_prob,
)
from rljax.agents.ppo import PPOConfig, advantages_and_targets, forward, init, ppo, scaled_rewards, update
from rljax.policies.evaluate_run import evaluate_run
from rljax.training.batch import FAST_COMPILE
from rljax.training.evaluate import evaluate


def train(*args, **kwargs):
    """PPO runs as fast to compile as they can be (short runs), without a progress bar."""
    return rljax.train("ppo", *args, compiler_options=FAST_COMPILE, progress=False, **kwargs)


# --- Distributions -----------------------------------------------------------------------


def test_categorical_log_prob_and_entropy_match_scipy():
    logits = np.asarray(jax.random.normal(jax.random.PRNGKey(0), (5, 4)) * 3.0, np.float64)
    actions = np.array([0, 3, 1, 2, 3])
    probs = scipy.special.softmax(logits, axis=-1)
    expected_lp = [scipy.stats.multinomial(1, p).logpmf(np.eye(4)[a]) for p, a in zip(probs, actions)]
    np.testing.assert_allclose(categorical_log_prob(jnp.asarray(logits), jnp.asarray(actions)), expected_lp, rtol=1e-5)
    np.testing.assert_allclose(categorical_entropy(jnp.asarray(logits)), scipy.stats.entropy(probs, axis=-1), rtol=1e-5)


def test_diagonal_gaussian_log_prob_and_entropy_match_scipy():
    key_m, key_s, key_x = jax.random.split(jax.random.PRNGKey(1), 3)
    mean = np.asarray(jax.random.normal(key_m, (6, 3)), np.float64)
    log_std = np.asarray(jax.random.uniform(key_s, (6, 3), minval=-2.0, maxval=1.0), np.float64)
    x = mean + np.asarray(jax.random.normal(key_x, (6, 3)), np.float64) * 2.0
    for i in range(6):
        dist = scipy.stats.multivariate_normal(mean[i], np.diag(np.exp(2 * log_std[i])))
        np.testing.assert_allclose(gaussian_log_prob(mean[i], log_std[i], x[i]), dist.logpdf(x[i]), rtol=1e-5)
        np.testing.assert_allclose(gaussian_entropy(jnp.asarray(log_std[i])), dist.entropy(), rtol=1e-5)
    batched = gaussian_log_prob(jnp.asarray(mean), jnp.asarray(log_std), jnp.asarray(x))
    assert batched.shape == (6,)


# --- GAE on a hand-made rollout -----------------------------------------------------------


@pytest.mark.parametrize("truncation_as_terminal", [False, True])
def test_a_truncated_step_bootstraps_from_its_final_observation(truncation_as_terminal):
    """Rollout of one env, 4 steps: step 1 is truncated (its next_obs is the final observation,
    not obs[2], the next episode's start), step 2 terminated, step 3 the rollout's last."""
    gamma, lam = 0.9, 0.8
    config = PPOConfig(gamma=gamma, gae_lambda=lam, truncation_as_terminal=truncation_as_terminal)
    env, params = rljax.make("CartPole-v1")
    state = init(jax.random.PRNGKey(0), env, params, config)
    obs = jax.random.normal(jax.random.PRNGKey(1), (4, 1, 4))
    final_obs = jax.random.normal(jax.random.PRNGKey(2), (1, 4))
    after = jax.random.normal(jax.random.PRNGKey(3), (1, 4))
    next_obs = jnp.stack([obs[1], final_obs, jax.random.normal(jax.random.PRNGKey(4), (1, 4)), after])
    _, values = forward(state, state.params, obs, config)
    _, next_values = forward(state, state.params, next_obs, config)
    batch = Transition(
        obs=obs,
        action=jnp.zeros((4, 1), jnp.int32),
        reward=jnp.array([[1.0], [2.0], [3.0], [4.0]]),
        next_obs=next_obs,
        terminated=jnp.array([[False], [False], [True], [False]]),
        truncated=jnp.array([[False], [True], [False], [False]]),
        valid=jnp.ones((4, 1), bool),
        extras={"log_prob": jnp.zeros((4, 1)), "value": values},
    )
    advantages, targets = jax.jit(advantages_and_targets)(state, batch, batch.reward, config)
    v, nv = np.asarray(values[:, 0], np.float64), np.asarray(next_values[:, 0], np.float64)
    a3 = 4.0 + gamma * nv[3] - v[3]  # the last step bootstraps from the observation after the rollout
    a2 = 3.0 - v[2]  # terminated: no bootstrap
    a1 = 2.0 + (0.0 if truncation_as_terminal else gamma * nv[1]) - v[1]  # V(final obs), nothing after
    a0 = 1.0 + gamma * nv[0] - v[0] + gamma * lam * a1
    np.testing.assert_allclose(advantages[:, 0], [a0, a1, a2, a3], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(targets, advantages + values, rtol=1e-6)
    assert not np.isclose(nv[1], v[2])  # the final observation's value is not the next start's


def test_reward_scaling_divides_by_the_running_return_std_step_by_step():
    from rljax.agents.normalize import reward_scaling

    reward = jnp.array([[1.0, -2.0], [0.5, 3.0], [2.0, 1.0]])
    done = jnp.array([[False, True], [False, False], [True, False]])
    scaler = reward_scaling(0.9)
    stats, scaled = scaled_rewards(scaler.init((2,)), reward, done, 0.9)
    s = scaler.init((2,))
    for t in range(3):
        s = scaler.update(s, reward[t], done[t])
        np.testing.assert_allclose(scaled[t], scaler.scale(s, reward[t]), rtol=1e-6)
    np.testing.assert_allclose(stats.return_stats.var, s.return_stats.var)


def test_observation_statistics_take_in_the_rollout_after_the_update_and_acting_leaves_them():
    config = PPOConfig(num_envs=2, rollout_length=4, num_minibatches=2, hidden_sizes=(8,), normalize_obs=True)
    env, params = rljax.make("Pendulum-v1")
    state = init(jax.random.PRNGKey(0), env, params, config)
    obs = jax.random.normal(jax.random.PRNGKey(1), (4, 2, 3)) * 5.0 + 2.0
    out = jax.vmap(jax.vmap(lambda o: ppo.act(jax.random.PRNGKey(2), state, o, config, Clock.start(8), True)))(obs)
    batch = Transition(
        obs=obs,
        action=out.action,
        reward=jnp.ones((4, 2)),
        next_obs=obs,
        terminated=jnp.zeros((4, 2), bool),
        truncated=jnp.zeros((4, 2), bool),
        valid=jnp.ones((4, 2), bool),
        extras=out.extras,
    )
    new_state, metrics = jax.jit(update)(jax.random.PRNGKey(3), state, batch, config, Clock.start(8))
    np.testing.assert_allclose(new_state.obs_stats.mean, obs.reshape(-1, 3).mean(0), rtol=1e-4)
    np.testing.assert_allclose(new_state.obs_stats.count, 8 + 1e-4, rtol=1e-6)
    # the first minibatch's ratio is 1: acting and the update read the same statistics
    assert float(metrics["approx_kl"]) < 1e-3


# --- Configuration errors, before anything is traced -------------------------------------


@pytest.mark.parametrize(
    "env_id,override,match",
    [
        ("CartPole-v1", {"num_minibatches": 3}, r"num_minibatches \(3\) must divide num_envs \* rollout_length"),
        ("CartPole-v1", {"clip_eps": 0.0}, "clip_eps must be > 0"),
        ("CartPole-v1", {"clip_eps": -0.2}, "clip_eps must be > 0"),
        ("CartPole-v1", {"num_epochs": 0}, "num_epochs must be >= 1"),
        ("CartPole-v1", {"num_envs": 0}, "num_envs must be >= 1"),
        ("CartPole-v1", {"rollout_length": 0}, "rollout_length must be >= 1"),
        ("CartPole-v1", {"gamma": 1.5}, "gamma must be in"),
        ("CartPole-v1", {"gae_lambda": -0.1}, "gae_lambda must be in"),
        ("CartPole-v1", {"learning_rate": 0.0}, "learning_rate must be > 0"),
        ("CartPole-v1", {"learning_rate_end_fraction": 2.0}, "learning_rate_end_fraction"),
        ("CartPole-v1", {"entropy_coef": -0.01}, "entropy_coef"),
        ("CartPole-v1", {"hidden_sizes": (0,)}, "hidden_sizes"),
        ("CartPole-v1", {"activation": "gelu"}, "activation must be one of"),
        ("Pendulum-v1", {"action_bounds": "squash"}, "action_bounds must be one of clip, tanh"),
        ("Taxi-v3", {"normalize_obs": True}, "normalize_obs needs Box observations"),
        ("Breakout-MinAtar", {"torso": "mlp"}, "'cnn' reads \\[H, W, C\\] images"),
    ],
)
def test_bad_configurations_are_one_line_errors(env_id, override, match):
    with pytest.raises(ValueError, match=match) as err:
        rljax.build("ppo", env_id, override, total_steps=10)
    assert "\n" not in str(err.value)


def test_static_and_traced_fields():
    leaves = jax.tree_util.tree_flatten_with_path(PPOConfig())[0]
    names = {path[-1].name for path, _ in leaves}
    assert {"learning_rate", "gamma", "gae_lambda", "clip_eps", "entropy_coef", "value_coef"} <= names
    assert not {"num_envs", "rollout_length", "num_epochs", "num_minibatches", "shared_torso"} & names


# --- Probes: exact values and optimal actions -----------------------------------------------

PPO_PROBES = {k: PROBES[k] for k in (2, 3, 5)}
PROBE_CONFIG = {
    "num_envs": 4,
    "rollout_length": 16,
    "num_minibatches": 2,
    "hidden_sizes": (16,),
    "learning_rate": 3e-3,
    "learning_rate_end_fraction": 0.1,
    "gamma": 0.9,
    "entropy_coef": 0.0,
}


@pytest.mark.parametrize("probe", sorted(PPO_PROBES))
def test_probe_values_and_actions(probe):
    env_id = PROBES[probe]
    result = train(env_id, seeds=[0, 1], overrides=PROBE_CONFIG, total_steps=6_400, eval_episodes=20)
    env, _ = rljax.make(env_id)
    obs = jnp.arange(env.num_nonterminal_states)
    config = PPOConfig(**PROBE_CONFIG)
    for run in range(2):
        state = run_state(result, run)
        logits, values = forward(state, state.params, obs, config)
        np.testing.assert_allclose(values, env.expected_v(0.9), atol=0.05)
        np.testing.assert_array_equal(np.argmax(logits, axis=-1), env.optimal_policy)
    if probe != 2:  # probe 2's return is +-1 by the initial draw, whatever the agent does
        np.testing.assert_array_equal(result.final_eval_return, 1.0)


# --- Batch invariance, one-program sweeps, resume ------------------------------------------

TINY = {"num_envs": 2, "rollout_length": 16, "num_minibatches": 2, "num_epochs": 2, "hidden_sizes": (8,)}
TINY_CONTINUOUS = {**TINY, "normalize_obs": True, "scale_rewards": True}


@pytest.mark.parametrize("env_id,overrides", [("CartPole-v1", TINY), ("Pendulum-v1", TINY_CONTINUOUS)])
def test_seed_alone_equals_seed_in_batch(env_id, overrides):
    assert_seed_alone_equals_seed_in_batch(
        lambda **kw: train(env_id, **kw), seeds=range(6), seed=4, overrides=overrides, total_steps=256, eval_episodes=3
    )


def test_learning_rate_sweep_is_one_program():
    lrs = [1e-4, 1e-3, 1e-2]
    result = assert_learning_rate_sweep_is_one_program(
        lambda agent, **kw: rljax.train(agent, "CartPole-v1", compiler_options=FAST_COMPILE, progress=False, **kw),
        ppo,
        lrs,
        seeds=range(2),
        overrides={**TINY, "learning_rate_end_fraction": 1.0},
        total_steps=128,
        eval_episodes=2,
    )
    np.testing.assert_allclose(result.metrics["learning_rate"][::2, 0], lrs, rtol=1e-6)


def test_an_interrupted_and_resumed_run_equals_the_uninterrupted_one(tmp_path, test_compile_cache):
    """Pendulum with every piece of state PPO has (Adam, log-std, observation and reward statistics)."""
    assert_resume_equals_uninterrupted(
        lambda **kw: train("Pendulum-v1", **kw),
        tmp_path / "run",
        ("eval_return", "loss", "action_std"),
        seeds=[0, 3],
        overrides=TINY_CONTINUOUS,
        total_steps=640,
        eval_every=128,
        eval_episodes=2,
    )


# --- Learning ----------------------------------------------------------------------------------


def test_learns_cartpole_at_the_preset():
    """The preset (25.6k steps), 4 seeds in one lane: ~15 s with compilation."""
    result = rljax.train("ppo", "CartPole-v1", seeds=range(4), eval_episodes=20, lane_width=4, progress=False)
    assert (result.final_eval_return >= 475).sum() >= 3, result.final_eval_return


PENDULUM_SMOKE = {
    "num_envs": 8,
    "rollout_length": 64,
    "num_epochs": 10,
    "num_minibatches": 8,
    "hidden_sizes": (32, 32),
    "learning_rate": 3e-3,
    "gamma": 0.95,
    "entropy_coef": 0.0,
    "normalize_obs": True,
    "scale_rewards": True,
}


def test_pendulum_improves_on_the_random_policy_and_loads_as_float_actions_in_the_box(tmp_path):
    """20k steps of 4 seeds: every final greedy return well above uniformly random torques
    (measured: -199 to -491 against -1187); the run folder's policy gives float32 torques in [-2, 2]."""
    env, params = rljax.make("Pendulum-v1")
    space = env.action_space(params)
    random_returns = evaluate(jax.random.PRNGKey(0), env, params, lambda k, o: space.sample(k), 100)
    out = tmp_path / "run"
    result = train(
        "Pendulum-v1", seeds=range(4), overrides=PENDULUM_SMOKE, total_steps=20_480, eval_episodes=20, out=out
    )
    final = result.final_eval_return
    assert final.min() > random_returns.mean() + 400, (final, random_returns.mean())
    assert final.mean() > random_returns.mean() + 600, (final, random_returns.mean())

    policy = rljax.load_policy(out, seed=2)
    observations = jax.vmap(lambda k: env.reset(k, params)[0])(jax.random.split(jax.random.PRNGKey(5), 50))
    actions = np.stack([policy(np.asarray(o)) for o in observations])
    assert actions.dtype == np.float32 and actions.shape == (50, 1)
    assert np.all(actions >= -2.0) and np.all(actions <= 2.0)
    assert np.unique(actions).size > 10  # a state-dependent torque, not one constant
    # deterministic: the Gaussian's mean (clipped to the Box), whatever the key
    np.testing.assert_array_equal(policy(np.asarray(observations[0])), actions[0])
    # rljax evaluate plays float torques in Gymnasium's Pendulum-v1 too, and the two agree
    played = evaluate_run(out, episodes=10, gymnasium=True, num_resamples=100)
    assert played.gymnasium_id == "Pendulum-v1"
    assert sum(abs(s.z()) <= 3 for s in played.seeds) >= 3, [s.z() for s in played.seeds]


def test_past_schedule_steps_the_agent_is_frozen():
    """With schedule_steps S (learning rate annealed to 0 by S), a run of 3S ends with bitwise
    the parameters and observation statistics of a run of S: the steps after S change nothing,
    so a preset stays where its own budget left it."""
    overrides = {**TINY_CONTINUOUS, "schedule_steps": 256, "learning_rate_end_fraction": 0.0}
    one = dict(seeds=[0], eval_episodes=1, lane_width=1)  # one run, not a padded lane of 8
    short = train("Pendulum-v1", overrides=overrides, total_steps=256, **one)
    long = train("Pendulum-v1", overrides=overrides, total_steps=768, **one)
    a, b = run_state(short, 0), run_state(long, 0)
    jax.tree.map(np.testing.assert_array_equal, (a.params, a.obs_stats), (b.params, b.obs_stats))
    # and without the schedule the longer run does change them
    free = train("Pendulum-v1", overrides={**TINY_CONTINUOUS}, total_steps=768, **one)
    assert not np.array_equal(run_state(free, 0).obs_stats.mean, a.obs_stats.mean)
