"""Fusion of BM25 and dense scores.

Each signal is rescaled per request to [0, 1] over the catalog (min-max: the best tool 1, the
worst 0), then combined convexly, 0.2 BM25 and 0.8 dense. A request BM25 matches nowhere leaves
BM25 at zero everywhere, so it cannot pull a good dense ranking down; a request that names a tool
is handled before fusion (an exact name ranks first). Requests that ask for several things
("stock price of Apple and any recent news") are also scored clause by clause, and each tool adds
its best clause's score (times 0.75), so a tool that serves only one part of the request still ranks high.

Chosen by measurement (``bench/fusion_lab.py``; bench/RESULTS.md, "Search fusion"): against
z-scores, reciprocal-rank fusion, per-request weights from BM25's evidence (its peak, its idf
coverage, agreement with dense), calibrated log-odds, a softmax mixture, a learned linear
combination and a dense feedback second stage, each tuned the same way on the public sets and the
dev split of the project's held-out requests, min-max scored best left-one-dataset-out.
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
    bm25: float = 0.2  # share of BM25 in the convex combination (dense gets the rest)
    clause: float = 0.75  # weight of the best single clause added to the whole-request score


Span = tuple[int, int]


@dataclass(frozen=True)
class Signals:
    """What fusion sees of one request: row 0 scores the whole request, row 1.. each clause."""

    bm25: FloatArray  # [1 + clauses, tools]
    dense: FloatArray  # [1 + clauses, tools], cosines


def fuse(signals: Signals, weights: FusionWeights) -> FloatArray:
    """One score per tool: the whole request's combination plus the best clause's, weighted."""
    scores = combine(signals.bm25[0], signals.dense[0], weights.bm25)
    if len(signals.bm25) > 1:
        rows = zip(signals.bm25[1:], signals.dense[1:], strict=True)
        best = np.max([combine(b, d, weights.bm25) for b, d in rows], axis=0)
        scores += np.float32(weights.clause) * best
    return scores


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


def rescale(scores: FloatArray) -> FloatArray:
    """(scores - min) / (max - min) over the whole catalog; zeros when every score is the same."""
    if not len(scores):
        return np.zeros(0, dtype=np.float32)
    low = scores.min()
    spread = float(scores.max() - low)
    if spread < 1e-9:
        return np.zeros(len(scores), dtype=np.float32)
    out: FloatArray = (scores - low) * np.float32(1.0 / spread)
    return out.astype(np.float32, copy=False)


def combine(bm25: FloatArray, dense: FloatArray, bm25_weight: float) -> FloatArray:
    out = rescale(bm25)
    out *= np.float32(bm25_weight)
    out += np.float32(1.0 - bm25_weight) * rescale(dense)
    return out
