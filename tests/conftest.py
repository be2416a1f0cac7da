"""Test-session settings."""

import os

# Tests run without JAX's persistent compile cache (rljax turns it on by default), so that
# no test reads a program another one compiled, and nothing is written to ~/.cache.
# tests/test_compile_cache.py turns it on, in temporary folders, to test it.
os.environ.setdefault("RLJAX_COMPILE_CACHE", "off")
