"""An environment's parameters as options: the scalar fields of its ``EnvParams`` (CartPole's
``gravity``, Acrobot's ``link_mass_1``, every environment's ``max_steps_in_episode``, ...).

:func:`rljax.make` accepts them for every environment whose factory does not take an option
of the same name itself (its own options win: Taxi's ``max_steps_in_episode`` is its
factory's). Each value is checked here, before anything is traced: its kind (a string for a
float, a float for an integer, a bool for a number are refused), finite, and in range where
that is cheap to know (``max_steps_in_episode >= 1``; masses, lengths and time steps > 0).

A compiled run takes the fields a user set as per-run inputs (traced) rather than constants,
so runs with different values of them share one program (:mod:`rljax.training.plan`):
:func:`untraceable_fields` finds the ones the environment reads as Python values, and
:func:`spaces_signature` tells whether a value changes what an agent is built for.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from typing import Any

import numpy as np

from rljax._errors import ValidationError

# The loop and gymnax count an episode's steps in int32.
MAX_EPISODE_STEPS = 2**31 - 1

# Fields where zero or a negative value is meaningless physics (a mass, a length, a time
# step), in whichever environment has them.
POSITIVE_FIELDS = frozenset(
    {
        "masscart",
        "masspole",
        "total_mass",
        "length",
        "polemass_length",
        "tau",
        "dt",
        "link_length_1",
        "link_length_2",
        "link_mass_1",
        "link_mass_2",
        "link_moi",
        "m",
        "l",
    }
)

# Fields gymnax derives from others but does not recompute when those change (CartPole's
# ``total_mass = masscart + masspole`` and ``polemass_length = masspole * length``, which its
# dynamics read instead of the masses): recomputed here unless given too, so that
# ``masspole=0.5`` moves the pole's mass everywhere the equations use it.
DERIVED_FIELDS: dict[str, tuple[tuple[str, ...], Any]] = {
    "total_mass": (("masscart", "masspole"), lambda masscart, masspole: masscart + masspole),
    "polemass_length": (("masspole", "length"), lambda masspole, length: masspole * length),
}


def param_fields(params: Any) -> dict[str, Any]:
    """The option-able fields of ``params``: its bool, int and float fields, with their values.

    Array fields (a bandit's probabilities, Acrobot's torque table) are not options.
    """
    if not dataclasses.is_dataclass(params) or isinstance(params, type):
        return {}
    values = {f.name: getattr(params, f.name) for f in dataclasses.fields(params)}
    return {k: v for k, v in values.items() if isinstance(v, (bool, int, float, np.bool_, np.integer, np.floating))}


def check_option_type(env_id: str, name: str, value: Any, default: Any) -> None:
    """A one-line error for an option whose value is not of its default's kind (bool, int, float, str).

    Why: a value the command line could not parse arrives as a string, and ``"maybe"`` for a
    bool option would otherwise count as True; a string for a size fails deep inside the factory.
    """
    if isinstance(default, (bool, np.bool_)):
        ok, kind = isinstance(value, (bool, np.bool_)), "True or False"
    elif isinstance(default, (int, np.integer)):
        ok, kind = isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_)), "an integer"
    elif isinstance(default, (float, np.floating)):
        ok = isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_)) and math.isfinite(value)
        kind = "a finite number"
    elif isinstance(default, str):
        ok, kind = isinstance(value, str), "a string"
    else:
        return  # no default to go by (None, a table, ...): the factory checks it
    if not ok:
        raise ValidationError(f"{env_id} option {name}={value!r} must be {kind}")


def check_param_option(env_id: str, name: str, value: Any, default: Any) -> None:
    """A one-line error for a value of ``EnvParams`` field ``name`` that is mistyped, non-finite or meaningless."""
    check_option_type(env_id, name, value, default)
    if name == "max_steps_in_episode" and not 1 <= value <= MAX_EPISODE_STEPS:
        raise ValidationError(
            f"{env_id} option max_steps_in_episode={value!r} must be an integer in [1, {MAX_EPISODE_STEPS:,}] "
            "(the episode's time limit, counted in int32)"
        )
    if name in POSITIVE_FIELDS and not value > 0:
        raise ValidationError(f"{env_id} option {name}={value!r} must be > 0")


def with_param_options(env_id: str, params: Any, options: dict[str, Any]) -> Any:
    """``params`` with ``options`` (fields of it, already known to be) set, each checked, and
    the fields derived from them recomputed (:data:`DERIVED_FIELDS`) unless given too."""
    fields = param_fields(params)
    for name, value in options.items():
        check_param_option(env_id, name, value, fields[name])
    values = {name: _as_kind(value, fields[name]) for name, value in options.items()}
    values.update(derived_values(params, values))
    return params.replace(**values) if values else params


def derived_values(params: Any, values: dict[str, Any]) -> dict[str, Any]:
    """The derived fields of ``params`` that ``values`` change (and does not set itself)."""
    fields = param_fields(params)
    out = {}
    for name, (sources, formula) in DERIVED_FIELDS.items():
        if name in fields and name not in values and all(s in fields for s in sources):
            if any(s in values for s in sources):
                out[name] = float(formula(*(values.get(s, fields[s]) for s in sources)))
    return out


def set_fields(params: Any, options: dict[str, Any]) -> list[str]:
    """The fields that setting ``options`` on ``params`` sets: the options themselves and what derives from them."""
    names = [n for n in options if n in param_fields(params)]
    return sorted(set(names) | set(derived_values(params, {n: options[n] for n in names})))


def _as_kind(value: Any, default: Any) -> Any:
    """``value`` as its field's Python kind (an integer given for a float field becomes a float)."""
    if isinstance(default, (bool, np.bool_)):
        return bool(value)
    if isinstance(default, (int, np.integer)):
        return int(value)
    return float(value)


def untraceable_fields(env: Any, params: Any, names: list[str]) -> list[str]:
    """The fields among ``names`` that ``env``'s ``reset`` or ``step`` reads as Python values
    (to size an array, in an ``if``): they must stay constants of the compiled program.

    Found by tracing one reset and one step abstractly (``jax.eval_shape``: nothing runs),
    through ``reset_env`` / ``step_env``: gymnax's ``reset`` and ``step`` are jitted, which
    traces every field, so an environment whose dynamics read one as a Python value fails
    with any value; this names which.
    """
    import jax
    import jax.numpy as jnp

    def traces(subset: list[str]) -> bool:
        def reset_and_step(values):
            run_params = params.replace(**values)
            key = jax.random.PRNGKey(0)
            _, state = env.reset_env(key, run_params)
            action = env.action_space(params).sample(key)
            _, state, reward, terminated, _ = env.step_env(key, state, action, run_params)
            return state, reward, terminated, env.is_truncated(state, run_params)

        try:
            jax.eval_shape(reset_and_step, {n: jnp.asarray(getattr(params, n)) for n in subset})
        except Exception:  # a concretization or tracer-conversion error, or anything else: keep it constant
            return False
        return True

    if not names or traces(list(names)):
        return []
    return [n for n in names if not traces([n])]


def spaces_signature(env: Any, params: Any) -> str:
    """What an agent is built from that ``params`` can change: the observation and action
    spaces (kind, size, shape, dtype and bounds). Two parameter values with the same
    signature give agents of the same shapes and the same action scaling."""
    return repr([_space_key(env.observation_space(params)), _space_key(env.action_space(params))])


def _space_key(space: Any) -> list[Any]:
    key: list[Any] = [type(space).__name__]
    for attr in ("n", "shape", "dtype", "low", "high"):
        value = getattr(space, attr, None)
        key.append(None if value is None else np.asarray(value).tolist() if attr in ("low", "high") else str(value))
    return key


def parse_option(value: Any) -> Any:
    """A grid's or ``--set env.NAME``'s value: a Python literal if a string parses as one
    (``"12"`` -> 12, ``"9.8"`` -> 9.8, ``"True"`` -> True), else the value as given."""
    if not isinstance(value, str):
        return value
    import ast

    try:
        return ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return value
