"""Agents: one module per algorithm; ``get_agent(name)`` for the CLI and scripts."""

from __future__ import annotations

import importlib

from rljax.agents.base import Agent, Clock, Transition

# name -> "module:attribute", imported lazily (DQN pulls in flax/optax/flashbax).
_AGENTS: dict[str, str] = {
    "q_learning": "rljax.agents.tabular:q_learning",
    "sarsa": "rljax.agents.tabular:sarsa",
    "expected_sarsa": "rljax.agents.tabular:expected_sarsa",
    "tabular_pg": "rljax.agents.tabular_pg:tabular_pg",
    "dqn": "rljax.agents.dqn:dqn",
    "reinforce": "rljax.agents.reinforce:reinforce",
    "muzero": "rljax.agents.muzero:muzero",
}


def agent_names() -> list[str]:
    """Names accepted by :func:`get_agent` and ``rljax train``."""
    return sorted(_AGENTS)


def get_agent(name: str) -> Agent:
    """The :class:`Agent` called ``name``; a clear error lists the known names."""
    if name not in _AGENTS:
        raise ValueError(f"unknown agent {name!r}; known agents: {', '.join(agent_names())}")
    module_name, attr = _AGENTS[name].split(":")
    return getattr(importlib.import_module(module_name), attr)


__all__ = ["Agent", "Clock", "Transition", "agent_names", "get_agent"]
