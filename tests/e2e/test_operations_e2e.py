"""Operating the app through the dev host: metrics scraped before and after traffic, request ids,
and the per-caller limit answered with 429 and Retry-After."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.conftest import HostProcess, host_settings, wait_for
from toolweaver.devhost.azurite import Azurite

pytestmark = [pytest.mark.azurite, pytest.mark.model, pytest.mark.slow]

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(host: HostProcess) -> Samples:
    reply = host.request("GET", "/metrics")
    assert reply.status == 200 and reply.headers["Content-Type"].startswith("text/plain")
    samples: Samples = {}
    for family in text_string_to_metric_families(reply.body.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def moved(before: Samples, after: Samples, name: str, **labels: str) -> float:
    """How much every series of ``name`` whose labels include ``labels`` grew between scrapes."""
    wanted = set(labels.items())
    keys = {key for key in after if key[0] == name and wanted <= set(key[1])}
    return sum(after[key] - before.get(key, 0.0) for key in keys)


def test_counters_move_by_exactly_the_traffic_sent(host: HostProcess) -> None:
    before = scrape(host)
    queries = [f"convert {n} kilometres to miles {uuid.uuid4().hex[:6]}" for n in range(3)]
    for query in queries:
        assert host.request("POST", "/tools/search", {"query": query}).status == 200
    assert host.request("POST", "/tools/search", {"query": queries[0]}).status == 200  # a cache hit
    for _ in range(2):
        assert host.request("GET", "/tools/no.such.tool").status == 404
    assert host.request("POST", "/tools/search", {"query": ""}).status == 422
    after = scrape(host)

    search = {"route": "tools/search", "method": "POST"}
    assert moved(before, after, "toolweaver_http_requests_total", **search, status="200") == 4
    assert moved(before, after, "toolweaver_http_requests_total", **search, status="422") == 1
    assert moved(before, after, "toolweaver_http_requests_total", route="tools/{name}", status="404") == 2
    assert moved(before, after, "toolweaver_http_request_seconds_count", route="tools/search") == 5
    assert moved(before, after, "toolweaver_search_seconds_count", cache="miss") == 3
    assert moved(before, after, "toolweaver_search_seconds_count", cache="hit") == 1
    assert moved(before, after, "toolweaver_cache_lookups_total", cache="search", result="hit") == 1
    # The first scrape itself is counted once, by the time of the second.
    assert moved(before, after, "toolweaver_http_requests_total", route="metrics") == 1


def test_answers_carry_a_request_id_and_health_sums_up(host: HostProcess) -> None:
    reply = host.request("GET", "/tools?limit=1", headers={"X-Request-Id": "trace-me-1"})
    assert reply.headers["X-Request-Id"] == "trace-me-1"
    health = host.request("GET", "/health", key=None).json()
    assert health["metrics"]["requests"] > 0 and health["analytics"] == "prometheus"


@pytest.fixture
def limited(azurite: Azurite, tmp_path: Path) -> Iterator[HostProcess]:
    settings = {**host_settings(azurite.connection_string, tmp_path), "REQUESTS_PER_MINUTE": "3"}
    process = HostProcess(settings, tmp_path)
    process.start()
    yield process
    process.stop()


def test_the_request_over_the_limit_gets_429_and_the_next_minute_admits(limited: HostProcess) -> None:
    if time.time() % 60 > 50:  # too close to a minute's end: the three must share one window
        time.sleep(60 - time.time() % 60 + 0.2)
    statuses = [limited.request("GET", "/tools?limit=1").status for _ in range(3)]
    assert statuses == [200, 200, 200]
    refused = limited.request("GET", "/tools?limit=1")
    assert refused.status == 429
    assert refused.headers["Content-Type"].startswith("application/problem+json")
    retry_after = int(refused.headers["Retry-After"])
    assert 1 <= retry_after <= 60
    assert limited.request("GET", "/health", key=None).status == 200  # probes are not limited
    time.sleep(retry_after + 0.2)
    assert wait_for(lambda: limited.request("GET", "/tools?limit=1").status == 200, timeout=5)
