"""TensorBoard and W&B logging of a run's per-segment metrics (``--log tensorboard|wandb``).

A logger is a callable ``(segment, metrics) -> None`` that :func:`rljax.train` calls
between compiled segments (its ``on_segment``), never inside traced code:
``metrics[name]`` is a NumPy array with one value per run of the batch. What it writes,
per configuration folder ``DIR``:

* TensorBoard (``DIR/tensorboard/``): one TensorBoard *run* per seed (``seed_0``,
  ``seed_3``, ...) and two for the across-seed aggregates (``mean``, ``iqm``), so that
  TensorBoard overlays the seeds on one chart per metric. The tags are the metric names
  of ``metrics.csv`` (``eval_return``, ``train_episode_return``, ``loss``, ``epsilon``,
  ...), each at its seed's env step. Every seed's run also carries the hyperparameters
  as an HParams-plugin session (so the HParams dashboard lists seeds and sweep
  configurations side by side) and ``mean`` carries them as a ``config`` text summary.
  Written with the ``tensorboard`` package's own event writer and protos: no
  TensorFlow, no torch.
* W&B (``DIR/wandb/``): one W&B run per configuration, with the hyperparameters as its
  config and keys ``seed_<s>/<metric>``, ``mean/<metric>`` and ``iqm/<metric>``; each
  seed's keys are plotted against ``seed_<s>/env_step``, the aggregates against
  ``env_step``. ``WANDB_MODE=offline`` keeps everything on disk (``wandb sync`` uploads
  it later); the project is ``$WANDB_PROJECT`` or ``rljax``.

With the environment's solved threshold (``threshold``, as ``rljax train`` passes it),
two more curves per seed say whether the agent *stays* solved: ``at_threshold`` (1 when
that evaluation's return is at or above the threshold, else 0; its ``mean`` is the
fraction of seeds solved at that evaluation) and ``held_since_first`` (of the
evaluations since the seed first reached the threshold, the fraction at or above it;
not logged before; its last value is ``summary.json``'s ``fraction_held_after_first``).
A resumed run reads the evaluations before its checkpoint from ``metrics.csv``.

Values that are NaN (DQN's loss before learning starts, a training return before any
episode ended) are left out rather than drawn as gaps; the aggregates are over the
seeds with a finite value. ``diverged_at`` is a sentinel (-1 or an env step), not a
curve, and is not logged (``summary.json`` has it).

Both packages are optional extras, imported only when a logger is made;
:func:`check_logger` says which ``pip install`` a missing one needs, before anything is
written.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import Any, Literal, Sequence, get_args

import numpy as np

from rljax._errors import ValidationError

LogChoice = Literal["none", "tensorboard", "wandb"]
LOG_CHOICES: tuple[str, ...] = get_args(LogChoice)

# Metrics that are not curves: the env step is the x-axis, diverged_at a sentinel.
_NOT_LOGGED = frozenset({"env_steps", "diverged_at"})
# Flush at most this often (and on close): a flush per segment would cost a write per
# segment for runs whose segments take milliseconds; this keeps TensorBoard live anyway.
FLUSH_SECONDS = 5.0


class LoggerUnavailable(ValidationError):
    """The package a ``--log`` choice needs is not installed (a usage error: exit code 2)."""


def check_logger(kind: LogChoice) -> None:
    """Raises :class:`LoggerUnavailable` (one line, naming the extra) if ``kind``'s package is missing."""
    if kind not in LOG_CHOICES:
        raise ValidationError(f"unknown logger {kind!r}; choose one of {', '.join(LOG_CHOICES)}")
    if kind == "none":
        return
    try:
        if kind == "tensorboard":
            import tensorboard.summary.writer.event_file_writer  # noqa: F401
        else:
            import wandb  # noqa: F401
    except ImportError:
        raise LoggerUnavailable(
            f"--log {kind} needs the {kind} package: pip install rljax[{kind}] (or pip install {kind})"
        ) from None


def hparams_of(
    agent: str,
    env_id: str,
    config: dict[str, Any],
    env_kwargs: dict[str, Any] | None = None,
    total_steps: int | None = None,
) -> dict[str, Any]:
    """The hyperparameters a logger records: the agent's config plus what the run was trained on."""
    out: dict[str, Any] = {"agent": agent, "env": env_id}
    for key, value in (env_kwargs or {}).items():
        out[f"env.{key}"] = value
    if total_steps is not None:
        out["total_steps"] = int(total_steps)
    out.update(config)
    return out


def _scalar_hparams(hparams: dict[str, Any]) -> dict[str, bool | int | float | str]:
    """Values the HParams plugin can hold (bool, number, string): tuples and the like become strings."""
    out: dict[str, bool | int | float | str] = {}
    for key, value in hparams.items():
        if isinstance(value, np.generic):
            value = value.item()
        if isinstance(value, (bool, int, float, str)):
            out[key] = value
        else:
            out[key] = str(value)
    return out


def _aggregates(metrics: dict[str, np.ndarray], names: Sequence[str]) -> dict[str, tuple[float, float]]:
    """``{name: (mean, IQM)}`` over each metric's finite values (metrics with none are left out).

    The IQM is :func:`rljax.analysis.stats.iqm`'s (``scipy.stats.trim_mean(x, 0.25)``: cut
    ``int(n / 4)`` values from each end, average the rest) computed with NumPy here:
    scipy's per-call overhead (about a millisecond) was most of the logger's cost.
    tests/runs/test_loggers.py checks the two agree.
    """
    table = np.array([np.asarray(metrics[k], dtype=np.float64) for k in names]).reshape(len(names), -1)
    finite = np.isfinite(table)
    out: dict[str, tuple[float, float]] = {}
    full = finite.all(axis=1)
    if full.any():
        rows = table[full]
        for k, m, q in zip(np.asarray(names)[full], rows.mean(axis=1), _iqm_rows(rows)):
            out[str(k)] = (float(m), float(q))
    for i in np.flatnonzero(~full & finite.any(axis=1)):
        values = table[i][finite[i]]
        out[names[i]] = (float(values.mean()), float(_iqm_rows(values[None])[0]))
    return {k: out[k] for k in names if k in out}  # in the metrics' order


def _iqm_rows(rows: np.ndarray) -> np.ndarray:
    """The interquartile mean of each row of ``rows`` ``[k, n]`` (as ``scipy.stats.trim_mean(row, 0.25)``)."""
    n = rows.shape[1]
    cut = int(0.25 * n)
    return np.sort(rows, axis=1)[:, cut : n - cut].mean(axis=1)


class ThresholdTracker:
    """Streams, per seed, whether each evaluation is at or above ``threshold`` (see the module docstring).

    NaN returns count as below. :meth:`update` takes one segment's ``eval_return`` ``[seeds]``
    and gives the ``at_threshold`` and ``held_since_first`` values of that evaluation.
    """

    def __init__(self, threshold: float, num_seeds: int):
        self.threshold = float(threshold)
        self.reached = np.zeros(num_seeds, bool)
        self.since_first = np.zeros(num_seeds, np.int64)  # evaluations since the first touch, it included
        self.held = np.zeros(num_seeds, np.int64)  # of those, at or above the threshold

    def update(self, eval_return: np.ndarray) -> dict[str, np.ndarray]:
        returns = np.asarray(eval_return, dtype=np.float64)
        at = np.greater_equal(returns, self.threshold, where=np.isfinite(returns), out=np.zeros(returns.shape, bool))
        self.reached |= at
        self.since_first += self.reached
        self.held += at & self.reached
        with np.errstate(invalid="ignore", divide="ignore"):
            held = np.where(self.reached, self.held / np.maximum(self.since_first, 1), np.nan)
        return {"at_threshold": at.astype(np.float64), "held_since_first": held}

    def prime(self, metrics_csv: Path, seeds: Sequence[int], before_step: int) -> None:
        """Replays the evaluations a resumed run made before ``before_step`` (rows of ``metrics.csv``)."""
        if not metrics_csv.is_file():
            return
        import csv

        index = {int(s): i for i, s in enumerate(seeds)}
        by_step: dict[int, np.ndarray] = {}
        with open(metrics_csv, newline="") as f:
            for row in csv.DictReader(f):
                if row.get("metric") != "eval_return" or int(row["seed"]) not in index:
                    continue
                step = int(row["step"])
                if step < before_step:
                    by_step.setdefault(step, np.full(len(index), np.nan))[index[int(row["seed"])]] = float(row["value"])
        for step in sorted(by_step):
            self.update(by_step[step])


class _TensorBoardRun:
    """One configuration folder's ``tensorboard/``: a writer per seed plus ``mean`` and ``iqm``."""

    def __init__(self, folder: Path, seeds: Sequence[int], hparams: dict[str, Any], resume: bool):
        from tensorboard.compat.proto import event_pb2, summary_pb2
        from tensorboard.plugins.hparams import summary_v2 as hp
        from tensorboard.plugins.text import metadata as text_metadata
        from tensorboard.summary.writer.event_file_writer import EventFileWriter
        from tensorboard.util import tensor_util

        self._event_pb2, self._summary_pb2 = event_pb2, summary_pb2
        root = folder / "tensorboard"
        self.names = [f"seed_{s}" for s in seeds] + ["mean", "iqm"]
        # flush_secs is a ceiling for the writer's own thread; close() flushes everything.
        self.writers = {n: EventFileWriter(str(root / n), flush_secs=FLUSH_SECONDS) for n in self.names}
        self.resume = resume
        self.pending_start = resume
        scalars = _scalar_hparams(hparams)
        now = time.time()
        for s, name in zip(seeds, self.names):
            # trial_id: the folder and seed, so two seeds of one configuration are two trials.
            pb = hp.hparams_pb({**scalars, "seed": int(s)}, trial_id=f"{folder.name}/{name}", start_time_secs=now)
            self._write(name, pb, step=0)
        config_text = "```json\n" + json.dumps(scalars, indent=2, sort_keys=True) + "\n```"
        # The text plugin's own pb() needs TensorFlow; this is the same proto without it.
        text = summary_pb2.Summary()
        text.value.add(
            tag="config",
            metadata=text_metadata.create_summary_metadata(display_name="config", description=""),
            tensor=tensor_util.make_tensor_proto(np.array(config_text, dtype=object)),
        )
        self._write("mean", text, step=0)
        self.last_flush = time.monotonic()

    def _write(self, name: str, summary: Any, step: int) -> None:
        self.writers[name].add_event(self._event_pb2.Event(wall_time=time.time(), step=int(step), summary=summary))

    def write(self, metrics: dict[str, np.ndarray]) -> None:
        steps = np.asarray(metrics["env_steps"], dtype=np.int64)
        wall = time.time()
        Event, Summary = self._event_pb2.Event, self._summary_pb2.Summary
        if self.pending_start:
            # A resumed run re-trains the segments after its checkpoint: a SessionLog START
            # makes TensorBoard drop what the interrupted run had logged past this step.
            start = self._event_pb2.SessionLog(status=self._event_pb2.SessionLog.START)
            for writer in self.writers.values():
                writer.add_event(Event(wall_time=wall, step=int(steps.min()) - 1, session_log=start))
            self.pending_start = False
        names = [k for k in metrics if k not in _NOT_LOGGED]
        for i, name in enumerate(self.names[:-2]):
            values = [Summary.Value(tag=k, simple_value=float(metrics[k][i])) for k in names]
            values = [v for v in values if math.isfinite(v.simple_value)]
            if values:
                self.writers[name].add_event(Event(wall_time=wall, step=int(steps[i]), summary=Summary(value=values)))
        # Episodic agents' seeds reach a segment at different env steps: aggregate at their mean.
        step = int(round(float(steps.mean())))
        means, iqms = [], []
        for k, (mean, robust) in _aggregates(metrics, names).items():
            means.append(Summary.Value(tag=k, simple_value=mean))
            iqms.append(Summary.Value(tag=k, simple_value=robust))
        for name, values in (("mean", means), ("iqm", iqms)):
            if values:
                self.writers[name].add_event(Event(wall_time=wall, step=step, summary=Summary(value=values)))
        if time.monotonic() - self.last_flush >= FLUSH_SECONDS:
            self.flush()

    def flush(self) -> None:
        for writer in self.writers.values():
            writer.flush()
        self.last_flush = time.monotonic()

    def close(self) -> None:
        for writer in self.writers.values():
            writer.close()


class _WandbRun:
    """One configuration folder's W&B run (files in ``DIR/wandb/``)."""

    def __init__(self, folder: Path, seeds: Sequence[int], hparams: dict[str, Any], group: str | None):
        import wandb

        self.seeds = [int(s) for s in seeds]
        self.run = wandb.init(
            project=os.environ.get("WANDB_PROJECT", "rljax"),
            name=folder.name,
            group=group,
            dir=str(folder),
            config=_scalar_hparams(hparams),
            # Several configurations of a sweep program log at once: one run object each.
            reinit="create_new",
            # console="off": W&B must not wrap stdout/stderr (the progress bar and the
            # command's own output go there).
            settings=wandb.Settings(console="off", silent=True),
        )
        self.run.define_metric("env_step")
        for name in ("mean", "iqm"):
            self.run.define_metric(f"{name}/*", step_metric="env_step")
        for s in self.seeds:
            self.run.define_metric(f"seed_{s}/env_step")
            self.run.define_metric(f"seed_{s}/*", step_metric=f"seed_{s}/env_step")

    def write(self, metrics: dict[str, np.ndarray]) -> None:
        steps = np.asarray(metrics["env_steps"], dtype=np.int64)
        names = [k for k in metrics if k not in _NOT_LOGGED]
        data: dict[str, float | int] = {"env_step": int(round(float(steps.mean())))}
        for i, s in enumerate(self.seeds):
            data[f"seed_{s}/env_step"] = int(steps[i])
            for k in names:
                v = float(metrics[k][i])
                if math.isfinite(v):
                    data[f"seed_{s}/{k}"] = v
        for k, (mean, robust) in _aggregates(metrics, names).items():
            data[f"mean/{k}"], data[f"iqm/{k}"] = mean, robust
        self.run.log(data)

    def flush(self) -> None:
        pass  # W&B's service process writes as it goes

    def close(self) -> None:
        self.run.finish()


class SegmentLogger:
    """``on_segment`` for :func:`rljax.train`: logs each segment to TensorBoard or W&B.

    Folder ``c`` of ``dirs`` receives the runs of configuration ``c`` (runs
    ``c * len(seeds)`` to ``(c + 1) * len(seeds)`` of the batch, as in ``metrics.csv``).
    Nothing is written until the first segment ends, so a run that fails validation or
    compilation (or whose folder ``rljax.train`` has yet to create) leaves no files.
    Use it as a context manager, or call :meth:`close`, so the last events are flushed::

        with SegmentLogger("tensorboard", [out], seeds, [hparams]) as log:
            rljax.train("dqn", "CartPole-v1", seeds, out=out, on_segment=log)
    """

    def __init__(
        self,
        kind: LogChoice,
        dirs: Sequence[str | os.PathLike],
        seeds: Sequence[int],
        hparams: Sequence[dict[str, Any]],
        *,
        resume: bool = False,
        group: str | None = None,
        threshold: float | None = None,
    ):
        check_logger(kind)
        if kind == "none":
            raise ValidationError("SegmentLogger needs 'tensorboard' or 'wandb' (for 'none', pass no on_segment)")
        if len(hparams) != len(dirs):
            raise ValidationError(f"got {len(hparams)} hyperparameter sets for {len(dirs)} folders")
        self.kind, self.dirs, self.seeds = kind, [Path(d) for d in dirs], [int(s) for s in seeds]
        self.hparams, self.resume, self.group = [dict(h) for h in hparams], resume, group
        self.runs: list[_TensorBoardRun | _WandbRun] | None = None
        self.threshold = threshold
        self.trackers: list[ThresholdTracker] | None = None

    def _open(self) -> list[_TensorBoardRun | _WandbRun]:
        if self.kind == "tensorboard":
            return [_TensorBoardRun(d, self.seeds, h, self.resume) for d, h in zip(self.dirs, self.hparams)]
        return [_WandbRun(d, self.seeds, h, self.group) for d, h in zip(self.dirs, self.hparams)]

    def __call__(self, segment: int, metrics: dict[str, np.ndarray]) -> None:
        """Logs one segment (``metrics[name]`` has one value per run)."""
        if self.runs is None:
            self.runs = self._open()
        n = len(self.seeds)
        for c, run in enumerate(self.runs):
            mine = {k: np.asarray(v)[c * n : (c + 1) * n] for k, v in metrics.items()}
            if self.threshold is not None and "eval_return" in mine:
                mine.update(self._tracker(c, int(np.min(mine["env_steps"]))).update(mine["eval_return"]))
            run.write(mine)

    def _tracker(self, c: int, first_step: int) -> ThresholdTracker:
        """Configuration ``c``'s tracker; made at the first segment (primed from ``metrics.csv`` on resume)."""
        if self.trackers is None:
            self.trackers = [ThresholdTracker(self.threshold, len(self.seeds)) for _ in self.dirs]
            if self.resume:
                for tracker, folder in zip(self.trackers, self.dirs):
                    tracker.prime(folder / "metrics.csv", self.seeds, first_step)
        return self.trackers[c]

    def close(self) -> None:
        """Flushes and closes every writer (W&B: finishes its runs)."""
        runs, self.runs = self.runs or [], None
        for run in runs:
            run.close()

    def __enter__(self) -> "SegmentLogger":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
