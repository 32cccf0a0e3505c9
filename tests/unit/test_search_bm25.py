"""BM25Index against a plain reference implementation; persistence; degenerate corpora."""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from toolweaver.search.bm25 import BM25Index

CORPUS: list[list[str]] = [
    ["weather", "forecast", "city", "weather"],
    ["send", "email", "message"],
    ["search", "email", "inbox", "message", "message", "filter"],
    ["stock", "price", "quote"],
    ["weather", "alert"],
    ["convert", "currency", "price", "exchange", "rate", "daily", "price"],
]


def reference_scores(
    documents: Sequence[Sequence[str]], query: Sequence[str], *, k1: float, b: float
) -> list[float]:
    """Okapi BM25 with Lucene's idf, written term by term; repeated query terms count again."""
    n = len(documents)
    avgdl = sum(len(d) for d in documents) / n
    out = []
    for doc in documents:
        tf = Counter(doc)
        score = 0.0
        for term in query:
            df = sum(1 for d in documents if term in d)
            if df == 0 or tf[term] == 0:
                continue
            idf = math.log(1.0 + (n - df + 0.5) / (df + 0.5))
            f = tf[term]
            score += idf * f * (k1 + 1.0) / (f + k1 * (1.0 - b + b * len(doc) / avgdl))
        out.append(score)
    return out


@pytest.mark.parametrize(
    "query",
    [
        pytest.param(["weather"], id="one-term"),
        pytest.param(["email", "message"], id="two-terms"),
        pytest.param(["price", "weather", "email", "rate"], id="terms-in-many-docs"),
        pytest.param(["message", "message"], id="repeated-term"),
        pytest.param(["price", "unknown", "price", "quote"], id="mixed-known-unknown"),
    ],
)
@pytest.mark.parametrize(
    ("k1", "b"),
    [
        pytest.param(1.2, 0.75, id="lucene-defaults"),
        pytest.param(1.2, 0.3, id="toolweaver-b"),
        pytest.param(2.0, 0.0, id="no-length-norm"),
        pytest.param(0.5, 1.0, id="full-length-norm"),
    ],
)
def test_scores_equal_reference_bm25(query: list[str], k1: float, b: float) -> None:
    index = BM25Index.build(CORPUS, k1=k1, b=b)
    expected = reference_scores(CORPUS, query, k1=k1, b=b)
    np.testing.assert_allclose(index.scores(query), expected, rtol=1e-5, atol=1e-5)


def test_scores_are_float32_one_per_document() -> None:
    scores = BM25Index.build(CORPUS).scores(["weather"])
    assert scores.dtype == np.float32
    assert scores.shape == (len(CORPUS),)


def test_every_idf_is_positive_even_for_a_term_in_every_document() -> None:
    docs = [["common", "a1"], ["common", "b1"], ["common", "c1"]]
    index = BM25Index.build(docs)
    assert float(index.idf.min()) > 0.0
    assert all(s > 0 for s in index.scores(["common"]))


@pytest.mark.parametrize(
    "query",
    [
        pytest.param(["nowhere"], id="unknown-term"),
        pytest.param([], id="no-terms"),
        pytest.param(["nowhere", "missing"], id="several-unknown"),
    ],
)
def test_query_without_known_terms_scores_zero(query: list[str]) -> None:
    scores = BM25Index.build(CORPUS).scores(query)
    assert scores.tolist() == [0.0] * len(CORPUS)


def test_unknown_term_adds_nothing() -> None:
    index = BM25Index.build(CORPUS)
    np.testing.assert_array_equal(index.scores(["price", "zzz"]), index.scores(["price"]))


def test_only_documents_containing_the_term_score() -> None:
    scores = BM25Index.build(CORPUS).scores(["email"])
    assert [i for i, s in enumerate(scores) if s > 0] == [1, 2]


def test_repeated_query_term_weighs_more() -> None:
    index = BM25Index.build(CORPUS)
    once = index.scores(["price", "quote"])
    twice = index.scores(["price", "price", "quote"])
    # Doc 5 has "price" but not "quote"; doubling "price" must lift it relative to the stock doc.
    assert twice[5] == pytest.approx(2 * once[5], rel=1e-6)
    assert twice[3] > once[3]
    assert twice[5] / twice[3] > once[5] / once[3]


def test_higher_term_frequency_scores_higher_all_else_equal() -> None:
    docs = [["apple", "pie", "x1"], ["apple", "apple", "y1"]]
    scores = BM25Index.build(docs).scores(["apple"])
    assert scores[1] > scores[0] > 0


def test_rarer_term_scores_higher() -> None:
    docs = [["rare", "common"], ["common", "z1"], ["common", "z2"], ["common", "z3"]]
    index = BM25Index.build(docs)
    assert index.scores(["rare"])[0] > index.scores(["common"])[0]


@pytest.mark.parametrize(
    ("query", "doc_id", "expected"),
    [
        pytest.param(["email", "message", "filter"], 2, ["email", "message", "filter"], id="all-match"),
        pytest.param(["filter", "email", "stock"], 2, ["filter", "email"], id="query-order-kept"),
        pytest.param(["email", "email", "inbox"], 2, ["email", "inbox"], id="duplicates-once"),
        pytest.param(["weather", "unknown"], 1, [], id="none-match"),
        pytest.param(["price"], 3, ["price"], id="first-of-two-postings"),
        pytest.param(["price"], 5, ["price"], id="last-of-two-postings"),
        pytest.param(["price"], 4, [], id="between-postings"),
        pytest.param([], 0, [], id="empty-query"),
    ],
)
def test_matched_terms(query: list[str], doc_id: int, expected: list[str]) -> None:
    assert BM25Index.build(CORPUS).matched_terms(query, doc_id) == expected


def test_matched_terms_agree_with_positive_scores() -> None:
    index = BM25Index.build(CORPUS)
    query = ["weather", "email", "price", "rate", "nothing"]
    for doc_id in range(len(CORPUS)):
        for term in query:
            contained = term in index.matched_terms(query, doc_id)
            assert contained == (index.scores([term])[doc_id] > 0), (term, doc_id)


@pytest.mark.parametrize(
    "doc_ids",
    [
        pytest.param([5, 0, 2, 3], id="unsorted"),
        pytest.param([2, 2], id="repeated"),
        pytest.param([len(CORPUS) - 1], id="last-document"),
        pytest.param([], id="none"),
    ],
)
def test_matched_terms_of_several_documents_equal_one_at_a_time(doc_ids: list[int]) -> None:
    index = BM25Index.build(CORPUS)
    query = ["price", "email", "weather", "nothing", "email", "filter"]
    assert index.matched_terms_of(query, doc_ids) == [index.matched_terms(query, d) for d in doc_ids]
    assert index.matched_terms_of(query, doc_ids) == [
        [t for t in dict.fromkeys(query) if t in CORPUS[d]] for d in doc_ids
    ]


def test_state_round_trip_through_json_and_npy_gives_identical_scores(tmp_path: Path) -> None:
    index = BM25Index.build(CORPUS, k1=1.5, b=0.4)
    header, arrays = index.to_state()
    header = json.loads(json.dumps(header))
    reloaded_arrays = {}
    for name, array in arrays.items():
        path = tmp_path / f"{name}.npy"
        np.save(path, array, allow_pickle=False)
        reloaded_arrays[name] = np.load(path, allow_pickle=False)
    restored = BM25Index.from_state(header, reloaded_arrays)
    assert restored.vocabulary == index.vocabulary
    assert (restored.n_docs, restored.k1, restored.b) == (index.n_docs, 1.5, 0.4)
    for query in (["weather"], ["email", "message", "message"], ["price", "rate"], ["nothing"]):
        np.testing.assert_array_equal(restored.scores(query), index.scores(query))
    assert restored.matched_terms(["email", "inbox"], 2) == ["email", "inbox"]


def test_state_arrays_are_plain_numeric() -> None:
    _, arrays = BM25Index.build(CORPUS).to_state()
    assert set(arrays) == {"idf", "indptr", "doc_ids", "weights"}
    for array in arrays.values():
        assert array.dtype.kind in "fi"


def test_from_state_casts_widened_arrays_back() -> None:
    header, arrays = BM25Index.build(CORPUS).to_state()
    widened = {
        name: a.astype(np.float64) if a.dtype.kind == "f" else a.astype(np.int64)
        for name, a in arrays.items()
    }
    restored = BM25Index.from_state(header, widened)
    assert restored.idf.dtype == np.float32
    assert restored.doc_ids.dtype == np.int32
    scores = restored.scores(["price"])
    assert scores.dtype == np.float32
    np.testing.assert_allclose(scores, BM25Index.build(CORPUS).scores(["price"]), rtol=1e-6)


def test_empty_corpus() -> None:
    index = BM25Index.build([])
    assert index.n_docs == 0
    assert index.vocabulary == {}
    assert index.scores(["anything"]).shape == (0,)
    header, arrays = index.to_state()
    assert BM25Index.from_state(header, arrays).scores(["anything"]).shape == (0,)


def test_corpus_of_empty_documents() -> None:
    index = BM25Index.build([[], [], []])
    assert index.scores(["anything"]).tolist() == [0.0, 0.0, 0.0]
    assert index.matched_terms(["anything"], 1) == []


def test_empty_documents_among_others_score_zero_and_others_match_reference() -> None:
    docs: list[list[str]] = [[], ["alpha", "beta"], [], ["beta", "gamma", "gamma"]]
    index = BM25Index.build(docs, k1=1.2, b=0.75)
    scores = index.scores(["beta", "gamma"])
    assert scores[0] == 0.0
    assert scores[2] == 0.0
    expected = reference_scores(docs, ["beta", "gamma"], k1=1.2, b=0.75)
    np.testing.assert_allclose(scores, expected, rtol=1e-5, atol=1e-6)
    assert np.all(np.isfinite(scores))
