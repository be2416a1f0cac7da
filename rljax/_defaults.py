"""Defaults shared by the library and the command line, in a module that imports nothing.

The CLI reads them to build its ``--help`` without importing JAX, SciPy or Matplotlib.
"""

DEFAULT_RESAMPLES = 10_000  # bootstrap resamples for report tables and the report plot's bands
DEFAULT_LANE_WIDTH = 8  # runs per vmapped lane (rljax.training.batch)
MAX_FPS = 50  # GIF frame rate limit (GIF timing is in hundredths of a second)
