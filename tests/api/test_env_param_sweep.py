"""A sweep over an environment parameter (``--grid env.gravity=...``) is one compiled program whose
runs each step their environment with their own value, bitwise as if trained alone with it."""

from __future__ import annotations

import json

import numpy as np
import pytest
from test_sweep_resume import count_segment_traces

import rljax
from rljax.cli import main
from rljax.training.batch import FAST_COMPILE

FAST = dict(
    total_steps=1500,
    eval_episodes=2,
    lane_width=2,
    progress=False,
    compiler_options=FAST_COMPILE,
    compile_cache=False,
    watchdog_seconds=0,
)


def test_a_gravity_sweep_is_one_program_and_each_run_equals_its_seed_trained_alone(tmp_path, monkeypatch):
    swept: list = []
    sweep_traces = count_segment_traces(
        monkeypatch,
        lambda: swept.append(
            rljax.sweep("dqn", "CartPole-v1", {"env.gravity": [9.8, 15.0]}, seeds=[0, 1], out=tmp_path / "sw", **FAST)
        ),
    )
    alone: list = []
    alone_traces = count_segment_traces(
        monkeypatch,
        lambda: alone.append(rljax.train("dqn", "CartPole-v1", seeds=[0, 1], env_kwargs={"gravity": 15.0}, **FAST)),
    )
    result = swept[0]
    assert len(result.results) == 1 and sweep_traces == alone_traces == 1  # two gravities, one trace
    metrics = result.results[0].metrics
    at_9_8, at_15 = result.results[0].rows(0), result.results[0].rows(1)
    # The gravity reaches the dynamics: the same seeds' episodes differ.
    assert not np.array_equal(metrics["train_episode_length"][at_9_8], metrics["train_episode_length"][at_15])
    for name, values in alone[0].metrics.items():
        np.testing.assert_array_equal(metrics[name][at_15], values, err_msg=name)

    # The outputs name each configuration's value.
    sweep_info = json.loads((tmp_path / "sw" / "sweep.json").read_text())
    assert sweep_info["labels"] == ["env.gravity=9.8", "env.gravity=15.0"] and sweep_info["programs"] == 1
    for label, gravity in (("env.gravity=9.8", 9.8), ("env.gravity=15.0", 15.0)):
        summary = json.loads((tmp_path / "sw" / label / "summary.json").read_text())
        spec = json.loads((tmp_path / "sw" / label / "run.json").read_text())
        assert summary["env_kwargs"] == spec["env_kwargs"] == {"gravity": gravity}
    policy = rljax.load_policy(tmp_path / "sw" / "env.gravity=15.0", seed=1)
    assert policy.env_params.gravity == 15.0


def test_a_run_without_env_options_passes_its_agent_config_alone():
    plan = rljax.build("dqn", "CartPole-v1", total_steps=100)
    assert plan.env_values == [{}] and plan.run_config(0) is plan.configs[0]
    plan = rljax.build("dqn", "CartPole-v1", [{"env.gravity": "12"}, {"env.gravity": 15}], total_steps=100)
    assert plan.env_values == [{"gravity": 12.0}, {"gravity": 15.0}]
    assert plan.config_env_kwargs == [{"gravity": 12}, {"gravity": 15}]
    _, params = rljax.make("CartPole-v1", masspole=0.5)
    plan = rljax.build("dqn", "CartPole-v1", env_kwargs={"masspole": 0.5}, total_steps=100)
    assert plan.env_values == [{"masspole": 0.5, "polemass_length": 0.25, "total_mass": params.total_mass}]


@pytest.mark.parametrize(
    "agent,grid,extra,message",
    [
        # the observation space's bounds: agents are built from them
        ("dqn", "env.x_threshold=2.4,3.0", [], "static hyperparameter(s) env.x_threshold"),
        # an episodic agent's rollout is the time limit
        ("reinforce", "env.max_steps_in_episode=100,200", [], "env.max_steps_in_episode would compile"),
        ("dqn", "env.gravity=9.8,abc", [], "CartPole-v1 option gravity='abc' must be a finite number"),
        ("dqn", "env.gravity=9.8,12", ["--env-arg", "gravity=3.0"], "both swept (env.gravity) and fixed"),
        ("dqn", "env.grav=1,2", [], "unknown option(s) 'grav' for CartPole-v1"),
    ],
)
def test_bad_env_grids_are_refused_before_anything_is_written(tmp_path, capsys, agent, grid, extra, message):
    out = tmp_path / "out"
    code = main(["sweep", agent, "--env", "CartPole-v1", "--grid", grid, *extra, "--out", str(out), "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and message in err and "\n" not in err
    assert not out.exists()


def test_a_time_limit_is_traced_for_a_per_step_agent():
    # DQN's rollout does not depend on the time limit: its values share one program.
    combos, static = rljax.sweeps.grid_combinations("dqn", {"env.max_steps_in_episode": [100, 200]}, "CartPole-v1", {})
    assert static == [] and len(combos) == 2
