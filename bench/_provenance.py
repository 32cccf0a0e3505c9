"""Where benchmark numbers come from: the machine's CPU and the commit they were measured on."""

from __future__ import annotations

import os
import platform
import shlex
import subprocess  # nosec B404 - runs git on this checkout only
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.machine() or "unknown CPU"


def git_commit() -> tuple[str, bool] | None:
    """The short commit hash and whether toolweaver/ differs from it; None outside a git checkout."""
    git = ["git", "--no-optional-locks", "-C", str(REPO)]
    try:
        head = subprocess.run(
            [*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        )
        dirty = subprocess.run([*git, "diff", "--quiet", "HEAD", "--", "toolweaver"], check=False).returncode
    except (OSError, subprocess.CalledProcessError):
        return None
    return head.stdout.strip(), bool(dirty)


def commit_label() -> str:
    """The commit the numbers belong to, as a report prints it."""
    found = git_commit()
    if found is None:
        return "unknown (not a git checkout)"
    return found[0] + (" + uncommitted changes in toolweaver/" if found[1] else "")


def run_header(script: str, argv: Sequence[str], load_before: float, *, command_note: str = "") -> list[str]:
    """A report's provenance lines: when, on what and from which commit, the command, and the load."""
    date = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    command = shlex.join([".venv/bin/python", script, *argv])
    return [
        f"- **Date**: {date}; **Machine**: {os.cpu_count()} CPUs, {cpu_model()}; "
        f"**Commit**: {commit_label()}",
        f"- **Command**: `{command}`{command_note}",
        f"- **Load average**: {load_before:.2f} at the start, {os.getloadavg()[0]:.2f} at the end (1-minute)",
    ]
