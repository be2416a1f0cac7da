"""The rljax command gives JAX's CPU backend 2 devices, Python on request (rljax.use_cpu_devices), unless the
user set a count; importing rljax sets nothing (rljax/training/devices.py)."""

import json
import os
import subprocess
import sys

import pytest

COUNT = "import jax; print(len(jax.devices()), 'JAX_NUM_CPU_DEVICES' in __import__('os').environ)"


def devices_after(code: str, **env: str) -> str:
    environ = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", "RLJAX_CPU_DEVICES")}
    proc = subprocess.run(
        [sys.executable, "-c", code], env={**environ, **env}, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip().splitlines()[-1]


USE = "import rljax; rljax.use_cpu_devices(); "


@pytest.mark.parametrize(
    "code, env, expected",
    [
        ("import rljax; import rljax.envs; " + COUNT, {}, "1 False"),  # importing rljax sets nothing
        (USE + COUNT, {}, "2 False"),  # asked for: 2, set without leaking into child processes
        (USE + COUNT, {"RLJAX_CPU_DEVICES": "3"}, "3 False"),
        (USE + COUNT, {"XLA_FLAGS": "--xla_force_host_platform_device_count=4"}, "4 False"),  # the user's count
        ("import jax; " + USE + COUNT, {}, "2 False"),  # JAX imported first, backends not started
        (COUNT, {}, "1 False"),  # without rljax, JAX's own default
    ],
)
def test_cpu_device_count(code, env, expected):
    assert devices_after(code, **env) == expected


def test_the_command_line_trains_on_two_cpu_devices(tmp_path):
    out = tmp_path / "run"
    environ = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", "RLJAX_CPU_DEVICES")}
    proc = subprocess.run(
        [sys.executable, "-m", "rljax.cli", "train", "q_learning", "--env", "Chain", "--total-steps", "200"]
        + ["--eval-episodes", "1", "--no-progress", "--out", str(out)],
        env=environ,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads((out / "summary.json").read_text())["num_devices"] == 2


def test_a_bad_count_is_a_one_line_error_and_nothing_is_written(tmp_path):
    out = tmp_path / "run"
    proc = subprocess.run(
        [sys.executable, "-m", "rljax.cli", "train", "q_learning", "--env", "Chain", "--out", str(out)],
        env={**os.environ, "RLJAX_CPU_DEVICES": "two"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == "rljax train: error: RLJAX_CPU_DEVICES must be a whole number >= 1; got 'two'"
    assert not out.exists()


def test_the_python_api_refuses_a_bad_count_too():
    code = "import rljax; rljax.use_cpu_devices()"
    proc = subprocess.run(
        [sys.executable, "-c", code], env={**os.environ, "RLJAX_CPU_DEVICES": "0"}, capture_output=True, text=True
    )
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert last == "rljax._errors.ValidationError: RLJAX_CPU_DEVICES must be a whole number >= 1; got '0'"
