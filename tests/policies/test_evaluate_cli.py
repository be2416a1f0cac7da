"""``rljax evaluate DIR [--episodes N] [--gymnasium [ID]]``: trained seeds played again, in rljax and in Gymnasium.

The agreement tests compare, per seed, the mean return of the same trained policy in
rljax's environment and in Gymnasium's own, each over fresh episodes: for a faithful
reimplementation the difference is sampling noise, so it stays within a few standard
errors (4 here: a false alarm about once in 16,000 seeds).
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from rljax.cli import main
from rljax.policies.evaluate_run import evaluate_run, format_evaluation, gymnasium_twin

TINY = ["--eval-episodes", "10", "--no-progress", "--fast-compile"]
DQN_SMALL = ["--set", "hidden_sizes=(16,)", "--set", "learning_starts=200", "--set", "batch_size=32"]
EPISODES = 100
Z_MAX = 4.0


def train(out, agent: str, env: str, steps: int, *extra: str) -> None:
    assert (
        main(
            [
                "train",
                agent,
                "--env",
                env,
                "--seed-list",
                "0,5",
                "--out",
                str(out),
                "--total-steps",
                str(steps),
                *extra,
                *TINY,
            ]
        )
        == 0
    )


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("evaluate")
    train(root / "cartpole", "dqn", "CartPole-v1", 4000, *DQN_SMALL)
    train(root / "taxi", "q_learning", "Taxi-v3", 40000)
    train(root / "frozen", "q_learning", "FrozenLake-v1", 20000)
    return root


@pytest.mark.parametrize(
    "name, env_id, gym_id, low, high, learned",
    [
        ("cartpole", "CartPole-v1", "CartPole-v1", 1, 500, None),
        # Random Taxi play averages about -770: agreement alone would pass for two equally
        # broken policies, so this one must have learned something, in both environments.
        ("taxi", "Taxi-v3", "Taxi-v4", -2000, 20, -400),
        ("frozen", "FrozenLake-v1", "FrozenLake-v1", 0, 1, None),
    ],
)
def test_gymnasium_agrees_with_rljax_on_every_seed(runs, name, env_id, gym_id, low, high, learned):
    result = evaluate_run(runs / name, episodes=EPISODES, gymnasium=True, num_resamples=500)
    assert result.env_id == env_id and result.gymnasium_id == gym_id
    assert [r.seed for r in result.seeds] == [0, 5]
    for r in result.seeds:
        assert r.rljax.shape == r.gymnasium.shape == (EPISODES,)
        assert low <= r.gymnasium.min() and r.gymnasium.max() <= high
        assert abs(r.z()) <= Z_MAX, (r.seed, r.rljax.mean(), r.gymnasium.mean(), r.z())
        if learned is not None:
            assert r.rljax.mean() > learned and r.gymnasium.mean() > learned
    # the across-seed statistics are those of the per-seed means
    means = np.array([r.gymnasium.mean() for r in result.seeds])
    assert result.gymnasium_summary["mean"] == pytest.approx(means.mean())
    assert result.gymnasium_summary["mean_ci_low"] <= means.mean() <= result.gymnasium_summary["mean_ci_high"]


def test_the_command_prints_per_seed_rows_and_the_across_seed_mean_and_iqm(runs, capsys):
    # an explicit Gymnasium id (the twin's own, here)
    args = ["evaluate", str(runs / "frozen"), "--episodes", "30", "--gymnasium", "FrozenLake-v1", "--resamples", "300"]
    assert main(args) == 0
    first = capsys.readouterr().out
    lines = first.splitlines()
    assert (
        lines[0].startswith("q_learning on FrozenLake-v1: 2 seed(s) x 30 episodes")
        and "Gymnasium: FrozenLake-v1" in lines[0]
    )
    rows = {int(line.split()[0]): line.split() for line in lines[2:4]}
    assert sorted(rows) == [0, 5]
    # the training's own final evaluation is shown beside the new ones
    summary = json.loads((runs / "frozen" / "summary.json").read_text())
    for seed, final in zip(summary["seeds"], summary["final_eval_return"]):
        assert float(rows[seed][1]) == pytest.approx(final, abs=5e-4)
    assert any(line.strip().startswith("rljax") and "IQM" in line for line in lines)
    assert any(line.strip().startswith("gymnasium") and "IQM" in line for line in lines)
    # keys come from the seeds alone: the same evaluation gives the same numbers
    result = evaluate_run(runs / "frozen", episodes=30, gymnasium=True, num_resamples=300)
    assert format_evaluation(result) == first.rstrip("\n")


def test_without_gymnasium_only_rljax_plays(runs, capsys):
    assert main(["evaluate", str(runs / "frozen"), "--episodes", "5", "--resamples", "100"]) == 0
    out = capsys.readouterr().out
    assert "rljax mean" in out and "gymnasium" not in out.lower()


def _no_twin_copy(runs, tmp_path):
    """The FrozenLake run, relabelled as trained on an environment without a Gymnasium twin."""
    copy = tmp_path / "chain"
    shutil.copytree(runs / "frozen", copy)
    spec = json.loads((copy / "run.json").read_text())
    (copy / "run.json").write_text(json.dumps({**spec, "env": "Chain"}))
    return copy


@pytest.mark.parametrize(
    "case, message",
    [
        ("missing", "is not a folder"),
        ("not_a_run", "no run.json"),
        ("episodes", "--episodes must be >= 1"),
        ("unknown_gym_id", "Gymnasium cannot make 'NoSuchEnv-v0'"),
        ("spaces", "does not fit the policy"),
        ("no_twin", "Chain has no Gymnasium twin"),
    ],
)
def test_bad_input_is_a_one_line_error_with_exit_code_2(runs, tmp_path, capsys, case, message):
    frozen = str(runs / "frozen")
    (tmp_path / "empty").mkdir()
    argv = {
        "missing": ["evaluate", str(tmp_path / "nope"), "--gymnasium"],
        "not_a_run": ["evaluate", str(tmp_path / "empty")],
        "episodes": ["evaluate", frozen, "--episodes", "0"],
        "unknown_gym_id": ["evaluate", frozen, "--gymnasium", "NoSuchEnv-v0"],
        "spaces": ["evaluate", frozen, "--gymnasium", "Taxi-v4"],  # 6 actions, not FrozenLake's 4
        "no_twin": ["evaluate", str(_no_twin_copy(runs, tmp_path)) if case == "no_twin" else "", "--gymnasium"],
    }[case]
    assert main(argv) == 2
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("rljax evaluate: error:") and message in err
    assert captured.out == ""


def test_environment_options_go_to_gymnasium_or_are_refused():
    assert gymnasium_twin("FrozenLake-v1", {"map_name": "8x8", "is_slippery": False}) == (
        "FrozenLake-v1",
        {"map_name": "8x8", "is_slippery": False},
    )
    assert gymnasium_twin("Taxi-v3", {"max_steps_in_episode": 50}) == ("Taxi-v4", {"max_episode_steps": 50})
    assert gymnasium_twin("CartPole-v1", {"discretize": "bins-4x4x29x8"}) == ("CartPole-v1", {})
    with pytest.raises(ValueError, match="force_mag have no counterpart"):
        gymnasium_twin("CartPole-v0", {"force_mag": 5.0})
