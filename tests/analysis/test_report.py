"""``rljax report`` on hand-written run and sweep folders."""

import argparse
import csv
import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from rljax.analysis import report_plots, stats
from rljax.analysis.report_tables import build_report
from rljax.cli.folders import add_report_parser, cmd_report
from rljax.results import TrainResult
from rljax.runs.readers import load_runs, read_eval_curves

RESAMPLES = 2_000
A = [500.0, 480.0, 300.0, 500.0, 499.5]  # seed 2 diverged and ended at 300
B = [200.0, 450.0, 476.0, 100.0, 320.0]


def make_run(folder: Path, returns, env="CartPole-v1", diverged=None, config=None, steps=(1000, 2000, 3000)):
    """A run folder as ``rljax train`` writes it: summary.json and a long metrics.csv."""
    folder.mkdir(parents=True)
    seeds = list(range(len(returns)))
    summary = {
        "agent": "dqn",
        "env": env,
        "env_kwargs": {},
        "seeds": seeds,
        "final_eval_return": list(returns),
        "eval_episodes": 100,
        "env_steps_per_seed": steps[-1],
        "compile_time_s": 1.0,
        "train_time_s": 2.0,
        "config": config or {"learning_rate": 0.001, "gamma": 0.99},
        "versions": {"rljax": "0.1.0"},
    }
    if diverged is not None:
        summary["diverged"] = diverged
        summary["diverged_at_step"] = [steps[0] if d else None for d in diverged]
    (folder / "summary.json").write_text(json.dumps(summary))
    lines = ["seed,config,step,metric,value"]
    for seed, final in zip(seeds, returns):
        for k, step in enumerate(steps):  # a straight line up to the final return
            value = float("nan") if final is None else final * (k + 1) / len(steps)
            lines.append(f"{seed},0,{step},eval_return,{value}")
            lines.append(f"{seed},0,{step},train_episode_return,1.0")
    (folder / "metrics.csv").write_text("\n".join(lines) + "\n")
    return folder


def report(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="rljax")
    add_report_parser(parser.add_subparsers(dest="command"))
    return cmd_report(parser.parse_args(["report", *argv]))


def fmt_ci(x, fn, decimals=1):
    low, high = stats.bootstrap_ci(x, fn, RESAMPLES, seed=0)
    return f"{fn(np.asarray(x)):.{decimals}f} [{low:.{decimals}f}, {high:.{decimals}f}]"


def test_two_runs_markdown_csv_and_plot(tmp_path):
    a = make_run(tmp_path / "dqn_a", A, diverged=[False, False, True, False, False])
    b = make_run(tmp_path / "dqn_b", B, diverged=[False] * 5)
    out, table, plot = tmp_path / "r" / "report.md", tmp_path / "report.csv", tmp_path / "report.png"
    out.parent.mkdir()
    out.write_text("an old report\n")  # reports are derived: overwriting is fine
    rc = report(
        str(a), str(b), "--out", str(out), "--csv", str(table), "--plot", str(plot), "--resamples", str(RESAMPLES)
    )
    assert rc == 0
    md = out.read_text()
    row_a = next(line for line in md.splitlines() if line.startswith("| dqn_a |"))
    # mean 455.9, median 499.5, IQM (480 + 499.5 + 500) / 3 = 493.2, 4 of 5 seeds >= 475
    for cell in (fmt_ci(A, np.mean), fmt_ci(A, np.median), fmt_ci(A, stats.iqm), "0.80 (4/5 ≥ 475)", "1 (seed 2)"):
        assert cell in row_a
    assert "455.9 [" in row_a and "493.2 [" in row_a
    row_b = next(line for line in md.splitlines() if line.startswith("| dqn_b |"))
    assert fmt_ci(B, np.mean) in row_b and "0.20 (1/5 ≥ 475)" in row_b and row_b.rstrip().endswith("| 0 |")
    # P(A > B): 22 of 25 pairs -> 0.88
    p, low, high = stats.probability_of_improvement(A, B, RESAMPLES, seed=0)
    assert p == pytest.approx(0.88)
    assert f"P(dqn_a > dqn_b) = 0.880, 95% CI [{low:.3f}, {high:.3f}]" in md
    assert low > 0.5 and "excludes 0.5, so the difference is significant at the 95% level: dqn_a is better" in md
    assert "**included**" in md and f"{RESAMPLES:,} resamples" in md and "percentile" in md

    rows = list(csv.DictReader(table.open()))
    assert [r["label"] for r in rows] == ["dqn_a", "dqn_b"]
    assert float(rows[0]["mean"]) == pytest.approx(455.9, abs=1e-9)
    assert float(rows[0]["iqm"]) == pytest.approx(stats.iqm(A), abs=1e-9)
    assert (float(rows[0]["iqm_ci_low"]), float(rows[0]["iqm_ci_high"])) == pytest.approx(
        stats.bootstrap_ci(A, stats.iqm, RESAMPLES), abs=1e-9
    )
    assert rows[0]["n_diverged"] == "1" and json.loads(rows[0]["diverged_seeds"]) == [2]
    assert float(rows[0]["fraction_solved"]) == 0.8 and rows[0]["n"] == "5"
    assert float(rows[0]["prob_improvement"]) == pytest.approx(0.88) and rows[0]["prob_improvement_over"] == "dqn_b"
    assert rows[1]["prob_improvement"] == ""
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_mixed_environments_need_allow_mixed(tmp_path, capsys):
    a = make_run(tmp_path / "cartpole", A)
    t = make_run(tmp_path / "taxi", [7.5, 8.0, 6.0], env="Taxi-v3")
    out = tmp_path / "report.md"
    assert report(str(a), str(t), "--out", str(out), "--csv", str(tmp_path / "r.csv")) == 2
    err = capsys.readouterr().err
    assert "CartPole-v1" in err and "Taxi-v3" in err and "--allow-mixed" in err
    assert not out.exists() and not (tmp_path / "r.csv").exists()  # nothing written on error

    assert report(str(a), str(t), "--out", str(out), "--allow-mixed", "--resamples", "500") == 0
    md = out.read_text()
    assert "| cartpole |" in md and "| taxi |" in md and "(2/3 ≥ 7)" in md
    assert "different environments" in md and "P(cartpole > taxi)" not in md


def test_sweep_folder_expands_to_one_row_per_configuration(tmp_path, capsys):
    sweep = tmp_path / "lr_sweep"
    labels = ["learning_rate=0.1", "learning_rate=0.01"]
    make_run(sweep / labels[0], [500.0, 490.0, 500.0], config={"learning_rate": 0.1, "gamma": 0.99})
    make_run(sweep / labels[1], [20.0, 35.0, None], config={"learning_rate": 0.01, "gamma": 0.99})
    (sweep / "sweep.json").write_text(
        json.dumps(
            {
                "agent": "dqn",
                "env": "CartPole-v1",
                "seeds": [0, 1, 2],
                "grid": [{"lr": "0.1"}, {"lr": "0.01"}],
                "labels": labels,
            }
        )
    )
    runs = load_runs([sweep])
    assert [r.label for r in runs] == ["lr_sweep/learning_rate=0.1", "lr_sweep/learning_rate=0.01"]
    md, rows = build_report(runs, num_resamples=500)
    assert len(rows) == 2 and rows[1]["n"] == 2 and rows[1]["n_missing"] == 1
    assert "| learning_rate=0.1 |" in md  # the config column shows what differs (not gamma)
    assert "gamma" not in md
    assert "seed(s) 2 have no finite final return" in md
    # read lazily: the table of a configuration, NaN where the seed's return was null
    curves = runs[1].curves
    assert curves.seeds == [0, 1, 2] and list(curves.steps) == [1000, 2000, 3000]
    np.testing.assert_allclose(curves.returns[1], [35 / 3, 70 / 3, 35.0])
    assert np.isnan(curves.returns[2]).all()
    assert report(str(sweep), "--resamples", "500", "--plot", str(tmp_path / "p.png")) == 0
    assert "| lr_sweep/learning_rate=0.01 |" in capsys.readouterr().out


def test_bad_inputs_are_clear_errors(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert report(str(empty)) == 2
    assert "neither a run folder" in capsys.readouterr().err
    bad = make_run(tmp_path / "bad", A)
    (bad / "summary.json").write_text('{"env": "CartPole-v1", "seeds": [0, 1], "final_eval_return": [1.0]}')
    assert report(str(bad)) == 2
    assert f"malformed summary.json in {str(bad)!r}" in capsys.readouterr().err
    (bad / "summary.json").write_text("{not json")
    assert report(str(bad)) == 2
    assert "malformed summary.json" in capsys.readouterr().err
    good = make_run(tmp_path / "good", A)
    assert report(str(good), str(good)) == 2
    assert "more than once" in capsys.readouterr().err


def test_curves_keep_the_steps_every_seed_reached(tmp_path):
    path = tmp_path / "metrics.csv"
    path.write_text(
        "seed,config,step,metric,value\n0,0,10,eval_return,1\n0,0,20,eval_return,2\n"
        "1,0,10,eval_return,3\n0,0,10,eval_return_std,9\n"
    )
    curves = read_eval_curves(path, [0, 1, 7])
    assert curves.seeds == [0, 1] and list(curves.steps) == [10]
    np.testing.assert_array_equal(curves.returns, [[1.0], [3.0]])


def test_overlapping_runs_are_not_significantly_different(tmp_path):
    runs = load_runs(
        [make_run(tmp_path / "x", [100.0, 300.0, 200.0, 400.0]), make_run(tmp_path / "y", [150.0, 250.0, 350.0, 120.0])]
    )
    md, rows = build_report(runs, num_resamples=500)
    assert "includes 0.5, so the difference is not significant at the 95% level" in md
    assert rows[0]["prob_improvement_ci_low"] < 0.5 < rows[0]["prob_improvement_ci_high"]
    assert "| n/a |" in md  # these runs did not record divergence


def test_time_to_threshold_table_is_over_the_seeds_that_reached_it(tmp_path, capsys):
    run = make_run(tmp_path / "run", [500.0, 480.0, 120.0, 499.0, 476.0])
    summary = json.loads((run / "summary.json").read_text())
    summary["steps_to_threshold"] = [40_000, 60_000, None, 20_000, 100_000]
    (run / "summary.json").write_text(json.dumps(summary))
    csv_path = tmp_path / "report.csv"
    assert report(str(run), "--resamples", str(RESAMPLES), "--csv", str(csv_path)) == 0
    out = capsys.readouterr().out
    reached = [40_000, 60_000, 20_000, 100_000]
    assert "## Time to the solved threshold" in out
    assert f"| run | 0.80 (4/5 ≥ 475) | {fmt_ci(reached, np.median, 0)} | {fmt_ci(reached, stats.iqm, 0)} |" in out
    row = next(csv.DictReader(csv_path.open()))
    assert row["n_reached"] == "4" and float(row["steps_to_threshold_median"]) == 50_000.0
    # a malformed field is a one-line error naming it
    summary["steps_to_threshold"] = [1, 2]
    (run / "summary.json").write_text(json.dumps(summary))
    assert report(str(run)) == 2
    assert "'steps_to_threshold' must be a list" in capsys.readouterr().err


def test_summary_and_report_say_from_when_each_seed_held_the_threshold(tmp_path, capsys):
    curves = np.array(
        [
            [100.0, 480.0, 300.0, 476.0, 490.0, 500.0],  # touches at 2000, falls back, holds from 4000
            [480.0, 500.0, 300.0, 200.0, 490.0, 100.0],  # touches at 1000 and ends below: never held
            [100.0, 200.0, np.nan, 300.0, 400.0, 450.0],  # never touches
            [100.0, 200.0, 475.0, 500.0, 499.0, 480.0],  # holds from its first touch, 3000
        ]
    )
    steps = np.tile(1000 * np.arange(1, 7), (4, 1))
    result = TrainResult(
        agent="dqn",
        env_id="CartPole-v1",
        env_kwargs={},
        seeds=[0, 1, 2, 3],
        config_ids=[0] * 4,
        configs=[{"learning_rate": 0.001}],
        metrics={"eval_return": curves, "env_steps": steps, "diverged_at": np.full((4, 6), -1)},
        final_eval_return=curves[:, -1],
        eval_episodes=10,
        env_steps_per_seed=6000,
        compile_time_s=1.0,
        train_time_s=3.0,
        lane_width=4,
        segment_seconds=0.5 * np.arange(1, 7),
    )
    summary = result.summary(0)
    assert summary["steps_to_threshold"] == [2000, 1000, None, 3000]  # unchanged: the first touch
    assert summary["seconds_to_threshold"] == [1.0, 0.5, None, 1.5]
    assert summary["steps_to_held_threshold"] == [4000, None, None, 3000]
    assert summary["seconds_to_held_threshold"] == [2.0, None, None, 1.5]
    assert summary["fraction_held_after_first"] == [0.8, 0.5, None, 1.0]
    no_threshold = dataclasses.replace(result, env_id="Chain").summary(0)
    for key in ("steps_to_held_threshold", "seconds_to_held_threshold", "fraction_held_after_first"):
        assert no_threshold[key] == [None] * 4

    run = make_run(tmp_path / "run", list(curves[:, -1]))
    (run / "summary.json").write_text(json.dumps(summary))
    csv_path = tmp_path / "report.csv"
    assert report(str(run), "--resamples", str(RESAMPLES), "--csv", str(csv_path)) == 0
    out = capsys.readouterr().out
    first, held = [2000, 1000, 3000], [4000, 3000]
    assert (
        f"| run | 0.75 (3/4 ≥ 475) | {fmt_ci(first, np.median, 0)} | {fmt_ci(first, stats.iqm, 0)} "
        f"| 0.50 (2/4) | {fmt_ci(held, np.median, 0)} | {fmt_ci(held, stats.iqm, 0)} | 0.80 / 0.77 |"
    ) in out
    assert "held from: median env steps [95% CI]" in out and "`steps_to_held_threshold`" in out
    row = next(csv.DictReader(csv_path.open()))
    assert row["n_reached"] == "3" and row["n_held"] == "2"
    assert (
        float(row["steps_to_held_threshold_median"]) == 3500.0 and float(row["steps_to_held_threshold_iqm"]) == 3500.0
    )
    assert json.loads(row["steps_to_held_threshold"]) == [4000, None, None, 3000]
    assert json.loads(row["fraction_held_after_first"]) == [0.8, 0.5, None, 1.0]
    assert float(row["fraction_held_after_first_median"]) == 0.8
    assert float(row["fraction_held_after_first_iqm"]) == pytest.approx(2.3 / 3)
    ci = float(row["fraction_held_after_first_median_ci_low"]), float(row["fraction_held_after_first_median_ci_high"])
    assert ci == pytest.approx(stats.bootstrap_ci([0.8, 0.5, 1.0], np.median, RESAMPLES))
    # a malformed field is a one-line error naming it
    summary["fraction_held_after_first"] = [0.8, 1.5, None, 1.0]
    (run / "summary.json").write_text(json.dumps(summary))
    assert report(str(run)) == 2
    assert "'fraction_held_after_first' must be a list with one fraction in [0, 1]" in capsys.readouterr().err


def test_a_summary_from_before_the_held_fields_still_reports(tmp_path, capsys):
    run = make_run(tmp_path / "old", [500.0, 480.0, 120.0])
    summary = json.loads((run / "summary.json").read_text())
    summary["steps_to_threshold"] = [40_000, 60_000, None]
    (run / "summary.json").write_text(json.dumps(summary))
    csv_path = tmp_path / "report.csv"
    assert report(str(run), "--resamples", "500", "--csv", str(csv_path)) == 0
    line = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("| old | 0.67 (2/3"))
    assert line.endswith("| n/a | — | — | n/a |")
    row = next(csv.DictReader(csv_path.open()))
    assert row["n_reached"] == "2" and float(row["steps_to_threshold_median"]) == 50_000.0
    held_columns = [c for c in row if "held" in c]
    assert len(held_columns) == 15 and all(row[c] == "" for c in held_columns)


def test_every_band_of_the_curves_plot_is_named_in_its_legend(tmp_path, monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.axes import Axes

    from rljax.analysis.plots import plot_curves

    bands, legends = [], []
    fill_between, legend = Axes.fill_between, Axes.legend

    def recording_fill_between(ax, *args, **kwargs):
        bands.append(kwargs.get("label"))
        return fill_between(ax, *args, **kwargs)

    def recording_legend(ax, *args, **kwargs):
        made = legend(ax, *args, **kwargs)
        legends.append([t.get_text() for t in made.get_texts()])
        return made

    monkeypatch.setattr(Axes, "fill_between", recording_fill_between)
    monkeypatch.setattr(Axes, "legend", recording_legend)
    returns = np.array([[1.0, 2.0, 3.0], [2.0, 3.0, 5.0], [0.0, 1.0, 4.0]])
    plot_curves([("a", np.arange(3), returns), ("b", np.arange(3), returns + 1)], tmp_path / "c.png")
    assert len(bands) == 4 and all(bands)  # two bands per line, each labelled
    assert set(bands) <= set(legends[-1])


@pytest.mark.parametrize("resamples", [None, 700])
def test_plot_title_states_the_reports_resample_count(tmp_path, monkeypatch, resamples):
    # The plot's bands are drawn with the tables' count, and both say so.
    import matplotlib.axes

    titles, counts = [], []
    real_band = report_plots._curve_band
    monkeypatch.setattr(matplotlib.axes.Axes, "set_title", lambda ax, t, *a, **k: titles.append(t))
    monkeypatch.setattr(report_plots, "_curve_band", lambda r, f, n, *a: counts.append(n) or real_band(r, f, n, *a))
    run = make_run(tmp_path / "dqn_a", A)
    out, plot = tmp_path / "report.md", tmp_path / "report.png"
    extra = [] if resamples is None else ["--resamples", str(resamples)]
    assert report(str(run), "--out", str(out), "--plot", str(plot), *extra) == 0
    expected = f"{resamples or stats.DEFAULT_RESAMPLES:,} resamples"
    assert expected in out.read_text()
    assert len(titles) == 1 and expected in titles[0] and set(counts) == {resamples or stats.DEFAULT_RESAMPLES}
