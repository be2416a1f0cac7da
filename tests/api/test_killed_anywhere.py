"""SIGKILL at any instant, many times in a row: ``rljax train --resume`` (and ``rljax sweep
--resume``) still end bitwise where the uninterrupted run ends.

A tiny DQN (two seeds, 32 segments, a checkpoint every 2) takes a few seconds a run; every
process shares the test's compile cache, so a restart compiles nothing.
"""

import filecmp
import json
import random
import signal
import subprocess
import sys
import time

import pytest

TINY_DQN = [
    "dqn",
    "--env",
    "CartPole-v1",
    "--seeds",
    "2",
    "--total-steps",
    "8192",
    "--eval-every",
    "256",
    "--eval-episodes",
    "3",
    "--fast-compile",
    "--no-progress",
    *("--set", "num_envs=2", "--set", "buffer_size=500", "--set", "batch_size=16", "--set", "learning_starts=32"),
    *("--set", "hidden_sizes=16", "--set", "target_update_interval=10"),
]
CHECKPOINTED = [*TINY_DQN, "--checkpoint-every", "512", "--save-replay"]
RLJAX = [sys.executable, "-m", "rljax.cli"]
FINAL_FILES = ["metrics.csv", "agent_state.msgpack", "agent_state_full.msgpack", "config.json", "run.json"]


def train_command(out):
    """The first command, and once the folder exists, the resume: the same command each time."""
    where = ["--resume", str(out)] if out.exists() else ["--out", str(out)]
    return [*RLJAX, "train", *CHECKPOINTED, *where]


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("jax-cache")


@pytest.fixture(scope="module")
def straight(tmp_path_factory, cache_dir):
    """The uninterrupted run (it also fills the compile cache the killed runs load from)."""
    import os

    out = tmp_path_factory.mktemp("straight") / "run"
    env = {**os.environ, "RLJAX_COMPILE_CACHE": str(cache_dir)}
    done = subprocess.run([*RLJAX, "train", *CHECKPOINTED, "--out", str(out)], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return out


def assert_same_end(out, straight):
    """metrics.csv byte for byte, the final agent states (replay included) bitwise, every seed's returns."""
    for name in FINAL_FILES:
        assert filecmp.cmp(out / name, straight / name, shallow=False), name
    a, b = (json.loads((d / "summary.json").read_text()) for d in (out, straight))
    for key in ("seeds", "final_eval_return", "env_steps", "steps_to_threshold", "diverged", "config"):
        assert a[key] == b[key], key
    assert not (out / ".rljax.lock").exists()
    assert not [f.name for f in out.iterdir() if f.name.endswith(".tmp")]


def where_it_was(out):
    """What the folder held when the kill came (for the failure message)."""
    if not out.exists():
        return "no folder"
    rows = sum(len(csv.read_bytes().splitlines()) - 1 for csv in out.rglob("metrics.csv"))
    return f"{rows} metric rows, checkpoint: {any(out.rglob('checkpoint.msgpack'))}"


def _stamps(out):
    """Every metrics table under ``out``: which file, when written, how long."""
    return {(csv, csv.stat().st_ino, csv.stat().st_mtime_ns, csv.stat().st_size) for csv in out.rglob("metrics.csv")}


def wait_for(proc, changed, timeout_s=120.0):
    """Polls (every millisecond) until ``changed()`` or the process ends; True if it changed first."""
    deadline = time.monotonic() + timeout_s
    while proc.poll() is None:
        if changed():
            return True
        assert time.monotonic() < deadline, "the run made no progress"
        time.sleep(0.001)
    return False


def kill_during(phase, out, rng, command):
    """Starts ``command`` and SIGKILLs it in ``phase``, at a moment drawn from ``rng``.

    start-up: 0.1-2 s after the start (imports, the folder and its lock, the compile);
    training: 0-0.3 s after it appends its first metrics row; checkpoint: as soon as a
    checkpoint's temporary file appears, or 0-10 ms later (the write, the two renames);
    final writes: as soon as the final agent states or summary start being written.
    Returns what the kill hit, or None if the process had finished (exit 0) by then.
    """
    csv_before = _stamps(out) if out.exists() else set()
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    delay = 0.0
    if phase == "start-up":
        started, delay = time.monotonic(), rng.uniform(0.1, 2.0)
        arrived = wait_for(proc, lambda: time.monotonic() - started >= delay)
        delay = 0.0
    elif phase == "training":
        delay = rng.uniform(0.0, 0.3)
        arrived = wait_for(proc, lambda: out.exists() and _stamps(out) - csv_before)
    elif phase == "checkpoint":
        delay = rng.choice([0.0, rng.uniform(0.0, 0.01)])
        arrived = wait_for(proc, lambda: any(out.rglob(".checkpoint.msgpack.*.tmp")))
    else:
        arrived = wait_for(proc, lambda: any(out.rglob(".agent_state*.tmp")) or any(out.rglob(".summary.json.*.tmp")))
    if arrived:
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
    _, err = proc.communicate()
    if proc.returncode == 0:
        return None
    assert proc.returncode == -signal.SIGKILL, err
    return f"{phase} +{delay * 1000:.0f} ms: {where_it_was(out)}"


def test_killed_at_random_moments_many_times_ends_as_the_uninterrupted_run(tmp_path, monkeypatch, cache_dir, straight):
    monkeypatch.setenv("RLJAX_COMPILE_CACHE", str(cache_dir))
    out = tmp_path / "run"
    rng = random.Random(2026_12_07)
    phases = ["start-up", "training", "checkpoint"] * 3
    rng.shuffle(phases)
    kills = [kill_during(phase, out, rng, train_command(out)) for phase in [*phases, "final writes"]]
    assert sum(k is not None for k in kills) >= 8, kills
    finished = subprocess.run(train_command(out), capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr
    assert_same_end(out, straight)

    # A resume of the finished run has nothing to do, says so, and leaves the folder as it is.
    before = {f.name: f.stat().st_mtime_ns for f in out.iterdir()}
    again = subprocess.run(train_command(out), capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert "has finished already (summary.json): nothing to resume" in again.stderr
    assert {f.name: f.stat().st_mtime_ns for f in out.iterdir()} == before


# --------------------------------------------------------------------------- sweeps

SHORT = [a if a != "8192" else "4096" for a in CHECKPOINTED]  # 16 segments, for two configurations
SWEEP = [*RLJAX, "sweep", *SHORT, "--grid", "lr=0.001,0.003", "--log", "tensorboard"]
LABELS = ["learning_rate=0.001", "learning_rate=0.003"]


def sweep_command(out):
    where = ["--resume", str(out)] if out.exists() else ["--out", str(out)]
    return [*SWEEP, *where]


@pytest.fixture(scope="module")
def straight_sweep(tmp_path_factory, cache_dir):
    import os

    out = tmp_path_factory.mktemp("straight") / "sweep"
    env = {**os.environ, "RLJAX_COMPILE_CACHE": str(cache_dir)}
    done = subprocess.run([*SWEEP, "--out", str(out)], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return out


def logged(folder, tag):
    """Every (step, value) TensorBoard shows for ``tag`` in each run under ``folder``, in order."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out = {}
    for run in sorted(p for p in folder.iterdir() if p.is_dir()):
        ea = EventAccumulator(str(run), size_guidance={"scalars": 0})
        ea.Reload()
        out[run.name] = [(e.step, e.value) for e in ea.Scalars(tag)] if tag in ea.Tags()["scalars"] else []
    return out


def assert_same_sweep(out, straight):
    assert (out / "sweep.json").read_text() == (straight / "sweep.json").read_text()
    for label in LABELS:
        assert_same_end(out / label, straight / label)
        # What the killed processes logged past their checkpoints is gone, and the held-threshold
        # statistics carry on from metrics.csv: TensorBoard shows the uninterrupted sweep's curves.
        for tag in ("eval_return", "at_threshold", "held_since_first"):
            a, b = (logged(d / label / "tensorboard", tag) for d in (out, straight))
            assert a == b, (label, tag)
    assert any(logged(straight / LABELS[0] / "tensorboard", "eval_return").values())
    assert not (out / ".rljax.lock").exists()


def test_a_sweep_killed_many_times_resumes_to_the_uninterrupted_sweep(tmp_path, monkeypatch, cache_dir, straight_sweep):
    monkeypatch.setenv("RLJAX_COMPILE_CACHE", str(cache_dir))
    out = tmp_path / "sweep"
    rng = random.Random(2026_12_08)
    phases = ["start-up", "training", "checkpoint", "training", "checkpoint", "final writes"]
    kills = [kill_during(phase, out, rng, sweep_command(out)) for phase in phases]
    assert sum(k is not None for k in kills) >= 5, kills
    finished = subprocess.run(sweep_command(out), capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr
    assert_same_sweep(out, straight_sweep)


def test_a_sweep_stopped_with_ctrl_c_prints_the_command_that_resumes_it(
    tmp_path, monkeypatch, cache_dir, straight_sweep
):
    import re

    monkeypatch.setenv("RLJAX_COMPILE_CACHE", str(cache_dir))
    out = tmp_path / "sweep"
    proc = subprocess.Popen([*SWEEP, "--out", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    assert wait_for(proc, lambda: any(out.rglob("checkpoint.msgpack")))
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 130, err
    assert "SIGINT: stopped after segment" in err and "finished configurations: none" in err
    command = re.search(r"continue \(same numbers as an uninterrupted sweep\) with: (.+)$", err.strip(), re.I)
    assert command is not None, err
    argv = command.group(1).split()
    assert argv[:2] == ["rljax", "sweep"] and argv[-2:] == ["--resume", str(out)]
    resumed = subprocess.run([*RLJAX, *argv[1:]], capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert_same_sweep(out, straight_sweep)

    # A resume with another grid, other seeds, agent or environment is refused, naming what differs.
    before = {f: f.stat().st_mtime_ns for f in out.rglob("*")}
    other = [*RLJAX, "sweep", *SHORT, "--grid", "lr=0.001,0.01", "--resume", str(out)]
    refused = subprocess.run(other, capture_output=True, text=True, timeout=300)
    assert refused.returncode == 2
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("rljax sweep: error: --resume: the sweep differs"), lines
    assert "grid:" in lines[0] and "seeds:" not in lines[0]
    assert {f: f.stat().st_mtime_ns for f in out.rglob("*")} == before
