"""Two processes through ``jax.distributed`` train one batch of seeds over 4 global devices, as one process does.

Each process has 2 CPU devices (``--xla_force_host_platform_device_count``) and runs
the same script; the coordinator is on 127.0.0.1 and CPU collectives go through
gloo. The library's own sharding spreads the lanes over the 4 global devices, and
both processes gather every seed's metrics.
"""

import json
import os
import socket
import subprocess
import sys

import numpy as np

SCRIPT = """
import json, sys
import jax
pid, port = int(sys.argv[1]), sys.argv[2]
if pid >= 0:
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(f"127.0.0.1:{port}", 2, pid)
from rljax.experiment import train
r = train("q_learning", "Taxi-v3", seeds=range(8), lane_width=2, total_steps=20_000, eval_every=5_000,
          eval_episodes=10, progress=False, watchdog_seconds=0)
print("RESULT", json.dumps({"process": jax.process_index(), "devices": jax.device_count(), "used": r.num_devices,
                            "eval_return": r.metrics["eval_return"].tolist()}), flush=True)
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def result(proc: subprocess.Popen) -> dict:
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-3000:]
    return json.loads(next(line for line in out.splitlines() if line.startswith("RESULT "))[7:])


def test_two_processes_give_every_seed_the_numbers_of_one_process():
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2", "RLJAX_COMPILE_CACHE": "off"}
    port = str(free_port())
    launch = lambda pid, extra_env: subprocess.Popen(  # noqa: E731
        [sys.executable, "-c", SCRIPT, str(pid), port],
        env={**env, **extra_env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    workers = [launch(0, {}), launch(1, {})]
    alone = result(launch(-1, {"XLA_FLAGS": "--xla_force_host_platform_device_count=1"}))
    first, second = (result(p) for p in workers)
    assert first["devices"] == second["devices"] == 4 and first["used"] == 4
    assert {first["process"], second["process"]} == {0, 1}
    assert alone["devices"] == 1
    np.testing.assert_array_equal(first["eval_return"], alone["eval_return"])  # seed by seed, every evaluation
    np.testing.assert_array_equal(second["eval_return"], alone["eval_return"])
    assert len({tuple(r) for r in alone["eval_return"]}) > 1  # the seeds are different runs
