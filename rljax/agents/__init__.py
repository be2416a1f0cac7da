"""Agents: one module per algorithm; ``get_agent(name)`` for the CLI and scripts.

An agent that is not built in is named by where it is defined (at the top level of
a module): ``"package.module:attribute"`` for an importable module, or
``"path/to/file.py:attribute"`` for a file. So ``rljax train my_pkg.agents:my_agent
--env Taxi-v3`` works like a built-in name, and :func:`agent_ref` (what a run
folder's ``run.json`` records) lets ``rljax.load_policy`` and ``rljax evaluate``
rebuild a custom agent in a fresh process.

This module imports no JAX until an agent is asked for: ``rljax list`` and
``rljax --help`` stay cheap.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from rljax._errors import ValidationError

if TYPE_CHECKING:
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
    "ppo": "rljax.agents.ppo:ppo",
    "pqn": "rljax.agents.pqn:pqn",
    "sac": "rljax.agents.sac:sac",
}
_BASE_NAMES = ("Agent", "Clock", "Transition")
_PATH_FORMS = "'package.module:attribute' or 'path/to/file.py:attribute'"


def __getattr__(name: str) -> Any:
    # Agent, Clock and Transition live in rljax.agents.base, which imports JAX.
    if name in _BASE_NAMES:
        from rljax.agents import base

        return getattr(base, name)
    raise AttributeError(f"module 'rljax.agents' has no attribute {name!r}")


def agent_names() -> list[str]:
    """Built-in names accepted by :func:`get_agent` and ``rljax train``."""
    return sorted(_AGENTS)


def get_agent(name: str) -> Agent:
    """The :class:`Agent` called ``name``: a built-in name, ``"package.module:attribute"``
    or ``"path/to/file.py:attribute"``; a one-line ``ValueError`` says what is allowed."""
    if name in _AGENTS:
        module_name, attr = _AGENTS[name].split(":")
        return getattr(importlib.import_module(module_name), attr)
    where, sep, attr = str(name).rpartition(":")
    if not sep or not where or not attr.isidentifier():
        raise ValidationError(
            f"unknown agent {name!r}; known agents: {', '.join(agent_names())}; or your own as {_PATH_FORMS}"
        )
    module = _import_file(name, where) if where.endswith(".py") else _import_module(name, where)
    agent = getattr(module, attr, None)
    from rljax.agents.base import Agent

    if not isinstance(agent, Agent):
        what = "has no attribute" if agent is None else f"has a {type(agent).__name__}, not an rljax Agent, at"
        raise ValidationError(f"agent {name!r}: {where} {what} {attr!r}")
    return agent


def _import_module(name: str, module_name: str) -> ModuleType:
    try:
        return importlib.import_module(module_name)
    except ImportError as err:  # the module, or one it imports, is not there: the user's input, not a bug
        raise ValidationError(
            f"agent {name!r}: cannot import {module_name!r} ({err}); is it on sys.path / PYTHONPATH?"
        ) from None


def _import_file(name: str, path: str) -> ModuleType:
    file = Path(path).expanduser().resolve()
    if not file.is_file():
        raise ValidationError(f"agent {name!r}: no such file {path!r}")
    main = sys.modules.get("__main__")
    if getattr(main, "__file__", None) and Path(main.__file__).resolve() == file:
        return main  # the running script itself: no second copy of its agent
    # One module per file, under a name no import statement would use.
    module_name = f"_rljax_agent_{file.stem}_{hashlib.sha1(str(file).encode()).hexdigest()[:8]}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, file)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # dataclasses look their module up while it runs
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[module_name]
        raise
    return module


def agent_ref(agent: Agent) -> str:
    """The name under which :func:`get_agent` finds ``agent`` again, in a fresh process.

    A built-in agent: its name. Any other agent defined at the top level of a module:
    ``"package.module:attribute"`` when the module belongs to an installed package
    (site-packages), else ``"/absolute/path/file.py:attribute"`` (a script, a file of
    your project: found from any working directory). An agent made inside a function
    or at ``python -c`` has no such name: then ``agent.name`` (marked as a changed copy
    when it is a built-in's name, so that the original is not rebuilt in its place), and
    a run folder of it can only be loaded back by passing the agent
    (``rljax.load_policy(..., agent=)``).
    """
    if agent.name in _AGENTS:
        module_name, attr = _AGENTS[agent.name].split(":")
        if getattr(sys.modules.get(module_name), attr, None) is agent:
            return agent.name
    # Where it may be defined: the modules of its functions and config, and the script.
    names = [getattr(f, "__module__", None) for f in (agent.init, agent.act, agent.update, agent.config_type)]
    modules = dict.fromkeys(sys.modules.get(n) for n in [*names, "__main__"] if n)
    for module in (m for m in modules if m is not None):
        attr = next((k for k, v in vars(module).items() if v is agent and k.isidentifier()), None)
        if attr is None:
            continue
        file = getattr(module, "__file__", None)
        installed = file is not None and not {"site-packages", "dist-packages"}.isdisjoint(Path(file).parts)
        if module.__name__ != "__main__" and (installed or file is None):
            return f"{module.__name__}:{attr}"
        if file is not None:
            return f"{Path(file).resolve()}:{attr}"
    if agent.name in _AGENTS:  # a changed copy of a built-in: its name would rebuild the original
        return f"{agent.name} (a changed copy, not importable)"
    return agent.name


__all__ = ["Agent", "Clock", "Transition", "agent_names", "agent_ref", "get_agent"]
