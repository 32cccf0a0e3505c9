"""Trust boundaries through the dev host: roles on every route, and the exfiltration probes.

The probes are the attack from the trust issue: a tool that names an app setting, a token of the
app's identity, or a destination the operator never allowed. The only listener is on loopback,
and the operator allowed exactly its port; every other destination is refused before a connect.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from aiohttp import web

from tests.e2e.conftest import ADMIN_KEY, KEY, HostProcess, host_settings, wait_for
from tests.servers.loopback import serving
from toolweaver.api.routes import ROUTES
from toolweaver.devhost.azurite import Azurite

pytestmark = [pytest.mark.azurite, pytest.mark.model, pytest.mark.slow]

APP_SECRET = "sk-app-own-key-never-leaves"  # noqa: S105 - a planted value the probes try to steal
SERVICE_KEY = "svc-key-for-the-listener"  # the declared secret's value


@pytest.fixture(scope="module")
def listener() -> Iterator[tuple[str, list[dict[str, str]]]]:
    seen: list[dict[str, str]] = []

    async def record(request: web.Request) -> web.Response:
        seen.append({"path": request.path, **{k.lower(): v for k, v in request.headers.items()}})
        if request.path == "/moved":
            return web.Response(status=302, headers={"Location": "http://127.0.0.2:9/elsewhere"})
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", record)
    with serving(app, "trust-listener") as url:
        yield url, seen


@pytest.fixture(scope="module")
def trusted_host(
    azurite: Azurite, tmp_path_factory: pytest.TempPathFactory, listener: tuple[str, list[dict[str, str]]]
) -> Iterator[HostProcess]:
    url, _ = listener
    allowed = url.removeprefix("http://")
    workdir = tmp_path_factory.mktemp("trust-host")
    markers = workdir / "markers"
    markers.mkdir()
    settings = host_settings(azurite.connection_string, markers) | {
        "OPENAI_API_KEY": APP_SECRET,
        "SVC_KEY": SERVICE_KEY,
        "TOOL_ALLOWED_HOSTS": allowed,
        "TOOL_PRIVATE_NETWORKS": "127.0.0.1/32",
        "TOOL_SECRETS": json.dumps({"svc-key": {"setting": "SVC_KEY", "hosts": [allowed]}}),
        "TOOL_TOKEN_SCOPES": json.dumps({"api://svc/.default": [allowed]}),
    }
    process = HostProcess(settings, workdir)
    process.start()
    yield process
    process.stop()


def http_tool(url: str, auth: dict[str, Any] | None = None, path: str = "/probe") -> dict[str, Any]:
    config: dict[str, Any] = {"method": "GET", "path": path, "server_url": url}
    if auth is not None:
        config["auth"] = auth
    return {"description": "A probe", "backend": "http", "backend_config": config}


def run_tool(host: HostProcess, name: str) -> dict[str, Any]:
    reply = host.request("POST", "/runs", {"program": f"result = await call_tool({name!r})"})
    assert reply.status == 200, reply.body
    return dict(reply.json())


# -- roles: every route x every credential ------------------------------------------------------

CREDENTIALS = {
    "none": None,
    "caller": KEY,
    "operator": ADMIN_KEY,
    "wrong": "not-a-key",
    "caller-prefix": KEY[:-1],
    "caller-plus-one": KEY + "x",
    "operator-prefix": ADMIN_KEY[:-1],
}
ENDPOINTS = [
    (
        method,
        "/" + route.path.replace("{name}", "role_probe").replace("{id}", "0" * 32),
        op.operator,
        route.anonymous,
    )
    for route in ROUTES
    for method, op in route.operations.items()
]


def expected(credential: str, operator_route: bool, anonymous: bool) -> str:
    if anonymous:
        return "served"
    if credential in ("none", "wrong", "caller-prefix", "caller-plus-one", "operator-prefix"):
        return "401"
    if operator_route and credential == "caller":
        return "403"
    return "served"


def test_every_route_and_credential(host: HostProcess) -> None:
    """One table: who gets through to the app, who is refused, and how."""
    outcomes = {}
    for method, path, operator_route, anonymous in ENDPOINTS:
        for credential, key in CREDENTIALS.items():
            body = {} if method in ("POST", "PUT") else None
            reply = host.request(method, path, body, key=key)
            got = str(reply.status) if reply.status in (401, 403) else "served"
            outcomes[(method, path, credential)] = (got, expected(credential, operator_route, anonymous))
            if reply.status == 403:
                assert "operator key" in reply.json()["detail"]
    wrong = {k: v for k, v in outcomes.items() if v[0] != v[1]}
    assert wrong == {}
    assert len(outcomes) == len(ENDPOINTS) * len(CREDENTIALS)


# -- the exfiltration probes ------------------------------------------------------------------------

LEAKS = [
    pytest.param(
        {"type": "app_setting_key", "header": "X-Leak", "setting": "OPENAI_API_KEY"},
        "backend_config.auth.type",
        id="app-setting",
    ),
    pytest.param(
        {"type": "secret", "secret": "OPENAI_API_KEY", "header": "X-Leak"},
        "backend_config.auth.secret",
        id="undeclared-secret",
    ),
    pytest.param(
        {"type": "managed_identity", "scope": "https://storage.azure.com/.default"},
        "backend_config.auth.scope",
        id="storage-token",
    ),
]


@pytest.mark.parametrize(("auth", "field"), LEAKS)
def test_credential_probes_are_refused_for_both_roles(
    trusted_host: HostProcess, listener: tuple[str, list[dict[str, str]]], auth: dict[str, Any], field: str
) -> None:
    url, seen = listener
    before = len(seen)
    caller = trusted_host.request("PUT", "/tools/probe_leak", http_tool(url, auth))
    assert caller.status == 403
    operator = trusted_host.request("PUT", "/tools/probe_leak", http_tool(url, auth), key=ADMIN_KEY)
    assert operator.status == 422
    assert operator.headers["Content-Type"].startswith("application/problem+json")
    assert operator.json()["field"] == field
    assert trusted_host.request("GET", "/tools/probe_leak").status == 404
    assert len(seen) == before


@pytest.mark.parametrize(
    "destination",
    [
        pytest.param("http://169.254.169.254/metadata", id="metadata"),
        pytest.param("http://127.0.0.1:7071/api", id="the-app-itself"),
        pytest.param("http://10.0.0.5", id="private"),
        pytest.param("http://[fd00::1]:8080", id="unique-local"),
        pytest.param("http://listener.attacker.example", id="undeclared-host"),
    ],
)
def test_undeclared_destinations_are_refused_when_written(
    trusted_host: HostProcess, destination: str
) -> None:
    reply = trusted_host.request("PUT", "/tools/probe_dest", http_tool(destination), key=ADMIN_KEY)
    assert reply.status == 422, reply.body
    assert reply.json()["field"] == "backend_config.server_url"
    assert "host not allowed" in reply.json()["detail"]


def test_a_declared_secret_reaches_only_its_declared_host(
    trusted_host: HostProcess, listener: tuple[str, list[dict[str, str]]]
) -> None:
    url, seen = listener
    auth = {"type": "secret", "secret": "svc-key", "header": "X-Api-Key"}
    put = trusted_host.request("PUT", "/tools/svc_call", http_tool(url, auth, "/probe"), key=ADMIN_KEY)
    assert put.status in (200, 201), put.body
    outcome = run_tool(trusted_host, "svc_call")
    assert outcome["status"] == "succeeded", outcome
    assert outcome["result"] == {"ok": True}
    assert seen[-1]["path"] == "/probe" and seen[-1]["x-api-key"] == SERVICE_KEY
    assert all(APP_SECRET not in value for request in seen for value in request.values())


def test_a_redirect_to_another_host_is_a_tool_error(
    trusted_host: HostProcess, listener: tuple[str, list[dict[str, str]]]
) -> None:
    url, seen = listener
    auth = {"type": "secret", "secret": "svc-key", "header": "X-Api-Key"}
    put = trusted_host.request("PUT", "/tools/svc_moved", http_tool(url, auth, "/moved"), key=ADMIN_KEY)
    assert put.status in (200, 201), put.body
    before = len(seen)
    outcome = run_tool(trusted_host, "svc_moved")
    assert outcome["status"] == "error"
    assert "HTTP 302" in json.dumps(outcome)
    assert len(seen) == before + 1  # the redirect was answered, not followed
    assert SERVICE_KEY not in json.dumps(outcome)


def test_a_tool_written_before_a_policy_change_is_refused_when_called(trusted_host: HostProcess) -> None:
    # Planted straight into the catalog store, as an older version of the app could have written it.
    from toolweaver.catalog.model import Tool
    from toolweaver.services import Services
    from toolweaver.settings import Settings

    services = Services(Settings.from_env(trusted_host.settings), environ=trusted_host.settings)
    tool = Tool.from_dict({"name": "old_probe", **http_tool("http://169.254.169.254/metadata")})
    services.catalog.put_tool(tool)
    wait_for(lambda: trusted_host.request("GET", "/tools/old_probe").status == 200)
    outcome = run_tool(trusted_host, "old_probe")
    assert outcome["status"] == "error"
    assert "host not allowed" in json.dumps(outcome)


# -- jobs belong to their caller --------------------------------------------------------------------


def test_jobs_and_idempotency_keys_belong_to_their_caller(host: HostProcess) -> None:
    job = {"kind": "search", "input": {"queries": [{"query": "send an email"}]}}
    key = {"Idempotency-Key": "shared-key-1"}
    mine = host.request("POST", "/jobs", job, headers=key)
    assert mine.status == 202
    job_id = mine.json()["id"]
    assert host.request("GET", f"/jobs/{job_id}").status == 200
    theirs = host.request("GET", f"/jobs/{job_id}", key=ADMIN_KEY)
    assert theirs.status == 404
    again = host.request("POST", "/jobs", job, headers=key, key=ADMIN_KEY)
    assert again.status == 202 and again.json()["id"] != job_id
    assert "Idempotent-Replayed" not in again.headers
    replay = host.request("POST", "/jobs", job, headers=key)
    assert replay.json()["id"] == job_id and replay.headers.get("Idempotent-Replayed") == "true"
