"""Start and stop Azurite, the local Blob and Queue emulator, for `make run` and the tests.

Azurite comes from the npm package pinned in ``package.json`` (``npm ci`` puts it under
``node_modules/.bin``). Tests start it on free loopback ports with an account key made up for the
run (Azurite's ``AZURITE_ACCOUNTS``), so no storage key is written anywhere in the repository.
"""

from __future__ import annotations

import base64
import os
import secrets
import shutil
import signal
import socket
import subprocess  # nosec B404 - starts the pinned local emulator, never user input
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from toolweaver.errors import ConfigError
from toolweaver.settings import REPO_DIR

ACCOUNT = "devstoreaccount1"


def find_azurite() -> Path:
    """The Azurite launcher from ``node_modules``, else from PATH; a clear error otherwise."""
    local = REPO_DIR / "node_modules" / ".bin" / "azurite"
    if local.exists():
        return local
    found = shutil.which("azurite")
    if found:
        return Path(found)
    raise ConfigError("Azurite is not installed: run `npm ci` in the repository root (Node.js 20+)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class AzuriteEndpoints:
    blob_port: int
    queue_port: int
    account_key: str

    @property
    def blob_url(self) -> str:
        return f"http://127.0.0.1:{self.blob_port}/{ACCOUNT}"

    @property
    def queue_url(self) -> str:
        return f"http://127.0.0.1:{self.queue_port}/{ACCOUNT}"

    @property
    def connection_string(self) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={self.account_key};"
            f"BlobEndpoint={self.blob_url};QueueEndpoint={self.queue_url};"
        )


class Azurite:
    """One Azurite process on loopback. Use as a context manager, or call start() and stop().

    ``location`` keeps the data on disk so a stop followed by a start (the fault tests) finds it
    again; without one a temporary folder is used and removed on close.
    """

    def __init__(
        self,
        *,
        blob_port: int | None = None,
        queue_port: int | None = None,
        location: Path | None = None,
        account_key: str | None = None,
        well_known_account: bool = False,
    ) -> None:
        # well_known_account: Azurite's built-in account, which `UseDevelopmentStorage=true` reaches
        # on the default ports (make run); the key then stays inside Azurite and the storage SDK.
        self.well_known_account = well_known_account
        key = account_key or base64.b64encode(secrets.token_bytes(32)).decode()
        self.endpoints = AzuriteEndpoints(blob_port or free_port(), queue_port or free_port(), key)
        self._own_location = location is None
        self.location = location or Path(tempfile.mkdtemp(prefix="azurite-"))
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def connection_string(self) -> str:
        if self.well_known_account:
            return "UseDevelopmentStorage=true"
        return self.endpoints.connection_string

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self, timeout: float = 30.0) -> None:
        if self.running:
            return
        command = [
            str(find_azurite()),
            "--silent",
            "--disableTelemetry",
            "--skipApiVersionCheck",
            "--loose",
            "--blobHost=127.0.0.1",
            f"--blobPort={self.endpoints.blob_port}",
            "--queueHost=127.0.0.1",
            f"--queuePort={self.endpoints.queue_port}",
            "--tableHost=127.0.0.1",
            f"--tablePort={free_port()}",
            f"--location={self.location}",
        ]
        env = dict(os.environ)
        if not self.well_known_account:
            env["AZURITE_ACCOUNTS"] = f"{ACCOUNT}:{self.endpoints.account_key}"
        self._process = subprocess.Popen(  # noqa: S603  # nosec B603 - fixed argument list
            command,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,  # Ctrl-C in a terminal reaches us, and we stop it ourselves
        )
        self._wait_ready(timeout)

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        pending = {self.endpoints.blob_port, self.endpoints.queue_port}
        while pending:
            process = self._process
            if process is None or process.poll() is not None:
                err = process.stderr.read().decode(errors="replace") if process and process.stderr else ""
                raise ConfigError(f"Azurite exited during start-up: {err.strip()[-500:] or 'no output'}")
            for port in list(pending):
                with socket.socket() as sock:
                    sock.settimeout(0.2)
                    if sock.connect_ex(("127.0.0.1", port)) == 0:
                        pending.discard(port)
            if pending and time.monotonic() > deadline:
                self.stop()
                raise ConfigError(f"Azurite did not open ports {sorted(pending)} within {timeout:.0f} s")
            if pending:
                time.sleep(0.05)

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            try:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
            except ProcessLookupError:
                pass
        if process.stderr:
            process.stderr.close()

    def close(self) -> None:
        self.stop()
        if self._own_location:
            shutil.rmtree(self.location, ignore_errors=True)

    def __enter__(self) -> Azurite:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
