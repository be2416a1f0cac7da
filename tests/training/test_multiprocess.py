"""Two processes through ``jax.distributed`` train one batch of seeds over 4 global devices, as one process does.

Each process has 2 CPU devices (``--xla_force_host_platform_device_count``) and runs
the same script; the coordinator is on 127.0.0.1 and CPU collectives go through
gloo. The library's own sharding spreads the lanes over the 4 global devices, and
both processes gather every seed's metrics. With a run folder, process 0 writes it
and each process checkpoints its own shards; a signal to one process stops both
after the same segment, and the two resume to the numbers of one uninterrupted process.
"""

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

SCRIPT = """
import json, os, signal, sys
import jax
pid, port, out, mode = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
if pid >= 0:
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(f"127.0.0.1:{port}", 2, pid)
from rljax.experiment import train
from rljax.training.interrupts import RunInterrupted

def on_segment(i, metrics):  # "interrupt": only process 1 gets a SIGINT, after segment 2 of 4
    if mode == "interrupt" and pid == 1 and i == 1:
        os.kill(os.getpid(), signal.SIGINT)

folder = dict(out=out, checkpoint_every=5_000, resume=mode == "resume") if out != "-" else {}
try:
    r = train("q_learning", "Taxi-v3", seeds=range(8), lane_width=2, total_steps=20_000, eval_every=5_000,
              eval_episodes=10, progress=False, watchdog_seconds=0, on_segment=on_segment, **folder)
except RunInterrupted as stop:
    print("RESULT", json.dumps({"process": jax.process_index(), "interrupted": str(stop)}), flush=True)
    sys.exit(0)
print("RESULT", json.dumps({"process": jax.process_index(), "devices": jax.device_count(), "used": r.num_devices,
                            "eval_return": r.metrics["eval_return"].tolist()}), flush=True)
"""

ENV = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2", "RLJAX_COMPILE_CACHE": "off"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(pid: int, port: str = "0", out: str = "-", mode: str = "plain", **extra_env: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", SCRIPT, str(pid), port, out, mode],
        env={**ENV, **extra_env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def two_processes(**kwargs: str) -> list[subprocess.Popen]:
    port = str(free_port())
    return [launch(0, port, **kwargs), launch(1, port, **kwargs)]


def result(proc: subprocess.Popen) -> dict:
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-3000:]
    return json.loads(next(line for line in out.splitlines() if line.startswith("RESULT "))[7:])


@pytest.mark.multiprocess
def test_two_processes_checkpoint_their_own_shards_and_resume_to_every_seed_s_numbers_of_one_process(tmp_path):
    from rljax.runs.files import _unpack
    from rljax.runs.manifest import check_resume

    out = tmp_path / "run"
    alone = launch(-1, XLA_FLAGS="--xla_force_host_platform_device_count=1")  # no folder: one process, one device
    cache = str(tmp_path / "cache")  # the resumed run compiles the first run's programs: cached, a shorter test
    stopped = [result(p) for p in two_processes(out=str(out), mode="interrupt", RLJAX_COMPILE_CACHE=cache)]
    # A signal to process 1 alone stops both after the same segment, each saving its own shards.
    assert all("SIGINT: stopped after segment 2 of 4" in r["interrupted"] for r in stopped)
    files = {f.name for f in out.iterdir()}
    assert {"run.json", "manifest.json", "metrics.csv"} <= files
    assert not {"checkpoint.msgpack", "summary.json", ".rljax.lock"} & files
    for p in (0, 1):
        assert {f"checkpoint.p{p}-of-2.msgpack", f"checkpoint.p{p}-of-2.prev.msgpack"} <= files
        saved = _unpack(out / f"checkpoint.p{p}-of-2.msgpack")
        assert saved["segments_done"] == 2 and saved["layout"]["process_index"] == p
        # Its own 2 of the 4 lanes (one per device), not the gathered state.
        assert sorted(b[0].tolist() for b in saved["bounds"]["0"]) == [[2 * p, 2 * p + 1], [2 * p + 1, 2 * p + 2]]
    with pytest.raises(ValueError, match="written by a run of 2 processes; this one has 1"):
        check_resume(out, json.loads((out / "run.json").read_text()))  # what train(resume=True) checks first

    resumed = [result(p) for p in two_processes(out=str(out), mode="resume", RLJAX_COMPILE_CACHE=cache)]
    alone = result(alone)
    assert {r["process"] for r in resumed} == {0, 1} and all(r["devices"] == 4 == r["used"] for r in resumed)
    assert alone["devices"] == 1 and len({tuple(r) for r in alone["eval_return"]}) > 1  # the seeds differ
    for r in resumed:  # seed by seed, every evaluation, the 2 segments before the stop and the 2 after
        np.testing.assert_array_equal(r["eval_return"], alone["eval_return"])
    summary = json.loads((out / "summary.json").read_text())
    assert summary["final_eval_return"] == [row[-1] for row in alone["eval_return"]]
    assert (out / "agent_state.msgpack").exists() and not (out / ".rljax.lock").exists()
    rows = (out / "metrics.csv").read_text().splitlines()
    assert sum(",eval_return," in row for row in rows) == 8 * 4  # rebuilt whole by process 0, once


def test_processes_resume_the_newest_checkpoint_they_all_have():
    from rljax.runs.checkpoints import common_checkpoint

    assert common_checkpoint(np.array([[4], [4]])) == 4
    assert common_checkpoint(np.array([[4, 2], [2, 0]])) == 2  # process 1 was killed before saving segment 4
    assert common_checkpoint(np.array([[-1, 2], [4, 2]])) == 2  # process 0's newest is damaged
    assert common_checkpoint(np.array([[-1, 2], [4, -1]])) is None
