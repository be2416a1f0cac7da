"""Run folders read back for reports: each configuration's ``summary.json`` and evaluation curves
(:func:`load_runs`, :func:`read_eval_curves`), checked; a damaged file is a one-line error.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, NamedTuple, Sequence

import numpy as np

from rljax._errors import ValidationError
from rljax.runs.files import _damaged, _read_json, _read_json_object
from rljax.runs.metrics import METRIC_COLUMNS, METRIC_HEADER

# --------------------------------------------------------------------------- reading run folders back


class Curves(NamedTuple):
    """Evaluation return over training: ``returns[i, t]`` is seed ``seeds[i]`` at evaluation ``t``.

    ``steps[t]`` is evaluation ``t``'s env step: every seed's for a non-episodic agent,
    the median over the seeds for an episodic one (its seeds' episodes take their own
    numbers of steps; ``per_seed_steps[i, t]`` is seed ``seeds[i]``'s).
    """

    steps: np.ndarray
    seeds: list[int]
    returns: np.ndarray
    per_seed_steps: np.ndarray | None = None


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
    # Per seed: first env step whose evaluation reached the solved threshold (None: never;
    # the whole field None: not recorded, e.g. an environment without a threshold).
    steps_to_threshold: list[int | None] | None = None
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
        if (
            not isinstance(diverged, list)
            or len(diverged) != len(seeds)
            or not all(isinstance(d, bool) for d in diverged)
        ):
            raise _summary_error(folder, "'diverged' must be a list with one true/false per seed")
        diverged = np.asarray(diverged, dtype=bool)
    steps_to_threshold = summary.get("steps_to_threshold")
    if steps_to_threshold is not None and (
        not isinstance(steps_to_threshold, list)
        or len(steps_to_threshold) != len(seeds)
        or not all(s is None or (isinstance(s, int) and not isinstance(s, bool) and s >= 0) for s in steps_to_threshold)
    ):
        raise _summary_error(folder, "'steps_to_threshold' must be a list with one env step (or null) per seed")
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
        steps_to_threshold=steps_to_threshold,
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
                raise ValidationError(
                    f"sweep {str(folder)!r}: configuration {d.name!r} has no summary.json (unfinished sweep?)"
                )
        return dirs
    # No label list (hand-made or older sweep.json): every subfolder that is a run.
    dirs = sorted((d for d in folder.iterdir() if (d / "summary.json").is_file()), key=lambda d: _natural_key(d.name))
    if not dirs:
        raise ValidationError(f"sweep {str(folder)!r} has no configuration folders with a summary.json")
    return dirs


def load_runs(paths: Sequence[str | Path]) -> list[Run]:
    """Reads run folders and sweep folders (expanded to one :class:`Run` per configuration).

    A folder with ``sweep.json`` is a sweep; otherwise one with ``summary.json`` is a
    run. A run's label is its folder name, a sweep configuration's ``sweep/config``;
    labels that would collide fall back to the path as given. Raises ValueError on a
    path that is neither, on malformed JSON (naming the file), or on a folder given twice.
    """
    if not paths:
        raise ValidationError("no run or sweep folders given")
    runs: list[Run] = []
    for given in paths:
        folder = Path(given)
        name = folder.resolve().name
        if not folder.is_dir():
            raise ValidationError(f"{str(given)!r} is not a folder (expected a run or sweep folder)")
        if (folder / "sweep.json").is_file():
            sweep = _read_json_object(folder / "sweep.json")
            for d in _sweep_config_dirs(folder, sweep):
                runs.append(_load_run(d, f"{name}/{d.name}", sweep=name))
        elif (folder / "summary.json").is_file():
            runs.append(_load_run(folder, name))
        else:
            raise ValidationError(
                f"{str(given)!r} is neither a run folder (no summary.json) nor a sweep folder (no sweep.json)"
            )
    seen: dict[Path, str] = {}
    for run in runs:
        key = run.path.resolve()
        if key in seen:
            raise ValidationError(f"{str(run.path)!r} is given more than once")
        seen[key] = run.label
    labels = [run.label for run in runs]
    for run in runs:
        if labels.count(run.label) > 1:
            run.label = str(run.path)
    return runs


def read_eval_curves(path: Path, seeds: Sequence[int]) -> Curves:
    """``eval_return`` of ``seeds`` from a long metrics table, evaluation by evaluation.

    A seed's k-th ``eval_return`` row is its k-th evaluation (rows are appended one
    segment at a time); evaluations that every seed reached are kept (a run cut short
    leaves the tail ragged). See :class:`Curves` for the steps.

    Seeds absent from the table are left out (``Curves.seeds`` says which remain). A
    table with several configurations is an error: each sweep configuration has its own.
    """
    if not path.is_file():
        raise ValidationError(f"no metrics.csv in {str(path.parent)!r}: cannot plot its learning curve")
    try:
        data = path.read_bytes()
    except OSError as err:
        raise ValidationError(f"cannot read {path.name} in {str(path.parent)!r}: {err}") from None
    if not data.strip():
        raise _damaged(path, f"empty file (expected the header {METRIC_HEADER.strip()})")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise _damaged(path, "not UTF-8 text (corrupted?)") from None
    if not text.endswith("\n"):
        # Every row rljax writes ends its line: a last row without one was cut short, and
        # its value may read as another number.
        raise _damaged(path, "the last row has no line end (truncated?)")
    by_seed: dict[int, list[tuple[int, float]]] = {}
    configs: set[str] = set()
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        missing = set(METRIC_COLUMNS) - set(reader.fieldnames or ())
        if missing:
            raise _damaged(path, f"missing column(s) {', '.join(sorted(missing))} in its header")
        for row in reader:
            if None in row or None in row.values():  # too many or too few fields
                raise _damaged(path, f"line {reader.line_num}: not a row of {METRIC_HEADER.strip()}")
            if row["metric"] != "eval_return":
                continue
            try:
                seed, step, value = int(row["seed"]), int(float(row["step"])), float(row["value"])
            except (TypeError, ValueError):
                raise _damaged(path, f"line {reader.line_num}: not a row of {METRIC_HEADER.strip()}") from None
            configs.add(row["config"])
            by_seed.setdefault(seed, []).append((step, value))
    except csv.Error as err:
        raise _damaged(path, f"line {reader.line_num}: {err}") from None
    if len(configs) > 1:
        raise ValidationError(f"{str(path)!r} holds several configurations ({', '.join(sorted(configs))})")
    present = [s for s in seeds if s in by_seed]
    if not present:
        raise ValidationError(f"{str(path)!r} has no eval_return rows for seeds {list(seeds)}")
    n = min(len(by_seed[s]) for s in present)
    table = np.array([by_seed[s][:n] for s in present], dtype=float).reshape(len(present), n, 2)
    per_seed_steps, returns = table[..., 0].astype(np.int64), table[..., 1]
    if (np.diff(per_seed_steps, axis=1) <= 0).any():
        raise _damaged(path, "a seed's eval_return rows do not go forward in steps")
    steps = np.median(per_seed_steps, axis=0).astype(np.int64)
    return Curves(steps, present, returns, per_seed_steps)
