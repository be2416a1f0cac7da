"""Defaults shared by the library and the command line, in a module that imports nothing.

The CLI reads them to build its ``--help`` without importing JAX, SciPy or Matplotlib.
"""

DEFAULT_RESAMPLES = 10_000  # bootstrap resamples for report tables
PLOT_RESAMPLES = 2_000  # at most this many for the per-step bands of report plots
MAX_FPS = 50  # GIF frame rate limit (GIF timing is in hundredths of a second)
