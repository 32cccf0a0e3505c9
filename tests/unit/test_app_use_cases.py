"""The application layer on its own: search with its cache policy, catalog tools, runs."""

from __future__ import annotations

import pytest

from toolweaver.app.search import SearchQuery
from toolweaver.execution.ports import ToolCallError
from toolweaver.services import Services


def test_search_learns_its_cost_per_index_and_caches_in_memory(services: Services) -> None:
    search = services.tool_search
    _, _, report = services.current_engine()
    assert search.cost_ms(report.key) is None
    first = search.search(SearchQuery("convert 10 km to miles", top_k=3))
    assert first["cached"] is False and first["results"][0]["name"] == "convert_units"
    assert search.cost_ms(report.key) is not None
    again = search.search(SearchQuery("convert 10 km to miles", top_k=3))
    assert again["cached"] is True and again["results"] == first["results"]
    other = search.search(SearchQuery("convert 10 km to miles", top_k=2))
    assert other["cached"] is False and len(other["results"]) == 2


def test_search_object_is_built_once(services: Services) -> None:
    assert services.tool_search is services.tool_search
    assert not hasattr(services, "search_costs")  # the policy's state lives in the use case


def test_catalog_tools_finds_in_order_and_reports_the_missing(services: Services) -> None:
    found, missing = services.catalog_tools.find(["echo", "nope", "calculate", "echo"])
    assert [tool.name for tool in found] == ["echo", "calculate"]
    assert missing == ["nope"]


def test_catalog_summary_counts_tools_and_tags(services: Services) -> None:
    catalog = services.catalog.current().catalog
    summary = services.catalog_tools.summary()
    assert summary.size == len(catalog)
    counts = [count for _, count in summary.main_tags]
    assert counts == sorted(counts, reverse=True) and 0 < len(counts) <= 8
    tag, count = summary.main_tags[0]
    assert count == sum(tag in tool.tags for tool in catalog.tools)
    assert services.catalog_tools.summary() is summary  # counted once per catalog version


def test_one_tool_is_called_through_the_executor(services: Services) -> None:
    arguments = {"value": 10, "from_unit": "km", "to_unit": "mi"}
    result, ms = services.catalog_tools.call("convert_units", arguments)
    assert isinstance(result, dict) and abs(float(result["value"]) - 6.21371) < 1e-3 and ms >= 0


@pytest.mark.parametrize(
    ("name", "arguments", "kind"),
    [
        pytest.param("no_such_tool", {}, "not_found", id="unknown"),
        pytest.param("convert_units", {"value": "ten"}, "invalid_arguments", id="bad-arguments"),
    ],
)
def test_a_failed_call_is_a_tool_call_error(
    services: Services, name: str, arguments: dict[str, object], kind: str
) -> None:
    with pytest.raises(ToolCallError) as caught:
        services.catalog_tools.call(name, arguments)  # type: ignore[arg-type]
    assert caught.value.kind == kind
