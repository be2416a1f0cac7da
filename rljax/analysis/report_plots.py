"""Learning curves of finished runs with bootstrap bands over seeds (the report's plot)."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

import rljax.analysis.stats as stats
from rljax.analysis.plots import figure_png
from rljax.runs.files import write_bytes_atomic
from rljax.runs.readers import Run


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
    num_resamples: int = stats.DEFAULT_RESAMPLES,
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
            band = f"{run.label}: {confidence:.0%} CI of the {'IQM' if statistic == 'iqm' else statistic}"
            ax.fill_between(curve.steps, low, high, color=line.get_color(), alpha=0.25, linewidth=0, label=band)
        from rljax.envs import solved_at as threshold  # late: it pulls in gymnax and jax

        solved_at = threshold(envs[env])
        if solved_at is not None:
            ax.axhline(solved_at, color="gray", linestyle="--", linewidth=1, label=f"solved ({solved_at:g})")
        ragged = any(
            run.env_label == env and c.per_seed_steps is not None and (c.per_seed_steps != c.steps).any()
            for run, c in zip(runs, curves)
        )
        ax.set_xlabel("environment steps per seed" + (" (median over seeds: episodic agents)" if ragged else ""))
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
    num_resamples: int = stats.DEFAULT_RESAMPLES,
    confidence: float = stats.DEFAULT_CONFIDENCE,
    seed: int = 0,
) -> None:
    """Writes (atomically) one line per run: the IQM (or ``statistic="mean"``) over seeds
    of ``eval_return`` at each step, with a percentile-bootstrap CI band over seeds, one
    panel per environment and a dashed line at the solved threshold."""
    write_bytes_atomic(path, render_report_curves(runs, statistic, num_resamples, confidence, seed))
