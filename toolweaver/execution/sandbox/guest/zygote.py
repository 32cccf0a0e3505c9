"""The zygote: a clean interpreter that forks one confined child per run and reaps it.

It is started by the host with ``python -I -B boot.py`` and an empty environment, so it holds no
secret of the host's; it never runs a program itself. It imports everything a child may need
(the program's allowed modules among them) before any fork, because a child cannot open files
once its filter is loaded.

Host -> zygote, on the control socket (SOCK_SEQPACKET): ``{"memory_mb", "cpu_s"}`` plus two
descriptors: the child's end of the run channel and the zygote's end of a status socket.
Zygote -> host on the status socket (framed like the run channel): ``spawned {pid}`` once, then
``exit {code, signal, cpu_s, maxrss_kb}`` after it has reaped the child. Anything the host writes
on the status socket, or closing it, makes the zygote SIGKILL the child's process group; the
zygote reaps its children itself, so a pid is never signalled after it could be reused.
Closing the control socket (the host exited) kills every child and ends the zygote.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import selectors
import shutil
import signal
import socket
import tempfile
from dataclasses import dataclass
from typing import Any

from . import child, confine, protocol, seccomp_filter

PRELOAD = (
    "math", "json", "re", "datetime", "statistics", "itertools", "functools", "collections",
    "collections.abc", "random", "string", "decimal", "fractions", "asyncio", "heapq", "bisect",
    "_strptime", "copy", "operator", "encodings.idna", "encodings.latin_1", "encodings.ascii",
    "encodings.utf_16", "encodings.utf_32", "encodings.unicode_escape",
)  # fmt: skip
MEMORY_MB = (64, 64 * 1024)
CPU_S = (1, 3600)


@dataclass
class _Child:
    status: socket.socket
    workdir: str
    killed: bool = False  # the host's kill request found it still running


def preload() -> None:
    """Import and warm up what children use: after the filter, nothing can be loaded."""
    import importlib
    import time

    for name in PRELOAD:
        importlib.import_module(name)
    time.localtime()  # reads the time zone file once, here


def _limits(request: Any) -> confine.ChildLimits | None:
    if not isinstance(request, dict):
        return None
    memory, cpu = request.get("memory_mb"), request.get("cpu_s")
    if not isinstance(memory, int) or not isinstance(cpu, int):
        return None
    if not (MEMORY_MB[0] <= memory <= MEMORY_MB[1] and CPU_S[0] <= cpu <= CPU_S[1]):
        return None
    return confine.ChildLimits(memory_mb=memory, cpu_s=cpu)


def _send(sock: socket.socket, message: dict[str, Any]) -> None:
    # OSError: the host stopped listening; it will learn nothing more about this run
    with contextlib.suppress(OSError):
        sock.sendall(protocol.encode(message))


class Zygote:
    def __init__(self, control: socket.socket, *, seccomp: bool = True) -> None:
        self.control = control
        self.selector = selectors.PollSelector()  # no kernel object a child could share
        self.wake_r, self.wake_w = socket.socketpair()
        self.wake_r.setblocking(False)
        self.wake_w.setblocking(False)
        self.children: dict[int, _Child] = {}
        # one folder per zygote, one empty folder per run inside it: whoever stops the zygote
        # (or finds it dead) removes everything at once
        self.root = tempfile.mkdtemp(prefix="tw-sandbox-")
        self.seccomp = seccomp_filter.build() if seccomp else (None, "disabled by configuration")

    def hello(self) -> dict[str, Any]:
        active, why = self.probe_seccomp()
        return {"t": "hello", "pid": os.getpid(), "seccomp": active, "why": why, "root": self.root}

    def probe_seccomp(self) -> tuple[bool, str]:
        """Load the filter in a throwaway child and check that it denies ``socket``."""
        built, why = self.seccomp
        if built is None:
            return False, why
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the probe child
            try:
                built.load()
            except OSError:
                os._exit(1)
            try:
                socket.socket().close()
            except PermissionError:
                os._exit(0)
            except OSError:
                os._exit(3)
            os._exit(2)
        _, status = os.waitpid(pid, 0)
        code = os.waitstatus_to_exitcode(status)
        reasons = {0: "active", 1: "the kernel refused the filter", 2: "the filter did not deny socket"}
        return code == 0, reasons.get(code, f"probe failed (exit {code})")

    def serve(self) -> None:
        signal.set_wakeup_fd(self.wake_w.fileno(), warn_on_full_buffer=False)
        signal.signal(signal.SIGCHLD, lambda _signum, _frame: None)
        self.selector.register(self.control, selectors.EVENT_READ, "control")
        self.selector.register(self.wake_r, selectors.EVENT_READ, "wake")
        self.control.sendall(json.dumps(self.hello()).encode())
        while True:
            for key, _ in self.selector.select():
                if key.data == "control" and not self._on_request():
                    return self._shutdown()
                if key.data == "wake":
                    self._drain_wake()
                elif isinstance(key.data, int):
                    self._on_status(key.data)
            self._reap()

    def _on_request(self) -> bool:
        try:
            data, fds, _flags, _addr = socket.recv_fds(self.control, 4096, 2)
        except OSError:
            return False
        if not data and not fds:
            return False  # the host closed the control socket
        if len(fds) != 2:
            for fd in fds:
                os.close(fd)
            return True
        try:
            limits = _limits(json.loads(data))
        except ValueError:
            limits = None
        status = socket.socket(fileno=fds[1])
        if limits is None:
            os.close(fds[0])
            _send(status, {"t": "exit", "error": "invalid spawn request"})
            status.close()
            return True
        self._spawn(limits, fds[0], status)
        return True

    def _spawn(self, limits: confine.ChildLimits, channel_fd: int, status: socket.socket) -> None:
        workdir = tempfile.mkdtemp(prefix="run-", dir=self.root)
        try:
            pid = os.fork()
        except OSError as exc:
            os.close(channel_fd)
            shutil.rmtree(workdir, ignore_errors=True)
            _send(status, {"t": "exit", "error": f"fork failed: {exc}"})
            status.close()
            return
        if pid == 0:  # pragma: no cover - runs in the child
            zygote_pid = os.getppid()
            self._forget()
            child.main(channel_fd, workdir, limits, zygote_pid, self.seccomp)
        os.close(channel_fd)
        self.children[pid] = _Child(status, workdir)
        self.selector.register(status, selectors.EVENT_READ, pid)
        _send(status, {"t": "spawned", "pid": pid})

    def _forget(self) -> None:
        """In a new child: drop the zygote's sockets so no Python object owns fds 0-3 later."""
        for sock in (self.control, self.wake_r, self.wake_w, *(c.status for c in self.children.values())):
            sock.detach()
        self.children.clear()
        self.selector = selectors.PollSelector()

    def _on_status(self, pid: int) -> None:
        entry = self.children.get(pid)
        if entry is None:
            return
        try:
            entry.status.recv(64, socket.MSG_DONTWAIT)
        except BlockingIOError:
            return
        except OSError:
            pass
        self.selector.unregister(entry.status)  # a closed socket stays readable: once is enough
        # still running (not yet a zombie): then the SIGKILL below is the host's doing
        entry.killed = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None
        _kill_group(pid)

    def _drain_wake(self) -> None:
        try:
            while self.wake_r.recv(512):
                pass
        except OSError:
            pass

    def _reap(self) -> None:
        while True:
            try:
                info = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
            except ChildProcessError:
                return
            if info is None:
                return
            pid = info.si_pid
            _kill_group(pid)  # still a zombie: its pgid cannot have been reused
            _, status, usage = os.wait4(pid, 0)
            entry = self.children.pop(pid, None)
            if entry is not None:
                self._report(pid, entry, status, usage)

    def _report(self, pid: int, entry: _Child, status: int, usage: resource.struct_rusage) -> None:
        if entry.status.fileno() in self.selector.get_map():
            self.selector.unregister(entry.status)
        code = os.waitstatus_to_exitcode(status)
        message = {
            "t": "exit",
            "code": code if code >= 0 else None,
            "signal": -code if code < 0 else None,
            "cpu_s": round(usage.ru_utime + usage.ru_stime, 3),
            "maxrss_kb": usage.ru_maxrss,
            "killed_by_host": entry.killed,
        }
        shutil.rmtree(entry.workdir, ignore_errors=True)  # gone before the run returns
        _send(entry.status, message)
        _close_quietly(entry.status)

    def _shutdown(self) -> None:
        for pid in list(self.children):
            _kill_group(pid)
            os.waitpid(pid, 0)
        self.children.clear()
        shutil.rmtree(self.root, ignore_errors=True)


def _close_quietly(sock: socket.socket) -> None:
    """Close after reading what the host sent: unread data would reset the host's end."""
    with contextlib.suppress(OSError):
        while sock.recv(64, socket.MSG_DONTWAIT):
            pass
    sock.close()


def _kill_group(pid: int) -> None:
    for kill in (os.killpg, os.kill):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            kill(pid, signal.SIGKILL)


def main(control_fd: int, *, seccomp: bool = True) -> None:
    preload()
    os.environ.clear()  # started with none; the interpreter itself adds LC_CTYPE (PEP 538)
    control = socket.socket(fileno=control_fd)
    Zygote(control, seccomp=seccomp).serve()
