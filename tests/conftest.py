"""Test-session settings."""

import os

import pytest

# Tests run without JAX's persistent compile cache (rljax turns it on by default), so that
# no test reads a program another one compiled, and nothing is written to ~/.cache.
# tests/runs/test_compile_cache.py turns it on, in temporary folders, to test it.
os.environ.setdefault("RLJAX_COMPILE_CACHE", "off")

# The tests' process trains on 2 CPU devices, as the rljax command does (importing rljax
# changes nothing by itself); before anything uses JAX. tests/api/test_imports.py checks
# what happens without it.
import rljax  # noqa: E402

rljax.use_cpu_devices()


@pytest.fixture
def test_compile_cache(tmp_path, monkeypatch):
    """A compile cache of the test's own, inherited by the processes it starts.

    For tests that run the same program in several processes (a run, its resume, the
    uninterrupted run to compare with): the first compiles it, the others load it, as
    they would for a user (the cache is on by default). No other test sees the folder.
    """
    folder = tmp_path / "jax-cache"
    monkeypatch.setenv("RLJAX_COMPILE_CACHE", str(folder))
    return folder
