"""Marked sections of a markdown report, so several benchmarks can share bench/RESULTS.md.

A section sits between ``<!-- NAME:start -->`` and ``<!-- NAME:end -->`` lines; whoever owns it
replaces only that text and leaves the rest of the file as it was.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path


def _markers(name: str) -> tuple[str, str]:
    return f"<!-- {name}:start -->", f"<!-- {name}:end -->"


def _span(text: str, name: str) -> tuple[int, int] | None:
    """Where the section lies in ``text``, both marker lines included; None when absent or unclosed."""
    start_marker, end_marker = _markers(name)
    start = text.find(start_marker)
    if start < 0 or (start > 0 and text[start - 1] != "\n"):
        return None
    end = text.find(end_marker, start)
    if end < 0:
        return None
    end += len(end_marker)
    if text.startswith("\n", end):
        end += 1
    return start, end


_START = re.compile(r"^<!-- ([\w-]+):start -->$", re.MULTILINE)


def existing_sections(path: Path) -> str:
    """Every marked section in ``path`` (markers included, each after a blank line), else ''.

    For a writer that regenerates the whole file: appending this keeps the other tools' sections.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return ""
    kept = []
    for name in dict.fromkeys(_START.findall(text)):
        span = _span(text, name)
        if span is not None:
            kept.append("\n" + text[span[0] : span[1]])
    return "".join(kept)


def replace_section(path: Path, name: str, markdown: str) -> None:
    """Put ``markdown`` between the section's markers in ``path``, appending the section if absent."""
    start_marker, end_marker = _markers(name)
    block = f"{start_marker}\n{markdown.strip()}\n{end_marker}\n"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        text = ""
    span = _span(text, name)
    if span is not None:
        text = text[: span[0]] + block + text[span[1] :]
    elif text.strip():
        text = text.rstrip("\n") + "\n\n" + block
    else:
        text = block
    # Write a sibling and rename it: an interrupted run never leaves a half-written report.
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o644  # mkstemp's file is 0600
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
