"""Everything besides the model and the catalog that shapes an index, as one digest.

An index is served only under a key that holds this digest, so a change to the tokenizer, the
stemmer, the stop words, BM25's k1 and b, the name repeat or the text builders builds a new index
instead of serving an old one. The digest is derived, not declared: it hashes the values in
force, what the builders and the tokenizer make of fixed probe tools and words (a changed
function changes its output), and the source of the modules that hold them (a change the probes
happen to miss still changes the source). The model is covered by its own fingerprint, which
holds the export, the runtime recipe and the token window.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import sys
from functools import lru_cache
from types import ModuleType
from typing import Any

from toolweaver.catalog import Tool
from toolweaver.search import bm25, documents, tokenize

BM25_K1 = 1.2
BM25_B = 0.3  # tool texts vary little in length; full length normalisation punished rich descriptions

_PROBE_TOOLS = (
    Tool(
        name="probe_getWeatherForecast.v2",
        title="Weather Forecast Probe",
        description="Returns the hourly forecasts for cities and regions; the running totals are indexed.",
        tags=("weather", "API-v3"),
        parameters={
            "type": "object",
            "properties": {
                "cityName": {"type": "string", "description": "The city to look up, e.g. Paris"},
                "days": {"type": "integer"},
            },
        },
        examples=({"request": "Will it be raining in Oslo tomorrow?"},),
    ),
    Tool(name="crm.lookup_customer", description="Finds companies' invoices by status and creates notes."),
)
# One word for each rule of the stemmer, and a few it must leave alone.
_PROBE_WORDS = (
    "invoices companies boxes classes wishes matches running planned created shopping stopped "
    "status analysis bus business update queue PDFReader resnet50_v2 getHTTPResponse a I 7 the"
)


def bm25_parameters() -> dict[str, float]:
    """k1 and b, read when an index is built (so the key and the build read the same values)."""
    return {"k1": BM25_K1, "b": BM25_B}


def index_recipe() -> str:
    """The digest of everything, besides the model and the catalog, that shapes an index.

    Looked up on every request, so it is computed once per set of values and functions in force:
    every attribute of the modules that shape an index is compared by identity, so a replaced
    function or value (as in a test) is a new set.
    """
    inputs = tuple(v for m in _SHAPING for v in vars(m).values())
    ids = tuple(map(id, inputs))
    cached = _CACHE.get(ids)
    # The cache keeps the objects themselves, so an id is never reused while its entry lives.
    if cached is not None and all(a is b for a, b in zip(cached[0], inputs, strict=True)):
        return cached[1]
    digest = _digest()
    if len(_CACHE) >= 8:
        _CACHE.clear()
    _CACHE[ids] = (inputs, digest)
    return digest


def _digest() -> str:
    recipe: dict[str, Any] = {
        "bm25": bm25_parameters(),
        "name_repeat": documents.NAME_REPEAT,
        "stop_words": sorted(tokenize.STOP_WORDS),
        "word_pattern": tokenize._WORD.pattern,
        "probe_words": tokenize.tokenize(_PROBE_WORDS),
        "probe_bm25_tokens": [documents.bm25_tokens(t) for t in _PROBE_TOOLS],
        "probe_dense_texts": [documents.dense_text(t) for t in _PROBE_TOOLS],
        "sources": _sources(),
    }
    data = json.dumps(recipe, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(data).hexdigest()


@lru_cache(maxsize=1)
def _sources() -> list[str]:
    return [_source_digest(m) for m in _SHAPING]


def _source_digest(module: ModuleType) -> str:
    try:
        source = inspect.getsource(module)
    except (OSError, TypeError):  # no source shipped: the values and probes above still count
        return f"{module.__name__}:no-source"
    return hashlib.sha256(source.encode()).hexdigest()[:16]


_SHAPING: tuple[ModuleType, ...] = (tokenize, documents, bm25, sys.modules[__name__])
_CACHE: dict[tuple[int, ...], tuple[tuple[object, ...], str]] = {}
