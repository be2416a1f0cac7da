"""The import layers run one way, and a module's layer is the folder it stands in.

Read from the source with ``ast`` (imports inside functions count too: a late import
is still a dependency). The layers, bottom to top, are the table of the design page
(``docs/guide/design.md``), which this test reads: a folder is one wing of a layer, the
private modules directly under ``rljax/`` (``_version.py``, ...) are the floor, and the
other files directly under ``rljax/`` are the package's face, the top.
"""

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RLJAX = ROOT / "rljax"
DESIGN = ROOT / "docs" / "guide" / "design.md"

MAX_TOP_LEVEL_FILES = 10
MAX_LINES = 500
# One algorithm per file may run longer: its pseudocode docstring, networks and presets stay together.
ALGORITHMS = {"rljax.agents.dqn", "rljax.agents.muzero", "rljax.agents.ppo", "rljax.agents.sac"}


def design_layers() -> list[list[str]]:
    """The design page's layer table: the wings of each layer (``envs/``, ``cli/``, ...), bottom first."""
    rows = re.findall(r"^\| (\d+) \| ([^|]+) \|", DESIGN.read_text(), re.M)
    assert rows, f"{DESIGN} has no layer table"
    assert [int(n) for n, _ in rows] == list(range(len(rows))), "the layers are numbered 0, 1, ... from the bottom"
    return [re.findall(r"`([^`]+)`", wings) for _, wings in rows]


def wing_of(module: str) -> str:
    """``rljax.training.loop`` -> ``training/``; ``rljax.sweeps`` -> ``sweeps.py``; ``rljax`` -> ``__init__.py``."""
    parts = module.split(".")[1:]
    if not parts:
        return "__init__.py"
    if len(parts) > 1 or (RLJAX / parts[0]).is_dir():
        return parts[0] + "/"
    return parts[0] + ".py"


def layer_of(module: str, layers: list[list[str]]) -> int:
    wing = wing_of(module)
    for i, wings in enumerate(layers):
        if wing in wings:
            return i
    raise KeyError(f"{wing} ({module}) is in no layer of {DESIGN.relative_to(ROOT)}: give it one")


def module_name(path: Path) -> str:
    parts = path.relative_to(RLJAX.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(source: str) -> set[str]:
    """Every rljax module that ``source`` imports (``from rljax.analysis import stats`` -> rljax.analysis.stats)."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "rljax"}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.split(".")[0] != "rljax":
                continue
            for a in node.names:
                sub = f"{node.module}.{a.name}"
                path = RLJAX.parent / sub.replace(".", "/")
                found.add(sub if path.with_suffix(".py").exists() or path.is_dir() else node.module)
    return found


def backward_imports(files: dict[str, str], layers: list[list[str]]) -> list[str]:
    """``"a imports b"`` for every import that runs up the layers."""
    faults = []
    for module, source in files.items():
        for target in sorted(imported_modules(source)):
            if layer_of(target, layers) > layer_of(module, layers):
                faults.append(
                    f"{module} (layer {layer_of(module, layers)}) imports {target} (layer {layer_of(target, layers)})"
                )
    return faults


def rljax_sources() -> dict[str, str]:
    return {module_name(p): p.read_text() for p in sorted(RLJAX.rglob("*.py"))}


def test_the_design_page_places_every_wing_once():
    layers = design_layers()
    placed = [w for wings in layers for w in wings]
    assert len(placed) == len(set(placed)), placed
    on_disk = {p.name + "/" for p in RLJAX.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    on_disk |= {p.name for p in RLJAX.glob("*.py")}
    assert set(placed) == on_disk, (set(placed) - on_disk, on_disk - set(placed))


def test_private_modules_are_the_floor_and_public_ones_the_face():
    layers = design_layers()
    files = [w for w in layers[0] + layers[-1] if w.endswith(".py")]
    assert all(w.startswith("_") and w != "__init__.py" for w in layers[0]), layers[0]
    assert all(not w.startswith("_") or w == "__init__.py" for w in layers[-1]), layers[-1]
    assert all(w.endswith("/") for wings in layers[1:-1] for w in wings), "the middle layers are folders"
    assert len(files) <= MAX_TOP_LEVEL_FILES


def test_no_import_runs_back_up_the_layers():
    assert backward_imports(rljax_sources(), design_layers()) == []


def test_no_import_circles():
    graph = {m: {t for t in imported_modules(s) if t in rljax_sources()} - {m} for m, s in rljax_sources().items()}
    # A package's __init__ importing its own modules is not a circle of code.
    graph = {m: {t for t in ts if not m == t.rsplit(".", 1)[0] or m == "rljax"} for m, ts in graph.items()}
    done, stack, circles = set(), [], []

    def visit(m):
        if m in stack:
            circles.append(stack[stack.index(m) :] + [m])
            return
        if m in done:
            return
        stack.append(m)
        for t in sorted(graph.get(m, ())):
            visit(t)
        stack.pop()
        done.add(m)

    for m in sorted(graph):
        visit(m)
    assert circles == []


def test_modules_stay_readable_in_length():
    long = {m: s.count("\n") for m, s in rljax_sources().items() if s.count("\n") > MAX_LINES and m not in ALGORITHMS}
    assert long == {}


@pytest.mark.parametrize(
    "module, line",
    [
        ("rljax.agents.dqn", "from rljax.experiment import train"),  # an agent reaching for the API
        ("rljax.envs.taxi", "import rljax.agents"),
        ("rljax.training.loop", "from rljax.policies.trained import load_policy"),
        ("rljax.agents.tabular", "from rljax import cli"),
        ("rljax.runs.metrics", "from rljax.analysis import stats"),
    ],
)
@pytest.mark.parametrize("late", [False, True])
def test_a_deliberately_backwards_import_is_caught(module, line, late):
    files = rljax_sources()
    added = f"\n\ndef _late():\n    {line}\n" if late else f"\n{line}\n"  # inside a function counts too
    files[module] += added
    faults = backward_imports(files, design_layers())
    assert len(faults) == 1 and faults[0].startswith(module), faults


def test_a_new_folder_without_a_layer_is_refused():
    with pytest.raises(KeyError, match="newwing/"):
        layer_of("rljax.newwing.thing", design_layers())


def wing_imports() -> set[tuple[str, str]]:
    """``(wing, wing it imports)`` for every import between two wings, the private floor left out."""
    edges = set()
    for module, source in rljax_sources().items():
        for target in imported_modules(source):
            a, b = wing_of(module), wing_of(target)
            if a != b and not b.startswith("_") and (a == "__init__.py" or not a.startswith("_")):
                edges.add((a, b))
    return edges


def test_the_design_pages_drawing_is_the_import_graph():
    block = DESIGN.read_text().split("```mermaid", 1)[1].split("```", 1)[0]
    drawn = set(re.findall(r'\["([^"]+)"\] --> \w+\["([^"]+)"\]', block))
    code = wing_imports()
    assert drawn == code, {"drawn, not in the code": drawn - code, "in the code, undrawn": code - drawn}
