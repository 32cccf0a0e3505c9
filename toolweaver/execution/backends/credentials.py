"""The credentials a remote tool carries: a declared secret or a token of the app's identity.

Shared by the http and mcp backends, so both follow the same rules: the tool names a secret or
scope, the operator's ``ToolTrust`` says whether it is declared and for which hosts (checked by the
caller before this runs), and the value comes from the app settings or the identity, never from
the tool. Values are returned beside the headers so that error messages can blank them out.
"""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from toolweaver.catalog.model import Tool
from toolweaver.execution.backends.base import RetryLaterError
from toolweaver.execution.ports import ToolCallError
from toolweaver.execution.trust import ToolTrust

log = logging.getLogger(__name__)

TOKEN_REFRESH_MARGIN_S = 300  # refresh a bearer token this long before it expires


class TokenSource:
    """Entra ID tokens of the app's identity per scope, cached until shortly before they expire.

    ``credential`` (or ``credential_factory``, called once when first needed) is an object with
    ``get_token(scope)``, sync or async, such as azure-identity's DefaultAzureCredential.
    """

    def __init__(self, credential: Any = None, credential_factory: Callable[[], Any] | None = None) -> None:
        self._credential = credential
        self._credential_factory = credential_factory
        self._tokens: dict[str, tuple[str, float]] = {}  # scope -> (token, expires_on)

    async def token(self, tool: Tool, scope: str) -> str:
        cached = self._tokens.get(scope)
        if cached is not None and cached[1] - TOKEN_REFRESH_MARGIN_S > time.time():
            return cached[0]
        if self._credential is None and self._credential_factory is not None:
            self._credential = self._credential_factory()
        if self._credential is None:
            raise ToolCallError(
                tool.name, "managed_identity auth needs a credential, and this app was started without one"
            )
        try:
            result = self._credential.get_token(scope)
            if inspect.isawaitable(result):
                result = await result
        except Exception as exc:
            # The SDK's message can be long and name internal endpoints: report the type only.
            log.warning("getting a token for %s failed: %s", scope, type(exc).__name__)
            raise RetryLaterError(
                tool.name, f"could not get a token for {scope} ({type(exc).__name__})"
            ) from None
        self._tokens[scope] = (str(result.token), float(result.expires_on))
        return str(result.token)


async def authorization_headers(
    tool: Tool, trust: ToolTrust, environ: Mapping[str, str], tokens: TokenSource
) -> tuple[dict[str, str], list[str]]:
    """The headers that carry ``tool``'s credential, and the secret values in them."""
    auth = tool.backend_config.get("auth")
    if not isinstance(auth, Mapping) or auth.get("type", "none") == "none":
        return {}, []
    if auth.get("type") == "secret":
        name = str(auth.get("secret", ""))
        value = trust.secret_value(name, environ)
        if value is None:
            setting = trust.secret_setting(name) or "(not declared)"
            raise ToolCallError(
                tool.name, f"the declared secret {name!r} has no value: set the app setting {setting}"
            )
        if any(char in value for char in "\r\n\0"):
            raise ToolCallError(
                tool.name, f"the declared secret {name!r} holds a line break; fix its setting"
            )
        header = str(auth.get("header", "Authorization"))
        return {header: str(auth.get("prefix", "")) + value}, [value]
    token = await tokens.token(tool, str(auth.get("scope", "")))
    return {"Authorization": f"Bearer {token}"}, [token]
