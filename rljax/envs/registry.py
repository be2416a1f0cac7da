"""``rljax.make``: one registry for rljax's own environments and every gymnax id."""

from __future__ import annotations

import importlib
from typing import Any, Callable

from rljax._errors import ValidationError
from rljax.envs._gymnax import environment, gymnax
from rljax.envs.catalog import ENVS, env_ids, unknown_env_message
from rljax.envs.params import check_option_type, param_fields, with_param_options

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
    # Gymnasium's InvertedPendulum threshold (the same 1000-step limit, 1 per step upright).
    "brax/inverted_pendulum": 950.0,
}


def solved_at(env_id: str, env_kwargs: dict[str, Any] | None = None) -> float | None:
    """The return at which ``env_id`` counts as solved, or None if it has no threshold.

    A threshold belongs to the environment's registered time limit (CartPole-v1's 475 of a
    500-step cap): with ``max_steps_in_episode`` among ``env_kwargs`` there is none.
    """
    if env_kwargs and "max_steps_in_episode" in env_kwargs:
        return None
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


def factory_options(factory: Callable[..., Any]) -> tuple[list[str], bool]:
    """The named keyword options of ``factory`` (a function or an environment class), and whether
    it also takes any other (``**kwargs``)."""
    import inspect

    parameters = inspect.signature(factory).parameters
    named = [
        n
        for n, p in parameters.items()
        if n != "self" and p.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    ]
    return named, any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())


def _split_options(
    env_id: str, factory: Callable[..., Any], kwargs: dict[str, Any], takes_any: bool
) -> tuple[dict[str, Any], dict[str, Any]]:
    """``kwargs`` -> (the factory's own options, type-checked; the rest, for ``EnvParams`` fields)."""
    import inspect

    named, var_keyword = factory_options(factory)
    if takes_any and var_keyword:
        return dict(kwargs), {}  # takes anything: it checks for itself
    defaults = inspect.signature(factory).parameters
    own = {k: v for k, v in kwargs.items() if k in named}
    for name, value in own.items():
        check_option_type(env_id, name, value, defaults[name].default)
    return own, {k: v for k, v in kwargs.items() if k not in named}


def _with_param_options(env_id: str, own: list[str], params: Any, options: dict[str, Any]) -> Any:
    """``params`` with ``options`` set: each must be one of its scalar ``EnvParams`` fields
    (:mod:`rljax.envs.params`), else a one-line error listing every option ``env_id`` takes."""
    fields = param_fields(params)
    unknown = sorted(set(options) - set(fields))
    if unknown:
        allowed = own + [f for f in fields if f not in own]
        listed = ", ".join(allowed + ["discretize"]) if allowed else "only discretize"
        raise ValidationError(f"unknown option(s) {', '.join(map(repr, unknown))} for {env_id}; its options: {listed}")
    return with_param_options(env_id, params, options)


def make(env_id: str, **kwargs: Any) -> tuple[environment.Environment, Any]:
    """Makes an environment and its default parameters.

    Args:
      env_id: an rljax id (``Taxi-v3``, ``FrozenLake-v1``, ``CartPole-v0``, ``Chain``,
        ``GridMaze``, ``TabularMDP``, ``BernoulliBandit``, ``Probe-*``; ``CartPoleNoVel-v1``,
        CartPole-v1 observed as ``[x, theta]`` without its velocities: a task that needs
        memory) or any gymnax id (``CartPole-v1``, ``Breakout-MinAtar``, ...).
      **kwargs: options of that environment (``map_name="8x8"``, ``is_slippery=False``,
        ``length=9``, ...), and the scalar fields of its ``EnvParams`` (``gravity=12.0``,
        ``max_steps_in_episode=200``, ...; see :mod:`rljax.envs.params`), each checked here:
        a one-line ``ValueError`` names an unknown option (listing those it has) or a
        mistyped, non-finite or meaningless value. ``discretize=...`` wraps a continuous-observation
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
        own, rest = _split_options(env_id, factory, kwargs, takes_any=True)
        env, params = factory(**own)
        params = _with_param_options(env_id, factory_options(factory)[0], params, rest)
    elif env_id in gymnax.registered_envs:
        env, params = gymnax.make(env_id)
        if kwargs:  # gymnax passes its own to the environment's constructor
            # (named ones only: a gymnax constructor's **kwargs go to the base class, which takes none)
            own, rest = _split_options(env_id, type(env).__init__, kwargs, takes_any=False)
            if own:
                env, params = gymnax.make(env_id, **own)
            params = _with_param_options(env_id, factory_options(type(env).__init__)[0], params, rest)
    else:
        raise ValidationError(unknown_env_message(env_id, registered_ids()))
    if discretize is not None:
        from rljax.envs.wrappers import discretize as _discretize

        env, params = _discretize(env, params, discretize)
    return env, params
