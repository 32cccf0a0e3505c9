"""Queue trigger settings: host.json ``extensions.queues`` with the host's defaults, the
connection setting a trigger names, and message decoding."""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from toolweaver.devhost.loader import FunctionSpec
from toolweaver.errors import ConfigError

DEFAULT_CONNECTION = "AzureWebJobsStorage"
HIT_DELAY = 0.1  # the host polls again 100 ms after finding messages
_TIMESPAN = re.compile(r"^(?:(\d+)\.)?(\d+):(\d+):(\d+(?:\.\d+)?)$")


def parse_timespan(value: object, name: str) -> float:
    """Seconds from a .NET TimeSpan string (``[d.]hh:mm:ss[.fff]``) or a number of milliseconds (v1)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value) / 1000
    found = _TIMESPAN.match(str(value).strip())
    if found is None:
        raise ConfigError(f"host.json {name}: expected a time span like 00:00:30, got {value!r}")
    days, hours, minutes, seconds = found.groups()
    return int(days or 0) * 86400 + int(hours) * 3600 + int(minutes) * 60 + float(seconds)


@dataclass(frozen=True)
class QueueOptions:
    batch_size: int = 16
    new_batch_threshold: int = 8
    max_polling_interval: float = 60.0
    visibility_timeout: float = 0.0
    max_dequeue_count: int = 5
    message_encoding: str = "base64"

    @classmethod
    def from_host_json(cls, queues: Mapping[str, Any]) -> QueueOptions:
        """``extensions.queues`` of host.json, with the host's defaults."""
        batch = int(queues.get("batchSize", 16))
        if not 1 <= batch <= 32:
            raise ConfigError(f"host.json batchSize must be between 1 and 32, got {batch}")
        encoding = str(queues.get("messageEncoding", "base64")).lower()
        if encoding not in ("base64", "none"):
            raise ConfigError(f"host.json messageEncoding must be base64 or none, got {encoding!r}")
        return cls(
            batch_size=batch,
            new_batch_threshold=int(queues.get("newBatchThreshold", batch // 2)),
            max_polling_interval=max(
                HIT_DELAY, parse_timespan(queues.get("maxPollingInterval", "00:01:00"), "maxPollingInterval")
            ),
            visibility_timeout=parse_timespan(
                queues.get("visibilityTimeout", "00:00:00"), "visibilityTimeout"
            ),
            max_dequeue_count=max(1, int(queues.get("maxDequeueCount", 5))),
            message_encoding=encoding,
        )


def connection_string(spec: FunctionSpec, settings: Mapping[str, str]) -> str:
    """The value of the app setting named by the trigger's ``connection``."""
    name = str(spec.trigger.get("connection") or DEFAULT_CONNECTION)
    # Like the host, ``Storage`` also finds ``AzureWebJobsStorage``.
    for candidate in (name, f"AzureWebJobs{name}"):
        value = settings.get(candidate)
        if value:
            return value
    raise ConfigError(
        f"function {spec.name!r}: the connection setting {name!r} is not set (a connection string)"
    )


def decode_body(content: str | None, encoding: str) -> bytes:
    text = content or ""
    if encoding == "none":
        return text.encode("utf-8")
    return base64.b64decode(text, validate=True)
