"""One frozen Settings object, read from the environment once and passed in from the edges.

Every name here is an app setting (environment variable) with the same name in
``local.settings.json.example`` and in the Bicep under ``infra/``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path

from toolweaver.errors import ConfigError

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_DIR = PACKAGE_DIR.parent
DEFAULT_MODEL_DIR = REPO_DIR / "models" / "all-MiniLM-L6-v2"
DEMO_CATALOG = PACKAGE_DIR / "catalog" / "demo_catalog.yaml"


def _default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "toolweaver"


def _default_threads() -> int:
    # Functions instances and CI runners are small: more threads than cores only adds contention.
    return max(1, min(os.cpu_count() or 1, 4))


@dataclass(frozen=True)
class Settings:
    embedding_model_dir: Path = field(default=DEFAULT_MODEL_DIR, metadata={"env": "EMBEDDING_MODEL_DIR"})
    embedding_threads: int = field(default_factory=_default_threads, metadata={"env": "EMBEDDING_THREADS"})
    embedding_max_length: int = field(default=256, metadata={"env": "EMBEDDING_MAX_LENGTH"})
    index_cache_dir: Path = field(default_factory=_default_cache_dir, metadata={"env": "INDEX_CACHE_DIR"})
    catalog_path: Path = field(default=DEMO_CATALOG, metadata={"env": "CATALOG_PATH"})
    search_top_k: int = field(default=5, metadata={"env": "SEARCH_TOP_K", "max": 100})

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build settings from ``environ`` (default: the process environment); unset names keep defaults."""
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for f in fields(cls):
            name = f.metadata["env"]
            raw = env.get(name)
            if raw is None or raw.strip() == "":
                continue
            values[f.name] = _parse(name, raw.strip(), f.type, f.metadata.get("max"))
        return cls(**values)  # type: ignore[arg-type]


def _parse(name: str, raw: str, kind: object, maximum: int | None) -> object:
    if kind in ("Path", Path):
        return Path(raw).expanduser()
    if kind in ("int", int):
        try:
            value = int(raw)
        except ValueError:
            raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None
        if value < 1:
            raise ConfigError(f"{name} must be at least 1, got {value}")
        if maximum is not None and value > maximum:
            raise ConfigError(f"{name} must be at most {maximum}, got {value}")
        return value
    return raw
