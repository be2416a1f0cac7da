"""``rljax.make``: one registry for rljax's own environments and every gymnax id."""

from __future__ import annotations

import importlib
from typing import Any, Callable

from rljax._errors import ValidationError
from rljax.envs._gymnax import environment, gymnax
from rljax.envs.catalog import ENVS, env_ids, unknown_env_message

# id -> "module:factory" (rljax.envs.catalog, which the CLI reads without importing JAX);
# register() adds to it. Imported lazily so `import rljax` stays cheap.
_RLJAX_ENVS: dict[str, str] = dict(ENVS)


# Mean return over 100 evaluation episodes at which an environment counts as solved
# (Gymnasium's reward thresholds; Taxi's optimal policy averages about +8, FrozenLake
# 4x4 slippery's about 0.74). Reports, plots and time-to-threshold read it.
SOLVED_AT: dict[str, float] = {
    "CartPole-v1": 475.0,
    "CartPole-v0": 195.0,
    "CartPoleNoVel-v1": 475.0,
    "Taxi-v3": 7.0,
    "FrozenLake-v1": 0.7,
    "MountainCarContinuous-v0": 90.0,
}


def solved_at(env_id: str) -> float | None:
    """The return at which ``env_id`` counts as solved, or None if it has no threshold."""
    return SOLVED_AT.get(env_id)


def registered_ids() -> list[str]:
    """Every id that :func:`make` accepts: rljax's own, then gymnax's."""
    return env_ids(_RLJAX_ENVS, gymnax.registered_envs)


def register(env_id: str, factory: str | Callable[..., tuple[Any, Any]]) -> None:
    """Registers a factory ``(**kwargs) -> (env, env_params)`` under ``env_id``."""
    if isinstance(factory, str):
        _RLJAX_ENVS[env_id] = factory
    else:
        _CALLABLES[env_id] = factory
        _RLJAX_ENVS[env_id] = "<callable>"


_CALLABLES: dict[str, Callable[..., tuple[Any, Any]]] = {}


def is_builtin(env_id: str) -> bool:
    """True for rljax's own ids and gymnax's, as shipped (not added or replaced by :func:`register`)."""
    if env_id in _CALLABLES:
        return False
    if env_id in _RLJAX_ENVS:
        return _RLJAX_ENVS[env_id] == ENVS.get(env_id)
    return env_id in gymnax.registered_envs


def check_options(env_id: str, factory: Callable[..., Any], kwargs: dict[str, Any]) -> None:
    """A one-line error for options ``factory`` does not take, listing those it does."""
    import inspect

    parameters = inspect.signature(factory).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return  # takes anything: it checks for itself
    allowed = [n for n, p in parameters.items() if n != "self" and p.kind is not inspect.Parameter.VAR_POSITIONAL]
    unknown = sorted(set(kwargs) - set(allowed))
    if unknown:
        options = ", ".join(allowed + ["discretize"]) if allowed else "only discretize"
        raise ValidationError(f"unknown option(s) {', '.join(map(repr, unknown))} for {env_id}; its options: {options}")
    for name, value in kwargs.items():
        check_option_type(env_id, name, value, parameters[name].default)


def check_option_type(env_id: str, name: str, value: Any, default: Any) -> None:
    """A one-line error for an option whose value is not of its default's kind (bool, int, float, str).

    Why: a value the command line could not parse arrives as a string, and ``"maybe"`` for a
    bool option would otherwise count as True; a string for a size fails deep inside the factory.
    """
    import math
    import numbers

    import numpy as np

    if isinstance(default, bool):
        ok, kind = isinstance(value, (bool, np.bool_)), "True or False"
    elif isinstance(default, int):
        ok, kind = isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_)), "an integer"
    elif isinstance(default, float):
        ok = isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_)) and math.isfinite(value)
        kind = "a finite number"
    elif isinstance(default, str):
        ok, kind = isinstance(value, str), "a string"
    else:
        return  # no default to go by (None, a table, ...): the factory checks it
    if not ok:
        raise ValidationError(f"{env_id} option {name}={value!r} must be {kind}")


def make(env_id: str, **kwargs: Any) -> tuple[environment.Environment, Any]:
    """Makes an environment and its default parameters.

    Args:
      env_id: an rljax id (``Taxi-v3``, ``FrozenLake-v1``, ``CartPole-v0``, ``Chain``,
        ``GridMaze``, ``TabularMDP``, ``BernoulliBandit``, ``Probe-*``; ``CartPoleNoVel-v1``,
        CartPole-v1 observed as ``[x, theta]`` without its velocities: a task that needs
        memory) or any gymnax id (``CartPole-v1``, ``Breakout-MinAtar``, ...).
      **kwargs: options of that environment (``map_name="8x8"``, ``is_slippery=False``,
        ``length=9``, ...). ``discretize=...`` wraps a continuous-observation
        environment in :class:`rljax.envs.DiscretizedObservation` (see
        :func:`rljax.envs.wrappers.discretize`).

    Returns:
      ``(env, env_params)``, a gymnax ``Environment`` and its ``EnvParams``.
    """
    discretize = kwargs.pop("discretize", None)
    if env_id in _CALLABLES:
        env, params = _CALLABLES[env_id](**kwargs)
    elif env_id in _RLJAX_ENVS:
        module_name, factory_name = _RLJAX_ENVS[env_id].split(":")
        factory = getattr(importlib.import_module(module_name), factory_name)
        check_options(env_id, factory, kwargs)
        env, params = factory(**kwargs)
    elif env_id in gymnax.registered_envs:
        if kwargs:  # gymnax passes them to the environment's constructor
            check_options(env_id, type(gymnax.make(env_id)[0]).__init__, kwargs)
        env, params = gymnax.make(env_id, **kwargs)
    else:
        raise ValidationError(unknown_env_message(env_id, registered_ids()))
    if discretize is not None:
        from rljax.envs.wrappers import discretize as _discretize

        env, params = _discretize(env, params, discretize)
    return env, params
