"""The dev host serving tests/devhost_app over real HTTP, and its queue triggers against Azurite."""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from email.message import Message
from pathlib import Path

import pytest
from azure.storage.queue import QueueClient

from toolweaver.devhost.azurite import Azurite
from toolweaver.devhost.host import ThreadedHost, run_in_thread

REPO = Path(__file__).resolve().parents[2]
FIXTURE_APP = REPO / "tests" / "devhost_app" / "function_app.py"
KEY = "test-function-key"
BODY_CAP = 1024
WAIT_SECONDS = 30.0


def request(
    url: str, method: str = "GET", body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, Message, bytes]:
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})  # noqa: S310 - loopback
    try:
        with urllib.request.urlopen(req, timeout=10) as response:  # noqa: S310 - loopback
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers, err.read()


def assert_problem(status: int, headers: Message, body: bytes, expected: int) -> dict[str, object]:
    assert status == expected
    assert headers["Content-Type"] == "application/problem+json"
    problem = json.loads(body)
    assert problem["status"] == expected
    assert {"type", "title", "status", "detail"} <= problem.keys()
    assert b"Traceback" not in body
    return dict(problem)


def wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {WAIT_SECONDS:.0f} s waiting for {what}")
        time.sleep(0.1)


@pytest.fixture(scope="module")
def http_host() -> Iterator[ThreadedHost]:
    with run_in_thread(FIXTURE_APP, {}, queues=False, function_key=KEY, max_body_bytes=BODY_CAP) as host:
        yield host


# --- HTTP -----------------------------------------------------------------------------------


def test_anonymous_route_needs_no_key(http_host: ThreadedHost) -> None:
    status, headers, body = request(f"{http_host.url}/api/ping")
    assert (status, body) == (200, b"pong")
    assert headers["Content-Type"] == "text/plain; charset=utf-8"
    assert request(f"{http_host.url}/API/Ping")[0] == 200  # literal segments match case-insensitively


@pytest.mark.parametrize("key", [None, "wrong-key"])
def test_function_route_rejects_a_missing_or_wrong_key(http_host: ThreadedHost, key: str | None) -> None:
    headers = {"x-functions-key": key} if key else {}
    status, response_headers, body = request(f"{http_host.url}/api/items/hammer", headers=headers)
    assert_problem(status, response_headers, body, 401)


def test_key_in_header_and_route_params_reach_the_function(http_host: ThreadedHost) -> None:
    status, headers, body = request(
        f"{http_host.url}/api/items/hammer?size=3&size=4", "PUT", b"payload", {"x-functions-key": KEY}
    )
    assert status == 200
    assert headers["Content-Type"] == "application/json"
    assert json.loads(body) == {
        "name": "hammer",
        "method": "PUT",
        "body": "payload",
        "query": {"size": "3,4"},
    }


def test_key_in_code_query_parameter(http_host: ThreadedHost) -> None:
    status, _, body = request(f"{http_host.url}/api/items/saw?code={KEY}")
    assert status == 200
    assert json.loads(body)["name"] == "saw"


def test_optional_and_constrained_route_parameters(http_host: ThreadedHost) -> None:
    assert json.loads(request(f"{http_host.url}/api/files/docs")[2]) == {"folder": "docs"}
    assert json.loads(request(f"{http_host.url}/api/files/docs/a.txt")[2]) == {
        "folder": "docs",
        "file": "a.txt",
    }
    guid = str(uuid.uuid4())
    assert json.loads(request(f"{http_host.url}/api/orders/{guid}")[2]) == {"id": guid}
    assert_problem(*request(f"{http_host.url}/api/orders/not-a-guid"), 404)


def test_wrong_method_is_405_with_allow(http_host: ThreadedHost) -> None:
    status, headers, body = request(f"{http_host.url}/api/ping", "POST", b"")
    assert_problem(status, headers, body, 405)
    assert headers["Allow"] == "GET"


def test_unknown_route_is_404_problem(http_host: ThreadedHost) -> None:
    problem = assert_problem(*request(f"{http_host.url}/api/no/such/route"), 404)
    assert problem["title"] == "Not Found"


def test_raising_function_is_500_problem_without_details(http_host: ThreadedHost) -> None:
    status, headers, body = request(f"{http_host.url}/api/boom")
    assert_problem(status, headers, body, 500)
    assert b"internal detail" not in body
    assert b"RuntimeError" not in body


def test_async_function(http_host: ThreadedHost) -> None:
    status, headers, body = request(f"{http_host.url}/api/async-hello?who=devhost")
    assert (status, body) == (200, b"hello devhost")
    assert headers["X-Async"] == "yes"


def test_body_cap(http_host: ThreadedHost) -> None:
    small = os.urandom(BODY_CAP)
    status, headers, body = request(f"{http_host.url}/api/echo", "POST", small)
    assert (status, body) == (200, small)
    assert headers["Content-Type"] == "application/octet-stream"
    assert_problem(*request(f"{http_host.url}/api/echo", "POST", os.urandom(BODY_CAP + 1)), 413)


def test_warmup_ran_once_before_serving_and_context_is_passed(http_host: ThreadedHost) -> None:
    status, _, body = request(f"{http_host.url}/api/warmed")
    assert status == 200
    assert json.loads(body) == {"warmed": ["warmup"], "function": "warmed"}


# --- command line ---------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_cli_serves_and_stops_cleanly_on_sigint(tmp_path: Path) -> None:
    port = _free_port()
    settings = tmp_path / "local.settings.json"
    settings.write_text(json.dumps({"Values": {"DEVHOST_FUNCTION_KEY": KEY}}))
    command = [sys.executable, "-m", "toolweaver.devhost", "--app", str(FIXTURE_APP), "--port", str(port)]
    command += ["--no-queues", "--settings", str(settings)]
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: process.poll() is not None or _serves(port), "the CLI host to serve")
        assert request(f"http://127.0.0.1:{port}/api/items/x", headers={"x-functions-key": KEY})[0] == 200
    finally:
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=30)
    log = stderr.decode()
    assert process.returncode == 0, log
    assert "Traceback" not in log
    assert "Dev host ready: http://127.0.0.1:" in log
    assert f"ping: [GET] http://127.0.0.1:{port}/api/ping" in log
    assert KEY not in log


def _serves(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_cli_reports_a_malformed_settings_file_in_one_line(tmp_path: Path) -> None:
    settings = tmp_path / "local.settings.json"
    settings.write_text('{"Values": ')
    command = [
        sys.executable,
        "-m",
        "toolweaver.devhost",
        "--app",
        str(FIXTURE_APP),
        "--settings",
        str(settings),
    ]
    result = subprocess.run(command, cwd=REPO, capture_output=True, timeout=60, check=False)
    assert result.returncode == 2
    lines = result.stderr.decode().strip().splitlines()
    assert len(lines) == 1 and str(settings) in lines[0] and "invalid JSON" in lines[0]


# --- queues (Azurite) -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def record(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("devhost") / "record.txt"


@pytest.fixture(scope="module")
def queue_host(azurite: Azurite, record: Path) -> Iterator[ThreadedHost]:
    QueueClient.from_connection_string(azurite.connection_string, "work").create_queue()
    settings = {"AzureWebJobsStorage": azurite.connection_string, "DEVHOST_TEST_RECORD": str(record)}
    # A 2 s lease: the long-job test checks that renewal keeps a 3 s job from being redelivered.
    with run_in_thread(FIXTURE_APP, settings, function_key=KEY, queue_lease_seconds=2) as host:
        yield host


def _lines(record: Path, tag: str) -> list[str]:
    if not record.exists():
        return []
    return [line for line in record.read_text().splitlines() if line.endswith(tag)]


def _send(azurite: Azurite, text: str) -> None:
    client = QueueClient.from_connection_string(azurite.connection_string, "work")
    client.send_message(base64.b64encode(text.encode()).decode())


def _queue_is_empty(azurite: Azurite, name: str) -> bool:
    client = QueueClient.from_connection_string(azurite.connection_string, name)
    return int(client.get_queue_properties().approximate_message_count or 0) == 0


# A sleep:3 job outlives its 2 s lease: only renewal keeps it from being delivered a second time.
@pytest.mark.azurite
@pytest.mark.parametrize("prefix", ["hello-", "sleep:3:"], ids=["short", "long-job-keeps-its-lease"])
def test_message_is_processed_once_and_deleted(
    queue_host: ThreadedHost, azurite: Azurite, record: Path, prefix: str
) -> None:
    tag = f"{prefix}{uuid.uuid4()}"
    _send(azurite, tag)
    wait_for(lambda: len(_lines(record, tag)) == 1, "the message to be processed")
    wait_for(lambda: _queue_is_empty(azurite, "work"), "the message to be deleted")
    assert _lines(record, tag) == [f"work 1 {tag}"]


@pytest.mark.azurite
def test_failing_message_is_retried_then_poisoned(
    queue_host: ThreadedHost, azurite: Azurite, record: Path
) -> None:
    tag = f"crash-{uuid.uuid4()}"
    _send(azurite, tag)
    wait_for(lambda: any(line.startswith("poison") for line in _lines(record, tag)), "the poison trigger")
    lines = _lines(record, tag)
    # maxDequeueCount 2 in the fixture's host.json: two attempts, then the poison queue's trigger.
    assert lines == [f"work 1 {tag}", f"work 2 {tag}", f"poison 1 {tag}"]
    wait_for(lambda: _queue_is_empty(azurite, "work-poison"), "the poison message to be deleted")
