"""The package's floors: no module imports one above it, and no import cycle (lazy imports included).

Floors, bottom up: errors and array types; decoding, detection and tracking adapters;
scoring and selection; configuration (it checks names against the scoring and selection
registries), outputs, the run-folder format, the mining pipeline, its chunks and propagation; the FiftyOne and
training adapters; the Python API; the CLI.
"""

from __future__ import annotations

import ast

from conftest import REPO

FLOORS = [
    ("vidal.errors", "vidal.types", "vidal.concurrency"),
    ("vidal.video", "vidal.mot", "vidal.evaluation", "vidal.yolo", "vidal.detectors", "vidal.tracking"),
    ("vidal.scoring", "vidal.representation", "vidal.selection"),
    ("vidal.config", "vidal.outputs", "vidal.runs", "vidal.embeddings", "vidal.resolve", "vidal.resume",
     "vidal.pipeline", "vidal.chunks", "vidal.propagation"),
    ("vidal.dataset", "vidal.training", "vidal.scale"),
    ("vidal.api",),
    ("vidal.cli",),
]


def modules() -> dict[str, set[str]]:
    """Every module of vidal and the vidal modules it imports, at any depth of its code."""
    files = {}
    for path in (REPO / "vidal").rglob("*.py"):
        parts = path.relative_to(REPO).with_suffix("").parts
        files[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    graph = {}
    for name, path in files.items():
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("vidal"):
                found.add(node.module)
                found.update(f"{node.module}.{alias.name}" for alias in node.names)
            elif isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names if alias.name.startswith("vidal"))
        graph[name] = {d for d in found if d in files and d not in (name, "vidal")}
    return graph


def floor(module: str) -> int:
    for level, names in enumerate(FLOORS):
        if any(module == n or module.startswith(n + ".") for n in names):
            return level
    raise AssertionError(f"{module} is on no floor: add it to FLOORS")


def test_no_module_imports_a_higher_floor() -> None:
    upward = [f"{m} -> {d}" for m, deps in modules().items() if m != "vidal" for d in deps if floor(d) > floor(m)]
    assert upward == []


def test_no_import_cycle() -> None:
    graph, state, cycles = modules(), {}, []

    def visit(module: str, path: list[str]) -> None:
        state[module] = "open"
        for dep in sorted(graph[module]):
            if state.get(dep) == "open":
                cycles.append(" -> ".join(path[path.index(dep):] + [module, dep]))
            elif dep not in state:
                visit(dep, path + [module])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [])
    assert cycles == []
