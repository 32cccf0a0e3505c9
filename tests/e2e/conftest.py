"""The dev host serving tests/e2e/app in its own process, against the session's Azurite."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from toolweaver.api.http import ApiRequest
from toolweaver.api.limits import caller_of
from toolweaver.devhost.azurite import Azurite
from toolweaver.devhost.process import DevHostProcess
from toolweaver.services import Services
from toolweaver.settings import Settings

APP = Path(__file__).resolve().parent / "app" / "function_app.py"
KEY = "e2e-test-key"
ADMIN_KEY = "e2e-admin-key"  # the dev host's operator (master) key
# Jobs belong to their caller: jobs a test plants directly must belong to the test key to be read.
KEY_OWNER = caller_of(ApiRequest("GET", "/api/jobs", headers={"x-functions-key": KEY}))


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class HostProcess(DevHostProcess):
    """The dev host serving tests/e2e/app; ``request`` sends the test key unless told otherwise."""

    def __init__(self, settings: dict[str, str], workdir: Path) -> None:
        super().__init__(settings, workdir, app=APP)

    def start(self, timeout: float = 90.0, ready: tuple[int, ...] = (200, 503)) -> float:
        return super().start(timeout, ready)

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        key: str | None = KEY,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, method=method)  # noqa: S310 - loopback
        request.add_header("Content-Type", "application/json")
        if key:
            request.add_header("x-functions-key", key)
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310  # nosec B310
                return Reply(response.status, dict(response.headers), response.read())
        except urllib.error.HTTPError as err:
            return Reply(err.code, dict(err.headers), err.read())


def host_settings(connection: str, markers: Path) -> dict[str, str]:
    suffix = uuid.uuid4().hex[:8]
    return {
        "AzureWebJobsStorage": connection,
        "DEVHOST_FUNCTION_KEY": KEY,
        "DEVHOST_ADMIN_KEY": ADMIN_KEY,
        "CACHE_CONTAINER": f"e2e-cache-{suffix}",
        "JOBS_CONTAINER": f"e2e-jobs-{suffix}",
        "CATALOG_REFRESH_SECONDS": "1",
        "DEVHOST_QUEUE_LEASE_SECONDS": "2",
        "E2E_MARKER_DIR": str(markers),
        # These tests send more than a minute's allowance from one key; limits are tested apart.
        "REQUESTS_PER_MINUTE": "0",
        "REQUESTS_PER_HOUR": "0",
    }


def wait_for(check: Any, timeout: float = 60.0, interval: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s")


@pytest.fixture(scope="module")
def host(azurite: Azurite, tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostProcess]:
    workdir = tmp_path_factory.mktemp("e2e-host")
    markers = workdir / "markers"
    markers.mkdir()
    process = HostProcess(host_settings(azurite.connection_string, markers), workdir)
    process.start()
    yield process
    process.stop()


@pytest.fixture
def services_for(host: HostProcess) -> Services:
    """The same storage the host uses, seen from the test process (to plant jobs of test kinds)."""
    return Services(Settings.from_env(host.settings), environ=host.settings)
