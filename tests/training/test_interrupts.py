"""Ctrl-C and SIGTERM: the run stops after a whole segment, saves, says how to resume, and resumes exactly."""

import os
import signal
import threading
import time

import numpy as np
import pytest

import rljax
from rljax.cli import main
from rljax.training.interrupts import RunInterrupted

RUN = dict(total_steps=6_000, eval_every=500, eval_episodes=5, progress=False)


def kill_self_at_segment(k: int, signum: int):
    """An ``on_segment`` callback that sends this process ``signum`` after segment ``k``."""

    def on_segment(i, metrics):
        if i == k:
            os.kill(os.getpid(), signum)

    return on_segment


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_stops_after_the_segment_and_the_resumed_run_has_the_same_numbers(tmp_path, signum):
    straight = rljax.train("q_learning", "FrozenLake-v1", [0, 3], **RUN)
    out = tmp_path / "run"
    before = signal.getsignal(signal.SIGINT)  # the default, or SIG_IGN where the suite was started in the background
    with pytest.raises(RunInterrupted) as stop:
        rljax.train("q_learning", "FrozenLake-v1", [0, 3], out=out, on_segment=kill_self_at_segment(2, signum), **RUN)
    assert stop.value.exit_code == 128 + signum
    message = str(stop.value)
    assert f"{signal.Signals(signum).name}: stopped after segment" in message and "resume=True" in message
    assert (out / "checkpoint.msgpack").exists() and not (out / "summary.json").exists()
    assert signal.getsignal(signal.SIGINT) is before  # handlers restored
    resumed = rljax.train("q_learning", "FrozenLake-v1", [0, 3], out=out, resume=True, **RUN)
    np.testing.assert_array_equal(resumed.metrics["eval_return"], straight.metrics["eval_return"])
    np.testing.assert_array_equal(resumed.final_eval_return, straight.final_eval_return)


def interrupt_once_written(csv, signum=signal.SIGINT):
    """Sends this process ``signum`` (from a thread) once ``csv`` holds a finished segment's rows."""

    def watch():
        deadline = time.time() + 300
        while time.time() < deadline:
            if csv.exists() and csv.stat().st_size > 200:
                os.kill(os.getpid(), signum)
                return
            time.sleep(0.05)

    threading.Thread(target=watch, daemon=True).start()


LONG = ["--total-steps", "400000", "--eval-every", "2000", "--eval-episodes", "20", "--no-progress"]


def test_the_command_line_exits_130_and_prints_the_exact_resume_command(tmp_path, capsys):
    out = tmp_path / "run"
    interrupt_once_written(out / "metrics.csv")
    assert main(["train", "q_learning", "--env", "Taxi-v3", "--seeds", "2", *LONG, "--out", str(out)]) == 130
    err = capsys.readouterr().err
    assert "rljax train: SIGINT: stopped after segment" in err
    assert f"--resume {out}" in err and (out / "checkpoint.msgpack").exists()


def test_a_sweep_says_what_finished_and_how_to_resume(tmp_path, capsys):
    out = tmp_path / "sweep"
    interrupt_once_written(out / "learning_rate=0.5" / "metrics.csv", signal.SIGTERM)
    args = ["sweep", "q_learning", "--env", "Taxi-v3", "--seeds", "2", "--grid", "lr=0.5,1.0", *LONG]
    assert main([*args, "--out", str(out)]) == 143
    err = capsys.readouterr().err
    assert "SIGTERM: stopped after segment" in err and "in program 1 of 1; finished configurations: none" in err
    assert "Continue (same numbers as an uninterrupted sweep) with: rljax " in err and f"--resume {out}" in err
    assert (out / "checkpoints" / "program-0" / "checkpoint.msgpack").is_file()


def test_a_second_signal_stops_at_once_and_the_last_checkpoint_still_resumes(tmp_path, test_compile_cache):
    import subprocess
    import sys

    out = tmp_path / "run"
    args = [sys.executable, "-m", "rljax.cli", "train", "q_learning", "--env", "Taxi-v3", "--seeds", "2", *LONG]
    args += ["--checkpoint-every", "20000", "--out", str(out)]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    while not (out / "checkpoint.msgpack").exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    start = time.time()
    proc.communicate(timeout=60)
    assert proc.returncode in (-signal.SIGINT, 130) and time.time() - start < 30
    resume = [a for a in args if a != "--out" and a != str(out)] + ["--resume", str(out)]
    finished = subprocess.run(resume, capture_output=True, text=True, timeout=600)
    assert finished.returncode == 0, finished.stderr
    assert (out / "summary.json").exists()


@pytest.mark.parametrize(
    "agent,env,extra",
    [
        ("q_learning", "Taxi-v3", ["--total-steps", "400000", "--eval-every", "4000"]),
        ("dqn", "CartPole-v1", ["--total-steps", "40000", "--eval-every", "1000", "--set", "hidden_sizes=(32,)"]),
    ],
)
def test_sigint_after_the_first_checkpoint_then_the_printed_resume_command_gives_the_uninterrupted_run(
    tmp_path, agent, env, extra, test_compile_cache
):
    import json
    import re
    import subprocess
    import sys

    base = [sys.executable, "-m", "rljax.cli", "train", agent, "--env", env, "--seeds", "2", *extra]
    base += ["--eval-episodes", "10", "--no-progress", "--checkpoint-every", "4000"]
    straight = subprocess.run([*base, "--out", str(tmp_path / "straight")], capture_output=True, text=True)
    assert straight.returncode == 0, straight.stderr
    out = tmp_path / "run"
    proc = subprocess.Popen([*base, "--out", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    while not (out / "checkpoint.msgpack").exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 130, err
    command = re.search(r"continue \(same numbers as an uninterrupted run\) with: (.+)$", err.strip()).group(1)
    assert command.endswith(f"--resume {out}")
    argv = command.split()
    resumed = subprocess.run([sys.executable, "-m", "rljax.cli", *argv[1:]], capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    a, b = (json.loads((d / "summary.json").read_text()) for d in (tmp_path / "straight", out))
    assert a["final_eval_return"] == b["final_eval_return"] and a["steps_to_threshold"] == b["steps_to_threshold"]
    assert (out / "metrics.csv").read_text() == (tmp_path / "straight" / "metrics.csv").read_text()
