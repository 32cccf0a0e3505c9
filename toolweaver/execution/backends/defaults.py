"""The app's backends, built from Settings: python (the registries), http and mcp.

The composition root calls ``default_backends`` once per process and hands the result to
``ToolExecutor.from_settings``. Nothing heavy loads here: the http backend (httpx) is built on its
first call, and the mcp backend imports the SDK only when it discovers or calls.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from toolweaver.catalog.model import Tool
from toolweaver.execution.backends.base import Backend
from toolweaver.execution.backends.credentials import TokenSource
from toolweaver.execution.backends.mcp import McpBackend
from toolweaver.execution.backends.python import PythonBackend, ToolRegistry
from toolweaver.execution.ports import JSONValue
from toolweaver.execution.trust import ToolTrust
from toolweaver.settings import Settings
from toolweaver.storage.cache import BlobCache


class LazyBackend:
    """A Backend built by ``factory`` on its first call (and then reused)."""

    def __init__(self, factory: Callable[[], Backend]) -> None:
        self._factory = factory
        self._backend: Backend | None = None

    async def call(self, tool: Tool, arguments: dict[str, Any]) -> JSONValue:
        if self._backend is None:
            self._backend = self._factory()
        return await self._backend.call(tool, arguments)


def default_backends(
    settings: Settings,
    *,
    environ: Mapping[str, str] | None = None,
    credential_factory: Callable[[], Any] | None = None,
    discovery_cache: BlobCache | None = None,
    registries: Sequence[ToolRegistry] | None = None,
    trust: ToolTrust | None = None,
) -> dict[str, Backend]:
    """``{"python": ..., "http": ..., "mcp": ...}`` with TOOL_TIMEOUT and MAX_TOOL_RESPONSE_BYTES.

    ``environ`` holds the app settings that declared secrets (TOOL_SECRETS) name (default: the
    process environment); ``trust`` (default: built from the TOOL_* settings) bounds both remote backends;
    ``credential_factory`` makes the token credential for managed-identity auth (azure-identity's
    DefaultAzureCredential in Azure: the execution core imports no Azure SDK).
    ``registries`` default to the demo tools.
    """
    if registries is None:
        from toolweaver.execution.demo_tools import DEMO_TOOLS

        registries = (DEMO_TOOLS,)
    settings_env = os.environ if environ is None else environ
    trust = trust if trust is not None else tool_trust(settings)
    tokens = TokenSource(credential_factory=credential_factory)

    def http() -> Backend:
        from toolweaver.execution.backends.http import HttpBackend

        return HttpBackend(
            trust=trust,
            environ=settings_env,
            tokens=tokens,
            timeout_s=settings.tool_timeout,
            max_response_bytes=settings.max_tool_response_bytes,
        )

    mcp = McpBackend(
        trust=trust,
        environ=settings_env,
        tokens=tokens,
        timeout_s=settings.tool_timeout,
        discovery_cache=discovery_cache,
    )
    return {"python": PythonBackend(*registries), "http": LazyBackend(http), "mcp": mcp}


def tool_trust(settings: Settings) -> ToolTrust:
    """The operator's policy for remote tools, from the TOOL_* settings (ConfigError names a bad one)."""
    return ToolTrust.from_settings(
        allowed_hosts=settings.tool_allowed_hosts,
        private_networks=settings.tool_private_networks,
        secrets=settings.tool_secrets,
        scopes=settings.tool_token_scopes,
    )
