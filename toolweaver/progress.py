"""A dependency-free progress line for long work, shown only when stderr is a terminal."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO


class ProgressLine:
    def __init__(self, label: str, total: int, *, stream: TextIO | None = None, force: bool = False):
        self.label = label
        self.total = max(total, 1)
        self.done = 0
        self.stream = stream or sys.stderr
        self.enabled = force or self.stream.isatty()
        self._start = time.monotonic()
        self._last = 0.0

    def advance(self, n: int = 1) -> None:
        self.done += n
        now = time.monotonic()
        if self.enabled and (now - self._last > 0.1 or self.done >= self.total):
            self._last = now
            rate = self.done / max(now - self._start, 1e-9)
            pct = 100 * self.done // self.total
            bar = "#" * (pct // 5) + "-" * (20 - pct // 5)
            self.stream.write(f"\r{self.label} [{bar}] {self.done}/{self.total} ({rate:,.0f}/s)")
            if self.done >= self.total:
                self.stream.write("\n")
            self.stream.flush()


def progress_factory(label: str) -> Callable[[int], Callable[[int], None]]:
    """For APIs that learn the total late: call with the total, get back an ``advance``."""

    def start(total: int) -> Callable[[int], None]:
        return ProgressLine(label, total).advance

    return start
