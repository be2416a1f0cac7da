"""benchmarks/preset_stability.py: the presets it finds, and one cheap preset at 1x and 2x a small budget."""

import importlib.util
import json
import math
import sys
from pathlib import Path

import pytest

from rljax.agents import get_agent
from rljax.training.batch import FAST_COMPILE

ROOT = Path(__file__).resolve().parents[2]


def _load_benchmark():
    spec = importlib.util.spec_from_file_location("preset_stability", ROOT / "benchmarks" / "preset_stability.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it runs
    spec.loader.exec_module(module)
    return module


ps = _load_benchmark()


def test_discovers_every_preset_and_leaves_out_the_expensive_ones():
    presets, _ = ps.discover_presets()
    by_key = {p.key: p for p in presets}
    for key in ("dqn:CartPole-v1", "dqn:Taxi-v3", "q_learning:Taxi-v3", "q_learning:FrozenLake-v1", "sarsa:Taxi-v3"):
        assert key in by_key
    assert by_key["dqn:CartPole-v1"].budget == get_agent("dqn").presets["CartPole-v1"]["total_steps"]
    # The tabular table is shared: q_learning runs all of it (CartPole on the tutorial's bins), the others Taxi.
    assert by_key["q_learning:CartPole-v1"].env_kwargs == {"discretize": "bins-4x4x29x8"}
    assert "sarsa:CartPole-v1" not in by_key and "expected_sarsa:Taxi-v3" in by_key
    assert by_key["dqn:CartPole-v1"].env_kwargs == {}
    cheap = {p.key for p in ps.select(presets, None, include_expensive=False)}
    assert "dqn:Breakout-MinAtar" not in cheap and "dqn:CartPole-v1" in cheap
    assert {p.key for p in ps.select(presets, None, include_expensive=True)} == set(by_key)
    assert [p.key for p in ps.select(presets, "dqn:Breakout-MinAtar", False)] == ["dqn:Breakout-MinAtar"]
    with pytest.raises(SystemExit, match="unknown preset"):
        ps.select(presets, "dqn:NoSuchEnv", False)


def test_fisher_one_sided():
    assert ps.fisher_one_sided(8, 16, 16, 16) == pytest.approx(1.0)  # more solved: no evidence of a drop
    assert ps.fisher_one_sided(16, 16, 12, 16) == pytest.approx(math.comb(28, 12) / math.comb(32, 16))
    assert 0.04 < ps.fisher_one_sided(16, 16, 12, 16) < 0.06
    assert ps.fisher_one_sided(14, 16, 12, 16) > 0.3


def test_q_learning_frozen_lake_at_1x_and_2x(tmp_path, capsys):
    presets, _ = ps.discover_presets()
    preset = next(p for p in presets if p.key == "q_learning:FrozenLake-v1")
    out, curves = tmp_path / "stability.json", tmp_path / "curves"
    seeds = [0, 1, 2]
    report = ps.run_benchmark(
        [preset],
        [1, 2],
        seeds,
        budget=8_000,
        eval_episodes=20,
        compiler_options=FAST_COMPILE,
        out=out,
        curves=curves,
        command=["test"],
        log=lambda line: None,
    )
    assert json.loads(out.read_text()) == json.loads(json.dumps(report))  # what it returns is what it wrote
    assert report["commands"] == [["test"]] and report["hardware"]["cpu_count"] >= 1
    one, two = report["cells"]
    n = len(seeds)
    for cell, multiple in ((one, 1), (two, 2)):
        assert (cell["agent"], cell["env_id"], cell["multiple"], cell["seeds"]) == (
            "q_learning",
            "FrozenLake-v1",
            multiple,
            seeds,
        )
        assert cell["budget"] == 8_000 and cell["total_steps"] == multiple * 8_000 and cell["n"] == n
        assert cell["threshold"] == 0.7
        final = cell["final_returns"]
        assert len(final) == n and all(0.0 <= r <= 1.0 for r in final)
        assert cell["mean_final"] == pytest.approx(sum(final) / n) and cell["min_final"] == min(final)
        assert 0 <= cell["solved"] <= n and cell["solved"] == sum(r >= 0.7 for r in final)
        assert cell["solved_fraction"] == cell["solved"] / n
        held = cell["held_last3"]
        assert len(held) == 3 and all(0 <= h <= n for h in held) and held[-1] == cell["solved"]
        assert cell["held_all_last3"] <= min(held)
        assert max(held) <= cell["first_touch"] <= n
        curve = cell["curve"]
        assert len(curve["per_seed"]) == n and all(len(row) == cell["evaluations"] for row in curve["per_seed"])
        assert [row[-1] for row in curve["per_seed"]] == final
        assert curve["env_steps"][-1] == cell["env_steps_per_seed"] == cell["counted_env_steps_mean"]
        assert cell["compile_s"] > 0 and cell["train_s"] > 0
        assert Path(cell["curve_png"]).is_file() and Path(cell["curve_png"]).parent == curves
    # Only total_steps changes: twice the env steps, the same number of evaluations (twice as far apart).
    assert two["env_steps_per_seed"] == 2 * one["env_steps_per_seed"] == 2 * 8_000
    assert two["evaluations"] == one["evaluations"]
    assert two["curve"]["env_steps"] == [2 * s for s in one["curve"]["env_steps"]]

    (row,) = report["stability"]
    assert row["solved"] == {"1": one["solved"], "2": two["solved"]}
    assert row["drops"]["2"]["fewer"] == one["solved"] - two["solved"]
    assert 0.0 <= row["drops"]["2"]["p_one_sided"] <= 1.0
    assert row["holds"] == (row["drops"]["2"]["fewer"] < ps.DROP_SEEDS)

    table = ps.markdown_table(report["cells"]).splitlines()
    assert len(table) == 4 and len({line.count("|") for line in table}) == 1

    # An id with a slash (brax/...) is one file in the curves folder, not a missing subfolder.
    path = ps.save_curve({**one, "env_id": "brax/inverted_pendulum"}, curves)
    assert path.is_file() and path.parent == curves and "brax_inverted_pendulum" in path.name
    assert table[2].startswith(f"| q_learning | FrozenLake-v1 | 0-2 | 1x | 8,000 | 0.7 | {one['solved']}/3 |")
    assert table[3].startswith("| q_learning | FrozenLake-v1 | 0-2 | 2x | 16,000 |")
    assert "q_learning FrozenLake-v1 (seeds 0-2): 1x" in ps.format_stability(report["stability"])

    ps.main(["--out", str(out), "--show"])  # the table of a finished file, without training
    shown = capsys.readouterr().out
    assert "| q_learning | FrozenLake-v1 | 0-2 | 2x | 16,000 |" in shown and "(seeds 0-2): 1x" in shown

    # --append keeps the cells already in the file.
    again = ps.run_benchmark([], [1], seeds, out=out, append=True, log=lambda line: None)
    assert [ps.cell_key(c) for c in again["cells"]] == [ps.cell_key(c) for c in report["cells"]]
    assert again["commands"] == [["test"]]
