"""``rljax report``: seed-sweep statistics of finished runs, as markdown, CSV and a plot.

A *run folder* (``rljax train``) holds ``summary.json`` and ``metrics.csv``; a *sweep
folder* (``rljax sweep``) holds ``sweep.json`` and one run folder per configuration.
:func:`load_runs` turns either into :class:`Run` objects, :func:`build_report` puts
their final returns through :mod:`rljax.stats`, and :func:`plot_report_curves` draws
the learning curves with bootstrap bands. Reports are derived files: they are
overwritten freely, and nothing is written unless every input is valid.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import re
import sys
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, NamedTuple, Sequence

import numpy as np

import rljax.stats as stats
from rljax.plots import figure_png

# Bootstrap resamples per evaluation step for the curve bands: a visual aid on many
# steps, where 2,000 resamples already put the band's edges within a pixel or two.
PLOT_RESAMPLES = 2_000

# Columns of report.csv, in order (one row per run / configuration).
CSV_COLUMNS = (
    "label", "path", "sweep", "agent", "env", "env_kwargs", "n", "n_missing",
    "mean", "mean_ci_low", "mean_ci_high", "median", "median_ci_low", "median_ci_high",
    "iqm", "iqm_ci_low", "iqm_ci_high", "std", "threshold", "fraction_solved", "n_solved",
    "n_diverged", "diverged_seeds", "seeds", "final_returns", "config",
    "confidence", "num_resamples", "method", "ci_note",
    "prob_improvement_over", "prob_improvement", "prob_improvement_ci_low", "prob_improvement_ci_high",
)


class Curves(NamedTuple):
    """Evaluation return over training: ``returns[i, t]`` is seed ``seeds[i]`` at ``steps[t]``."""

    steps: np.ndarray
    seeds: list[int]
    returns: np.ndarray


@dataclass(eq=False)
class Run:
    """One configuration's seeds, as read from a run folder.

    ``final_returns`` is NaN where ``summary.json`` holds null (a non-finite return).
    ``diverged`` is None when the run did not record divergence (older runs).
    """

    label: str
    path: Path
    env: str
    env_kwargs: dict[str, Any]
    agent: str
    config: dict[str, Any]
    seeds: list[int]
    final_returns: np.ndarray
    diverged: np.ndarray | None = None
    diverged_at_step: list[int | None] | None = None
    sweep: str | None = None
    summary: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def env_label(self) -> str:
        """The environment id, with its options when it has any (they make it another task)."""
        if not self.env_kwargs:
            return self.env
        opts = ", ".join(f"{k}={v!r}" for k, v in sorted(self.env_kwargs.items()))
        return f"{self.env} ({opts})"

    @cached_property
    def curves(self) -> Curves:
        """``eval_return`` per seed and step from ``metrics.csv``, read on first use."""
        return read_eval_curves(self.path / "metrics.csv", self.seeds)


# --------------------------------------------------------------------------- loading


def _read_json(path: Path) -> Any:
    try:
        text = path.read_text()
    except OSError as err:
        raise ValueError(f"cannot read {path.name} in {str(path.parent)!r}: {err}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f"malformed {path.name} in {str(path.parent)!r}: {err}") from None


def _summary_error(path: Path, why: str) -> ValueError:
    return ValueError(f"malformed summary.json in {str(path)!r}: {why}")


def _load_run(folder: Path, label: str, sweep: str | None = None) -> Run:
    """A :class:`Run` from ``folder/summary.json``, checking the fields a report relies on."""
    summary = _read_json(folder / "summary.json")
    if not isinstance(summary, dict):
        raise _summary_error(folder, "expected a JSON object")
    for key in ("env", "seeds", "final_eval_return"):
        if key not in summary:
            raise _summary_error(folder, f"missing key {key!r}")
    if not isinstance(summary["env"], str):
        raise _summary_error(folder, "'env' must be a string")
    seeds, returns = summary["seeds"], summary["final_eval_return"]
    if not isinstance(seeds, list) or not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds):
        raise _summary_error(folder, "'seeds' must be a list of integers")
    if not isinstance(returns, list) or len(returns) != len(seeds):
        raise _summary_error(folder, "'final_eval_return' must be a list with one value per seed")
    if not all(r is None or (isinstance(r, (int, float)) and not isinstance(r, bool)) for r in returns):
        raise _summary_error(folder, "'final_eval_return' must hold numbers (or null)")
    if not seeds:
        raise _summary_error(folder, "no seeds")
    diverged = summary.get("diverged")
    if diverged is not None:
        if not isinstance(diverged, list) or len(diverged) != len(seeds) or not all(
            isinstance(d, bool) for d in diverged
        ):
            raise _summary_error(folder, "'diverged' must be a list with one true/false per seed")
        diverged = np.asarray(diverged, dtype=bool)
    env_kwargs = summary.get("env_kwargs") or {}
    config = summary.get("config") or {}
    if not isinstance(env_kwargs, dict) or not isinstance(config, dict):
        raise _summary_error(folder, "'env_kwargs' and 'config' must be JSON objects")
    return Run(
        label=label,
        path=folder,
        env=summary["env"],
        env_kwargs=env_kwargs,
        agent=str(summary.get("agent", "?")),
        config=config,
        seeds=seeds,
        # null is how runs.to_jsonable writes a NaN return.
        final_returns=np.array([np.nan if r is None else r for r in returns], dtype=float),
        diverged=diverged,
        diverged_at_step=summary.get("diverged_at_step"),
        sweep=sweep,
        summary=summary,
    )


def _natural_key(name: str) -> list[Any]:
    """Sorts ``lr=3e-4`` style names with numbers in numeric order (2 before 10)."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def _sweep_config_dirs(folder: Path, sweep: Any) -> list[Path]:
    """The configuration folders of a sweep, in the sweep's own order."""
    labels = sweep.get("labels") if isinstance(sweep, dict) else None
    if isinstance(labels, list) and all(isinstance(label, str) for label in labels) and labels:
        dirs = [folder / label for label in labels]
        for d in dirs:
            if not (d / "summary.json").is_file():
                raise ValueError(
                    f"sweep {str(folder)!r}: configuration {d.name!r} has no summary.json (unfinished sweep?)"
                )
        return dirs
    # No label list (hand-made or older sweep.json): every subfolder that is a run.
    dirs = sorted((d for d in folder.iterdir() if (d / "summary.json").is_file()), key=lambda d: _natural_key(d.name))
    if not dirs:
        raise ValueError(f"sweep {str(folder)!r} has no configuration folders with a summary.json")
    return dirs


def load_runs(paths: Sequence[str | Path]) -> list[Run]:
    """Reads run folders and sweep folders (expanded to one :class:`Run` per configuration).

    A folder with ``sweep.json`` is a sweep; otherwise one with ``summary.json`` is a
    run. A run's label is its folder name, a sweep configuration's ``sweep/config``;
    labels that would collide fall back to the path as given. Raises ValueError on a
    path that is neither, on malformed JSON (naming the file), or on a folder given twice.
    """
    if not paths:
        raise ValueError("no run or sweep folders given")
    runs: list[Run] = []
    for given in paths:
        folder = Path(given)
        name = folder.resolve().name
        if not folder.is_dir():
            raise ValueError(f"{str(given)!r} is not a folder (expected a run or sweep folder)")
        if (folder / "sweep.json").is_file():
            sweep = _read_json(folder / "sweep.json")
            for d in _sweep_config_dirs(folder, sweep):
                runs.append(_load_run(d, f"{name}/{d.name}", sweep=name))
        elif (folder / "summary.json").is_file():
            runs.append(_load_run(folder, name))
        else:
            raise ValueError(
                f"{str(given)!r} is neither a run folder (no summary.json) nor a sweep folder (no sweep.json)"
            )
    seen: dict[Path, str] = {}
    for run in runs:
        key = run.path.resolve()
        if key in seen:
            raise ValueError(f"{str(run.path)!r} is given more than once")
        seen[key] = run.label
    labels = [run.label for run in runs]
    for run in runs:
        if labels.count(run.label) > 1:
            run.label = str(run.path)
    return runs


def read_eval_curves(path: Path, seeds: Sequence[int]) -> Curves:
    """``eval_return`` of ``seeds`` from a long metrics table, on the steps all of them share.

    Seeds absent from the table are left out (``Curves.seeds`` says which remain). A
    table with several configurations is an error: each sweep configuration has its own.
    """
    if not path.is_file():
        raise ValueError(f"no metrics.csv in {str(path.parent)!r}: cannot plot its learning curve")
    by_seed: dict[int, dict[int, float]] = {}
    configs: set[str] = set()
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        missing = {"seed", "config", "step", "metric", "value"} - set(reader.fieldnames or ())
        if missing:
            raise ValueError(f"malformed metrics table {str(path)!r}: missing column(s) {', '.join(sorted(missing))}")
        for row in reader:
            if row["metric"] != "eval_return":
                continue
            try:
                seed, step, value = int(row["seed"]), int(float(row["step"])), float(row["value"])
            except (TypeError, ValueError):
                raise ValueError(f"malformed metrics table {str(path)!r}, line {reader.line_num}: {row}") from None
            configs.add(row["config"])
            by_seed.setdefault(seed, {})[step] = value
    if len(configs) > 1:
        raise ValueError(f"{str(path)!r} holds several configurations ({', '.join(sorted(configs))})")
    present = [s for s in seeds if s in by_seed]
    if not present:
        raise ValueError(f"{str(path)!r} has no eval_return rows for seeds {list(seeds)}")
    # Seeds of one run are evaluated on the same steps; a run cut short leaves the tail ragged.
    steps = sorted(set.intersection(*(set(by_seed[s]) for s in present)))
    returns = np.array([[by_seed[s][t] for t in steps] for s in present], dtype=float).reshape(len(present), len(steps))
    return Curves(np.asarray(steps, dtype=np.int64), present, returns)


# --------------------------------------------------------------------------- report


def _solved_at(env: str) -> float | None:
    from rljax.envs import solved_at  # imported late: it pulls in gymnax and jax

    return solved_at(env)


def _check_environments(runs: Sequence[Run], allow_mixed: bool) -> list[str]:
    """The distinct environments, in first-seen order; mixed ones need ``allow_mixed``."""
    envs: dict[str, list[str]] = {}
    for run in runs:
        envs.setdefault(run.env_label, []).append(run.label)
    if len(envs) > 1 and not allow_mixed:
        listing = "; ".join(f"{env}: {', '.join(labels)}" for env, labels in envs.items())
        raise ValueError(
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
    threshold = _solved_at(run.env)
    row: dict[str, Any] = {
        "label": run.label, "path": str(run.path), "sweep": run.sweep, "agent": run.agent, "env": run.env,
        "env_kwargs": run.env_kwargs, "n_missing": int((~finite).sum()),
        "n_diverged": None if run.diverged is None else int(run.diverged.sum()),
        "diverged_seeds": None if run.diverged is None else [s for s, d in zip(run.seeds, run.diverged) if d],
        "seeds": run.seeds, "final_returns": [None if not math.isfinite(r) else float(r) for r in run.final_returns],
        "config": run.config,
    }
    if finite.any():
        summary = stats.summarize(run.final_returns[finite], threshold, num_resamples, confidence, seed)
        row.update(summary)
        if threshold is not None:
            row["n_solved"] = int((run.final_returns[finite] >= threshold).sum())
    else:
        row.update(n=0, threshold=threshold, confidence=confidence, num_resamples=num_resamples,
                   method=stats.CI_METHOD, ci_note="no finite final return")
    return {column: row.get(column) for column in CSV_COLUMNS}


def _markdown_table(runs: Sequence[Run], rows: Sequence[dict[str, Any]], confidence: float) -> list[str]:
    config_keys = _differing_config(runs)
    pct = f"{confidence:.0%}"
    header = ["run", "agent", "env", "n", f"mean [{pct} CI]", f"median [{pct} CI]", f"IQM [{pct} CI]",
              "std", "solved", "diverged"]
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
        cells = [run.label, run.agent, run.env_label, n_cell, _with_ci(row, "mean", d),
                 _with_ci(row, "median", d), _with_ci(row, "iqm", d), _fmt(row.get("std"), d), solved, diverged]
        if config_keys:
            cells.append(", ".join(f"{k}={run.config.get(k, '—')}" for k in config_keys))
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return lines


def _comparison(runs: Sequence[Run], rows: list[dict[str, Any]], num_resamples: int, confidence: float,
                seed: int, mixed: bool) -> list[str]:
    """Probability of improvement of the first run over the second, and whether it is significant."""
    a, b = runs
    title = f"## {a.label} vs {b.label}"
    if mixed:
        return [title, "", "No probability of improvement: the two runs are on different environments, "
                "so their returns are not comparable."]
    xa, xb = (r.final_returns[np.isfinite(r.final_returns)] for r in (a, b))
    if xa.size == 0 or xb.size == 0:
        return [title, "", "No probability of improvement: one of the runs has no finite final return."]
    p, lo, hi = stats.probability_of_improvement(xa, xb, num_resamples, confidence, seed)
    rows[0].update(prob_improvement_over=b.label, prob_improvement=p,
                   prob_improvement_ci_low=lo, prob_improvement_ci_high=hi)
    pct = f"{confidence:.0%}"
    if lo > 0.5:
        verdict = (f"The interval excludes 0.5, so the difference is significant at the {pct} level: "
                   f"{a.label} is better than {b.label}.")
    elif hi < 0.5:
        verdict = (f"The interval excludes 0.5, so the difference is significant at the {pct} level: "
                   f"{b.label} is better than {a.label}.")
    else:
        verdict = (f"The interval includes 0.5, so the difference is not significant at the {pct} level "
                   f"with these seeds.")
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
        raise ValueError("no runs to report")
    if num_resamples < 1:
        raise ValueError(f"the number of bootstrap resamples must be >= 1; got {num_resamples}")
    envs = _check_environments(runs, allow_mixed)
    rows = [_run_row(run, num_resamples, confidence, seed) for run in runs]
    lines = ["# rljax report", ""]
    env_note = envs[0] if len(envs) == 1 else f"{len(envs)} environments (--allow-mixed)"
    lines += [f"Final greedy-evaluation return per seed (`final_eval_return` in summary.json) on {env_note}.", ""]
    lines += _markdown_table(runs, rows, confidence)
    lines += ["", "- Diverged seeds (non-finite loss or parameters during training) are **included** in every "
              "statistic with the final return they recorded; the diverged column counts and names them "
              "(n/a: the run did not record divergence)."]
    for run, row in zip(runs, rows):
        if row["n_missing"]:
            bad = [s for s, r in zip(run.seeds, run.final_returns) if not math.isfinite(r)]
            lines.append(f"- {run.label}: seed(s) {_seed_list(bad)} have no finite final return (null in "
                         f"summary.json) and are left out of its statistics (n counts the rest).")
        if row["ci_note"]:
            lines.append(f"- {run.label}: {row['ci_note']}.")
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
        writer.writerow({
            k: "" if v is None else json.dumps(v, sort_keys=True) if isinstance(v, (list, dict)) else v
            for k, v in row.items()
        })
    return buf.getvalue()


# --------------------------------------------------------------------------- plot


def _curve_band(returns: np.ndarray, statistic, num_resamples: int, confidence: float, seed: int):
    """Per step: the statistic over seeds and its bootstrap CI (NaN seeds left out)."""
    center, low, high = (np.full(returns.shape[1], np.nan) for _ in range(3))
    for t in range(returns.shape[1]):
        column = returns[:, t][np.isfinite(returns[:, t])]
        if column.size:
            center[t] = float(statistic(column))
            low[t], high[t] = stats.bootstrap_ci(column, statistic, num_resamples, confidence, seed)
    return center, low, high


def render_report_curves(
    runs: Sequence[Run],
    statistic: str = "iqm",
    num_resamples: int = PLOT_RESAMPLES,
    confidence: float = stats.DEFAULT_CONFIDENCE,
    seed: int = 0,
) -> bytes:
    """PNG bytes of the learning curves (see :func:`plot_report_curves`); writes nothing."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fn = {"iqm": stats.iqm, "mean": np.mean}[statistic]
    curves = [run.curves for run in runs]  # read (and validate) every table before drawing
    envs = {run.env_label: run.env for run in runs}  # label -> env id, in first-seen order
    # One panel per environment: returns on different environments share no scale.
    fig, axes = plt.subplots(1, len(envs), figsize=(7 * len(envs), 4.2), squeeze=False)
    for env, ax in zip(envs, axes[0]):
        for run, curve in zip(runs, curves):
            if run.env_label != env:
                continue
            center, low, high = _curve_band(curve.returns, fn, num_resamples, confidence, seed)
            n = int(np.isfinite(curve.returns).any(axis=1).sum())  # seeds with any finite evaluation
            (line,) = ax.plot(curve.steps, center, label=f"{run.label} (n={n})")
            ax.fill_between(curve.steps, low, high, color=line.get_color(), alpha=0.25, linewidth=0)
        solved_at = _solved_at(envs[env])
        if solved_at is not None:
            ax.axhline(solved_at, color="gray", linestyle="--", linewidth=1, label=f"solved ({solved_at:g})")
        ax.set_xlabel("environment steps per seed")
        ax.set_ylabel(f"greedy evaluation return ({'IQM' if statistic == 'iqm' else 'mean'} over seeds)")
        ax.set_title(f"{env}: {confidence:.0%} bootstrap CI over seeds ({num_resamples:,} resamples)")
        ax.grid(alpha=0.3)
        ax.legend(loc="best", fontsize="small")
    fig.tight_layout()
    return figure_png(fig)


def plot_report_curves(
    runs: Sequence[Run],
    path: str | Path,
    statistic: str = "iqm",
    num_resamples: int = PLOT_RESAMPLES,
    confidence: float = stats.DEFAULT_CONFIDENCE,
    seed: int = 0,
) -> None:
    """Writes (atomically) one line per run: the IQM (or ``statistic="mean"``) over seeds
    of ``eval_return`` at each step, with a percentile-bootstrap CI band over seeds, one
    panel per environment and a dashed line at the solved threshold."""
    from rljax.runs import write_bytes_atomic

    write_bytes_atomic(path, render_report_curves(runs, statistic, num_resamples, confidence, seed))


# --------------------------------------------------------------------------- command line


def add_report_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Adds ``rljax report DIR [DIR ...] [--out] [--csv] [--plot] [--resamples] [--allow-mixed]``."""
    p = subparsers.add_parser(
        "report", help="statistics over seeds (IQM, bootstrap CIs, P(improvement)) of run and sweep folders"
    )
    p.add_argument("dirs", nargs="+", metavar="DIR", help="run folders (summary.json) or sweep folders (sweep.json)")
    p.add_argument("--out", default=None, help="write the markdown report here (default: print it)")
    p.add_argument("--csv", default=None, help="also write one CSV row per run / configuration here")
    p.add_argument("--plot", default=None, help="also write learning curves with bootstrap bands (PNG) here")
    p.add_argument("--resamples", type=int, default=stats.DEFAULT_RESAMPLES,
                   help=f"bootstrap resamples for the tables (default {stats.DEFAULT_RESAMPLES}); "
                        f"the plot's per-step bands use at most {PLOT_RESAMPLES}")
    p.add_argument("--allow-mixed", action="store_true",
                   help="report runs on different environments together (no cross-environment comparison)")
    return p


def cmd_report(args: argparse.Namespace) -> int:
    """Runs ``rljax report``: computes everything first, then writes; on bad input prints
    the error and returns 2 with nothing written."""
    from rljax.runs import write_bytes_atomic

    try:
        outputs = [p for p in (args.out, args.csv, args.plot) if p is not None]
        for p in outputs:
            if Path(p).is_dir():
                raise ValueError(f"output {p!r} is a folder; give a file name")
        if len({Path(p).resolve() for p in outputs}) != len(outputs):
            raise ValueError("--out, --csv and --plot must be different files")
        runs = load_runs(args.dirs)
        markdown, rows = build_report(runs, args.resamples, args.allow_mixed)
        png = None
        if args.plot:
            png = render_report_curves(runs, num_resamples=min(args.resamples, PLOT_RESAMPLES))
    except ValueError as err:
        print(f"rljax report: error: {err}", file=sys.stderr)
        return 2
    files = [(args.out, markdown.encode()), (args.csv, rows_to_csv(rows).encode()), (args.plot, png)]
    written = [path for path, _ in files if path is not None]
    for path, data in files:
        if path is not None:
            write_bytes_atomic(path, data)
    if args.out is None:
        print(markdown, end="")
    if written:
        # stderr, so that without --out stdout is exactly the markdown (pipeable).
        print(f"rljax report: wrote {', '.join(written)}", file=sys.stderr)
    return 0
