"""Plotting modules that gymnax imports at import time, loaded on first use instead.

gymnax 1.0.1 imports ``seaborn`` (and with it pandas and scipy.stats) and
``matplotlib.pyplot`` at the top of environment and renderer modules that
``import gymnax`` loads whatever environment is used; they are only called to
render (upstream: RobertTLange/gymnax#69, where seaborn is not even a declared
dependency). That was 6-9 s of every process's start on the 2-core CPU, more than
the compile of most runs.

``importlib.util.LazyLoader`` does not help: an ``import`` statement reads the
module's ``__spec__``, and any attribute access makes a lazy module load. So each
deferred module is a stand-in in ``sys.modules`` whose first attribute lookup
imports the real module (and puts it in ``sys.modules``), then forwards to it.

Only while gymnax loads (:func:`deferred`, used by :mod:`rljax.envs._gymnax`, through
which every rljax module imports gymnax): afterwards the stand-ins leave
``sys.modules``, so importing rljax changes nothing a user's own ``import seaborn``
sees; gymnax's modules keep theirs, which import the real module if ever used.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import sys
import types
from typing import Iterator

DEFERRED = ("seaborn", "matplotlib.pyplot")


class _Deferred(types.ModuleType):
    """Stands in for a module until an attribute is asked for; then imports and forwards."""

    def __getattr__(self, attr: str):
        name = self.__name__
        module = sys.modules.get(name)
        if module is self or module is None:  # still the stand-in (or taken out of sys.modules)
            sys.modules.pop(name, None)
            module = importlib.import_module(name)
        return getattr(module, attr)


def defer(name: str) -> None:
    """Puts a stand-in for ``name`` in ``sys.modules`` (no-op if imported already or not installed)."""
    if name in sys.modules or importlib.util.find_spec(name.split(".")[0]) is None:
        return
    sys.modules[name] = _Deferred(name)


def install() -> None:
    """Defers every module in :data:`DEFERRED` (for good: a program that owns its process)."""
    for name in DEFERRED:
        defer(name)


@contextlib.contextmanager
def deferred(names: tuple[str, ...] = DEFERRED) -> Iterator[None]:
    """Defers ``names`` inside the block; on leaving it, takes out the stand-ins still in ``sys.modules``."""
    installed = [name for name in names if name not in sys.modules]
    for name in installed:
        defer(name)
    try:
        yield
    finally:
        for name in installed:
            if isinstance(sys.modules.get(name), _Deferred):
                del sys.modules[name]
