"""benchmarks/gpu_suite.py --tiny: every cell of the GPU suite runs (toy sizes, CPU) and reports."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_gpu_suite_tiny_runs_every_cell(tmp_path):
    proc = subprocess.run(
        [sys.executable, "benchmarks/gpu_suite.py", "--tiny", "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = {r["cell"]: r for r in json.loads((tmp_path / "suite.json").read_text())}
    expected = {"dqn_2", "dqn_4", "dqn_2_deterministic", "invariance", "taxi_q_learning", "reinforce", "breakout"}
    assert set(rows) == expected and not any(r.get("failed") for r in rows.values())
    for name in expected - {"invariance"}:
        r = rows[name]
        assert r["train_s"] > 0 and r["env_steps_per_s"] > 0 and r["env_steps_per_seed"] > 0
    assert rows["dqn_2_deterministic"]["deterministic"] and not rows["dqn_2"]["deterministic"]
    # on CPU the flag changes nothing: the same numbers
    assert rows["dqn_2_deterministic"]["mean_return"] == rows["dqn_2"]["mean_return"]
    assert rows["invariance"]["bitwise_equal_params"] and not rows["invariance"]["returns_differ"]
    assert len(rows["breakout"]["curve_steps"]) == len(rows["breakout"]["curve_mean_return"]) > 1
    md = (tmp_path / "suite.md").read_text()
    assert "| dqn_4 | 4 |" in md and "--deterministic` cost" in md and "bitwise equal: True" in md
