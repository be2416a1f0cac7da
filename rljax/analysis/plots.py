"""Learning curves with the seed-to-seed spread."""

from __future__ import annotations

import os
from typing import Sequence

import numpy as np


def plot_curves(
    curves: Sequence[tuple[str, np.ndarray, np.ndarray]],
    path: str | os.PathLike,
    title: str = "",
    ylabel: str = "greedy evaluation return",
    solved_at: float | None = None,
) -> None:
    """Saves a plot of evaluation return over env steps, one line per run.

    Args:
      curves: ``(label, steps [T], returns [seeds, T])`` per line. The line is the
        mean over seeds; the dark band the interquartile range; the light band the
        min-max range, so the spread between seeds is visible, not hidden.
      path: where to write the PNG (atomically).
      solved_at: draws a dashed line at the environment's solved threshold.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from rljax.runs.files import write_bytes_atomic

    fig, ax = plt.subplots(figsize=(7, 4.2))
    for label, steps, returns in curves:
        returns = np.asarray(returns, dtype=float)
        mean = np.nanmean(returns, axis=0)
        (line,) = ax.plot(steps, mean, label=f"{label} (n={returns.shape[0]})")
        q25, q75 = np.nanpercentile(returns, [25, 75], axis=0)
        color = line.get_color()
        iqr = f"{label}: seeds' 25-75th percentile"
        ax.fill_between(steps, q25, q75, color=color, alpha=0.3, linewidth=0, label=iqr)
        ax.fill_between(
            steps, returns.min(0), returns.max(0), color=color, alpha=0.1, linewidth=0, label=f"{label}: seeds' min-max"
        )
    if solved_at is not None:
        ax.axhline(solved_at, color="gray", linestyle="--", linewidth=1, label=f"solved ({solved_at:g})")
    ax.set_xlabel("environment steps per seed")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize="small")
    fig.tight_layout()
    write_bytes_atomic(path, figure_png(fig))


def figure_png(fig) -> bytes:
    """A matplotlib figure as PNG bytes (then closed), for atomic writes."""
    import io

    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=120)
    plt.close(fig)
    return buf.getvalue()
