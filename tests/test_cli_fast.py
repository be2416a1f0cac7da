"""``import rljax`` and ``rljax --help`` import no JAX, SciPy or Matplotlib (they take seconds to load)."""

import subprocess
import sys

HEAVY = ("jax", "gymnax", "scipy", "matplotlib", "flax", "optax", "numpy")
CHECK = """
import sys
{code}
print(",".join(m for m in {heavy!r} if m in sys.modules))
"""


def heavy_modules_after(code: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-c", CHECK.format(code=code, heavy=HEAVY)], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def test_import_rljax_is_cheap():
    assert heavy_modules_after("import rljax") == ""


def test_building_the_command_line_is_cheap():
    assert heavy_modules_after("import rljax.cli; rljax.cli.build_parser().format_help()") == ""


def test_the_lazy_api_still_resolves():
    assert heavy_modules_after("import rljax; assert callable(rljax.make) and callable(rljax.train)") != ""
