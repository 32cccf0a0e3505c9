"""Loopback ports for the test servers: one bound before the server starts, or one known to be closed."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Generic, TypeVar

from aiohttp import web

StateT = TypeVar("StateT")


@dataclass
class Running(Generic[StateT]):
    """A test server that is up: where to reach it, and what it has seen."""

    url: str
    state: StateT


def bound_socket() -> tuple[socket.socket, int]:
    """A TCP socket bound to a free port on 127.0.0.1 (no race: the server adopts the socket)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    return sock, int(sock.getsockname()[1])


def closed_port() -> int:
    """A port nothing listens on (it was free a moment ago): for connection-refused tests."""
    sock, port = bound_socket()
    sock.close()
    return port


@contextmanager
def serving(app: web.Application, name: str) -> Iterator[str]:
    """Serve ``app`` on a free loopback port from a thread of its own; yields its base URL.

    Handlers stop when their client goes away (a timeout test does not hold the shutdown).
    """
    sock, port = bound_socket()
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(app, handle_signals=False, handler_cancellation=True)
    ready = threading.Event()

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(runner.setup())
        loop.run_until_complete(web.SockSite(runner, sock).start())
        ready.set()
        loop.run_forever()
        loop.run_until_complete(runner.cleanup())
        loop.close()

    thread = threading.Thread(target=serve, name=name, daemon=True)
    thread.start()
    if not ready.wait(10):
        raise RuntimeError(f"the {name} test server did not start")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
