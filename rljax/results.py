"""What a training run produced, and how it goes into its run folder.

:class:`TrainResult` holds every run's metrics, final returns and state and makes
the ``summary.json`` contract (with each seed's time to the solved threshold, and
the step from which it held it to the end);
:class:`MetricsStreams` appends ``metrics.csv`` as the segments finish;
:func:`write_config_outputs` writes a configuration's summary, config and curves.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from rljax.runs.files import write_json_atomic
from rljax.runs.metrics import MetricsTable, metrics_rows


@dataclass
class TrainResult:
    """What one call of :func:`train` produced.

    ``metrics[name]`` has shape ``[runs, segments]`` where run i is
    ``(config_ids[i], seeds[i])``; ``final_eval_return[i]`` is the mean return of
    run i's evaluation policy over ``eval_episodes`` fresh episodes after training.
    """

    agent: str
    env_id: str
    env_kwargs: dict[str, Any]
    seeds: list[int]
    config_ids: list[int]
    configs: list[dict[str, Any]]
    metrics: dict[str, np.ndarray]
    final_eval_return: np.ndarray
    eval_episodes: int
    env_steps_per_seed: int  # the steps the loop ran per seed (see summary's env_steps)
    compile_time_s: float
    train_time_s: float
    lane_width: int
    num_devices: int = 1
    final_state: Any = field(repr=False, default=None)
    segment_seconds: np.ndarray | None = field(repr=False, default=None)
    compile_cache: dict[str, Any] | None = None  # folder, hits, misses, saved_s, working
    # Each configuration's environment options, where they differ (a sweep over env.NAME);
    # None: every configuration's are env_kwargs.
    config_env_kwargs: list[dict[str, Any]] | None = None

    def env_kwargs_of(self, config_id: int) -> dict[str, Any]:
        """Configuration ``config_id``'s environment options."""
        return dict(self.config_env_kwargs[config_id]) if self.config_env_kwargs else dict(self.env_kwargs)

    def solved_threshold(self, config_id: int) -> float | None:
        """The solved threshold of configuration ``config_id``'s environment (None without one)."""
        from rljax.envs import solved_at

        return solved_at(self.env_id, self.env_kwargs_of(config_id))

    def agent_states(self) -> Any:
        """Every run's final agent state, leading axis = run (padding dropped)."""
        from rljax.training.lanes import Lanes

        lanes = Lanes(len(self.seeds), self.lane_width, self.num_devices)
        return lanes.unpack(self.final_state.agent_state)

    @property
    def diverged_at_step(self) -> list[int | None]:
        """Per run: env step at which a loss or parameter first became non-finite, else None."""
        last = self.metrics["diverged_at"][:, -1]
        return [int(s) if s >= 0 else None for s in last]

    def threshold_times(self) -> tuple[float | None, list[int | None], list[float | None]]:
        """``(threshold, steps, seconds)``: the environment's solved threshold and, per run, the
        first env step (and training second) at the end of which its evaluation return reached it.

        None where a run never did, or where the environment has no threshold. Evaluations
        end every segment, so a step is a multiple of the evaluation interval; the seconds
        are those of training (not compiling) up to the end of that segment.
        """
        thresholds = self._thresholds()
        runs = len(self.seeds)
        if all(t is None for t in thresholds):
            return None, [None] * runs, [None] * runs
        limits = np.array([np.inf if t is None else t for t in thresholds])[:, None]
        reached = self.metrics["eval_return"] >= limits  # [runs, segments]; NaN compares False
        first = np.where(reached.any(axis=1), reached.argmax(axis=1), -1)
        known = [t for t in thresholds if t is not None]
        return float(known[0]) if len(set(known)) == 1 else None, *self._at_segments(first)

    def _thresholds(self) -> list[float | None]:
        """Per run, its configuration's solved threshold."""
        return [self.solved_threshold(c) for c in self.config_ids]

    def held_threshold_times(self) -> tuple[list[int | None], list[float | None], list[float | None]]:
        """``(steps, seconds, fractions)`` per run: the env step (and training second) of the first
        evaluation from which every later one stayed at or above the solved threshold, and the
        fraction of its evaluations from the first that reached it on that are at or above it.

        Steps and seconds are None where the last evaluation is below the threshold (the run
        does not hold it at the end), fractions where no evaluation reached it; all are None
        without a threshold. NaN evaluations count as below (:func:`rljax.analysis.stats.held_from`,
        :func:`rljax.analysis.stats.fraction_held`).
        """
        from rljax.analysis.stats import fraction_held, held_from

        thresholds, runs = self._thresholds(), len(self.seeds)
        if all(t is None for t in thresholds):
            return [None] * runs, [None] * runs, [None] * runs
        curves = self.metrics["eval_return"]
        held = [None if t is None else held_from(row, t) for row, t in zip(curves, thresholds)]
        steps, secs = self._at_segments([-1 if j is None else j for j in held])
        return steps, secs, [None if t is None else fraction_held(row, t) for row, t in zip(curves, thresholds)]

    def _at_segments(self, segments: Sequence[int] | np.ndarray) -> tuple[list[int | None], list[float | None]]:
        """Per run, the env step and training second at the end of segment ``segments[i]`` (-1: None)."""
        n = self.metrics["env_steps"].shape[1]
        seconds = self.segment_seconds if self.segment_seconds is not None else np.full(n, np.nan)
        steps = [int(self.metrics["env_steps"][i, j]) if j >= 0 else None for i, j in enumerate(segments)]
        secs = [round(float(seconds[j]), 3) if j >= 0 and np.isfinite(seconds[j]) else None for j in segments]
        return steps, secs

    def curve_steps(self, rows: Sequence[int] | np.ndarray) -> np.ndarray:
        """The env step of each evaluation for the runs ``rows``, to draw their curves on.

        Every run of a non-episodic agent is at the same step; an episodic agent's runs
        take different numbers of env steps per update, so each evaluation is drawn at
        the median over the runs (``metrics.csv`` keeps each run's own step).
        """
        return np.median(self.metrics["env_steps"][np.asarray(rows)], axis=0).astype(np.int64)

    def rows(self, config_id: int | None = None) -> np.ndarray:
        """Indices of the runs of configuration ``config_id`` (None: every run), in seed order."""
        ids = np.asarray(self.config_ids)
        return np.flatnonzero(ids == config_id) if config_id is not None else np.arange(ids.size)

    def summary(self, config_id: int | None = None) -> dict[str, Any]:
        """The ``summary.json`` contract of ``rljax train`` (for one configuration)."""
        from rljax.runs.manifest import versions

        idx = self.rows(config_id).tolist()
        cid = self.config_ids[idx[0]]
        _, steps, seconds = self.threshold_times()
        held_steps, held_seconds, fractions = self.held_threshold_times()
        return {
            "agent": self.agent,
            "env": self.env_id,
            "env_kwargs": self.env_kwargs_of(cid),
            "seeds": [self.seeds[i] for i in idx],
            "final_eval_return": [float(self.final_eval_return[i]) for i in idx],
            "eval_episodes": self.eval_episodes,
            "env_steps_per_seed": self.env_steps_per_seed,
            "env_steps": [int(self.metrics["env_steps"][i, -1]) for i in idx],
            "compile_time_s": round(self.compile_time_s, 3),
            "compile_cache": self.compile_cache,
            "train_time_s": round(self.train_time_s, 3),
            "lane_width": self.lane_width,
            "num_devices": self.num_devices,
            "diverged": [self.diverged_at_step[i] is not None for i in idx],
            "diverged_at_step": [self.diverged_at_step[i] for i in idx],
            "solved_threshold": self.solved_threshold(cid),
            "steps_to_threshold": [steps[i] for i in idx],
            "seconds_to_threshold": [seconds[i] for i in idx],
            "steps_to_held_threshold": [held_steps[i] for i in idx],
            "seconds_to_held_threshold": [held_seconds[i] for i in idx],
            "fraction_held_after_first": [fractions[i] for i in idx],
            "config": self.configs[cid],
            "versions": versions(),
        }


class MetricsStreams:
    """``metrics.csv`` of one or more run folders, one fsynced segment at a time.

    Folder ``c`` receives the rows of configuration ``c`` (runs ``c * len(seeds)`` to
    ``(c + 1) * len(seeds)`` of the batch). The first segment appended decides where the
    tables continue: a resumed run's first is the one after its checkpoint, and the rows
    a killed run wrote past that are dropped (every segment has as many rows).
    """

    def __init__(self, dirs: Sequence[Path], seeds: Sequence[int]):
        self.dirs, self.seeds = [Path(d) for d in dirs], list(seeds)
        self.tables = [MetricsTable(d / "metrics.csv") for d in self.dirs]
        self._continued = False

    def _part(self, metrics: dict[str, np.ndarray], cid: int, *index: Any) -> dict[str, np.ndarray]:
        n = len(self.seeds)
        return {k: v[(slice(cid * n, (cid + 1) * n), *index)] for k, v in metrics.items()}

    def append(self, segment: int, metrics: dict[str, np.ndarray]) -> None:
        """Appends one segment's rows (``metrics[name]`` has shape ``[runs]``)."""
        n = len(self.seeds)
        if not self._continued:
            rows_per_segment = n * sum(1 for name in metrics if name != "env_steps")  # as metrics_rows writes
            for table in self.tables:
                table.keep_rows(segment * rows_per_segment)
            self._continued = True
        for cid, table in enumerate(self.tables):
            table.append(metrics_rows(self.seeds, [cid] * n, self._part(metrics, cid), segment))

    def rebuild(self, result: "TrainResult") -> None:
        """Rewrites every table from a finished result (after a resume), each atomically."""
        n = len(self.seeds)
        for cid, table in enumerate(self.tables):
            segments = range(result.metrics["env_steps"].shape[1])
            table.rewrite(metrics_rows(self.seeds, [cid] * n, self._part(result.metrics, cid, i), i) for i in segments)


def write_config_outputs(out: Path, result: TrainResult, config_id: int, label: str) -> dict[str, Any]:
    """``summary.json``, ``config.json`` and ``curves.png`` of one configuration of a result."""
    from rljax.analysis.plots import plot_curves

    summary = result.summary(config_id)
    rows = result.rows(config_id)
    write_json_atomic(out / "config.json", summary["config"])
    plot_curves(
        [(label, result.curve_steps(rows), result.metrics["eval_return"][rows])],
        out / "curves.png",
        title=f"{result.agent} on {result.env_id}",
        solved_at=result.solved_threshold(config_id),
    )
    write_json_atomic(out / "summary.json", summary)
    return summary
