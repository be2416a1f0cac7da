"""Sharding runs over several devices gives the same per-seed numbers as one device."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

SCRIPT = """
import hashlib, json, sys, jax, numpy as np
from rljax.training.batch import FAST_COMPILE
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


NEURAL = """
import json, sys, jax, numpy as np
from rljax.training.batch import FAST_COMPILE
from rljax.experiment import train
agent = sys.argv[2]
# DQN without Double DQN and with its learning rate annealed over this short run: with Double
# DQN, float rounding grows from 1e-7 to 1e-1 within these 3000 steps (the assertion below
# is about rounding, not about chaos), on 4 devices as on 1.
kw = {"dqn": dict(overrides={"hidden_sizes": (16,), "learning_starts": 200, "batch_size": 32, "num_envs": 4,
                              "schedule_steps": 0, "learning_rate_end_fraction": 0.03, "double_dqn": False},
                  total_steps=3000),
      "reinforce": dict(overrides={"hidden_sizes": (16,)}, total_steps=6000),
      "muzero": dict(overrides={"num_envs": 2, "buffer_size": 400, "batch_size": 8, "learning_starts": 40,
                                "hidden_sizes": (8,), "latent_size": 8, "num_simulations": 2, "unroll_steps": 2,
                                "td_steps": 3, "train_frequency": 4}, total_steps=320),
      "ppo": dict(overrides={"hidden_sizes": (16,), "num_envs": 2, "rollout_length": 32, "num_minibatches": 2},
                  total_steps=1024),
      "pqn": dict(overrides={"num_envs": 4, "rollout_length": 8, "num_minibatches": 2, "num_epochs": 2,
                              "hidden_sizes": (16,)}, total_steps=1024),
      "sac": dict(overrides={"hidden_sizes": (16,), "batch_size": 16, "buffer_size": 500, "learning_starts": 64,
                              "num_envs": 2}, total_steps=200)}[agent]
env_id = "Pendulum-v1" if agent == "sac" else "CartPole-v1"
r = train(agent, env_id, seeds=range(4), lane_width=1, eval_episodes=5, num_devices=int(sys.argv[1]),
          compiler_options=FAST_COMPILE, progress=False, **kw)
params = np.concatenate([np.asarray(x).reshape(4, -1) for x in jax.tree.leaves(r.agent_states().params)], 1)
print(json.dumps({"used": r.num_devices, "params": params.tolist(), "returns": r.final_eval_return.tolist()}))
"""


@pytest.mark.parametrize("agent", ["dqn", "reinforce", "muzero", "ppo", "pqn", "sac"])
def test_neural_agents_bitwise_on_two_and_four_devices_and_to_rounding_on_one(agent):
    """4 seeds in lanes of 1: 2 groups of a lane per device on 2 devices, 1 group on 4.

    Every device runs the same one-lane program, so 2 and 4 devices give the same bits.
    One device compiles that program without partitioning, with other fusions: there
    the runs agree to float rounding (docs/guide/devices.md).
    """
    runs = {}
    for n in (4, 2, 1):
        env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=4"}
        proc = subprocess.run(
            [sys.executable, "-c", NEURAL, str(n), agent], env=env, capture_output=True, text=True, timeout=600
        )
        assert proc.returncode == 0, proc.stderr
        runs[n] = json.loads(proc.stdout.strip().splitlines()[-1])
    assert [runs[n]["used"] for n in (4, 2, 1)] == [4, 2, 1]
    four, two, one = (np.asarray(runs[n]["params"]) for n in (4, 2, 1))
    np.testing.assert_array_equal(two, four)  # bitwise, seed by seed
    assert runs[2]["returns"] == runs[4]["returns"]
    # The same runs, to float rounding (SAC grows it fastest: past 1e-3 by 400 steps).
    np.testing.assert_allclose(four, one, rtol=0, atol=1e-3 if agent == "sac" else 1e-5)
    assert np.abs(four[0] - four[1]).max() > 1e-2  # while different seeds are different runs
