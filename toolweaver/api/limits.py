"""Per-caller request limits: so many requests per minute and per hour, on this instance.

Fixed windows aligned to the clock (a minute starts at :00): cheap, and a caller who is refused
is told exactly when the next window opens (Retry-After). Each instance counts on its own, so
with N instances a caller may send up to N times the limit; the README names the Azure-side
options (API Management, Front Door) for a global limit.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from toolweaver.api.http import ApiRequest

# Windows of one size, longest last so the answer names the window that opens latest.
_WINDOWS = (("minute", 60), ("hour", 3600))
_PRUNE_EVERY = 1024  # admissions between sweeps of stale callers


@dataclass(frozen=True)
class Refusal:
    window: str  # "minute" or "hour"
    limit: int
    retry_after: int  # whole seconds until the window that refused opens again


def caller_of(request: ApiRequest) -> str:
    """Who is calling: the function key (hashed: it is a secret), the signed-in principal, or the address.

    Keys come first: every keyed route needs one in Azure, and a header naming a principal is
    only trustworthy behind App Service authentication.
    """
    key = request.header("x-functions-key") or request.query.get("code")
    if key:
        return "key:" + hashlib.sha256(key.encode()).hexdigest()[:16]
    principal = request.header("x-ms-client-principal-id")
    if principal:
        return "principal:" + principal[:128]
    forwarded = request.header("x-forwarded-for") or ""
    # The front end appends the address it saw last; earlier entries are the caller's to invent.
    address = forwarded.rsplit(",", 1)[-1].strip()
    return "address:" + (address[:64] or "unknown")


class RateLimiter:
    """Counts requests per caller in the current minute and hour; a limit of 0 is no limit."""

    def __init__(self, per_minute: int, per_hour: int, *, clock: Callable[[], float] = time.time) -> None:
        self.limits = {"minute": per_minute, "hour": per_hour}
        self._clock = clock
        self._counts: dict[tuple[str, str], tuple[int, int]] = {}  # (caller, window) -> (window no, count)
        self._lock = threading.Lock()
        self._admitted = 0

    @property
    def enabled(self) -> bool:
        return any(self.limits.values())

    def admit(self, caller: str) -> Refusal | None:
        """Count one request; a Refusal (and no count) when a window is already full."""
        now = self._clock()
        active = [(name, size, self.limits[name]) for name, size in _WINDOWS if self.limits[name] > 0]
        with self._lock:
            refusal = None
            for name, size, limit in active:
                window = int(now // size)
                seen_window, count = self._counts.get((caller, name), (window, 0))
                if seen_window == window and count >= limit:
                    retry = max(1, math.ceil((window + 1) * size - now))
                    refusal = Refusal(name, limit, retry)
            if refusal is not None:
                return refusal
            for name, size, _ in active:
                window = int(now // size)
                seen_window, count = self._counts.get((caller, name), (window, 0))
                self._counts[(caller, name)] = (window, count + 1 if seen_window == window else 1)
            self._admitted += 1
            if self._admitted % _PRUNE_EVERY == 0:
                self._prune(now)
        return None

    def _prune(self, now: float) -> None:
        """Forget callers whose windows are over, so a stream of addresses cannot grow memory."""
        sizes = dict(_WINDOWS)
        stale = [key for key, (window, _) in self._counts.items() if window != int(now // sizes[key[1]])]
        for key in stale:
            del self._counts[key]
