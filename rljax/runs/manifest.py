"""What a run folder says about its run: ``run.json`` (what determines the numbers), ``manifest.json``
(versions, command), and the checks that a folder is the run one asks for (``--resume``, sweeps).
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any, Iterable, Sequence

from rljax._errors import ValidationError
from rljax.runs.agent_states import AGENT_STATE_FILE
from rljax.runs.checkpoints import _other_layout, checkpoint_files
from rljax.runs.files import _damaged, _read_json_object, to_jsonable


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def git_commit(cwd: str | os.PathLike | None = None) -> str | None:
    """The commit of the code checkout, when rljax runs from one."""
    cwd = cwd or Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def versions() -> dict[str, Any]:
    """Versions of rljax and its stack, and the device it runs on."""
    import jax

    from rljax._version import __version__

    devices = jax.devices()
    return {
        "rljax": __version__,
        "jax": jax.__version__,
        "jaxlib": _version("jaxlib"),
        "flax": _version("flax"),
        "optax": _version("optax"),
        "gymnax": _version("gymnax"),
        "python": platform.python_version(),
        "device": devices[0].platform,
        "device_kind": devices[0].device_kind,
        "device_count": len(devices),
    }


def manifest(
    seeds: Iterable[int], argv: list[str] | None = None, compile_cache: str | os.PathLike | None = None
) -> dict[str, Any]:
    """What produced a run: versions, device, git commit, command line, seeds, the compile cache folder."""
    return {
        "versions": versions(),
        "git_commit": git_commit(),
        "command": argv if argv is not None else sys.argv,
        "seeds": [int(s) for s in seeds],
        "compile_cache_dir": None if compile_cache is None else str(compile_cache),
    }


def resolve_run_dir(run_dir: str | os.PathLike, config: int | str | None = None) -> Path:
    """The run folder that holds the agent states: ``run_dir`` itself, or one configuration of a sweep."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"{str(run_dir)!r} is not a folder")
    sweep_file = run_dir / "sweep.json"
    if sweep_file.exists():
        labels = _read_json_object(sweep_file).get("labels", [])
        if not isinstance(labels, list):
            raise _damaged(sweep_file, "'labels' must be a list")
        if config is None:
            raise ValidationError(f"{str(run_dir)!r} is a sweep folder: pass config= one of {labels} (or its index)")
        if isinstance(config, int) and not isinstance(config, bool):
            if not 0 <= config < len(labels):
                raise ValidationError(f"config index {config} out of range: the sweep has {len(labels)} configurations")
            config = labels[config]
        if config not in labels:
            raise ValidationError(f"unknown configuration {config!r}; the sweep's configurations are: {labels}")
        return run_dir / str(config)
    if config is not None:
        raise ValidationError(f"config= selects a configuration of a sweep folder; {str(run_dir)!r} is a train folder")
    return run_dir


def read_spec(run_dir: Path) -> dict[str, Any]:
    """``run.json`` of a finished run folder, checked."""
    spec_file = run_dir / "run.json"
    if not spec_file.exists():
        raise FileNotFoundError(f"{str(run_dir)!r} has no run.json: not a `rljax train` or `rljax sweep` run folder")
    if not (run_dir / AGENT_STATE_FILE).exists():
        raise FileNotFoundError(
            f"{str(run_dir)!r} has no {AGENT_STATE_FILE}: the run has not finished "
            f"(or was written by an rljax that did not save agent states)"
        )
    spec = _read_json_object(spec_file)
    missing = [k for k in ("agent", "env", "seeds") if k not in spec]
    if missing:
        raise ValidationError(f"{spec_file} lacks {', '.join(missing)}")
    return spec


def run_spec(
    command: str,
    agent: str,
    env: str,
    env_kwargs: dict[str, Any],
    seeds: Sequence[int],
    overrides: Sequence[dict[str, Any]],
    total_steps: int | None,
    eval_every: int | None,
    eval_episodes: int,
    lane_width: int,
    fast_compile: bool,
) -> dict[str, Any]:
    """``run.json``: what determines a run's numbers (a resumed run must match it exactly)."""
    return to_jsonable(
        {
            "command": command,
            "agent": agent,
            "env": env,
            "env_kwargs": dict(env_kwargs),
            "seeds": [int(s) for s in seeds],
            "overrides": [dict(o) for o in overrides],
            "total_steps": total_steps,
            "eval_every": eval_every,
            "eval_episodes": eval_episodes,
            "lane_width": lane_width,
            "fast_compile": fast_compile,
        }
    )


def check_resume(out: Path, spec: dict[str, Any]) -> bool:
    """Raises ``ValueError`` unless ``out`` holds the run ``spec`` describes; returns whether it
    has a checkpoint (a run killed before its first one has none: it starts again from the beginning)."""
    import jax

    spec_file = out / "run.json"
    count = jax.process_count()
    newest, previous, _ = checkpoint_files(jax.process_index(), count)
    if not spec_file.exists():
        why = "has no checkpoint to resume from" if not out.is_dir() else "holds no run to resume (no run.json)"
        raise ValidationError(f"--resume: {str(out)!r} {why}")
    saved = _read_json_object(spec_file)
    saved_spec = {k: saved.get(k) for k in spec}
    current = json.loads(json.dumps(spec))  # same JSON types as the saved one
    if saved_spec != current:
        diffs = [f"{k}: saved {saved_spec[k]!r}, now {current[k]!r}" for k in spec if saved_spec[k] != current[k]]
        raise ValidationError("--resume: the command differs from the saved run (" + "; ".join(diffs) + ")")
    if any((out / c).exists() for c in (newest, previous)):
        return True
    other = _other_layout(out, count)
    if other:
        raise ValidationError(f"--resume: {other}")
    return False
