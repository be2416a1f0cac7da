"""gymnax, imported without the plotting modules it loads at import time.

gymnax 1.0.1 imports ``seaborn`` and ``matplotlib.pyplot`` at the top of modules that
``import gymnax`` loads, only to render (upstream: RobertTLange/gymnax#69): about 3 s
of every process's start on a 2-core CPU. Every rljax module imports gymnax through
this one, so stand-ins (:mod:`rljax._deferred_imports`) are in ``sys.modules`` only
while gymnax loads.
"""

from rljax._deferred_imports import deferred

with deferred():
    import gymnax
    from gymnax.environments import environment, spaces
    from gymnax.environments.classic_control import cartpole as classic_cartpole

__all__ = ["gymnax", "environment", "spaces", "classic_cartpole"]
