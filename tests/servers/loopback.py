"""Loopback ports for the test servers: one bound before the server starts, or one known to be closed."""

from __future__ import annotations

import socket
from dataclasses import dataclass
from typing import Generic, TypeVar

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
