"""SAC: the squashed Gaussian's log-probability, the soft TD target at terminations and
truncations, action units, warm-up, configuration errors, batch invariance, one-program
sweeps, resume, loading a policy, and real (small) learning on Pendulum-v1."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from guarantees import (
    assert_learning_rate_sweep_is_one_program,
    assert_resume_equals_uninterrupted,
    assert_seed_alone_equals_seed_in_batch,
    run_state,
)

import rljax
from rljax.agents.base import Clock, Transition
from rljax.agents.distributions import squashed_gaussian_log_prob, squashed_gaussian_sample, tanh_log_det_jacobian
from rljax.agents.sac import SACConfig, critic_targets, from_box, init, policy, q_values, sac, to_box
from rljax.cli import main
from rljax.training.batch import FAST_COMPILE
from rljax.training.evaluate import evaluate


def train(*args, **kwargs):
    """SAC runs as fast to compile as they can be (short runs), without a progress bar."""
    return rljax.train("sac", *args, compiler_options=FAST_COMPILE, progress=False, **kwargs)


def pendulum_state(config: SACConfig, seed: int = 0):
    env, params = rljax.make("Pendulum-v1")
    return init(jax.random.PRNGKey(seed), env, params, config)


TINY = {"hidden_sizes": (16,), "batch_size": 16, "buffer_size": 500, "learning_starts": 64, "num_envs": 2}


# --- The tanh-squashed Gaussian --------------------------------------------------------------


def test_squashed_log_prob_is_the_change_of_variables_of_a_numpy_formula():
    """log pi(tanh(u)) = log N(u) - sum log(1 - tanh(u)^2), written in plain numpy, at moderate and
    large |u| (where 1 - tanh^2 underflows in float32 but the stable form does not)."""
    rng = np.random.default_rng(0)
    mean = rng.normal(size=(50, 3))
    log_std = rng.uniform(-1.5, 0.5, size=(50, 3))
    u = mean + np.exp(log_std) * rng.normal(size=(50, 3))
    gauss = -0.5 * ((u - mean) / np.exp(log_std)) ** 2 - log_std - 0.5 * np.log(2 * np.pi)
    expected = np.sum(gauss - np.log(1.0 - np.tanh(u) ** 2), axis=-1)
    got = squashed_gaussian_log_prob(jnp.float32(mean), jnp.float32(log_std), jnp.float32(u))
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)
    # Far in the tails: float64's log(1 - tanh^2) against the float32 stable form.
    big = np.array([[-12.0, 0.5, 15.0]])
    np.testing.assert_allclose(
        tanh_log_det_jacobian(jnp.float32(big)),
        np.sum(np.log(4.0) - 2 * np.abs(big) - 2 * np.log1p(np.exp(-2 * np.abs(big)))),
        rtol=1e-5,
    )
    assert np.all(np.isfinite(tanh_log_det_jacobian(jnp.float32(big))))


def test_squashed_density_matches_a_histogram_of_samples():
    """One dimension: exp(log pi(a)) against the histogram of a = tanh(u) over 400k draws, and it integrates to 1."""
    mean, log_std = jnp.float32([0.7]), jnp.float32([math.log(0.8)])
    keys = jax.random.split(jax.random.PRNGKey(0), 400_000)
    actions, log_probs = jax.vmap(lambda k: squashed_gaussian_sample(k, mean, log_std))(keys)
    counts, edges = np.histogram(np.asarray(actions[:, 0]), bins=40, range=(-0.95, 0.95))
    centres = (edges[:-1] + edges[1:]) / 2
    u = jnp.arctanh(jnp.float32(centres))[:, None]
    density = np.exp(np.asarray(squashed_gaussian_log_prob(mean, log_std, u)))
    empirical = counts / (len(keys) * (edges[1] - edges[0]))
    np.testing.assert_allclose(empirical, density, rtol=0.06, atol=0.01)
    grid = np.linspace(-1 + 1e-6, 1 - 1e-6, 200_001)
    pdf = np.exp(np.asarray(squashed_gaussian_log_prob(mean, log_std, jnp.arctanh(jnp.float32(grid))[:, None])))
    assert abs(np.trapezoid(pdf, grid) - 1.0) < 1e-3
    # the sampler's log-probability is the density of the action it returned
    np.testing.assert_allclose(
        log_probs[:100], squashed_gaussian_log_prob(mean, log_std, jnp.arctanh(actions[:100])), rtol=1e-3, atol=1e-3
    )


# --- The soft TD target ---------------------------------------------------------------------


def test_target_stops_at_terminations_and_bootstraps_truncations():
    """y = r + gamma (1 - terminated) (min_i Q_target_i(s', a') - alpha log pi(a'|s')), against a
    plain-Python loop that draws a' with the same key."""
    config = SACConfig(hidden_sizes=(16,), gamma=0.9)
    state = pendulum_state(config)
    state = state.replace(target_critic_params=pendulum_state(config, seed=1).critic_params)
    obs = jax.random.normal(jax.random.PRNGKey(1), (3, 3))
    batch = Transition(
        obs=obs,
        action=jnp.float32([[0.5], [-1.0], [2.0]]),
        reward=jnp.float32([1.0, 2.0, -3.0]),
        next_obs=jax.random.normal(jax.random.PRNGKey(2), (3, 3)),
        terminated=jnp.array([True, False, False]),
        truncated=jnp.array([False, True, False]),  # the time limit: not a terminal state
        valid=jnp.ones(3, bool),
    )
    key, alpha = jax.random.PRNGKey(3), jnp.float32(0.3)
    got = np.asarray(critic_targets(state, batch, key, alpha, config))

    mean, log_std = policy(state, state.actor_params, batch.next_obs, config)
    next_action, next_log_prob = squashed_gaussian_sample(key, mean, log_std)
    q_next = np.asarray(q_values(state, state.target_critic_params, batch.next_obs, next_action, config))
    expected = []
    for i in range(3):
        soft_value = min(q_next[0, i], q_next[1, i]) - 0.3 * float(next_log_prob[i])
        bootstrap = 0.0 if bool(batch.terminated[i]) else 0.9 * soft_value
        expected.append(float(batch.reward[i]) + bootstrap)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    assert got[0] == 1.0 and got[1] != 2.0  # terminated: the reward alone; truncated: bootstrapped


def test_twin_critics_are_two_networks():
    state = pendulum_state(SACConfig(hidden_sizes=(16,)))
    q = q_values(state, state.critic_params, jnp.ones((5, 3)), jnp.zeros((5, 1)), SACConfig(hidden_sizes=(16,)))
    assert q.shape == (2, 5) and not np.allclose(q[0], q[1])


# --- Action units, warm-up, evaluation --------------------------------------------------------


def test_actions_are_rescaled_to_the_box_and_back():
    state = pendulum_state(SACConfig(hidden_sizes=(16,)))  # Pendulum: torque in [-2, 2]
    np.testing.assert_allclose(to_box(state, jnp.float32([-1.0, 0.0, 0.5, 1.0])), [-2.0, 0.0, 1.0, 2.0])
    a = jnp.float32([-0.9, 0.1, 0.99])
    np.testing.assert_allclose(from_box(state, to_box(state, a)), a, rtol=1e-6)


def test_warm_up_is_uniform_then_the_policy_and_evaluation_is_tanh_of_the_mean():
    config = SACConfig(hidden_sizes=(16,), learning_starts=1_000)
    state = pendulum_state(config)
    obs = jnp.float32([1.0, 0.0, 0.0])
    keys = jax.random.split(jax.random.PRNGKey(4), 20_000)
    clock = Clock.start(10_000)
    acting = jax.jit(jax.vmap(lambda k, c: sac.act(k, state, obs, config, c, True), in_axes=(0, None)))
    warm = np.asarray(acting(keys, clock.replace(env_steps=jnp.int32(999))))[:, 0]
    assert warm.dtype == np.float32 and warm.min() >= -2.0 and warm.max() <= 2.0
    np.testing.assert_allclose(np.histogram(warm, bins=4, range=(-2, 2))[0] / len(warm), 0.25, atol=0.02)
    learned = np.asarray(acting(keys, clock.replace(env_steps=jnp.int32(1_000))))[:, 0]
    mean, log_std = policy(state, state.actor_params, obs, config)
    # a fresh actor's squashed Gaussian: mean of tanh(u) near tanh(mu) for a small sigma, never uniform
    assert abs(np.std(learned) - np.std(warm)) > 0.1 or abs(np.mean(learned) - np.mean(warm)) > 0.1
    greedy = sac.act(keys[0], state, obs, config, clock, False)
    np.testing.assert_allclose(greedy, 2.0 * np.tanh(np.asarray(mean)), rtol=1e-6)
    np.testing.assert_array_equal(greedy, sac.act(keys[1], state, obs, config, clock, False))  # no draw
    assert np.all(np.asarray(log_std) >= -20) and np.all(np.asarray(log_std) <= 2)


# --- Configuration errors ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "env_id,override,message",
    [
        ("CartPole-v1", {}, "sac needs a continuous (Box) action space"),
        ("Pendulum-v1", {"tau": 0.0}, "tau must be in (0.0, 1.0]"),
        ("Pendulum-v1", {"tau": 1.5}, "tau must be in (0.0, 1.0]"),
        ("Pendulum-v1", {"batch_size": 512, "buffer_size": 256}, "batch_size (512) must be <= buffer_size (256)"),
        ("Pendulum-v1", {"learning_rate": 0.0}, "learning_rate must be > 0"),
        ("Pendulum-v1", {"gamma": 1.5}, "gamma must be in"),
        ("Pendulum-v1", {"initial_alpha": 0.0}, "initial_alpha must be > 0"),
        ("Pendulum-v1", {"gradient_steps": 0}, "gradient_steps must be >= 1"),
        ("Pendulum-v1", {"hidden_sizes": (0,)}, "hidden_sizes"),
        ("Pendulum-v1", {"num_envs": 64, "train_frequency": 4, "buffer_size": 128, "batch_size": 64}, "buffer_size"),
        ("Pendulum-v1", {"obs_scale": (1.0, 2.0)}, "obs_scale"),
    ],
)
def test_bad_settings_are_refused_before_tracing(env_id, override, message):
    with pytest.raises(ValueError, match=None) as err:
        train(env_id, overrides=override, total_steps=10)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_bad_settings_at_the_command_line_are_one_line_and_exit_2(tmp_path, capsys):
    for argv, words in [
        (["--env", "CartPole-v1"], "continuous (Box) action space"),
        (["--env", "Pendulum-v1", "--set", "tau=0"], "tau"),
        (["--env", "Pendulum-v1", "--set", "batch_size=64", "--set", "buffer_size=32"], "batch_size"),
    ]:
        rc = main(["train", "sac", *argv, "--total-steps", "100", "--no-progress", "--out", str(tmp_path / "out")])
        lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
        assert rc == 2 and len(lines) == 1 and words in lines[0], lines
        assert not (tmp_path / "out").exists()


# --- Batch invariance, one-program sweeps, resume, loading -----------------------------------


def test_seed_alone_equals_seed_in_batch():
    assert_seed_alone_equals_seed_in_batch(
        train,
        seeds=range(6),
        seed=4,
        metrics=("eval_return", "critic_loss", "alpha"),
        env_id="Pendulum-v1",
        overrides=TINY,
        total_steps=200,
        eval_episodes=2,
    )


def test_learning_rate_sweep_is_one_program():
    result = assert_learning_rate_sweep_is_one_program(
        rljax.train,
        sac,
        [1e-4, 1e-3, 1e-2],
        seeds=range(2),
        overrides=TINY,
        env_id="Pendulum-v1",
        total_steps=200,
        eval_episodes=2,
        compiler_options=FAST_COMPILE,
        progress=False,
    )
    assert result.metrics["critic_loss"].shape[0] == 6


def test_an_interrupted_and_resumed_run_equals_the_uninterrupted_one(tmp_path, test_compile_cache):
    assert_resume_equals_uninterrupted(
        lambda **kw: train("Pendulum-v1", **kw),
        tmp_path / "run",
        ("eval_return", "critic_loss", "actor_loss", "alpha"),
        seeds=[0, 3],
        overrides=TINY,
        total_steps=600,
        eval_every=100,
        eval_episodes=2,
    )


# --- Learning, and the trained policy --------------------------------------------------------

PENDULUM_SMOKE = {
    "hidden_sizes": (64, 64),
    "batch_size": 64,
    "learning_starts": 500,
    "learning_rate": 3e-3,
    "train_frequency": 8,
    "gradient_steps": 8,
}


def test_pendulum_beats_the_random_policy_and_loads_as_float_actions_in_the_box(tmp_path):
    """4k steps of 2 seeds: well above uniformly random torques (-1187 over 100 episodes);
    the run folder's policy gives float32 torques in [-2, 2], deterministically."""
    env, params = rljax.make("Pendulum-v1")
    space = env.action_space(params)
    random_returns = evaluate(jax.random.PRNGKey(0), env, params, lambda k, o: space.sample(k), 100)
    out = tmp_path / "run"
    result = train("Pendulum-v1", seeds=[0, 1], overrides=PENDULUM_SMOKE, total_steps=4_000, eval_episodes=10, out=out)
    final = result.final_eval_return
    assert final.min() > random_returns.mean() + 300, (final, random_returns.mean())

    policy_fn = rljax.load_policy(out, seed=1)
    observations = jax.vmap(lambda k: env.reset(k, params)[0])(jax.random.split(jax.random.PRNGKey(5), 50))
    actions = np.stack([policy_fn(np.asarray(o)) for o in observations])
    assert actions.dtype == np.float32 and actions.shape == (50, 1)
    assert np.all(actions >= -2.0) and np.all(actions <= 2.0)
    assert np.unique(actions).size > 10  # a state-dependent torque, not one constant
    np.testing.assert_array_equal(policy_fn(np.asarray(observations[0])), actions[0])
    state = run_state(result, 1)
    mean, _ = policy(state, state.actor_params, observations, SACConfig(**PENDULUM_SMOKE))
    np.testing.assert_allclose(actions, 2.0 * np.tanh(np.asarray(mean)), rtol=1e-5, atol=1e-6)
