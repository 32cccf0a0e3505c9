"""Time budgets that fit the host: every run, ask and job ends, recorded, before the host stops it.

The Functions host ends an invocation at ``functionTimeout`` (host.json). A job that is stopped
there leaves its record ``running`` and its message is delivered again, so its tools would run
again. So each invocation gets a deadline below that limit, bound by the face that starts it
(the queue worker, the HTTP function), and :func:`toolweaver.execution.loop.run_sync` never
waits past it: the work is cancelled and a :class:`~toolweaver.errors.DeadlineExceededError`
(terminal) is what the job records or HTTP answers (504).

    functionTimeout (host.json)              600 s
    JOB_SECONDS     = that - RECORD_MARGIN     555 s  a job's work, whatever its kind
    MAX_RUN_SECONDS = JOB_SECONDS - GRACE      540 s  the largest ``timeout_s`` of a queued run
    HTTP_SECONDS    = min(that, 230) - 10      220 s  an HTTP answer (Azure's front end stops at 230 s)

An ask's worst case is its run plus its model requests (:func:`ask_seconds`); a plan's is its
model requests alone. Where that is more than the deadline allows, the deadline wins.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

from toolweaver.errors import ConfigError
from toolweaver.settings import REPO_DIR

HOST_JSON = REPO_DIR / "host.json"
DEFAULT_FUNCTION_TIMEOUT_S = 600.0  # what host.json ships with, for a package used without it
HTTP_FRONT_END_S = 230.0  # Azure's load balancer ends any HTTP request after 230 s
HTTP_MARGIN_S = 10.0
# After the deadline: cancel the work, then write the failed record (a few blob writes, each up
# to 12 s with the storage client's retries; see toolweaver/storage/connect.py).
RECORD_MARGIN_S = 45.0
# A run's own timeout_s is enforced inside (sandbox wall clock, plan runner); the wait adds this.
GRACE_S = 15.0
# An ask's model requests at most: the plan, its retry in JSON mode when the server refuses JSON
# Schema, the repair round, and the answer in words. Each may be tried 1 + MAX_RETRIES times
# (planning/openai_chat.py), each try up to PLANNER_TIMEOUT, with up to RETRY_WAIT_S between tries
# (the SDK waits what Retry-After says, up to two minutes).
ASK_MODEL_REQUESTS = 4
PLAN_MODEL_REQUESTS = 3
MODEL_ATTEMPTS = 3
RETRY_WAIT_S = 120.0

_TIMESPAN = re.compile(r"^(?:(\d+)\.)?(\d{1,2}):(\d{2}):(\d{2})$")


def function_timeout(host_json: Path = HOST_JSON) -> float:
    """``functionTimeout`` of host.json in seconds; the shipped default when the file is absent."""
    try:
        document = json.loads(host_json.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return DEFAULT_FUNCTION_TIMEOUT_S
    except ValueError as exc:
        raise ConfigError(f"{host_json.name} is not valid JSON: {exc}") from exc
    raw = str(document.get("functionTimeout", "")).strip()
    if not raw:
        return DEFAULT_FUNCTION_TIMEOUT_S
    match = _TIMESPAN.match(raw)
    if match is None:
        raise ConfigError(
            f"functionTimeout {raw!r} in {host_json.name} must be hh:mm:ss (an unbounded -1 is not "
            "supported: the app sizes its time budgets from it)"
        )
    days, hours, minutes, seconds = (int(part or 0) for part in match.groups())
    return float(((days * 24 + hours) * 60 + minutes) * 60 + seconds)


FUNCTION_TIMEOUT_S = function_timeout()
JOB_SECONDS = FUNCTION_TIMEOUT_S - RECORD_MARGIN_S
MAX_RUN_SECONDS = JOB_SECONDS - GRACE_S
HTTP_SECONDS = min(FUNCTION_TIMEOUT_S, HTTP_FRONT_END_S) - HTTP_MARGIN_S

_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar("toolweaver_deadline", default=None)


@contextlib.contextmanager
def deadline_in(seconds: float) -> Iterator[float]:
    """Work in this block must end within ``seconds`` (or the deadline already bound, if sooner)."""
    deadline = time.monotonic() + seconds
    outer = _DEADLINE.get()
    if outer is not None:
        deadline = min(deadline, outer)
    token = _DEADLINE.set(deadline)
    try:
        yield deadline
    finally:
        _DEADLINE.reset(token)


def remaining() -> float | None:
    """Seconds left before the bound deadline (at least 0), or None when none is bound."""
    deadline = _DEADLINE.get()
    return None if deadline is None else max(0.0, deadline - time.monotonic())


def run_seconds(timeout_s: float) -> float:
    """How long to wait for a run whose own limit is ``timeout_s``."""
    return timeout_s + GRACE_S


def model_seconds(planner_timeout: float, requests: int) -> float:
    """The worst case of ``requests`` model requests, every try timing out and retried."""
    return requests * (MODEL_ATTEMPTS * planner_timeout + (MODEL_ATTEMPTS - 1) * RETRY_WAIT_S)


def ask_seconds(timeout_s: float, planner_timeout: float) -> float:
    """The worst case of an ask: its model requests, its run, and the grace of the wait."""
    return model_seconds(planner_timeout, ASK_MODEL_REQUESTS) + run_seconds(timeout_s)


def plan_seconds(planner_timeout: float) -> float:
    """The worst case of a plan request: its model requests (plan, JSON-mode retry, repair)."""
    return model_seconds(planner_timeout, PLAN_MODEL_REQUESTS) + GRACE_S
