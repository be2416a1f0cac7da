"""benchmarks/checkpoint_scaling.py: one tiny cell with and without checkpoints, in fresh processes."""

import importlib.util
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_a_cell_measures_the_checkpoints_it_writes_and_none_without(monkeypatch):
    spec = importlib.util.spec_from_file_location("checkpoint_scaling", ROOT / "benchmarks" / "checkpoint_scaling.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    with_, without = bench.run_cell(2, 1024, True), bench.run_cell(2, 1024, False)
    assert with_["writes"] == 3 and without["writes"] == 0  # 4 segments of 256: one after each but the last
    # The file holds the whole state (replay buffers included) and a little more (metrics, checksum).
    assert with_["state_bytes"] <= with_["checkpoint_bytes"] < 1.1 * with_["state_bytes"] + 2**20
    assert without["checkpoint_bytes"] == 0 and with_["write_s"] > 0
