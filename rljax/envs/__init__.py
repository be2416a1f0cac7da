"""Pure-JAX environments on gymnax's ``Environment`` base class, and the registry.

Names are imported on first use, so :mod:`rljax.envs.catalog` (every id, no JAX) stays
cheap to import for ``rljax list`` and ``rljax --help``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rljax.envs.registry import SOLVED_AT, make, register, registered_ids, solved_at
    from rljax.envs.tabular import TabularEnv, TabularModel, model_from_dense
    from rljax.envs.wrappers import DiscretizedObservation, discretize, is_discrete_obs, num_observations

_LAZY = {
    "make": "rljax.envs.registry",
    "SOLVED_AT": "rljax.envs.registry",
    "solved_at": "rljax.envs.registry",
    "register": "rljax.envs.registry",
    "registered_ids": "rljax.envs.registry",
    "TabularEnv": "rljax.envs.tabular",
    "TabularModel": "rljax.envs.tabular",
    "model_from_dense": "rljax.envs.tabular",
    "DiscretizedObservation": "rljax.envs.wrappers",
    "discretize": "rljax.envs.wrappers",
    "is_discrete_obs": "rljax.envs.wrappers",
    "num_observations": "rljax.envs.wrappers",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'rljax.envs' has no attribute {name!r}")


__all__ = [
    "make",
    "SOLVED_AT",
    "solved_at",
    "register",
    "registered_ids",
    "TabularEnv",
    "TabularModel",
    "model_from_dense",
    "DiscretizedObservation",
    "discretize",
    "is_discrete_obs",
    "num_observations",
]
