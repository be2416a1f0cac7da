"""The import layers run one way: nothing in rljax imports a module of a higher layer.

Read from the source with ``ast`` (imports inside functions count too: a late
import is still a dependency). The layers, bottom to top, are those of
``../shared/DESIGN.md``.
"""

import ast
from pathlib import Path

import pytest

RLJAX = Path(__file__).resolve().parents[1] / "rljax"

# Bottom to top. A module may import its own layer and the ones below it.
LAYERS: list[set[str]] = [
    {
        "rljax._version",
        "rljax._deferred_imports",
        "rljax.host_devices",
        "rljax.defaults",
        "rljax.catalog",
        "rljax.files",
        "rljax.compile_cache",
        "rljax.program_cache",
        "rljax.interrupts",
        "rljax.envs",
        "rljax.nets",
        "rljax.stats",
        "rljax.watchdog",
        "rljax.evaluate",
        "rljax.loggers",
    },
    {"rljax.agents", "rljax.planning", "rljax.bandits"},
    {"rljax.configs", "rljax.loop"},
    {"rljax.batch"},
    {"rljax.runs", "rljax.plots", "rljax.results", "rljax.experiment", "rljax.sweeps", "rljax.policies"},
    {
        "rljax.report_tables",
        "rljax.report_plots",
        "rljax.drawers",
        "rljax.render",
        "rljax.evaluate_run",
        "rljax.cli",
        "rljax",
    },
]


def layer_of(module: str) -> int:
    """The layer of a module: that of the longest listed name it equals or lies under."""
    best, best_len = None, -1
    for i, names in enumerate(LAYERS):
        for name in names:
            if (module == name or module.startswith(name + ".")) and len(name) > best_len:
                best, best_len = i, len(name)
    if best is None:
        raise KeyError(f"{module} is in no layer: add it to LAYERS")
    return best


def module_name(path: Path) -> str:
    parts = path.relative_to(RLJAX.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(source: str, module: str) -> set[str]:
    """Every rljax module that ``source`` imports (``from rljax import stats`` -> rljax.stats)."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "rljax"}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.split(".")[0] != "rljax":
                continue
            for a in node.names:
                sub = f"{node.module}.{a.name}"
                found.add(
                    sub
                    if (RLJAX.parent / sub.replace(".", "/")).with_suffix(".py").exists()
                    or (RLJAX.parent / sub.replace(".", "/")).is_dir()
                    else node.module
                )
    return found


def backward_imports(files: dict[str, str]) -> list[str]:
    """``"a imports b"`` for every import that runs up the layers."""
    faults = []
    for module, source in files.items():
        for target in sorted(imported_modules(source, module)):
            if layer_of(target) > layer_of(module):
                faults.append(f"{module} (layer {layer_of(module)}) imports {target} (layer {layer_of(target)})")
    return faults


def rljax_sources() -> dict[str, str]:
    return {module_name(p): p.read_text() for p in sorted(RLJAX.rglob("*.py"))}


def test_every_module_has_a_layer():
    for module in rljax_sources():
        layer_of(module)


def test_no_import_runs_back_up_the_layers():
    assert backward_imports(rljax_sources()) == []


@pytest.mark.parametrize(
    "module, line",
    [
        ("rljax.agents.dqn", "from rljax.experiment import train"),  # an agent reaching for the API
        ("rljax.envs.taxi", "import rljax.agents"),
        ("rljax.loop", "from rljax.batch import Lanes"),
        ("rljax.agents.tabular", "from rljax import cli"),
    ],
)
@pytest.mark.parametrize("late", [False, True])
def test_a_deliberately_backwards_import_is_caught(module, line, late):
    files = rljax_sources()
    added = f"\n\ndef _late():\n    {line}\n" if late else f"\n{line}\n"  # inside a function counts too
    files[module] += added
    faults = backward_imports(files)
    assert len(faults) == 1 and faults[0].startswith(module), faults
