"""A sandboxed child, from the moment the zygote forks it until ``os._exit``.

    confine   descriptors, session, rlimits, root dropped, parent-death signal
    loop      the asyncio loop (its epoll and self-pipe need syscalls the filter denies)
    seccomp   the filter from the zygote, loaded; its state goes to the host in ``ready``
    program   the ``start`` frame is read only now: no program text exists before confinement

The child never returns to the zygote's code and never reuses anything of another run: it is
forked fresh from a zygote that runs no program, and it exits when its run ends.
"""

from __future__ import annotations

import asyncio
import os
import socket
from typing import Any, NoReturn

from . import confine, program
from .seccomp_filter import Filter

EXIT_OK = 0
EXIT_SETUP_FAILED = 70
EXIT_PROTOCOL = 71


async def _serve(sock: socket.socket, seccomp: tuple[bool, str]) -> int:
    reader, writer = await asyncio.open_unix_connection(sock=sock)
    link = program.Link(reader, writer)
    link.send({"t": "ready", "seccomp": seccomp[0], "why": seccomp[1], "uid": os.getuid()})
    start = await link.receive()
    if start is None or not _valid_start(start):
        return EXIT_PROTOCOL
    pump = asyncio.create_task(link.pump())
    frame = await program.execute(link, start)
    pump.cancel()
    writer.write(frame)
    writer.close()  # sends what is buffered first: drain() alone may leave the end unsent
    await writer.wait_closed()
    return EXIT_OK


def _valid_start(message: dict[str, Any]) -> bool:
    return (
        message["t"] == "start"
        and isinstance(message.get("code"), str)
        and isinstance(message.get("tools"), list)
        and all(isinstance(name, str) for name in message["tools"])
        and isinstance(message.get("max_output"), int)
        and isinstance(message.get("memory_mb"), int)
        and isinstance(message.get("frame_limit"), int)
    )


def _load_filter(seccomp: Filter | None, why: str) -> tuple[bool, str]:
    if seccomp is None:
        return False, why
    try:
        seccomp.load()
    except OSError as exc:
        return False, f"the kernel refused the filter: {exc}"
    return True, "active"


def main(
    channel_fd: int,
    workdir: str,
    limits: confine.ChildLimits,
    zygote_pid: int,
    seccomp: tuple[Filter | None, str],
) -> NoReturn:
    """Confine this process, run the program the host sends, exit. Never returns."""
    code = EXIT_SETUP_FAILED
    try:
        confine.reset_signals()
        confine.keep_only_channel(channel_fd)
        os.setsid()
        os.chdir(workdir)
        confine.apply_limits(limits)
        confine.drop_root()
        confine.die_with_parent(zygote_pid)
        sock = socket.socket(fileno=confine.CHANNEL_FD)
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        state = _load_filter(*seccomp)
        code = loop.run_until_complete(_serve(sock, state))
    except BaseException:  # the exit code is the report: stderr is /dev/null by now
        code = EXIT_SETUP_FAILED
    os._exit(code)
