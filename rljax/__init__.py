"""rljax: reinforcement learning as pure functions, compiled end to end with jit / vmap / scan.

The Python API does what the command line does::

    rljax.make(env_id, **options)                 # an environment and its parameters
    rljax.build(agent, env_id, overrides)         # a validated Plan; rljax.train(plan, seeds) runs it
    rljax.train(agent, env_id, seeds, overrides)  # rljax train: every seed in one program
    rljax.sweep(agent, env_id, grid, seeds)       # rljax sweep: traced grids in one program
    rljax.report(folders, out=..., plot=...)      # rljax report: IQM, bootstrap CIs, curves
    rljax.load_policy(run_dir, seed)              # a trained policy, NumPy in, NumPy out

Everything is imported on first use, so ``import rljax`` (and ``rljax --help``) stays cheap.
"""

from rljax import _deferred_imports
from rljax._version import __version__
from rljax.training import devices as host_devices

_deferred_imports.install()  # gymnax's import-time seaborn: ~5 s per process (see the module)
host_devices.configure()  # 2 CPU devices, before JAX starts (see the module)

_LAZY = {
    "make": "rljax.envs:make",
    "registered_ids": "rljax.envs:registered_ids",
    "train": "rljax.experiment:train",
    "sweep": "rljax.sweeps:sweep",
    "build": "rljax.training.plan:build",
    "report": "rljax.analysis.report_tables:report",
    "load_policy": "rljax.policies.trained:load_policy",
    "get_agent": "rljax.agents:get_agent",
    "agent_names": "rljax.agents:agent_names",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name].split(":")
        value = getattr(importlib.import_module(module), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'rljax' has no attribute {name!r}")


__all__ = ["__version__", *_LAZY]
