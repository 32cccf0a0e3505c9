"""The app's Azure identity, for tool backends and the planner's model that call Azure-protected APIs.

Imported lazily: the core never imports azure-identity itself, it receives these factories.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


def credential_factory(client_id: str | None) -> Callable[[], Any]:
    """A factory for DefaultAzureCredential, using the user-assigned identity ``client_id`` in Azure."""

    def build() -> Any:
        from azure.identity import DefaultAzureCredential

        return DefaultAzureCredential(managed_identity_client_id=client_id or None)

    return build


def bearer_token_provider(credential: Callable[[], Any], scope: str) -> Callable[[], str]:
    """A synchronous provider of bearer tokens for ``scope`` from ``credential()``, built on first use.

    azure-identity's ``get_bearer_token_provider`` caches the token and refreshes it before it
    expires; it duck-types the credential (``get_token(*scopes)`` returning ``.token`` and
    ``.expires_on``). The planner gets this provider, so the core never imports azure-identity.
    """
    lock = threading.Lock()
    built: list[Callable[[], str]] = []

    def token() -> str:
        with lock:
            if not built:
                from azure.identity import get_bearer_token_provider

                built.append(get_bearer_token_provider(credential(), scope))
            provider = built[0]
        return provider()

    return token
