from __future__ import annotations

import io

from toolweaver.progress import ProgressLine


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_line_shows_count_and_finishes_with_newline() -> None:
    out = FakeTerminal()
    line = ProgressLine("embedding tools", 4, stream=out)
    line.advance(2)
    line.advance(2)
    text = out.getvalue()
    assert "embedding tools" in text
    assert "4/4" in text
    assert text.endswith("\n")


def test_progress_line_is_silent_when_not_a_terminal() -> None:
    out = io.StringIO()
    line = ProgressLine("embedding tools", 3, stream=out)
    for _ in range(3):
        line.advance()
    assert out.getvalue() == ""
    assert line.done == 3
