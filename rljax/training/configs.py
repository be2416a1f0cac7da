"""An agent's configuration from names and strings: the preset, the user's overrides, plain values back.

``make_config(agent, {"learning_rate": "3e-4"})`` parses each string to the type of the
field's default and refuses unknown names (the message lists the allowed ones);
:func:`config_dict` turns a config back into plain Python values for JSON.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from rljax._errors import ValidationError
from rljax.agents import Agent
from rljax.agents.base import config_fields


def parse_value(text: str, default: Any, name: str) -> Any:
    """Parses a command-line value to the type of a field's default."""
    try:
        if isinstance(default, bool):
            if text.lower() in ("1", "true", "yes", "on"):
                return True
            if text.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError
        if isinstance(default, int):
            return int(float(text)) if float(text).is_integer() else int(text)
        if isinstance(default, float):
            return float(text)
        if isinstance(default, tuple):
            parts = [p for p in text.replace("(", "").replace(")", "").split(",") if p.strip()]
            kind = type(default[0]) if default else int
            return tuple(kind(p) for p in parts)
        return text
    except ValueError:
        raise ValidationError(f"cannot parse {name}={text!r} as {type(default).__name__}") from None


def make_config(agent: Agent, overrides: dict[str, Any] | None = None) -> Any:
    """The agent's default config with ``overrides`` applied (strings are parsed).

    Unknown keys are an error that lists the allowed ones.
    """
    fields = config_fields(agent.config_type)
    default = agent.config_type()
    values = {}
    for key, value in (overrides or {}).items():
        if key not in fields:
            raise ValidationError(
                f"unknown hyperparameter {key!r} for {agent.name}; allowed: {', '.join(sorted(fields))}"
            )
        current = getattr(default, key)
        values[key] = (
            parse_value(value, current, key) if isinstance(value, str) and not isinstance(current, str) else value
        )
    return dataclasses.replace(default, **values)


def config_dict(config: Any) -> dict[str, Any]:
    """Every hyperparameter of a (single) config as plain Python values."""
    out = {}
    for name in config_fields(type(config)):
        value = getattr(config, name)
        out[name] = value.item() if hasattr(value, "item") else value
    return out
