"""The dev host in a process of its own, for end-to-end tests and benchmarks.

A separate process keeps the server off the caller's GIL and can be SIGKILLed like a crashed
Functions worker. Settings go in through a local.settings.json written for it.
"""

from __future__ import annotations

import json
import os
import subprocess  # nosec B404 - starts this package's own dev host
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from toolweaver.devhost.azurite import free_port
from toolweaver.settings import REPO_DIR


@dataclass
class DevHostProcess:
    """``start()`` returns once /api/health answers; ``stop()`` is SIGTERM (the host drains),
    ``kill()`` SIGKILL; a later ``start()`` starts a fresh process on the same port."""

    settings: dict[str, str]
    workdir: Path
    app: Path = REPO_DIR / "function_app.py"
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    @property
    def log_path(self) -> Path:
        return self.workdir / "host.log"

    def start(self, timeout: float = 90.0, ready: tuple[int, ...] = (200,)) -> float:
        """Start the host; the seconds until GET /api/health answered one of ``ready``."""
        started = time.perf_counter()
        settings_file = self.workdir / "local.settings.json"
        settings_file.write_text(
            json.dumps({"IsEncrypted": False, "Values": self.settings}), encoding="utf-8"
        )
        command = [
            sys.executable,
            "-m",
            "toolweaver.devhost",
            "--app",
            str(self.app),
            "--port",
            str(self.port),
        ]
        command += ["--settings", str(settings_file)]
        # The process environment would win over the settings file: leave those names out of it.
        env = {k: v for k, v in os.environ.items() if k not in self.settings}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_DIR), env.get("PYTHONPATH")]))
        with self.log_path.open("ab") as log_file:
            self.process = subprocess.Popen(  # noqa: S603  # nosec B603 - fixed argument list
                command,
                cwd=REPO_DIR,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=log_file,
                start_new_session=True,  # Ctrl-C in a terminal reaches only the caller, who stops it
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the dev host exited during start-up:\n{self.log_tail()}")
            if self.health_status() in ready:
                return time.perf_counter() - started
            time.sleep(0.2)
        raise RuntimeError(
            f"the dev host did not answer /api/health within {timeout:.0f} s:\n{self.log_tail()}"
        )

    def health_status(self) -> int:
        """The status of GET /api/health, or 0 when nothing answers."""
        try:
            with urllib.request.urlopen(self.url + "/health", timeout=10) as response:  # noqa: S310  # nosec B310
                return int(response.status)
        except urllib.error.HTTPError as err:
            return int(err.code)
        except OSError:
            return 0

    def log_tail(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")[-3000:]
        except OSError:
            return "(no log)"

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
