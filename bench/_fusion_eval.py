"""Scoring fusion methods on cached signals: batches, headline metrics, and the single-signal baselines."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from _fusion_data import EvalSet, SetSignals
from _fusion_methods import METHODS, Batch, Method, convex_minmax

FloatArray = npt.NDArray[np.float32]
DEPTH = 10
TUNING_SAMPLE = 4_000  # requests of a large public set used while tuning (all are used to report)


@dataclass
class Prepared:
    """One set, ready for vectorised scoring: batches by row count and relevance masks."""

    eval_set: EvalSet
    batches: list[tuple[npt.NDArray[np.int64], Batch]]  # request positions, their batch
    relevant: npt.NDArray[np.bool_]  # [requests, tools]
    exact: list[list[int]]
    n_requests: int
    texts: list[str]
    embeddings: FloatArray  # tool vectors, for methods that look at the tools themselves

    def subset(self, keep: npt.NDArray[np.int64]) -> Prepared:
        """The same set restricted to the requests at positions ``keep`` (sorted)."""
        where = {int(q): i for i, q in enumerate(keep)}
        batches = []
        for positions, b in self.batches:
            mask = np.isin(positions, keep)
            if mask.any():
                new = np.array([where[int(q)] for q in positions[mask]])
                batches.append((new, Batch(b.bm25[mask], b.dense[mask], b.coverage[mask])))
        exact = [self.exact[int(q)] for q in keep]
        texts = [self.texts[int(q)] for q in keep]
        return Prepared(self.eval_set, batches, self.relevant[keep], exact, len(keep), texts, self.embeddings)


def prepare(data: SetSignals) -> Prepared:
    by_rows: dict[int, list[int]] = {}
    for q, s in enumerate(data.signals):
        by_rows.setdefault(len(s.bm25), []).append(q)
    batches = []
    for _, positions in sorted(by_rows.items()):
        sig = [data.signals[q] for q in positions]
        batch = Batch(
            np.stack([s.bm25 for s in sig]),
            np.stack([s.dense for s in sig]),
            np.stack([data.coverage[q] for q in positions]),
        )
        batches.append((np.array(positions), batch))
    index = {name: i for i, name in enumerate(data.names)}
    relevant = np.zeros((len(data.queries), len(data.names)), dtype=bool)
    for q, query in enumerate(data.queries):
        relevant[q, [index[n] for n in query.relevant if n in index]] = True
    texts = [q.text for q in data.queries]
    return Prepared(data.eval_set, batches, relevant, data.exact, len(data.queries), texts, data.embeddings)


def tuning_view(p: Prepared) -> Prepared:
    if p.n_requests <= TUNING_SAMPLE:
        return p
    keep = np.array(sorted(random.Random(16).sample(range(p.n_requests), TUNING_SAMPLE)))
    return p.subset(keep)


def scores_of(p: Prepared, method: Method, params: dict[str, Any]) -> FloatArray:
    if method is dense_feedback:
        return _dense_feedback(p, params)
    out = np.empty(p.relevant.shape, dtype=np.float32)
    for positions, batch in p.batches:
        out[positions] = method(batch, params)
    return out


def dense_feedback(b: Batch, p: dict[str, Any]) -> FloatArray:
    """A second stage over the top 50 of the min-max fusion: pseudo-relevance feedback in the dense
    space (each candidate's cosine with the mean vector of the first ``k``, min-max scaled, times
    ``g``, added). It needs the tool vectors, so ``scores_of`` runs it on the whole set."""
    raise NotImplementedError("scored through scores_of")


def _dense_feedback(p: Prepared, params: dict[str, Any]) -> FloatArray:
    base = scores_of(p, convex_minmax, {"w": params["w"], "clause": params["clause"]})
    k, g, depth = int(params["k"]), np.float32(params["g"]), min(50, base.shape[1])
    order = np.argsort(-base, axis=1, kind="stable")
    candidates = order[:, :depth]
    centre = p.embeddings[order[:, :k]].mean(axis=1)
    centre /= np.maximum(np.linalg.norm(centre, axis=1, keepdims=True), 1e-9)
    sim = np.einsum("qd,qcd->qc", centre, p.embeddings[candidates])
    lo, hi = sim.min(axis=1, keepdims=True), sim.max(axis=1, keepdims=True)
    lift = g * (sim - lo) / np.maximum(hi - lo, 1e-9)
    out = np.full_like(base, np.float32(-1e9))
    np.put_along_axis(out, candidates, np.take_along_axis(base, candidates, 1) + lift, 1)
    return out


METHODS["dense feedback over the top 50"] = dense_feedback


def single(p: Prepared, signal: str) -> FloatArray:
    """The engine's bm25 or dense mode: the whole request's row alone (bm25: matched tools only)."""
    out = np.empty(p.relevant.shape, dtype=np.float32)
    for positions, batch in p.batches:
        row = (batch.bm25 if signal == "bm25" else batch.dense)[:, 0]
        out[positions] = np.where(row > 0, row, -np.inf) if signal == "bm25" else row
    return out


def per_request(p: Prepared, scores: FloatArray) -> npt.NDArray[np.float64]:
    """The set's headline metric for every request: tools named exactly first, then by score."""
    s = scores.copy()
    for q, found in enumerate(p.exact):
        for j, i in enumerate(found):
            s[q, i] = np.float32(1e30) * (1.0 - 0.01 * j)
    top = np.argpartition(-s, DEPTH - 1, axis=1)[:, :DEPTH] if s.shape[1] > DEPTH else np.argsort(-s, axis=1)
    order = np.take_along_axis(top, np.argsort(-np.take_along_axis(s, top, 1), axis=1, kind="stable"), 1)
    gains = np.take_along_axis(p.relevant, order, 1) & np.isfinite(np.take_along_axis(s, order, 1))
    if p.eval_set.metric == "hit@5":
        return gains[:, :5].any(axis=1).astype(np.float64)
    discounts = 1.0 / np.log2(np.arange(2, gains.shape[1] + 2))
    dcg = (gains * discounts).sum(axis=1)
    n_rel = np.minimum(p.relevant.sum(axis=1), DEPTH)
    ideal = np.array([discounts[:n].sum() for n in n_rel])
    return np.where(ideal > 0, dcg / np.maximum(ideal, 1e-12), 0.0)


def metric(p: Prepared, scores: FloatArray) -> float:
    return float(per_request(p, scores).mean())


def baselines(p: Prepared) -> dict[str, float]:
    return {s: metric(p, single(p, s)) for s in ("bm25", "dense")}


def objective(results: list[tuple[float, dict[str, float]]]) -> float:
    """Mean headline metric, less a penalty wherever the hybrid falls behind its better part."""
    mean = sum(m for m, _ in results) / len(results)
    shortfall = sum(max(0.0, max(b.values()) - 0.005 - m) for m, b in results) / len(results)
    return mean - 4.0 * shortfall


def ci95(values: npt.NDArray[np.float64]) -> float:
    return 1.96 * float(values.std()) / math.sqrt(max(1, len(values)))
