"""The operator's policy for remote tools, and the shape rules every catalog write path shares."""

from __future__ import annotations

import json
from typing import Any

import pytest

from toolweaver.catalog.model import Tool
from toolweaver.errors import ConfigError, ToolValidationError
from toolweaver.execution.trust import ToolTrust

CRM = "https://crm.northwind.example/api"
TRUST = ToolTrust.from_settings(
    allowed_hosts="crm.northwind.example,*.contoso.example",
    secrets=json.dumps({"crm-key": {"setting": "CRM_API_KEY", "hosts": ["crm.northwind.example"]}}),
    scopes=json.dumps({"api://crm/.default": ["crm.northwind.example"]}),
)


def http_tool(url: str = CRM, auth: dict[str, Any] | None = None, backend: str = "http") -> Tool:
    config: dict[str, Any] = {"server_url": url, **({"auth": auth} if auth else {})}
    if backend == "http":
        config["method"] = "GET"
    return Tool(name="probe", description="d", backend=backend, backend_config=config)


@pytest.mark.parametrize("backend", ["http", "mcp"])
@pytest.mark.parametrize(
    ("url", "auth", "field", "message"),
    [
        pytest.param(
            CRM, {"type": "secret", "secret": "crm-key", "header": "X-Api-Key"}, None, "", id="declared"
        ),
        pytest.param(CRM, {"type": "managed_identity", "scope": "api://crm/.default"}, None, "", id="scope"),
        pytest.param(
            CRM,
            {"type": "secret", "secret": "crm-kez", "header": "X-Api-Key"},
            "backend_config.auth.secret",
            "'crm-kez' is not declared in TOOL_SECRETS; declared: crm-key",
            id="secret-one-char-off",
        ),
        pytest.param(
            CRM,
            {"type": "managed_identity", "scope": "https://storage.azure.com/.default"},
            "backend_config.auth.scope",
            "not declared in TOOL_TOKEN_SCOPES; declared: api://crm/.default",
            id="storage-token",
        ),
        pytest.param(
            "https://a.contoso.example",
            {"type": "secret", "secret": "crm-key"},
            "backend_config.server_url",
            "may only be sent to crm.northwind.example",
            id="secret-to-other-allowed-host",
        ),
        pytest.param(
            "https://listener.attacker.example",
            None,
            "backend_config.server_url",
            "host not allowed",
            id="undeclared-host",
        ),
        pytest.param(
            "http://169.254.169.254/metadata",
            None,
            "backend_config.server_url",
            "host not allowed",
            id="metadata-by-address",
        ),
    ],
)
def test_policy_decisions(
    backend: str, url: str, auth: dict[str, Any] | None, field: str | None, message: str
) -> None:
    found = TRUST.problem(http_tool(url, auth, backend))
    if field is None:
        assert found is None
    else:
        assert found is not None and found[0] == field and message in found[1]


def test_check_raises_a_field_error() -> None:
    with pytest.raises(ToolValidationError) as info:
        TRUST.check(http_tool("https://evil.example"))
    assert (info.value.tool, info.value.field) == ("probe", "backend_config.server_url")


def test_local_tools_are_not_remote() -> None:
    tool = Tool(name="p", description="d", backend="python")
    assert ToolTrust().problem(tool) is None


def test_secret_values_come_only_from_the_declared_setting() -> None:
    environ = {"CRM_API_KEY": "k-1", "OPENAI_API_KEY": "never"}
    assert TRUST.secret_value("crm-key", environ) == "k-1"
    assert TRUST.secret_value("OPENAI_API_KEY", environ) is None


@pytest.mark.parametrize(
    ("secrets", "scopes", "message"),
    [
        pytest.param("[1]", "", "TOOL_SECRETS must be a JSON object", id="not-object"),
        pytest.param("{", "", "TOOL_SECRETS must be a JSON object", id="not-json"),
        pytest.param('{"a": {"setting": "A"}}', "", "needs a non-empty list of hosts", id="no-hosts"),
        pytest.param('{"a": {"hosts": ["h"]}}', "", '"setting": "APP_SETTING"', id="no-setting"),
        pytest.param('{"a": {"setting": "A", "hosts": ["h"], "x": 1}}', "", "unknown key 'x'", id="extra"),
        pytest.param("", '{"api://x/.default": []}', "TOOL_TOKEN_SCOPES", id="scope-no-hosts"),
    ],
)
def test_bad_declarations_name_the_setting(secrets: str, scopes: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        ToolTrust.from_settings(secrets=secrets, scopes=scopes)


@pytest.mark.parametrize(
    ("backend", "config", "field"),
    [
        pytest.param("http", {"method": "GET", "verb": "x"}, "backend_config.verb", id="unknown-key"),
        pytest.param("http", {"method": "BREW"}, "backend_config.method", id="bad-method"),
        pytest.param("http", {"server_url": "/relative"}, "backend_config.server_url", id="relative"),
        pytest.param(
            "http", {"server_url": "https://u:p@h.example"}, "backend_config.server_url", id="userinfo"
        ),
        pytest.param("http", {"parameters": {"a": "matrix"}}, "backend_config.parameters.a", id="location"),
        pytest.param(
            "http",
            {"auth": {"type": "app_setting_key", "header": "X-Leak", "setting": "OPENAI_API_KEY"}},
            "backend_config.auth.type",
            id="app-setting-key-is-gone",
        ),
        pytest.param("http", {"auth": {"type": "secret"}}, "backend_config.auth.secret", id="secret-unnamed"),
        pytest.param(
            "http",
            {"auth": {"type": "secret", "secret": "k", "header": "Host"}},
            "backend_config.auth.header",
            id="reserved-header",
        ),
        pytest.param(
            "http",
            {"auth": {"type": "secret", "secret": "k", "prefix": "a\r\nb"}},
            "backend_config.auth.prefix",
            id="prefix-line-break",
        ),
        pytest.param(
            "mcp",
            {"auth": {"type": "managed_identity", "scope": "s", "setting": "X"}},
            "backend_config.auth.setting",
            id="extra-auth-key",
        ),
        pytest.param(
            "mcp", {"auth": {"type": "managed_identity"}}, "backend_config.auth.scope", id="no-scope"
        ),
        pytest.param("mcp", {"command": "sh"}, "backend_config.command", id="mcp-unknown"),
        pytest.param("skill", {"code": "x", "shell": True}, "backend_config.shell", id="skill-unknown"),
    ],
)
def test_backend_config_shapes_are_checked_when_a_tool_is_made(
    backend: str, config: dict[str, Any], field: str
) -> None:
    with pytest.raises(ToolValidationError) as info:
        Tool(name="t", description="d", backend=backend, backend_config=config)
    assert info.value.field == field
