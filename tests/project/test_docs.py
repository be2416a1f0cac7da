"""The docs build with ``mkdocs build --strict``: a docstring mkdocstrings warns on fails CI.

The second test shows the check can fail: the same plugin options, on a module whose
docstring documents a parameter the function does not have, abort the strict build
(and build cleanly once the docstring is right).
"""

import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def mkdocs_build(config: Path, site: Path) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(config), "-d", str(site)]
    return subprocess.run(cmd, cwd=config.parent, capture_output=True, text=True, timeout=300)


def test_docs_build_strict(tmp_path):
    site = tmp_path / "site"
    proc = mkdocs_build(ROOT / "mkdocs.yml", site)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    assert "WARNING" not in proc.stderr, proc.stderr
    # An API page carries its docstring; the guide's pages are built from docs/guide/.
    assert "An algorithm, as the loop sees it." in (site / "api/agents/base/index.html").read_text()
    assert "make demo" in (site / "guide/getting-started/index.html").read_text()
    assert "steps_to_held_threshold" in (site / "guide/statistics/index.html").read_text()
    assert "Reinforcement learning as pure functions." in (site / "index.html").read_text()
    # The docstrings' Sphinx roles are links now, not ":class:" text.
    base = (site / "api/agents/base/index.html").read_text()
    assert ":class:" not in base and 'href="../../training/loop/#rljax.training.loop"' in base


def test_top_level_page_lists_every_lazy_name():
    import rljax

    page = (ROOT / "docs/api/rljax.md").read_text()
    missing = [name for name in rljax._LAZY if f"| `rljax.{name}` |" not in page]
    assert not missing, f"docs/api/rljax.md does not list {missing}"


GOOD = '''"""A module for the docs test."""


def scale(x: float, factor: float = 2.0) -> float:
    """Multiplies.

    Args:
      x: the value.
      {second}: the multiplier.
    """
    return x * factor
'''


def test_strict_build_fails_on_a_broken_docstring(tmp_path):
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    config.pop("hooks", None)
    config.pop("exclude_docs", None)
    config["nav"] = ["index.md"]
    (mkdocstrings,) = [p["mkdocstrings"] for p in config["plugins"] if isinstance(p, dict) and "mkdocstrings" in p]
    python = mkdocstrings["handlers"]["python"]
    python["paths"] = [str(tmp_path / "src")]
    options = python["options"]
    options["extensions"] = [str(ROOT / ext) for ext in options.get("extensions", [])]
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs/index.md").write_text("# Docs test\n\n::: docs_probe\n")
    (tmp_path / "src").mkdir()
    config_file = tmp_path / "mkdocs.yml"
    config_file.write_text(yaml.safe_dump(config))

    module = tmp_path / "src/docs_probe.py"
    module.write_text(GOOD.format(second="fatcor"))  # a parameter scale() does not have
    proc = mkdocs_build(config_file, tmp_path / "site_bad")
    assert proc.returncode != 0, proc.stderr
    assert "does not appear in the function signature" in proc.stderr, proc.stderr

    module.write_text(GOOD.format(second="factor"))
    proc = mkdocs_build(config_file, tmp_path / "site_good")
    assert proc.returncode == 0, proc.stderr + proc.stdout
    assert "the multiplier" in (tmp_path / "site_good/index.html").read_text()
