"""The exception tree drawn in errors.py's docstring is the package's exception tree, exactly."""

from __future__ import annotations

import ast
import re

from toolweaver import errors
from toolweaver.settings import PACKAGE_DIR


def drawn_tree() -> dict[str, str | None]:
    """Each class in the docstring and its parent, read from the indentation of the drawing."""
    parents: dict[str, str | None] = {}
    stack: list[tuple[int, str]] = []
    for line in (errors.__doc__ or "").splitlines():
        match = re.match(r"^(\s*[│├└─ ]*)([A-Z]\w+)\s", line)
        if match is None or not match[2].endswith(("Error", "Configured")):
            continue
        depth = len(match[1])
        while stack and stack[-1][0] >= depth:
            stack.pop()
        parents[match[2]] = stack[-1][1] if stack else None
        stack.append((depth, match[2]))
    return parents


def coded_tree() -> dict[str, str | None]:
    """Every subclass of ToolWeaverError defined anywhere in toolweaver, and its base."""
    bases: dict[str, str] = {}
    for path in PACKAGE_DIR.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef) and node.bases:
                base = node.bases[0]
                bases[node.name] = getattr(base, "id", getattr(base, "attr", ""))
    tree: dict[str, str | None] = {"ToolWeaverError": None}
    changed = True
    while changed:
        changed = False
        for name, base in bases.items():
            if name not in tree and base in tree:
                tree[name] = base
                changed = True
    return tree


def test_the_docstring_draws_every_error_class_under_its_real_parent() -> None:
    assert drawn_tree() == coded_tree()
