"""Score fusion: min-max rescaling, clause splitting, the convex combination and the clause rule."""

from __future__ import annotations

import numpy as np
import pytest

from toolweaver.search.fuse import MAX_CLAUSES, FusionWeights, Signals, clauses, combine, fuse, rescale


@pytest.mark.parametrize(
    "values",
    [
        pytest.param([1.0, 2.0, 3.0, 4.0], id="ramp"),
        pytest.param([0.0, 0.0, 0.0, 10.0], id="one-outlier"),
        pytest.param([-5.0, 3.5, 0.25, 100.0, 7.0], id="mixed-signs"),
        pytest.param([0.1, 0.1000001, 0.2], id="tiny-spread"),
    ],
)
def test_rescale_maps_best_to_one_and_worst_to_zero(values: list[float]) -> None:
    raw = np.array(values, dtype=np.float32)
    scaled = rescale(raw)
    assert scaled.dtype == np.float32
    assert float(scaled.min()) == pytest.approx(0.0, abs=1e-6)
    assert float(scaled.max()) == pytest.approx(1.0, abs=1e-6)
    assert int(np.argmax(scaled)) == int(np.argmax(raw))


def test_rescale_keeps_order_and_relative_gaps() -> None:
    raw = np.array([3.0, 1.0, 7.0, 5.0], dtype=np.float32)
    scaled = rescale(raw)
    assert list(np.argsort(scaled)) == list(np.argsort(raw))
    np.testing.assert_allclose(scaled, (raw - 1.0) / 6.0, atol=1e-6)


@pytest.mark.parametrize(
    "values",
    [
        pytest.param([0.0, 0.0, 0.0], id="zeros"),
        pytest.param([4.2, 4.2, 4.2, 4.2], id="constant"),
        pytest.param([7.0], id="single"),
        pytest.param([], id="empty"),
    ],
)
def test_rescale_of_constant_input_gives_zeros(values: list[float]) -> None:
    scaled = rescale(np.array(values, dtype=np.float32))
    assert scaled.shape == (len(values),)
    assert scaled.tolist() == [0.0] * len(values)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        pytest.param(
            "stock price of Apple and any recent news",
            ["stock price of Apple", "any recent news"],
            id="and",
        ),
        pytest.param(
            "check the weather in Paris as well as the forecast for Rome",
            ["check the weather in Paris", "the forecast for Rome"],
            id="as-well-as",
        ),
        pytest.param(
            "convert 100 dollars to euros, then email the invoice to Bob",
            ["convert 100 dollars to euros", "email the invoice to Bob"],
            id="then",
        ),
        pytest.param(
            "Book a meeting room for Friday. Send the agenda to the team",
            ["Book a meeting room for Friday", "Send the agenda to the team"],
            id="sentences",
        ),
        pytest.param(
            "translate this letter into German; summarize the quarterly report",
            ["translate this letter into German", "summarize the quarterly report"],
            id="semicolon",
        ),
        pytest.param(
            "what's the weather in Oslo? any flight delays today",
            ["what's the weather in Oslo", "any flight delays today"],
            id="question-mark",
        ),
        pytest.param(
            "upload the contract file and also share the contract file with legal",
            ["upload the contract file", "share the contract file with legal"],
            id="and-also",
        ),
    ],
)
def test_clauses_split_multi_part_requests(query: str, expected: list[str]) -> None:
    assert clauses(query) == expected


@pytest.mark.parametrize(
    "query",
    [
        pytest.param("weather in Paris tomorrow", id="single-request"),
        pytest.param("salt and pepper prices", id="and-joining-single-words"),
        pytest.param("send an email", id="short"),
        pytest.param("stock price of Apple and news", id="second-part-too-short"),
        pytest.param("what is it and why", id="stop-words-only-parts"),
        pytest.param("", id="empty"),
    ],
)
def test_clauses_leave_single_requests_alone(query: str) -> None:
    assert clauses(query) == []


def test_clauses_are_capped() -> None:
    parts = [f"create invoice number {i} now" for i in range(MAX_CLAUSES + 3)]
    result = clauses(". ".join(parts))
    assert result == parts[:MAX_CLAUSES]


def test_clauses_split_case_insensitively() -> None:
    assert clauses("stock price of Apple AND any recent news") == ["stock price of Apple", "any recent news"]


BM25 = np.array([9.0, 0.0, 3.0, 1.0, 5.0], dtype=np.float32)
DENSE = np.array([0.1, 0.9, 0.3, 0.8, 0.2], dtype=np.float32)


@pytest.mark.parametrize(
    ("weight", "follows"),
    [pytest.param(0.0, DENSE, id="weight-zero-is-dense"), pytest.param(1.0, BM25, id="weight-one-is-bm25")],
)
def test_combine_at_the_ends_is_one_signal(weight: float, follows: np.ndarray) -> None:
    fused = combine(BM25, DENSE, weight)
    assert list(np.argsort(-fused)) == list(np.argsort(-follows))
    np.testing.assert_allclose(fused, rescale(follows), atol=1e-6)


def test_combine_is_convex_mix_of_rescaled_scores() -> None:
    bm25 = np.array([4.0, 0.0, 2.0, 0.0], dtype=np.float32)
    dense = np.array([0.2, 0.6, 0.4, 0.1], dtype=np.float32)
    fused = combine(bm25, dense, 0.2)
    assert fused.dtype == np.float32
    expected = 0.2 * bm25 / 4.0 + 0.8 * (dense - 0.1) / 0.5
    np.testing.assert_allclose(fused, expected, atol=1e-5)


def test_a_request_bm25_matches_nowhere_keeps_the_dense_order() -> None:
    bm25 = np.zeros(4, dtype=np.float32)  # no term matched anywhere
    dense = np.array([0.2, 0.6, 0.4, 0.1], dtype=np.float32)
    fused = combine(bm25, dense, 0.5)
    assert list(np.argsort(-fused)) == [1, 2, 0, 3]
    assert np.all(np.isfinite(fused))


def test_combine_is_insensitive_to_the_scale_of_a_signal() -> None:
    bm25 = np.array([4.0, 0.0, 2.0, 1.0], dtype=np.float32)
    dense = np.array([0.2, 0.6, 0.4, 0.1], dtype=np.float32)
    np.testing.assert_allclose(combine(bm25, dense, 0.4), combine(bm25 * 100, dense, 0.4), atol=1e-5)


def test_fuse_adds_the_best_clause_to_the_whole_request() -> None:
    whole = (np.array([1.0, 0.0, 0.0], np.float32), np.array([0.9, 0.5, 0.1], np.float32))
    first = (np.array([0.0, 2.0, 0.0], np.float32), np.array([0.1, 0.9, 0.2], np.float32))
    second = (np.array([0.0, 0.0, 3.0], np.float32), np.array([0.2, 0.1, 0.8], np.float32))
    signals = Signals(
        bm25=np.stack([whole[0], first[0], second[0]]),
        dense=np.stack([whole[1], first[1], second[1]]),
    )
    weights = FusionWeights(bm25=0.3, clause=0.7)
    parts = [combine(b, d, 0.3) for b, d in (whole, first, second)]
    np.testing.assert_allclose(
        fuse(signals, weights), parts[0] + 0.7 * np.maximum(parts[1], parts[2]), atol=1e-6
    )
    alone = Signals(bm25=signals.bm25[:1], dense=signals.dense[:1])
    np.testing.assert_allclose(fuse(alone, weights), parts[0], atol=1e-6)
