"""rljax: reinforcement learning as pure functions, compiled end to end with jit / vmap / scan."""

from rljax.envs import make, registered_ids

__version__ = "0.1.0"
__all__ = ["make", "registered_ids", "__version__"]
