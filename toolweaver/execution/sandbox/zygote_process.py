"""The host's handle on the zygote process: start it, ask it for a child, stop it.

The zygote is started with ``subprocess`` (no shell), an empty environment, ``-I -B``, ``/`` as
its working directory, /dev/null for stdin and stdout, and no descriptor but its control socket.
It is a fresh interpreter: nothing of the host's memory or environment is in it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
import socket
import subprocess  # nosec B404 - starts our own zygote script, without a shell
import sys
import threading
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

BOOT = Path(__file__).resolve().parent / "guest" / "boot.py"
CONTROL_TIMEOUT_S = 5.0


class SandboxUnavailable(Exception):
    """The zygote cannot be started or does not answer."""


class ZygoteProcess:
    """One zygote; thread-safe (a lock around start, spawn and stop)."""

    def __init__(
        self, *, python: str | None = None, seccomp: bool = True, start_timeout_s: float = 15.0
    ) -> None:
        self._python = python or sys.executable
        self._flags = [] if seccomp else ["no-seccomp"]
        self._start_timeout_s = start_timeout_s
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._control: socket.socket | None = None
        self.hello: dict[str, Any] | None = None

    @property
    def alive(self) -> bool:
        """Started, greeted, and still running."""
        return self.hello is not None and self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self.alive and self._process is not None else None

    def start(self) -> dict[str, Any]:
        """Start the zygote unless it runs; its ``hello`` (pid and seccomp state)."""
        with self._lock:
            if self.alive and self.hello is not None:
                return self.hello
            self._discard_locked()
            host_end, zygote_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            try:
                self._process = subprocess.Popen(  # noqa: S603  # nosec B603 - fixed argv, no shell
                    [self._python, "-I", "-B", str(BOOT), str(zygote_end.fileno()), *self._flags],
                    env={},
                    cwd="/",
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    close_fds=True,
                    pass_fds=(zygote_end.fileno(),),
                    start_new_session=True,
                )
            except OSError as exc:
                host_end.close()
                raise SandboxUnavailable(f"cannot start the zygote: {exc}") from exc
            finally:
                zygote_end.close()
            self._control = host_end
            self.hello = self._read_hello(host_end)
            host_end.settimeout(CONTROL_TIMEOUT_S)
            return self.hello

    def _read_hello(self, control: socket.socket) -> dict[str, Any]:
        control.settimeout(self._start_timeout_s)
        try:
            message = json.loads(control.recv(4096))
        except (OSError, ValueError) as exc:
            self._discard_locked()
            raise SandboxUnavailable(f"the zygote did not start: {exc}") from exc
        if not isinstance(message, dict) or message.get("t") != "hello":
            self._discard_locked()
            raise SandboxUnavailable("the zygote did not start: no hello")
        return message

    def spawn(self, memory_mb: int, cpu_s: int) -> tuple[socket.socket, socket.socket]:
        """A new child: the host ends of its run channel and of its status socket."""
        with self._lock:
            if not self.alive or self._control is None:
                raise SandboxUnavailable("the zygote is not running")
            run_host, run_child = socket.socketpair()
            status_host, status_zygote = socket.socketpair()
            request = json.dumps({"memory_mb": memory_mb, "cpu_s": cpu_s}).encode()
            try:
                socket.send_fds(self._control, [request], [run_child.fileno(), status_zygote.fileno()])
            except OSError as exc:
                run_host.close()
                status_host.close()
                self._discard_locked()
                raise SandboxUnavailable(f"the zygote does not answer: {exc}") from exc
            finally:
                run_child.close()
                status_zygote.close()
            return run_host, status_host

    def stop(self) -> None:
        with self._lock:
            self._discard_locked()

    def discard(self, pid: int | None) -> None:
        """Kill the zygote ``pid`` when it misbehaved and is still the current one (its
        children die with it: parent-death signal)."""
        with self._lock:
            if pid is not None and self._process is not None and self._process.pid == pid:
                log.warning("sandbox: discarding the zygote %d: it did not report a child's exit", pid)
                self._discard_locked(graceful=False)

    def _discard_locked(self, *, graceful: bool = True) -> None:
        if self._control is not None:
            self._control.close()  # the zygote kills its children and exits
            self._control = None
        process, hello, self._process, self.hello = self._process, self.hello, None, None
        if process is not None:
            if graceful:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=CONTROL_TIMEOUT_S)
            if process.poll() is None:
                process.kill()
                process.wait()
        _remove_workdirs(hello)


def _remove_workdirs(hello: dict[str, Any] | None) -> None:
    """The zygote's folder of run folders (it removes it itself unless it was killed)."""
    root = Path(str((hello or {}).get("root", "")))
    if root.is_absolute() and root.name.startswith("tw-sandbox-") and root.is_dir():
        shutil.rmtree(root, ignore_errors=True)
