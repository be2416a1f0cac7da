"""The Python API does what the command line does, and builds a run once.

``rljax.build`` resolves and validates; ``rljax.train(plan, seeds)`` runs that plan
without checking it again; ``rljax.sweep(..., out=DIR)`` writes the folder of
``rljax sweep``.
"""

import dataclasses
import json

import numpy as np
import pytest

import rljax
import rljax.training.plan as plan_module
from rljax.agents import get_agent
from rljax.cli import main

TINY = dict(total_steps=400, eval_episodes=2, progress=False)


def counting_agent(name: str):
    """``name``'s agent whose ``validate`` counts its calls."""
    calls = []
    agent = get_agent(name)

    def validate(config, env, env_params):
        calls.append(config)
        return agent.validate(config, env, env_params)

    return dataclasses.replace(agent, validate=validate), calls


def test_train_runs_the_plan_that_build_made_without_validating_again():
    agent, calls = counting_agent("q_learning")
    overrides = [{"learning_rate": 0.5}, {"learning_rate": 0.1}]
    plan = rljax.build(agent, "FrozenLake-v1", overrides, total_steps=400, eval_episodes=2)
    assert len(calls) == 2  # once per configuration
    result = rljax.train(plan, seeds=[0, 1], progress=False)
    assert len(calls) == 2
    assert result.config_ids == [0, 0, 1, 1] and result.seeds == [0, 1, 0, 1]
    # the same numbers as building and training in one call
    direct = rljax.train(
        "q_learning", "FrozenLake-v1", [0, 1], [{"learning_rate": 0.5}, {"learning_rate": 0.1}], **TINY
    )
    np.testing.assert_array_equal(result.metrics["eval_return"], direct.metrics["eval_return"])


def test_the_command_line_validates_a_configuration_once(tmp_path, monkeypatch):
    agent, calls = counting_agent("q_learning")
    monkeypatch.setattr(plan_module, "get_agent", lambda name: agent)
    args = ["--env", "FrozenLake-v1", "--total-steps", "400", "--eval-episodes", "2", "--no-progress"]
    assert main(["train", "q_learning", *args, "--out", str(tmp_path / "run")]) == 0
    assert len(calls) == 1


@pytest.mark.parametrize(
    "given",
    [{"env_id": "CartPole-v1"}, {"overrides": {"learning_rate": 0.1}}, {"total_steps": 10}, {"eval_episodes": 3}],
)
def test_a_plan_cannot_be_given_build_arguments_again(given):
    plan = rljax.build("q_learning", "FrozenLake-v1", total_steps=400)
    name = next(iter(given))
    with pytest.raises(ValueError, match=f"takes these from the plan; do not pass {name}"):
        rljax.train(plan, **given)


def test_python_sweep_writes_the_folder_of_the_command_line(tmp_path):
    grid = {"learning_rate": [0.5, 0.1]}
    swept = rljax.sweep("q_learning", "FrozenLake-v1", grid, seeds=[0, 2], out=tmp_path / "py", **TINY)
    args = ["--total-steps", "400", "--eval-episodes", "2", "--no-progress", "--seed-list", "0,2"]
    assert (
        main(
            [
                "sweep",
                "q_learning",
                "--env",
                "FrozenLake-v1",
                "--grid",
                "lr=0.5,0.1",
                *args,
                "--out",
                str(tmp_path / "cli"),
            ]
        )
        == 0
    )
    for folder in ("py", "cli"):
        info = json.loads((tmp_path / folder / "sweep.json").read_text())
        assert info["labels"] == swept.labels == ["learning_rate=0.5", "learning_rate=0.1"]
        assert info["programs"] == 1
        for i, label in enumerate(swept.labels):
            summary = json.loads((tmp_path / folder / label / "summary.json").read_text())
            np.testing.assert_allclose(summary["final_eval_return"], swept.final_eval_return(i))
        policy = rljax.load_policy(tmp_path / folder, 2, config="learning_rate=0.1")
        assert int(policy(np.int32(0))) in range(4)


def test_a_sweep_validates_every_program_before_writing(tmp_path):
    # the second program (hidden_sizes) is invalid; the first is fine: nothing may be written
    grid = {"hidden_sizes": ["(8,)", "(0,)"]}
    with pytest.raises(ValueError, match="hidden_sizes"):
        rljax.sweep("dqn", "CartPole-v1", grid, allow_recompile=True, out=tmp_path / "sweep", **TINY)
    assert not (tmp_path / "sweep").exists()


def test_summary_records_each_seeds_first_step_and_second_at_the_solved_threshold(monkeypatch):
    from rljax.envs.registry import SOLVED_AT

    result = rljax.train("q_learning", "Chain", seeds=range(4), total_steps=4_000, eval_episodes=5, progress=False)
    curves, steps = result.metrics["eval_return"], result.metrics["env_steps"]
    assert result.summary(0)["solved_threshold"] is None  # Chain has no threshold
    assert result.summary(0)["steps_to_threshold"] == [None] * 4
    for threshold in (float(np.median(curves)), float(curves.max()) + 1.0):
        monkeypatch.setitem(SOLVED_AT, "Chain", threshold)
        summary = result.summary(0)
        assert summary["solved_threshold"] == threshold
        for i in range(4):
            hits = np.flatnonzero(curves[i] >= threshold)
            assert summary["steps_to_threshold"][i] == (int(steps[i, hits[0]]) if hits.size else None)
            seconds = summary["seconds_to_threshold"][i]
            assert (seconds is None) == (not hits.size)
            assert seconds is None or 0 < seconds <= result.train_time_s
    # the median threshold is reached by some seed; one above every return by none
    monkeypatch.setitem(SOLVED_AT, "Chain", float(np.median(curves)))
    assert any(s is not None for s in result.summary(0)["steps_to_threshold"])
