"""Read ``local.settings.json`` the way ``func start`` does.

``Values`` are the app settings: they become environment variables, but a variable already set in
the process environment wins (as with func). ``Host.LocalHttpPort`` sets the port when the command
line does not.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from toolweaver.errors import ConfigError


@dataclass(frozen=True)
class LocalSettings:
    path: Path | None
    values: Mapping[str, str] = field(default_factory=dict)
    http_port: int | None = None


def read_json_object(path: Path) -> dict[str, Any]:
    """A JSON file whose top level is an object; any problem is one line naming the file."""
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))  # editors on Windows write a BOM
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"{path}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a JSON object at the top level")
    return data


def read_local_settings(path: Path, *, required: bool = False) -> LocalSettings:
    """Parse the file; a missing file gives empty settings unless ``required``."""
    if not path.is_file():
        if required:
            raise ConfigError(f"{path}: settings file not found")
        return LocalSettings(None)
    data = read_json_object(path)
    if data.get("IsEncrypted") is True:
        raise ConfigError(f"{path}: IsEncrypted is true; the dev host reads plain values only")
    return LocalSettings(path, _values(path, data.get("Values")), _port(path, data.get("Host")))


def _values(path: Path, raw: object) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: Values must be an object of name to string")
    values: dict[str, str] = {}
    for name, value in raw.items():
        if isinstance(value, bool):
            values[name] = "true" if value else "false"
        elif isinstance(value, str | int | float):
            values[name] = str(value)
        else:
            raise ConfigError(f"{path}: Values.{name} must be a string, got {type(value).__name__}")
    return values


def _port(path: Path, host: object) -> int | None:
    if not isinstance(host, dict) or host.get("LocalHttpPort") in (None, ""):
        return None
    raw = host["LocalHttpPort"]
    try:
        port = int(raw)
    except (TypeError, ValueError):
        raise ConfigError(f"{path}: Host.LocalHttpPort must be a port number, got {raw!r}") from None
    if not 0 < port < 65536:
        raise ConfigError(f"{path}: Host.LocalHttpPort must be between 1 and 65535, got {port}")
    return port


def effective_values(values: Mapping[str, str], environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The app settings as the app will see them: the process environment wins over the file."""
    env = os.environ if environ is None else environ
    return {name: env.get(name, value) for name, value in values.items()}
