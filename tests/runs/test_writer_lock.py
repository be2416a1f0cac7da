"""One writer per folder: ``DIR/.rljax.lock`` refuses a second ``train`` / ``sweep`` / ``--resume`` /
``--overwrite`` while another process writes DIR, and a lock left by a killed process is taken over."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

import rljax
from rljax.cli import main
from rljax.runs import files, locks
from rljax.runs.locks import LOCK_FILE, FolderInUse, FolderLock, lock_folder, releases_folder_locks
from rljax.runs.manifest import resolve_run_dir
from rljax.runs.readers import load_runs
from rljax.training.batch import FAST_COMPILE

RUN = dict(
    seeds=[0, 1], total_steps=400, eval_every=200, eval_episodes=2, compiler_options=FAST_COMPILE, progress=False
)
CLI_RUN = [
    "q_learning",
    "--env",
    "Taxi-v3",
    "--seed-list",
    "0,1",
    "--total-steps",
    "400",
    "--eval-every",
    "200",
    "--eval-episodes",
    "2",
    "--fast-compile",
    "--no-progress",
]
FILES_PY = Path(locks.__file__)
# Loads rljax/runs/locks.py alone (standard library only), so the holder starts in a blink.
HOLDER = f"""
import importlib.util, sys, time
spec = importlib.util.spec_from_file_location("rljax_files", {str(FILES_PY)!r})
files = importlib.util.module_from_spec(spec)
spec.loader.exec_module(files)
files.lock_folder(sys.argv[1], ["rljax", "train", "holder", "--out", sys.argv[1]])
print("locked", flush=True)
time.sleep(120)
"""


@pytest.fixture
def holder(tmp_path):
    """A live process holding the lock of ``tmp_path / "busy"`` (which holds a file ``keep.txt``)."""
    folder = tmp_path / "busy"
    folder.mkdir()
    (folder / "keep.txt").write_text("mine\n")
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(folder)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "locked"
        yield folder, proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def refusal(folder, record):
    started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(record["started"]))
    return (
        f"{str(folder)!r} is being written by another process (pid {record['pid']} on {record['host']}, "
        f"started {started}, command: {record['command']}); wait for it to end or stop it"
    )


def record_of(folder):
    return json.loads((folder / LOCK_FILE).read_text())


def test_a_live_writer_refuses_train_resume_overwrite_and_sweep(holder, capsys):
    folder, proc = holder
    record = record_of(folder)
    assert record["pid"] == proc.pid and record["host"] == socket.gethostname()
    assert record["command"] == f"rljax train holder --out {folder}"
    expected = refusal(folder, record)
    for kwargs in (dict(overwrite=True), dict(resume=True)):
        with pytest.raises(FolderInUse) as err:
            rljax.train("q_learning", "Taxi-v3", out=folder, **kwargs, **RUN)
        assert str(err.value) == expected
    with pytest.raises(FolderInUse) as err:
        rljax.sweep("q_learning", "Taxi-v3", {"learning_rate": [0.1, 0.5]}, out=folder, overwrite=True, **RUN)
    assert str(err.value) == expected
    for flags in (["--out", str(folder), "--overwrite"], ["--resume", str(folder)]):
        assert main(["train", *CLI_RUN, *flags]) == 2
        assert capsys.readouterr().err.strip().splitlines() == [f"rljax train: error: {expected}"]
    assert main(["sweep", *CLI_RUN, "--grid", "lr=0.1,0.5", "--out", str(folder), "--overwrite"]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [f"rljax sweep: error: {expected}"]
    # nothing was deleted or written, and the holder still holds its lock
    assert sorted(p.name for p in folder.iterdir()) == [LOCK_FILE, "keep.txt"]
    assert record_of(folder) == record and proc.poll() is None


def test_a_killed_writers_lock_is_taken_over(holder, capsys):
    folder, proc = holder
    record = record_of(folder)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert (folder / LOCK_FILE).exists()  # left behind, but no process holds it
    capsys.readouterr()
    rljax.train("q_learning", "Taxi-v3", out=folder, overwrite=True, **RUN)
    started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(record["started"]))
    assert capsys.readouterr().err.strip().splitlines() == [
        f"rljax: taking over the stale lock {str(folder / LOCK_FILE)!r} of a process that ended without "
        f"releasing it (pid {proc.pid} on {record['host']}, started {started}, command: {record['command']})"
    ]
    # the run replaced the folder and, done, released it
    assert (folder / "summary.json").is_file() and not (folder / "keep.txt").exists()
    assert not (folder / LOCK_FILE).exists()


def test_the_lock_is_held_while_training_and_gone_after(tmp_path):
    out = tmp_path / "run"
    seen = []

    def on_segment(i, metrics):
        seen.append(record_of(out))
        with pytest.raises(FolderInUse, match=f"pid {os.getpid()} on "):
            FolderLock(out).acquire()  # a second writer, even in this process

    rljax.train("q_learning", "Taxi-v3", out=out, on_segment=on_segment, checkpoint_every=200, **RUN)
    assert seen and all(r["pid"] == os.getpid() for r in seen)
    assert not (out / LOCK_FILE).exists()
    seen.clear()
    rljax.train("q_learning", "Taxi-v3", out=out, resume=True, on_segment=on_segment, checkpoint_every=200, **RUN)
    assert seen and not (out / LOCK_FILE).exists()


def test_an_exception_in_the_run_releases_the_lock(tmp_path):
    out = tmp_path / "run"

    def on_segment(i, metrics):
        assert (out / LOCK_FILE).exists()
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        rljax.train("q_learning", "Taxi-v3", out=out, on_segment=on_segment, **RUN)
    assert not (out / LOCK_FILE).exists()
    lock_folder(out).release()  # free again


def test_a_sweep_holds_its_folder_and_releases_it(tmp_path):
    out = tmp_path / "sweep"
    held = []  # sweep takes no on_segment: see which folders it locks
    original = locks.FolderLock.acquire

    def spying_acquire(self):
        held.append(self.folder)
        return original(self)

    locks.FolderLock.acquire = spying_acquire
    try:
        rljax.sweep("q_learning", "Taxi-v3", {"learning_rate": [0.1, 0.5]}, out=out, **RUN)
    finally:
        locks.FolderLock.acquire = original
    assert held == [out]
    assert not (out / LOCK_FILE).exists()
    assert [run.label for run in load_runs([out])] == ["sweep/learning_rate=0.1", "sweep/learning_rate=0.5"]


def test_a_refused_resume_of_a_missing_folder_says_there_is_nothing(tmp_path):
    with pytest.raises(ValueError, match="has no checkpoint to resume from"):
        rljax.train("q_learning", "Taxi-v3", out=tmp_path / "nothing", resume=True, **RUN)
    assert not (tmp_path / "nothing").exists()


def test_readers_ignore_a_left_lock_file(tmp_path):
    """A stale lock in a finished run or sweep folder does not disturb reports or policies."""
    out = tmp_path / "sweep"
    rljax.sweep("q_learning", "Taxi-v3", {"learning_rate": [0.1, 0.5]}, out=out, **RUN)
    info = json.loads((out / "sweep.json").read_text())
    info.pop("labels")  # the folder-listing path of load_runs
    (out / "sweep.json").write_text(json.dumps(info))
    for d in (out, out / "learning_rate=0.1"):
        (d / LOCK_FILE).write_text(json.dumps({"pid": 1, "host": "elsewhere"}) + "\n")
    runs = load_runs([out])
    assert [run.label for run in runs] == ["sweep/learning_rate=0.1", "sweep/learning_rate=0.5"]
    assert resolve_run_dir(out / "learning_rate=0.1") == out / "learning_rate=0.1"
    assert rljax.load_policy(out / "learning_rate=0.1", 1).seed == 1


# --------------------------------------------------------------------------- the lock alone


def dead_pid():
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_lock_file_of_a_dead_pid_is_taken_over(tmp_path, capsys):
    (tmp_path / LOCK_FILE).write_text(json.dumps({"pid": dead_pid(), "host": socket.gethostname()}) + "\n")
    with lock_folder(tmp_path, "me") as lock:
        assert record_of(tmp_path)["command"] == "me" and lock.held
    assert "taking over the stale lock" in capsys.readouterr().err
    assert not (tmp_path / LOCK_FILE).exists()


def test_without_flock_the_recorded_pid_decides(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(locks, "fcntl", None)
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        record = {"pid": live.pid, "host": socket.gethostname(), "command": "other", "started": time.time()}
        (tmp_path / LOCK_FILE).write_text(json.dumps(record) + "\n")
        with pytest.raises(FolderInUse, match=f"pid {live.pid} on .*command: other"):
            lock_folder(tmp_path)
    finally:
        live.kill()
        live.wait()
    # the same record once that process is gone: stale
    with lock_folder(tmp_path):
        assert record_of(tmp_path)["pid"] == os.getpid()
    assert "taking over the stale lock" in capsys.readouterr().err


def test_a_lock_released_is_a_lock_free(tmp_path):
    first = lock_folder(tmp_path, "first")
    with pytest.raises(FolderInUse, match=r"command: first\); wait for it to end or stop it$"):
        lock_folder(tmp_path, "second")
    first.release()
    first.release()  # twice is fine
    with lock_folder(tmp_path, "second"):
        assert record_of(tmp_path)["command"] == "second"


def test_the_decorator_releases_on_exceptions(tmp_path):
    @releases_folder_locks
    def work():
        lock_folder(tmp_path)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        work()
    assert not (tmp_path / LOCK_FILE).exists()


def test_prepare_out_dir_needs_a_lock_scope(tmp_path):
    with pytest.raises(RuntimeError, match="releases_folder_locks"):
        files.prepare_out_dir(tmp_path / "x", overwrite=False)
    assert not (tmp_path / "x").exists()
