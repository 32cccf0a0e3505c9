"""The Bicep under infra/ as data, and the IaC tools in .venv-iac that read it.

pycep-parser and checkov live in their own virtual environment (``make iac-setup``): checkov pins
packages the app's .venv cannot share. The tests call them as processes: ``parse_bicep.py``
prints each template as JSON, and these helpers walk that JSON.

pycep writes a reference to a parameter, variable or resource as its bare name (the string
``identityClientId``), a string literal as its text, ``a.b.c`` as nested property accessors, and
a resource declared with ``if (...)`` or ``for`` as ``{condition, config}`` around its body.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
INFRA = REPO / "infra"
HERE = Path(__file__).resolve().parent
IAC_VENV = REPO / ".venv-iac"
IAC_PYTHON = IAC_VENV / "bin" / "python"
CHECKOV = IAC_VENV / "bin" / "checkov"
CUSTOM_CHECKS = HERE / "checkov_checks"
PARSER = HERE / "parse_bicep.py"
PACKAGE_CHECK = REPO / "scripts" / "package_check.py"


def iac_tool(path: Path) -> Path:
    """A program from .venv-iac; missing tools fail the test (like Azurite), they do not skip it."""
    if not path.is_file():
        pytest.fail(f"{path} not found: run `make iac-setup` (checkov and pycep-parser live in .venv-iac)")
    return path


# checkov offline: no update check against PyPI, no Prisma Cloud metadata; a file it cannot parse
# fails the run instead of being skipped.
CHECKOV_ENV = {
    "CKV_SKIP_PACKAGE_UPDATE_CHECK": "true",
    "BC_SKIP_MAPPING": "TRUE",
    "CKV_PARSE_ERROR_FAIL": "true",
}


def run_iac(args: Sequence[str | Path], *, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run a .venv-iac program (the first argument) and capture its output."""
    program = iac_tool(Path(args[0]))
    return subprocess.run(
        [str(program), *map(str, args[1:])],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        cwd=REPO,
        env={**os.environ, **CHECKOV_ENV},
    )


def parse(paths: Sequence[Path]) -> dict[Path, dict[str, Any]]:
    """Each file's parse result: ``{"ok": True, "tree": ...}`` or ``{"ok": False, "error": ...}``."""
    proc = run_iac([IAC_PYTHON, PARSER, *paths], timeout=120)
    if proc.returncode != 0:
        pytest.fail(f"parse_bicep.py failed:\n{proc.stderr}")
    return {Path(name): result for name, result in json.loads(proc.stdout).items()}


def bicep_files() -> list[Path]:
    return sorted(INFRA.rglob("*.bicep"))


def unwrap(config: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """(condition or None, body) of a resource or module declared with ``if (...)`` or ``for``."""
    condition = None
    while isinstance(config.get("config"), dict) and ("condition" in config or "loop_type" in config):
        condition = config.get("condition")
        config = config["config"]
    return condition, config


def lookup(node: Any, *path: str | int) -> Any:
    """``node[path[0]][path[1]]...``, or None where the path ends early."""
    for key in path:
        if isinstance(node, dict):
            found = key in node
        elif isinstance(node, list):
            found = isinstance(key, int) and key < len(node)
        else:
            found = False
        if not found:
            return None
        node = node[key]
    return node


def accessor(expression: Any) -> list[str] | None:
    """``storage.outputs.name`` as ``["storage", "outputs", "name"]``; None for anything else."""
    if isinstance(expression, str):
        return [expression]
    operands = lookup(expression, "operator", "operands")
    if lookup(expression, "operator", "type") != "property_accessor" or not isinstance(operands, dict):
        return None
    head, rest = accessor(operands["operand_1"]), accessor(operands["operand_2"])
    return None if head is None or rest is None else head + rest


def function(expression: Any, name: str) -> dict[str, Any] | None:
    """The parameters of a call to ``name`` (pycep's snake_case name), or None if it is no such call."""
    if lookup(expression, "function", "type") == name:
        parameters = lookup(expression, "function", "parameters")
        return parameters if isinstance(parameters, dict) else {}
    return None


def walk(node: Any) -> list[Any]:
    """Every value in a parsed expression, the expression itself included."""
    found = [node]
    children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
    for child in children:
        found.extend(walk(child))
    return found


@dataclass(frozen=True)
class Resource:
    symbol: str
    type: str
    api_version: str
    existing: bool
    condition: Any
    body: dict[str, Any]

    def get(self, *path: str | int) -> Any:
        return lookup(self.body, *path)


@dataclass(frozen=True)
class Module:
    symbol: str
    path: str
    condition: Any
    body: dict[str, Any]

    @property
    def params(self) -> dict[str, Any]:
        params = self.body.get("params") or {}
        assert isinstance(params, dict)
        return params


@dataclass(frozen=True)
class Param:
    """A reference to a template parameter (with its default, if it has one)."""

    name: str
    default: Any = None


@dataclass(frozen=True)
class Template:
    path: Path
    tree: dict[str, Any]

    @property
    def name(self) -> str:
        """The path under infra/ (``modules/storage.bicep``); the file name for files elsewhere."""
        return self.path.relative_to(INFRA).as_posix() if self.path.is_relative_to(INFRA) else self.path.name

    def section(self, key: str) -> dict[str, Any]:
        section = self.tree.get(key) or {}
        assert isinstance(section, dict)
        return section

    @property
    def scope(self) -> str:
        return str(lookup(self.tree, "globals", "scope", "value") or "resourceGroup")

    @property
    def parameters(self) -> dict[str, Any]:
        return self.section("parameters")

    @property
    def variables(self) -> dict[str, Any]:
        return self.section("variables")

    @property
    def outputs(self) -> dict[str, Any]:
        return self.section("outputs")

    def resources(self, type_: str | None = None) -> list[Resource]:
        found = []
        for symbol, declaration in self.section("resources").items():
            if type_ is not None and declaration["type"] != type_:
                continue
            condition, body = unwrap(declaration["config"])
            found.append(
                Resource(
                    symbol,
                    declaration["type"],
                    declaration["api_version"],
                    bool(declaration.get("existing")),
                    condition,
                    body,
                )
            )
        return found

    def resource(self, symbol: str) -> Resource:
        matches = [r for r in self.resources() if r.symbol == symbol]
        assert matches, f"{self.name}: no resource {symbol!r}"
        return matches[0]

    def only(self, type_: str) -> Resource:
        """The one resource of this type that the template creates."""
        matches = [r for r in self.resources(type_) if not r.existing]
        assert len(matches) == 1, f"{self.name}: {len(matches)} resources of type {type_}"
        return matches[0]

    def modules(self) -> list[Module]:
        found = []
        for symbol, declaration in self.section("modules").items():
            condition, body = unwrap(declaration["config"])
            found.append(Module(symbol, str(lookup(declaration, "detail", "path")), condition, body))
        return found

    def module(self, symbol: str) -> Module:
        matches = [m for m in self.modules() if m.symbol == symbol]
        assert matches, f"{self.name}: no module {symbol!r}"
        return matches[0]

    def resolve(self, value: Any) -> Any:
        """Follow a bare name to its variable's value or its parameter (as Param, with the default)."""
        seen: set[str] = set()
        while isinstance(value, str) and value not in seen:
            seen.add(value)
            if value in self.variables:
                value = self.variables[value]["value"]
            elif value in self.parameters:
                return Param(value, self.parameters[value].get("default"))
            else:
                break
        return value


def load(paths: Sequence[Path]) -> dict[str, Template]:
    """Parse the files; any that pycep cannot parse fails the calling test."""
    results = parse(paths)
    broken = {path: result["error"] for path, result in results.items() if not result["ok"]}
    if broken:
        pytest.fail("pycep-parser cannot parse:\n" + "\n".join(f"{p}: {e}" for p, e in broken.items()))
    templates = [Template(path, result["tree"]) for path, result in results.items()]
    return {template.name: template for template in templates}
