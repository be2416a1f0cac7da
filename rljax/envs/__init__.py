"""Pure-JAX environments on gymnax's ``Environment`` base class, and the registry."""

from rljax.envs.registry import make, register, registered_ids
from rljax.envs.tabular import TabularEnv, TabularModel, model_from_dense

__all__ = ["make", "register", "registered_ids", "TabularEnv", "TabularModel", "model_from_dense"]
