"""Fusion of BM25 and dense scores.

Each signal is standardised per query (z-score over the whole catalog), then combined convexly.
Unlike min-max, a z-score is not stretched by one outlier, and unlike reciprocal-rank fusion it keeps
how far ahead the leader is. Requests that ask for several things ("stock price of Apple and any
recent news") are also scored clause by clause, and each tool keeps its best clause, so a tool
that serves only one part of the request still ranks high.

The weights were tuned on the MetaTool and Gorilla sets in ``../shared/datasets``
(``python -m toolweaver eval-search``; figures in ``bench/RESULTS.md``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from toolweaver.search.tokenize import tokenize

FloatArray = npt.NDArray[np.float32]

# Clause boundaries: sentence ends, "and (also)", "also", "then", "as well as".
_CLAUSE = re.compile(
    r"\s*(?:[?;!]|\.\s|,?\s+and\s+(?:also\s+)?|,?\s+also\s+|,?\s+then\s+|,?\s+as well as\s+)\s*",
    re.IGNORECASE,
)
MAX_CLAUSES = 4


@dataclass(frozen=True)
class FusionWeights:
    bm25: float = 0.25  # share of BM25 in the convex combination (dense gets the rest)
    clause: float = 0.5  # weight of the best single clause added to the whole-request score


Span = tuple[int, int]


def clause_spans(query: str) -> list[Span]:
    """Character spans of the request's parts when it asks for several things; [] when it is one."""
    spans: list[Span] = []
    start = 0
    for sep in _CLAUSE.finditer(query):
        spans.append((start, sep.start()))
        start = sep.end()
    spans.append((start, len(query)))
    spans = [(a, b) for a, b in spans if len(tokenize(query[a:b])) >= 2]
    return spans[:MAX_CLAUSES] if len(spans) > 1 else []


def clauses(query: str) -> list[str]:
    """The request's parts as text (see ``clause_spans``)."""
    return [query[a:b] for a, b in clause_spans(query)]


def standardize(scores: FloatArray) -> FloatArray:
    """(scores - mean) / std, over the whole catalog; zeros when every score is the same."""
    if not len(scores):
        return np.zeros(0, dtype=np.float32)
    centered: FloatArray = scores - scores.mean()
    std = float(np.sqrt(np.square(centered).mean()))  # what ndarray.std computes, without a 2nd mean
    if std < 1e-9:
        return np.zeros(len(scores), dtype=np.float32)
    centered /= np.float32(std)
    return centered


def combine(bm25: FloatArray, dense: FloatArray, bm25_weight: float) -> FloatArray:
    out = standardize(bm25)
    out *= np.float32(bm25_weight)
    out += np.float32(1.0 - bm25_weight) * standardize(dense)
    return out
