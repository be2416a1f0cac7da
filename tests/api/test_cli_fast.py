"""``import rljax`` and ``rljax --help`` import no JAX, SciPy or Matplotlib (they take seconds to load)."""

import subprocess
import sys

import pytest

HEAVY = ("jax", "gymnax", "scipy", "matplotlib", "flax", "optax", "numpy")
CHECK = """
import sys

import pytest
{code}
print("heavy:" + ",".join(m for m in {heavy!r} if m in sys.modules))
"""


def heavy_modules_after(code: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-c", CHECK.format(code=code, heavy=HEAVY)], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip().splitlines()[-1].removeprefix("heavy:")


def test_import_rljax_is_cheap():
    assert heavy_modules_after("import rljax") == ""


def test_building_the_command_line_is_cheap():
    assert heavy_modules_after("import rljax.cli; rljax.cli.build_parser().format_help()") == ""


def test_the_lazy_api_still_resolves():
    assert heavy_modules_after("import rljax; assert callable(rljax.make) and callable(rljax.train)") != ""


def test_rljax_list_is_cheap_and_lists_what_the_registries_accept():
    code = "import rljax.cli; rljax.cli.main(['list'])"
    assert heavy_modules_after(code) == ""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    agents, envs = (line.split(": ", 1)[1].split(", ") for line in proc.stdout.splitlines())
    import gymnax

    import rljax
    from rljax.envs.catalog import GYMNAX_ENV_IDS

    assert list(GYMNAX_ENV_IDS) == list(gymnax.registered_envs)  # the copy matches the locked gymnax
    assert envs == rljax.registered_ids() and agents == rljax.agent_names()


@pytest.mark.parametrize(
    "argv, message",
    [
        (["train", "dqn", "--env", "CartPole-v1", "--out", "{exists}"], "already exists; pass --overwrite"),
        (["sweep", "dqn", "--env", "CartPole-v1", "--grid", "lr=1,2", "--out", "{exists}"], "already exists"),
        (["train", "dqn", "--env", "NoSuch-v0", "--out", "{new}"], "unknown environment id 'NoSuch-v0'; known ids:"),
        (["train", "nosuch", "--env", "CartPole-v1", "--out", "{new}"], "unknown agent 'nosuch'; known agents:"),
        (["train", "dqn", "--env", "CartPole-v1", "--seeds", "0", "--out", "{new}"], "--seeds must be >= 1"),
    ],
)
def test_argument_errors_import_nothing_heavy_and_write_nothing(tmp_path, argv, message):
    (tmp_path / "exists").mkdir()
    argv = [a.format(exists=tmp_path / "exists", new=tmp_path / "new") for a in argv]
    code = f"import rljax.cli, sys; rc = rljax.cli.main({argv!r}); assert rc == 2, rc"
    proc = subprocess.run(
        [sys.executable, "-c", CHECK.format(code=code, heavy=HEAVY)], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert message in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert proc.stdout.strip() == "heavy:"  # no JAX, gymnax, SciPy, Matplotlib, Flax, NumPy
    assert not (tmp_path / "new").exists() and list((tmp_path / "exists").iterdir()) == []


def test_gymnax_s_plotting_imports_wait_until_used():
    # gymnax imports seaborn (pandas, scipy.stats) and pyplot at import time; rljax's import of it defers them.
    heavy = ("seaborn.palettes", "pandas", "matplotlib.figure")
    code = (
        "import sys, rljax; rljax.make('CartPole-v1'); import gymnax; "
        f"print('loaded:' + ','.join(m for m in {heavy!r} if m in sys.modules)); "
        "import seaborn, matplotlib; matplotlib.use('Agg'); import matplotlib.pyplot as plt; "
        "print(len(seaborn.color_palette('cubehelix', 3)), type(plt.figure()).__name__, "
        "sys.modules['seaborn'].__file__ == seaborn.__file__)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    loaded, used = proc.stdout.strip().splitlines()[-2:]
    assert loaded == "loaded:"  # none of them until something asks
    assert used == "3 Figure True"  # then the real modules, transparently
