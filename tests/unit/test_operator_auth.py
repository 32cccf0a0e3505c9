"""The operator credential: the admin level, or an Entra ID app role the platform vouches for."""

from __future__ import annotations

import base64
import json
from typing import Any

import azure.functions as func
import pytest

from toolweaver.api.auth import operator_refusal, principal_roles
from toolweaver.api.http import ApiRequest
from toolweaver.functions.http import to_api_request

ROLE = "ToolWeaver.Admin"


def principal(*roles: str, role_typ: str = "roles") -> str:
    claims = [{"typ": role_typ, "val": role} for role in roles] + [{"typ": "name", "val": "ada"}]
    document = {"auth_typ": "aad", "claims": claims, "role_typ": role_typ}
    return base64.b64encode(json.dumps(document).encode()).decode()


@pytest.mark.parametrize(
    ("header", "roles"),
    [
        pytest.param(principal(ROLE), {ROLE}, id="roles-claim"),
        pytest.param(
            principal(ROLE, role_typ="http://schemas.microsoft.com/ws/2008/06/identity/claims/role"),
            {ROLE},
            id="role-claim-type",
        ),
        pytest.param(principal("Reader"), {"Reader"}, id="another-role"),
        pytest.param("not base64!", set(), id="garbage"),
        pytest.param(base64.b64encode(b"[1, 2]").decode(), set(), id="not-an-object"),
        pytest.param("", set(), id="absent"),
    ],
)
def test_principal_roles(header: str, roles: set[str]) -> None:
    assert principal_roles({"x-ms-client-principal": header}) == roles


@pytest.mark.parametrize(
    ("mode", "operator", "roles", "allowed"),
    [
        pytest.param("admin_key", True, frozenset(), True, id="admin-level"),
        pytest.param("admin_key", False, frozenset({ROLE}), False, id="role-ignored-in-key-mode"),
        pytest.param("entra", False, frozenset({ROLE}), True, id="entra-role"),
        pytest.param("entra", False, frozenset({ROLE + "x"}), False, id="role-one-char-off"),
        pytest.param("entra", False, frozenset({"Reader"}), False, id="other-role"),
        pytest.param("entra", False, frozenset(), False, id="caller-key-only"),
    ],
)
def test_operator_refusal(mode: str, operator: bool, roles: frozenset[str], allowed: bool) -> None:
    request = ApiRequest("PUT", "/api/tools/x", operator=operator, principal_roles=roles)
    refusal = operator_refusal(request, mode=mode, role=ROLE)
    assert (refusal is None) is allowed
    if refusal is not None:
        assert refusal.status == 403 and refusal.content_type == "application/problem+json"
        detail = json.loads(refusal.body)["detail"]
        assert (ROLE in detail) if mode == "entra" else ("master key" in detail)


@pytest.mark.parametrize(
    ("auth_enabled", "expected"),
    [
        pytest.param("True", frozenset({ROLE}), id="platform-signed"),
        pytest.param("", frozenset(), id="forged"),
    ],
)
def test_the_principal_header_counts_only_when_the_platform_wrote_it(
    monkeypatch: pytest.MonkeyPatch, auth_enabled: str, expected: frozenset[str]
) -> None:
    monkeypatch.setenv("WEBSITE_AUTH_ENABLED", auth_enabled)
    headers: dict[str, Any] = {"x-ms-client-principal": principal(ROLE)}
    request = func.HttpRequest("PUT", "http://localhost/api/tools/x", headers=headers, body=b"")
    assert to_api_request(request).principal_roles == expected
    assert to_api_request(request).operator is False  # only an admin-level function proves the key
