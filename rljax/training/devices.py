"""How many devices JAX's CPU backend has: 2 unless told otherwise (``RLJAX_CPU_DEVICES``).

Why: XLA's CPU backend runs one program's small batched matrix products (a DQN
update of 16 seeds x batch 128 through a 128x64 network) on about one core; 1.3 of
2 cores were busy. As two CPU devices, the runner's lanes are split over them
(:class:`rljax.training.batch.BatchRunner` shards lanes over every local device) and run
side by side: measured on the 2-core CPU, the default DQN's gradient steps alone
2.2-2.5x faster, its 16-seed training 28.5 -> 12.2 s.

Why 2 and not the core count: the device count is part of the numbers. XLA fuses a
program split over more devices differently, so neural agents agree across device
counts to float rounding only (tabular ones bitwise), and the same command should
give the same numbers on any machine. ``manifest.json`` records the count.

Set before JAX starts its backends (they start on the first array, and ``import
gymnax`` makes arrays): ``rljax/__init__.py`` calls :func:`configure`, which sets it
as soon as JAX is imported. A count the
user gave JAX already (``JAX_NUM_CPU_DEVICES``, ``jax_num_cpu_devices``, XLA's
``--xla_force_host_platform_device_count``) is left as it is. GPU and TPU backends
are not affected.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import os
import sys

DEFAULT_CPU_DEVICES = 2
ENV_VAR = "RLJAX_CPU_DEVICES"


def requested() -> int | None:
    """``RLJAX_CPU_DEVICES`` (default 2) as a count, or None if it is not a whole number >= 1."""
    value = os.environ.get(ENV_VAR, str(DEFAULT_CPU_DEVICES)).strip()
    return int(value) if value.isdigit() and int(value) >= 1 else None


def check() -> None:
    """``ValueError`` (one line) for a ``RLJAX_CPU_DEVICES`` that is not a whole number >= 1."""
    if requested() is None:
        raise ValueError(f"{ENV_VAR} must be a whole number >= 1; got {os.environ.get(ENV_VAR)!r}")


def configure() -> None:
    """Gives JAX's CPU backend :func:`requested` devices, unless a count is set already or too late.

    If JAX is not imported yet, this happens right after it is (an import hook), so that
    ``import rljax`` stays cheap and no environment variable leaks into child processes.
    """
    if "jax" in sys.modules:
        _apply()
    elif not any(isinstance(f, _AfterJaxImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _AfterJaxImport())


def _apply() -> None:
    count = requested()
    if count is None or "xla_force_host_platform_device_count" in os.environ.get("XLA_FLAGS", ""):
        return
    import jax
    from jax._src import xla_bridge

    if jax.config.jax_num_cpu_devices == -1 and not xla_bridge.backends_are_initialized():
        jax.config.update("jax_num_cpu_devices", count)


class _AfterJaxImport(importlib.abc.MetaPathFinder):
    """Finds ``jax`` like the other finders do, and calls :func:`_apply` once it has loaded."""

    def find_spec(self, name, path=None, target=None):
        if name != "jax":
            return None
        sys.meta_path.remove(self)  # once; and so that the search below skips this finder
        spec = importlib.util.find_spec("jax")
        if spec is None or spec.loader is None:
            return spec
        exec_module = spec.loader.exec_module

        def exec_then_apply(module):
            exec_module(module)
            _apply()

        spec.loader.exec_module = exec_then_apply
        return spec
