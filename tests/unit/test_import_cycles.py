"""No import cycles inside toolweaver, counting every import: module level, inside functions, and
under ``TYPE_CHECKING``. A cycle hidden in a function is still two modules that need each other."""

from __future__ import annotations

import ast
from pathlib import Path

from toolweaver.settings import PACKAGE_DIR

Graph = dict[str, set[str]]


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(root: Path = PACKAGE_DIR) -> Graph:
    """Each toolweaver module and the toolweaver modules it imports, found by parsing the source."""
    files = {module_name(path, root): path for path in root.rglob("*.py")}

    def resolve(name: str) -> str | None:
        while name and name not in files:  # `from a.b import c`: c is a module or a name in a.b
            name = name.rpartition(".")[0]
        return name or None

    graph: Graph = {}
    for module, path in files.items():
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        imported: set[str | None] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                imported |= {resolve(alias.name) for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative: from . import x, from ..a import b
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                imported |= {resolve(f"{base}.{alias.name}") for alias in node.names}
        graph[module] = {name for name in imported if name is not None and name != module}
    return graph


def cycles(graph: Graph) -> list[list[str]]:
    """One cycle (as a path that returns to its start) per strongly connected group of modules."""
    found: list[list[str]] = []
    done: set[str] = set()
    for start in sorted(graph):
        stack: list[tuple[str, list[str]]] = [(start, [start])]
        seen: set[str] = set()
        while stack:
            node, path = stack.pop()
            for target in sorted(graph[node]):
                if target == start:
                    if not done & set(path):
                        found.append([*path, start])
                        done |= set(path)
                    stack.clear()
                    break
                if target not in seen and target not in done:
                    seen.add(target)
                    stack.append((target, [*path, target]))
    return found


def test_the_package_has_no_import_cycle() -> None:
    found = cycles(import_graph())
    assert found == [], "import cycles: " + "; ".join(" -> ".join(cycle) for cycle in found)


def test_the_checker_finds_a_cycle_through_a_function_level_import(tmp_path: Path) -> None:
    package = tmp_path / "toolweaver"
    (package / "api").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "api" / "__init__.py").write_text("")
    (package / "api" / "routes.py").write_text("from toolweaver.api import system\n")
    (package / "api" / "system.py").write_text("def handler():\n    from .openapi import document\n")
    (package / "api" / "openapi.py").write_text("from toolweaver.api.routes import ROUTES\n")
    assert cycles(import_graph(package)) == [
        ["toolweaver.api.openapi", "toolweaver.api.routes", "toolweaver.api.system", "toolweaver.api.openapi"]
    ]
