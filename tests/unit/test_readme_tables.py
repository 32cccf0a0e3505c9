"""The README's metric and setting tables list exactly what the code has."""

from __future__ import annotations

import re
from dataclasses import fields

from toolweaver.observability.metrics import REGISTRY
from toolweaver.settings import REPO_DIR, Settings

README = (REPO_DIR / "README.md").read_text(encoding="utf-8")


def section(title: str) -> str:
    assert README.count(f"\n{title}\n") == 1, title
    body = README.split(f"\n{title}\n", 1)[1]
    return re.split(r"\n#{2,3} ", body, maxsplit=1)[0]


def test_the_metrics_table_lists_every_metric_with_its_type_and_labels() -> None:
    rows = {
        match[1]: (match[2], match[3])
        for match in re.finditer(
            r"^\| `(toolweaver_\w+)` \| (\w+) \|([^|]*)\|", section("### Metrics and traces"), re.M
        )
    }
    exposed = {}
    for collector in list(REGISTRY._collector_to_names):  # the registry's instruments, samples or not
        name = getattr(collector, "_name", None)
        kind = getattr(collector, "_type", None)
        if name is None:
            continue
        exposed[name + ("_total" if kind == "counter" else "")] = (kind, collector._labelnames)
    assert set(rows) == set(exposed)
    for name, (kind, labels) in exposed.items():
        assert rows[name][0] == kind, name
        for label in labels:
            assert re.search(rf"\b{label}\b", rows[name][1]), f"{name}: label {label} undocumented"


def test_the_settings_table_names_every_setting() -> None:
    table = section("## Settings")
    documented = set(re.findall(r"`([A-Z][A-Z0-9_]+)`", table))
    missing = {f.metadata["env"] for f in fields(Settings)} - documented
    assert not missing


def test_the_demo_catalog_size_is_the_one_stated() -> None:
    from toolweaver.catalog.loaders import load_catalog
    from toolweaver.settings import DEMO_CATALOG

    stated = re.findall(r"demo_catalog\.yaml`, which holds (\d+) tools", README)
    assert stated == [str(len(load_catalog(DEMO_CATALOG)))]


def test_the_route_table_lists_every_route_and_method() -> None:
    from toolweaver.api.routes import openapi_document

    table = section("## HTTP API")
    listed = {
        (method, path.split("?", 1)[0])
        for method, path in re.findall(r"^\| `(GET|PUT|POST|DELETE|PATCH) (/api/[^`]+)` \|", table, re.M)
    }
    served = {(m.upper(), path) for path, item in openapi_document()["paths"].items() for m in item}
    assert listed == served


def error_statuses() -> set[int]:
    """Every 4xx/5xx the HTTP layer and the dev host can answer, read from their source."""
    import ast
    import inspect

    from toolweaver.api import problems
    from toolweaver.errors import RequestError
    from toolweaver.settings import PACKAGE_DIR

    found = {status for _, status in problems._STATUS}
    for path in [*(PACKAGE_DIR / "api").glob("*.py"), PACKAGE_DIR / "devhost" / "http_host.py"]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "id", getattr(node.func, "attr", ""))
            values = [k.value for k in node.keywords if k.arg == "status"]
            if name == "problem" and node.args:
                values.append(node.args[0])
            if name == "RequestError" and not values:  # its default status
                found.add(inspect.signature(RequestError).parameters["status"].default)
            found |= {v.value for v in values if isinstance(v, ast.Constant) and isinstance(v.value, int)}
    return {status for status in found if status >= 400}


def test_the_status_table_lists_every_error_status_the_api_answers() -> None:
    table = section("## HTTP API").split("| status | meaning |", 1)[1].split("\n\n", 1)[0]
    listed = {int(code) for code in re.findall(r"^\| (\d{3})\b", table, re.M)}
    assert listed == error_statuses()


def test_the_numeric_defaults_in_the_settings_table_are_the_real_ones() -> None:
    defaults = {f.metadata["env"]: getattr(Settings(), f.name) for f in fields(Settings)}
    rows = re.findall(r"^\| `([A-Z][A-Z0-9_]+)` \| (\d+|true|false) \|", section("## Settings"), re.M)
    assert len(rows) > 20, "the pattern no longer fits the table"
    for name, default in rows:
        expected = defaults[name]
        shown = default == "true" if isinstance(expected, bool) else int(default)
        assert shown == expected, name


def test_the_time_budgets_stated_are_the_ones_in_force() -> None:
    from toolweaver.api.models import HTTP_RUN_SECONDS
    from toolweaver.execution import budget

    table = section("### Time budgets")
    assert f"| a job, any kind | {budget.JOB_SECONDS:.0f} s |" in table
    assert f"| up to {budget.MAX_RUN_SECONDS:.0f} s |" in table
    assert f"| an HTTP request | {budget.HTTP_SECONDS:.0f} s |" in table
    assert f"| up to {HTTP_RUN_SECONDS:.0f} s |" in table
    assert f"`functionTimeout` in `host.json` ({budget.FUNCTION_TIMEOUT_S / 60:.0f} minutes)" in table
    assert f"up to {budget.MAX_RUN_SECONDS:.0f} s" in section("## HTTP API")
    assert f"HTTP time budget ({budget.HTTP_SECONDS:.0f} s)" in section("## HTTP API")
