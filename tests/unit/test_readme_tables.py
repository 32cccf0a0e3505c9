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
