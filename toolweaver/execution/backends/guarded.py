"""HTTP transports that connect only where the egress policy allows, checked at connect time.

httpx (http tools) and httpx2 (the mcp SDK's client) both open connections through an httpcore
network backend. We wrap that backend: the host name is checked against TOOL_ALLOWED_HOSTS, the
name is resolved here, every address is checked, and the connection goes to an allowed address.
The TLS handshake still uses the host name, so certificates are verified as usual. Proxies from
the environment are ignored (``trust_env=False``): they would move the connect out of our sight.
"""

from __future__ import annotations

import asyncio
import socket
from types import ModuleType
from typing import Any

from toolweaver.execution.egress import EgressDenied, EgressPolicy, allowed_addresses


class GuardedNetworkBackend:
    """An httpcore network backend that refuses connections the policy does not allow."""

    def __init__(self, inner: Any, policy: EgressPolicy, connect_error: type[Exception]) -> None:
        self._inner = inner
        self.policy = policy
        self._connect_error = connect_error

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> Any:
        problem = self.policy.host_problem(host, port)
        if problem is not None:
            raise EgressDenied(problem)
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise self._connect_error(f"could not resolve {host}: {exc}") from exc
        last: Exception | None = None
        for address in allowed_addresses(self.policy, infos):
            try:
                return await self._inner.connect_tcp(
                    address, port, timeout=timeout, local_address=local_address, socket_options=socket_options
                )
            except self._connect_error as exc:
                last = exc
        raise last if last is not None else EgressDenied(f"no address of {host} could be reached")

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Any = None
    ) -> Any:
        raise EgressDenied("tools may not connect to local sockets")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def _guard(transport: Any, core: ModuleType, policy: EgressPolicy) -> Any:
    # The transport builds its pool with the default backend; the pool hands that backend to each
    # connection it opens, so replacing it here guards every connection of this transport.
    pool = transport._pool
    pool._network_backend = GuardedNetworkBackend(pool._network_backend, policy, core.ConnectError)
    return transport


def guarded_httpx_transport(policy: EgressPolicy, **options: Any) -> Any:
    """An ``httpx.AsyncHTTPTransport`` under ``policy`` (for the http backend's pooled client)."""
    import httpcore
    import httpx

    return _guard(httpx.AsyncHTTPTransport(trust_env=False, **options), httpcore, policy)


def guarded_httpx2_client(policy: EgressPolicy, *, headers: dict[str, str], timeout_s: float) -> Any:
    """An ``httpx2.AsyncClient`` under ``policy`` (the mcp SDK's client library)."""
    import httpcore2
    import httpx2

    transport = _guard(httpx2.AsyncHTTPTransport(trust_env=False), httpcore2, policy)
    return httpx2.AsyncClient(
        transport=transport,
        headers=headers,
        timeout=httpx2.Timeout(timeout_s, read=max(timeout_s, 30.0)),
        follow_redirects=False,
        trust_env=False,
    )
