"""SearchEngine over the demo catalog and SearchService's memory/store/build cascade (FakeEmbedder)."""

from __future__ import annotations

import dataclasses
import json
import threading
from pathlib import Path

import numpy as np
import pytest

from tests.fakes import FakeEmbedder
from toolweaver.catalog import Catalog, Tool, load_catalog
from toolweaver.errors import SearchError
from toolweaver.search.documents import bm25_tokens, dense_text
from toolweaver.search.engine import (
    MAX_QUERY_CHARS,
    MAX_TOP_K,
    ONE_THREAD_PRODUCT,
    SEARCH_MODES,
    SearchEngine,
    SearchHit,
    cosines,
)
from toolweaver.search.fuse import FusionWeights, clauses
from toolweaver.search.index import build_index
from toolweaver.search.service import SearchService
from toolweaver.search.tokenize import tokenize
from toolweaver.settings import DEMO_CATALOG, Settings
from toolweaver.storage import FileSystemBlobStore

MODES = [pytest.param(mode, id=mode) for mode in SEARCH_MODES]


@pytest.fixture(scope="module")
def demo() -> Catalog:
    return load_catalog(DEMO_CATALOG)


@pytest.fixture(scope="module")
def fake() -> FakeEmbedder:
    return FakeEmbedder()


@pytest.fixture(scope="module")
def engine(demo: Catalog, fake: FakeEmbedder) -> SearchEngine:
    index, _ = build_index(demo, fake)
    return SearchEngine(demo, index, fake)


def engine_for(tools: list[Tool], **kwargs: FusionWeights) -> SearchEngine:
    catalog = Catalog(tools)
    embedder = FakeEmbedder()
    return SearchEngine(catalog, build_index(catalog, embedder)[0], embedder, **kwargs)


def names(hits: list[SearchHit]) -> list[str]:
    return [h.tool.name for h in hits]


# Exact names


@pytest.mark.parametrize("mode", MODES)
def test_every_demo_tool_name_finds_itself_first(engine: SearchEngine, demo: Catalog, mode: str) -> None:
    for name in demo.names:
        hits = engine.search(name, mode=mode)
        assert hits, name
        assert hits[0].tool.name == name, (name, names(hits))
        assert hits[0].exact
        assert not any(h.exact for h in hits[1:])


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    "query",
    [
        pytest.param("Weather forecast", id="title"),
        pytest.param("WEATHER FORECAST", id="title-upper-case"),
        pytest.param("`get_weather_forecast`", id="backticks"),
        pytest.param('  "get_weather_forecast"  ', id="quotes-and-spaces"),
    ],
)
def test_name_or_title_as_the_whole_query_is_exact(engine: SearchEngine, mode: str, query: str) -> None:
    hits = engine.search(query, mode=mode)
    assert hits[0].tool.name == "get_weather_forecast"
    assert hits[0].exact


DECOYS = [
    Tool(name="get_weather", description="Current conditions for a city."),
    Tool(name="weather_report", description="Weather, weather report: weather news and weather maps."),
    Tool(name="translate_text", description="Translate text between languages."),
]


@pytest.mark.parametrize("mode", MODES)
def test_exact_name_beats_a_tool_that_scores_higher(mode: str) -> None:
    engine = engine_for(DECOYS)
    # Same words, not the name: the decoy wins on scores alone ...
    assert names(engine.search("get weather", mode=mode))[0] == "weather_report"
    # ... but naming the tool puts it first, above a higher score.
    hits = engine.search("get_weather", mode=mode)
    assert names(hits)[:2] == ["get_weather", "weather_report"]
    assert hits[0].exact
    assert hits[0].score < hits[1].score


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    "query",
    [
        pytest.param("log the call with Acme using crm_log_activity please", id="inside-sentence"),
        pytest.param("please run crm_log_activity.", id="before-full-stop"),
        pytest.param("Is CRM_LOG_ACTIVITY the right one?", id="upper-case"),
        pytest.param("(crm_log_activity) for the Acme call", id="in-parentheses"),
    ],
)
def test_identifier_mentioned_in_a_sentence_ranks_first(engine: SearchEngine, mode: str, query: str) -> None:
    hits = engine.search(query, mode=mode)
    assert hits[0].tool.name == "crm_log_activity"
    assert hits[0].exact


def test_identifier_in_a_sentence_overrides_dense_ranking(engine: SearchEngine) -> None:
    spaced = engine.search("log the call with Acme using crm log activity please", mode="dense")
    assert spaced[0].tool.name != "crm_log_activity"
    named = engine.search("log the call with Acme using crm_log_activity please", mode="dense")
    assert named[0].tool.name == "crm_log_activity"


def test_longer_identifier_is_not_mistaken_for_its_prefix(engine: SearchEngine) -> None:
    hits = engine.search("what does get_weather_forecast return for Oslo", mode="dense")
    assert hits[0].tool.name == "get_weather_forecast"
    assert [h.tool.name for h in hits if h.exact] == ["get_weather_forecast"]


@pytest.mark.parametrize(
    "query",
    [
        pytest.param("please calculate 15% of 80", id="plain-word-name-in-sentence"),
        pytest.param("get weather in Paris", id="name-words-without-underscores"),
        pytest.param("weather", id="part-of-a-name"),
    ],
)
def test_no_exact_flag_without_a_name(engine: SearchEngine, query: str) -> None:
    assert not any(h.exact for h in engine.search(query, top_k=10))


def test_exact_name_of_stop_word_tool_found_in_bm25_mode() -> None:
    engine = engine_for([Tool(name="help", description="Lists the commands."), *DECOYS])
    hits = engine.search("help", mode="bm25")
    assert names(hits)[:1] == ["help"]


# Filters, top_k, min_score


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    "tags",
    [
        pytest.param(["finance"], id="one-tag"),
        pytest.param(["FINANCE"], id="case-insensitive"),
        pytest.param(["weather", "crm"], id="any-of-two"),
    ],
)
def test_tag_filter(engine: SearchEngine, demo: Catalog, mode: str, tags: list[str]) -> None:
    query = "convert and check the weather, crm or invoices"
    hits = engine.search(query, mode=mode, tags=tags, top_k=MAX_TOP_K)
    wanted = {t.lower() for t in tags}
    allowed = {t.name for t in demo.tools if wanted & set(t.tags)}
    assert hits
    assert set(names(hits)) <= allowed
    if mode != "bm25":  # bm25 returns only tools sharing a term; the others return every allowed tool
        assert set(names(hits)) == allowed


@pytest.mark.parametrize("mode", MODES)
def test_backend_filter(engine: SearchEngine, demo: Catalog, mode: str) -> None:
    hits = engine.search("send an email or create an invoice", mode=mode, backend="http", top_k=MAX_TOP_K)
    assert hits
    assert all(h.tool.backend == "http" for h in hits)
    if mode != "bm25":
        assert set(names(hits)) == {t.name for t in demo.tools if t.backend == "http"}


def test_tag_and_backend_filters_combine(engine: SearchEngine, demo: Catalog) -> None:
    hits = engine.search("anything about travel", tags=["travel"], backend="python", top_k=MAX_TOP_K)
    expected = {t.name for t in demo.tools if "travel" in t.tags and t.backend == "python"}
    assert set(names(hits)) == expected


def test_filters_apply_to_exact_matches(engine: SearchEngine) -> None:
    hits = engine.search("get_weather", tags=["finance"], top_k=MAX_TOP_K)
    assert "get_weather" not in names(hits)
    assert not any(h.exact for h in hits)


def test_filter_matching_nothing_returns_nothing(engine: SearchEngine) -> None:
    assert engine.search("weather", tags=["no-such-tag"]) == []


@pytest.mark.parametrize("mode", ["hybrid", "dense"])
@pytest.mark.parametrize("top_k", [1, 3, 10, MAX_TOP_K])
def test_top_k_is_respected(engine: SearchEngine, demo: Catalog, mode: str, top_k: int) -> None:
    hits = engine.search("schedule a meeting with the sales team", mode=mode, top_k=top_k)
    assert len(hits) == min(top_k, len(demo))
    assert len(set(names(hits))) == len(hits)


@pytest.mark.parametrize("mode", MODES)
def test_hits_are_best_first(engine: SearchEngine, mode: str) -> None:
    hits = engine.search("find a file and share it with a colleague", mode=mode, top_k=20)
    scores = [h.score for h in hits]
    assert scores == sorted(scores, reverse=True)


def test_smaller_top_k_is_a_prefix_of_larger(engine: SearchEngine) -> None:
    query = "what meetings do I have tomorrow"
    assert names(engine.search(query, top_k=3)) == names(engine.search(query, top_k=10))[:3]


@pytest.mark.parametrize("mode", MODES)
def test_min_score_drops_low_hits(engine: SearchEngine, mode: str) -> None:
    query = "convert 100 dollars to euros"
    everything = engine.search(query, mode=mode, top_k=MAX_TOP_K)
    threshold = everything[len(everything) // 2].score
    kept = engine.search(query, mode=mode, top_k=MAX_TOP_K, min_score=threshold)
    assert kept
    assert all(h.score >= threshold for h in kept)
    assert names(kept) == [h.tool.name for h in everything if h.score >= threshold]
    assert len(kept) < len(everything)


def test_min_score_keeps_exact_matches(engine: SearchEngine) -> None:
    hits = engine.search("get_weather", min_score=1e9)
    assert names(hits) == ["get_weather"]


# Validation


@pytest.mark.parametrize(
    ("query", "kwargs", "message"),
    [
        pytest.param("", {}, "empty", id="empty-query"),
        pytest.param("   \t\n", {}, "empty", id="whitespace-query"),
        pytest.param("x" * (MAX_QUERY_CHARS + 1), {}, str(MAX_QUERY_CHARS), id="too-long"),
        pytest.param("weather", {"mode": "fuzzy"}, "unknown search mode 'fuzzy'", id="bad-mode"),
        pytest.param("weather", {"mode": "HYBRID"}, "unknown search mode", id="mode-case-sensitive"),
        pytest.param("weather", {"top_k": 0}, "top_k", id="top-k-zero"),
        pytest.param("weather", {"top_k": MAX_TOP_K + 1}, "top_k", id="top-k-101"),
        pytest.param("weather", {"top_k": -1}, "top_k", id="top-k-negative"),
    ],
)
def test_invalid_requests_raise_search_error(
    engine: SearchEngine, query: str, kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(SearchError, match=message):
        engine.search(query, **kwargs)  # type: ignore[arg-type]


def test_bad_mode_message_names_the_mode_and_all_valid_ones(engine: SearchEngine) -> None:
    with pytest.raises(SearchError) as info:
        engine.search("weather", mode="fuzzy")
    text = str(info.value)
    assert "'fuzzy'" in text
    assert all(mode in text for mode in ("hybrid", "bm25", "dense"))


def test_longest_allowed_query_is_accepted(engine: SearchEngine) -> None:
    query = ("weather in Oslo " * MAX_QUERY_CHARS)[:MAX_QUERY_CHARS]
    assert engine.search(query)


def test_invalid_request_embeds_nothing(demo: Catalog) -> None:
    embedder = FakeEmbedder()
    engine = SearchEngine(demo, build_index(demo, embedder)[0], embedder)
    embedder.reset_counts()
    with pytest.raises(SearchError):
        engine.search("weather", top_k=0)
    assert embedder.calls == 0


def test_index_of_another_catalog_is_rejected(demo: Catalog, fake: FakeEmbedder) -> None:
    other = demo.without("get_weather")
    index, _ = build_index(other, fake)
    with pytest.raises(SearchError, match="does not belong to this catalog"):
        SearchEngine(demo, index, fake)


# Modes


@pytest.mark.parametrize(
    "query",
    [
        pytest.param("send an email to Bob", id="email"),
        pytest.param("stock price of Apple and any recent news", id="multi-part"),
        pytest.param("translate the invoice into German", id="translate"),
        pytest.param("zzzz qqqq", id="no-term-known"),
    ],
)
def test_bm25_mode_returns_only_tools_sharing_a_term(engine: SearchEngine, demo: Catalog, query: str) -> None:
    hits = engine.search(query, mode="bm25", top_k=MAX_TOP_K)
    query_terms = set(tokenize(query))
    sharing = {t.name for t in demo.tools if query_terms & set(bm25_tokens(t))}
    assert set(names(hits)) == sharing
    for hit in hits:
        assert hit.bm25 > 0
        assert hit.matched_terms
        # Matches are explained in the request's own words, each standing for a shared token.
        assert all(term in query.lower() for term in hit.matched_terms)
        assert set(tokenize(" ".join(hit.matched_terms))) <= query_terms
        assert hit.dense == 0.0


def test_bm25_mode_with_only_stop_words_finds_nothing(engine: SearchEngine) -> None:
    assert engine.search("what is it that you can do", mode="bm25") == []


def test_bm25_mode_does_not_embed(demo: Catalog) -> None:
    embedder = FakeEmbedder()
    engine = SearchEngine(demo, build_index(demo, embedder)[0], embedder)
    embedder.reset_counts()
    engine.search("send an email and also create an invoice for Acme", mode="bm25")
    assert embedder.calls == 0


def test_dense_scores_are_cosines_of_the_query(
    engine: SearchEngine, demo: Catalog, fake: FakeEmbedder
) -> None:
    query = "how warm is it in Lisbon"
    hits = engine.search(query, mode="dense", top_k=MAX_TOP_K)
    q = fake.vector(query)
    for hit in hits:
        expected = float(q @ fake.vector(dense_text(hit.tool)))
        assert hit.dense == pytest.approx(expected, abs=1e-5)
        assert hit.score == pytest.approx(expected, abs=1e-5)
        assert hit.bm25 == 0.0


def test_hybrid_embeds_the_request_and_its_clauses_in_one_call(demo: Catalog) -> None:
    embedder = FakeEmbedder()
    engine = SearchEngine(demo, build_index(demo, embedder)[0], embedder)
    embedder.reset_counts()
    query = "stock price of Apple and search the web for recent news"
    engine.search(query)
    # One call: the embedder runs each text alone but on all its workers at once.
    assert embedder.calls == 1
    assert embedder.embedded == [query, *clauses(query)]
    embedder.reset_counts()
    engine.search("stock price of Apple")
    assert (embedder.calls, embedder.embedded) == (1, ["stock price of Apple"])


@pytest.mark.parametrize(
    ("rows", "vectors", "dimension"),
    [
        pytest.param(10, 1, 24, id="fewer-rows-than-a-block"),
        pytest.param(ONE_THREAD_PRODUCT // (2 * 32), 2, 32, id="one-full-block"),
        pytest.param(2 * ONE_THREAD_PRODUCT // (5 * 48) + 7, 5, 48, id="blocks-and-a-remainder"),
        pytest.param(3, 1, ONE_THREAD_PRODUCT + 1, id="one-row-per-block"),
        pytest.param(0, 3, 24, id="empty-catalog"),
        pytest.param(40, 0, 24, id="no-vectors"),
    ],
)
def test_cosines_are_the_matrix_product(rows: int, vectors: int, dimension: int) -> None:
    rng = np.random.default_rng(rows * 10 + vectors)
    matrix = rng.standard_normal((rows, dimension)).astype(np.float32)
    queries = rng.standard_normal((vectors, dimension)).astype(np.float32)
    out = cosines(matrix, queries)
    assert out.shape == (vectors, rows) and out.dtype == np.float32
    np.testing.assert_allclose(out, queries @ matrix.T, rtol=1e-4, atol=1e-3)


def test_cosines_hand_blas_only_products_it_keeps_on_one_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    sizes: list[int] = []
    real = np.matmul

    def recording(a: np.ndarray, b: np.ndarray, **kwargs: np.ndarray) -> np.ndarray:
        sizes.append(a.shape[0] * a.shape[1] * b.shape[1])
        return real(a, b, **kwargs)

    monkeypatch.setattr(np, "matmul", recording)
    matrix = np.ones((10_000, 384), dtype=np.float32)
    cosines(matrix, np.ones((5, 384), dtype=np.float32))
    assert sizes and max(sizes) <= ONE_THREAD_PRODUCT
    assert sum(sizes) == 10_000 * 384 * 5


def test_hybrid_reports_both_signals(engine: SearchEngine) -> None:
    hit = engine.search("weather forecast for Oslo")[0]
    assert hit.tool.name == "get_weather_forecast"
    assert hit.bm25 > 0
    assert hit.dense > 0
    assert hit.matched_terms == ("weather", "forecast", "oslo")


def test_multi_part_request_finds_a_tool_for_each_part(engine: SearchEngine) -> None:
    hits = engine.search("stock price of Apple and search the web for recent news", top_k=2)
    assert set(names(hits)) == {"get_stock_quote", "web_search"}


def test_clause_scoring_lifts_a_tool_serving_one_part(demo: Catalog, fake: FakeEmbedder) -> None:
    index, _ = build_index(demo, fake)
    with_clauses = SearchEngine(demo, index, fake)
    without = SearchEngine(demo, index, fake, FusionWeights(clause=0.0))
    query = "what is the weather in Oslo and also the stock price of Apple"

    def rank(engine: SearchEngine) -> int:
        return names(engine.search(query, top_k=MAX_TOP_K)).index("get_weather")

    assert rank(with_clauses) < rank(without)
    assert set(names(with_clauses.search(query, top_k=2))) == {"get_stock_quote", "get_weather"}


def test_singular_query_finds_plural_tool_in_bm25_mode(engine: SearchEngine) -> None:
    assert {"create_invoice", "list_invoices"} <= set(names(engine.search("invoice", mode="bm25")))


# SearchHit


def test_hit_to_dict(engine: SearchEngine) -> None:
    hit = engine.search("send an email to Bob")[0]
    data = hit.to_dict()
    assert set(data) == {
        "name",
        "title",
        "description",
        "tags",
        "backend",
        "score",
        "bm25",
        "dense",
        "matched_terms",
        "exact_match",
        "explanation",
    }
    assert data["name"] == "send_email"
    assert data["title"] == hit.tool.title
    assert data["tags"] == list(hit.tool.tags)
    assert data["matched_terms"] == ["send", "email"]
    assert data["exact_match"] is False
    assert data["score"] == pytest.approx(hit.score, abs=1e-4)
    assert json.loads(json.dumps(data)) == data


def test_explanation_mentions_matched_terms_and_scores(engine: SearchEngine) -> None:
    hit = engine.search("send an email to Bob")[0]
    assert "send" in hit.explanation
    assert "email" in hit.explanation
    assert f"{hit.bm25:.2f}" in hit.explanation
    assert "exact" not in hit.explanation


def test_explanation_of_exact_match(engine: SearchEngine) -> None:
    hit = engine.search("get_weather")[0]
    assert hit.explanation.startswith("exact name match")
    assert hit.to_dict()["exact_match"] is True


def test_explanation_without_matched_terms(engine: SearchEngine) -> None:
    hit = next(h for h in engine.search("zzzz qqqq", mode="dense", top_k=MAX_TOP_K) if not h.matched_terms)
    assert "matched" not in hit.explanation
    assert "dense" in hit.explanation


# SearchService: memory, store, build


def changed_demo(demo: Catalog, name: str = "get_stock_quote") -> Catalog:
    tool = demo.get(name)
    return demo.with_tools([dataclasses.replace(tool, description=tool.description + " Also crypto.")])


@pytest.fixture
def store(tmp_path: Path) -> FileSystemBlobStore:
    return FileSystemBlobStore(tmp_path / "cache")


def test_service_builds_then_serves_from_memory(demo: Catalog, store: FileSystemBlobStore) -> None:
    embedder = FakeEmbedder()
    service = SearchService(Settings(), store, embedder=embedder)
    first, report = service.engine(demo)
    assert report.source == "built"
    assert report.stats is not None
    assert (report.stats.embedded, report.stats.reused) == (len(demo), 0)
    assert embedder.texts_embedded == len(demo)
    assert any(k.startswith(report.key + "/") for k in store.list())

    second, report2 = service.engine(demo)
    assert report2.source == "memory"
    assert report2.stats is None
    assert report2.key == report.key
    assert second is first
    assert embedder.texts_embedded == len(demo)


def test_new_service_loads_from_the_store_without_embedding(
    demo: Catalog, store: FileSystemBlobStore
) -> None:
    SearchService(Settings(), store, embedder=FakeEmbedder()).engine(demo)
    embedder = FakeEmbedder()
    engine, report = SearchService(Settings(), store, embedder=embedder).engine(demo)
    assert report.source == "store"
    assert embedder.texts_embedded == 0
    assert engine.search("weather forecast for Oslo")[0].tool.name == "get_weather_forecast"


def test_changed_catalog_of_the_same_source_embeds_only_changed_tools(
    demo: Catalog, store: FileSystemBlobStore
) -> None:
    SearchService(Settings(), store, embedder=FakeEmbedder()).engine(demo, source="demo.yaml")
    embedder = FakeEmbedder()
    changed = changed_demo(demo)
    engine, report = SearchService(Settings(), store, embedder=embedder).engine(changed, source="demo.yaml")
    assert report.source == "built"
    assert report.stats is not None
    assert (report.stats.embedded, report.stats.reused) == (1, len(demo) - 1)
    assert embedder.embedded == [dense_text(changed.get("get_stock_quote"))]
    fresh = build_index(changed, FakeEmbedder())[0]
    np.testing.assert_array_equal(engine.index.embeddings, fresh.embeddings)


def test_changed_catalog_of_another_source_embeds_everything(
    demo: Catalog, store: FileSystemBlobStore
) -> None:
    SearchService(Settings(), store, embedder=FakeEmbedder()).engine(demo, source="a.yaml")
    embedder = FakeEmbedder()
    _, report = SearchService(Settings(), store, embedder=embedder).engine(
        changed_demo(demo), source="b.yaml"
    )
    assert report.stats is not None
    assert report.stats.embedded == len(demo)


def test_service_keeps_one_catalog_in_memory(demo: Catalog, store: FileSystemBlobStore) -> None:
    embedder = FakeEmbedder()
    service = SearchService(Settings(), store, embedder=embedder)
    service.engine(demo)
    service.engine(changed_demo(demo))
    embedder.reset_counts()
    _, report = service.engine(demo)
    assert report.source == "store"
    assert embedder.calls == 0


def test_service_builds_once_under_concurrent_first_calls(demo: Catalog, store: FileSystemBlobStore) -> None:
    embedder = FakeEmbedder()
    service = SearchService(Settings(), store, embedder=embedder)
    barrier = threading.Barrier(4)
    sources: list[str] = []

    def call() -> None:
        barrier.wait()
        sources.append(service.engine(demo)[1].source)

    threads = [threading.Thread(target=call) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(sources) == ["built", "memory", "memory", "memory"]
    assert embedder.texts_embedded == len(demo)


def test_corrupt_previous_index_does_not_block_a_rebuild(demo: Catalog, store: FileSystemBlobStore) -> None:
    _, old = SearchService(Settings(), store, embedder=FakeEmbedder()).engine(demo, source="s")
    store.put(f"{old.key}/embeddings.npy", b"corrupt")
    embedder = FakeEmbedder()
    _, report = SearchService(Settings(), store, embedder=embedder).engine(changed_demo(demo), source="s")
    assert report.source == "built"
    assert embedder.texts_embedded == len(demo)


def test_exact_match_without_shared_terms_still_has_a_finite_score(demo: Catalog) -> None:
    import json
    import math

    catalog = demo.with_tools([Tool(name="help", description="Lists what the assistant can do.")])
    embedder = FakeEmbedder()
    engine = SearchEngine(catalog, build_index(catalog, embedder)[0], embedder)
    hit = engine.search("help", mode="bm25", top_k=3)[0]  # "help" is a stop word: BM25 scores it 0
    assert hit.tool.name == "help" and hit.exact
    assert math.isfinite(hit.score)
    json.loads(json.dumps(hit.to_dict(), allow_nan=False))


def test_loading_an_index_from_the_store_writes_nothing(demo: Catalog, tmp_path: Path) -> None:
    store = FileSystemBlobStore(tmp_path)
    settings = Settings(index_cache_dir=tmp_path)
    SearchService(settings, store, embedder=FakeEmbedder()).engine(demo, source="demo")
    # Same content would keep the same ETag, so compare the files' identities and change times.
    before = {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in tmp_path.rglob("*") if p.is_file()}
    _, report = SearchService(settings, store, embedder=FakeEmbedder()).engine(demo, source="demo")
    assert report.source == "store"
    assert {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in tmp_path.rglob("*") if p.is_file()} == before
