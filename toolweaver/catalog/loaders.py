"""Read and write catalog files: our JSON/YAML format and the JSON Lines tool files of public benchmarks.

PyYAML is imported only when a YAML file is actually read or written, so JSON-only users never pay for it.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from toolweaver.catalog.model import (
    MAX_DESCRIPTION_LENGTH,
    NAME_PATTERN,
    Catalog,
    Tool,
    empty_parameters,
    sanitize_name,
    unique_name,
)
from toolweaver.errors import CatalogError, ToolValidationError

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
CATALOG_SUFFIXES: tuple[str, ...] = (".json", ".yaml", ".yml")
DATASET_SUFFIXES: tuple[str, ...] = (".jsonl",)
_TOP_LEVEL_KEYS: tuple[str, ...] = ("tools", "version")


def load_catalog(path: str | Path) -> Catalog:
    """Load a catalog file: ``.json``/``.yaml``/``.yml`` in our format, ``.jsonl`` in the dataset format."""
    file = Path(path)
    suffix = file.suffix.lower()
    if suffix in DATASET_SUFFIXES:
        return load_dataset_tools(file)
    if suffix not in CATALOG_SUFFIXES:
        valid = ", ".join(CATALOG_SUFFIXES + DATASET_SUFFIXES)
        raise CatalogError(f"{file}: unknown catalog file type {suffix or '(none)'!r}; use one of {valid}")
    document = read_structured(file)
    catalog = catalog_from_document(file, document)
    logger.debug("loaded %d tools from %s", len(catalog), file)
    return catalog


def read_structured(file: Path) -> Any:
    """Parse a JSON or YAML file (by suffix); errors name the file and, where known, the line."""
    text = _read_text(file)
    if file.suffix.lower() == ".json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise CatalogError(
                f"{file}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
            ) from exc
    return parse_yaml(text, file)


def _read_text(file: Path) -> str:
    try:
        return file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CatalogError(f"catalog file not found: {file}") from None
    except IsADirectoryError:
        raise CatalogError(f"{file}: is a directory; give the path of a catalog file") from None
    except UnicodeDecodeError as exc:
        raise CatalogError(f"{file}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    except OSError as exc:
        raise CatalogError(f"{file}: cannot read: {exc.strerror}") from exc


def parse_yaml(text: str | bytes, source: str | Path) -> Any:
    """YAML with the safe (C, when built) loader; CatalogError names ``source``, line and column."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        return yaml.load(text, Loader=loader)  # noqa: S506  # nosec B506 - a safe loader, chosen above
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise CatalogError(f"{source}: invalid YAML{where}: {problem}") from exc


def catalog_from_document(file: Path | str, document: Any) -> Catalog:
    if isinstance(document, Mapping):
        unknown = [str(key) for key in document if key not in _TOP_LEVEL_KEYS]
        if unknown:
            raise CatalogError(
                f"{file}: unknown top-level key {unknown[0]!r}; valid keys are {', '.join(_TOP_LEVEL_KEYS)}"
            )
        version = document.get("version", FORMAT_VERSION)
        if str(version) != str(FORMAT_VERSION):
            raise CatalogError(
                f"{file}: unsupported catalog version {version!r}; this reader knows version 1"
            )
        entries = document.get("tools")
    else:
        entries = document
    if not isinstance(entries, list):
        raise CatalogError(
            f"{file}: expected a list of tools or an object with a 'tools' list, got {type(entries).__name__}"
        )
    tools = [_tool_from_entry(file, i, entry) for i, entry in enumerate(entries)]
    try:
        return Catalog(tools)
    except CatalogError as exc:
        raise CatalogError(f"{file}: {exc}") from exc


def _tool_from_entry(file: Path | str, index: int, entry: Any) -> Tool:
    where = f"{file}: tools[{index}]"
    if not isinstance(entry, Mapping):
        raise CatalogError(f"{where}: expected a tool object, got {type(entry).__name__}")
    try:
        tool = Tool.from_dict(entry)
    except ToolValidationError as exc:
        raise CatalogError(f"{where}: {exc}") from exc
    try:
        # YAML can produce dates and other values JSON cannot hold; the content hash needs plain JSON.
        _ = tool.content_hash
    except (TypeError, ValueError) as exc:
        raise CatalogError(
            f"{where}: tool {tool.name!r} holds a value that is not plain JSON: {exc}"
        ) from exc
    return tool


def load_dataset_tools(path: str | Path) -> Catalog:
    """Load a benchmark tool file (JSON Lines: id, name, description, parameters, text, domain)."""
    file = Path(path)
    text = _read_text(file)
    tools: list[Tool] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise CatalogError(
                f"{file}: line {lineno}: invalid JSON at column {exc.colno}: {exc.msg}"
            ) from exc
        try:
            tools.append(_dataset_tool(record))
        except CatalogError as exc:
            raise CatalogError(f"{file}: line {lineno}: {exc}") from exc
    try:
        catalog = Catalog(tools)
    except CatalogError as exc:
        raise CatalogError(f"{file}: {exc}") from exc
    logger.debug("loaded %d dataset tools from %s", len(catalog), file)
    return catalog


def _dataset_tool(record: Any) -> Tool:
    if not isinstance(record, Mapping):
        raise CatalogError(f"expected a JSON object per line, got {type(record).__name__}")
    raw_id = record.get("id")
    if not isinstance(raw_id, str | int) or str(raw_id) == "":
        raise CatalogError("record has no usable 'id'")
    tool_id = str(raw_id)
    name = tool_id if NAME_PATTERN.match(tool_id) else sanitize_name(tool_id)
    title = record.get("name")
    description = _first_text(record.get("description"), record.get("text"), title, tool_id)
    return Tool(
        name=name,
        description=description[:MAX_DESCRIPTION_LENGTH],
        parameters=_dataset_parameters(record.get("parameters")),
        tags=_dataset_tags(record),
        title=str(title) if title is not None else None,
    )


def _dataset_tags(record: Mapping[str, Any]) -> tuple[str, ...]:
    """The domain, plus segments of the original document string that no other field holds.

    Gorilla's ``text`` reads "domain | functionality | name | description"; the functionality
    ("Drivable Area Segmentation, Lane Detection") says what the tool does in a few words.
    """
    domain = record.get("domain")
    tags = [domain] if isinstance(domain, str) and domain else []
    text = record.get("text")
    if isinstance(text, str) and " | " in text:
        known = {str(record.get(k) or "").strip() for k in ("domain", "name", "description", "id")}
        tags += [seg.strip() for seg in text.split(" | ") if seg.strip() and seg.strip() not in known]
    return tuple(dict.fromkeys(tags))


def _first_text(*candidates: Any) -> str:
    for candidate in candidates:
        if isinstance(candidate, str) and candidate.strip():
            return candidate
    return "(no description)"


def _dataset_parameters(raw: Any) -> dict[str, Any]:
    """Dataset 'parameters' are free-form; keep real schemas, describe name->value dicts, drop the rest."""
    if not isinstance(raw, dict):
        return empty_parameters()
    if raw.get("type") == "object" or isinstance(raw.get("properties"), dict):
        return raw if raw.get("type") == "object" else {**raw, "type": "object"}
    keys = [str(key) for key in raw]
    # Valid keys keep their names; sanitized ones must not take a name a valid key needs.
    reserved = {key for key in keys if NAME_PATTERN.match(key)}
    properties: dict[str, Any] = {}
    for key, value in zip(keys, raw.values(), strict=True):
        prop = key if key in reserved else unique_name(sanitize_name(key), reserved | properties.keys())
        properties[prop] = {"description": str(value)}
    return {"type": "object", "properties": properties}


def dump_catalog(catalog: Catalog, path: str | Path) -> None:
    """Write ``catalog`` in our format (JSON or YAML by suffix), replacing the file atomically."""
    file = Path(path)
    suffix = file.suffix.lower()
    if suffix not in CATALOG_SUFFIXES:
        raise CatalogError(
            f"{file}: cannot write {suffix or '(none)'!r} files; use one of {', '.join(CATALOG_SUFFIXES)}"
        )
    document = {"version": FORMAT_VERSION, "tools": [tool.to_dict() for tool in catalog]}
    if suffix == ".json":
        text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    else:
        import yaml

        text = yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=100)
    _write_atomic(file, text)
    logger.debug("wrote %d tools to %s", len(catalog), file)


def _write_atomic(file: Path, text: str) -> None:
    # A reader (or a crash) never sees a half-written catalog; pid + thread keep concurrent writers apart.
    file.parent.mkdir(parents=True, exist_ok=True)
    tmp = file.with_name(f".{file.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(file)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
