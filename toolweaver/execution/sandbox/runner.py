"""``LocalSandboxRunner``: the ``CodeRunner`` that runs each program in a fresh confined process.

    precheck     AST check: an early, readable ``rejected`` (not a boundary)
    zygote       a clean interpreter, started once with an empty environment, that forks one
                 child per run (fresh: no child is reused, no state is shared between runs)
    child        confines itself (fds, rlimits, root dropped, seccomp) before it reads the code
    session      the host side of the run: frames, tool calls, wall clock, outcome
    reaping      the zygote SIGKILLs the child's group and reaps it before the run returns

A remote runner (a session pool) would implement the same ``CodeRunner`` port and can reuse
``precheck`` and the frame protocol; it is not implemented here.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass

from toolweaver.execution.ports import RunLimits, RunOutcome, ToolInvoker

from .precheck import precheck
from .session import Channel, RunSession
from .zygote_process import SandboxUnavailable, ZygoteProcess

log = logging.getLogger(__name__)

MAX_TOOL_NAME = 128


@dataclass(frozen=True)
class SandboxHealth:
    """What a health endpoint can show: is the zygote up, is the seccomp filter on."""

    zygote_pid: int | None
    seccomp_active: bool | None  # None until the zygote has started
    seccomp_detail: str
    runs: int
    workdir: str | None  # the zygote's folder; each run gets an empty folder inside it
    child_uid: int | None  # the uid programs ran as in the last run (65534 when root dropped)


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _validate(tool_names: Sequence[str], limits: RunLimits) -> None:
    for name in tool_names:
        if not isinstance(name, str) or not name or len(name) > MAX_TOOL_NAME or not _encodable(name):
            raise ValueError(f"invalid tool name {name!r}")
    if limits.timeout_s <= 0 or limits.max_tool_calls < 0 or limits.max_output_bytes < 1024:
        raise ValueError(f"invalid run limits {limits}")
    if not 64 <= limits.memory_mb <= 64 * 1024 or not 1 <= limits.cpu_s <= 3600:
        raise ValueError(f"invalid run limits {limits}: memory_mb 64..65536, cpu_s 1..3600")


class LocalSandboxRunner:
    """Runs untrusted programs in child processes of a local zygote.

    ``require_seccomp``: refuse to run a program when the filter is not active (a run then ends
    with status ``error``); production should set it where the kernel allows seccomp.
    ``seccomp=False`` never loads the filter (diagnostics, tests of the fallback).
    ``ast_precheck=False`` skips the AST check: only for tests that show the process boundary
    holds on its own.
    """

    def __init__(
        self,
        *,
        require_seccomp: bool = False,
        seccomp: bool = True,
        ast_precheck: bool = True,
        python: str | None = None,
    ) -> None:
        self._zygote = ZygoteProcess(python=python, seccomp=seccomp)
        self._require_seccomp = require_seccomp
        self._ast_precheck = ast_precheck
        self._seccomp: tuple[bool | None, str] = (None, "the zygote has not started")
        self._warned = False
        self._child_uid: int | None = None
        self._runs = 0

    async def start(self) -> SandboxHealth:
        """Start the zygote now rather than on the first run."""
        await self._ensure_zygote()
        return self.health()

    def close(self) -> None:
        """Stop the zygote (it kills any child still running)."""
        self._zygote.stop()

    def __enter__(self) -> LocalSandboxRunner:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def health(self) -> SandboxHealth:
        hello = self._zygote.hello if self._zygote.alive else None
        pid = hello.get("pid") if hello else None
        root = hello.get("root") if hello else None
        return SandboxHealth(
            zygote_pid=pid if isinstance(pid, int) else None,
            seccomp_active=self._seccomp[0],
            seccomp_detail=self._seccomp[1],
            runs=self._runs,
            workdir=root if isinstance(root, str) else None,
            child_uid=self._child_uid,
        )

    def _note_seccomp(self, active: bool, detail: str) -> None:
        self._seccomp = (active, detail)
        if not active and not self._warned:
            self._warned = True
            log.warning("sandbox: seccomp filter is OFF (%s); children run with rlimits only", detail)

    async def _ensure_zygote(self) -> None:
        if not self._zygote.alive:
            hello = await asyncio.to_thread(self._zygote.start)
            self._note_seccomp(hello.get("seccomp") is True, str(hello.get("why", "")))

    async def _spawn(self, limits: RunLimits) -> tuple[Channel, socket.socket, int | None]:
        """A child's run channel and status socket, and the pid of the zygote that forked it."""
        for attempt in (1, 2):
            await self._ensure_zygote()
            zygote = self._zygote.pid
            try:
                run_sock, status_sock = self._zygote.spawn(limits.memory_mb, limits.cpu_s)
                break
            except SandboxUnavailable:
                if attempt == 2:
                    raise
        run = Channel(*await asyncio.open_unix_connection(sock=run_sock))
        status_sock.setblocking(False)
        return run, status_sock, zygote

    async def run(
        self, code: str, *, tools: ToolInvoker, tool_names: Sequence[str], limits: RunLimits
    ) -> RunOutcome:
        started = time.monotonic()
        _validate(tool_names, limits)
        self._runs += 1
        reason: str | None = None
        if not _encodable(code):
            reason = "the program is not valid Unicode (lone surrogate)"
        elif self._ast_precheck and (rejection := precheck(code)) is not None:
            reason = str(rejection)
        if reason is not None:
            elapsed = round((time.monotonic() - started) * 1000, 3)
            return RunOutcome("rejected", error=reason, duration_ms=elapsed)
        try:
            run, status, zygote = await self._spawn(limits)
        except SandboxUnavailable as exc:
            log.error("sandbox: %s", exc)
            elapsed = round((time.monotonic() - started) * 1000, 3)
            return RunOutcome("error", error=f"sandbox unavailable: {exc}", duration_ms=elapsed)
        session = RunSession(
            code=code,
            tools=tools,
            tool_names=tool_names,
            limits=limits,
            run=run,
            status=status,
            started=started,
            require_seccomp=self._require_seccomp,
        )
        outcome = await session.run()
        if session.seccomp is not None:
            self._note_seccomp(*session.seccomp)
            self._child_uid = session.child_uid
        if session.exit_missing:
            self._zygote.discard(zygote)  # a hung zygote; the next run starts a new one
        return outcome
