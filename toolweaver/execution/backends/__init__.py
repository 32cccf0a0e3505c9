"""Tool backends: how a catalog tool is reached (python, http, mcp).

Only the protocol and the shared error helpers load here; each backend module imports its own
client library (httpx, mcp) when it is imported, so a process pays only for the backends it uses.
"""

from __future__ import annotations

from toolweaver.execution.backends.base import Backend, RetryLaterError, excerpt

__all__ = ["Backend", "RetryLaterError", "excerpt"]
