"""The exported ONNX model against the original: parity, fingerprint, and run-time behaviour."""

from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path

import numpy as np
import pytest

from toolweaver.catalog import load_catalog
from toolweaver.errors import ModelError
from toolweaver.search.embed import MANIFEST, OnnxEmbedder
from toolweaver.search.export import MIN_MEAN_COSINE, PARITY_TEXTS, export_model, resolve_source
from toolweaver.search.service import SearchService
from toolweaver.settings import DEMO_CATALOG, Settings
from toolweaver.storage import FileSystemBlobStore

pytestmark = pytest.mark.model

# Texts the export's own check never saw, so the test is not graded on the exporter's homework.
HELD_OUT = (
    "Book a table for four at an Italian restaurant tonight.",
    "list_invoices(customer_id, status='overdue')",
    "Which API can detect lanes and drivable area in dashcam video?",
    "Summarise the last ten messages in the #support channel.",
    "Wie wird das Wetter morgen in München?",
)


def test_onnx_embeddings_match_sentence_transformers(model_dir: Path) -> None:
    from sentence_transformers import SentenceTransformer

    texts = list(PARITY_TEXTS + HELD_OUT)
    reference = SentenceTransformer(str(resolve_source(None)), device="cpu").encode(
        texts, normalize_embeddings=True, convert_to_numpy=True
    )
    ours = OnnxEmbedder(model_dir, threads=2).embed(texts)
    cosines = np.sum(ours * reference, axis=1)
    assert cosines.mean() >= MIN_MEAN_COSINE, cosines
    assert cosines.min() >= 0.95, cosines


def test_manifest_fingerprint_is_the_hash_of_the_files(model_dir: Path) -> None:
    manifest = json.loads((model_dir / MANIFEST).read_text())
    digest = hashlib.sha256()
    for name in ("model.onnx", "tokenizer.json"):
        digest.update((model_dir / name).read_bytes())
    assert manifest["fingerprint"] == digest.hexdigest()[:32]
    assert manifest["parity"]["mean_cosine"] >= MIN_MEAN_COSINE


def test_embeddings_are_unit_length_and_independent_of_input_order(model_dir: Path) -> None:
    embedder = OnnxEmbedder(model_dir, threads=2)
    texts = list(HELD_OUT + PARITY_TEXTS[:7])
    forward = embedder.embed(texts)
    backward = embedder.embed(texts[::-1])[::-1]
    assert forward.shape == (len(texts), embedder.dimension)
    np.testing.assert_allclose(np.linalg.norm(forward, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(forward, backward, atol=1e-6)
    assert embedder.embed([]).shape == (0, embedder.dimension)


def test_a_texts_vector_does_not_depend_on_its_neighbours(model_dir: Path) -> None:
    embedder = OnnxEmbedder(model_dir)
    alone = embedder.embed([HELD_OUT[0]])[0]
    together = embedder.embed([PARITY_TEXTS[-1], HELD_OUT[0], "x"])[1]
    np.testing.assert_array_equal(alone, together)  # incremental and full index builds agree


def test_longest_texts_start_first_and_rows_keep_the_input_order(model_dir: Path) -> None:
    embedder = OnnxEmbedder(model_dir, threads=2)
    texts = ["x", "short text", HELD_OUT[2], "a much longer text than the others " * 4, HELD_OUT[0]]
    started: list[str] = []
    run_alone = embedder._pooled

    def recording(text: str) -> np.ndarray:
        started.append(text)
        return run_alone(text)

    embedder._pooled = recording  # type: ignore[method-assign]
    vectors = embedder.embed(texts)
    by_length = sorted(texts, key=len, reverse=True)
    # Two workers take the two longest texts first, so the short ones fill in at the end.
    assert set(started[:2]) == set(by_length[:2])
    assert sorted(started) == sorted(texts)
    for text, vector in zip(texts, vectors, strict=True):
        np.testing.assert_array_equal(vector, embedder.embed([text])[0])


@pytest.mark.parametrize("failing", [pytest.param(0, id="longest-text"), pytest.param(3, id="shortest-text")])
def test_a_failing_text_fails_the_call_and_leaves_the_embedder_usable(model_dir: Path, failing: int) -> None:
    embedder = OnnxEmbedder(model_dir, threads=2)
    texts = ["a much longer text than the others " * 4, HELD_OUT[2], "short text", "x"]
    run_alone = embedder._pooled
    started: list[str] = []

    def flaky(text: str) -> np.ndarray:
        started.append(text)
        if text == texts[failing]:
            raise ModelError("boom")
        return run_alone(text)

    embedder._pooled = flaky  # type: ignore[method-assign]
    with pytest.raises(ModelError, match="boom"):
        embedder.embed(texts)
    assert texts[failing] in started
    embedder._pooled = run_alone  # type: ignore[method-assign]
    assert embedder.embed(texts).shape == (4, embedder.dimension)  # the pool still works


def test_a_call_does_not_wait_for_helpers_busy_with_other_calls(model_dir: Path) -> None:
    embedder = OnnxEmbedder(model_dir, threads=2)
    release = threading.Event()
    blocker = embedder._parallel().submit(release.wait, 30)  # the only helper is taken
    done: list[np.ndarray] = []
    caller = threading.Thread(target=lambda: done.append(embedder.embed(list(HELD_OUT))))
    caller.start()
    caller.join(timeout=15)
    finished = not caller.is_alive()
    release.set()
    blocker.result()
    caller.join()
    assert finished, "embed waited for a helper that was busy elsewhere"
    np.testing.assert_array_equal(done[0], embedder.embed(list(HELD_OUT)))


def test_fingerprint_covers_the_model_files_and_the_token_limit(model_dir: Path) -> None:
    manifest = json.loads((model_dir / MANIFEST).read_text())
    default, again = OnnxEmbedder(model_dir), OnnxEmbedder(model_dir, threads=2)
    shorter = OnnxEmbedder(model_dir, max_length=128)
    assert default.fingerprint == again.fingerprint  # threads do not change a vector
    assert len({default.fingerprint, shorter.fingerprint, manifest["fingerprint"]}) == 3


def test_another_token_limit_builds_its_own_index_and_reuses_no_vector(
    model_dir: Path, tmp_path: Path
) -> None:
    catalog = load_catalog(DEMO_CATALOG)
    store = FileSystemBlobStore(tmp_path)

    def engine(max_length: int) -> tuple[str, int | None]:
        settings = Settings(
            embedding_model_dir=model_dir, index_cache_dir=tmp_path, embedding_max_length=max_length
        )
        _, report = SearchService(settings, store).engine(catalog, source="demo")
        return report.source, report.stats.embedded if report.stats else None

    assert engine(256) == ("built", len(catalog))
    assert engine(256) == ("store", None)
    assert engine(64) == ("built", len(catalog))  # an index of 256-token vectors is not served


def test_similar_texts_are_closer_than_unrelated_ones(model_dir: Path) -> None:
    a, b, c = OnnxEmbedder(model_dir).embed(
        ["send an email to my boss", "compose and send a mail message", "convert 3 miles to kilometres"]
    )
    assert float(a @ b) > float(a @ c) + 0.2


def test_truncates_long_texts_instead_of_failing(model_dir: Path) -> None:
    embedder = OnnxEmbedder(model_dir, max_length=32)
    long, short = embedder.embed(["weather " * 500, "weather"])
    assert np.isfinite(long).all() and abs(float(np.linalg.norm(long)) - 1.0) < 1e-5
    assert float(long @ short) > 0.3


def test_missing_model_directory_says_what_to_run(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="make model"):
        OnnxEmbedder(tmp_path)


@pytest.mark.slow
def test_failed_parity_installs_nothing(tmp_path: Path) -> None:
    out = tmp_path / "model"
    out.mkdir()
    (out / "keep.txt").write_text("the previous model")
    with pytest.raises(ModelError, match="parity failed"):
        export_model(None, out, min_cosine=1.01)
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["model"]  # no staging left behind


def test_unknown_model_name_is_a_clear_error() -> None:
    with pytest.raises(ModelError, match="local directory"):
        export_model("sentence-transformers/some-hub-model", Path("/nonexistent/out"))
