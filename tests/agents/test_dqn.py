"""DQN: TD targets, losses, target updates, replay, schedules, validation, probes,
batch invariance, one-program sweeps and a real CartPole run."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from guarantees import (
    PROBES,
    assert_learning_rate_sweep_is_one_program,
    assert_seed_alone_equals_seed_in_batch,
    run_state,
)

import rljax
from rljax.agents.base import Clock, Transition
from rljax.agents.dqn import (
    DQNConfig,
    dqn,
    init,
    learning_rate_at,
    network_input,
    q_values,
    replay_buffer,
    replay_item,
    td_loss,
    td_target,
    update_target,
)
from rljax.agents.exploration import config_epsilon
from rljax.experiment import train


def cartpole_state(config: DQNConfig, seed: int = 0):
    env, params = rljax.make("CartPole-v1")
    return init(jax.random.PRNGKey(seed), env, params, config)


# --- TD target and losses ------------------------------------------------------


def test_td_target_terminal_and_truncated():
    reward = jnp.array([1.0, 1.0, 1.0])
    terminated = jnp.array([True, False, False])  # the third is a truncated (time-limit) step
    bootstrap = jnp.array([5.0, 5.0, 5.0])
    np.testing.assert_allclose(td_target(reward, terminated, 0.9, bootstrap), [1.0, 5.5, 5.5])


def _three_transitions():
    """A terminated, a truncated and an ordinary transition on CartPole."""
    obs = jax.random.normal(jax.random.PRNGKey(1), (3, 4))
    next_obs = jax.random.normal(jax.random.PRNGKey(2), (3, 4))
    return Transition(
        obs=obs,
        action=jnp.array([0, 1, 1], jnp.int32),
        reward=jnp.array([1.0, 2.0, -3.0]),
        next_obs=next_obs,
        terminated=jnp.array([True, False, False]),
        truncated=jnp.array([False, True, False]),
        valid=jnp.ones(3, bool),
    )


@pytest.mark.parametrize("double_dqn", [False, True])
def test_td_loss_bootstraps_truncated_not_terminated(double_dqn):
    config = DQNConfig(loss="mse", gamma=0.9, double_dqn=double_dqn)
    state = cartpole_state(config)
    # a different target network, so DQN and Double DQN bootstraps differ
    state = state.replace(target_params=cartpole_state(config, seed=1).params)
    batch = _three_transitions()
    loss, q_taken = td_loss(state.params, state, batch, config)

    q = np.asarray(q_values(state, state.params, batch.obs, config))
    q_next_target = np.asarray(q_values(state, state.target_params, batch.next_obs, config))
    if double_dqn:
        a_star = np.asarray(q_values(state, state.params, batch.next_obs, config)).argmax(1)
        bootstrap = q_next_target[np.arange(3), a_star]
    else:
        bootstrap = q_next_target.max(1)
    # terminated: no bootstrap; truncated and ordinary: r + gamma * bootstrap
    y = np.array([1.0, 2.0 + 0.9 * bootstrap[1], -3.0 + 0.9 * bootstrap[2]])
    q_sa = q[np.arange(3), [0, 1, 1]]
    np.testing.assert_allclose(q_taken, q_sa, rtol=1e-6)
    np.testing.assert_allclose(loss, np.mean((q_sa - y) ** 2), rtol=1e-5)


def test_huber_loss_matches_its_formula():
    """Quadratic inside |td| <= delta, linear outside; delta is a traced value."""
    state = cartpole_state(DQNConfig())
    batch = _three_transitions()
    batch = batch.replace(reward=jnp.array([0.3, 4.0, -7.0]))  # errors inside and outside delta

    @jax.jit
    def loss_at(delta):
        return td_loss(state.params, state, batch, DQNConfig(huber_delta=delta, gamma=0.0))[0]

    q = np.asarray(q_values(state, state.params, batch.obs, DQNConfig()))[np.arange(3), [0, 1, 1]]
    td = np.abs(q - np.asarray(batch.reward))  # gamma = 0: y = r
    for delta in (0.5, 1.0, 2.0):
        inside = td <= delta
        expected = np.where(inside, 0.5 * td**2, delta * (td - 0.5 * delta)).mean()
        assert inside.any() and (~inside).any()  # both branches of the formula are exercised
        np.testing.assert_allclose(loss_at(delta), expected, rtol=1e-5)


# --- Target network -------------------------------------------------------------


def test_hard_target_update_copies_every_interval():
    online, target = {"w": jnp.array([1.0, 2.0])}, {"w": jnp.array([0.0, 0.0])}
    config = DQNConfig(tau=1.0, target_update_interval=3)
    for step in (1, 2, 4, 5):
        np.testing.assert_array_equal(update_target(online, target, step, config)["w"], [0.0, 0.0])
    for step in (3, 6, 300):
        np.testing.assert_array_equal(update_target(online, target, step, config)["w"], [1.0, 2.0])


def test_soft_target_update_is_polyak_averaging():
    online, target = {"w": jnp.array([1.0, 2.0])}, {"w": jnp.array([0.0, 4.0])}
    config = DQNConfig(tau=0.1, target_update_interval=1)
    np.testing.assert_allclose(update_target(online, target, 7, config)["w"], [0.1, 3.8], rtol=1e-6)
    # with an interval, the blend happens only on multiples of it
    config = DQNConfig(tau=0.1, target_update_interval=2)
    np.testing.assert_array_equal(update_target(online, target, 7, config)["w"], [0.0, 4.0])
    np.testing.assert_allclose(update_target(online, target, 8, config)["w"], [0.1, 3.8], rtol=1e-6)


# --- Replay -------------------------------------------------------------------------


def test_replay_samples_only_filled_slots():
    config = DQNConfig(buffer_size=100, batch_size=64, learning_starts=64, num_envs=5)
    buffer = replay_buffer(config)
    state = cartpole_state(config)
    rewards = jnp.arange(1.0, 6.0)  # five transitions, rewards 1..5, in a 100-slot buffer
    batch = Transition(
        obs=jnp.zeros((1, 5, 4)),
        action=jnp.zeros((1, 5), jnp.int32),
        reward=rewards[None],
        next_obs=jnp.zeros((1, 5, 4)),
        terminated=jnp.zeros((1, 5), bool),
        truncated=jnp.zeros((1, 5), bool),
        valid=jnp.ones((1, 5), bool),
    )
    replay = buffer.add(state.replay, replay_item(batch))
    keys = jax.random.split(jax.random.PRNGKey(0), 200)
    sampled = np.asarray(jax.vmap(lambda k: buffer.sample(replay, k).experience.reward)(keys))
    assert sampled.shape == (200, 64)
    assert set(np.unique(sampled)) == {1.0, 2.0, 3.0, 4.0, 5.0}


def test_replay_keeps_what_the_loss_reads_and_nothing_else():
    # (s, a, r, s', terminated): truncated steps bootstrap like any other, and every
    # DQN transition is valid, so storing those two fields would only cost compile time.
    state = cartpole_state(DQNConfig(buffer_size=100, batch_size=64, learning_starts=64))
    stored = state.replay.experience
    kept = {f.name for f in dataclasses.fields(Transition) if getattr(stored, f.name) is not None}
    assert kept == {"obs", "action", "reward", "next_obs", "terminated"}
    assert stored.obs.shape == (1, 100, 4) and stored.next_obs.shape == (1, 100, 4)


# --- Schedules ----------------------------------------------------------------------


def test_greedy_action_is_the_argmax_without_a_draw_and_exploration_still_breaks_ties():
    config = DQNConfig(hidden_sizes=(32,))
    state = cartpole_state(config)
    obs = jax.random.normal(jax.random.PRNGKey(3), (256, 4))
    q = q_values(state, state.params, obs, config)
    greedy = jax.jit(jax.vmap(lambda k, o: dqn.act(k, state, o, config, Clock.start(1), False)))
    keys = jax.random.split(jax.random.PRNGKey(4), 256)
    np.testing.assert_array_equal(greedy(keys, obs), jnp.argmax(q, axis=1))
    np.testing.assert_array_equal(greedy(keys, obs), greedy(jax.random.split(jax.random.PRNGKey(5), 256), obs))
    # Exploring with epsilon 0 on all-tied Q values (zero weights): the draw still splits the ties.
    zero = state.replace(params=jax.tree.map(jnp.zeros_like, state.params))
    no_epsilon = dataclasses.replace(config, epsilon_start=0.0, epsilon_end=0.0)
    explore = jax.vmap(lambda k: dqn.act(k, zero, obs[0], no_epsilon, Clock.start(1), True))
    assert 0.4 < float(explore(jax.random.split(jax.random.PRNGKey(6), 4000)).mean()) < 0.6


def test_fresh_q_networks_have_no_exact_ties():
    """Why the greedy action may skip the tie-break draw: a float network's Q values do not tie."""
    preset = dqn.presets["CartPole-v1"]
    config = DQNConfig(**{k: v for k, v in preset.items() if k not in ("total_steps", "evaluations")})
    for seed in range(4):
        state = cartpole_state(config, seed)
        obs = jax.random.normal(jax.random.PRNGKey(100 + seed), (100_000, 4))
        q = q_values(state, state.params, obs, config)
        assert int((q[:, 0] == q[:, 1]).sum()) == 0


def test_epsilon_and_learning_rate_schedules():
    config = DQNConfig(
        epsilon_start=1.0,
        epsilon_end=0.05,
        epsilon_decay_fraction=0.5,
        learning_rate=1e-3,
        learning_rate_end_fraction=0.1,
    )
    clock = Clock.start(10_000)
    expected_eps = {0: 1.0, 2_500: 0.525, 5_000: 0.05, 9_000: 0.05}
    for steps, eps in expected_eps.items():
        assert float(config_epsilon(config, clock.replace(env_steps=jnp.int32(steps)))) == pytest.approx(eps)
    expected_lr = {0: 1e-3, 5_000: 0.55e-3, 10_000: 1e-4}
    for steps, lr in expected_lr.items():
        assert float(learning_rate_at(config, clock.replace(env_steps=jnp.int32(steps)))) == pytest.approx(lr)


# --- Validation ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "override,match",
    [
        ({"batch_size": 256, "buffer_size": 128, "learning_starts": 256}, "batch_size"),
        ({"learning_starts": 16, "batch_size": 32}, "learning_starts"),
        ({"learning_rate": 0.0}, "learning_rate"),
        ({"learning_rate": -1e-3}, "learning_rate"),
        ({"tau": 0.0}, "tau"),
        ({"tau": 1.5}, "tau"),
        ({"gamma": -0.1}, "gamma"),
        ({"gamma": 1.01}, "gamma"),
        ({"epsilon_start": 1.5}, "epsilon_start"),
        ({"epsilon_end": -0.1}, "epsilon_end"),
        ({"epsilon_decay_fraction": 0.0}, "epsilon_decay_fraction"),
        ({"epsilon_schedule": "cosine"}, "epsilon_schedule"),
        ({"loss": "l1"}, "loss"),
        ({"torso": "cnn"}, "cnn"),
        ({"num_envs": 64, "train_frequency": 4, "buffer_size": 128}, "buffer_size"),
    ],
)
def test_bad_hyperparameters(override, match):
    with pytest.raises(ValueError, match=match):
        train("dqn", "CartPole-v1", overrides=override, total_steps=10)


def test_continuous_actions_are_refused():
    with pytest.raises(ValueError, match="discrete .*action space"):
        train("dqn", "Pendulum-v1", total_steps=10)


@pytest.mark.parametrize("scale", [(), (1.0, 2.0), (1.0, 1.0, 0.0, 1.0), (-1.0,)])
def test_bad_obs_scale(scale):
    with pytest.raises(ValueError, match="obs_scale"):
        train("dqn", "CartPole-v1", overrides={"obs_scale": scale}, total_steps=10)


# --- Observation scaling and the CartPole preset --------------------------------------


def test_obs_scale_multiplies_the_network_input():
    """obs_scale s gives Q(s * obs) under the same parameters; s = 1 leaves the input untouched."""
    scale = (0.5, 2.0, 4.0, 0.25)
    plain, scaled = DQNConfig(), DQNConfig(obs_scale=scale)
    state = cartpole_state(plain)
    obs = jax.random.normal(jax.random.PRNGKey(3), (5, 4))
    np.testing.assert_allclose(
        q_values(state, state.params, obs, scaled),
        q_values(state, state.params, obs * jnp.asarray(scale), plain),
        rtol=1e-6,
    )
    np.testing.assert_array_equal(network_input(obs, 0, DQNConfig(obs_scale=(1.0,))), obs)
    np.testing.assert_array_equal(network_input(obs, 0, DQNConfig(obs_scale=(2.0,))), obs * 2.0)


def test_cartpole_preset_is_huber():
    """``rljax train dqn --env CartPole-v1`` uses the Huber loss, with a delta at the TD-error scale."""
    config = rljax.build("dqn", "CartPole-v1").configs[0]
    assert config.loss == "huber"
    assert config.huber_delta >= 10.0  # delta 1 caps the terminal transitions' gradients (module docstring)


# --- Probes: exact values ------------------------------------------------------------

PROBE_CONFIG = {
    "num_envs": 4,
    "buffer_size": 2000,
    "batch_size": 32,
    "learning_starts": 64,
    "learning_rate": 3e-3,
    "hidden_sizes": (32,),
    "loss": "mse",
    "gamma": 0.9,
    "epsilon_decay_fraction": 0.3,
}


@pytest.mark.parametrize("probe", [2, 3, 5])
def test_probe_values(probe):
    env_id = PROBES[probe]
    result = train("dqn", env_id, seeds=[0, 1], overrides=PROBE_CONFIG, total_steps=4_000, eval_episodes=20)
    env, _ = rljax.make(env_id)
    n = env.num_nonterminal_states
    config = DQNConfig(**PROBE_CONFIG)
    for run in range(2):
        state = run_state(result, run)
        q = np.asarray(q_values(state, state.params, jnp.arange(n), config))
        np.testing.assert_allclose(q, env.expected_q(0.9), atol=0.03)
        np.testing.assert_array_equal(q.argmax(1), env.optimal_policy)
    if probe != 2:  # probe 2's return is +-1 by the initial draw, whatever the agent does
        np.testing.assert_array_equal(result.final_eval_return, 1.0)


# --- Batch invariance and one-program sweeps -----------------------------------------

TINY = {
    "num_envs": 2,
    "buffer_size": 500,
    "batch_size": 16,
    "learning_starts": 32,
    "hidden_sizes": (16,),
    "target_update_interval": 10,
}


def test_seed_alone_equals_seed_in_batch():
    assert_seed_alone_equals_seed_in_batch(
        lambda **kw: train("dqn", "CartPole-v1", **kw),
        seeds=range(16),
        seed=5,
        overrides=TINY,
        total_steps=1_000,
        eval_episodes=5,
    )


def test_learning_rate_sweep_is_one_program():
    lrs = [1e-4, 3e-4, 1e-3, 3e-3]
    result = assert_learning_rate_sweep_is_one_program(
        train, dqn, lrs, seeds=range(8), overrides=TINY, env_id="CartPole-v1", total_steps=1_000, eval_episodes=5
    )
    recorded = result.metrics["learning_rate"][:, 0]  # the mean over the first segment (annealed)
    np.testing.assert_allclose(recorded[::8] / np.array(lrs), recorded[0] / lrs[0], rtol=1e-5)


def test_schedule_steps_fix_the_schedules_horizon_whatever_the_run_length():
    """A preset's schedules end at its own budget: a longer run holds their final values."""
    config = DQNConfig(
        epsilon_decay_fraction=0.5, learning_rate=1e-3, learning_rate_end_fraction=0.0, schedule_steps=4_000
    )
    for run_length in (4_000, 16_000):
        clock = Clock.start(run_length)
        at = lambda steps: clock.replace(env_steps=jnp.int32(steps))  # noqa: E731
        assert float(learning_rate_at(config, at(2_000))) == pytest.approx(0.5e-3)
        assert float(learning_rate_at(config, at(4_000))) == 0.0
        assert float(learning_rate_at(config, at(12_000))) == 0.0
        assert float(config_epsilon(config, at(1_000))) == pytest.approx(0.525)
        assert float(config_epsilon(config, at(9_000))) == pytest.approx(0.05)
    unset = dataclasses.replace(config, schedule_steps=0)  # the run's length
    assert float(learning_rate_at(unset, Clock.start(16_000).replace(env_steps=jnp.int32(8_000)))) == pytest.approx(
        0.5e-3
    )


# --- Real learning --------------------------------------------------------------------


@pytest.mark.slow
def test_default_config_learns_cartpole():
    """The preset (default config and run length) over 4 seeds, in one lane of 4."""
    result = train("dqn", "CartPole-v1", seeds=range(4), eval_episodes=20, lane_width=4)
    returns = result.final_eval_return
    assert np.mean(returns) >= 350, returns
    # every seed solves CartPole at some evaluation (the final one is what the results page reports)
    assert np.max(result.metrics["eval_return"], axis=1).min() >= 475, result.metrics["eval_return"]
