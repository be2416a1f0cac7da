"""`rljax sweep` (one program for a grid of traced values) and checkpoint / resume after SIGKILL."""

import json
import signal
import subprocess
import sys
import time

import pytest

from rljax.cli import main

QUIET = ["--no-progress"]


def count_segment_traces(monkeypatch, fn) -> int:
    """How many times the segment program is traced (= compiled) while ``fn()`` runs."""
    from rljax.training.loop import Loop

    traces = []
    original = Loop.train_segment  # the segment's training program (BatchRunner compiles it)

    def counting(self, state, config):
        traces.append(1)  # runs at trace time only
        return original(self, state, config)

    monkeypatch.setattr(Loop, "train_segment", counting)
    fn()
    monkeypatch.setattr(Loop, "train_segment", original)
    return len(traces)


def test_taxi_sweep_3_lrs_x_2_gammas_compiles_once(tmp_path, monkeypatch):
    common = [
        "q_learning",
        "--env",
        "Taxi-v3",
        "--seeds",
        "8",
        "--total-steps",
        "4000",
        "--eval-episodes",
        "5",
        "--fast-compile",
        *QUIET,
    ]
    one = count_segment_traces(
        monkeypatch, lambda: main(["sweep", *common, "--grid", "lr=0.5", "--out", str(tmp_path / "one")])
    )
    six = count_segment_traces(
        monkeypatch,
        lambda: main(
            ["sweep", *common, "--grid", "lr=0.1,0.5,1.0", "--grid", "gamma=0.99,0.9", "--out", str(tmp_path / "six")]
        ),
    )
    assert one >= 1 and six == one  # six configurations x 8 seeds: still one program
    sweep = json.loads((tmp_path / "six" / "sweep.json").read_text())
    assert sweep["programs"] == 1 and len(sweep["labels"]) == 6
    summaries = [json.loads((tmp_path / "six" / label / "summary.json").read_text()) for label in sweep["labels"]]
    assert {(s["config"]["learning_rate"], s["config"]["gamma"]) for s in summaries} == {
        (lr, g) for lr in (0.1, 0.5, 1.0) for g in (0.99, 0.9)
    }
    assert all(s["seeds"] == list(range(8)) and len(s["final_eval_return"]) == 8 for s in summaries)
    # the lr=0.5, gamma=0.99 cell of the sweep equals the one-configuration sweep
    single = json.loads((tmp_path / "one" / "learning_rate=0.5" / "summary.json").read_text())
    cell = json.loads((tmp_path / "six" / "learning_rate=0.5,gamma=0.99" / "summary.json").read_text())
    assert cell["final_eval_return"] == single["final_eval_return"]


@pytest.mark.parametrize(
    "grid,message",
    [
        (["lr="], "no empty values"),
        (["lr=abc"], "cannot parse"),
        (["num_envs=1,2"], "--allow-recompile"),
        (["colour=1,2"], "unknown hyperparameter"),
    ],
)
def test_bad_grids(tmp_path, capsys, grid, message):
    args = ["sweep", "q_learning", "--env", "Taxi-v3", "--out", str(tmp_path / "out"), *QUIET]
    for g in grid:
        args += ["--grid", g]
    assert main(args) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


# Each run is long enough (several checkpoints) that the kill lands mid-run.
RUNS = {
    "q_learning": [
        "q_learning",
        "--env",
        "FrozenLake-v1",
        "--seeds",
        "4",
        "--total-steps",
        "120000",
        "--eval-every",
        "3000",
        "--eval-episodes",
        "20",
    ],
    "dqn": [
        "dqn",
        "--env",
        "CartPole-v1",
        "--seeds",
        "2",
        "--total-steps",
        "16000",
        "--eval-every",
        "1000",
        "--eval-episodes",
        "5",
        "--fast-compile",
        "--set",
        "num_envs=4",
        "--set",
        "buffer_size=2000",
        "--set",
        "batch_size=32",
        "--set",
        "learning_starts=64",
        "--set",
        "hidden_sizes=16",
    ],
}
CHECKPOINT_EVERY = {"q_learning": "3000", "dqn": "1000"}


def _train(agent, *extra):
    return [sys.executable, "-m", "rljax.cli", "train", *RUNS[agent], *QUIET, *extra]


@pytest.mark.parametrize("agent", ["q_learning", "dqn"])
def test_sigkill_and_resume_gives_the_uninterrupted_numbers(tmp_path, agent, test_compile_cache):
    """Killed after its first checkpoint, resumed: the same summary and metrics as a straight run.

    For DQN the checkpoint holds the replay buffer, Adam moments, target network and
    epsilon clock, so any piece missing from it changes the numbers.
    """
    killed = tmp_path / "killed"
    checkpointing = ["--checkpoint-every", CHECKPOINT_EVERY[agent]]
    proc = subprocess.Popen(
        _train(agent, "--out", str(killed), *checkpointing), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    deadline = time.time() + 300
    while not (killed / "checkpoint.msgpack").exists():
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.time() < deadline, "no checkpoint appeared"
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (killed / "summary.json").exists(), "the run finished before it could be killed"

    resumed = subprocess.run(
        _train(agent, "--resume", str(killed), *checkpointing), capture_output=True, text=True, timeout=600
    )
    assert resumed.returncode == 0, resumed.stderr
    straight = subprocess.run(
        _train(agent, "--out", str(tmp_path / "straight")), capture_output=True, text=True, timeout=600
    )
    assert straight.returncode == 0, straight.stderr

    a = json.loads((killed / "summary.json").read_text())
    b = json.loads((tmp_path / "straight" / "summary.json").read_text())
    assert a["final_eval_return"] == b["final_eval_return"]
    assert a["env_steps_per_seed"] == b["env_steps_per_seed"]
    # the metrics table has each segment exactly once, with the same values
    rows_a = (killed / "metrics.csv").read_text().splitlines()
    rows_b = (tmp_path / "straight" / "metrics.csv").read_text().splitlines()
    assert rows_a == rows_b


def test_resume_refuses_a_different_config(tmp_path, capsys):
    out = tmp_path / "run"
    base = [
        "train",
        "q_learning",
        "--env",
        "Chain",
        "--seeds",
        "2",
        "--total-steps",
        "2000",
        "--eval-every",
        "500",
        "--eval-episodes",
        "5",
        "--fast-compile",
        *QUIET,
    ]
    assert main([*base, "--out", str(out), "--checkpoint-every", "500"]) == 0
    before = (out / "summary.json").read_text()
    rc = main([*base, "--resume", str(out), "--set", "learning_rate=0.3"])
    assert rc == 2 and "differs" in capsys.readouterr().err
    assert (out / "summary.json").read_text() == before


def test_dqn_resume_restores_replay_optimiser_and_target_exactly(tmp_path):
    """The whole DQN carry (replay buffer, Adam moments, target network) survives a checkpoint."""
    import numpy as np

    from rljax.experiment import train
    from rljax.training.batch import FAST_COMPILE

    tiny = {
        "num_envs": 2,
        "buffer_size": 500,
        "batch_size": 16,
        "learning_starts": 32,
        "hidden_sizes": (16,),
        "target_update_interval": 10,
    }
    run = dict(
        seeds=[0, 3], overrides=tiny, total_steps=2_000, eval_every=250, eval_episodes=5, compiler_options=FAST_COMPILE
    )
    straight = train("dqn", "CartPole-v1", **run)
    # 8 segments, a checkpoint every 4: the only one written is after segment 4 (none
    # follows the last segment), so the resumed run redoes segments 5-8 from it
    first = train("dqn", "CartPole-v1", checkpoint_dir=tmp_path, checkpoint_every=1000, **run)
    resumed = train("dqn", "CartPole-v1", checkpoint_dir=tmp_path, resume=True, **run)
    np.testing.assert_array_equal(resumed.metrics["eval_return"], straight.metrics["eval_return"])
    np.testing.assert_array_equal(first.metrics["eval_return"], straight.metrics["eval_return"])
    import jax

    for a, b in zip(
        jax.tree.leaves(resumed.final_state.agent_state), jax.tree.leaves(straight.final_state.agent_state)
    ):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
