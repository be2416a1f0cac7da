"""Pure-JAX environments on gymnax's ``Environment`` base class, and the registry."""

from rljax.envs.registry import make, register, registered_ids
from rljax.envs.tabular import TabularEnv, TabularModel, model_from_dense
from rljax.envs.wrappers import DiscretizedObservation, discretize, is_discrete_obs, num_observations

__all__ = [
    "make",
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
