"""Fusion methods measured against each other, and the batch scoring the search only needs in part.

Every method scores a batch of requests at once: arrays shaped [requests, 1 + clauses, tools]
(row 0 the whole request, then its clauses), and returns [requests, tools]. The clause rule is the
engine's for every method: the whole request's score plus ``clause`` times the best clause's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]


@dataclass(frozen=True)
class Batch:
    """Requests with the same number of rows, stacked."""

    bm25: FloatArray  # [requests, rows, tools]
    dense: FloatArray  # [requests, rows, tools]
    coverage: FloatArray  # [requests, rows]: share of the row's idf mass that BM25 knows


def _kept_per_array(fn: Callable[[FloatArray], FloatArray]) -> Callable[[FloatArray], FloatArray]:
    """``fn`` remembered per input array (tuning asks for the same one many times).

    The cache holds the input itself, so its id is never reused while the entry lives.
    """
    cache: dict[int, tuple[FloatArray, FloatArray]] = {}

    def kept(x: FloatArray) -> FloatArray:
        hit = cache.get(id(x))
        if hit is None or hit[0] is not x:
            hit = cache[id(x)] = (x, fn(x))
        return hit[1]

    return kept


@_kept_per_array
def z(x: FloatArray) -> FloatArray:
    """Z-scores over the tools of each row."""
    mean = x.mean(axis=-1, keepdims=True)
    std = x.std(axis=-1, keepdims=True)
    return np.where(std > 1e-9, (x - mean) / np.maximum(std, 1e-9), 0.0).astype(np.float32)


def minmax(x: FloatArray) -> FloatArray:
    lo, hi = x.min(axis=-1, keepdims=True), x.max(axis=-1, keepdims=True)
    return np.where(hi - lo > 1e-9, (x - lo) / np.maximum(hi - lo, 1e-9), 0.0).astype(np.float32)


@_kept_per_array
def ranks(x: FloatArray) -> FloatArray:
    """1 for the best tool of each row, 2 for the next, ..."""
    order = np.argsort(-x, axis=-1, kind="stable")
    out = np.empty_like(order)
    np.put_along_axis(out, order, np.arange(1, x.shape[-1] + 1)[None, None, :].repeat(x.shape[0], 0), -1)
    return out.astype(np.float32)


def _with_clauses(rows: FloatArray, clause: float) -> FloatArray:
    out = rows[:, 0].copy()
    if rows.shape[1] > 1:
        out += np.float32(clause) * rows[:, 1:].max(axis=1)
    return out


def sigmoid(x: FloatArray) -> FloatArray:
    return (1.0 / (1.0 + np.exp(-x))).astype(np.float32)


def bm25_evidence(b: Batch, p: dict[str, float]) -> FloatArray:
    """Per row in [0, 1]: how much BM25 knows, from its peak z-score and its idf coverage."""
    peak = z(b.bm25).max(axis=-1)
    e = sigmoid(np.float32(p.get("slope", 1.0)) * (peak - np.float32(p.get("mid", 3.0))))
    gamma = p.get("gamma", 0.0)
    if gamma:
        e = e * np.power(np.clip(b.coverage, 0.0, 1.0), np.float32(gamma))
    return e.astype(np.float32)


def convex_z(b: Batch, p: dict[str, float]) -> FloatArray:
    w = np.float32(p["w"])
    return _with_clauses(w * z(b.bm25) + (1 - w) * z(b.dense), p["clause"])


def convex_minmax(b: Batch, p: dict[str, float]) -> FloatArray:
    w = np.float32(p["w"])
    return _with_clauses(w * minmax(b.bm25) + (1 - w) * minmax(b.dense), p["clause"])


def rrf(b: Batch, p: dict[str, float]) -> FloatArray:
    k, w = np.float32(p["k"]), np.float32(p["w"])
    rows = w / (k + ranks(b.bm25)) + (1 - w) / (k + ranks(b.dense))
    # A tool BM25 never matched gets no BM25 share, whatever its rank among the zeros.
    rows = rows - np.where(b.bm25 <= 0, w / (k + ranks(b.bm25)), 0.0)
    return _with_clauses(rows.astype(np.float32) * (k + 1), p["clause"])


def adaptive_z(b: Batch, p: dict[str, float]) -> FloatArray:
    """Convex z-scores whose BM25 weight moves from ``lo`` to ``hi`` with BM25's evidence."""
    e = bm25_evidence(b, p)[..., None]
    w = np.float32(p["lo"]) + np.float32(p["hi"] - p["lo"]) * e
    return _with_clauses(w * z(b.bm25) + (1 - w) * z(b.dense), p["clause"])


def adaptive_minmax(b: Batch, p: dict[str, float]) -> FloatArray:
    """Convex min-max whose BM25 weight follows BM25's evidence: its peak, its idf coverage, and
    whether the dense side likes BM25's best tool too (``alpha``: how much that agreement counts)."""
    mb, md = minmax(b.bm25), minmax(b.dense)
    e = bm25_evidence(b, p)
    alpha = p.get("alpha", 0.0)
    if alpha:
        best = np.argmax(b.bm25, axis=-1)[..., None]
        agree = np.take_along_axis(md, best, -1)[..., 0]
        e = e * np.power(np.clip(agree, 0.0, 1.0), np.float32(alpha))
    w = (np.float32(p["lo"]) + np.float32(p["hi"] - p["lo"]) * e)[..., None]
    return _with_clauses(w * mb + (1 - w) * md, p["clause"])


def calibrated(b: Batch, p: dict[str, float]) -> FloatArray:
    """Each signal's z-score through its own logistic curve (a probability of relevance), summed as log-odds.

    The curves' slopes and offsets are what is tuned; unlike a convex mix, a strong dense
    score is not cancelled by a flat BM25 row, whose z-scores stay near the curve's floor.
    """
    zb, zd = z(b.bm25), z(b.dense)
    pb = sigmoid(np.float32(p["ab"]) * (zb - np.float32(p["cb"])))
    pd = sigmoid(np.float32(p["ad"]) * (zd - np.float32(p["cd"])))
    rows = np.log(pb + 1e-6) + np.log(pd + 1e-6)
    return _with_clauses(rows.astype(np.float32), p["clause"])


def softmax_mix(b: Batch, p: dict[str, float]) -> FloatArray:
    """Each signal as a distribution over the tools (softmax at its own temperature), mixed.

    BM25 is divided by its row's best score first, so its temperature means the same for a
    two-word and a twenty-word request; a row BM25 matches nowhere lends the dense side its share.
    """
    top = b.bm25.max(axis=-1, keepdims=True)
    bm = np.where(top > 0, b.bm25 / np.maximum(top, 1e-9), 0.0)
    pb = _softmax(bm / np.float32(p["tb"]))
    pd = _softmax(b.dense / np.float32(p["td"]))
    w = np.where(top > 0, np.float32(p["w"]), 0.0)
    return _with_clauses((w * pb + (1 - w) * pd).astype(np.float32), p["clause"])


def _softmax(x: FloatArray) -> FloatArray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return (e / e.sum(axis=-1, keepdims=True)).astype(np.float32)


def features(b: Batch, p: dict[str, float]) -> FloatArray:
    """Per (request row, tool) features of the learned combination: [requests, rows, tools, F]."""
    zb, zd = z(b.bm25), z(b.dense)
    e = bm25_evidence(b, {"slope": p.get("slope", 1.0), "mid": p.get("mid", 3.0)})[..., None]
    cov = np.clip(b.coverage, 0.0, 1.0)[..., None] * np.ones_like(zb)
    top_b = (ranks(b.bm25) <= 3).astype(np.float32) * (b.bm25 > 0)
    agree = np.clip(zb, 0, None) * np.clip(zd, 0, None)
    return np.stack([zb, zd, zb * e, zd * e, zb * cov, top_b, zd * zd * np.sign(zd), agree], axis=-1)


def learned(b: Batch, p: dict[str, Any]) -> FloatArray:
    weights = np.asarray(p["coef"], dtype=np.float32)
    return _with_clauses(features(b, p) @ weights, p["clause"])


Method = Callable[[Batch, dict[str, Any]], FloatArray]
METHODS: dict[str, Method] = {
    "convex z-score (shipped before)": convex_z,
    "convex min-max": convex_minmax,
    "reciprocal rank fusion": rrf,
    "adaptive z-score": adaptive_z,
    "adaptive min-max": adaptive_minmax,
    "calibrated log-odds": calibrated,
    "softmax mixture": softmax_mix,
    "learned linear": learned,
}
