"""How many devices JAX's CPU backend has: 2 for the command line, and in Python when asked.

Why: XLA's CPU backend runs one program's small batched matrix products (a DQN
update of 16 seeds x batch 128 through a 128x64 network) on about one core; 1.3 of
2 cores were busy. As two CPU devices, the runner's groups of lanes are split over
them (:class:`rljax.training.batch.BatchRunner`) and run side by side: measured on
the 2-core CPU, the default DQN's gradient steps alone 2.2-2.5x faster, its 16-seed
training 28.5 -> 12.2 s.

Why 2 and not the core count: the numbers are bitwise the same on any count of 2 or
more devices, but one device compiles its program without partitioning, with other
fusions, so neural agents agree with it to float rounding only. 2 exists on every
machine, so the same command gives the same numbers everywhere; ``manifest.json``
records the count.

The command line sets it as soon as JAX is imported (:func:`configure`, from
``rljax.cli.main``; ``RLJAX_CPU_DEVICES`` changes it). In Python nothing changes
unless asked: ``rljax.use_cpu_devices()`` before anything uses JAX. A count the user
gave JAX already (``JAX_NUM_CPU_DEVICES``, ``jax_num_cpu_devices``, XLA's
``--xla_force_host_platform_device_count``) is left as it is. GPU and TPU backends
are not affected.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import os
import re
import sys

from rljax._errors import ValidationError

DEFAULT_CPU_DEVICES = 2
ENV_VAR = "RLJAX_CPU_DEVICES"


def requested() -> int | None:
    """``RLJAX_CPU_DEVICES`` (default 2) as a count, or None if it is not a whole number >= 1."""
    value = os.environ.get(ENV_VAR, str(DEFAULT_CPU_DEVICES)).strip()
    return int(value) if value.isdigit() and int(value) >= 1 else None


def check() -> None:
    """``ValueError`` (one line) for a ``RLJAX_CPU_DEVICES`` that is not a whole number >= 1."""
    if requested() is None:
        raise ValidationError(f"{ENV_VAR} must be a whole number >= 1; got {os.environ.get(ENV_VAR)!r}")


def use_cpu_devices(count: int | None = None) -> int:
    """Gives JAX's CPU backend ``count`` devices (default ``RLJAX_CPU_DEVICES``, else 2), as ``rljax`` commands have.

    Call it before anything uses JAX (its backends start on the first array). A count
    already given to JAX (``JAX_NUM_CPU_DEVICES``, ``jax_num_cpu_devices``,
    ``--xla_force_host_platform_device_count``) is kept. Returns the count JAX's CPU
    backend will have.

    Raises:
      ValidationError: ``count`` is not a whole number >= 1, or JAX's CPU backend has
        started already with another count (then restart the interpreter and call this
        first).
    """
    import jax
    from jax._src import xla_bridge

    check()
    want = requested() if count is None else count
    if isinstance(want, bool) or not isinstance(want, int) or want < 1:
        raise ValidationError(f"use_cpu_devices needs a whole number of devices >= 1; got {count!r}")
    if not xla_bridge.backends_are_initialized():
        _apply(want)
        flag = re.search(r"xla_force_host_platform_device_count=(\d+)", os.environ.get("XLA_FLAGS", ""))
        if flag:
            return int(flag.group(1))
        return want if jax.config.jax_num_cpu_devices == -1 else jax.config.jax_num_cpu_devices
    have = len(jax.devices("cpu"))
    if have != want:
        raise ValidationError(
            f"JAX's CPU backend has started already with {have} device(s), not {want}: call "
            "rljax.use_cpu_devices() before anything uses JAX (restart the interpreter first)"
        )
    return have


def configure() -> None:
    """Gives JAX's CPU backend :func:`requested` devices, unless a count is set already or too late.

    If JAX is not imported yet, this happens right after it is (an import hook), so that
    ``import rljax`` stays cheap and no environment variable leaks into child processes.
    """
    if "jax" in sys.modules:
        _apply()
    elif not any(isinstance(f, _AfterJaxImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _AfterJaxImport())


def _apply(count: int | None = None) -> None:
    count = requested() if count is None else count
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
