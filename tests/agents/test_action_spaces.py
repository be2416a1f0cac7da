"""Discrete and Box actions through the agent protocol: templates from the spaces, actions
checked (never cast), discrete-only agents refusing Box actions before anything is traced,
``act`` returning extras, ``Agent.num_envs``, and a loaded policy's key stream."""

import dataclasses
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import struct

import rljax
from rljax.agents.base import (
    ActOutput,
    Agent,
    action_template,
    check_box_actions,
    check_like,
    env_shapes,
    example_transition,
    split_act_output,
)
from rljax.policies.trained import TrainedPolicy
from rljax.training.batch import FAST_COMPILE
from rljax.training.loop import make_loop


def test_action_templates_come_from_the_action_space():
    cartpole, cp_params = rljax.make("CartPole-v1")
    pendulum, pd_params = rljax.make("Pendulum-v1")
    discrete, box = action_template(cartpole, cp_params), action_template(pendulum, pd_params)
    assert (discrete.dtype, discrete.shape) == (jnp.int32, ())
    assert (box.dtype, box.shape) == (jnp.float32, (1,))
    template = example_transition(jnp.zeros(3), action=box)
    assert template.action.dtype == jnp.float32 and template.action.shape == (1,)
    assert example_transition(jnp.zeros(4)).action.dtype == jnp.int32  # the Discrete default
    with pytest.raises(ValueError, match="Discrete actions; Pendulum-v1 has Box actions"):
        env_shapes(jax.random.PRNGKey(0), pendulum, pd_params)


def test_a_buffer_template_refuses_a_float_action_instead_of_truncating_it():
    template = jax.tree.map(lambda x: jnp.zeros((1, 8) + x.shape, x.dtype), example_transition(jnp.zeros(3)))
    ints = jax.tree.map(lambda x: jnp.zeros((2, 4) + x.shape, x.dtype), example_transition(jnp.zeros(3)))
    assert check_like(ints, template, 2) is ints
    floats = ints.replace(action=jnp.full((2, 4), 0.7, jnp.float32))
    with pytest.raises(TypeError, match=r"batch\.action is float32\[\] per item; its template holds int32\[\]"):
        check_like(floats, template, 2)
    with pytest.raises(TypeError, match=r"obs is float32\[5\] per item; its template holds float32\[3\]"):
        check_like(ints.replace(obs=jnp.zeros((2, 4, 5))), template, 2)


@pytest.mark.parametrize(
    "agent,env_id,env_kwargs",
    [
        ("dqn", "Pendulum-v1", {}),
        ("reinforce", "Pendulum-v1", {}),
        ("muzero", "Pendulum-v1", {}),
        ("q_learning", "Pendulum-v1", {"discretize": "uniform:4"}),
        ("tabular_pg", "Pendulum-v1", {"discretize": "uniform:4"}),
    ],
)
def test_discrete_only_agents_refuse_box_actions_in_one_line(agent, env_id, env_kwargs):
    with pytest.raises(ValueError, match="discrete action space") as err:
        rljax.build(agent, env_id, env_kwargs=env_kwargs, total_steps=10)
    assert "\n" not in str(err.value) and "Box" in str(err.value)


def test_a_continuous_only_check_names_the_discrete_space():
    env, params = rljax.make("CartPole-v1")
    with pytest.raises(ValueError, match=r"needs a continuous \(Box\) action space; CartPole-v1 has Discrete\(2"):
        check_box_actions("sac", env, params)


# --- A minimal agent, to exercise the loop's side of the protocol ----------------------------------


@struct.dataclass
class RandomConfig:
    num_envs: int = struct.field(pytree_node=False, default=2)
    as_float: bool = struct.field(pytree_node=False, default=False)


def _random_act(key, state, obs, config, clock, explore):
    env_action = jax.random.uniform(key, (1,), minval=-2.0, maxval=2.0)
    if config.as_float:  # a float action for a Discrete space: must be refused, not truncated
        return env_action[0]
    return ActOutput(env_action, {"draw": env_action[0]}) if explore else env_action


def _random_agent(**kwargs) -> Agent:
    return Agent(
        name="random",
        config_type=RandomConfig,
        init=lambda key, env, params, config: {"steps": jnp.int32(0)},
        act=_random_act,
        update=lambda key, state, batch, config, clock: ({"steps": state["steps"] + 1}, {"draw": batch.extras["draw"]}),
        rollout_length=lambda config, params: 3,
        validate=lambda config, env, params: None,
        **kwargs,
    )


def test_box_actions_and_act_extras_flow_through_the_loop():
    env, params = rljax.make("Pendulum-v1")
    agent = _random_agent()
    loop = make_loop(env, params, agent, RandomConfig(), total_steps=12, eval_episodes=1)
    state = loop.init(jax.random.PRNGKey(0), RandomConfig())
    _, batch, _ = jax.jit(loop._rollout, static_argnums=1)(state, RandomConfig())
    assert batch.action.shape == (3, 2, 1) and batch.action.dtype == jnp.float32
    np.testing.assert_array_equal(batch.extras["draw"], batch.action[..., 0])  # what act returned, unchanged
    assert np.unique(np.asarray(batch.action)).size == 6
    assert split_act_output(jnp.zeros(1))[1] is None


def test_a_float_action_for_a_discrete_space_is_a_clear_error_at_trace_time():
    env, params = rljax.make("CartPole-v1")
    config = RandomConfig(as_float=True)
    loop = make_loop(env, params, _random_agent(), config, total_steps=12, eval_episodes=1)
    state = loop.init(jax.random.PRNGKey(0), config)
    with pytest.raises(TypeError, match=r"random's act returned float32\[\] actions; CartPole-v1's action space"):
        loop._rollout(state, config)


def test_the_number_of_envs_is_the_agents_to_say():
    env, params = rljax.make("Pendulum-v1")

    @struct.dataclass
    class NoEnvsField:
        as_float: bool = struct.field(pytree_node=False, default=False)

    agent = dataclasses.replace(_random_agent(), config_type=NoEnvsField, num_envs=lambda config: 5)
    loop = make_loop(env, params, agent, NoEnvsField(), total_steps=30, eval_episodes=1)
    assert loop.num_envs == 5 and loop.schedule.steps_per_iteration == 15


def test_a_loaded_policy_draws_a_new_key_per_call_and_repeats_its_sequence_when_reloaded():
    env, params = rljax.make("Pendulum-v1")

    def policy():
        return TrainedPolicy(env, params, _random_agent(), RandomConfig(), {}, 3, {}, Path("."))

    first = policy()
    actions = [float(first(np.zeros(3, np.float32))[0]) for _ in range(5)]
    assert len(set(actions)) == 5  # one key for every call would repeat one action
    assert [float(policy()(np.zeros(3, np.float32))[0]) for _ in range(1)] == actions[:1]
    key = jax.random.PRNGKey(7)
    assert first(np.zeros(3), key=key)[0] == first(np.zeros(3), key=key)[0]  # a given key is used as given


def test_a_random_agent_trains_on_box_actions_end_to_end():
    result = rljax.train(
        _random_agent(),
        "Pendulum-v1",
        seeds=[0, 1],
        overrides={},
        total_steps=60,
        eval_every=30,
        eval_episodes=2,
        progress=False,
        compiler_options=FAST_COMPILE,
    )
    assert result.metrics["eval_return"].shape == (2, 2)
    assert np.all(result.metrics["eval_return"] < 0)  # Pendulum's rewards are costs
