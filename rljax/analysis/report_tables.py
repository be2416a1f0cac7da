"""Seed statistics of finished runs as tables: markdown for people, CSV for scripts.

:func:`build_report` puts each run's per-seed final returns (read by
:func:`rljax.runs.readers.load_runs`) through :mod:`rljax.analysis.stats`: mean / median / IQM with
bootstrap CIs, the fraction solved, divergence, and for two runs the probability
of improvement. :func:`rljax.report` is the one call that loads, computes and writes.
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

import rljax.analysis.stats as stats
from rljax._errors import ValidationError
from rljax.runs.files import write_bytes_atomic
from rljax.runs.readers import Run, load_runs

# Columns of report.csv, in order (one row per run / configuration).
CSV_COLUMNS = (
    "label",
    "path",
    "sweep",
    "agent",
    "env",
    "env_kwargs",
    "n",
    "n_missing",
    "mean",
    "mean_ci_low",
    "mean_ci_high",
    "median",
    "median_ci_low",
    "median_ci_high",
    "iqm",
    "iqm_ci_low",
    "iqm_ci_high",
    "std",
    "threshold",
    "fraction_solved",
    "n_solved",
    "n_diverged",
    "diverged_seeds",
    "seeds",
    "final_returns",
    "config",
    "confidence",
    "num_resamples",
    "method",
    "ci_note",
    "n_reached",
    "steps_to_threshold_median",
    "steps_to_threshold_median_ci_low",
    "steps_to_threshold_median_ci_high",
    "steps_to_threshold_iqm",
    "steps_to_threshold_iqm_ci_low",
    "steps_to_threshold_iqm_ci_high",
    "steps_to_threshold",
    "n_held",
    "steps_to_held_threshold_median",
    "steps_to_held_threshold_median_ci_low",
    "steps_to_held_threshold_median_ci_high",
    "steps_to_held_threshold_iqm",
    "steps_to_held_threshold_iqm_ci_low",
    "steps_to_held_threshold_iqm_ci_high",
    "steps_to_held_threshold",
    "fraction_held_after_first_median",
    "fraction_held_after_first_median_ci_low",
    "fraction_held_after_first_median_ci_high",
    "fraction_held_after_first_iqm",
    "fraction_held_after_first_iqm_ci_low",
    "fraction_held_after_first_iqm_ci_high",
    "fraction_held_after_first",
    "prob_improvement_over",
    "prob_improvement",
    "prob_improvement_ci_low",
    "prob_improvement_ci_high",
)


def _solved_at(env: str, env_kwargs: dict[str, Any] | None = None) -> float | None:
    from rljax.envs import solved_at  # imported late: it pulls in gymnax and jax

    return solved_at(env, env_kwargs)


def _check_environments(runs: Sequence[Run], allow_mixed: bool) -> list[str]:
    """The distinct environments, in first-seen order; mixed ones need ``allow_mixed``. The
    configurations of one sweep over environment options (``env.gravity``, named in their labels)
    are one study."""
    envs: dict[str, list[str]] = {}
    for run in runs:
        env_sweep = run.sweep and "env." in run.label.split("/")[-1]
        study = f"{run.env}, sweep {run.sweep} over its options" if env_sweep else run.env_label
        envs.setdefault(study, []).append(run.label)
    if len(envs) > 1 and not allow_mixed:
        listing = "; ".join(f"{env}: {', '.join(labels)}" for env, labels in envs.items())
        raise ValidationError(
            f"the runs are on different environments ({listing}); their returns are not comparable. "
            f"Pass --allow-mixed to report them side by side anyway"
        )
    return list(envs)


def _decimals(values: Sequence[float | None]) -> int:
    """Decimals for a row: 1 for returns in the hundreds, 3 for success rates below 1."""
    finite = [abs(v) for v in values if v is not None and math.isfinite(v)]
    scale = max(finite, default=0.0)
    return 1 if scale >= 100 else 2 if scale >= 1 else 3


def _fmt(value: float | None, decimals: int) -> str:
    return "—" if value is None or not math.isfinite(value) else f"{value:.{decimals}f}"


def _with_ci(row: dict[str, Any], name: str, decimals: int) -> str:
    if row.get(name) is None:
        return "—"
    lo, hi = row[f"{name}_ci_low"], row[f"{name}_ci_high"]
    return f"{_fmt(row[name], decimals)} [{_fmt(lo, decimals)}, {_fmt(hi, decimals)}]"


def _seed_list(seeds: Sequence[int], limit: int = 6) -> str:
    shown = ", ".join(str(s) for s in seeds[:limit])
    return shown + (", …" if len(seeds) > limit else "")


def _differing_config(runs: Sequence[Run]) -> list[str]:
    """Hyperparameters whose values differ between runs (the interesting ones to show)."""
    keys = sorted({k for run in runs for k in run.config})

    def value(run: Run, key: str) -> str:
        return json.dumps(run.config[key], sort_keys=True, default=str) if key in run.config else "<absent>"

    return [k for k in keys if len({value(run, k) for run in runs}) > 1]


def _run_row(run: Run, num_resamples: int, confidence: float, seed: int) -> dict[str, Any]:
    """One CSV row: the run's identity, its summary statistics and its divergence."""
    finite = np.isfinite(run.final_returns)
    threshold = _solved_at(run.env, run.env_kwargs)
    row: dict[str, Any] = {
        "label": run.label,
        "path": str(run.path),
        "sweep": run.sweep,
        "agent": run.agent,
        "env": run.env,
        "env_kwargs": run.env_kwargs,
        "n_missing": int((~finite).sum()),
        "n_diverged": None if run.diverged is None else int(run.diverged.sum()),
        "diverged_seeds": None if run.diverged is None else [s for s, d in zip(run.seeds, run.diverged) if d],
        "seeds": run.seeds,
        "final_returns": [None if not math.isfinite(r) else float(r) for r in run.final_returns],
        "config": run.config,
    }
    if finite.any():
        summary = stats.summarize(run.final_returns[finite], threshold, num_resamples, confidence, seed)
        row.update(summary)
        if threshold is not None:
            row["n_solved"] = int((run.final_returns[finite] >= threshold).sum())
    else:
        row.update(
            n=0,
            threshold=threshold,
            confidence=confidence,
            num_resamples=num_resamples,
            method=stats.CI_METHOD,
            ci_note="no finite final return",
        )
    row.update(_threshold_stats(run, num_resamples, confidence, seed))
    return {column: row.get(column) for column in CSV_COLUMNS}


def _is_step(s: Any) -> bool:
    return isinstance(s, int) and not isinstance(s, bool) and s >= 0


def _is_fraction(f: Any) -> bool:
    return isinstance(f, (int, float)) and not isinstance(f, bool) and 0 <= f <= 1


def _per_seed(run: Run, key: str, valid: Callable[[Any], bool], what: str) -> list[Any] | None:
    """``summary.json``'s ``key``, one value (or null) per seed, checked as :func:`rljax.runs.readers.load_runs`
    checks ``steps_to_threshold``; None when absent (summaries written before the field)."""
    values = run.summary.get(key)
    if values is not None and (
        not isinstance(values, list) or len(values) != len(run.seeds) or not all(v is None or valid(v) for v in values)
    ):
        raise ValidationError(
            f"malformed summary.json in {str(run.path)!r}: {key!r} must be a list with one {what} (or null) per seed"
        )
    return values


def _median_iqm(
    key: str, values: Sequence[float | None], num_resamples: int, confidence: float, seed: int
) -> dict[str, Any]:
    """``<key>_median`` and ``<key>_iqm`` with their bootstrap CIs, over the seeds with a value
    (empty when none has one)."""
    sample = np.asarray([v for v in values if v is not None], dtype=float)
    out: dict[str, Any] = {}
    if sample.size:
        for name, fn in (("median", np.median), ("iqm", stats.iqm)):
            stat = f"{key}_{name}"
            out[stat] = float(fn(sample))
            out[f"{stat}_ci_low"], out[f"{stat}_ci_high"] = stats.bootstrap_ci(
                sample, fn, num_resamples, confidence, seed
            )
    return out


def _threshold_stats(run: Run, num_resamples: int, confidence: float, seed: int) -> dict[str, Any]:
    """Median and IQM (with bootstrap CIs) of the env steps to the solved threshold, over the
    seeds that reached it, and of the env steps from which it was held to the end, over the
    seeds that held it, with the fraction held after first reaching it; empty when the run
    did not record the threshold, without the held ones when it predates them."""
    if run.steps_to_threshold is None or _solved_at(run.env, run.env_kwargs) is None:
        return {}
    out: dict[str, Any] = {
        "n_reached": sum(s is not None for s in run.steps_to_threshold),
        "steps_to_threshold": run.steps_to_threshold,
    }
    out.update(_median_iqm("steps_to_threshold", run.steps_to_threshold, num_resamples, confidence, seed))
    held = _per_seed(run, "steps_to_held_threshold", _is_step, "env step")
    if held is not None:
        out["n_held"], out["steps_to_held_threshold"] = sum(s is not None for s in held), held
        out.update(_median_iqm("steps_to_held_threshold", held, num_resamples, confidence, seed))
    fractions = _per_seed(run, "fraction_held_after_first", _is_fraction, "fraction in [0, 1]")
    if fractions is not None:
        out["fraction_held_after_first"] = fractions
        out.update(_median_iqm("fraction_held_after_first", fractions, num_resamples, confidence, seed))
    return out


def _threshold_table(runs: Sequence[Run], rows: Sequence[dict[str, Any]], confidence: float) -> list[str]:
    """Time to the solved threshold: how many seeds got there and how fast (env steps), and
    how many held it to the end and from when."""
    shown = [(run, row) for run, row in zip(runs, rows) if row.get("n_reached") is not None]
    if not shown:
        return []
    pct = f"{confidence:.0%}"
    lines = [
        "",
        "## Time to the solved threshold",
        "",
        "First env step per seed at which the greedy evaluation reached the environment's threshold "
        "(`steps_to_threshold` in summary.json; evaluations every `eval_every` steps, so a step is a "
        "multiple of it). Median and IQM are over the seeds that reached it.",
        "",
        "Held: the seeds whose every evaluation from some step to the end of the run was at or above the "
        "threshold (a seed whose last evaluation is below it does not hold it); held from: the first such "
        "step (`steps_to_held_threshold`), median and IQM over the seeds that held it. A seed that reaches "
        "the threshold and falls back counts as reached at its first touch but as held only from its "
        "last return to the threshold. "
        "≥ threshold after first reached: per seed, the fraction of its evaluations from the first that "
        "reached the threshold on that are at or above it (`fraction_held_after_first`; 1 for a seed that "
        "never fell back), median / IQM over the seeds that reached it (with CIs in the CSV). n/a: the "
        "run's summary.json predates these fields.",
        "",
        f"| run | reached | first reached: median env steps [{pct} CI] | first reached: IQM env steps [{pct} CI] "
        f"| held | held from: median env steps [{pct} CI] | held from: IQM env steps [{pct} CI] "
        "| ≥ threshold after first reached: median / IQM |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for run, row in shown:
        n = len(run.steps_to_threshold)
        reached = f"{row['n_reached'] / n:.2f} ({row['n_reached']}/{n} ≥ {_solved_at(run.env, run.env_kwargs):g})"
        held = "n/a" if row.get("n_held") is None else f"{row['n_held'] / n:.2f} ({row['n_held']}/{n})"
        if row.get("fraction_held_after_first") is None:
            after_first = "n/a"
        else:
            after_first = " / ".join(_fmt(row.get(f"fraction_held_after_first_{s}"), 2) for s in ("median", "iqm"))
        cells = [
            run.label,
            reached,
            _with_ci(row, "steps_to_threshold_median", 0),
            _with_ci(row, "steps_to_threshold_iqm", 0),
            held,
            _with_ci(row, "steps_to_held_threshold_median", 0),
            _with_ci(row, "steps_to_held_threshold_iqm", 0),
            after_first,
        ]
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return lines


def _markdown_table(runs: Sequence[Run], rows: Sequence[dict[str, Any]], confidence: float) -> list[str]:
    config_keys = _differing_config(runs)
    pct = f"{confidence:.0%}"
    header = [
        "run",
        "agent",
        "env",
        "n",
        f"mean [{pct} CI]",
        f"median [{pct} CI]",
        f"IQM [{pct} CI]",
        "std",
        "solved",
        "diverged",
    ]
    if config_keys:
        header.append("config")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for run, row in zip(runs, rows):
        d = _decimals([row.get(k) for k in ("mean", "median", "iqm", "mean_ci_low", "mean_ci_high", "std")])
        if row["fraction_solved"] is None:
            solved = "—"
        else:
            solved = f"{row['fraction_solved']:.2f} ({row['n_solved']}/{row['n']} ≥ {row['threshold']:g})"
        if row["n_diverged"] is None:
            diverged = "n/a"
        elif row["n_diverged"] == 0:
            diverged = "0"
        else:
            plural = "s" if row["n_diverged"] > 1 else ""
            diverged = f"{row['n_diverged']} (seed{plural} {_seed_list(row['diverged_seeds'])})"
        n_cell = f"{row['n']} of {len(run.seeds)}" if row["n_missing"] else str(row["n"])
        cells = [
            run.label,
            run.agent,
            run.env_label,
            n_cell,
            _with_ci(row, "mean", d),
            _with_ci(row, "median", d),
            _with_ci(row, "iqm", d),
            _fmt(row.get("std"), d),
            solved,
            diverged,
        ]
        if config_keys:
            cells.append(", ".join(f"{k}={run.config.get(k, '—')}" for k in config_keys))
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return lines


def _comparison(
    runs: Sequence[Run], rows: list[dict[str, Any]], num_resamples: int, confidence: float, seed: int, mixed: bool
) -> list[str]:
    """Probability of improvement of the first run over the second, and whether it is significant."""
    a, b = runs
    title = f"## {a.label} vs {b.label}"
    if mixed:
        return [
            title,
            "",
            "No probability of improvement: the two runs are on different environments, "
            "so their returns are not comparable.",
        ]
    xa, xb = (r.final_returns[np.isfinite(r.final_returns)] for r in (a, b))
    if xa.size == 0 or xb.size == 0:
        return [title, "", "No probability of improvement: one of the runs has no finite final return."]
    p, lo, hi = stats.probability_of_improvement(xa, xb, num_resamples, confidence, seed)
    rows[0].update(
        prob_improvement_over=b.label, prob_improvement=p, prob_improvement_ci_low=lo, prob_improvement_ci_high=hi
    )
    pct = f"{confidence:.0%}"
    if lo > 0.5:
        verdict = (
            f"The interval excludes 0.5, so the difference is significant at the {pct} level: "
            f"{a.label} is better than {b.label}."
        )
    elif hi < 0.5:
        verdict = (
            f"The interval excludes 0.5, so the difference is significant at the {pct} level: "
            f"{b.label} is better than {a.label}."
        )
    else:
        verdict = (
            f"The interval includes 0.5, so the difference is not significant at the {pct} level with these seeds."
        )
    if xa.size < 2 or xb.size < 2:
        verdict += " (With fewer than two seeds on a side the interval is only the point estimate.)"
    return [
        title,
        "",
        f"Probability of improvement P({a.label} > {b.label}) = {p:.3f}, {pct} CI [{lo:.3f}, {hi:.3f}] "
        f"(the chance that a random seed of {a.label} ends with a higher return than a random seed of "
        f"{b.label}, ties counting one half).",
        "",
        verdict,
    ]


def build_report(
    runs: Sequence[Run],
    num_resamples: int = stats.DEFAULT_RESAMPLES,
    allow_mixed: bool = False,
    confidence: float = stats.DEFAULT_CONFIDENCE,
    seed: int = 0,
) -> tuple[str, list[dict[str, Any]]]:
    """The markdown report and one row per run (the CSV's rows, keys :data:`CSV_COLUMNS`).

    Statistics are over each run's per-seed final greedy-evaluation return. Diverged
    seeds stay in every statistic with the return they ended with, and are counted in
    their own column; seeds whose return is null/NaN cannot enter a mean and are left
    out, with a note. For exactly two runs (on one environment) the report adds the
    probability of improvement of the first over the second. Raises ValueError when
    the runs are on different environments and ``allow_mixed`` is false.
    """
    if not runs:
        raise ValidationError("no runs to report")
    if num_resamples < 1:
        raise ValidationError(f"the number of bootstrap resamples must be >= 1; got {num_resamples}")
    envs = _check_environments(runs, allow_mixed)
    rows = [_run_row(run, num_resamples, confidence, seed) for run in runs]
    lines = ["# rljax report", ""]
    env_note = envs[0] if len(envs) == 1 else f"{len(envs)} environments (--allow-mixed)"
    lines += [f"Final greedy-evaluation return per seed (`final_eval_return` in summary.json) on {env_note}.", ""]
    lines += _markdown_table(runs, rows, confidence)
    lines += [
        "",
        "- Diverged seeds (non-finite loss or parameters during training) are **included** in every "
        "statistic with the final return they recorded; the diverged column counts and names them "
        "(n/a: the run did not record divergence).",
    ]
    for run, row in zip(runs, rows):
        if row["n_missing"]:
            bad = [s for s, r in zip(run.seeds, run.final_returns) if not math.isfinite(r)]
            lines.append(
                f"- {run.label}: seed(s) {_seed_list(bad)} have no finite final return (null in "
                f"summary.json) and are left out of its statistics (n counts the rest)."
            )
        if row["ci_note"]:
            lines.append(f"- {run.label}: {row['ci_note']}.")
    lines += _threshold_table(runs, rows, confidence)
    if len(runs) == 2:
        lines += [""] + _comparison(runs, rows, num_resamples, confidence, seed, mixed=len(envs) > 1)
    lines += [
        "",
        f"Intervals: {confidence:.0%} {stats.CI_METHOD} bootstrap over seeds, {num_resamples:,} resamples "
        f"(scipy.stats.bootstrap, resampling seed {seed}). IQM = mean of the middle 50% of seeds "
        f"(scipy.stats.trim_mean(x, 0.25)); solved = final return ≥ the environment's threshold "
        f"(rljax.envs.SOLVED_AT).",
    ]
    return "\n".join(lines) + "\n", rows


def rows_to_csv(rows: Sequence[dict[str, Any]]) -> str:
    """The report rows as CSV: lists and dicts as JSON, missing values empty."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow(
            {
                k: "" if v is None else json.dumps(v, sort_keys=True) if isinstance(v, (list, dict)) else v
                for k, v in row.items()
            }
        )
    return buf.getvalue()


def report(
    paths: Sequence[str | Path],
    *,
    out: str | Path | None = None,
    csv_path: str | Path | None = None,
    plot: str | Path | None = None,
    num_resamples: int = stats.DEFAULT_RESAMPLES,
    allow_mixed: bool = False,
) -> tuple[str, list[dict[str, Any]]]:
    """Reports on run and sweep folders: returns ``(markdown, rows)`` and writes the files asked for.

    Everything is loaded and computed before anything is written, so bad input
    (a folder that is not a run, malformed JSON, mixed environments without
    ``allow_mixed``) raises ``ValueError`` and leaves the disk as it was.

    Args:
      paths: run folders (``summary.json``) or sweep folders (``sweep.json``).
      out: write the markdown report here (optional).
      csv_path: write the rows as CSV here (optional).
      plot: write the PNG of learning curves with bootstrap bands here (optional).
      num_resamples: bootstrap resamples for the tables and for each evaluation
        step's band on the plot (the same number, so the plot's title and the
        report state one count).
      allow_mixed: report runs on different environments side by side.
    """
    from rljax.analysis.report_plots import render_report_curves

    outputs = [p for p in (out, csv_path, plot) if p is not None]
    for p in outputs:
        if Path(p).is_dir():
            raise ValidationError(f"output {str(p)!r} is a folder; give a file name")
    if len({Path(p).resolve() for p in outputs}) != len(outputs):
        raise ValidationError("--out, --csv and --plot must be different files")
    runs = load_runs(paths)
    markdown, rows = build_report(runs, num_resamples, allow_mixed)
    png = render_report_curves(runs, num_resamples=num_resamples) if plot else None
    for path, data in ((out, markdown.encode()), (csv_path, rows_to_csv(rows).encode()), (plot, png)):
        if path is not None:
            write_bytes_atomic(path, data)
    return markdown, rows
