"""Score fusion: z-scores, clause splitting and the convex combination."""

from __future__ import annotations

import numpy as np
import pytest

from toolweaver.search.fuse import MAX_CLAUSES, clauses, combine, standardize


@pytest.mark.parametrize(
    "values",
    [
        pytest.param([1.0, 2.0, 3.0, 4.0], id="ramp"),
        pytest.param([0.0, 0.0, 0.0, 10.0], id="one-outlier"),
        pytest.param([-5.0, 3.5, 0.25, 100.0, 7.0], id="mixed-signs"),
        pytest.param([0.1, 0.1000001, 0.2], id="tiny-spread"),
    ],
)
def test_standardize_gives_mean_zero_std_one(values: list[float]) -> None:
    z = standardize(np.array(values, dtype=np.float32))
    assert z.dtype == np.float32
    assert float(z.mean()) == pytest.approx(0.0, abs=1e-5)
    assert float(z.std()) == pytest.approx(1.0, abs=1e-4)


def test_standardize_keeps_order_and_relative_gaps() -> None:
    raw = np.array([3.0, 1.0, 7.0, 5.0], dtype=np.float32)
    z = standardize(raw)
    assert list(np.argsort(z)) == list(np.argsort(raw))
    # gaps scale by the same factor: (7-5)/(5-3) == 1
    assert (z[2] - z[3]) / (z[3] - z[0]) == pytest.approx(1.0, rel=1e-5)


@pytest.mark.parametrize(
    "values",
    [
        pytest.param([0.0, 0.0, 0.0], id="zeros"),
        pytest.param([4.2, 4.2, 4.2, 4.2], id="constant"),
        pytest.param([7.0], id="single"),
    ],
)
def test_standardize_constant_input_gives_zeros(values: list[float]) -> None:
    z = standardize(np.array(values, dtype=np.float32))
    assert z.shape == (len(values),)
    assert z.tolist() == [0.0] * len(values)


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


def test_combine_weight_zero_follows_dense_order() -> None:
    bm25 = np.array([9.0, 0.0, 3.0, 1.0, 5.0], dtype=np.float32)
    dense = np.array([0.1, 0.9, 0.3, 0.8, 0.2], dtype=np.float32)
    fused = combine(bm25, dense, 0.0)
    assert list(np.argsort(-fused)) == list(np.argsort(-dense))
    np.testing.assert_allclose(fused, standardize(dense), atol=1e-6)


def test_combine_weight_one_follows_bm25_order() -> None:
    bm25 = np.array([9.0, 0.0, 3.0, 1.0, 5.0], dtype=np.float32)
    dense = np.array([0.1, 0.9, 0.3, 0.8, 0.2], dtype=np.float32)
    fused = combine(bm25, dense, 1.0)
    assert list(np.argsort(-fused)) == list(np.argsort(-bm25))
    np.testing.assert_allclose(fused, standardize(bm25), atol=1e-6)


def test_combine_is_convex_mix_of_z_scores() -> None:
    bm25 = np.array([4.0, 0.0, 2.0, 0.0], dtype=np.float32)
    dense = np.array([0.2, 0.6, 0.4, 0.1], dtype=np.float32)
    zb = (bm25 - bm25.mean()) / bm25.std()
    zd = (dense - dense.mean()) / dense.std()
    fused = combine(bm25, dense, 0.25)
    assert fused.dtype == np.float32
    np.testing.assert_allclose(fused, 0.25 * zb + 0.75 * zd, atol=1e-5)


def test_combine_ignores_a_signal_without_spread() -> None:
    bm25 = np.zeros(4, dtype=np.float32)  # no term matched anywhere
    dense = np.array([0.2, 0.6, 0.4, 0.1], dtype=np.float32)
    fused = combine(bm25, dense, 0.5)
    assert list(np.argsort(-fused)) == [1, 2, 0, 3]
    assert np.all(np.isfinite(fused))


def test_combine_is_insensitive_to_the_scale_of_a_signal() -> None:
    bm25 = np.array([4.0, 0.0, 2.0, 1.0], dtype=np.float32)
    dense = np.array([0.2, 0.6, 0.4, 0.1], dtype=np.float32)
    np.testing.assert_allclose(combine(bm25, dense, 0.4), combine(bm25 * 100, dense, 0.4), atol=1e-5)
