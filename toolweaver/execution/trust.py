"""The operator's decisions about what http and mcp tools may reach and carry.

A tool never chooses which secret or token it carries, or where it connects:

- ``TOOL_SECRETS`` declares each secret a tool may name, the app setting that holds it (in Azure
  that setting may be a Key Vault reference) and the hosts it may be sent to::

      {"crm-key": {"setting": "CRM_API_KEY", "hosts": ["crm.northwind.example"]}}

- ``TOOL_TOKEN_SCOPES`` declares each Entra ID token scope a tool may ask the app's identity for,
  and the hosts the token may be sent to::

      {"api://crm/.default": ["crm.northwind.example"]}

- ``TOOL_ALLOWED_HOSTS`` and ``TOOL_PRIVATE_NETWORKS`` bound where any tool connects
  (``toolweaver.execution.egress``).

``ToolTrust.problem`` is asked when a tool is written (the API answers 422 naming the field and
the allowed values) and again before every call (the call fails as a tool error), so a catalog
written before a policy change cannot keep what the operator took away.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from toolweaver.catalog.model import Tool
from toolweaver.errors import ConfigError, ToolValidationError
from toolweaver.execution.egress import EgressPolicy, HostPattern

REMOTE_BACKENDS = ("http", "mcp")


@dataclass(frozen=True)
class Grant:
    """One declared secret or token scope: what it is called and where it may go."""

    name: str
    hosts: tuple[HostPattern, ...]
    setting: str = ""  # secrets only: the app setting holding the value

    def allows(self, host: str, port: int) -> bool:
        return any(pattern.matches(host, port) for pattern in self.hosts)


@dataclass(frozen=True)
class ToolTrust:
    egress: EgressPolicy = field(default_factory=EgressPolicy)
    secrets: Mapping[str, Grant] = field(default_factory=dict)
    scopes: Mapping[str, Grant] = field(default_factory=dict)

    @classmethod
    def from_settings(
        cls, *, allowed_hosts: str = "", private_networks: str = "", secrets: str = "", scopes: str = ""
    ) -> ToolTrust:
        return cls(
            EgressPolicy.from_settings(allowed_hosts, private_networks),
            _parse_secrets(secrets),
            _parse_scopes(scopes),
        )

    def problem(self, tool: Tool) -> tuple[str, str] | None:
        """Why the operator's policy forbids ``tool`` as ``(field, message)``, or None."""
        if tool.backend not in REMOTE_BACKENDS:
            return None
        config = tool.backend_config
        url = config.get("server_url")
        if isinstance(url, str):
            url_problem = self.egress.url_problem(url)
            if url_problem is not None:
                return "backend_config.server_url", url_problem
        auth = config.get("auth")
        if not isinstance(auth, Mapping) or auth.get("type", "none") == "none":
            return None
        return self._credential_problem(auth, url)

    def _credential_problem(self, auth: Mapping[str, Any], url: Any) -> tuple[str, str] | None:
        declared, key, setting = (
            (self.secrets, "secret", "TOOL_SECRETS")
            if auth.get("type") == "secret"
            else (self.scopes, "scope", "TOOL_TOKEN_SCOPES")
        )
        name = str(auth.get(key, ""))
        grant = declared.get(name)
        if grant is None:
            known = ", ".join(sorted(declared)) or "none"
            return (
                f"backend_config.auth.{key}",
                f"{name[:64]!r} is not declared in {setting}; declared: {known}",
            )
        if not isinstance(url, str):
            return "backend_config.server_url", f"a tool that carries a {key} needs its server_url"
        parts = urlsplit(url)
        host, port = parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)
        if grant.allows(host, port):
            return None
        hosts = ", ".join(p.host + (f":{p.port}" if p.port else "") for p in grant.hosts)
        return (
            "backend_config.server_url",
            f"the {key} {name!r} may only be sent to {hosts} ({setting}), not to {host}:{port}",
        )

    def check(self, tool: Tool) -> None:
        """Raise ToolValidationError (HTTP 422) when the policy forbids ``tool``."""
        found = self.problem(tool)
        if found is not None:
            raise ToolValidationError(tool.name, *found)

    def secret_value(self, name: str, environ: Mapping[str, str]) -> str | None:
        grant = self.secrets.get(name)
        if grant is None:
            return None
        return environ.get(grant.setting) or None

    def secret_setting(self, name: str) -> str:
        grant = self.secrets.get(name)
        return grant.setting if grant is not None else ""


def _load(name: str, text: str) -> dict[str, Any]:
    if not text.strip():
        return {}
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a JSON object: {exc}") from None
    if not isinstance(value, dict):
        raise ConfigError(f"{name} must be a JSON object, got {type(value).__name__}")
    return value


def _hosts(setting: str, owner: str, value: Any) -> tuple[HostPattern, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(item, str) for item in value):
        raise ConfigError(f"{setting}: {owner!r} needs a non-empty list of hosts it may be sent to")
    return tuple(HostPattern.parse(item) for item in value)


def _parse_secrets(text: str) -> dict[str, Grant]:
    grants: dict[str, Grant] = {}
    for name, entry in _load("TOOL_SECRETS", text).items():
        if not isinstance(entry, dict) or not isinstance(entry.get("setting"), str) or not entry["setting"]:
            raise ConfigError(
                f'TOOL_SECRETS: {name!r} must be {{"setting": "APP_SETTING", "hosts": ["api.example.com"]}}'
            )
        extra = sorted(set(entry) - {"setting", "hosts"})
        if extra:
            raise ConfigError(f"TOOL_SECRETS: {name!r} has unknown key {extra[0]!r}; use setting and hosts")
        grants[name] = Grant(name, _hosts("TOOL_SECRETS", name, entry.get("hosts")), entry["setting"])
    return grants


def _parse_scopes(text: str) -> dict[str, Grant]:
    return {
        scope: Grant(scope, _hosts("TOOL_TOKEN_SCOPES", scope, hosts))
        for scope, hosts in _load("TOOL_TOKEN_SCOPES", text).items()
    }
