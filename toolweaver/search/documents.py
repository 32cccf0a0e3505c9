"""What search sees of a tool: BM25 tokens and the text given to the embedding model."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Mapping
from typing import Any

from toolweaver.catalog import Tool
from toolweaver.search.tokenize import split_words, tokenize

# The display name is the strongest short signal, so its tokens count twice for BM25.
NAME_REPEAT = 2
_GLUED = re.compile(r"[A-Za-z]+")


def display_name(tool: Tool) -> str:
    return tool.title or tool.name


def bm25_tokens(tool: Tool) -> list[str]:
    tokens = tokenize(display_name(tool)) * NAME_REPEAT
    if tool.title:
        tokens += tokenize(tool.name)
    for tag in tool.tags:
        tokens += tokenize(tag)
    tokens += tokenize(tool.description)
    for name, description in _parameter_texts(tool.parameters):
        tokens += tokenize(name)
        tokens += tokenize(description)
    for example in tool.examples:
        request = example.get("request")
        if isinstance(request, str):
            tokens += tokenize(request)
    return tokens


def dense_text(tool: Tool) -> str:
    """Tags, name and description: short enough that the model's 256-token window keeps the gist."""
    return " | ".join([*tool.tags, dense_name(tool), tool.description])


def dense_name(tool: Tool) -> str:
    """The name as the embedding model reads it.

    A name of letters only is words glued together ("ResearchHelper", "ChatOCR") and is read as
    those words. A title with digits, separators or spaces ("mobilenet_v2_100_224",
    "facebook/bart-base", "Weather Forecast") is kept as written: model ids appear verbatim in
    the text the model learned from, and splitting them lost more than it gained (bench/RESULTS.md,
    "Search fusion"). A name without a title is always split: it is an identifier, not prose.
    """
    if tool.title is None:
        return " ".join(split_words(tool.name))
    return " ".join(split_words(tool.title)) if _GLUED.fullmatch(tool.title) else tool.title


def text_hash(text: str) -> str:
    """Content address of an embedding input: equal text, equal vector (for one model)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:24]


def _parameter_texts(schema: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    properties = schema.get("properties")
    if not isinstance(properties, Mapping):
        return
    for name, prop in properties.items():
        description = prop.get("description") if isinstance(prop, Mapping) else None
        yield str(name), description if isinstance(description, str) else ""
