"""The sandbox for LLM-written programs: a ``CodeRunner`` that runs each program in a fresh,
confined child process (see SECURITY.md for what is and is not isolated)."""

from __future__ import annotations

from .precheck import Rejection, precheck
from .runner import LocalSandboxRunner, SandboxHealth

__all__ = ["LocalSandboxRunner", "Rejection", "SandboxHealth", "precheck"]
