"""Parsing what the command line is given, shared by its commands: ``key=value`` pairs, literal
values, seed lists, and :class:`UsageError` (printed as one line, exit code 2).
"""

from __future__ import annotations

import ast
from typing import Any, Sequence

from rljax._errors import ValidationError

# rljax.runs.loggers.LOG_CHOICES, spelled out here: importing that module loads NumPy, and
# building the parser must stay cheap (tests/runs/test_loggers.py checks the two agree).
LOG_CHOICES = ("none", "tensorboard", "wandb")


class UsageError(ValidationError):
    """Bad command-line input: printed without a traceback, exit code 2."""


def key_values(pairs: Sequence[str], flag: str, aliases: dict[str, str] | None = None) -> dict[str, str]:
    """``["a=1", "b=x"]`` -> ``{"a": "1", "b": "x"}``; a key given twice (or under an alias) is refused."""
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise UsageError(f"{flag} expects key=value; got {pair!r}")
        key = (aliases or {}).get(key.strip(), key.strip())
        if key in out:
            raise UsageError(f"{flag} gives {key!r} twice ({out[key]!r} and {value.strip()!r}): give it once")
        out[key] = value.strip()
    return out


def literal(text: str) -> Any:
    """An environment argument: a Python literal if it parses as one, else the string."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def parse_seeds(seeds: int | None, seed_list: str | None) -> list[int]:
    """``--seeds N`` -> 0..N-1; ``--seed-list 3,5,7`` -> exactly those."""
    if seed_list is not None:
        parts = [s.strip() for s in seed_list.split(",")]
        if parts and not parts[-1]:
            parts.pop()  # a trailing comma ("3,5,") is harmless
        if not parts or any(not p for p in parts):
            raise UsageError(f"--seed-list expects comma-separated integers, none empty; got {seed_list!r}")
        try:
            out = [int(s) for s in parts]
        except ValueError:
            raise UsageError(f"--seed-list expects comma-separated integers; got {seed_list!r}") from None
        if any(not 0 <= s < 2**32 for s in out):
            raise UsageError(f"--seed-list needs non-negative integers below 2**32 (32-bit keys); got {seed_list!r}")
        if len(set(out)) != len(out):
            raise UsageError(f"--seed-list has repeated seeds: {seed_list!r}")
        return out
    if seeds is None or seeds < 1:
        raise UsageError(f"--seeds must be >= 1; got {seeds}")
    return list(range(seeds))


# Short names accepted in --set and --grid.
ALIASES = {"lr": "learning_rate"}
