"""Where training and model lineage live: one subpackage, no import cycle, Ultralytics in the adapters only."""

from __future__ import annotations

import ast

from conftest import REPO

PACKAGE = REPO / "vidal"


def _imports() -> dict[str, set[str]]:
    """Every vidal module's imports (top-level and lazy), by module name."""
    found = {}
    for file in PACKAGE.rglob("*.py"):
        name = ".".join(file.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__")
        names = set()
        for node in ast.walk(ast.parse(file.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module)
                names.update(f"{node.module}.{alias.name}" for alias in node.names)
            elif isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
        found[name] = names
    return found


def test_training_lives_in_one_subpackage_and_only_the_adapters_import_ultralytics() -> None:
    imports = _imports()
    importers = {m for m, names in imports.items() if any(n.split(".")[0] == "ultralytics" for n in names)}
    assert importers == {"vidal.detectors.ultralytics", "vidal.detectors.cpu", "vidal.training.ultralytics"}
    assert not [m for m in imports if m.startswith("vidal.") and "training" in m and not m.startswith("vidal.training")]


def test_no_cycle_among_the_dataset_and_training_modules() -> None:
    imports = _imports()
    scope = {m for m in imports if m.startswith(("vidal.dataset.", "vidal.training."))}
    graph = {m: {n for n in imports[m] if n in scope and n != m} for m in scope}

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        for nxt in graph[start] - seen:
            if nxt == goal or reaches(nxt, goal, seen | {nxt}):
                return True
        return False

    assert sorted(m for m in scope if reaches(m, m, set())) == []
