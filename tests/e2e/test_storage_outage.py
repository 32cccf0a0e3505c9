"""Azurite stopped in the middle of a run: 503 problem responses, no crash, recovery when it is back."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import ADMIN_KEY, HostProcess, host_settings, wait_for
from toolweaver.devhost.azurite import Azurite

pytestmark = [pytest.mark.azurite, pytest.mark.model, pytest.mark.slow]


@pytest.fixture
def own_azurite(tmp_path: Path) -> Iterator[Azurite]:
    emulator = Azurite(location=tmp_path / "azurite")  # on disk: a restart keeps the data
    emulator.start()
    yield emulator
    emulator.close()


def test_an_outage_answers_503_problems_and_the_app_recovers(own_azurite: Azurite, tmp_path: Path) -> None:
    markers = tmp_path / "markers"
    markers.mkdir()
    host = HostProcess(host_settings(own_azurite.connection_string, markers), tmp_path)
    host.start()
    try:
        assert host.request("POST", "/tools/search", {"query": "weather in Paris"}).status == 200
        assert (
            host.request("PUT", "/tools/notes.add", {"description": "Add a note"}, key=ADMIN_KEY).status
            == 201
        )

        own_azurite.stop()
        health = host.request("GET", "/health", key=None)
        assert health.status == 503 and health.json()["down"] == ["storage"]
        for method, path, body in [
            ("POST", "/tools/search", {"query": "a request nobody asked before the outage"}),
            ("GET", "/tools/notes.add", None),
            ("POST", "/jobs", {"kind": "search", "input": {"queries": [{"query": "weather"}]}}),
        ]:
            reply = wait_for(lambda m=method, p=path, b=body: _unavailable(host, m, p, b), timeout=20)
            assert reply.headers["Content-Type"].startswith("application/problem+json")
            assert int(reply.headers["Retry-After"]) > 0
            assert b"Traceback" not in reply.body
        assert host.process is not None and host.process.poll() is None  # no crash

        own_azurite.start()
        assert wait_for(lambda: host.request("GET", "/health", key=None).status == 200, timeout=30)
        assert host.request("GET", "/tools/notes.add").json()["description"] == "Add a note"
        assert host.request("POST", "/tools/search", {"query": "after the outage"}).status == 200
    finally:
        host.stop()


def _unavailable(host: HostProcess, method: str, path: str, body: object) -> object:
    reply = host.request(method, path, body)
    return reply if reply.status == 503 else None
