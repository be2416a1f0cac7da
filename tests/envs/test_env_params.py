"""Environment parameters as options (:mod:`rljax.envs.params`): every gymnax-backed environment
takes its ``EnvParams`` fields through ``rljax.make``, they change the dynamics, and bad values
are one-line ``ValueError``s before anything is traced."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import rljax
from rljax.envs.params import untraceable_fields


def _step_from_same_state(env_id: str, action: int = 0, steps: int = 3, **options) -> np.ndarray:
    """The observation after ``steps`` steps from the same reset, with ``options`` set."""
    env, params = rljax.make(env_id, **options)
    _, default = rljax.make(env_id)
    key = jax.random.PRNGKey(3)
    _, state = env.reset(key, default)  # the same start state whatever the options
    for _ in range(steps):
        obs, state, *_ = env.step(key, state, jnp.asarray(action, env.action_space(params).dtype), params)
    return np.asarray(obs)


@pytest.mark.parametrize(
    "env_id,options,action",
    [
        ("CartPole-v1", {"gravity": 15.0}, 0),
        ("CartPole-v0", {"force_mag": 5.0}, 0),
        ("CartPoleNoVel-v1", {"length": 1.0}, 1),
        ("Acrobot-v1", {"link_mass_1": 1.5}, 2),
        ("Pendulum-v1", {"g": 5.0}, 0),
        ("MountainCar-v0", {"force": 0.004}, 2),
    ],
)
def test_an_env_param_option_changes_the_next_observation_from_the_same_state(env_id, options, action):
    _, params = rljax.make(env_id, **options)
    for name, value in options.items():
        assert getattr(params, name) == value
    changed = _step_from_same_state(env_id, action, **options)
    default = _step_from_same_state(env_id, action)
    assert not np.array_equal(changed, default)


def test_options_work_for_minatar_and_next_to_constructor_options_and_discretize():
    _, params = rljax.make("Breakout-MinAtar", use_minimal_action_set=False, max_steps_in_episode=50)
    assert params.max_steps_in_episode == 50
    env, params = rljax.make("CartPole-v1", discretize="uniform6", gravity=11.0)
    assert params.gravity == 11.0 and env.observation_space(params).n == 6**4
    _, params = rljax.make("Taxi-v3", max_steps_in_episode=50)  # Taxi's own factory option
    assert params.max_steps_in_episode == 50


def test_an_integer_for_a_float_field_is_a_float_and_derived_fields_follow():
    _, params = rljax.make("CartPole-v1", gravity=12, masspole=0.5)
    assert params.gravity == 12.0 and isinstance(params.gravity, float)
    assert params.total_mass == pytest.approx(1.5) and params.polemass_length == pytest.approx(0.25)
    _, params = rljax.make("CartPole-v1", masspole=0.5, total_mass=2.0)  # given explicitly: kept
    assert params.total_mass == 2.0


def test_max_steps_in_episode_is_the_time_limit_and_drops_the_solved_threshold():
    env, params = rljax.make("CartPole-v1", max_steps_in_episode=7)
    key = jax.random.PRNGKey(0)
    _, state = env.reset(key, params)
    truncated = []
    for _ in range(7):
        _, state, _, terminated, trunc, _ = env.step(key, state, 1 - state.time % 2, params)
        truncated.append(bool(trunc))
    assert truncated == [False] * 6 + [True]
    assert rljax.envs.solved_at("CartPole-v1") == 475.0
    assert rljax.envs.solved_at("CartPole-v1", {"max_steps_in_episode": 200}) is None
    assert rljax.envs.solved_at("CartPole-v1", {"gravity": 12.0}) == 475.0


@pytest.mark.parametrize(
    "env_id,options,message",
    [
        ("CartPole-v1", {"grav": 1.0}, "unknown option(s) 'grav' for CartPole-v1; its options: max_steps"),
        ("Acrobot-v1", {"available_torque": 1.0}, "its options: max_steps_in_episode, dt,"),
        ("Breakout-MinAtar", {"foo": 1}, "its options: use_minimal_action_set, max_steps_in_episode, discretize"),
        ("CartPole-v0", {"foo": 1}, "unknown option(s) 'foo' for CartPole-v0"),
        ("CartPole-v1", {"gravity": "12"}, "gravity='12' must be a finite number"),
        ("CartPole-v1", {"gravity": True}, "gravity=True must be a finite number"),
        ("CartPole-v1", {"gravity": float("nan")}, "gravity=nan must be a finite number"),
        ("Pendulum-v1", {"max_torque": float("inf")}, "max_torque=inf must be a finite number"),
        ("CartPole-v1", {"max_steps_in_episode": 2.0}, "max_steps_in_episode=2.0 must be an integer"),
        ("CartPole-v1", {"max_steps_in_episode": 0}, "max_steps_in_episode=0 must be an integer in [1,"),
        ("CartPole-v1", {"max_steps_in_episode": 2**31}, "must be an integer in [1, 2,147,483,647]"),
        ("Acrobot-v1", {"link_mass_1": -1.0}, "link_mass_1=-1.0 must be > 0"),
        ("Asterix-MinAtar", {"ramping": 1}, "ramping=1 must be True or False"),
    ],
)
def test_bad_env_param_options_are_one_line_value_errors(env_id, options, message):
    with pytest.raises(ValueError) as err:
        rljax.make(env_id, **options)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_fields_read_as_python_values_are_found_without_running_anything():
    env, params = rljax.make("CartPole-v1")
    assert untraceable_fields(env, params, ["gravity", "max_steps_in_episode"]) == []

    class SizedByParams(type(env)):  # an environment that sizes an array by a parameter
        def step_env(self, key, state, action, params):
            jnp.zeros(int(params.max_steps_in_episode))
            return super().step_env(key, state, action, params)

    assert untraceable_fields(SizedByParams(), params, ["gravity", "max_steps_in_episode"]) == ["max_steps_in_episode"]
