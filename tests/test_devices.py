"""Sharding runs over several devices gives the same per-seed numbers as one device."""

import json
import os
import subprocess
import sys

SCRIPT = """
import hashlib, json, sys, jax, numpy as np
from rljax.batch import FAST_COMPILE
from rljax.experiment import train
r = train("q_learning", "FrozenLake-v1", seeds=range(6), lane_width=2, total_steps=6000, eval_episodes=20,
          num_devices=int(sys.argv[1]), compiler_options=FAST_COMPILE)
q = np.asarray(r.final_state.agent_state.q).reshape(-1, 16, 4)[:6]
print(json.dumps({"devices": jax.local_device_count(), "used": r.num_devices,
                  "returns": r.final_eval_return.tolist(),
                  "q": [hashlib.sha256(x.tobytes()).hexdigest() for x in q]}))
"""


def run_with(num_devices: int) -> dict:
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=4"}
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(num_devices)], env=env, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_four_fake_devices_match_one_device():
    four, one = run_with(4), run_with(1)
    assert four["devices"] == 4 and four["used"] == 4 and one["used"] == 1
    assert four["q"] == one["q"]  # bitwise, seed by seed
    assert four["returns"] == one["returns"]
    assert len(set(four["q"])) == 6  # and the seeds are different runs
