"""The app's Azure identity, for tool backends that call Azure-protected APIs.

Imported lazily: the execution core never imports azure-identity itself, it receives this factory.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def credential_factory(client_id: str | None) -> Callable[[], Any]:
    """A factory for DefaultAzureCredential, using the user-assigned identity ``client_id`` in Azure."""

    def build() -> Any:
        from azure.identity import DefaultAzureCredential

        return DefaultAzureCredential(managed_identity_client_id=client_id or None)

    return build
