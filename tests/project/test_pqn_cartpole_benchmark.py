"""benchmarks/pqn_cartpole.py: the alternating rounds, the medians and ratio it reports, and one cold
measurement of a tiny PQN run in its own subprocess."""

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _load_benchmark():
    sys.path.insert(0, str(ROOT / "benchmarks"))  # the script imports its sibling _worker
    spec = importlib.util.spec_from_file_location("pqn_cartpole", ROOT / "benchmarks" / "pqn_cartpole.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


bench = _load_benchmark()


def test_rounds_alternate_the_order():
    assert bench.round_orders(["pqn", "dqn"], 3) == [["pqn", "dqn"], ["dqn", "pqn"], ["pqn", "dqn"]]


def _row(compile_s, train_s, solved, first=(100, 300), held=(200, None)):
    return {
        "compile_s": compile_s,
        "train_s": train_s,
        "total_s": compile_s + train_s,
        "solved": solved,
        "seeds": 16,
        "env_steps_per_seed": 1000,
        "median_steps_first": bench._median(list(first)),
        "median_steps_held": bench._median(list(held)),
        "peak_rss_mb": 500.0,
    }


def test_medians_over_rounds_and_the_ratio_of_totals_in_the_same_round():
    rounds = [
        {"pqn": _row(2, 2, 16), "dqn": _row(4, 4, 16)},  # 0.5
        {"pqn": _row(3, 3, 15), "dqn": _row(3, 3, 16)},  # 1.0
        {"pqn": _row(1, 2, 14), "dqn": _row(5, 5, 16)},  # 0.3
        {"pqn": {"error": "killed"}, "dqn": _row(1, 1, 16)},  # left out
    ]
    table = bench.summarize(rounds, ["pqn", "dqn"])
    pqn = table["pqn"]
    assert pqn["measurements"] == 3 and pqn["compile_s"] == 2 and pqn["train_s"] == 2 and pqn["total_s"] == 4
    assert pqn["solved"] == 15 and pqn["solved_each"] == [16, 15, 14]
    assert pqn["ratios_to_dqn"] == [0.5, 1.0, 0.3] and pqn["ratio_to_dqn"] == 0.5
    assert pqn["median_steps_first"] == 200 and pqn["median_steps_held"] == 200  # a seed that never held is left out
    assert "ratio_to_dqn" not in table["dqn"] and table["dqn"]["measurements"] == 4
    text = bench.markdown(table)
    assert "| pqn | 1,000 | 2.0 | 2.0 | 4.0 | 0.50x | 16/16, 15/16, 14/16 | 200 / 200 | 500 |" in text
    assert "| dqn | 1,000 | 3.5 | 3.5 | 7.0 | 1 (reference) |" in text


def test_a_cold_measurement_in_a_subprocess():
    tiny = {"num_envs": 4, "rollout_length": 8, "num_minibatches": 2, "num_epochs": 1, "hidden_sizes": [16]}
    r = bench.measure("pqn", 2, total_steps=256, overrides=tiny)
    assert "error" not in r, r.get("error")
    assert r["seeds"] == 2 and r["env_steps_per_seed"] == 256 and 0 <= r["solved"] <= 2
    assert r["compile_s"] > 0 and r["train_s"] > 0 and r["total_s"] == r["compile_s"] + r["train_s"]
    assert r["peak_rss_mb"] > 50 and len(r["steps_to_threshold"]) == 2
    assert r["config"]["num_envs"] == 4
