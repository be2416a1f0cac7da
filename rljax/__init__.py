"""rljax: reinforcement learning as pure functions, compiled end to end with jit / vmap / scan.

The Python API does what the command line does::

    rljax.make(env_id, **options)                 # an environment and its parameters
    rljax.build(agent, env_id, overrides)         # a validated Plan; rljax.train(plan, seeds) runs it
    rljax.train(agent, env_id, seeds, overrides)  # rljax train: every seed in one program
    rljax.sweep(agent, env_id, grid, seeds)       # rljax sweep: traced grids in one program
    rljax.report(folders, out=..., plot=...)      # rljax report: IQM, bootstrap CIs, curves
    rljax.load_policy(run_dir, seed)              # a trained policy, NumPy in, NumPy out
    rljax.use_cpu_devices()                       # first thing on a CPU: 2 devices, as the command line has

Everything is imported on first use, so ``import rljax`` (and ``rljax --help``) stays
cheap, and importing it changes nothing else in the process: no JAX setting, no import
hook, no module in ``sys.modules`` but rljax's own.
"""

from rljax._version import __version__

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
    "ValidationError": "rljax._errors:ValidationError",
    "use_cpu_devices": "rljax.training.devices:use_cpu_devices",
    "RunStuck": "rljax.training.watchdog:RunStuck",
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
