"""Brax's robots behind gymnax's step: flags and final observations against Brax's own states."""

import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import rljax
from rljax.envs.brax_envs import BraxUnavailable
from rljax.envs.catalog import BRAX_ENV_NAMES, env_ids

ENV_ID = "brax/inverted_pendulum"


def test_catalog_names_every_brax_environment():
    from brax import envs

    assert set(BRAX_ENV_NAMES) == set(envs._envs) - {"fast"}  # "fast": Brax's test stub, no physics
    assert {f"brax/{n}" for n in BRAX_ENV_NAMES} <= set(env_ids())


def _engine_and_adapter(**options):
    env, params = rljax.make(ENV_ID, **options)
    return env, params, jax.jit(env.brax_env.reset), jax.jit(env.brax_env.step), jax.jit(env.step)


def test_time_limit_truncates_with_the_engine_final_observation():
    """Zero force for 5 steps under max_steps_in_episode=5: truncated, not terminated; the
    final observation is the engine's 5th; the returned one starts the next episode."""
    env, params, engine_reset, engine_step, step = _engine_and_adapter(max_steps_in_episode=5)
    key = jax.random.PRNGKey(3)
    obs, state = env.reset(key, params)
    engine = engine_reset(key)
    np.testing.assert_array_equal(obs, engine.obs)
    action = jnp.zeros(env.action_space(params).shape)
    for t in range(1, 6):
        key, step_key = jax.random.split(key)
        obs, state, reward, terminated, truncated, info = step(step_key, state, action, params)
        engine = engine_step(engine, action)
        assert not bool(engine.done) and not bool(terminated)
        assert bool(truncated) == (t == 5)
        np.testing.assert_allclose(info["final_observation"], engine.obs, rtol=1e-5, atol=1e-6)
        assert float(reward) == float(engine.reward) == 1.0
    _, reset_key = jax.random.split(step_key)
    np.testing.assert_array_equal(obs, engine_reset(reset_key).obs)  # a fresh episode, from the step's own key
    assert int(state.time) == 0
    assert not np.allclose(obs, info["final_observation"])


def test_fall_terminates_with_the_engine_final_observation():
    """Full force one way: the pole leaves Brax's +-0.2 rad within its 1000-step limit; that
    step is terminated (Brax's own done), not truncated, with the engine's observation."""
    env, params, engine_reset, engine_step, step = _engine_and_adapter()
    key = jax.random.PRNGKey(0)
    obs, state = env.reset(key, params)
    engine = engine_reset(key)
    action = jnp.ones(env.action_space(params).shape)
    for t in range(1, 200):
        key, step_key = jax.random.split(key)
        obs, state, reward, terminated, truncated, info = step(step_key, state, action, params)
        engine = engine_step(engine, action)
        np.testing.assert_allclose(info["final_observation"], engine.obs, rtol=1e-5, atol=1e-6)
        assert bool(terminated) == bool(engine.done)
        assert not bool(truncated)
        if bool(terminated):
            break
    else:
        pytest.fail("the pole did not fall in 200 steps")
    assert t > 1 and abs(float(info["final_observation"][1])) > 0.2  # obs[1]: the pole's angle
    assert abs(float(obs[1])) < 0.2 and int(state.time) == 0  # the next episode's start


def test_spaces_and_parameters():
    env, params = rljax.make("brax/hopper", max_steps_in_episode=200)
    assert params.max_steps_in_episode == 200
    assert env.action_space(params).shape == (3,)
    assert float(env.action_space(params).low) == -1.0 and float(env.action_space(params).high) == 1.0
    assert env.observation_space(params).shape == (11,)
    env, _ = rljax.make("brax/hopper", exclude_current_positions_from_observation=False)
    assert env.observation_space(params).shape == (12,)  # a constructor option reaches Brax


@pytest.mark.parametrize(
    "options, words",
    [
        ({"backend": "bullet"}, "backend='bullet' must be one of positional, generalized, spring, mjx"),
        ({"gravity": 1.0}, "unknown option(s) 'gravity' for brax/hopper; its options: backend, max_steps_in_episode"),
        ({"terminate_when_unhealthy": "no"}, "terminate_when_unhealthy='no' must be True or False"),
        ({"healthy_z_range": (0.7,)}, "healthy_z_range=(0.7,) must be 2 numbers"),
        ({"max_steps_in_episode": 1.5}, "max_steps_in_episode=1.5 must be an integer"),
    ],
)
def test_bad_options_are_one_line_errors(options, words):
    with pytest.raises(rljax.ValidationError) as err:
        rljax.make("brax/hopper", **options)
    assert words in str(err.value) and "\n" not in str(err.value)


def test_every_environment_builds_on_its_default_backend():
    """Brax's swimmer runs on generalized only: its default, and positional refused in one line."""
    for name in BRAX_ENV_NAMES:
        env, _ = rljax.make(f"brax/{name}")
        assert env.brax_env.backend == ("generalized" if name == "swimmer" else "positional")
    with pytest.raises(rljax.ValidationError, match="backend='positional' must be one of generalized$"):
        rljax.make("brax/swimmer", backend="positional")


def test_missing_brax_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "brax", None)  # import brax now raises ImportError
    with pytest.raises(BraxUnavailable, match=r"brax/hopper needs Brax: pip install rljax\[brax\]"):
        rljax.make("brax/hopper")


def test_mujoco_warnings_leave_no_file_and_no_stdout(tmp_path, monkeypatch, capfd):
    """brax/halfcheetah's XML uses MuJoCo's deprecated settotalmass: MuJoCo's own handler would print
    it to stdout and append it to MUJOCO_LOG.TXT in the working directory."""
    import mujoco

    monkeypatch.chdir(tmp_path)
    with pytest.warns(DeprecationWarning, match="MuJoCo: compiler attribute 'settotalmass' is deprecated"):
        rljax.make("brax/halfcheetah")
    assert list(tmp_path.iterdir()) == [] and capfd.readouterr().out == ""
    assert mujoco.get_mju_user_warning() is None  # MuJoCo's handler is back as it was
