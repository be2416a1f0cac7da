"""rljax: reinforcement learning as pure functions, compiled end to end with jit / vmap / scan."""

from rljax._version import __version__
from rljax.envs import make, registered_ids
__all__ = ["make", "registered_ids", "__version__"]
