"""One run, host side: the conversation with a confined child, its tool calls, and its outcome.

The session trusts nothing the child sends: each frame is size-checked before it is read,
decoded with ``json.loads`` only, shape-checked, and counted against a budget. A child that
breaks the protocol is killed. Tool calls are served concurrently, counted against
``max_tool_calls`` and handed to the ``ToolInvoker``, which validates, times and limits them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from toolweaver.execution.ports import (
    JSONValue,
    RunLimits,
    RunOutcome,
    RunStatus,
    ToolCallError,
    ToolCallRecord,
    ToolInvoker,
)

from .guest import protocol

log = logging.getLogger(__name__)

FRAME_OVERHEAD = 64 * 1024  # envelope room above max_output_bytes in one child frame
STATUS_FRAME_LIMIT = 4096
EXIT_WAIT_S = 2.0  # how long the zygote gets to report a killed child as reaped
ERROR_CHARS = 4000
CHILD_SETUP_FAILED = 70


class ProtocolViolation(Exception):
    """The child sent something the protocol does not allow: it is killed."""


@dataclass(frozen=True)
class Channel:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter


@dataclass
class _Output:
    limit: int
    parts: list[str] = field(default_factory=list)
    used: int = 0
    cut: bool = False

    def add(self, text: str) -> None:
        if self.cut:
            return
        size = len(text.encode("utf-8", "replace"))
        if self.used + size > self.limit:
            keep = text.encode("utf-8", "replace")[: self.limit - self.used].decode("utf-8", "ignore")
            self.parts.append(keep + f"\n[output cut at {self.limit} bytes]\n")
            self.cut = True
            return
        self.used += size
        self.parts.append(text)

    def text(self) -> str:
        return "".join(self.parts)


def _exit_report(data: bytes) -> dict[str, Any] | None:
    """The zygote's ``exit`` message among the frames received so far (after ``spawned``)."""
    while len(data) >= protocol.HEADER.size:
        (size,) = protocol.HEADER.unpack_from(data)
        body = data[protocol.HEADER.size : protocol.HEADER.size + size]
        if len(body) < size:
            return None
        try:
            message = protocol.decode(body)
        except protocol.FrameError:
            return None
        if message["t"] == "exit":
            return message
        data = data[protocol.HEADER.size + size :]
    return None


def _cap(text: str) -> str:
    return text if len(text) <= ERROR_CHARS else text[:ERROR_CHARS] + "… [cut]"


class RunSession:
    """Drives one child from ``ready`` to its outcome; ``run`` never raises for the child."""

    def __init__(
        self,
        *,
        code: str,
        tools: ToolInvoker,
        tool_names: Sequence[str],
        limits: RunLimits,
        run: Channel,
        status: socket.socket,
        started: float,
        require_seccomp: bool = False,
    ) -> None:
        self.code = code
        self.tools = tools
        self.tool_names = list(dict.fromkeys(tool_names))
        self.limits = limits
        self.run_channel = run
        self.status_socket = status
        self.started = started
        self.require_seccomp = require_seccomp
        self.seccomp: tuple[bool, str] | None = None
        self.child_uid: int | None = None
        self.frame_limit = limits.max_output_bytes + FRAME_OVERHEAD
        self.frames_left = 2 * limits.max_tool_calls + 256 + limits.max_output_bytes // 2048
        self.output = _Output(limits.max_output_bytes)
        self.calls_made = 0
        self.records: dict[int, ToolCallRecord] = {}
        self.tasks: set[asyncio.Task[None]] = set()
        self.write_lock = asyncio.Lock()
        self.exit_missing = False

    async def run(self) -> RunOutcome:
        try:
            return await self._run()
        except BaseException:  # cancelled by the caller: the child must not outlive the run
            self._abandon()
            raise

    def _abandon(self) -> None:
        """Without awaiting: closing the status socket makes the zygote kill and reap the child."""
        for task in self.tasks:
            task.cancel()
        self.run_channel.writer.close()
        self.status_socket.close()

    async def _run(self) -> RunOutcome:
        remaining = self.limits.timeout_s - (time.monotonic() - self.started)
        try:
            async with asyncio.timeout(max(remaining, 0.0)):
                status, payload = await self._converse()
        except TimeoutError:
            status, payload = "timeout", f"wall-clock timeout after {self.limits.timeout_s:g} s"
        except ProtocolViolation as exc:
            status, payload = "killed", f"killed by the host: protocol violation ({exc})"
        await self._stop_calls()
        exit_info = await self._kill_and_reap()
        if status == "eof":
            status, payload = self._ended_without_result(exit_info)
        return self._outcome(status, payload)

    # -- the conversation -------------------------------------------------------------------

    async def _next(self) -> dict[str, Any] | None:
        try:
            body = await protocol.read_frame(self.run_channel.reader, self.frame_limit)
        except (protocol.FrameError, OSError) as exc:
            raise ProtocolViolation(str(exc)) from None
        if body is None:
            return None
        self.frames_left -= 1
        if self.frames_left < 0:
            raise ProtocolViolation("too many messages")
        try:
            return protocol.decode(body)
        except protocol.FrameError as exc:
            raise ProtocolViolation(str(exc)) from None

    async def _converse(self) -> tuple[str, Any]:
        ready = await self._next()
        if ready is None:
            return "eof", None
        if ready["t"] != "ready" or not isinstance(ready.get("seccomp"), bool):
            raise ProtocolViolation("the first message is not 'ready'")
        self.seccomp = (ready["seccomp"], str(ready.get("why", ""))[:200])
        self.child_uid = ready["uid"] if isinstance(ready.get("uid"), int) else None
        if self.require_seccomp and not ready["seccomp"]:
            return "error", f"sandbox: the seccomp filter is not active ({self.seccomp[1]})"
        start = {
            "t": "start",
            "code": self.code,
            "tools": self.tool_names,
            "max_output": self.limits.max_output_bytes,
            "memory_mb": self.limits.memory_mb,
            "frame_limit": self.frame_limit,
        }
        await self._write(protocol.encode(start))
        while (message := await self._next()) is not None:
            kind = message["t"]
            if kind == "out" and isinstance(message.get("text"), str):
                self.output.add(message["text"])
            elif kind == "call":
                await self._on_call(message)
            elif kind == "done" and message.get("ok") is True and "result" in message:
                return "succeeded", message["result"]
            elif kind == "done" and message.get("ok") is False and isinstance(message.get("error"), str):
                return "error", message["error"]
            else:
                raise ProtocolViolation(f"unexpected message {kind[:20]!r}")
        return "eof", None

    async def _write(self, frame: bytes) -> None:
        """Send a frame; a child that has gone away is noticed by the reading side instead."""
        async with self.write_lock:
            writer = self.run_channel.writer
            if writer.is_closing():
                return
            with contextlib.suppress(ConnectionError):
                writer.write(frame)
                await writer.drain()

    # -- tool calls -------------------------------------------------------------------------

    async def _on_call(self, message: dict[str, Any]) -> None:
        call_id, name, args = message.get("id"), message.get("name"), message.get("args")
        if not isinstance(call_id, int) or not isinstance(name, str) or not isinstance(args, dict):
            raise ProtocolViolation("malformed tool call")
        if name not in self.tool_names:
            await self._reply_error(call_id, f"no tool named {name[:100]!r}", "not_found")
            return
        if self.calls_made >= self.limits.max_tool_calls:
            limit = self.limits.max_tool_calls
            await self._reply_error(call_id, f"max_tool_calls ({limit}) reached: call refused", "limit")
            return
        index = self.calls_made
        self.calls_made += 1
        # replaced when the call ends; stays if the run ends first (even before the task starts)
        self.records[index] = ToolCallRecord(name, args, False, 0.0, "cancelled: the run ended")
        task = asyncio.create_task(self._serve_call(index, call_id, name, args))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _reply_error(self, call_id: int, error: str, kind: str, retryable: bool = False) -> None:
        message = {"t": "ret", "id": call_id, "ok": False, "error": error, "kind": kind}
        await self._write(protocol.encode({**message, "retryable": retryable}))

    async def _serve_call(self, index: int, call_id: int, name: str, args: dict[str, JSONValue]) -> None:
        began = time.monotonic()

        def record(ok: bool, error: str | None = None) -> None:
            elapsed = (time.monotonic() - began) * 1000
            self.records[index] = ToolCallRecord(name, args, ok, round(elapsed, 3), error)

        try:
            value = await self.tools.invoke(name, args)
        except ToolCallError as exc:
            record(False, str(exc))
            await self._reply_error(call_id, str(exc), exc.kind, exc.retryable)
            return
        except asyncio.CancelledError:
            record(False, "cancelled: the run ended")
            raise
        except Exception:
            log.exception("sandbox: tool %r failed unexpectedly", name)
            record(False, "internal error")
            await self._reply_error(call_id, f"tool {name!r}: internal error", "error")
            return
        try:
            frame = protocol.encode({"t": "ret", "id": call_id, "ok": True, "value": value})
        except (TypeError, ValueError, RecursionError):
            frame = b""
        if not frame or len(frame) > protocol.HOST_FRAME_LIMIT:
            record(False, "result is not JSON or too large")
            await self._reply_error(call_id, f"tool {name!r}: result is not JSON or too large", "error")
            return
        record(True)
        await self._write(frame)

    async def _stop_calls(self) -> None:
        pending = list(self.tasks)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=1.0)

    # -- the end ----------------------------------------------------------------------------

    async def _kill_and_reap(self) -> dict[str, Any] | None:
        """Ask the zygote to SIGKILL the child's group (a no-op once it exited); its report.

        Plain socket calls, not a stream: the zygote may have reported and closed already, and
        then the kill request meets a closed socket; the report already received still counts.
        """
        self.run_channel.writer.close()
        loop, sock = asyncio.get_running_loop(), self.status_socket
        received = b""
        try:
            with contextlib.suppress(OSError):
                await loop.sock_sendall(sock, b"k")
            async with asyncio.timeout(EXIT_WAIT_S):
                while len(received) < STATUS_FRAME_LIMIT:
                    try:
                        chunk = await loop.sock_recv(sock, STATUS_FRAME_LIMIT)
                    except OSError:
                        chunk = b""
                    received += chunk
                    if (report := _exit_report(received)) is not None or not chunk:
                        self.exit_missing = report is None
                        return report
        except TimeoutError:
            pass
        finally:
            sock.close()
        self.exit_missing = True
        return None

    def _ended_without_result(self, exit_info: dict[str, Any] | None) -> tuple[str, str]:
        """Why a child that closed its channel without a ``done`` message ended."""
        if exit_info is None:
            return "error", "sandbox: the child ended and its exit was not reported"
        if isinstance(exit_info.get("error"), str):
            return "error", f"sandbox: {exit_info['error']}"
        signum, code = exit_info.get("signal"), exit_info.get("code")
        if isinstance(signum, int):
            return "killed", self._signal_reason(signum, exit_info.get("cpu_s"), exit_info)
        if code == CHILD_SETUP_FAILED:
            return "error", "sandbox: the child could not confine itself"
        return "error", f"the program ended without a result (exit code {code})"

    def _signal_reason(self, signum: int, cpu_s: Any, exit_info: dict[str, Any]) -> str:
        try:
            name = signal.Signals(signum).name
        except ValueError:
            name = f"signal {signum}"
        used = float(cpu_s) if isinstance(cpu_s, int | float) else 0.0
        if signum == signal.SIGXCPU or (signum == signal.SIGKILL and used >= self.limits.cpu_s):
            return f"killed by {name}: CPU time limit ({self.limits.cpu_s} s, used {used:.2f} s)"
        if signum == signal.SIGKILL and exit_info.get("killed_by_host") is True:
            return "killed by the host: the program closed its channel without a result"
        if signum == signal.SIGSEGV:
            return f"killed by {name} (a crash, or the stack or address-space limit)"
        return f"killed by {name}"

    def _outcome(self, status: str, payload: Any) -> RunOutcome:
        calls = tuple(self.records[i] for i in sorted(self.records))
        duration = round((time.monotonic() - self.started) * 1000, 3)
        stdout = self.output.text()
        if status == "succeeded":
            return RunOutcome("succeeded", payload, stdout, None, calls, duration)
        return RunOutcome(cast(RunStatus, status), None, stdout, _cap(str(payload)), calls, duration)
