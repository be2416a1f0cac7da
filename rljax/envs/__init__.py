"""Pure-JAX environments on gymnax's ``Environment`` base class, and the registry."""

from rljax.envs.registry import SOLVED_AT, make, register, registered_ids, solved_at
from rljax.envs.tabular import TabularEnv, TabularModel, model_from_dense
from rljax.envs.wrappers import DiscretizedObservation, discretize, is_discrete_obs, num_observations

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
