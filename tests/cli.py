"""``python -m toolweaver ...`` as a real process, for the command-line tests."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

from toolweaver.settings import REPO_DIR


def run_cli(
    *args: str,
    env: dict[str, str] | None = None,
    drop: Iterable[str] = (),
    cwd: Path | None = REPO_DIR,
    stdin: str | None = None,
    timeout: float = 300,
) -> subprocess.CompletedProcess[str]:
    """Run the CLI with the test process's environment plus ``env``, minus names starting with ``drop``."""
    prefixes = tuple(drop)
    full_env = {k: v for k, v in os.environ.items() if not (prefixes and k.startswith(prefixes))}
    return subprocess.run(
        [sys.executable, "-m", "toolweaver", *args],
        capture_output=True,
        text=True,
        env={**full_env, **(env or {})},
        cwd=cwd,
        input=stdin,
        timeout=timeout,
        check=False,
    )
