"""The dev host's pure parts: route templates, the app loader, settings files and queue settlement."""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import make_mocked_request
from azure.storage.queue import QueueMessage

from toolweaver.devhost.http_host import masked_url
from toolweaver.devhost.invoke import Invoker
from toolweaver.devhost.loader import FunctionSpec, load_app, read_host_json
from toolweaver.devhost.queue_config import QueueOptions, connection_string, decode_body, parse_timespan
from toolweaver.devhost.queue_host import QueueListener
from toolweaver.devhost.routes import MethodNotAllowed, Route, Router, RouteTemplate
from toolweaver.devhost.settings_file import effective_values, read_local_settings
from toolweaver.errors import ConfigError

FIXTURE_APP = Path(__file__).resolve().parents[1] / "devhost_app" / "function_app.py"
GUID = "0f8fad5b-d9cb-469f-a165-70867728950e"


# --- route templates ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "path", "expected"),
    [
        ("items/{name}", "/api/items/hammer", {"name": "hammer"}),
        ("items/{name}", "/API/Items/hammer/", {"name": "hammer"}),
        ("items/{name}", "/api/items", None),
        ("items/{name}", "/api/items/a/b", None),
        ("files/{folder}/{file?}", "/api/files/a", {"folder": "a"}),
        ("files/{folder}/{file?}", "/api/files/a/b", {"folder": "a", "file": "b"}),
        ("pages/{n=1}", "/api/pages", {"n": "1"}),
        ("pages/{n=1}", "/api/pages/7", {"n": "7"}),
        ("orders/{id:guid}", f"/api/orders/{GUID}", {"id": GUID}),
        ("orders/{id:guid}", "/api/orders/not-a-guid", None),
        ("n/{n:int}", "/api/n/-42", {"n": "-42"}),
        ("n/{n:int}", "/api/n/4x", None),
        ("n/{n:int:min(1)}", "/api/n/3", {"n": "3"}),
        ("code/{c:length(3)}", "/api/code/anything", {"c": "anything"}),
        ("r/{x:regex(^\\d{{3}}$)}", "/api/r/123", {"x": "123"}),
        ("blob/{*path}", "/api/blob/a/b/c.txt", {"path": "a/b/c.txt"}),
        ("blob/{*path}", "/api/blob", {}),
        ("f/{name}.{ext}", "/api/f/report.pdf", {"name": "report", "ext": "pdf"}),
        ("", "/api", {}),
    ],
)
def test_template_matching(template: str, path: str, expected: dict[str, str] | None) -> None:
    assert RouteTemplate.compile(template, "api").match(path) == expected


def test_empty_prefix_and_leading_slash() -> None:
    template = RouteTemplate.compile("/ping", "")
    assert template.match("/ping") == {}
    assert template.match("/api/ping") is None


def test_unbalanced_template_does_not_crash() -> None:
    assert RouteTemplate.compile("bad/{x", "api").match("/api/bad/{x") == {}


def test_router_prefers_literal_segments_and_reports_allowed_methods() -> None:
    router: Router[str] = Router(
        [
            Route(RouteTemplate.compile("items/{name}", "api"), frozenset({"GET", "PUT"}), "by-name"),
            Route(RouteTemplate.compile("items/special", "api"), frozenset({"GET"}), "special"),
            Route(RouteTemplate.compile("any", "api"), None, "any"),
        ]
    )
    found = router.match("GET", "/api/items/special")
    assert not isinstance(found, MethodNotAllowed) and found is not None
    assert found.target == "special"
    assert router.match("DELETE", "/api/items/x") == MethodNotAllowed(("GET", "PUT"))
    assert router.match("PATCH", "/api/items/special") == MethodNotAllowed(("GET", "PUT"))
    assert router.match("GET", "/api/nothing") is None
    anything = router.match("DELETE", "/api/any")
    assert anything is not None and not isinstance(anything, MethodNotAllowed)


def test_masked_url_hides_the_key() -> None:
    request = make_mocked_request("GET", "/api/items/x?code=secret&q=1")
    assert "secret" not in masked_url(request)
    assert "q=1" in masked_url(request)
    assert masked_url(make_mocked_request("GET", "/api/ping?q=1")) == "/api/ping?q=1"


# --- loader ---------------------------------------------------------------------------------


def test_loader_indexes_the_fixture_app() -> None:
    app = load_app(FIXTURE_APP)
    by_name = {f.name: f for f in app.functions}
    assert app.auth_level == "function"
    assert app.route_prefix == "api"
    assert by_name["ping"].trigger_type == "httpTrigger"
    assert by_name["ping"].auth_level == "anonymous"
    assert by_name["ping"].methods == ("GET",)
    assert by_name["item"].route == "items/{name}"
    assert by_name["item"].auth_level == "function"  # the app default, from the blueprint
    assert by_name["item"].methods == ("GET", "PUT")
    assert by_name["boom"].methods is None
    assert by_name["async_hello"].is_async
    assert by_name["warmed"].wants_context
    assert by_name["work"].trigger_type == "queueTrigger"
    assert by_name["work"].trigger["queueName"] == "work"
    assert by_name["work"].trigger["connection"] == "AzureWebJobsStorage"
    assert by_name["work"].arg_name == "msg"
    assert by_name["work_poison"].trigger["queueName"] == "work-poison"
    assert by_name["warmup"].trigger_type == "warmupTrigger"
    assert QueueOptions.from_host_json(app.queue_config).max_dequeue_count == 2


def test_loader_can_load_the_same_app_twice() -> None:
    assert len(load_app(FIXTURE_APP).functions) == len(load_app(FIXTURE_APP).functions)


def _write_app(folder: Path, body: str) -> Path:
    path = folder / "function_app.py"
    path.write_text("import azure.functions as func\n" + body, encoding="utf-8")
    return path


def test_loader_rejects_an_app_without_function_app(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="one FunctionApp"):
        load_app(_write_app(tmp_path, "x = 1\n"))


def test_loader_rejects_unbound_parameters(tmp_path: Path) -> None:
    body = "app = func.FunctionApp()\n@app.route(route='r')\ndef r(req, other):\n    return 'x'\n"
    with pytest.raises(ConfigError, match="'other'"):
        load_app(_write_app(tmp_path, body))


def test_route_prefix_from_host_json(tmp_path: Path) -> None:
    path = _write_app(
        tmp_path, "app = func.FunctionApp()\n@app.route(route='r')\ndef r(req):\n    return 'x'\n"
    )
    (tmp_path / "host.json").write_text(json.dumps({"extensions": {"http": {"routePrefix": ""}}}))
    assert load_app(path).route_prefix == ""


def test_malformed_host_json_is_one_clear_line(tmp_path: Path) -> None:
    (tmp_path / "host.json").write_text("{nope")
    with pytest.raises(ConfigError, match=r"host\.json: invalid JSON at line 1"):
        read_host_json(tmp_path)


# --- local.settings.json --------------------------------------------------------------------


def test_local_settings_values_and_port(tmp_path: Path) -> None:
    path = tmp_path / "local.settings.json"
    path.write_text(json.dumps({"Values": {"A": "1", "B": True, "C": 3}, "Host": {"LocalHttpPort": 7099}}))
    settings = read_local_settings(path)
    assert settings.values == {"A": "1", "B": "true", "C": "3"}
    assert settings.http_port == 7099
    assert effective_values(settings.values, {"A": "from-env"}) == {"A": "from-env", "B": "true", "C": "3"}


def test_local_settings_errors(tmp_path: Path) -> None:
    path = tmp_path / "local.settings.json"
    assert read_local_settings(path).values == {}
    with pytest.raises(ConfigError, match="not found"):
        read_local_settings(path, required=True)
    path.write_text('{"Values": {"A": "1",}}')
    with pytest.raises(ConfigError) as caught:
        read_local_settings(path)
    assert str(path) in str(caught.value) and "\n" not in str(caught.value)
    path.write_text(json.dumps({"Values": {"A": {"nested": 1}}}))
    with pytest.raises(ConfigError, match=r"Values\.A"):
        read_local_settings(path)


# --- queue options and settlement -----------------------------------------------------------


def test_timespans_and_queue_options() -> None:
    assert parse_timespan("00:01:30", "x") == 90
    assert parse_timespan("1.00:00:00.5", "x") == 86400.5
    assert parse_timespan(2000, "x") == 2.0  # v1 milliseconds
    with pytest.raises(ConfigError):
        parse_timespan("soon", "x")
    defaults = QueueOptions.from_host_json({})
    assert (defaults.batch_size, defaults.new_batch_threshold, defaults.max_dequeue_count) == (16, 8, 5)
    assert defaults.max_polling_interval == 60 and defaults.visibility_timeout == 0
    with pytest.raises(ConfigError):
        QueueOptions.from_host_json({"messageEncoding": "utf-16"})
    assert decode_body(base64.b64encode(b"hi").decode(), "base64") == b"hi"
    assert decode_body("plain", "none") == b"plain"


class FakeQueue:
    def __init__(self, name: str) -> None:
        self.queue_name = name
        self.calls: list[tuple[str, Any]] = []

    async def update_message(
        self, message_id: str, *, pop_receipt: str, visibility_timeout: int
    ) -> QueueMessage:
        self.calls.append(("update", visibility_timeout))
        return QueueMessage(id=message_id, pop_receipt=pop_receipt + "+")

    async def delete_message(self, message_id: str, *, pop_receipt: str) -> None:
        self.calls.append(("delete", message_id))

    async def send_message(self, content: str) -> None:
        self.calls.append(("send", content))

    async def close(self) -> None:
        pass


def _settle(
    queue: str, body: bytes, dequeue_count: int, monkeypatch: pytest.MonkeyPatch
) -> tuple[dict[str, FakeQueue], list[bytes]]:
    """Handle one message with a function that fails on bodies starting with b"crash": the queues'
    calls and the bodies the function saw."""
    queues: dict[str, FakeQueue] = {}
    monkeypatch.setattr(QueueListener, "_open", lambda self, name: queues.setdefault(name, FakeQueue(name)))
    seen: list[bytes] = []

    def work(msg: Any) -> None:
        seen.append(msg.get_body())
        if msg.get_body().startswith(b"crash"):
            raise RuntimeError("crash")

    trigger = {"type": "queueTrigger", "queueName": queue, "name": "msg"}
    spec = FunctionSpec("work", "queueTrigger", trigger, work, "msg", False, False, Path())
    options = QueueOptions(max_dequeue_count=2, visibility_timeout=3)
    message = QueueMessage(
        content=base64.b64encode(body).decode(), id="m1", dequeue_count=dequeue_count, pop_receipt="r"
    )

    async def run() -> None:
        invoker = Invoker(1)
        listener = QueueListener(spec, "UseDevelopmentStorage=true", options, invoker, lease_seconds=60)
        await listener._handle(message)
        invoker.shutdown()

    asyncio.run(run())
    return queues, seen


def test_success_deletes(monkeypatch: pytest.MonkeyPatch) -> None:
    queues, _ = _settle("work", b"ok", 1, monkeypatch)
    assert queues["work"].calls == [("delete", "m1")]


def test_failure_releases_with_visibility_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    queues, _ = _settle("work", b"crash", 1, monkeypatch)
    assert queues["work"].calls == [("update", 3)]
    assert "work-poison" not in queues


def test_last_failure_moves_to_poison(monkeypatch: pytest.MonkeyPatch) -> None:
    queues, _ = _settle("work", b"crash", 2, monkeypatch)
    assert queues["work-poison"].calls == [("send", base64.b64encode(b"crash").decode())]
    assert queues["work"].calls == [("delete", "m1")]


def test_message_seen_too_often_goes_to_poison_without_running(monkeypatch: pytest.MonkeyPatch) -> None:
    queues, seen = _settle("work", b"ok", 3, monkeypatch)
    assert seen == []
    assert queues["work-poison"].calls[0][0] == "send"


def test_poison_queue_failures_are_released_not_poisoned(monkeypatch: pytest.MonkeyPatch) -> None:
    queues, _ = _settle("work-poison", b"crash", 9, monkeypatch)
    assert queues["work-poison"].calls == [("update", 3)]
    assert "work-poison-poison" not in queues


def test_connection_setting_lookup() -> None:
    spec = FunctionSpec("w", "queueTrigger", {"connection": "Storage"}, print, "msg", False, False, Path())
    assert connection_string(spec, {"AzureWebJobsStorage": "cs"}) == "cs"
    with pytest.raises(ConfigError, match="'Storage' is not set"):
        connection_string(spec, {})
